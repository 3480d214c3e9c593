/* score_pipeline.c: reader, worker pool, model and writer of `encore score`,
 * handing records on through a ring of slots (see score_pipeline.h).
 *
 * Stages of a record, in order: read (reader thread), prepared = parsed,
 * checked and tokenized (a worker), scored (the model, a window at a time),
 * formatted into its output text (a worker), written (writer thread). The
 * workers format first and tokenize when nothing is waiting to be formatted.
 *
 * Ring invariants (record numbers, guarded by mu):
 *   n_written <= fmt_done <= n_scored <= tok_done <= n_read <= n_written + cap
 *   next_tok in [tok_done, n_read] and next_fmt in [fmt_done, n_scored]: the
 *   records below them are claimed by a worker; tok_done and fmt_done end the
 *   prefixes that are done.
 * A slot belongs to one stage at a time: the reader fills [n_read, n_written +
 * cap), a worker the records it claimed, the model its window in [n_scored,
 * tok_done), the writer [n_written, fmt_done). The writer writes whole windows,
 * so checkpoints fall on window ends. */
#include "score_pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t score_interrupt_requested = 0;

enum { CLAIM = 16, MAX_WORKERS = 256 };

/* A window also ends once its records hold this many input bytes, and the
 * reader stops 3 windows' worth ahead of the writer: the input in memory
 * stays under ~3 x 32 MiB (plus one record) however long the records are. */
static const int64_t WINDOW_BYTES = (int64_t)32 << 20;

typedef struct pipeline {
    score_job *job;
    const score_options *o;
    pthread_mutex_t mu;
    pthread_cond_t space;      /* the reader waits for free slots */
    pthread_cond_t work;       /* workers wait for records to prepare or format */
    pthread_cond_t tokenized;  /* the model waits for a tokenized window */
    pthread_cond_t formatted;  /* the writer waits for formatted windows */
    score_record *slots;       /* (cap) */
    unsigned char *flag;       /* (cap) 1: the record's claimed stage is done */
    float *results;            /* (cap, width) */
    int64_t *ends;             /* (cap) queue of the ends of scored windows not yet written */
    int ends_head, ends_n;
    int cap, window, width;
    int64_t first;             /* first record of this run */
    int64_t n_read, next_tok, tok_done, n_scored, next_fmt, fmt_done, n_written;
    int64_t bytes_in_flight;   /* raw bytes of the records in [n_written, n_read) */
    int eof;                   /* the reader is done (end of input, or failed) */
    int draining;              /* interrupted: read and tokenize no more, finish what is scored */
    int model_done;            /* the model has handed on its last window */
    atomic_int halt;           /* stop at once: strict stop or an error */
    atomic_int stop_reading;   /* halt or draining: a read from a pipe gives up */
    score_outcome outcome;
    double read_s, tokenize_s, format_s, model_s, write_s, checkpoint_s, wait_s;
} pipeline;

static score_record *slot(pipeline *p, int64_t seq) { return &p->slots[seq % p->cap]; }
static float *result(pipeline *p, int64_t seq) { return p->results + (size_t)(seq % p->cap) * (size_t)p->width; }

static void wake_all(pipeline *p) {
    pthread_cond_broadcast(&p->space);
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->tokenized);
    pthread_cond_broadcast(&p->formatted);
}

/* Stop every stage now. mu held. */
static void halt(pipeline *p, score_outcome why, const char *message) {
    if (!atomic_load(&p->halt)) {
        p->outcome = why;
        if (message) snprintf(p->job->error, sizeof p->job->error, "%s", message);
    }
    atomic_store(&p->halt, 1);
    atomic_store(&p->stop_reading, 1);
    wake_all(p);
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- reader ---------------------------------------------------------- */

static void *reader_main(void *arg) {
    pipeline *p = arg;
    score_reader *r = p->job->reader;
    double busy = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!atomic_load(&p->stop_reading) &&
               (p->n_read - p->n_written >= p->cap ||
                (p->bytes_in_flight >= 3 * WINDOW_BYTES && p->n_read > p->n_written)))
            pthread_cond_wait(&p->space, &p->mu);
        if (atomic_load(&p->stop_reading)) break;
        const int64_t seq = p->n_read;
        score_record *rec = slot(p, seq);
        pthread_mutex_unlock(&p->mu);
        const double t = score_now();
        int got = score_reader_next(r, rec);
        busy += score_now() - t;
        pthread_mutex_lock(&p->mu);
        if (got > 0) {
            rec->seq = seq;
            p->bytes_in_flight += (int64_t)rec->raw_len;
            p->n_read++;
            pthread_cond_signal(&p->work);
            continue;
        }
        if (got < 0 && !atomic_load(&p->stop_reading)) halt(p, SCORE_OUTCOME_FAILED, r->error);
        break;
    }
    p->eof = 1;
    p->read_s += busy;
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->tokenized);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- workers: prepare (parse, check, tokenize) and format ----------- */

/* Claim up to CLAIM records from *next below limit; fewer when few are
 * waiting, so that the workers share them. */
static int64_t claim(int64_t *next, int64_t limit) {
    const int64_t lo = *next;
    int64_t n = limit - lo > CLAIM ? CLAIM : limit - lo;
    if (n > 1 && n < CLAIM) n = (n + 1) / 2;
    *next = lo + n;
    return lo + n;
}

/* Mark [lo, hi) done and advance the done prefix *done (up to limit). */
static int advance(pipeline *p, int64_t lo, int64_t hi, int64_t *done, int64_t limit) {
    for (int64_t s = lo; s < hi; s++) p->flag[s % p->cap] = 1;
    const int64_t before = *done;
    while (*done < limit && p->flag[*done % p->cap]) p->flag[(*done)++ % p->cap] = 0;
    return *done != before;
}

static void *worker_main(void *arg) {
    pipeline *p = arg;
    score_job *job = p->job;
    double tokenize = 0, format = 0;
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->halt)) {
        if (p->next_fmt < p->n_scored) {
            const int64_t lo = p->next_fmt, hi = claim(&p->next_fmt, p->n_scored);
            pthread_mutex_unlock(&p->mu);
            const double t = score_now();
            int ok = 1;
            for (int64_t s = lo; s < hi && ok; s++) {
                score_record *rec = slot(p, s);
                ok = score_writer_format(job->writer, rec, rec->problem == SCORE_PROBLEM_NONE ? result(p, s) : NULL);
            }
            format += score_now() - t;
            pthread_mutex_lock(&p->mu);
            if (!ok) halt(p, SCORE_OUTCOME_FAILED, "out of memory formatting the output");
            else if (advance(p, lo, hi, &p->fmt_done, p->n_scored)) pthread_cond_signal(&p->formatted);
            continue;
        }
        if (p->next_tok < p->n_read && !p->draining) {
            const int64_t lo = p->next_tok, hi = claim(&p->next_tok, p->n_read);
            pthread_mutex_unlock(&p->mu);
            const double t = score_now();
            for (int64_t s = lo; s < hi; s++) score_record_prepare(job->reader, p->o, job->model, slot(p, s));
            tokenize += score_now() - t;
            pthread_mutex_lock(&p->mu);
            if (advance(p, lo, hi, &p->tok_done, p->n_read)) pthread_cond_signal(&p->tokenized);
            continue;
        }
        if (p->model_done && (p->eof || p->draining)) break; /* nothing more will come */
        pthread_cond_wait(&p->work, &p->mu);
    }
    p->tokenize_s += tokenize;
    p->format_s += format;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- model ----------------------------------------------------------- */

typedef struct by_length {
    int32_t n_tokens;
    int64_t seq;
} by_length;

static int compare_length(const void *a, const void *b) {
    const by_length *x = a, *y = b;
    if (x->n_tokens != y->n_tokens) return x->n_tokens < y->n_tokens ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static encore_status run_batch(pipeline *p, const encore_encoding *const *encs, int n, float *out) {
    const score_options *o = p->o;
    if (encore_model_n_labels(p->job->model) > 0) return encore_session_classify_encoded(p->job->session, encs, n, out);
    if (encore_model_is_sparse(p->job->model)) return encore_session_embed_sparse_encoded(p->job->session, encs, n, out);
    return encore_session_embed_encoded(p->job->session, encs, n, o->pooling, o->normalize, out);
}

/* Run records order[0..n) as one batch into their result rows; when the batch
 * fails, run them one by one so that a failure costs only its own record. */
static void score_batch(pipeline *p, const by_length *order, int n, const encore_encoding **encs, float *out) {
    for (int i = 0; i < n; i++) encs[i] = slot(p, order[i].seq)->enc;
    encore_status st = run_batch(p, encs, n, out);
    if (st == ENCORE_STATUS_OK) {
        for (int i = 0; i < n; i++)
            memcpy(result(p, order[i].seq), out + (size_t)i * p->width, (size_t)p->width * sizeof(float));
        return;
    }
    if (n > 1) {
        for (int i = 0; i < n; i++) score_batch(p, order + i, 1, encs, out);
        return;
    }
    score_record *rec = slot(p, order[0].seq);
    rec->problem = SCORE_PROBLEM_FAILED;
    snprintf(rec->message, sizeof rec->message, "%s", encore_session_last_error(p->job->session));
}

/* The structured tasks (task.h): each record through its pipeline, in input
 * order, into rec->answer. Returns 0 when a failure would fail every record
 * alike (the model or the options), with why in *fatal. */
static int run_task_window(pipeline *p, int64_t lo, int64_t hi, char *fatal, size_t fatal_len) {
    score_job *job = p->job;
    for (int64_t s = lo; s < hi; s++) {
        score_record *rec = slot(p, s);
        if (rec->problem != SCORE_PROBLEM_NONE) continue;
        size_t len = 0;
        FILE *f = open_memstream(&rec->answer, &len);
        if (!f) {
            snprintf(fatal, fatal_len, "out of memory");
            return 0;
        }
        const encore_status st = cli_task_run(job->session, p->o->task, &p->o->task_params, rec->text, rec->pair, f);
        if (fclose(f) != 0 || !rec->answer) {
            snprintf(fatal, fatal_len, "out of memory");
            return 0;
        }
        if (st == ENCORE_STATUS_OK) continue;
        free(rec->answer);
        rec->answer = NULL;
        if (cli_task_failure_is_fatal(st)) {
            snprintf(fatal, fatal_len, "%s", encore_session_last_error(job->session));
            return 0;
        }
        rec->problem = st == ENCORE_STATUS_TOO_LONG ? SCORE_PROBLEM_TOO_LONG : SCORE_PROBLEM_FAILED;
        snprintf(rec->message, sizeof rec->message, "%s", encore_session_last_error(job->session));
    }
    return 1;
}

/* Sort a window by length, so that batches hold similar lengths, and run it
 * in batches of at most batch_tokens tokens. */
static void score_window(pipeline *p, int64_t lo, int64_t hi, by_length *order, const encore_encoding **encs,
                         float *out) {
    if (cli_task_is_structured(p->o->task)) {
        const double t = score_now();
        char fatal[512];
        const int ok = run_task_window(p, lo, hi, fatal, sizeof fatal);
        p->model_s += score_now() - t;
        if (!ok) {
            pthread_mutex_lock(&p->mu);
            halt(p, SCORE_OUTCOME_FAILED, fatal);
            pthread_mutex_unlock(&p->mu);
        }
        return;
    }
    int n = 0;
    for (int64_t s = lo; s < hi; s++) {
        const score_record *rec = slot(p, s);
        if (rec->problem == SCORE_PROBLEM_NONE) order[n++] = (by_length){rec->enc->n_tokens, s};
    }
    qsort(order, (size_t)n, sizeof *order, compare_length);
    const double t = score_now();
    for (int first = 0; first < n;) {
        int last = first;
        int64_t tokens = 0;
        while (last < n && (last == first || tokens + order[last].n_tokens <= p->o->batch_tokens))
            tokens += order[last++].n_tokens;
        score_batch(p, order + first, last - first, encs, out);
        first = last;
    }
    p->model_s += score_now() - t;
}

static void model_main(pipeline *p) {
    by_length *order = malloc((size_t)p->window * sizeof *order);
    const encore_encoding **encs = malloc((size_t)p->window * sizeof *encs);
    float *out = malloc((size_t)p->window * (size_t)p->width * sizeof(float));
    pthread_mutex_lock(&p->mu);
    if (!order || !encs || !out) halt(p, SCORE_OUTCOME_FAILED, "out of memory");
    int64_t lo = p->first;
    while (!atomic_load(&p->halt)) {
        /* The window: up to `window` records or WINDOW_BYTES of input from lo.
         * Where it ends depends on the input alone, so a resumed run, which
         * starts at a window's end, batches as an uninterrupted one. */
        int64_t hi = lo, bytes = 0;
        const double t = score_now();
        for (;;) {
            while (hi < p->tok_done && hi - lo < p->window && bytes < WINDOW_BYTES)
                bytes += (int64_t)slot(p, hi++)->raw_len;
            const int full = hi - lo == p->window || bytes >= WINDOW_BYTES || (p->eof && hi == p->n_read);
            if (full || atomic_load(&p->halt) || score_interrupt_requested) break;
            timed_wait(&p->tokenized, &p->mu, 0.2);
        }
        p->wait_s += score_now() - t;
        if (atomic_load(&p->halt)) break;
        if (score_interrupt_requested) {
            /* Read and tokenize no more; the workers and the writer finish the
             * scored windows. */
            p->outcome = SCORE_OUTCOME_INTERRUPTED;
            p->draining = 1;
            atomic_store(&p->stop_reading, 1);
            break;
        }
        if (hi == lo) break; /* the end of the input */
        pthread_mutex_unlock(&p->mu);
        score_window(p, lo, hi, order, encs, out);
        pthread_mutex_lock(&p->mu);
        if (atomic_load(&p->halt)) break;
        p->n_scored = hi;
        p->ends[(p->ends_head + p->ends_n++) % p->cap] = hi;
        pthread_cond_broadcast(&p->work);
        lo = hi;
    }
    p->model_done = 1;
    wake_all(p);
    pthread_mutex_unlock(&p->mu);
    free(order);
    free(encs);
    free(out);
}

/* ---- writer ---------------------------------------------------------- */

static void count(score_stats *s, const score_record *rec) {
    s->records++;
    if (rec->problem != SCORE_PROBLEM_NONE) {
        s->problems[rec->problem]++;
        return;
    }
    s->scored++;
    if (rec->enc) s->tokens += rec->enc->n_tokens;
    s->truncated += rec->truncated;
}

/* Sync the output and write a checkpoint of job->state. mu not held. */
static int checkpoint(pipeline *p) {
    score_job *job = p->job;
    const double t = score_now();
    int ok = score_writer_sync(job->writer, &job->state);
    if (!ok) snprintf(job->error, sizeof job->error, "%s", job->writer->error);
    /* A checkpoint covers records read from the input as it was opened. */
    if (ok) ok = score_reader_unchanged(job->reader, job->error, sizeof job->error);
    if (ok && job->checkpoint_path)
        ok = score_checkpoint_write(job->checkpoint_path, &job->state, job->error, sizeof job->error);
    p->checkpoint_s += score_now() - t;
    return ok;
}

/* Write [lo, hi) in order; stop before a bad record with --strict. Returns
 * the end of what was written; *why is 0, or the outcome that stops the run. */
static int64_t write_records(pipeline *p, int64_t lo, int64_t hi, int64_t *bytes, score_outcome *why) {
    score_job *job = p->job;
    score_checkpoint *st = &job->state;
    int64_t s = lo;
    for (; s < hi; s++) {
        score_record *rec = slot(p, s);
        if (p->o->strict && rec->problem != SCORE_PROBLEM_NONE) {
            job->strict_line = rec->line;
            snprintf(job->strict_message, sizeof job->strict_message, "%s: %s", score_problem_name(rec->problem),
                     rec->message);
            *why = SCORE_OUTCOME_STRICT;
            break;
        }
        if (!score_writer_put(job->writer, rec, rec->problem == SCORE_PROBLEM_NONE ? result(p, s) : NULL)) {
            *why = SCORE_OUTCOME_FAILED;
            break;
        }
        count(&st->stats, rec);
        st->input_offset = rec->end_offset;
        st->input_line = rec->end_line;
        *bytes += (int64_t)rec->raw_len;
        score_record_reset(rec);
    }
    return s;
}

static void *writer_main(void *arg) {
    pipeline *p = arg;
    score_job *job = p->job;
    double last_checkpoint = score_now(), busy = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Whole windows, once formatted: checkpoints fall on window ends. */
        while (!atomic_load(&p->halt) && !(p->ends_n > 0 && p->fmt_done >= p->ends[p->ends_head]) &&
               !(p->model_done && p->n_written == p->n_scored)) {
            timed_wait(&p->formatted, &p->mu, 0.25);
            pthread_mutex_unlock(&p->mu);
            score_progress_update(job->progress, &job->state.stats, job->state.input_offset);
            pthread_mutex_lock(&p->mu);
        }
        if (atomic_load(&p->halt) || p->ends_n == 0) break;
        int64_t hi = 0;
        while (p->ends_n > 0 && p->fmt_done >= p->ends[p->ends_head]) {
            hi = p->ends[p->ends_head];
            p->ends_head = (p->ends_head + 1) % p->cap;
            p->ends_n--;
        }
        const int64_t lo = p->n_written;
        pthread_mutex_unlock(&p->mu);
        const double t = score_now();
        int64_t bytes = 0;
        score_outcome why = SCORE_OUTCOME_DONE;
        const int64_t end = write_records(p, lo, hi, &bytes, &why);
        busy += score_now() - t;
        int ok = why != SCORE_OUTCOME_FAILED;
        if (ok && (why == SCORE_OUTCOME_STRICT || score_now() - last_checkpoint >= p->o->checkpoint_every)) {
            ok = checkpoint(p);
            last_checkpoint = score_now();
        }
        score_progress_update(job->progress, &job->state.stats, job->state.input_offset);
        pthread_mutex_lock(&p->mu);
        p->n_written = end;
        p->bytes_in_flight -= bytes;
        pthread_cond_broadcast(&p->space);
        if (why == SCORE_OUTCOME_FAILED) halt(p, SCORE_OUTCOME_FAILED, job->writer->error);
        else if (!ok) halt(p, SCORE_OUTCOME_FAILED, NULL);
        else if (why == SCORE_OUTCOME_STRICT) halt(p, SCORE_OUTCOME_STRICT, NULL);
    }
    p->write_s += busy;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the run --------------------------------------------------------- */

static int setup(pipeline *p, score_job *job) {
    memset(p, 0, sizeof *p);
    p->job = job;
    p->o = job->o;
    p->window = job->o->window;
    p->cap = 3 * p->window;
    const int L = encore_model_n_labels(job->model);
    p->width = L > 0                              ? L
               : encore_model_is_sparse(job->model) ? encore_model_vocab_size(job->model)
                                                    : encore_model_hidden_size(job->model);
    p->first = job->state.stats.records;
    p->n_read = p->next_tok = p->tok_done = p->n_scored = p->next_fmt = p->fmt_done = p->n_written = p->first;
    atomic_init(&p->halt, 0);
    atomic_init(&p->stop_reading, 0);
    p->outcome = SCORE_OUTCOME_DONE;
    job->reader->cancel = &p->stop_reading;
    p->slots = calloc((size_t)p->cap, sizeof *p->slots);
    p->flag = calloc((size_t)p->cap, 1);
    p->results = malloc((size_t)p->cap * (size_t)p->width * sizeof(float));
    p->ends = malloc((size_t)p->cap * sizeof *p->ends);
    if (!p->slots || !p->flag || !p->results || !p->ends) {
        free(p->slots);
        free(p->flag);
        free(p->results);
        free(p->ends);
        snprintf(job->error, sizeof job->error, "out of memory for a window of %d records", p->window);
        return 0;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->space, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->tokenized, NULL);
    pthread_cond_init(&p->formatted, NULL);
    return 1;
}

static void teardown(pipeline *p) {
    for (int i = 0; i < p->cap; i++) score_record_free(&p->slots[i]);
    free(p->slots);
    free(p->flag);
    free(p->results);
    free(p->ends);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->space);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->tokenized);
    pthread_cond_destroy(&p->formatted);
}

score_outcome score_pipeline_run(score_job *job) {
    pipeline pl, *p = &pl;
    if (!setup(p, job)) return SCORE_OUTCOME_FAILED;
    const double t0 = score_now();
    const int n_workers = job->o->tokenizer_threads < MAX_WORKERS ? job->o->tokenizer_threads : MAX_WORKERS;
    pthread_t reader, writer, workers[MAX_WORKERS];
    int started = 0;
    const int have_reader = pthread_create(&reader, NULL, reader_main, p) == 0;
    const int have_writer = pthread_create(&writer, NULL, writer_main, p) == 0;
    for (; started < n_workers; started++)
        if (pthread_create(&workers[started], NULL, worker_main, p) != 0) break;
    if (have_reader && have_writer && started > 0) {
        model_main(p);
    } else {
        pthread_mutex_lock(&p->mu);
        halt(p, SCORE_OUTCOME_FAILED, "cannot start threads");
        p->model_done = 1;
        pthread_mutex_unlock(&p->mu);
    }
    if (have_writer) pthread_join(writer, NULL);
    /* Written: let the reader and the workers go. */
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop_reading, 1);
    p->draining = 1;
    wake_all(p);
    pthread_mutex_unlock(&p->mu);
    if (have_reader) pthread_join(reader, NULL);
    for (int i = 0; i < started; i++) pthread_join(workers[i], NULL);

    score_outcome outcome = p->outcome;
    /* Leave the output synced, and job->state ready for the final checkpoint. */
    const double t = score_now();
    if (outcome != SCORE_OUTCOME_FAILED &&
        !score_writer_sync(job->writer, &job->state)) {
        snprintf(job->error, sizeof job->error, "%s", job->writer->error);
        outcome = SCORE_OUTCOME_FAILED;
    }
    p->checkpoint_s += score_now() - t;
    job->timing = (score_timing){.wall_s = score_now() - t0,
                                 .read_s = p->read_s,
                                 .tokenize_s = p->tokenize_s,
                                 .format_s = p->format_s,
                                 .model_s = p->model_s,
                                 .write_s = p->write_s,
                                 .checkpoint_s = p->checkpoint_s,
                                 .model_wait_s = p->wait_s,
                                 .tokenizer_threads = started};
    teardown(p);
    return outcome;
}
