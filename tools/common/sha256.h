/* sha256.h: SHA-256 (FIPS 180-4), small and self-contained. A context is a
 * plain struct: copying it snapshots a running hash, so that the digest of a
 * prefix can be taken while the hash goes on (encore score's checkpoints). */
#ifndef ENCORE_TOOLS_SHA256_H
#define ENCORE_TOOLS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tools_sha256 {
    uint32_t h[8];
    uint64_t bytes;       /* bytes hashed so far */
    uint8_t block[64];    /* the partial block */
} tools_sha256;

void tools_sha256_init(tools_sha256 *c);
void tools_sha256_update(tools_sha256 *c, const void *data, size_t n);
/* The digest of what was hashed so far; c is left as it was (a copy is
 * finished), so the hash may go on. */
void tools_sha256_digest(const tools_sha256 *c, uint8_t out[32]);
/* 64 lowercase hex digits and a NUL. */
void tools_sha256_hex(const uint8_t digest[32], char out[65]);
/* Parse 64 hex digits; returns 0 when s is not that. */
int tools_sha256_parse_hex(const char *s, uint8_t digest[32]);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOOLS_SHA256_H */
