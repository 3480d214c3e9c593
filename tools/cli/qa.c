/* qa.c: `encore qa`, transformers 4.57's pipeline("question-answering") on
 * the command line. Questions come from the arguments (with --context), or
 * from stdin: one question a line with --context, else one JSON object
 * {"question": ..., "context": ...} a line. One JSON line per question, in
 * input order, as the pipeline returns it (json.dumps of it): a bare answer
 * {"score", "start", "end", "answer"} when there is one, else a list. */
#include "qa.h"

#include "encore.h"
#include "json_out.h"
#include "parse_number.h"
#include "weights_option.h"

#include <cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qa_options {
    const char *model_dir;
    const char *context;
    encore_qa_params params;
    int threads;
    int quiet;
    encore_device device;
    encore_weights weights;
} qa_options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: encore qa --model DIR --context TEXT [options] [QUESTION ...]\n"
            "       encore qa --model DIR [options] < questions.jsonl\n"
            "\n"
            "Extractive question answering, as transformers 4.57's pipeline(\"question-answering\")\n"
            "with a *ForQuestionAnswering model: one JSON line per question, a bare answer\n"
            "{\"score\", \"start\", \"end\", \"answer\"} (start and end: characters of the context)\n"
            "when there is one, else a list of them, best first.\n"
            "\n"
            "  --context TEXT             the context of the questions given as arguments, or of\n"
            "                             the questions read from stdin one a line; without it each\n"
            "                             stdin line is {\"question\": ..., \"context\": ...}\n"
            "  --top-k N                  answers per question (default 1)\n"
            "  --doc-stride N             context tokens each window repeats from the one before\n"
            "                             (default min(max-seq-len / 2, 128))\n"
            "  --max-answer-len N         tokens of an answer at most (default 15)\n"
            "  --max-seq-len N            tokens of a window (default min(model_max_length, 384))\n"
            "  --max-question-len N       accepted as the pipeline does; its fast-tokenizer path,\n"
            "                             and encore, do not use it\n"
            "  --handle-impossible-answer add the empty answer {\"start\": 0, \"end\": 0, \"answer\": \"\"}\n"
            "  --no-align-to-words        answers end at token boundaries, not at whole words\n"
            "  --model DIR                Hugging Face model directory (default: $ENCORE_MODEL)\n"
            "  --device cpu|cuda|auto     where to run (default cpu)\n"
            "  --threads N                CPU threads (default: all cores)\n" ENCORE_WEIGHTS_OPTION_HELP
            "  --quiet                    no log lines on stderr\n"
            "A question that fails gives {\"error\": ..., \"status\": ...} on its line and exit status 1.\n");
}

static int parse(int argc, char **argv, qa_options *o, int *first) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        struct {
            const char *name;
            int *dst;
            long min;
        } nums[] = {{"--top-k", &o->params.top_k, 1},
                    {"--doc-stride", &o->params.doc_stride, 0},
                    {"--max-answer-len", &o->params.max_answer_len, 1},
                    {"--max-seq-len", &o->params.max_seq_len, 1},
                    {"--max-question-len", &o->params.max_question_len, 1},
                    {"--threads", &o->threads, 1}};
        int num = -1;
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
            if (strcmp(a, nums[k].name) == 0) num = (int)k;
        const int takes_value = num >= 0 || strcmp(a, "--model") == 0 || strcmp(a, "--context") == 0 ||
                                strcmp(a, "--device") == 0 || strcmp(a, "--weights") == 0;
        if (takes_value && !next) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 0;
        }
        long v;
        if (num >= 0) {
            if (!tools_parse_long(next, nums[num].min, INT_MAX, &v)) {
                fprintf(stderr, "encore: %s takes a number from %ld, not '%s'\n", a, nums[num].min, next);
                return 0;
            }
            *nums[num].dst = (int)v;
        } else if (strcmp(a, "--model") == 0) o->model_dir = next;
        else if (strcmp(a, "--context") == 0) o->context = next;
        else if (strcmp(a, "--handle-impossible-answer") == 0) o->params.handle_impossible_answer = 1;
        else if (strcmp(a, "--no-align-to-words") == 0) o->params.align_to_words = 0;
        else if (strcmp(a, "--device") == 0) {
            if (strcmp(next, "cpu") == 0) o->device = ENCORE_DEVICE_CPU;
            else if (strcmp(next, "cuda") == 0) o->device = ENCORE_DEVICE_CUDA;
            else if (strcmp(next, "auto") == 0) o->device = ENCORE_DEVICE_AUTO;
            else {
                fprintf(stderr, "encore: --device takes cpu, cuda or auto, not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--weights") == 0) {
            if (encore_weights_parse(next, &o->weights) != 0) {
                fprintf(stderr, "encore: --weights takes fp32, bf16, int8 or int8-dynamic, not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--quiet") == 0) o->quiet = 1;
        else {
            if (strcmp(a, "--help") != 0) fprintf(stderr, "encore: unknown option %s\n", a);
            return 0;
        }
        if (takes_value) i++;
    }
    *first = i;
    return 1;
}

static void print_error(encore_status st, const char *message) {
    fputs("{\"error\": ", stdout);
    json_write_string(stdout, message);
    fputs(", \"status\": ", stdout);
    json_write_string(stdout, encore_status_str(st));
    fputs("}\n", stdout);
}

static void print_answer(const encore_qa_answer *a) {
    char num[40];
    json_format_number((double)a->score, 0, num, sizeof num);
    printf("{\"score\": %s, \"start\": %d, \"end\": %d, \"answer\": ", num, a->start, a->end);
    json_write_string(stdout, a->answer);
    fputc('}', stdout);
}

static void print_result(const encore_qa_result *r) {
    if (r->n_answers == 1) {
        print_answer(&r->answers[0]);
    } else {
        fputc('[', stdout);
        for (int i = 0; i < r->n_answers; i++) {
            if (i) fputs(", ", stdout);
            print_answer(&r->answers[i]);
        }
        fputc(']', stdout);
    }
    fputc('\n', stdout);
}

/* One question; 0 on success, 1 for a failed question, 2 when every
 * question would fail alike (the model or the options). */
static int run_one(encore_session *s, const qa_options *o, const char *question, const char *context) {
    encore_qa_result *r = NULL;
    const encore_status st = encore_session_question_answer(s, question, context, o->params, &r);
    if (st == ENCORE_STATUS_OK) {
        print_result(r);
        encore_qa_result_free(r);
        return 0;
    }
    if (st == ENCORE_STATUS_UNSUPPORTED || st == ENCORE_STATUS_INVALID_ARGUMENT) {
        fprintf(stderr, "encore: %s\n", encore_session_last_error(s));
        return 2;
    }
    print_error(st, encore_session_last_error(s));
    return 1;
}

/* A stdin line without --context: {"question": ..., "context": ...}. */
static int run_json_line(encore_session *s, const qa_options *o, const char *line) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "question");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "context");
    int rc;
    if (!cJSON_IsObject(j) || !cJSON_IsString(q) || !cJSON_IsString(c)) {
        print_error(ENCORE_STATUS_BAD_INPUT,
                    "each line is a JSON object {\"question\": ..., \"context\": ...} with two strings "
                    "(or give --context, and one question a line)");
        rc = 1;
    } else {
        rc = run_one(s, o, q->valuestring, c->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

static void quiet_log(encore_log_level level, const char *message, void *user_data) {
    (void)level, (void)message, (void)user_data;
}

int encore_cli_qa(int argc, char **argv, const char *default_model_dir) {
    qa_options o;
    memset(&o, 0, sizeof o);
    o.params = encore_qa_default_params();
    o.device = ENCORE_DEVICE_CPU;
    int first = argc;
    if (!parse(argc, argv, &o, &first)) {
        const int help = argc > 1 && strcmp(argv[argc - 1], "--help") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (first < argc && !o.context) {
        fprintf(stderr, "encore: questions given as arguments need --context TEXT\n");
        return 2;
    }
    if (!o.model_dir) {
        const char *env = getenv("ENCORE_MODEL");
        o.model_dir = env && *env ? env : default_model_dir;
    }
    if (o.quiet) encore_log_set(quiet_log, NULL);
    encore_model *model = NULL;
    encore_model_params mp = encore_model_default_params();
    mp.weights = o.weights;
    if (encore_model_load(o.model_dir, mp, &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        return 2;
    }
    if (encore_model_token_head(model) != ENCORE_TOKEN_HEAD_SPAN) {
        fprintf(stderr, "encore: %s (%s) is not a question-answering model: qa needs a *ForQuestionAnswering model\n",
                o.model_dir, encore_model_architecture_name(model));
        encore_model_free(model);
        return 2;
    }
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = o.threads;
    sp.device = o.device;
    encore_session *session = NULL;
    int rc = 0;
    if (encore_session_create(model, sp, &session) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        rc = 2;
    } else if (first < argc) {
        for (int i = first; i < argc && rc < 2; i++) {
            const int r = run_one(session, &o, argv[i], o.context);
            rc = r > rc ? r : rc;
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc < 2 && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            const int r = o.context ? run_one(session, &o, line, o.context) : run_json_line(session, &o, line);
            rc = r > rc ? r : rc;
        }
        free(line);
    }
    encore_session_free(session);
    encore_model_free(model);
    return rc;
}
