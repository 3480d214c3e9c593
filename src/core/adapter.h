/* adapter.h: PEFT LoRA adapter directories, merged into the base model's
 * weights as they load, so that the adapted model runs as fast as any other.
 *
 * An adapter directory holds adapter_config.json and
 * adapter_model.safetensors, as peft's save_pretrained writes them. As in
 * transformers, its base model is the directory itself when that has a
 * config.json, else adapter_config.json's base_model_name_or_path: a local
 * directory (as given, then relative to the adapter directory) or a snapshot
 * in the Hugging Face cache (what `encore pull` fills). The base supplies the
 * config, the tokenizer and the weights; the adapter then
 *   - adds (alpha / r) * B A to each weight it holds a LoRA for (alpha / sqrt(r)
 *     with use_rslora; r and alpha per module from rank_pattern and
 *     alpha_pattern, matched as peft matches them);
 *   - replaces the tensors it saved whole (modules_to_save, such as the
 *     classifier head, and trained biases);
 *   - makes a SEQ_CLS adapter's model a sequence classifier.
 * Adapter kinds that cannot be merged exactly (DoRA, IA3, prompt tuning, LoRA
 * with a bias of its own, ...) are refused, naming what is not supported, and
 * so is an adapter tensor that no weight of the model takes. */
#ifndef ENCORE_ADAPTER_H
#define ENCORE_ADAPTER_H

#include "core/safetensors.h"
#include "encore.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct encore_adapter encore_adapter;

/* 1 when dir holds adapter_config.json. */
int encore_adapter_present(const char *dir);

/* Read dir's adapter and find its base model. */
encore_status encore_adapter_open(const char *dir, encore_adapter **out);
void encore_adapter_free(encore_adapter *a);

/* Bytes of tensor data in adapter_model.safetensors (a model's weights may
 * come from it as well as from the base: core/model.c checks a config
 * against both). */
uint64_t encore_adapter_data_bytes(const encore_adapter *a);

/* The base model's directory. */
const char *encore_adapter_base_dir(const encore_adapter *a);
/* 1 for a SEQ_CLS adapter: the model is a sequence classifier. */
int encore_adapter_is_classifier(const encore_adapter *a);

/* The tensor the adapter saved whole for a base tensor, or NULL. name is the
 * base model's tensor name; "bert." / "distilbert." prefixes are ignored on
 * both sides, as they depend on the class the model was saved from. */
const encore_tensor_info *encore_adapter_replacement(encore_adapter *a, const char *name);

/* w (rows, cols) fp32, the base tensor `name`, plus the adapter's LoRA delta
 * for it if it has one. */
encore_status encore_adapter_merge(encore_adapter *a, const char *name, int64_t rows, int64_t cols, float *w);

/* After the model is loaded: fails, naming the first, when an adapter tensor
 * was taken by no weight of the model (a LoRA on a module encore does not
 * run would otherwise be dropped in silence), and when
 * adapter_model.safetensors changed while it was read. */
encore_status encore_adapter_check_used(const encore_adapter *a);

/* A one-line description for the load log: "LoRA r 16 on 36 weights, 4 saved whole". */
void encore_adapter_describe(const encore_adapter *a, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_ADAPTER_H */
