/* main.c: the encore command line, a client of include/encore.h.
 *
 *   encore classify --model DIR [options] [TEXT ...]
 *   encore embed    --model DIR [options] [TEXT ...]
 *   encore tokenize --model DIR [options] [TEXT ...]
 *   encore fill-mask --model DIR [--top-k N] [--targets A,B] [TEXT ...]
 *   encore zero-shot --model DIR --labels A,B [TEXT ...]
 *   encore ner --model DIR [--aggregation-strategy S] [--ignore-labels A,B] [--stride N] [TEXT ...]
 *
 * Texts come from the arguments, or one per line on stdin. Output is one JSON
 * line per text, in input order. */
#include "encore.h"
#include "model_options.h"
#include "weights_option.h"
#include "eval.h"
#include "json_out.h"
#include "parse_number.h"
#include "read_file.h"
#include "tasks.h"
#include "pull.h"
#include "serve.h"
#include "score.h"
#include "bench.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct options {
    const char *command;
    tools_model_options model; /* --model, --device, --precision, --threads, --weights, --no-truncation, --quiet */
    const char *pair;        /* --pair TEXT: second text for every argument text */
    int tsv;                 /* stdin lines are text<TAB>pair */
    eval_options eval;
    int top_k;               /* labels per text; -1 = all */
    int top_k_given;         /* --top-k was on the command line */
    int batch;               /* texts per call */
    encore_pooling pooling;
    int normalize;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "encore %s: transformer encoder inference\n"
            "\n"
            "usage:\n"
            "  encore classify --model DIR [--top-k N|all] [--pair TEXT] [--tsv] [TEXT ...]\n"
            "  encore embed    --model DIR [--pooling mean|cls|splade] [--normalize] [TEXT ...]\n"
            "  encore tokenize --model DIR [--pair TEXT] [--tsv] [TEXT ...]\n"
            "  encore fill-mask --model DIR [--top-k N] [--targets A,B] [TEXT ...]\n"
            "                  pipeline(\"fill-mask\") (encore fill-mask --help)\n"
            "  encore zero-shot --model DIR --labels A,B [--hypothesis-template T] [--multi-label] [TEXT ...]\n"
            "                  pipeline(\"zero-shot-classification\") (encore zero-shot --help)\n"
            "  encore ner --model DIR [--aggregation-strategy S] [--ignore-labels A,B] [--stride N] [TEXT ...]\n"
            "                  pipeline(\"token-classification\") (encore ner --help)\n"
            "  encore qa       --model DIR --context TEXT [--top-k N] [--doc-stride N] [QUESTION ...]\n"
            "                  pipeline(\"question-answering\") (encore qa --help)\n"
            "  encore eval     --model DIR --tsv FILE [--text-column sentence] [--label-column label]\n"
            "  encore models   where the default models live, and the models in the Hugging Face cache\n"
            "  encore --version  the version, and the CPU kernels this machine runs (fp32 path, int8)\n"
            "  encore pull     MODEL_ID [--revision main] [--cache DIR] [--endpoint URL]\n"
            "                  download a Hub model, print its directory (encore pull --help)\n"
            "  encore serve    --model DIR [--host 127.0.0.1] [--port 8080] [--device cpu|cuda]\n"
            "                  HTTP server with TEI's API: /predict /embed /tokenize /info (encore serve --help)\n"
            "  encore score    --model DIR --input FILE|- --output FILE [--format jsonl|tsv|npy] [--resume]\n"
            "                  score a large file of records, resumably (encore score --help)\n"
            "  encore bench    --model DIR [--device cpu,cuda] [--batch 1,8,64] [--seq-len 32,128,512 | --texts FILE]\n"
            "                  latency and throughput per device, batch and length (encore bench --help)\n"
            "\n"
            "Texts come from the arguments, or one per line on stdin. Each text gives one\n"
            "JSON line on stdout, in input order:\n"
            "  classify  what transformers' pipeline(\"text-classification\") returns,\n"
            "            e.g. [{\"label\": \"POSITIVE\", \"score\": 0.9998}]\n"
            "  embed     the sentence embedding, as sentence-transformers computes it\n"
            "  tokenize  {\"ids\": [...], \"tokens\": [...]}, special tokens included, cut as the\n"
            "            model's task cuts (classify, or embed for a model without a head)\n"
            "A text that fails gives {\"error\": ..., \"status\": ...} on its line and exit status 1.\n"
            "eval prints the accuracy of a classifier on a TSV file with a header row and\n"
            "a label column holding label ids or names (as GLUE's SST-2 dev.tsv).\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face model directory (config.json, model.safetensors,\n"
            "                     tokenizer.json or vocab.txt); default: $ENCORE_MODEL, else the\n"
            "                     default model that scripts/setup.sh assembles (the sentiment\n"
            "                     model; for embed, the all-MiniLM-L6-v2 embedding model)\n"
            "  --top-k N|all      labels per text, best first (default 1, as the pipeline)\n"
            "  --pair TEXT        classify/tokenize each TEXT argument as a pair with this text\n"
            "  --tsv              stdin lines are TEXT<TAB>PAIR (a line without a tab is a single text)\n"
            "  --no-truncation    fail on inputs longer than the model takes instead of cutting them\n"
            "                     (embed: longer than max_seq_length in sentence_bert_config.json)\n"
            "  --pooling mean|cls embedding pooling (default: the directory's 1_Pooling/config.json, else mean)\n"
            "  --pooling splade   a *ForMaskedLM model as SPLADE; a SPLADE model (sentence-transformers'\n"
            "                     SpladePooling) prints its weights that are not 0, as TEI's /embed_sparse:\n"
            "                     [{\"index\": i, \"value\": w}, ...] per text\n"
            "  --normalize        L2-normalise embeddings\n"
            "  --device D         cpu (default), cuda, or auto (cuda where a usable GPU is, else the\n"
            "                     CPU); without a usable GPU, cuda runs on the CPU and logs why\n"
            "  --precision P      the GPU's arithmetic: default (fp16), fp32, fp16 or bf16; the CPU\n"
            "                     computes in fp32 (fp16 and bf16 with --device cpu fail)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --batch N          texts per forward pass (default 32)\n"
            ENCORE_WEIGHTS_OPTION_HELP
            "  --progress         eval: progress on stderr even when it is not a terminal\n"
            "  --quiet            no log lines on stderr\n",
            ENCORE_VERSION);
}

/* A positive int, read whole. */
static int parse_count(const char *s, int *out) {
    long v;
    if (!tools_parse_long(s, 1, INT_MAX, &v)) return 0;
    *out = (int)v;
    return 1;
}

static int parse_args(int argc, char **argv, options *o, int *first_text) {
    memset(o, 0, sizeof *o);
    tools_model_options_init(&o->model);
    o->top_k = 1;
    o->batch = 32;
    o->eval.text_column = "sentence";
    o->eval.label_column = "label";
    if (argc < 2) return 0;
    o->command = argv[1];
    const int is_eval = strcmp(o->command, "eval") == 0;
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        const int m = tools_model_option(&o->model, 0, a, next, "encore");
        if (m < 0) return 0;
        if (m > 0) {
            i += m - 1;
            continue;
        }
        int takes_value = strcmp(a, "--top-k") == 0 || strcmp(a, "--pair") == 0 || strcmp(a, "--pooling") == 0 ||
                          strcmp(a, "--batch") == 0 || strcmp(a, "--text-column") == 0 ||
                          strcmp(a, "--label-column") == 0 || (is_eval && strcmp(a, "--tsv") == 0);
        if (takes_value && !next) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 0;
        }
        if (is_eval && strcmp(a, "--tsv") == 0) o->eval.path = next;
        else if (strcmp(a, "--text-column") == 0) o->eval.text_column = next;
        else if (strcmp(a, "--label-column") == 0) o->eval.label_column = next;
        else if (strcmp(a, "--progress") == 0) o->eval.progress = 1;
        else if (strcmp(a, "--pair") == 0) o->pair = next;
        else if (strcmp(a, "--top-k") == 0) {
            o->top_k_given = 1;
            if (strcmp(next, "all") == 0) o->top_k = -1;
            else if (!parse_count(next, &o->top_k)) {
                fprintf(stderr, "encore: --top-k takes a positive number or 'all', not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--pooling") == 0) {
            if (strcmp(next, "mean") == 0) o->pooling = ENCORE_POOLING_MEAN;
            else if (strcmp(next, "cls") == 0) o->pooling = ENCORE_POOLING_CLS;
            else if (strcmp(next, "splade") == 0) o->model.splade = 1;
            else {
                fprintf(stderr, "encore: --pooling takes mean, cls or splade, not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_count(next, &o->batch)) {
                fprintf(stderr, "encore: --batch takes a positive number\n");
                return 0;
            }
        } else if (strcmp(a, "--tsv") == 0) o->tsv = 1;
        else if (strcmp(a, "--normalize") == 0) o->normalize = 1;
        else if (strcmp(a, "--help") == 0) return 0;
        else {
            fprintf(stderr, "encore: unknown option %s\n", a);
            return 0;
        }
        if (takes_value) i++;
    }
    *first_text = i;
    return 1;
}

/* ---- inputs ---------------------------------------------------------- */

typedef struct input_list {
    encore_input *items;
    char **owned;            /* lines read from stdin */
    int n, cap;
} input_list;

static int list_push(input_list *l, const char *text, const char *pair, char *owned) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        encore_input *items = realloc(l->items, (size_t)cap * sizeof *items);
        char **own = realloc(l->owned, (size_t)cap * sizeof *own);
        if (items) l->items = items;
        if (own) l->owned = own;
        if (!items || !own) return 0;
        l->cap = cap;
    }
    l->items[l->n].text = text;
    l->items[l->n].text_pair = pair;
    l->owned[l->n] = owned;
    l->n++;
    return 1;
}

static void list_free(input_list *l) {
    for (int i = 0; i < l->n; i++) free(l->owned[i]);
    free(l->items);
    free(l->owned);
}

static int read_stdin(input_list *l, int tsv) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char *text = malloc((size_t)len + 1);
        if (!text) return 0;
        memcpy(text, line, (size_t)len + 1);
        char *pair = NULL;
        if (tsv && (pair = strchr(text, '\t')) != NULL) {
            *pair++ = '\0';
            char *tab = strchr(pair, '\t');
            if (tab) *tab = '\0';
        }
        if (!list_push(l, text, pair, text)) return 0;
    }
    free(line);
    return 1;
}

/* ---- output ---------------------------------------------------------- */

/* The pipeline's output: a list of {label, score}, best first. Without top_k
 * the pipeline returns a pair's result as a bare {label, score} (bare != 0). */
static void print_scores(const encore_model *model, const float *scores, int top_k, int bare) {
    const int L = encore_model_n_labels(model);
    int order[L];
    json_rank_labels(scores, L, order);
    int n = top_k < 0 || top_k > L ? L : top_k;
    if (!bare) fputc('[', stdout);
    for (int i = 0; i < n; i++) {
        char num[40];
        json_format_number((double)scores[order[i]], 0, num, sizeof num);
        fputs(i ? ", {\"label\": " : "{\"label\": ", stdout);
        json_write_string(stdout, encore_model_label(model, order[i]));
        printf(", \"score\": %s}", num);
    }
    fputs(bare ? "\n" : "]\n", stdout);
}

static void print_vector(const float *v, int n) {
    fputc('[', stdout);
    for (int i = 0; i < n; i++) {
        char num[40];
        json_format_number((double)v[i], 1, num, sizeof num);
        printf(i ? ", %s" : "%s", num);
    }
    fputs("]\n", stdout);
}

/* A SPLADE model's weights as TEI's /embed_sparse gives one input's. */
static void print_sparse(const float *w, int n) {
    fputc('[', stdout);
    for (int i = 0, first = 1; i < n; i++) {
        if (w[i] == 0.0f) continue;
        char num[40];
        json_format_number((double)w[i], 1, num, sizeof num);
        printf(first ? "{\"index\": %d, \"value\": %s}" : ", {\"index\": %d, \"value\": %s}", i, num);
        first = 0;
    }
    fputs("]\n", stdout);
}

static void print_encoding(const encore_model *model, const encore_encoding *enc) {
    fputs("{\"ids\": [", stdout);
    for (int i = 0; i < enc->n_tokens; i++) printf(i ? ", %d" : "%d", enc->ids[i]);
    fputs("], \"tokens\": [", stdout);
    for (int i = 0; i < enc->n_tokens; i++) {
        if (i) fputs(", ", stdout);
        json_write_string(stdout, encore_model_token(model, enc->ids[i]));
    }
    fputs("]}\n", stdout);
}

/* ---- commands -------------------------------------------------------- */

/* Run one batch; when it fails, run its texts one by one so that one bad text
 * costs only its own line. Returns the number of texts that failed. */
static int run_batch(encore_session *session, const encore_model *model, const options *o,
                     const encore_input *inputs, int n, float *out) {
    const int is_embed = strcmp(o->command, "embed") == 0;
    const int sparse = is_embed && encore_model_is_sparse(model);
    const int width = sparse     ? encore_model_vocab_size(model)
                      : is_embed ? encore_model_hidden_size(model)
                                 : encore_model_n_labels(model);
    encore_status st = sparse     ? encore_session_embed_sparse(session, inputs, n, out)
                       : is_embed ? encore_session_embed(session, inputs, n, o->pooling, o->normalize, out)
                                  : encore_session_classify(session, inputs, n, out);
    if (st == ENCORE_STATUS_OK || n == 1) {
        for (int i = 0; i < n; i++) {
            if (st != ENCORE_STATUS_OK) json_print_error(st, encore_session_last_error(session));
            else if (sparse) print_sparse(out + (size_t)i * width, width);
            else if (is_embed) print_vector(out + (size_t)i * width, width);
            else print_scores(model, out + (size_t)i * width, o->top_k, !o->top_k_given && inputs[i].text_pair);
        }
        return st == ENCORE_STATUS_OK ? 0 : 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) failed += run_batch(session, model, o, inputs + i, 1, out);
    return failed;
}

static int run_tokenize(const encore_model *model, const options *o, const input_list *l) {
    int failed = 0;
    for (int i = 0; i < l->n; i++) {
        encore_encoding *enc = NULL;
        encore_status st =
            encore_model_tokenize_for_task(model, l->items[i], encore_model_task(model), o->model.truncate, &enc);
        if (st == ENCORE_STATUS_OK) print_encoding(model, enc);
        else {
            json_print_error(st, encore_last_error());
            failed++;
        }
        encore_encoding_free(enc);
    }
    return failed;
}

/* The model to use without --model: $ENCORE_MODEL, else one of the two
 * default models that scripts/setup.sh assembles in the build tree: the
 * sentiment model, or for `embed` the all-MiniLM-L6-v2 embedding model. */
static const char *default_model_dir(void) {
    const char *env = getenv("ENCORE_MODEL");
    return env && *env ? env : ENCORE_DEFAULT_MODEL_DIR;
}

static const char *default_embed_model_dir(void) {
    const char *env = getenv("ENCORE_MODEL");
    return env && *env ? env : ENCORE_DEFAULT_EMBED_MODEL_DIR;
}

/* Print "LABEL: DIR (present|missing...)"; return whether it is present: a
 * model directory (config.json) or a PEFT adapter directory
 * (adapter_config.json, as the default sentiment model is). */
static int print_default(const char *label, const char *dir) {
    int present = 0;
    for (int i = 0; i < 2 && !present; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, i ? "adapter_config.json" : "config.json");
        FILE *f = fopen(path, "r");
        if (f) fclose(f);
        present = f != NULL;
    }
    printf("%s: %s (%s)\n", label, dir, present ? "present" : "missing: run scripts/setup.sh");
    return present;
}

/* Print the default model, then every model in the Hugging Face cache with a
 * snapshot for its main ref (what `encore pull` and transformers put there). */
static int run_models(void) {
    int present = print_default("default model", default_model_dir());
    present &= print_default("default embedding model", default_embed_model_dir());
    char path[4096];
    char *cache = encore_cli_hub_cache();
    DIR *d = cache ? opendir(cache) : NULL;
    printf("cache: %s%s\n", cache ? cache : "?", d ? "" : " (empty)");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "models--", 8) != 0) continue;
        char commit[128];
        snprintf(path, sizeof path, "%s/%s/refs/main", cache, e->d_name);
        if (!tools_read_first_line(path, commit, sizeof commit)) continue;
        char id[256];
        snprintf(id, sizeof id, "%s", e->d_name + 8);
        char *sep = strstr(id, "--");
        if (sep) {
            *sep = '/';
            memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        }
        snprintf(path, sizeof path, "%s/%s/snapshots/%s/config.json", cache, e->d_name, commit);
        FILE *cfg = fopen(path, "r");
        path[strlen(path) - strlen("/config.json")] = '\0';
        printf("  %-50s %s%s\n", id, path, cfg ? "" : " (incomplete)");
        if (cfg) fclose(cfg);
    }
    if (d) closedir(d);
    free(cache);
    return present ? 0 : 1;
}

int main(int argc, char **argv) {
    options o;
    int first_text = argc;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("encore %s\n", ENCORE_VERSION);
        printf("cpu kernels: %s, int8 %s\n", encore_cpu_path(), encore_cpu_int8_kernel());
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "pull") == 0) return encore_cli_pull(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) return encore_cli_serve(argc - 1, argv + 1, default_model_dir());
    if (argc >= 2 && (strcmp(argv[1], "fill-mask") == 0 || strcmp(argv[1], "zero-shot") == 0 ||
                      strcmp(argv[1], "ner") == 0 || strcmp(argv[1], "qa") == 0))
        return encore_cli_task(argc - 1, argv + 1, default_model_dir());
    if (argc >= 2 && strcmp(argv[1], "score") == 0) return encore_cli_score(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return encore_cli_bench(argc - 1, argv + 1, default_model_dir());
    if (!parse_args(argc, argv, &o, &first_text)) {
        usage(stderr);
        return 2;
    }
    if (strcmp(o.command, "models") == 0) return run_models();
    if (strcmp(o.command, "classify") != 0 && strcmp(o.command, "embed") != 0 &&
        strcmp(o.command, "tokenize") != 0 && strcmp(o.command, "eval") != 0) {
        fprintf(stderr, "encore: unknown command '%s'\n", o.command);
        usage(stderr);
        return 2;
    }
    if (strcmp(o.command, "eval") == 0 && !o.eval.path) {
        fprintf(stderr, "encore: eval needs --tsv FILE\n");
        return 2;
    }
    if (!o.model.model_dir)
        o.model.model_dir = strcmp(o.command, "embed") == 0 ? default_embed_model_dir() : default_model_dir();
    tools_model_options_apply_quiet(&o.model);

    encore_model *model = NULL;
    if (encore_model_load(o.model.model_dir, tools_model_params(&o.model), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        return 2;
    }
    if (strcmp(o.command, "embed") == 0 && encore_model_is_sparse(model) &&
        (o.normalize || o.pooling != ENCORE_POOLING_DEFAULT)) {
        fprintf(stderr, "encore: %s is a SPLADE model: its embedding is its vocabulary weights, with no "
                        "--normalize or --pooling mean|cls\n",
                o.model.model_dir);
        encore_model_free(model);
        return 2;
    }
    if ((strcmp(o.command, "classify") == 0 || strcmp(o.command, "eval") == 0) && encore_model_n_labels(model) == 0) {
        fprintf(stderr, "encore: %s has no classification head; use 'encore embed'\n",
                encore_model_architecture_name(model));
        encore_model_free(model);
        return 2;
    }

    if (strcmp(o.command, "eval") == 0) {
        encore_session *session = NULL;
        int rc = 2;
        if (encore_session_create(model, tools_session_params(&o.model), &session) == ENCORE_STATUS_OK) {
            o.eval.batch = o.batch;
            rc = encore_cli_eval(model, session, &o.eval);
        } else {
            fprintf(stderr, "encore: %s\n", encore_last_error());
        }
        encore_session_free(session);
        encore_model_free(model);
        return rc;
    }

    input_list inputs = {0};
    int ok = 1;
    for (int i = first_text; i < argc && ok; i++) ok = list_push(&inputs, argv[i], o.pair, NULL);
    if (ok && first_text >= argc) ok = read_stdin(&inputs, o.tsv);
    if (!ok) {
        fprintf(stderr, "encore: out of memory reading the input\n");
        list_free(&inputs);
        encore_model_free(model);
        return 2;
    }

    int failed = 0;
    if (strcmp(o.command, "tokenize") == 0) {
        failed = run_tokenize(model, &o, &inputs);
    } else {
        encore_session *session = NULL;
        if (encore_session_create(model, tools_session_params(&o.model), &session) != ENCORE_STATUS_OK) {
            fprintf(stderr, "encore: %s\n", encore_last_error());
            list_free(&inputs);
            encore_model_free(model);
            return 2;
        }
        const int width = strcmp(o.command, "embed") != 0  ? encore_model_n_labels(model)
                          : encore_model_is_sparse(model) ? encore_model_vocab_size(model)
                                                          : encore_model_hidden_size(model);
        float *out = malloc((size_t)o.batch * (size_t)width * sizeof(float));
        for (int i = 0; out && i < inputs.n; i += o.batch) {
            int n = inputs.n - i < o.batch ? inputs.n - i : o.batch;
            failed += run_batch(session, model, &o, inputs.items + i, n, out);
            fflush(stdout);
        }
        if (!out) fprintf(stderr, "encore: out of memory\n");
        free(out);
        encore_session_free(session);
    }
    if (failed) fprintf(stderr, "encore: %d of %d texts failed\n", failed, inputs.n);
    list_free(&inputs);
    encore_model_free(model);
    return failed ? 1 : 0;
}
