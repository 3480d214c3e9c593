/* grapheme.h: extended grapheme clusters (UAX #29) as Hugging Face
 * tokenizers finds them: its Precompiled normalizer (SentencePiece's
 * charsmap, XLM-R) walks the text cluster by cluster. */
#ifndef ENCORE_GRAPHEME_H
#define ENCORE_GRAPHEME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length in code points of the extended grapheme cluster that starts at
 * cp[i], among cp[0..n) (i < n; 0 when i >= n); the rules of UAX #29 as the
 * Rust crate unicode-segmentation (in tokenizers 0.23.3) applies them.
 *
 * cp[i] must start a cluster (i = 0, then i += len): the rules' state
 * (regional indicator pairs, emoji ZWJ sequences, Indic conjuncts) is read
 * from cp[i] on, never before it. Thread-safe; no allocation. */
size_t encore_grapheme_len(const uint32_t *cp, size_t n, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_GRAPHEME_H */
