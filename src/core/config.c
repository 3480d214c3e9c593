/* config.c: read config.json with cJSON and check it describes a model encore
 * can run. */
#include "core/config.h"

#include "core/common.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    encore_architecture architecture;
    int is_distilbert, has_head, has_mlm;
    encore_token_head token_head;
    int is_roberta;
} architectures[] = {
    {"BertModel", ENCORE_ARCHITECTURE_BERT_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 0},
    {"BertForSequenceClassification", ENCORE_ARCHITECTURE_BERT_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 0},
    {"DistilBertModel", ENCORE_ARCHITECTURE_DISTILBERT_MODEL, 1, 0, 0, ENCORE_TOKEN_HEAD_NONE, 0},
    {"DistilBertForSequenceClassification", ENCORE_ARCHITECTURE_DISTILBERT_SEQUENCE_CLASSIFICATION, 1, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 0},
    {"BertForMaskedLM", ENCORE_ARCHITECTURE_BERT_MASKED_LM, 0, 0, 1, ENCORE_TOKEN_HEAD_NONE, 0},
    {"DistilBertForMaskedLM", ENCORE_ARCHITECTURE_DISTILBERT_MASKED_LM, 1, 0, 1, ENCORE_TOKEN_HEAD_NONE, 0},
    {"BertForTokenClassification", ENCORE_ARCHITECTURE_BERT_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 0},
    {"DistilBertForTokenClassification", ENCORE_ARCHITECTURE_DISTILBERT_TOKEN_CLASSIFICATION, 1, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 0},
    {"BertForQuestionAnswering", ENCORE_ARCHITECTURE_BERT_QUESTION_ANSWERING, 0, 0, 0, ENCORE_TOKEN_HEAD_SPAN, 0},
    {"DistilBertForQuestionAnswering", ENCORE_ARCHITECTURE_DISTILBERT_QUESTION_ANSWERING, 1, 0, 0,
     ENCORE_TOKEN_HEAD_SPAN, 0},
    {"RobertaModel", ENCORE_ARCHITECTURE_ROBERTA_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 1},
    {"RobertaForSequenceClassification", ENCORE_ARCHITECTURE_ROBERTA_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 1},
    {"RobertaForMaskedLM", ENCORE_ARCHITECTURE_ROBERTA_MASKED_LM, 0, 0, 1, ENCORE_TOKEN_HEAD_NONE, 1},
    {"RobertaForTokenClassification", ENCORE_ARCHITECTURE_ROBERTA_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 1},
    {"RobertaForQuestionAnswering", ENCORE_ARCHITECTURE_ROBERTA_QUESTION_ANSWERING, 0, 0, 0, ENCORE_TOKEN_HEAD_SPAN, 1},
    /* XLM-RoBERTa is RoBERTa's network (its classes subclass RoBERTa's, with
     * the same weight names) under a SentencePiece tokenizer */
    {"XLMRobertaModel", ENCORE_ARCHITECTURE_ROBERTA_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 1},
    {"XLMRobertaForSequenceClassification", ENCORE_ARCHITECTURE_ROBERTA_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 1},
    {"XLMRobertaForMaskedLM", ENCORE_ARCHITECTURE_ROBERTA_MASKED_LM, 0, 0, 1, ENCORE_TOKEN_HEAD_NONE, 1},
    {"XLMRobertaForTokenClassification", ENCORE_ARCHITECTURE_ROBERTA_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 1},
    {"XLMRobertaForQuestionAnswering", ENCORE_ARCHITECTURE_ROBERTA_QUESTION_ANSWERING, 0, 0, 0,
     ENCORE_TOKEN_HEAD_SPAN, 1},
    /* MPNet: RoBERTa's positions and heads, no token types, a relative
     * position bias shared by the layers, under a WordPiece tokenizer */
    {"MPNetModel", ENCORE_ARCHITECTURE_MPNET_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 0},
    {"MPNetForSequenceClassification", ENCORE_ARCHITECTURE_MPNET_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 0},
    {"MPNetForMaskedLM", ENCORE_ARCHITECTURE_MPNET_MASKED_LM, 0, 0, 1, ENCORE_TOKEN_HEAD_NONE, 0},
    {"MPNetForTokenClassification", ENCORE_ARCHITECTURE_MPNET_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 0},
    {"MPNetForQuestionAnswering", ENCORE_ARCHITECTURE_MPNET_QUESTION_ANSWERING, 0, 0, 0, ENCORE_TOKEN_HEAD_SPAN, 0},
    /* ELECTRA's discriminator: BERT's network and names under "electra.",
     * embeddings of embedding_size (projected), the GELU head */
    {"ElectraModel", ENCORE_ARCHITECTURE_ELECTRA_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 0},
    {"ElectraForSequenceClassification", ENCORE_ARCHITECTURE_ELECTRA_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 0},
    {"ElectraForTokenClassification", ENCORE_ARCHITECTURE_ELECTRA_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 0},
    {"ElectraForQuestionAnswering", ENCORE_ARCHITECTURE_ELECTRA_QUESTION_ANSWERING, 0, 0, 0, ENCORE_TOKEN_HEAD_SPAN,
     0},
    /* DeBERTa-v2/v3: BERT's layer layout with disentangled attention, a
     * pooler (dense and pooler_hidden_act) before the classifier */
    {"DebertaV2Model", ENCORE_ARCHITECTURE_DEBERTA_V2_MODEL, 0, 0, 0, ENCORE_TOKEN_HEAD_NONE, 0},
    {"DebertaV2ForSequenceClassification", ENCORE_ARCHITECTURE_DEBERTA_V2_SEQUENCE_CLASSIFICATION, 0, 1, 0,
     ENCORE_TOKEN_HEAD_NONE, 0},
    {"DebertaV2ForTokenClassification", ENCORE_ARCHITECTURE_DEBERTA_V2_TOKEN_CLASSIFICATION, 0, 0, 0,
     ENCORE_TOKEN_HEAD_CLASSIFY, 0},
    {"DebertaV2ForQuestionAnswering", ENCORE_ARCHITECTURE_DEBERTA_V2_QUESTION_ANSWERING, 0, 0, 0,
     ENCORE_TOKEN_HEAD_SPAN, 0},
};

static int starts_with_entail(const char *label) {
    static const char prefix[] = "entail";
    for (size_t i = 0; i < sizeof prefix - 1; i++) {
        char c = label[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != prefix[i]) return 0;
    }
    return 1;
}

/* The zero-shot pipeline's entailment id: the first label of label2id (in
 * the file's order) that starts with "entail"; transformers builds label2id
 * from id2label when config.json has none. An id outside the labels counts
 * as none. */
static void find_entailment(const cJSON *root, encore_config *cfg) {
    cfg->entailment_id = -1;
    const cJSON *label2id = cJSON_GetObjectItemCaseSensitive(root, "label2id");
    if (cJSON_IsObject(label2id)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, label2id) {
            if (!item->string || !starts_with_entail(item->string)) continue;
            if (cJSON_IsNumber(item) && item->valuedouble >= 0 && item->valuedouble < cfg->n_labels &&
                item->valuedouble == (double)(int)item->valuedouble)
                cfg->entailment_id = (int)item->valuedouble;
            return;
        }
        return;
    }
    for (int i = 0; i < cfg->n_labels; i++) {
        if (starts_with_entail(cfg->labels[i])) {
            cfg->entailment_id = i;
            return;
        }
    }
}

/* An integer in [lo, hi]: checked as a double before any conversion (a
 * double out of int's range converts to nothing defined). */
static encore_status check_int(const char *path, const char *key, double v, int lo, int hi, int *out) {
    if (!(v >= lo && v <= hi))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: '%s' is %.15g; encore takes %d to %d (README: limits on model files)",
                           path, key, v, lo, hi);
    if (v != (double)(int)v)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: '%s' is %.15g, not an integer", path, key, v);
    *out = (int)v;
    return ENCORE_STATUS_OK;
}

/* An integer key that must be present, in [1, hi]. */
static encore_status get_int(const cJSON *root, const char *path, const char *key, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: '%s' is missing or not a number", path, key);
    return check_int(path, key, v->valuedouble, 1, hi, out);
}

static encore_status parse_activation(const char *path, const char *key, const char *name,
                                      encore_activation *out) {
    static const struct { const char *name; encore_activation act; } table[] = {
        {"gelu", ENCORE_ACTIVATION_GELU},           {"gelu_python", ENCORE_ACTIVATION_GELU},
        {"gelu_new", ENCORE_ACTIVATION_GELU_TANH},  {"gelu_pytorch_tanh", ENCORE_ACTIVATION_GELU_TANH},
        {"gelu_fast", ENCORE_ACTIVATION_GELU_TANH}, {"relu", ENCORE_ACTIVATION_RELU},
        {"silu", ENCORE_ACTIVATION_SILU},           {"swish", ENCORE_ACTIVATION_SILU},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            *out = table[i].act;
            return ENCORE_STATUS_OK;
        }
    }
    return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                       "%s: %s '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu are)",
                       path, key, name);
}

/* id2label: {"0": "NEGATIVE", "1": "POSITIVE"}; ids must be 0..n-1. */
static encore_status parse_labels(const cJSON *root, const char *path, encore_config *cfg) {
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int n = 2; /* transformers' default */
    encore_status s;
    if (cJSON_IsObject(id2label)) {
        if ((s = check_int(path, "id2label (its entries)", (double)cJSON_GetArraySize(id2label), 1,
                           ENCORE_MAX_LABELS, &n)))
            return s;
    } else {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(root, "num_labels");
        if (cJSON_IsNumber(num) && (s = check_int(path, "num_labels", num->valuedouble, 1, ENCORE_MAX_LABELS, &n)))
            return s;
    }
    cfg->labels = calloc((size_t)n, sizeof *cfg->labels);
    if (!cfg->labels) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    cfg->n_labels = n;
    if (cJSON_IsObject(id2label)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, id2label) {
            char *end = NULL;
            long id = strtol(item->string, &end, 10);
            if (*item->string == '\0' || *end != '\0' || id < 0 || id >= n || cfg->labels[id] ||
                !cJSON_IsString(item))
                return encore_fail(ENCORE_STATUS_BAD_MODEL,
                                   "%s: id2label key '%s' is not a unique label id in 0..%d with a string label",
                                   path, item->string, n - 1);
            cfg->labels[id] = strdup(item->valuestring);
        }
    } else {
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "LABEL_%d", i);
            cfg->labels[i] = strdup(name);
        }
    }
    for (int i = 0; i < n; i++)
        if (!cfg->labels[i]) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");

    find_entailment(root, cfg);

    /* The text-classification pipeline's default function_to_apply. */
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "problem_type");
    const char *problem = cJSON_IsString(pt) ? pt->valuestring : "";
    if (strcmp(problem, "multi_label_classification") == 0 || n == 1)
        cfg->score_function = ENCORE_SCORE_FUNCTION_SIGMOID;
    else
        cfg->score_function = ENCORE_SCORE_FUNCTION_SOFTMAX;
    return ENCORE_STATUS_OK;
}

static int json_true(const cJSON *root, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* DebertaV2Config's attention settings, as DisentangledSelfAttention and
 * DebertaV2Encoder read them; what encore does not implement is refused by
 * name. */
static encore_status parse_deberta(const cJSON *root, const char *path, encore_config *cfg) {
    encore_status s;
    cfg->deberta_rel = json_true(root, "relative_attention", 0);
    cfg->has_positions = json_true(root, "position_biased_input", 1);
    if (!json_true(root, "share_att_key", 0) && cfg->deberta_rel)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: DeBERTa with share_att_key false (separate position "
                           "projections) is not supported", path);
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "pos_att_type");
    if (cJSON_IsString(types)) {
        /* "c2p|p2c", as DebertaV2Config splits it (lowercased) */
        const char *t = types->valuestring;
        for (const char *p = t; *p;) {
            while (*p == ' ' || *p == '|') p++;
            const char *e = p;
            while (*e && *e != '|') e++;
            const char *f = e;
            while (f > p && f[-1] == ' ') f--;
            if (f - p == 3 && strncasecmp(p, "c2p", 3) == 0) cfg->deberta_c2p = 1;
            else if (f - p == 3 && strncasecmp(p, "p2c", 3) == 0) cfg->deberta_p2c = 1;
            else if (f > p)
                return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: pos_att_type '%.40s' is not supported (c2p and "
                                   "p2c are)", path, t);
            p = e;
        }
    } else if (cJSON_IsArray(types)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, types) {
            if (cJSON_IsString(t) && strcmp(t->valuestring, "c2p") == 0) cfg->deberta_c2p = 1;
            else if (cJSON_IsString(t) && strcmp(t->valuestring, "p2c") == 0) cfg->deberta_p2c = 1;
            else
                return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: pos_att_type has '%.40s'; c2p and p2c are "
                                   "supported", path, cJSON_IsString(t) ? t->valuestring : "(not a string)");
        }
    } else if (types && !cJSON_IsNull(types)) {
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'pos_att_type' is neither a list nor a string", path);
    }
    const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(root, "conv_kernel_size");
    if (cJSON_IsNumber(kernel) && kernel->valuedouble > 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: DeBERTa's convolution layer (conv_kernel_size %g) is not "
                           "supported", path, kernel->valuedouble);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(root, "attention_head_size");
    if (cJSON_IsNumber(head) && head->valuedouble * cfg->n_heads != cfg->hidden_size)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: attention_head_size %g times %d heads is not the hidden "
                           "size %d", path, head->valuedouble, cfg->n_heads, cfg->hidden_size);
    const cJSON *pooler = cJSON_GetObjectItemCaseSensitive(root, "pooler_hidden_size");
    if (cJSON_IsNumber(pooler) && pooler->valuedouble != cfg->hidden_size)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: pooler_hidden_size %g differs from hidden_size %d", path,
                           pooler->valuedouble, cfg->hidden_size);
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "embedding_size");
    if (cJSON_IsNumber(es) && es->valuedouble != cfg->hidden_size)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: DeBERTa with embedding_size %g (not the hidden size %d) "
                           "is not supported", path, es->valuedouble, cfg->hidden_size);
    /* the pooler's activation: the encoder's, or tanh (on the CPU only, as
     * DeBERTa is) */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "pooler_hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "tanh") == 0)
        cfg->head_activation = ENCORE_ACTIVATION_TANH;
    else if ((s = parse_activation(path, "pooler_hidden_act", cJSON_IsString(act) ? act->valuestring : "gelu",
                                   &cfg->head_activation)))
        return s;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "norm_rel_ebd");
    if (cJSON_IsString(norm)) {
        /* "layer_norm", "none", or names joined by "|" */
        cfg->deberta_rel_ln = strstr(norm->valuestring, "layer_norm") != NULL;
    }
    /* the span is set once max_position_embeddings is read (parse) */
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "position_buckets");
    cfg->deberta_buckets = -1;
    if (cJSON_IsNumber(b) && b->valuedouble > 0 &&
        (s = check_int(path, "position_buckets", b->valuedouble, 2, ENCORE_MAX_POSITIONS, &cfg->deberta_buckets)))
        return s;
    const cJSON *mr = cJSON_GetObjectItemCaseSensitive(root, "max_relative_positions");
    cfg->deberta_max_rel = -1;
    if (cJSON_IsNumber(mr) && mr->valuedouble >= 1 &&
        (s = check_int(path, "max_relative_positions", mr->valuedouble, 1, ENCORE_MAX_POSITIONS, &cfg->deberta_max_rel)))
        return s;
    return ENCORE_STATUS_OK;
}

static encore_status parse(const cJSON *root, const char *path, encore_config *cfg) {
    encore_status s;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *model_type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *arch = NULL;
    if (cJSON_IsArray(archs) && cJSON_GetArraySize(archs) > 0 && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        arch = cJSON_GetArrayItem(archs, 0)->valuestring;
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "bert") == 0)
        arch = "BertModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "distilbert") == 0)
        arch = "DistilBertModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "roberta") == 0)
        arch = "RobertaModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "xlm-roberta") == 0)
        arch = "XLMRobertaModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "mpnet") == 0)
        arch = "MPNetModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "electra") == 0)
        arch = "ElectraModel";
    else if (cJSON_IsString(model_type) && strcmp(model_type->valuestring, "deberta-v2") == 0)
        arch = "DebertaV2Model";
    if (!arch)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s names no architecture and no known model_type", path);
    int found = 0;
    for (size_t i = 0; i < sizeof architectures / sizeof architectures[0]; i++) {
        if (strcmp(arch, architectures[i].name) == 0) {
            cfg->architecture = architectures[i].architecture;
            cfg->is_distilbert = architectures[i].is_distilbert;
            cfg->has_head = architectures[i].has_head;
            cfg->has_mlm = architectures[i].has_mlm;
            cfg->token_head = architectures[i].token_head;
            cfg->is_roberta = architectures[i].is_roberta;
            cfg->is_mpnet = architectures[i].architecture >= ENCORE_ARCHITECTURE_MPNET_MODEL &&
                            architectures[i].architecture <= ENCORE_ARCHITECTURE_MPNET_QUESTION_ANSWERING;
            cfg->is_electra = architectures[i].architecture >= ENCORE_ARCHITECTURE_ELECTRA_MODEL &&
                              architectures[i].architecture <= ENCORE_ARCHITECTURE_ELECTRA_QUESTION_ANSWERING;
            cfg->is_deberta = architectures[i].architecture >= ENCORE_ARCHITECTURE_DEBERTA_V2_MODEL &&
                              architectures[i].architecture <= ENCORE_ARCHITECTURE_DEBERTA_V2_QUESTION_ANSWERING;
            found = 1;
        }
    }
    if (!found)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: architecture '%s' is not supported (BertModel, BertForSequenceClassification, "
                           "BertForMaskedLM, BertForTokenClassification, BertForQuestionAnswering, "
                           "DistilBertModel, DistilBertForSequenceClassification, DistilBertForMaskedLM, "
                           "DistilBertForTokenClassification, DistilBertForQuestionAnswering, RobertaModel, "
                           "RobertaForSequenceClassification, RobertaForMaskedLM, RobertaForTokenClassification, "
                           "RobertaForQuestionAnswering, their XLMRoberta* counterparts, the same five "
                           "MPNet* and ElectraModel, ElectraForSequenceClassification, "
                           "ElectraForTokenClassification, ElectraForQuestionAnswering, DebertaV2Model, "
                           "DebertaV2ForSequenceClassification, DebertaV2ForTokenClassification, "
                           "DebertaV2ForQuestionAnswering are)",
                           path, arch);
    snprintf(cfg->architecture_name, sizeof cfg->architecture_name, "%s", arch);

    const char *act_key;
    const cJSON *act;
    if (cfg->is_distilbert) {
        if ((s = get_int(root, path, "dim", ENCORE_MAX_HIDDEN_SIZE, &cfg->hidden_size)) ||
            (s = get_int(root, path, "n_layers", ENCORE_MAX_LAYERS, &cfg->n_layers)) ||
            (s = get_int(root, path, "n_heads", cfg->hidden_size, &cfg->n_heads)) ||
            (s = get_int(root, path, "hidden_dim", ENCORE_MAX_INTERMEDIATE_SIZE, &cfg->intermediate_size)))
            return s;
        cfg->type_vocab_size = 0;
        cfg->layer_norm_eps = 1e-12f; /* fixed in DistilBERT's modeling code */
        act_key = "activation";
    } else {
        if ((s = get_int(root, path, "hidden_size", ENCORE_MAX_HIDDEN_SIZE, &cfg->hidden_size)) ||
            (s = get_int(root, path, "num_hidden_layers", ENCORE_MAX_LAYERS, &cfg->n_layers)) ||
            (s = get_int(root, path, "num_attention_heads", cfg->hidden_size, &cfg->n_heads)) ||
            (s = get_int(root, path, "intermediate_size", ENCORE_MAX_INTERMEDIATE_SIZE, &cfg->intermediate_size)))
            return s;
        /* MPNet has no token types (and no type_vocab_size); DeBERTa-v3
         * has 0 of them (and no token_type_embeddings) */
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(root, "type_vocab_size");
        if (cfg->is_deberta) {
            if (cJSON_IsNumber(tv) &&
                (s = check_int(path, "type_vocab_size", tv->valuedouble, 0, ENCORE_MAX_TYPE_VOCAB,
                               &cfg->type_vocab_size)))
                return s;
        } else if (!cfg->is_mpnet &&
            (s = get_int(root, path, "type_vocab_size", ENCORE_MAX_TYPE_VOCAB, &cfg->type_vocab_size)))
            return s;
        if (cfg->is_mpnet) {
            /* MPNetEncoder's bias table has relative_attention_num_buckets
             * rows, of which its compute_position_bias uses the first 32 */
            const cJSON *nb = cJSON_GetObjectItemCaseSensitive(root, "relative_attention_num_buckets");
            cfg->rel_buckets = 32;
            if (cJSON_IsNumber(nb) &&
                (s = check_int(path, "relative_attention_num_buckets", nb->valuedouble, ENCORE_MPNET_BUCKETS, 4096,
                               &cfg->rel_buckets)))
                return s;
        }
        if (cfg->is_deberta && (s = parse_deberta(root, path, cfg))) return s;
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
        if (cJSON_IsNumber(eps) && !(eps->valuedouble >= 0 && eps->valuedouble <= 1))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'layer_norm_eps' is %g; encore takes 0 to 1", path,
                               eps->valuedouble);
        cfg->layer_norm_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : cfg->is_deberta ? 1e-7f : 1e-12f;
        const cJSON *pe = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
        if (cJSON_IsString(pe) && strcmp(pe->valuestring, "absolute") != 0)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: position_embedding_type '%s' is not supported (only 'absolute' is)", path,
                               pe->valuestring);
        act_key = "hidden_act";
    }
    if ((s = get_int(root, path, "vocab_size", ENCORE_MAX_VOCAB, &cfg->vocab_size)) ||
        (s = get_int(root, path, "max_position_embeddings", ENCORE_MAX_POSITIONS, &cfg->max_position_embeddings)))
        return s;
    if (cfg->is_deberta) {
        if (cfg->deberta_max_rel < 1) cfg->deberta_max_rel = cfg->max_position_embeddings;
        cfg->deberta_span = cfg->deberta_buckets > 0 ? cfg->deberta_buckets : cfg->deberta_max_rel;
        if (cfg->deberta_buckets > 0 && cfg->deberta_max_rel - 1 <= cfg->deberta_buckets / 2)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: max_relative_positions %d leaves no logarithmic "
                               "bucket above position_buckets %d", path, cfg->deberta_max_rel, cfg->deberta_buckets);
    } else {
        cfg->has_positions = 1;
    }
    act = cJSON_GetObjectItemCaseSensitive(root, act_key);
    if ((s = parse_activation(path, act_key, cJSON_IsString(act) ? act->valuestring : "gelu", &cfg->activation)))
        return s;
    /* BERT's and DistilBERT's masked-LM heads use the encoder's activation;
     * RoBERTa's always the exact GELU. */
    cfg->mlm_activation = cfg->is_roberta || cfg->is_mpnet ? ENCORE_ACTIVATION_GELU : cfg->activation;
    if (cfg->is_roberta || cfg->is_mpnet) {
        /* RoBERTa numbers positions after padding_idx (pad_token_id, 1 by
         * default): the first token sits at padding_idx + 1. MPNet's
         * padding_idx is 1 whatever pad_token_id says. */
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_token_id");
        int pad_id = 1;
        if (!cfg->is_mpnet && cJSON_IsNumber(pad) &&
            (s = check_int(path, "pad_token_id", pad->valuedouble, 0, cfg->vocab_size - 1, &pad_id)))
            return s;
        if (pad_id + 1 >= cfg->max_position_embeddings)
            return encore_fail(ENCORE_STATUS_BAD_MODEL,
                               "%s: max_position_embeddings %d leaves no position after pad_token_id %d", path,
                               cfg->max_position_embeddings, pad_id);
        cfg->position_base = pad_id + 1;
    }
    /* ELECTRA's embeddings are embedding_size wide, projected to the hidden
     * size when it differs; everyone else's are hidden_size wide. The
     * projection's input lives in the (T, 3C) qkv buffer. */
    cfg->embedding_size = cfg->hidden_size;
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "embedding_size");
    if (cfg->is_electra && cJSON_IsNumber(es) &&
        (s = check_int(path, "embedding_size", es->valuedouble, 1, 3 * cfg->hidden_size, &cfg->embedding_size)))
        return s;
    if (cfg->hidden_size % cfg->n_heads != 0)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: hidden size %d is not a multiple of the %d heads", path,
                           cfg->hidden_size, cfg->n_heads);
    if (cfg->has_head || cfg->token_head == ENCORE_TOKEN_HEAD_CLASSIFY) return parse_labels(root, path, cfg);
    return ENCORE_STATUS_OK;
}

encore_status encore_config_load(const char *dir, encore_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->entailment_id = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = encore_read_file(path, NULL);
    if (!text) return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot read %s: %s", path, strerror(errno));
    cJSON *root = cJSON_Parse(text);
    free(text);
    encore_status s;
    if (!cJSON_IsObject(root))
        s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not a JSON object", path);
    else
        s = parse(root, path, cfg);
    cJSON_Delete(root);
    if (s != ENCORE_STATUS_OK) encore_config_free(cfg);
    return s;
}

encore_status encore_config_as_classifier(const char *dir, encore_config *cfg) {
    if (cfg->has_head) return ENCORE_STATUS_OK;
    if (cfg->token_head != ENCORE_TOKEN_HEAD_NONE)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s/config.json: a sequence-classification adapter on a %s is not supported", dir,
                           cfg->architecture_name);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = encore_read_file(path, NULL);
    if (!text) return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot read %s: %s", path, strerror(errno));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not a JSON object", path);
    }
    const char *name = cfg->is_distilbert ? "DistilBertForSequenceClassification" : "BertForSequenceClassification";
    cfg->architecture = cfg->is_distilbert ? ENCORE_ARCHITECTURE_DISTILBERT_SEQUENCE_CLASSIFICATION
                                           : ENCORE_ARCHITECTURE_BERT_SEQUENCE_CLASSIFICATION;
    snprintf(cfg->architecture_name, sizeof cfg->architecture_name, "%s", name);
    cfg->has_head = 1;
    encore_status s = parse_labels(root, path, cfg);
    cJSON_Delete(root);
    return s;
}

void encore_config_free(encore_config *cfg) {
    if (!cfg) return;
    for (int i = 0; i < cfg->n_labels; i++) free(cfg->labels[i]);
    free(cfg->labels);
    cfg->labels = NULL;
    cfg->n_labels = 0;
}
