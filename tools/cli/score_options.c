/* score_options.c: parse the command line of `encore score`. */
#include "score_options.h"

#include "model_options.h"
#include "parse_number.h"
#include "weights_option.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ENCORE_DEFAULT_MODEL_DIR
#define ENCORE_DEFAULT_MODEL_DIR "models/encore-sst2-minilm"
#endif

void score_usage(FILE *f) {
    fprintf(f,
            "usage: encore score --model DIR --input FILE|- --output FILE|- [options]\n"
            "\n"
            "Scores every record of a file, streaming, in input order: one output record\n"
            "per input record. Classifiers give the pipeline's label and score, embedding\n"
            "models (no classification head) the sentence embedding, and the other\n"
            "pipelines (--task) what the pipeline returns, as \"result\".\n"
            "\n"
            "input:\n"
            "  --input FILE|-          records to score; - reads stdin\n"
            "  --input-format F        jsonl, tsv, csv or text (one text per line); default:\n"
            "                          from the file name (.jsonl .tsv .csv), else jsonl when\n"
            "                          the first byte is '{', else text\n"
            "  --text-field NAME       JSON field or TSV/CSV column of the text (default text)\n"
            "  --pair-field NAME       field of the second text of a pair (JSONL: optional\n"
            "                          per record; a record without it is a single text)\n"
            "  --id-field NAME         field copied into the output as \"id\" (default id;\n"
            "                          records without it carry their \"line\" instead)\n"
            "task:\n"
            "  --task T                classify, embed, fill-mask, zero-shot, ner or qa (or the\n"
            "                          pipelines' names); default: the model's (fill-mask for\n"
            "                          *ForMaskedLM, ner for *ForTokenClassification, qa for\n"
            "                          *ForQuestionAnswering, zero-shot when --labels is given,\n"
            "                          else classify or embed). fill-mask, zero-shot, ner and\n"
            "                          qa write {\"id\"/\"line\", \"result\": what the pipeline\n"
            "                          returns}, JSONL only; qa reads the fields question and\n"
            "                          context unless --text-field and --pair-field name others\n"
            "  --targets A,B --labels A,B --hypothesis-template T --multi-label\n"
            "  --aggregation-strategy S --ignore-labels A,B --stride N\n"
            "  --doc-stride N --max-answer-len N --max-seq-len N --max-question-len N\n"
            "  --handle-impossible-answer --no-align-to-words\n"
            "                          the task's options, as `encore fill-mask|zero-shot|ner|qa\n"
            "                          --help` describe them; --top-k is predictions per mask\n"
            "                          (fill-mask, default 5) or answers (qa, default 1)\n"
            "output:\n"
            "  --output FILE|-         where the records go; - writes stdout (no resume)\n"
            "  --format F              jsonl (default), tsv, or npy: a float32 matrix of all\n"
            "                          scores or embeddings, one row per record, plus an\n"
            "                          index, NAME.index.jsonl for NAME.npy, with each row's\n"
            "                          id or error (an error's row is NaN)\n"
            "  --top-k N|all           labels per record, best first; a list of {label, score}\n"
            "                          (default: the best label as \"label\" and \"score\")\n"
            "  --pooling mean|cls      embedding pooling (default: the model directory's)\n"
            "  --pooling splade        a *ForMaskedLM model as SPLADE; a SPLADE model writes\n"
            "                          \"sparse_embedding\": [{\"index\", \"value\"}, ...] (npy: every weight)\n"
            "  --normalize             L2-normalise embeddings\n"
            "  --no-truncation         an over-long text is an error record instead of being\n"
            "                          truncated (truncated records carry \"truncated\": true)\n"
            "running:\n"
            "  --device cpu|cuda|auto  where the model runs (default cpu)\n"
            "  --precision P           the GPU's arithmetic: default (fp16), fp32, fp16 or bf16\n"
            "  --batch-tokens N        tokens per forward pass (default 8192)\n"
            "  --window N              records sorted by length together (default 4096)\n"
            "  --threads N             model threads (default: all cores)\n"
            ENCORE_WEIGHTS_OPTION_HELP
            "  --tokenizer-threads N   threads that parse, tokenize and format records while\n"
            "                          the model runs (default: a quarter of the cores, 1 to 8)\n"
            "  --resume                carry on from OUTPUT.ckpt after an interruption (the\n"
            "                          checkpoint, the input up to it and the output are\n"
            "                          checked first; a mismatch exits with 2)\n"
            "  --checkpoint FILE       checkpoint path (default OUTPUT.ckpt)\n"
            "  --checkpoint-every S    seconds between checkpoints (default 1)\n"
            "  --strict                stop at the first bad record instead of writing an\n"
            "                          error record for it\n"
            "  --max-record-bytes N    longer records are errors (default 8 MiB); each tokenizer\n"
            "                          thread holds about one record and a few MiB\n"
            "  --progress MODE         auto (a terminal gets a progress line), human, json\n"
            "                          (JSON lines on stderr) or none\n"
            "  --quiet                 no progress, summary or log lines\n"
            "\n"
            "A bad record (invalid UTF-8, malformed JSON or CSV, a missing field, an empty\n"
            "text) becomes {\"id\"/\"line\", \"error\", \"problem\"} and the run goes on.\n"
            "The input must not change while it is read (exit status 2 if it does).\n"
            "Exit status: 0 every record scored, 1 some records were errors (or --strict\n"
            "stopped), 2 usage, model or I/O error, 130 interrupted (resume with --resume).\n");
}

static const char *takes_value[] = {
    "--input",     "--output",       "--input-format", "--format",            "--text-field", "--pair-field",
    "--id-field",  "--top-k",        "--pooling",      "--batch-tokens",      "--window",     "--tokenizer-threads",
    "--progress",  "--task",         "--checkpoint",   "--checkpoint-every",  "--max-record-bytes", NULL};

static int needs_value(const char *a) {
    for (int i = 0; takes_value[i]; i++)
        if (strcmp(a, takes_value[i]) == 0) return 1;
    return 0;
}

static int bad(const char *opt, const char *value, const char *want) {
    fprintf(stderr, "encore score: %s takes %s, not '%s'\n", opt, want, value);
    return 0;
}

int score_parse_args(int argc, char **argv, score_options *o) {
    memset(o, 0, sizeof *o);
    tools_model_options_init(&o->model);
    const char *env = getenv("ENCORE_MODEL");
    o->model.model_dir = env && *env ? env : ENCORE_DEFAULT_MODEL_DIR;
    o->text_field = "text";
    o->id_field = "id";
    o->top_k = 1;
    o->batch_tokens = 8192;
    o->window = 4096;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->tokenizer_threads = ncpu >= 8 ? (ncpu / 4 < 8 ? (int)(ncpu / 4) : 8) : 1;
    o->checkpoint_every = 1.0;
    o->max_record_bytes = (size_t)8 << 20;
    cli_task_params_init(&o->task_params);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return -1;
        const int t = cli_task_option(&o->task_params, a, i + 1 < argc ? argv[i + 1] : NULL, "encore score");
        if (t < 0) return 0;
        if (t > 0) {
            i += t - 1;
            continue;
        }
        const int mt = tools_model_option(&o->model, 0, a, i + 1 < argc ? argv[i + 1] : NULL, "encore score");
        if (mt < 0) return 0;
        if (mt > 0) {
            i += mt - 1;
            continue;
        }
        const int has_value = needs_value(a);
        const char *v = has_value && i + 1 < argc ? argv[i + 1] : NULL;
        if (has_value && !v) {
            fprintf(stderr, "encore score: %s needs a value\n", a);
            return 0;
        }
        long n = 0;
        if (strcmp(a, "--input") == 0) o->input_path = v;
        else if (strcmp(a, "--output") == 0) o->output_path = v;
        else if (strcmp(a, "--checkpoint") == 0) o->checkpoint_path = v;
        else if (strcmp(a, "--text-field") == 0) {
            o->text_field = v;
            o->text_field_given = 1;
        } else if (strcmp(a, "--task") == 0) {
            if (!cli_task_from_name(v, &o->task))
                return bad(a, v, "classify, embed, fill-mask, zero-shot, ner or qa");
        }
        else if (strcmp(a, "--pair-field") == 0) o->pair_field = v;
        else if (strcmp(a, "--id-field") == 0) {
            o->id_field = v;
            o->id_field_given = 1;
        } else if (strcmp(a, "--input-format") == 0) {
            if (strcmp(v, "auto") == 0) o->input_format = SCORE_INPUT_AUTO;
            else if (strcmp(v, "jsonl") == 0 || strcmp(v, "ndjson") == 0) o->input_format = SCORE_INPUT_JSONL;
            else if (strcmp(v, "tsv") == 0) o->input_format = SCORE_INPUT_TSV;
            else if (strcmp(v, "csv") == 0) o->input_format = SCORE_INPUT_CSV;
            else if (strcmp(v, "text") == 0 || strcmp(v, "plain") == 0 || strcmp(v, "txt") == 0)
                o->input_format = SCORE_INPUT_TEXT;
            else return bad(a, v, "auto, jsonl, tsv, csv or text");
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "jsonl") == 0) o->format = SCORE_OUTPUT_JSONL;
            else if (strcmp(v, "tsv") == 0) o->format = SCORE_OUTPUT_TSV;
            else if (strcmp(v, "npy") == 0) o->format = SCORE_OUTPUT_NPY;
            else return bad(a, v, "jsonl, tsv or npy");
        } else if (strcmp(a, "--top-k") == 0) {
            o->top_k_given = 1;
            if (strcmp(v, "all") == 0) o->top_k = -1;
            else if (!tools_parse_long(v, 1, INT_MAX, &n)) return bad(a, v, "a positive number or 'all'");
            else o->top_k = (int)n;
        } else if (strcmp(a, "--pooling") == 0) {
            if (strcmp(v, "mean") == 0) o->pooling = ENCORE_POOLING_MEAN;
            else if (strcmp(v, "cls") == 0) o->pooling = ENCORE_POOLING_CLS;
            else if (strcmp(v, "splade") == 0) o->model.splade = 1;
            else return bad(a, v, "mean or cls");
        } else if (strcmp(a, "--batch-tokens") == 0) {
            if (!tools_parse_long(v, 1, 1 << 24, &n)) return bad(a, v, "a positive number");
            o->batch_tokens = (int)n;
        } else if (strcmp(a, "--window") == 0) {
            if (!tools_parse_long(v, 1, 1 << 20, &n)) return bad(a, v, "a positive number");
            o->window = (int)n;
        } else if (strcmp(a, "--tokenizer-threads") == 0) {
            if (!tools_parse_long(v, 1, 256, &n)) return bad(a, v, "a number from 1 to 256");
            o->tokenizer_threads = (int)n;
        } else if (strcmp(a, "--max-record-bytes") == 0) {
            if (!tools_parse_long(v, 16, LONG_MAX, &n)) return bad(a, v, "a number of at least 16");
            o->max_record_bytes = (size_t)n;
        } else if (strcmp(a, "--checkpoint-every") == 0) {
            if (!tools_parse_double(v, 0.0, HUGE_VAL, &o->checkpoint_every)) return bad(a, v, "a number of seconds");
        } else if (strcmp(a, "--progress") == 0) {
            if (strcmp(v, "auto") == 0) o->progress = SCORE_PROGRESS_AUTO;
            else if (strcmp(v, "human") == 0) o->progress = SCORE_PROGRESS_HUMAN;
            else if (strcmp(v, "json") == 0) o->progress = SCORE_PROGRESS_JSON;
            else if (strcmp(v, "none") == 0) o->progress = SCORE_PROGRESS_NONE;
            else return bad(a, v, "auto, human, json or none");
        } else if (strcmp(a, "--normalize") == 0) o->normalize = 1;
        else if (strcmp(a, "--resume") == 0) o->resume = 1;
        else if (strcmp(a, "--strict") == 0) o->strict = 1;
        else {
            fprintf(stderr, "encore score: unknown option '%s'\n", a);
            return 0;
        }
        if (has_value) i++;
    }
    if (!o->input_path || !o->output_path) {
        fprintf(stderr, "encore score: --input and --output are required\n");
        return 0;
    }
    const int to_stdout = strcmp(o->output_path, "-") == 0;
    if (to_stdout && o->resume) {
        fprintf(stderr, "encore score: --resume needs --output FILE (stdout cannot be resumed)\n");
        return 0;
    }
    if (to_stdout && o->format == SCORE_OUTPUT_NPY) {
        fprintf(stderr, "encore score: --format npy needs --output FILE\n");
        return 0;
    }
    if (o->pair_field && strcmp(o->pair_field, o->text_field) == 0) {
        fprintf(stderr, "encore score: --pair-field and --text-field name the same field\n");
        return 0;
    }
    if (!o->checkpoint_path && !to_stdout) {
        snprintf(o->checkpoint_buf, sizeof o->checkpoint_buf, "%s.ckpt", o->output_path);
        o->checkpoint_path = o->checkpoint_buf;
    }
    if (o->model.quiet) o->progress = SCORE_PROGRESS_NONE;
    return 1;
}

int score_options_resolve_task(score_options *o, const encore_model *model) {
    if (o->task == CLI_TASK_AUTO)
        o->task = o->task_params.given & (1u << CLI_TASK_ZERO_SHOT) ? CLI_TASK_ZERO_SHOT : cli_task_for_model(model);
    char err[1024];
    if (!cli_task_check_model(o->task, model, o->model.model_dir, err, sizeof err)) {
        fprintf(stderr, "encore score: %s (--task)\n", err);
        return 0;
    }
    if (!cli_task_check_params(&o->task_params, o->task, "encore score")) return 0;
    const char *task = cli_task_name(o->task);
    if (o->task == CLI_TASK_EMBED && o->top_k_given) {
        fprintf(stderr, "encore score: %s has no classification head (it gives embeddings); drop --top-k\n",
                encore_model_architecture_name(model));
        return 0;
    }
    if (o->task == CLI_TASK_EMBED && encore_model_is_sparse(model)) {
        if (o->pooling != ENCORE_POOLING_DEFAULT || o->normalize) {
            fprintf(stderr, "encore score: %s is a SPLADE model: its embedding is its vocabulary weights, with no "
                            "--normalize or --pooling mean|cls\n",
                    o->model.model_dir);
            return 0;
        }
        if (o->format == SCORE_OUTPUT_TSV) {
            fprintf(stderr, "encore score: a SPLADE model's weights go to JSONL (the entries that are not 0) or npy "
                            "(every one), not to a TSV of %d columns\n",
                    encore_model_vocab_size(model));
            return 0;
        }
    }
    if (o->task != CLI_TASK_EMBED && (o->pooling != ENCORE_POOLING_DEFAULT || o->normalize)) {
        fprintf(stderr, "encore score: the task is %s; --pooling and --normalize are for embeddings\n", task);
        return 0;
    }
    if (!cli_task_is_structured(o->task)) return 1;
    if (o->format != SCORE_OUTPUT_JSONL) {
        fprintf(stderr, "encore score: %s writes what the pipeline returns, as JSONL only (drop --format)\n", task);
        return 0;
    }
    if (o->top_k_given && o->task != CLI_TASK_FILL_MASK && o->task != CLI_TASK_QA) {
        fprintf(stderr, "encore score: %s takes no --top-k\n", task);
        return 0;
    }
    if (o->top_k_given && o->top_k < 0) {
        fprintf(stderr, "encore score: %s takes --top-k N, not all\n", task);
        return 0;
    }
    if (o->top_k_given) o->task_params.top_k = o->top_k;
    if (o->task != CLI_TASK_QA && o->pair_field) {
        fprintf(stderr, "encore score: %s reads one text per record; drop --pair-field\n", task);
        return 0;
    }
    if (o->task == CLI_TASK_QA) {
        if (!o->text_field_given) o->text_field = "question";
        if (!o->pair_field) o->pair_field = "context";
        if (strcmp(o->pair_field, o->text_field) == 0) {
            fprintf(stderr, "encore score: --pair-field and --text-field name the same field\n");
            return 0;
        }
    }
    return 1;
}

const char *score_input_format_name(score_input_format f) {
    switch (f) {
    case SCORE_INPUT_JSONL: return "jsonl";
    case SCORE_INPUT_TSV: return "tsv";
    case SCORE_INPUT_CSV: return "csv";
    case SCORE_INPUT_TEXT: return "text";
    default: return "auto";
    }
}

/* An absolute path when it can be had, so that `cd` between runs is harmless. */
static const char *canonical(const char *path, char *buf) {
    if (strcmp(path, "-") == 0) return "-";
    return realpath(path, buf) ? buf : path;
}

void score_job_string(const score_options *o, score_input_format resolved_input, encore_device device, char *buf,
                      size_t len) {
    static const char *formats[] = {"jsonl", "tsv", "npy"};
    static const char *poolings[] = {"default", "mean", "cls"};
    char model[PATH_MAX], input[PATH_MAX], task[96] = "";
    if (cli_task_is_structured(o->task)) {
        char hex[65];
        cli_task_params_digest(&o->task_params, hex);
        snprintf(task, sizeof task, " task=%s task-options=%.16s", cli_task_name(o->task), hex);
    }
    snprintf(buf, len,
             "model=%s input=%s input-format=%s text-field=%s pair-field=%s id-field=%s%s format=%s "
             "top-k=%d%s pooling=%s normalize=%d truncation=%d max-record-bytes=%zu weights=%s device=%s "
             "precision=%s%s",
             canonical(o->model.model_dir, model), canonical(o->input_path, input), score_input_format_name(resolved_input),
             o->text_field, o->pair_field ? o->pair_field : "-", o->id_field, o->id_field_given ? "(given)" : "",
             formats[o->format], o->top_k, o->top_k_given ? "(given)" : "",
             o->model.splade ? "splade" : poolings[o->pooling], o->normalize,
             o->model.truncate, o->max_record_bytes, encore_weights_name(o->model.weights),
             device == ENCORE_DEVICE_CUDA ? "cuda" : "cpu",
             device == ENCORE_DEVICE_CUDA ? tools_precision_name(o->model.precision) : "fp32", task);
}
