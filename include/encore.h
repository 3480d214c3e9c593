/*
 * encore.h: the public C API of encore, an inference runtime for transformer
 * encoder models (BERT, DistilBERT and their kin) loaded from Hugging Face
 * model directories.
 *
 * Usage:
 *
 *     encore_model *model = NULL;
 *     if (encore_model_load("models/sst2", encore_model_default_params(),
 *                           &model) != ENCORE_STATUS_OK) {
 *         fprintf(stderr, "%s\n", encore_last_error());
 *         return 1;
 *     }
 *     encore_session *session = NULL;
 *     encore_session_create(model, encore_session_default_params(), &session);
 *
 *     encore_input input = { "This movie is fantastic!", NULL };
 *     float probs[2];                       // (n_inputs, n_labels)
 *     if (encore_session_classify(session, &input, 1, probs) == ENCORE_STATUS_OK)
 *         printf("%s %f\n", encore_model_label(model, probs[1] > probs[0]), ...);
 *
 *     encore_session_free(session);
 *     encore_model_free(model);
 *
 * Thread safety:
 *   - An encore_model is immutable once loaded. Any number of threads may use
 *     it at once, and any number of sessions may share it.
 *   - An encore_session holds scratch buffers; use one session from one thread
 *     at a time. Give each thread its own session.
 *   - encore_last_error() is per thread.
 *   - encore_log_set() changes process-wide state: call it before other work.
 *
 * Errors: every call that can fail returns an encore_status. The library never
 * exits or aborts on bad input. A failed call leaves a message that says what
 * went wrong in words a user can act on: encore_last_error() for the calling
 * thread, and encore_session_last_error() for a session.
 */
#ifndef ENCORE_H
#define ENCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ENCORE_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ENCORE_API __attribute__((visibility("default")))
#else
#define ENCORE_API
#endif

#define ENCORE_VERSION "0.1.0"

typedef enum encore_status {
    ENCORE_STATUS_OK = 0,
    ENCORE_STATUS_INVALID_ARGUMENT,   /* a NULL pointer, a count out of range */
    ENCORE_STATUS_IO_ERROR,           /* a file is missing or unreadable */
    ENCORE_STATUS_BAD_MODEL,          /* malformed config/weights/vocab, missing tensor, wrong shape */
    ENCORE_STATUS_UNSUPPORTED,        /* unknown architecture, dtype or setting */
    ENCORE_STATUS_BAD_INPUT,          /* invalid UTF-8 and other unusable text */
    ENCORE_STATUS_TOO_LONG,           /* input longer than the model takes, truncation off */
    ENCORE_STATUS_OUT_OF_MEMORY,
    ENCORE_STATUS_DEVICE_ERROR,       /* a GPU call failed */
    ENCORE_STATUS_QUEUE_FULL,         /* a server or pipeline queue is full */
    ENCORE_STATUS_COUNT
} encore_status;

/* A short, static name for a status, e.g. "bad model". */
ENCORE_API const char *encore_status_str(encore_status status);

/* The message of the last failed call on this thread ("" if none). */
ENCORE_API const char *encore_last_error(void);

typedef enum encore_log_level {
    ENCORE_LOG_LEVEL_DEBUG = 0,
    ENCORE_LOG_LEVEL_INFO,
    ENCORE_LOG_LEVEL_WARN,
    ENCORE_LOG_LEVEL_ERROR
} encore_log_level;

typedef void (*encore_log_fn)(encore_log_level level, const char *message, void *user_data);

/* Replace the log sink (default: WARN and above to stderr). NULL restores the
 * default. Messages carry no trailing newline. */
ENCORE_API void encore_log_set(encore_log_fn fn, void *user_data);

/* The CPU kernels this process runs, as static names: the fp32 path, the
 * best this CPU has unless ENCORE_CPU_ISA caps it ("avx512", "avx2" or
 * "portable"), and the integer dot products that --weights int8-dynamic
 * runs on that path, capped by ENCORE_CPU_INT8 ("avx512_vnni", "avx_vnni",
 * "avx2" or "portable"). For bug reports and benchmark records. */
ENCORE_API const char *encore_cpu_path(void);
ENCORE_API const char *encore_cpu_int8_kernel(void);

/* ---- model ------------------------------------------------------------ */

typedef struct encore_model encore_model;

typedef enum encore_architecture {
    ENCORE_ARCHITECTURE_BERT_MODEL = 0,                     /* BertModel */
    ENCORE_ARCHITECTURE_BERT_SEQUENCE_CLASSIFICATION,       /* BertForSequenceClassification */
    ENCORE_ARCHITECTURE_DISTILBERT_MODEL,                   /* DistilBertModel */
    ENCORE_ARCHITECTURE_DISTILBERT_SEQUENCE_CLASSIFICATION, /* DistilBertForSequenceClassification */
    ENCORE_ARCHITECTURE_BERT_MASKED_LM,                     /* BertForMaskedLM */
    ENCORE_ARCHITECTURE_DISTILBERT_MASKED_LM,               /* DistilBertForMaskedLM */
    ENCORE_ARCHITECTURE_BERT_TOKEN_CLASSIFICATION,          /* BertForTokenClassification */
    ENCORE_ARCHITECTURE_DISTILBERT_TOKEN_CLASSIFICATION,    /* DistilBertForTokenClassification */
    ENCORE_ARCHITECTURE_BERT_QUESTION_ANSWERING,            /* BertForQuestionAnswering */
    ENCORE_ARCHITECTURE_DISTILBERT_QUESTION_ANSWERING,      /* DistilBertForQuestionAnswering */
    /* RoBERTa's network; XLMRoberta* (the same network and weight names,
     * under a SentencePiece tokenizer) load as these too */
    ENCORE_ARCHITECTURE_ROBERTA_MODEL,                      /* RobertaModel, XLMRobertaModel */
    ENCORE_ARCHITECTURE_ROBERTA_SEQUENCE_CLASSIFICATION,    /* Roberta-/XLMRobertaForSequenceClassification */
    ENCORE_ARCHITECTURE_ROBERTA_MASKED_LM,                  /* Roberta-/XLMRobertaForMaskedLM */
    ENCORE_ARCHITECTURE_ROBERTA_TOKEN_CLASSIFICATION,       /* Roberta-/XLMRobertaForTokenClassification */
    ENCORE_ARCHITECTURE_ROBERTA_QUESTION_ANSWERING,         /* Roberta-/XLMRobertaForQuestionAnswering */
    /* MPNet: RoBERTa's layout of positions and heads, a relative position
     * bias in every attention layer, a WordPiece tokenizer */
    ENCORE_ARCHITECTURE_MPNET_MODEL,                        /* MPNetModel */
    ENCORE_ARCHITECTURE_MPNET_SEQUENCE_CLASSIFICATION,      /* MPNetForSequenceClassification */
    ENCORE_ARCHITECTURE_MPNET_MASKED_LM,                    /* MPNetForMaskedLM */
    ENCORE_ARCHITECTURE_MPNET_TOKEN_CLASSIFICATION,         /* MPNetForTokenClassification */
    ENCORE_ARCHITECTURE_MPNET_QUESTION_ANSWERING,           /* MPNetForQuestionAnswering */
    /* ELECTRA's discriminator: BERT's layers under embeddings of their own
     * width (projected to the hidden size when it differs), the GELU
     * classification head of ElectraForSequenceClassification */
    ENCORE_ARCHITECTURE_ELECTRA_MODEL,                      /* ElectraModel */
    ENCORE_ARCHITECTURE_ELECTRA_SEQUENCE_CLASSIFICATION,    /* ElectraForSequenceClassification */
    ENCORE_ARCHITECTURE_ELECTRA_TOKEN_CLASSIFICATION,       /* ElectraForTokenClassification */
    ENCORE_ARCHITECTURE_ELECTRA_QUESTION_ANSWERING,         /* ElectraForQuestionAnswering */
    /* DeBERTa-v2 and -v3: disentangled attention over bucketed relative
     * positions, a SentencePiece tokenizer (CPU only) */
    ENCORE_ARCHITECTURE_DEBERTA_V2_MODEL,                   /* DebertaV2Model */
    ENCORE_ARCHITECTURE_DEBERTA_V2_SEQUENCE_CLASSIFICATION, /* DebertaV2ForSequenceClassification */
    ENCORE_ARCHITECTURE_DEBERTA_V2_TOKEN_CLASSIFICATION,    /* DebertaV2ForTokenClassification */
    ENCORE_ARCHITECTURE_DEBERTA_V2_QUESTION_ANSWERING       /* DebertaV2ForQuestionAnswering */
} encore_architecture;

/* A head applied to every token's last hidden state. */
typedef enum encore_token_head {
    ENCORE_TOKEN_HEAD_NONE = 0,
    ENCORE_TOKEN_HEAD_CLASSIFY, /* token classification (NER): `classifier`, one logit per label */
    ENCORE_TOKEN_HEAD_SPAN      /* question answering: `qa_outputs`, a start and an end logit */
} encore_token_head;

/* What the classifier applies to its logits, as transformers' pipeline
 * chooses by default from problem_type and num_labels. */
typedef enum encore_score_function {
    ENCORE_SCORE_FUNCTION_SOFTMAX = 0,
    ENCORE_SCORE_FUNCTION_SIGMOID,
    ENCORE_SCORE_FUNCTION_NONE
} encore_score_function;

typedef enum encore_pooling {
    ENCORE_POOLING_DEFAULT = 0,  /* the directory's 1_Pooling/config.json, else mean */
    ENCORE_POOLING_MEAN,         /* mean over the attention mask */
    ENCORE_POOLING_CLS           /* the first token's hidden state */
} encore_pooling;

/* How the CPU path stores the weights of the linear layers (about nine
 * tenths of a model's bytes past the embeddings). The arithmetic is fp32,
 * except for INT8_DYNAMIC's integer products. */
typedef enum encore_weights {
    ENCORE_WEIGHTS_FP32 = 0, /* as in the checkpoint (widened to fp32): the reference */
    ENCORE_WEIGHTS_BF16,     /* rounded to bfloat16 at load: half the bytes to stream per call,
                                results within bf16 rounding of fp32 (see README) */
    ENCORE_WEIGHTS_INT8,     /* int8 with one scale per output feature, quantized at load
                                (weight-only): a quarter of the bytes (see README) */
    ENCORE_WEIGHTS_INT8_DYNAMIC, /* the same int8 weights times int8 activations, each token
                                quantized per call, by integer dot products (VNNI where the CPU
                                has it): the fastest, and the least exact (see README) */
} encore_weights;

typedef struct encore_model_params {
    encore_weights weights;      /* default ENCORE_WEIGHTS_FP32 */
    int splade;                  /* default 0: a SPLADE model is one whose modules.json has
                                    sentence-transformers' SpladePooling. 1: also a *ForMaskedLM
                                    model without it, with SPLADE's max pooling of log(1 + relu)
                                    (TEI's --pooling splade) */
} encore_model_params;

ENCORE_API encore_model_params encore_model_default_params(void);

/* Load a Hugging Face model directory (config.json, model.safetensors and
 * tokenizer.json and/or vocab.txt). */
ENCORE_API encore_status encore_model_load(const char *dir, encore_model_params params,
                                           encore_model **out);
ENCORE_API void encore_model_free(encore_model *model);

ENCORE_API encore_architecture encore_model_architecture(const encore_model *model);
ENCORE_API const char *encore_model_architecture_name(const encore_model *model);
ENCORE_API int encore_model_hidden_size(const encore_model *model);
ENCORE_API int encore_model_n_layers(const encore_model *model);
ENCORE_API int encore_model_n_heads(const encore_model *model);
/* The feed-forward width (intermediate_size; DistilBERT's hidden_dim). */
ENCORE_API int encore_model_intermediate_size(const encore_model *model);
ENCORE_API int encore_model_vocab_size(const encore_model *model);
/* Tokens one input may hold, special tokens included: the smaller of
 * max_position_embeddings and the tokenizer's model_max_length. This is the
 * classification limit; embeddings may have a smaller one (see encore_task). */
ENCORE_API int encore_model_max_length(const encore_model *model);
/* 0 for models without a classification head. */
ENCORE_API int encore_model_n_labels(const encore_model *model);
/* id2label[i], or NULL when i is out of range. */
ENCORE_API const char *encore_model_label(const encore_model *model, int i);
ENCORE_API encore_score_function encore_model_score_function(const encore_model *model);
/* The pooling the directory asks for (never ENCORE_POOLING_DEFAULT). */
ENCORE_API encore_pooling encore_model_pooling(const encore_model *model);
/* 1 for a SPLADE model (encore_session_embed_sparse()), else 0. */
ENCORE_API int encore_model_is_sparse(const encore_model *model);
/* The model's per-token head (ENCORE_TOKEN_HEAD_NONE for the others). */
ENCORE_API encore_token_head encore_model_token_head(const encore_model *model);
/* Logits the per-token head gives each token: the token classifier's
 * labels, 2 (start, end) for question answering, 0 without one. */
ENCORE_API int encore_model_n_token_outputs(const encore_model *model);
/* A token classifier's id2label[i]; NULL when i is out of range or the
 * model has no token classifier. */
ENCORE_API const char *encore_model_token_label(const encore_model *model, int i);
/* Token text of a vocabulary id, or NULL when out of range. */
ENCORE_API const char *encore_model_token(const encore_model *model, int32_t id);

/* ---- tokenization ------------------------------------------------------ */

/* One input: a text, or a pair of texts (text_pair non-NULL). NUL-terminated
 * UTF-8. */
typedef struct encore_input {
    const char *text;
    const char *text_pair;
} encore_input;

/* The tokens of one input as the model sees them, special tokens included. */
typedef struct encore_encoding {
    int32_t n_tokens;
    int32_t *ids;       /* (n_tokens) vocabulary ids */
    int32_t *type_ids;  /* (n_tokens) 0 for the first text, 1 for the pair */
    int32_t *offsets;   /* (n_tokens, 2) byte [start, end) in its text; 0,0 for special tokens */
    int32_t *sequence_ids; /* (n_tokens) 0 or 1: which text a token came from; -1 for special tokens */
    int32_t n_untruncated; /* tokens before truncation; > n_tokens when the input was cut */
    int32_t *word_ids;  /* (n_tokens) the word of its text a token is in, numbered from 0 in each text as
                         * tokenizers' word_ids(): the pre-tokenizer's splits, an added token one of its
                         * own; -1 for special tokens and for encodings made from token ids */
} encore_encoding;

/* Tokenize one input. truncate != 0 cuts it to encore_model_max_length();
 * otherwise an over-long input gives ENCORE_STATUS_TOO_LONG. Free the result
 * with encore_encoding_free(). The same as encore_model_tokenize_for_task()
 * with ENCORE_TASK_CLASSIFY. */
ENCORE_API encore_status encore_model_tokenize(const encore_model *model, encore_input input,
                                               int truncate, encore_encoding **out);
ENCORE_API void encore_encoding_free(encore_encoding *encoding);

/* What an input is tokenized for. Each task cuts over-long inputs where the
 * framework encore reproduces for it cuts them:
 *   ENCORE_TASK_CLASSIFY  transformers' pipeline("text-classification") with
 *                         truncation=True: encore_model_max_length() tokens.
 *   ENCORE_TASK_EMBED     sentence-transformers' encode(): max_seq_length of the
 *                         directory's sentence_bert_config.json when it is
 *                         smaller (256 for all-MiniLM-L6-v2, whose model takes
 *                         512), else encore_model_max_length().
 * An embedding computed from more tokens than its task allows is not the one
 * sentence-transformers gives, so encore_session_embed_encoded() refuses it. */
typedef enum encore_task {
    ENCORE_TASK_CLASSIFY = 0,
    ENCORE_TASK_EMBED
} encore_task;

/* The task the model is made for: ENCORE_TASK_CLASSIFY when it has a
 * classification head, else ENCORE_TASK_EMBED. */
ENCORE_API encore_task encore_model_task(const encore_model *model);

/* Tokens one input may hold for a task, special tokens included; 0 for an
 * unknown task. */
ENCORE_API int encore_model_task_max_length(const encore_model *model, encore_task task);

/* Tokenize one input for a task. truncate != 0 cuts it to
 * encore_model_task_max_length(); otherwise an over-long input gives
 * ENCORE_STATUS_TOO_LONG. Callers that run encodings through the *_encoded
 * functions tokenize with this, for the task they run. */
ENCORE_API encore_status encore_model_tokenize_for_task(const encore_model *model, encore_input input,
                                                        encore_task task, int truncate,
                                                        encore_encoding **out);

/* Which end of a text truncation cuts, as tokenizers' truncation direction:
 * RIGHT keeps a text's first tokens, LEFT its last ones. */
typedef enum encore_truncation_side {
    ENCORE_TRUNCATION_SIDE_RIGHT = 0,
    ENCORE_TRUNCATION_SIDE_LEFT
} encore_truncation_side;

typedef struct encore_tokenize_params {
    encore_task task;                       /* default ENCORE_TASK_CLASSIFY */
    int truncate;                           /* default 0: an over-long input is ENCORE_STATUS_TOO_LONG */
    encore_truncation_side truncation_side; /* default ENCORE_TRUNCATION_SIDE_RIGHT */
} encore_tokenize_params;

ENCORE_API encore_tokenize_params encore_tokenize_default_params(void);

/* encore_model_tokenize_for_task() with every setting: the same tokens,
 * except that LEFT truncation cuts each text at its start (with a pair, each
 * text keeps as many tokens as with RIGHT, longest first). */
ENCORE_API encore_status encore_model_tokenize_with(const encore_model *model, encore_input input,
                                                    encore_tokenize_params params, encore_encoding **out);

/* An encoding from token ids the caller tokenized already (as TEI takes
 * them): the ids are used as they are, special tokens included or not,
 * all of type 0. An id outside the vocabulary is ENCORE_STATUS_BAD_INPUT;
 * more ids than the task takes are ENCORE_STATUS_TOO_LONG, or cut on the
 * truncation side when params.truncate is set. n_ids must be >= 1. */
ENCORE_API encore_status encore_model_encoding_from_ids(const encore_model *model, const int32_t *ids, int n_ids,
                                                        encore_tokenize_params params, encore_encoding **out);

/* Whether a vocabulary id is a special token ([CLS], [SEP], [PAD], ... and
 * added tokens marked special), as tokenizers' decode(skip_special_tokens)
 * decides. 0 for ids out of range. */
ENCORE_API int encore_model_token_is_special(const encore_model *model, int32_t id);

/* Token ids back to text, as tokenizers' decode() does for BERT (the
 * WordPiece decoder: "##" pieces joined to the word before, spaces between
 * words, then its clean-up of spaces before punctuation and contractions).
 * Ids out of range are dropped, as tokenizers drops them; special tokens
 * too when skip_special_tokens. Writes at most cap bytes, NUL included
 * (when cap > 0), into buf and stores the full length in *len, as snprintf:
 * call with cap 0 to size the buffer. */
ENCORE_API encore_status encore_model_decode(const encore_model *model, const int32_t *ids, int n_ids,
                                             int skip_special_tokens, char *buf, size_t cap, size_t *len);

/* Overflowing windows: an input longer than max_length as several
 * encodings, as tokenizers gives them with return_overflowing_tokens=True and
 * a stride: for a pair, tokenizer(text, text_pair,
 * truncation="only_second" (or "only_first"), max_length=M, stride=S); for a
 * single text, tokenizer(text, truncation=True, max_length=M, stride=S). The
 * cut text is split into pieces that fill what each window leaves it (M less
 * the other text and the special tokens), each piece after the first
 * repeating the last S tokens of the one before; the other text and the
 * special tokens are in every window. An input that fits is one window.
 * Each window has its ids, type ids, sequence ids and byte offsets into its
 * own text, as encore_model_tokenize() gives them, and n_untruncated, the
 * tokens of the whole input. Truncation cuts the end of a text (tokenizers'
 * direction "right", the default). */
typedef struct encore_overflow_params {
    int max_length;      /* tokens per window, special tokens included; 0 (default):
                            encore_model_max_length(); more is ENCORE_STATUS_INVALID_ARGUMENT */
    int stride;          /* tokens a window repeats from the one before, default 0 */
    int truncate_first;  /* with a pair: 0 (default) cuts the second text ("only_second"),
                            1 the first ("only_first"); ignored for a single text */
} encore_overflow_params;

ENCORE_API encore_overflow_params encore_overflow_default_params(void);

/* *windows: (*n_windows) encodings, in order; free them with
 * encore_encodings_free(). When the text that is not cut and the special
 * tokens leave the cut one no room, or when the stride is not less than that
 * room (tokenizers refuses both), the call is ENCORE_STATUS_BAD_INPUT with a
 * message that says which; invalid UTF-8 is ENCORE_STATUS_BAD_INPUT too. */
ENCORE_API encore_status encore_model_tokenize_overflow(const encore_model *model, encore_input input,
                                                        encore_overflow_params params,
                                                        encore_encoding ***windows, int *n_windows);
/* Frees n encodings and the array that holds them; NULL is a no-op. */
ENCORE_API void encore_encodings_free(encore_encoding **encodings, int n);

/* ---- session ----------------------------------------------------------- */

typedef struct encore_session encore_session;

typedef enum encore_device {
    ENCORE_DEVICE_CPU = 0,
    ENCORE_DEVICE_CUDA,     /* an NVIDIA GPU; without one, the CPU with a one-line log */
    ENCORE_DEVICE_AUTO      /* CUDA when a GPU is present, else the CPU */
} encore_device;

typedef enum encore_precision {
    ENCORE_PRECISION_DEFAULT = 0, /* fp32 on the CPU, fp16 on CUDA */
    ENCORE_PRECISION_FP32,
    ENCORE_PRECISION_FP16,        /* CUDA only: fp16 activations, fp32 accumulation */
    ENCORE_PRECISION_BF16         /* CUDA only */
} encore_precision;

typedef struct encore_session_params {
    int n_threads;      /* CPU threads; 0 = all cores */
    int truncate;       /* 1 (default): cut over-long inputs to their task's maximum */
    encore_device device;        /* default ENCORE_DEVICE_CPU */
    int device_index;            /* which GPU, default 0 */
    encore_precision precision;  /* default ENCORE_PRECISION_DEFAULT */
    int max_batch_tokens;        /* tokens per forward pass; 0 = default (8192). A call with
                                    more runs in several passes; results do not change. */
} encore_session_params;

ENCORE_API encore_session_params encore_session_default_params(void);
ENCORE_API encore_status encore_session_create(const encore_model *model,
                                               encore_session_params params,
                                               encore_session **out);
ENCORE_API void encore_session_free(encore_session *session);
ENCORE_API const char *encore_session_last_error(const encore_session *session);

/* Raw classifier logits. logits: (n_inputs, n_labels). Each input's result
 * does not depend on the other inputs of the call. */
ENCORE_API encore_status encore_session_logits(encore_session *session,
                                               const encore_input *inputs, int n_inputs,
                                               float *logits);

/* Scores: the logits after the model's score function (softmax, sigmoid or
 * none). scores: (n_inputs, n_labels). */
ENCORE_API encore_status encore_session_classify(encore_session *session,
                                                 const encore_input *inputs, int n_inputs,
                                                 float *scores);

/* Sentence embeddings as sentence-transformers computes them, the inputs
 * tokenized for ENCORE_TASK_EMBED. embeddings: (n_inputs, hidden_size). On a
 * SPLADE model (encore_model_is_sparse()) ENCORE_POOLING_DEFAULT is
 * ENCORE_STATUS_UNSUPPORTED: its embedding is encore_session_embed_sparse()'s. */
ENCORE_API encore_status encore_session_embed(encore_session *session,
                                              const encore_input *inputs, int n_inputs,
                                              encore_pooling pooling, int normalize,
                                              float *embeddings);

/* The same three on inputs tokenized beforehand with
 * encore_model_tokenize_for_task() (ENCORE_TASK_CLASSIFY for logits and
 * classify, ENCORE_TASK_EMBED for embed), for callers that tokenize on other
 * threads (servers, batch scoring). embed refuses, with
 * ENCORE_STATUS_BAD_INPUT, an encoding longer than
 * encore_model_task_max_length(model, ENCORE_TASK_EMBED). */
ENCORE_API encore_status encore_session_logits_encoded(encore_session *session,
                                                       const encore_encoding *const *encodings,
                                                       int n_inputs, float *logits);
ENCORE_API encore_status encore_session_classify_encoded(encore_session *session,
                                                         const encore_encoding *const *encodings,
                                                         int n_inputs, float *scores);
ENCORE_API encore_status encore_session_embed_encoded(encore_session *session,
                                                      const encore_encoding *const *encodings,
                                                      int n_inputs, encore_pooling pooling,
                                                      int normalize, float *embeddings);

/* The last hidden state of every token of every input, before pooling (what
 * TEI's /embed_all answers), on inputs tokenized with
 * encore_model_tokenize_with() for ENCORE_TASK_EMBED or ENCORE_TASK_CLASSIFY.
 * hidden: (sum of the encodings' n_tokens, hidden_size), the inputs one
 * after another. */
ENCORE_API encore_status encore_session_hidden_states_encoded(encore_session *session,
                                                              const encore_encoding *const *encodings,
                                                              int n_inputs, float *hidden);

/* The per-token head's logits (encore_model_token_head()) for every token
 * of every input, on inputs tokenized with encore_model_tokenize_with() for
 * ENCORE_TASK_CLASSIFY: logits (sum of the encodings' n_tokens,
 * encore_model_n_token_outputs()), the inputs one after another, each
 * token's row in its encoding's order. A model without a per-token head is
 * ENCORE_STATUS_UNSUPPORTED. Each input's result does not depend on the
 * other inputs of the call. */
ENCORE_API encore_status encore_session_token_logits_encoded(encore_session *session,
                                                             const encore_encoding *const *encodings,
                                                             int n_inputs, float *logits);

/* SPLADE sparse embeddings, as sentence-transformers' SparseEncoder computes
 * them: the masked-language-model head's logits at every token, log(1 +
 * relu(x)) (log1p once more for SpladePooling's "log1p_relu"), then the max
 * (or, for "sum", the sum) over each input's tokens. weights: (n_inputs,
 * encore_model_vocab_size()), one weight per vocabulary entry, most of them
 * 0. The inputs are tokenized for ENCORE_TASK_EMBED. A model that is not a
 * SPLADE model (encore_model_is_sparse()) is ENCORE_STATUS_UNSUPPORTED. On a
 * GPU session the encoder, the head (in fp32) and the pooling run on the
 * GPU. */
ENCORE_API encore_status encore_session_embed_sparse(encore_session *session,
                                                     const encore_input *inputs, int n_inputs,
                                                     float *weights);
ENCORE_API encore_status encore_session_embed_sparse_encoded(encore_session *session,
                                                             const encore_encoding *const *encodings,
                                                             int n_inputs, float *weights);

/* The device a session runs on after any fallback (never ENCORE_DEVICE_AUTO). */
ENCORE_API encore_device encore_session_device(const encore_session *session);

/* ---- pipelines -------------------------------------------------------- */

/* Fill-mask, as transformers' pipeline("fill-mask") answers it, on a model
 * with a masked-language-model head (BertForMaskedLM, DistilBertForMaskedLM).
 * The head runs at the mask positions only. */
typedef struct encore_fill_mask_params {
    int top_k;                   /* predictions per mask, default 5; at most the
                                    vocabulary (or the targets) */
    const char *const *targets;  /* NULL (default): the whole vocabulary. Else only
                                    these: a target that is not a token of the
                                    vocabulary counts as its first word piece (a
                                    warning in the log), one with no tokens is left
                                    out, and repeats count once; none left is
                                    ENCORE_STATUS_BAD_INPUT */
    int n_targets;
} encore_fill_mask_params;

typedef struct encore_fill_mask_prediction {
    float score;            /* the softmax over the whole vocabulary at this mask */
    int32_t token;          /* vocabulary id */
    char *token_str;        /* the token decoded alone */
    char *sequence;         /* the input's tokens with this one at the mask, decoded
                               (special tokens skipped when the text has one mask) */
} encore_fill_mask_prediction;

typedef struct encore_fill_mask_result {
    int n_masks;            /* masks in the text, in order; the pipeline returns a
                               list per mask when there are several */
    int k;                  /* predictions per mask: top_k, or fewer targets */
    encore_fill_mask_prediction *predictions; /* (n_masks, k), best first */
} encore_fill_mask_result;

ENCORE_API encore_fill_mask_params encore_fill_mask_default_params(void);

/* Fill the masks ([MASK]) of one text. A text with no mask token is
 * ENCORE_STATUS_BAD_INPUT; a model without the head ENCORE_STATUS_UNSUPPORTED.
 * Free the result with encore_fill_mask_result_free(). */
ENCORE_API encore_status encore_session_fill_mask(encore_session *session, const char *text,
                                                  encore_fill_mask_params params, encore_fill_mask_result **out);
ENCORE_API void encore_fill_mask_result_free(encore_fill_mask_result *result);

/* Zero-shot classification, as transformers'
 * pipeline("zero-shot-classification") answers it, with an NLI sequence
 * classifier: each candidate label becomes the hypothesis
 * hypothesis_template.format(label), paired with the text. The entailment id
 * is label2id's first label starting with "entail" (any case); without one
 * the call is ENCORE_STATUS_UNSUPPORTED. Scores: a softmax of the entailment
 * logits over the candidates; with multi_label (or one candidate) a softmax
 * of each candidate's [contradiction, entailment] logits, where, as in the
 * pipeline, the contradiction id is 0 (the last label when entailment is 0). */
typedef struct encore_zero_shot_params {
    const char *hypothesis_template; /* default "This example is {}."; {} (or {0}) is the
                                        label, {{ and }} are braces */
    int multi_label;                 /* default 0 */
} encore_zero_shot_params;

ENCORE_API encore_zero_shot_params encore_zero_shot_default_params(void);

/* scores: (n_labels) in the candidates' order; order: (n_labels) candidate
 * indices as the pipeline lists them, best first (ties: the later candidate
 * first, as numpy's reversed argsort leaves them). No candidates is
 * ENCORE_STATUS_BAD_INPUT, as is a template with no place for the label. */
ENCORE_API encore_status encore_session_zero_shot(encore_session *session, const char *text,
                                                  const char *const *labels, int n_labels,
                                                  encore_zero_shot_params params, float *scores, int *order);

/* Token classification (NER), as transformers'
 * pipeline("token-classification") (alias "ner") answers it, on a model with
 * a token classifier (BertForTokenClassification,
 * DistilBertForTokenClassification). The text is tokenized and cut as the
 * pipeline cuts it (encore_model_max_length() tokens, on a session that
 * truncates), each token's scores are the softmax of its logits over the
 * labels, and the special tokens the tokenizer adds are left out. */
typedef enum encore_aggregation {
    ENCORE_AGGREGATION_NONE = 0, /* one entity per token: its best label ("B-PER"), with its index */
    ENCORE_AGGREGATION_SIMPLE,   /* adjacent tokens of the same tag grouped ("PER"); a B- starts a group */
    ENCORE_AGGREGATION_FIRST,    /* as SIMPLE on whole words, each word labelled by its first token */
    ENCORE_AGGREGATION_AVERAGE,  /* ... by the best label of its tokens' averaged scores */
    ENCORE_AGGREGATION_MAX       /* ... by its token with the highest score */
} encore_aggregation;

/* The strategy a name gives ("none", "simple", "first", "average", "max",
 * in any case, as the pipeline's aggregation_strategy); another name is
 * ENCORE_STATUS_INVALID_ARGUMENT, with a message that lists them. */
ENCORE_API encore_status encore_aggregation_from_name(const char *name, encore_aggregation *out);
/* The name of a strategy, "none" ... "max"; NULL for another value. */
ENCORE_API const char *encore_aggregation_name(encore_aggregation aggregation);

typedef struct encore_token_classify_params {
    encore_aggregation aggregation;   /* default ENCORE_AGGREGATION_NONE */
    const char *const *ignore_labels; /* entities whose label (NONE) or group (the others) is one
                                         of these are left out. NULL (default): {"O"}, the
                                         pipeline's default; non-NULL with n_ignore_labels 0:
                                         none left out */
    int n_ignore_labels;
    int stride;                       /* -1 (default): one window, the text cut at
                                         encore_model_max_length() when the session truncates.
                                         0 or more: the whole text, in windows of
                                         encore_model_max_length() tokens that each repeat the
                                         last `stride` tokens of the one before (the pipeline's
                                         stride; encore_model_tokenize_overflow), classified
                                         one by one, then overlapping entities merged as the
                                         pipeline merges them (the longer, or the more
                                         confident, kept). A stride of the window or more is
                                         ENCORE_STATUS_INVALID_ARGUMENT; one that leaves a
                                         window no new tokens ENCORE_STATUS_BAD_INPUT */
} encore_token_classify_params;

ENCORE_API encore_token_classify_params encore_token_classify_default_params(void);

typedef struct encore_entity {
    char *entity;        /* the label (NONE: "B-PER") or the group (the others: "PER") */
    float score;         /* NONE, SIMPLE: the token's softmax score for its label; a group:
                            the mean of its tokens' (or words') scores */
    int32_t index;       /* NONE: the token's position in the encoding ([CLS] is 0), in its
                            window with a stride; else -1 */
    char *word;          /* the tokens decoded as the tokenizer decodes them ("##" joined, an
                            [UNK] as the text it covers) */
    int32_t start, end;  /* [start, end) in characters (Unicode code points) of the text, as
                            Python indexes a str: the pipeline's start and end */
    int32_t start_byte, end_byte; /* the same span in bytes of the UTF-8 text */
} encore_entity;

typedef struct encore_token_classify_result {
    encore_aggregation aggregation; /* which keys the pipeline gives: NONE "entity" and
                                       "index", the others "entity_group" */
    int n_entities;
    encore_entity *entities;        /* (n_entities) in text order */
} encore_token_classify_result;

/* Classify the tokens of one text (NUL-terminated UTF-8). A model without a
 * token classifier is ENCORE_STATUS_UNSUPPORTED; invalid UTF-8
 * ENCORE_STATUS_BAD_INPUT; an unknown strategy or a NULL label
 * ENCORE_STATUS_INVALID_ARGUMENT. An empty text gives no entities. Free the
 * result with encore_token_classify_result_free(). */
ENCORE_API encore_status encore_session_token_classify(encore_session *session, const char *text,
                                                       encore_token_classify_params params,
                                                       encore_token_classify_result **out);
ENCORE_API void encore_token_classify_result_free(encore_token_classify_result *result);
/* Extractive question answering, as transformers 4.57's
 * pipeline("question-answering") answers it (the last transformers with that
 * pipeline), on a model with a span head (BertForQuestionAnswering,
 * DistilBertForQuestionAnswering; encore_model_token_head() is
 * ENCORE_TOKEN_HEAD_SPAN). The question and the context are read in windows
 * of max_seq_len tokens, the context cut with doc_stride tokens of overlap
 * (encore_model_tokenize_overflow); the answers are spans of the context
 * scored as the pipeline scores them: a softmax of the start and of the end
 * logits over each window's context tokens (and [CLS]), a span's score the
 * product of its start and end probabilities, spans of at most
 * max_answer_len tokens, answers of the same text (in lower case) merged
 * with their scores added, best first. */
typedef struct encore_qa_params {
    int top_k;                    /* answers, default 1; fewer when the context has fewer */
    int doc_stride;               /* context tokens a window repeats from the one before;
                                     default -1: min(max_seq_len / 2, 128), as the pipeline */
    int max_answer_len;           /* tokens of an answer at most, default 15 */
    int max_seq_len;              /* tokens of a window, special tokens included; default 0:
                                     min(the tokenizer's model_max_length, 384) */
    int max_question_len;         /* default 64; the pipeline's fast-tokenizer path does not
                                     use it, and neither does encore (a question too long
                                     for max_seq_len is ENCORE_STATUS_BAD_INPUT) */
    int handle_impossible_answer; /* default 0; 1 adds the empty answer {score, 0, 0, ""}
                                     with the smallest [CLS] start * end probability */
    int align_to_words;           /* default 1: an answer spans whole words */
} encore_qa_params;

typedef struct encore_qa_answer {
    float score;
    int start, end;               /* characters (code points, Python's str indices) of the
                                     context: the answer is context[start:end] */
    char *answer;                 /* that text, UTF-8 */
} encore_qa_answer;

typedef struct encore_qa_result {
    int n_answers;                /* at most top_k; the pipeline returns a bare answer
                                     when there is one, else a list */
    encore_qa_answer *answers;    /* (n_answers), best first */
} encore_qa_result;

ENCORE_API encore_qa_params encore_qa_default_params(void);

/* Answer a question from a context. An empty or missing question or context,
 * invalid UTF-8, a question that leaves the context no room in max_seq_len,
 * or a doc_stride that is not less than that room is ENCORE_STATUS_BAD_INPUT;
 * top_k or max_answer_len below 1, a doc_stride above max_seq_len or a
 * max_seq_len past the model's length ENCORE_STATUS_INVALID_ARGUMENT; a model
 * without a span head ENCORE_STATUS_UNSUPPORTED. Free the result with
 * encore_qa_result_free(). */
ENCORE_API encore_status encore_session_question_answer(encore_session *session, const char *question,
                                                        const char *context, encore_qa_params params,
                                                        encore_qa_result **out);
ENCORE_API void encore_qa_result_free(encore_qa_result *result);

/* ---- UTF-8 -------------------------------------------------------------- */

/* The UTF-8 rules the library itself applies (the tokenizer rejects exactly
 * what encore_utf8_validate() rejects), for callers that check or escape
 * text before or after handing it over. Valid UTF-8 is what the Unicode
 * standard calls well-formed: no stray continuation bytes, no truncated
 * sequences, no overlong forms, no surrogates (U+D800..U+DFFF), nothing past
 * U+10FFFF. Both functions are pure and thread-safe; neither reads past
 * s[len - 1]. */

/* Offset of the first byte of s[0, len) that does not begin a valid UTF-8
 * sequence, or len when all of it is valid. */
ENCORE_API size_t encore_utf8_validate(const char *s, size_t len);

/* Decode the UTF-8 sequence that begins s[0, len): returns its length in
 * bytes (1 to 4) and stores its code point in *codepoint, or returns 0 when
 * s[0, len) does not begin with a valid sequence (or len is 0), and stores
 * U+FFFD. codepoint may be NULL. */
ENCORE_API int encore_utf8_decode(const char *s, size_t len, uint32_t *codepoint);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_H */
