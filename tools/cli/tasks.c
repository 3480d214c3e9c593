/* tasks.c: `encore fill-mask`, `encore zero-shot`, `encore ner` and
 * `encore qa`: transformers' pipeline("fill-mask"),
 * pipeline("zero-shot-classification"), pipeline("token-classification") and
 * (4.57's) pipeline("question-answering") on the command line. One JSON line
 * per input, in input order: json.dumps of what the pipeline returns. */
#include "tasks.h"

#include "encore.h"
#include "json_out.h"
#include "model_options.h"
#include "parse_number.h"
#include "task.h"
#include "weights_option.h"

#include <cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct task_options {
    cli_task task;
    tools_model_options model; /* qa takes no --no-truncation: it cuts contexts into windows */
    const char *context;       /* qa --context */
    cli_task_params params;
} task_options;

static void usage(FILE *f, cli_task task) {
    switch (task) {
    case CLI_TASK_FILL_MASK:
        fputs("usage: encore fill-mask --model DIR [--top-k N] [--targets A,B,C] [options] [TEXT ...]\n"
              "\n"
              "Fill the [MASK] tokens of each text, as transformers' pipeline(\"fill-mask\"):\n"
              "one JSON line per text, [{\"score\", \"token\", \"token_str\", \"sequence\"}, ...]\n"
              "best first, or a list of such lists when the text has several masks.\n"
              "\n",
              f);
        break;
    case CLI_TASK_ZERO_SHOT:
        fputs("usage: encore zero-shot --model DIR --labels A,B,C [--hypothesis-template T] [--multi-label]\n"
              "                        [options] [TEXT ...]\n"
              "\n"
              "Zero-shot classification with an NLI classifier, as transformers'\n"
              "pipeline(\"zero-shot-classification\"): each text gives one JSON line\n"
              "{\"sequence\": ..., \"labels\": [...], \"scores\": [...]}, labels best first.\n"
              "\n",
              f);
        break;
    case CLI_TASK_NER:
        fputs("usage: encore ner --model DIR [--aggregation-strategy S] [--ignore-labels A,B] [--stride N] [options]\n"
              "                  [TEXT ...]\n"
              "\n"
              "Token classification (named entities), as transformers'\n"
              "pipeline(\"token-classification\"): one JSON line per text, a list of\n"
              "{\"entity\", \"score\", \"index\", \"word\", \"start\", \"end\"} per token, or of\n"
              "{\"entity_group\", \"score\", \"word\", \"start\", \"end\"} per group with a strategy;\n"
              "start and end are character offsets into the text.\n"
              "\n",
              f);
        break;
    default:
        fputs("usage: encore qa --model DIR --context TEXT [options] [QUESTION ...]\n"
              "       encore qa --model DIR [options] < questions.jsonl\n"
              "\n"
              "Extractive question answering, as transformers 4.57's pipeline(\"question-answering\")\n"
              "with a *ForQuestionAnswering model: one JSON line per question, a bare answer\n"
              "{\"score\", \"start\", \"end\", \"answer\"} (start and end: characters of the context)\n"
              "when there is one, else a list of them, best first.\n"
              "\n"
              "  --context TEXT             the context of the questions given as arguments, or of\n"
              "                             the questions read from stdin one a line; without it each\n"
              "                             stdin line is {\"question\": ..., \"context\": ...}\n",
              f);
        break;
    }
    cli_task_usage(f, task);
    fputs("  --model DIR                Hugging Face model directory (default: $ENCORE_MODEL)\n"
          TOOLS_DEVICE_OPTIONS_HELP,
          f);
    if (task != CLI_TASK_QA) fputs("  --no-truncation            fail on texts longer than the model takes\n", f);
    fputs("  --threads N                CPU threads (default: all cores)\n" ENCORE_WEIGHTS_OPTION_HELP
          "  --quiet                    no log lines on stderr\n",
          f);
    if (task == CLI_TASK_QA)
        fputs("A question that fails gives {\"error\": ..., \"status\": ...} on its line and exit status 1.\n", f);
    else
        fputs("Texts come from the arguments, or one per line on stdin. A text that fails gives\n"
              "{\"error\": ..., \"status\": ...} on its line and exit status 1.\n",
              f);
}

/* Returns 1, 0 for a usage error (printed), -1 for --help. */
static int parse(int argc, char **argv, task_options *o, int *first) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        if (strcmp(a, "--help") == 0) return -1;
        const int t = cli_task_option(&o->params, a, next, "encore");
        if (t < 0) return 0;
        if (t > 0) {
            i += t - 1;
            continue;
        }
        const int m =
            tools_model_option(&o->model, o->task == CLI_TASK_QA ? TOOLS_MODEL_OPT_TRUNCATION : 0, a, next, "encore");
        if (m < 0) return 0;
        if (m > 0) {
            i += m - 1;
            continue;
        }
        const int takes_value = strcmp(a, "--top-k") == 0 || (o->task == CLI_TASK_QA && strcmp(a, "--context") == 0);
        if (takes_value && !next) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 0;
        }
        long v;
        if (o->task == CLI_TASK_QA && strcmp(a, "--context") == 0) o->context = next;
        else if (strcmp(a, "--top-k") == 0 && (o->task == CLI_TASK_FILL_MASK || o->task == CLI_TASK_QA)) {
            if (!tools_parse_long(next, 1, INT_MAX, &v)) {
                fprintf(stderr, "encore: --top-k takes a positive number, not '%s'\n", next);
                return 0;
            }
            o->params.top_k = (int)v;
        } else {
            fprintf(stderr, "encore: unknown option %s for %s\n", a, cli_task_name(o->task));
            return 0;
        }
        if (takes_value) i++;
    }
    *first = i;
    return 1;
}

/* One input: 0 on success, 1 for a failed input, 2 when every input would
 * fail alike (the model or the options). */
static int run_one(encore_session *s, const task_options *o, const char *text, const char *pair) {
    const encore_status st = cli_task_run(s, o->task, &o->params, text, pair, stdout);
    if (st == ENCORE_STATUS_OK) {
        fputc('\n', stdout);
        return 0;
    }
    if (cli_task_failure_is_fatal(st)) {
        fprintf(stderr, "encore: %s\n", encore_session_last_error(s));
        return 2;
    }
    json_print_error(st, encore_session_last_error(s));
    return 1;
}

/* A qa line on stdin without --context: {"question": ..., "context": ...}. */
static int run_json_line(encore_session *s, const task_options *o, const char *line) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "question");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "context");
    int rc;
    if (!cJSON_IsObject(j) || !cJSON_IsString(q) || !cJSON_IsString(c)) {
        json_print_error(ENCORE_STATUS_BAD_INPUT,
                    "each line is a JSON object {\"question\": ..., \"context\": ...} with two strings "
                    "(or give --context, and one question a line)");
        rc = 1;
    } else {
        rc = run_one(s, o, q->valuestring, c->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

static int run_line(encore_session *s, const task_options *o, const char *line) {
    if (o->task != CLI_TASK_QA) return run_one(s, o, line, NULL);
    return o->context ? run_one(s, o, line, o->context) : run_json_line(s, o, line);
}

int encore_cli_task(int argc, char **argv, const char *default_model_dir) {
    task_options o;
    memset(&o, 0, sizeof o);
    if (!cli_task_from_name(argv[0], &o.task) || !cli_task_is_structured(o.task)) {
        fprintf(stderr, "encore: unknown task %s\n", argv[0]);
        return 2;
    }
    cli_task_params_init(&o.params);
    tools_model_options_init(&o.model);
    int first = argc;
    const int parsed = parse(argc, argv, &o, &first);
    if (parsed <= 0 || !cli_task_check_params(&o.params, o.task, "encore")) {
        usage(parsed < 0 ? stdout : stderr, o.task);
        cli_task_params_free(&o.params);
        return parsed < 0 ? 0 : 2;
    }
    if (o.task == CLI_TASK_QA && first < argc && !o.context) {
        fprintf(stderr, "encore: questions given as arguments need --context TEXT\n");
        cli_task_params_free(&o.params);
        return 2;
    }
    if (!o.model.model_dir) {
        const char *env = getenv("ENCORE_MODEL");
        o.model.model_dir = env && *env ? env : default_model_dir;
    }
    tools_model_options_apply_quiet(&o.model);
    encore_model *model = NULL;
    encore_session *session = NULL;
    char err[1024];
    int rc = 0;
    if (encore_model_load(o.model.model_dir, tools_model_params(&o.model), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        rc = 2;
    } else if (!cli_task_check_model(o.task, model, o.model.model_dir, err, sizeof err)) {
        fprintf(stderr, "encore: %s (--model DIR)\n", err);
        rc = 2;
    } else {
        if (encore_session_create(model, tools_session_params(&o.model), &session) != ENCORE_STATUS_OK) {
            fprintf(stderr, "encore: %s\n", encore_last_error());
            rc = 2;
        }
    }
    if (rc == 0 && first < argc) {
        for (int i = first; i < argc && rc < 2; i++) {
            const int r = run_one(session, &o, argv[i], o.context); /* context: qa's alone */
            rc = r > rc ? r : rc;
        }
    } else if (rc == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc < 2 && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            const int r = run_line(session, &o, line);
            rc = r > rc ? r : rc;
        }
        free(line);
    }
    encore_session_free(session);
    encore_model_free(model);
    cli_task_params_free(&o.params);
    return rc;
}
