/* score.c: `encore score`: options, model, resume, then the pipeline. */
#include "score.h"

#include "score_checkpoint.h"
#include "score_input.h"
#include "score_options.h"
#include "score_output.h"
#include "score_pipeline.h"
#include "score_progress.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) {
    (void)sig;
    score_interrupt_requested = 1;
}

/* Ctrl-C or SIGTERM: finish what is scored, checkpoint, stop. A second one
 * ends the process at once (SA_RESETHAND), which --resume also survives. */
static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int has_errors(const score_stats *s) {
    for (int k = 1; k < SCORE_PROBLEM_COUNT; k++)
        if (s->problems[k]) return 1;
    return 0;
}

/* Decide where the run starts: a fresh job, or the checkpoint of an
 * interrupted one. Returns 1 to run, 0 when a complete run needs nothing
 * more (*exit_status set), -1 on error. */
static int plan(const score_options *o, const encore_model *model, score_reader *reader, score_checkpoint *state,
                tools_sha256 *records_hash, int *resumed, int *exit_status) {
    char err[600];
    *resumed = 0;
    if (o->resume) {
        score_checkpoint saved;
        int got = score_checkpoint_read(o->checkpoint_path, &saved, err, sizeof err);
        if (got < 0) {
            fprintf(stderr, "encore score: %s\n", err);
            return -1;
        }
        /* No record holds more tokens than the model takes. */
        const int64_t per_record = encore_model_max_length(model);
        if (got > 0 && saved.stats.tokens / (per_record > 0 ? per_record : 1) > saved.stats.scored) {
            fprintf(stderr,
                    "encore score: cannot resume: the checkpoint %s counts more tokens than its records can hold; "
                    "run without --resume to start over\n",
                    o->checkpoint_path);
            return -1;
        }
        if (got == 0) {
            if (!o->model.quiet)
                fprintf(stderr, "encore score: no checkpoint %s: starting from the beginning\n", o->checkpoint_path);
        } else if (strcmp(saved.job, state->job) != 0) {
            fprintf(stderr,
                    "encore score: the checkpoint %s belongs to another job; run without --resume to start over\n"
                    "  checkpoint: %s\n  this run:   %s\n",
                    o->checkpoint_path, saved.job, state->job);
            return -1;
        } else if (saved.complete) {
            *state = saved;
            *exit_status = saved.exit_status;
            *resumed = 1;
            return 0;
        } else {
            /* The checkpoint's records must be the input's first records, to
             * the byte, ending where it says; the output is checked against
             * it next (score_writer_open). */
            if (!score_reader_replay(reader, saved.stats.records, saved.input_offset, saved.input_line,
                                     saved.input_sha256, records_hash)) {
                fprintf(stderr, "encore score: cannot resume: %s; run without --resume to start over\n",
                        reader->error);
                return -1;
            }
            *state = saved;
            *resumed = 1;
            return 1;
        }
    }
    /* A fresh run: an old checkpoint must not outlive the output it described. */
    if (o->checkpoint_path && unlink(o->checkpoint_path) != 0 && errno != ENOENT) {
        fprintf(stderr, "encore score: cannot remove the old checkpoint %s: %s\n", o->checkpoint_path,
                strerror(errno));
        return -1;
    }
    state->input_offset = reader->offset;
    state->input_line = reader->line;
    return 1;
}

int encore_cli_score(int argc, char **argv) {
    score_options o;
    int parsed = score_parse_args(argc, argv, &o);
    if (parsed < 0) {
        score_usage(stdout);
        cli_task_params_free(&o.task_params);
        return 0;
    }
    if (parsed == 0) {
        fprintf(stderr, "run 'encore score --help' for the options\n");
        cli_task_params_free(&o.task_params);
        return 2;
    }
    tools_model_options_apply_quiet(&o.model);

    encore_model *model = NULL;
    if (encore_model_load(o.model.model_dir, tools_model_params(&o.model), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore score: %s\n", encore_last_error());
        cli_task_params_free(&o.task_params);
        return 2;
    }
    int rc = 2;
    encore_session *session = NULL;
    score_reader reader;
    score_writer writer;
    memset(&reader, 0, sizeof reader);
    memset(&writer, 0, sizeof writer);
    reader.fd = -1;
    score_job *job = calloc(1, sizeof *job);
    if (!job) {
        fprintf(stderr, "encore score: out of memory\n");
        goto done;
    }
    if (!score_options_resolve_task(&o, model)) goto done;
    encore_session_params sp = tools_session_params(&o.model);
    sp.max_batch_tokens = o.batch_tokens;
    if (encore_session_create(model, sp, &session) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore score: %s\n", encore_last_error());
        goto done;
    }
    if (!score_reader_open(&reader, &o)) {
        fprintf(stderr, "encore score: %s: %s\n", o.input_path, reader.error);
        goto done;
    }
    score_job_string(&o, reader.format, encore_session_device(session), job->state.job, sizeof job->state.job);
    int resumed = 0, exit_status = 0;
    tools_sha256 records_hash;
    int go = plan(&o, model, &reader, &job->state, &records_hash, &resumed, &exit_status);
    score_progress progress;
    score_progress_init(&progress, o.progress, reader.size, job->state.input_offset, &job->state.stats);
    if (go < 0) goto done;
    if (go == 0) {
        score_timing none = {0};
        score_progress_summary(&progress, &job->state.stats, &none, 1,
                               "the checkpoint says this job is complete: nothing to do", o.model.quiet);
        rc = exit_status;
        goto done;
    }
    if (!score_writer_open(&writer, &o, model, resumed ? &job->state : NULL, &records_hash)) {
        fprintf(stderr, "encore score: %s\n", writer.error);
        goto done;
    }
    char err[512];
    /* The first checkpoint: the output's header is in place, no record yet. */
    if (!resumed && o.checkpoint_path &&
        (!score_writer_sync(&writer, &job->state) ||
         !score_checkpoint_write(o.checkpoint_path, &job->state, err, sizeof err))) {
        fprintf(stderr, "encore score: %s\n", writer.error[0] ? writer.error : err);
        goto done;
    }
    if (resumed && !o.model.quiet)
        fprintf(stderr, "encore score: resuming after record %lld (line %lld)\n", (long long)job->state.stats.records,
                (long long)job->state.input_line);

    job->o = &o;
    job->model = model;
    job->session = session;
    job->reader = &reader;
    job->writer = &writer;
    job->progress = &progress;
    job->checkpoint_path = o.checkpoint_path;
    catch_signals();
    score_outcome outcome = score_pipeline_run(job);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

    const char *note = NULL;
    char note_buf[600];
    switch (outcome) {
    case SCORE_OUTCOME_DONE: rc = has_errors(&job->state.stats) ? 1 : 0; break;
    case SCORE_OUTCOME_STRICT:
        rc = 1;
        snprintf(note_buf, sizeof note_buf, "stopped (--strict) at line %lld: %s", (long long)job->strict_line,
                 job->strict_message);
        note = note_buf;
        fprintf(stderr, "encore score: %s:%lld: %s\n", o.input_path, (long long)job->strict_line, job->strict_message);
        break;
    case SCORE_OUTCOME_INTERRUPTED:
        rc = 130;
        note = "interrupted: run again with --resume to carry on";
        break;
    case SCORE_OUTCOME_FAILED:
        rc = 2;
        fprintf(stderr, "encore score: %s\n", job->error[0] ? job->error : "the run failed");
        break;
    }
    if (outcome != SCORE_OUTCOME_FAILED && o.checkpoint_path) {
        job->state.complete = outcome == SCORE_OUTCOME_DONE;
        job->state.exit_status = rc;
        if (!score_checkpoint_write(o.checkpoint_path, &job->state, err, sizeof err)) {
            fprintf(stderr, "encore score: %s\n", err);
            rc = 2;
        }
    }
    score_progress_summary(&progress, &job->state.stats, &job->timing, outcome == SCORE_OUTCOME_DONE, note, o.model.quiet);
done:
    if (!score_writer_close(&writer) && rc == 0) {
        fprintf(stderr, "encore score: writing %s failed\n", o.output_path);
        rc = 2;
    }
    score_reader_close(&reader);
    free(job);
    encore_session_free(session);
    encore_model_free(model);
    cli_task_params_free(&o.task_params);
    return rc;
}
