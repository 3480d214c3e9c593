/* task.c: the structured pipelines' options, model checks and JSON (task.h). */
#include "task.h"

#include "json_out.h"
#include "parse_number.h"
#include "sha256.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    cli_task task;
    const char *name, *pipeline;
} NAMES[] = {
    {CLI_TASK_AUTO, "auto", NULL},
    {CLI_TASK_CLASSIFY, "classify", "text-classification"},
    {CLI_TASK_EMBED, "embed", "feature-extraction"},
    {CLI_TASK_FILL_MASK, "fill-mask", "fill-mask"},
    {CLI_TASK_ZERO_SHOT, "zero-shot", "zero-shot-classification"},
    {CLI_TASK_NER, "ner", "token-classification"},
    {CLI_TASK_QA, "qa", "question-answering"},
};

const char *cli_task_name(cli_task task) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (NAMES[i].task == task) return NAMES[i].name;
    return "?";
}

int cli_task_from_name(const char *name, cli_task *out) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(name, NAMES[i].name) == 0 || (NAMES[i].pipeline && strcmp(name, NAMES[i].pipeline) == 0)) {
            *out = NAMES[i].task;
            return 1;
        }
    return 0;
}

static int is_masked_lm(const encore_model *model) {
    const encore_architecture a = encore_model_architecture(model);
    return a == ENCORE_ARCHITECTURE_BERT_MASKED_LM || a == ENCORE_ARCHITECTURE_DISTILBERT_MASKED_LM ||
           a == ENCORE_ARCHITECTURE_ROBERTA_MASKED_LM || a == ENCORE_ARCHITECTURE_MPNET_MASKED_LM;
}

cli_task cli_task_for_model(const encore_model *model) {
    if (encore_model_is_sparse(model)) return CLI_TASK_EMBED; /* SPLADE: its weights */
    if (is_masked_lm(model)) return CLI_TASK_FILL_MASK;
    switch (encore_model_token_head(model)) {
    case ENCORE_TOKEN_HEAD_CLASSIFY: return CLI_TASK_NER;
    case ENCORE_TOKEN_HEAD_SPAN: return CLI_TASK_QA;
    default: break;
    }
    return encore_model_n_labels(model) > 0 ? CLI_TASK_CLASSIFY : CLI_TASK_EMBED;
}

int cli_task_is_structured(cli_task task) {
    return task == CLI_TASK_FILL_MASK || task == CLI_TASK_ZERO_SHOT || task == CLI_TASK_NER || task == CLI_TASK_QA;
}

/* label2id's entailment label, as the zero-shot pipeline looks for it. */
static int has_entailment(const encore_model *model) {
    for (int i = 0; i < encore_model_n_labels(model); i++) {
        const char *l = encore_model_label(model, i);
        if (l && strncasecmp(l, "entail", 6) == 0) return 1;
    }
    return 0;
}

int cli_task_check_model(cli_task task, const encore_model *model, const char *model_dir, char *err, size_t len) {
    const char *arch = encore_model_architecture_name(model);
    const char *need = NULL;
    switch (task) {
    case CLI_TASK_CLASSIFY:
        if (encore_model_n_labels(model) == 0) need = "a sequence classifier (*ForSequenceClassification)";
        break;
    case CLI_TASK_EMBED:
        if (encore_model_n_labels(model) > 0 || encore_model_token_head(model) != ENCORE_TOKEN_HEAD_NONE)
            need = "an encoder without a classification head";
        break;
    case CLI_TASK_FILL_MASK:
        if (!is_masked_lm(model))
            need = "a masked-language model (BertForMaskedLM, DistilBertForMaskedLM, RobertaForMaskedLM, "
                   "MPNetForMaskedLM)";
        break;
    case CLI_TASK_ZERO_SHOT:
        if (!has_entailment(model))
            need = "an NLI sequence classifier (a label2id label starting with \"entail\")";
        break;
    case CLI_TASK_NER:
        if (encore_model_token_head(model) != ENCORE_TOKEN_HEAD_CLASSIFY)
            need = "a token classifier (BertForTokenClassification, DistilBertForTokenClassification)";
        break;
    case CLI_TASK_QA:
        if (encore_model_token_head(model) != ENCORE_TOKEN_HEAD_SPAN)
            need = "a *ForQuestionAnswering model";
        break;
    case CLI_TASK_AUTO: break;
    }
    if (!need) return 1;
    snprintf(err, len, "%s (%s) cannot run %s: it needs %s", model_dir, arch, cli_task_name(task), need);
    return 0;
}

/* ---- options ----------------------------------------------------------- */

void cli_task_params_init(cli_task_params *p) {
    memset(p, 0, sizeof *p);
    p->aggregation = ENCORE_AGGREGATION_NONE;
    p->stride = -1;
    p->qa = encore_qa_default_params();
}

static void free_list(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

void cli_task_params_free(cli_task_params *p) {
    free_list(p->targets, p->n_targets);
    free_list(p->labels, p->n_labels);
    free_list(p->ignore_labels, p->n_ignore_labels);
    cli_task_params_init(p);
}

/* s split at commas into a malloc'd list of malloc'd strings. strip: the
 * zero-shot pipeline's parsing of a label string (each part stripped of
 * whitespace, empty parts dropped); else the parts as written, "" giving
 * none. NULL when out of memory. */
static char **split_list(const char *s, int strip, int *n) {
    *n = 0;
    size_t parts = 1;
    for (const char *c = s; *c; c++) parts += *c == ',';
    char **out = calloc(parts, sizeof *out);
    if (!out || (!strip && !*s)) return out;
    for (const char *start = s;;) {
        const char *end = strchr(start, ',');
        if (!end) end = start + strlen(start);
        const char *a = start, *b = end;
        if (strip) {
            while (a < b && strchr(" \t\n\r\f\v", *a)) a++;
            while (b > a && strchr(" \t\n\r\f\v", b[-1])) b--;
        }
        if (!strip || b > a) {
            char *item = malloc((size_t)(b - a) + 1);
            if (!item) {
                free_list(out, *n);
                *n = 0;
                return NULL;
            }
            memcpy(item, a, (size_t)(b - a));
            item[b - a] = '\0';
            out[(*n)++] = item;
        }
        if (!*end) break;
        start = end + 1;
    }
    return out;
}

static int set_list(char ***list, int *n, const char *value, int strip, const char *prog) {
    free_list(*list, *n);
    *list = split_list(value, strip, n);
    if (*list) return 2;
    fprintf(stderr, "%s: out of memory\n", prog);
    return -1;
}

int cli_task_option(cli_task_params *p, const char *a, const char *next, const char *prog) {
    static const struct {
        const char *name;
        cli_task task;
        int takes_value;
    } OPTS[] = {
        {"--targets", CLI_TASK_FILL_MASK, 1},          {"--labels", CLI_TASK_ZERO_SHOT, 1},
        {"--hypothesis-template", CLI_TASK_ZERO_SHOT, 1}, {"--multi-label", CLI_TASK_ZERO_SHOT, 0},
        {"--aggregation-strategy", CLI_TASK_NER, 1},   {"--ignore-labels", CLI_TASK_NER, 1},
        {"--stride", CLI_TASK_NER, 1},                 {"--doc-stride", CLI_TASK_QA, 1},
        {"--max-answer-len", CLI_TASK_QA, 1},          {"--max-seq-len", CLI_TASK_QA, 1},
        {"--max-question-len", CLI_TASK_QA, 1},        {"--handle-impossible-answer", CLI_TASK_QA, 0},
        {"--no-align-to-words", CLI_TASK_QA, 0},
    };
    int k = -1;
    for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++)
        if (strcmp(a, OPTS[i].name) == 0) k = (int)i;
    if (k < 0) return 0;
    if (OPTS[k].takes_value && !next) {
        fprintf(stderr, "%s: %s needs a value\n", prog, a);
        return -1;
    }
    p->given |= 1u << OPTS[k].task;
    long v;
    if (strcmp(a, "--targets") == 0) return set_list(&p->targets, &p->n_targets, next, 0, prog);
    if (strcmp(a, "--labels") == 0) return set_list(&p->labels, &p->n_labels, next, 1, prog);
    if (strcmp(a, "--ignore-labels") == 0) {
        p->ignore_labels_given = 1;
        return set_list(&p->ignore_labels, &p->n_ignore_labels, next, 0, prog);
    }
    if (strcmp(a, "--hypothesis-template") == 0) {
        p->hypothesis_template = next;
        return 2;
    }
    if (strcmp(a, "--multi-label") == 0) {
        p->multi_label = 1;
        return 1;
    }
    if (strcmp(a, "--handle-impossible-answer") == 0) {
        p->qa.handle_impossible_answer = 1;
        return 1;
    }
    if (strcmp(a, "--no-align-to-words") == 0) {
        p->qa.align_to_words = 0;
        return 1;
    }
    if (strcmp(a, "--aggregation-strategy") == 0) {
        if (encore_aggregation_from_name(next, &p->aggregation) != ENCORE_STATUS_OK) {
            fprintf(stderr, "%s: %s\n", prog, encore_last_error());
            return -1;
        }
        p->aggregation_given = 1;
        return 2;
    }
    struct {
        const char *name;
        int *dst;
        long min;
    } nums[] = {{"--stride", &p->stride, 0},
                {"--doc-stride", &p->qa.doc_stride, 0},
                {"--max-answer-len", &p->qa.max_answer_len, 1},
                {"--max-seq-len", &p->qa.max_seq_len, 1},
                {"--max-question-len", &p->qa.max_question_len, 1}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(a, nums[i].name) != 0) continue;
        if (!tools_parse_long(next, nums[i].min, INT_MAX, &v)) {
            fprintf(stderr, "%s: %s takes a number from %ld, not '%s'\n", prog, a, nums[i].min, next);
            return -1;
        }
        *nums[i].dst = (int)v;
        return 2;
    }
    return 0;
}

int cli_task_check_params(const cli_task_params *p, cli_task task, const char *prog) {
    const unsigned others = p->given & ~(1u << task);
    for (int t = CLI_TASK_FILL_MASK; t <= CLI_TASK_QA; t++)
        if (others & (1u << t)) {
            fprintf(stderr, "%s: options of %s were given, but the task is %s\n", prog, cli_task_name((cli_task)t),
                    cli_task_name(task));
            return 0;
        }
    if (task == CLI_TASK_ZERO_SHOT && !p->labels) {
        fprintf(stderr, "%s: zero-shot needs --labels A,B,C\n", prog);
        return 0;
    }
    if (task == CLI_TASK_ZERO_SHOT && p->n_labels == 0) {
        fprintf(stderr, "%s: --labels gives no candidate labels (at least one is needed)\n", prog);
        return 0;
    }
    if (task == CLI_TASK_FILL_MASK && p->targets && p->n_targets == 0) {
        fprintf(stderr, "%s: --targets gives no targets (at least one is needed)\n", prog);
        return 0;
    }
    if (task == CLI_TASK_NER && p->stride >= 0 && p->aggregation_given && p->aggregation == ENCORE_AGGREGATION_NONE) {
        /* as the pipeline refuses stride with aggregation_strategy="none" */
        fprintf(stderr, "%s: --stride needs an --aggregation-strategy other than none\n", prog);
        return 0;
    }
    return 1;
}

static void digest_int(tools_sha256 *h, long long v) {
    char buf[32];
    const int n = snprintf(buf, sizeof buf, "%lld;", v);
    tools_sha256_update(h, buf, (size_t)n);
}

/* A string as its length and bytes; NULL as -1. */
static void digest_str(tools_sha256 *h, const char *s) {
    digest_int(h, s ? (long long)strlen(s) : -1);
    if (s) tools_sha256_update(h, s, strlen(s));
}

static void digest_list(tools_sha256 *h, char *const *l, int n) {
    digest_int(h, l ? n : -1);
    for (int i = 0; l && i < n; i++) digest_str(h, l[i]);
}

void cli_task_params_digest(const cli_task_params *p, char hex[65]) {
    tools_sha256 h;
    tools_sha256_init(&h);
    digest_int(&h, p->top_k);
    digest_list(&h, p->targets, p->n_targets);
    digest_list(&h, p->labels, p->n_labels);
    digest_str(&h, p->hypothesis_template);
    digest_int(&h, p->multi_label);
    digest_int(&h, (long long)p->aggregation);
    digest_list(&h, p->ignore_labels, p->ignore_labels_given ? p->n_ignore_labels : -1);
    digest_int(&h, p->stride);
    const encore_qa_params *q = &p->qa;
    const int qa[] = {q->top_k, q->doc_stride, q->max_answer_len, q->max_seq_len, q->max_question_len,
                      q->handle_impossible_answer, q->align_to_words};
    for (size_t i = 0; i < sizeof qa / sizeof qa[0]; i++) digest_int(&h, qa[i]);
    uint8_t d[32];
    tools_sha256_digest(&h, d);
    tools_sha256_hex(d, hex);
}

void cli_task_usage(FILE *f, cli_task task) {
    switch (task) {
    case CLI_TASK_FILL_MASK:
        fputs("  --top-k N                  predictions per mask (default 5)\n"
              "  --targets A,B,C            score only these (split at commas, kept as written;\n"
              "                             one not in the vocabulary counts as its first token)\n",
              f);
        break;
    case CLI_TASK_ZERO_SHOT:
        fputs("  --labels A,B,C             candidate labels, split at commas and stripped of\n"
              "                             spaces, as the pipeline splits a string (at least one)\n"
              "  --hypothesis-template T    default \"This example is {}.\"; {} is the label\n"
              "  --multi-label              score each label alone (entailment against contradiction)\n",
              f);
        break;
    case CLI_TASK_NER:
        fputs("  --aggregation-strategy S   none (default), simple, first, average or max\n"
              "  --ignore-labels A,B        labels (or groups) left out, split at commas (default O;\n"
              "                             \"\" leaves none out)\n"
              "  --stride N                 classify the whole text in windows of the model's length,\n"
              "                             each repeating N tokens of the one before (the pipeline's\n"
              "                             stride; not with --aggregation-strategy none)\n",
              f);
        break;
    case CLI_TASK_QA:
        fputs("  --top-k N                  answers per question (default 1)\n"
              "  --doc-stride N             context tokens each window repeats from the one before\n"
              "                             (default min(max-seq-len / 2, 128))\n"
              "  --max-answer-len N         tokens of an answer at most (default 15)\n"
              "  --max-seq-len N            tokens of a window (default min(model_max_length, 384))\n"
              "  --max-question-len N       accepted as the pipeline does; its fast-tokenizer path,\n"
              "                             and encore, do not use it\n"
              "  --handle-impossible-answer add the empty answer {\"start\": 0, \"end\": 0, \"answer\": \"\"}\n"
              "  --no-align-to-words        answers end at token boundaries, not at whole words\n",
              f);
        break;
    default: break;
    }
}

/* ---- running one input ------------------------------------------------- */

static void number(FILE *f, float v) {
    char num[40];
    json_format_number((double)v, 0, num, sizeof num);
    fputs(num, f);
}

static void write_fill_mask(FILE *f, const encore_fill_mask_result *r) {
    if (r->n_masks > 1) fputc('[', f);
    for (int m = 0; m < r->n_masks; m++) {
        fputs(m ? ", [" : "[", f);
        for (int j = 0; j < r->k; j++) {
            const encore_fill_mask_prediction *p = &r->predictions[(size_t)m * r->k + j];
            fputs(j ? ", {\"score\": " : "{\"score\": ", f);
            number(f, p->score);
            fprintf(f, ", \"token\": %d, \"token_str\": ", (int)p->token);
            json_write_string(f, p->token_str);
            fputs(", \"sequence\": ", f);
            json_write_string(f, p->sequence);
            fputc('}', f);
        }
        fputc(']', f);
    }
    if (r->n_masks > 1) fputc(']', f);
}

static void write_zero_shot(FILE *f, const char *text, char *const *labels, const float *scores, const int *order,
                            int n) {
    fputs("{\"sequence\": ", f);
    json_write_string(f, text);
    fputs(", \"labels\": [", f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        json_write_string(f, labels[order[i]]);
    }
    fputs("], \"scores\": [", f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        number(f, scores[order[i]]);
    }
    fputs("]}", f);
}

static void write_entities(FILE *f, const encore_token_classify_result *r) {
    const int grouped = r->aggregation != ENCORE_AGGREGATION_NONE;
    fputc('[', f);
    for (int i = 0; i < r->n_entities; i++) {
        const encore_entity *e = &r->entities[i];
        fputs(i ? ", {" : "{", f);
        fputs(grouped ? "\"entity_group\": " : "\"entity\": ", f);
        json_write_string(f, e->entity);
        fputs(", \"score\": ", f);
        number(f, e->score);
        if (!grouped) fprintf(f, ", \"index\": %d", (int)e->index);
        fputs(", \"word\": ", f);
        json_write_string(f, e->word);
        fprintf(f, ", \"start\": %d, \"end\": %d}", (int)e->start, (int)e->end);
    }
    fputc(']', f);
}

static void write_answer(FILE *f, const encore_qa_answer *a) {
    fputs("{\"score\": ", f);
    number(f, a->score);
    fprintf(f, ", \"start\": %d, \"end\": %d, \"answer\": ", a->start, a->end);
    json_write_string(f, a->answer);
    fputc('}', f);
}

/* The pipeline returns a bare answer when there is one, else a list. */
static void write_answers(FILE *f, const encore_qa_result *r) {
    if (r->n_answers == 1) {
        write_answer(f, &r->answers[0]);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < r->n_answers; i++) {
        if (i) fputs(", ", f);
        write_answer(f, &r->answers[i]);
    }
    fputc(']', f);
}

static encore_status run_zero_shot(encore_session *s, const cli_task_params *p, const char *text, FILE *out) {
    encore_zero_shot_params zp = encore_zero_shot_default_params();
    if (p->hypothesis_template) zp.hypothesis_template = p->hypothesis_template;
    zp.multi_label = p->multi_label;
    const size_t n = (size_t)(p->n_labels > 0 ? p->n_labels : 1);
    float *scores = malloc(n * sizeof *scores);
    int *order = malloc(n * sizeof *order);
    encore_status st = ENCORE_STATUS_OUT_OF_MEMORY;
    if (scores && order) {
        st = encore_session_zero_shot(s, text, (const char *const *)p->labels, p->n_labels, zp, scores, order);
        if (st == ENCORE_STATUS_OK) write_zero_shot(out, text, p->labels, scores, order, p->n_labels);
    }
    free(scores);
    free(order);
    return st;
}

encore_status cli_task_run(encore_session *session, cli_task task, const cli_task_params *p, const char *text,
                           const char *pair, FILE *out) {
    encore_status st = ENCORE_STATUS_INVALID_ARGUMENT;
    switch (task) {
    case CLI_TASK_FILL_MASK: {
        encore_fill_mask_params fp = encore_fill_mask_default_params();
        if (p->top_k > 0) fp.top_k = p->top_k;
        fp.targets = (const char *const *)p->targets;
        fp.n_targets = p->n_targets;
        encore_fill_mask_result *r = NULL;
        st = encore_session_fill_mask(session, text, fp, &r);
        if (st == ENCORE_STATUS_OK) write_fill_mask(out, r);
        encore_fill_mask_result_free(r);
        break;
    }
    case CLI_TASK_ZERO_SHOT: st = run_zero_shot(session, p, text, out); break;
    case CLI_TASK_NER: {
        encore_token_classify_params tp = encore_token_classify_default_params();
        tp.aggregation = p->aggregation;
        tp.stride = p->stride;
        if (p->ignore_labels_given) {
            tp.ignore_labels = (const char *const *)p->ignore_labels;
            tp.n_ignore_labels = p->n_ignore_labels; /* "": a list of none, nothing left out */
        }
        encore_token_classify_result *r = NULL;
        st = encore_session_token_classify(session, text, tp, &r);
        if (st == ENCORE_STATUS_OK) write_entities(out, r);
        encore_token_classify_result_free(r);
        break;
    }
    case CLI_TASK_QA: {
        encore_qa_params qp = p->qa;
        if (p->top_k > 0) qp.top_k = p->top_k;
        encore_qa_result *r = NULL;
        st = encore_session_question_answer(session, text, pair, qp, &r);
        if (st == ENCORE_STATUS_OK) write_answers(out, r);
        encore_qa_result_free(r);
        break;
    }
    default: break;
    }
    return st;
}

int cli_task_failure_is_fatal(encore_status status) {
    return status == ENCORE_STATUS_UNSUPPORTED || status == ENCORE_STATUS_INVALID_ARGUMENT;
}
