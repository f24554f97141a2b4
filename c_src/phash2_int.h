/* phash2_int.h - what the files of erlang:phash2 in C share (phash2.c, the
 * walk over a term; phash2_ext.c, atoms and binaries); no other file
 * includes it.
 *
 * Here: the BEAM's salts and mixing steps (Bob Jenkins' 96-bit mix), the
 * big-endian readers of the external format, and the reading and hashing
 * of integers, inline because the walk runs them once per list element. */
#ifndef SW_PHASH2_INT_H
#define SW_PHASH2_INT_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "phash2.h"

#define VERSION_MAGIC 131
#define COMPRESSED_TAG 80

/* The golden ratio, and its multiples (mod 2^32) used as per-type salts. */
#define HC 0x9e3779b9u
#define HC_2 0x3c6ef372u
#define HC_3 0xdaa66d2bu
#define HC_4 0x78dde6e4u
#define HC_5 0x1715609du
#define HC_6 0xb54cda56u
#define HC_7 0x5384540fu
#define HC_9 0x8ff34781u
#define HC_10 0x2e2ac13au
#define HC_11 0xcc623af3u
#define HC_12 0x6a99b4acu
#define HC_13 0x08d12e65u
#define HC_14 0xa708a81eu
#define HC_15 0x454021d7u
#define HC_16 0xe3779b90u
#define HC_19 0xbe1e08bbu

/* The BEAM hashes a nested [] as the number of its internal "NIL" type tag,
 * and a [] met while the running hash is still zero as this constant. */
#define NIL_TYPE_TAG 2u
#define NIL_ZERO_HASH 3468870702u

/* Integers in [-2^27, 2^27) are "small" for the portable hash (it keeps the
 * 28-bit fixnums of 32-bit emulators); all others hash like bignums. */
#define SMALL28_LIMIT (1u << 27)

#define MIX(a, b, c)                                                          \
    do {                                                                      \
        a -= b; a -= c; a ^= (c >> 13);                                       \
        b -= c; b -= a; b ^= (a << 8);                                        \
        c -= a; c -= b; c ^= (b >> 13);                                       \
        a -= b; a -= c; a ^= (c >> 12);                                       \
        b -= c; b -= a; b ^= (a << 16);                                       \
        c -= a; c -= b; c ^= (b >> 5);                                        \
        a -= b; a -= c; a ^= (c >> 3);                                        \
        b -= c; b -= a; b ^= (a << 10);                                       \
        c -= a; c -= b; c ^= (b >> 15);                                       \
    } while (0)

static inline uint32_t mix2(uint32_t h, uint32_t x, uint32_t y, uint32_t salt) {
    uint32_t a = salt + x, b = salt + y;
    MIX(a, b, h);
    return h;
}

static inline uint32_t mix1(uint32_t h, uint32_t x, uint32_t salt) {
    return mix2(h, x, 0, salt);
}

static inline uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return ((uint64_t)be32(p) << 32) | be32(p + 4); }

/* ---- atoms and binaries (phash2_ext.c) --------------------------------- */

/* Jenkins' lookup2 over a byte block, little-endian words, seeded with the
 * running hash: how binaries are hashed. The length folded in is truncated
 * to 32 bits, as the BEAM does. */
uint32_t sw__phash2_block_hash(const uint8_t *k, size_t length, uint32_t initval);

/* Parses the atom at buf[*pos] (any of the four atom tags, never reading
 * past len): validates it as binary_to_term does, and gives its hash value
 * (*hv), its UTF-8 text (out: SW_PHASH2_ATOM_MAX_UTF8 + 1 bytes,
 * NUL-terminated; *out_len) and whether every character is latin1
 * (*latin1); each output is optional (NULL). Returns 0 and moves *pos past
 * the atom, or a negative SW_PHASH2_ code (*pos unchanged). */
int sw__phash2_parse_atom(const uint8_t *buf, size_t len, size_t *pos, uint32_t *hv, char *out,
                          size_t *out_len, int *latin1);

/* ---- integers ----------------------------------------------------------- */

/* An integer from any of the four integer tags, normalised: sign and
 * magnitude, the magnitude either in m64 (when it has at most 8 significant
 * bytes) or as little-endian bytes mag[0..n) without leading zeros. */
typedef struct {
    int neg;
    uint64_t m64;
    const uint8_t *mag;
    size_t n;
} int_t;

static inline int read_int(const uint8_t *buf, size_t len, size_t *pos, int_t *v) {
    size_t p = *pos, n;

    if (len - p < 1) return SW_PHASH2_ETRUNC;
    v->mag = NULL;
    v->n = 0;
    switch ((uint8_t)buf[p++]) {
    case ERL_SMALL_INTEGER_EXT:
        if (len - p < 1) return SW_PHASH2_ETRUNC;
        v->neg = 0;
        v->m64 = buf[p++];
        break;
    case ERL_INTEGER_EXT: {
        if (len - p < 4) return SW_PHASH2_ETRUNC;
        int32_t x = (int32_t)be32(buf + p);
        p += 4;
        v->neg = x < 0;
        v->m64 = x < 0 ? (uint64_t)0 - (uint64_t)(int64_t)x : (uint64_t)x;
        break;
    }
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
        if (buf[p - 1] == ERL_SMALL_BIG_EXT) {
            if (len - p < 2) return SW_PHASH2_ETRUNC;
            n = buf[p++];
        } else {
            if (len - p < 5) return SW_PHASH2_ETRUNC;
            n = be32(buf + p);
            p += 4;
        }
        if (buf[p] > 1) return SW_PHASH2_EBADTERM; /* sign byte */
        v->neg = buf[p++];
        if (len - p < n) return SW_PHASH2_ETRUNC;
        v->mag = buf + p;
        p += n;
        while (n > 0 && v->mag[n - 1] == 0) n--;
        v->n = n;
        if (n <= 8) {
            uint64_t m = 0;
            for (size_t i = n; i > 0; i--) m = (m << 8) | v->mag[i - 1];
            v->m64 = m;
            v->mag = NULL;
            v->n = 0;
            if (m == 0) v->neg = 0;
        }
        break;
    default:
        return SW_PHASH2_EBADTAG;
    }
    *pos = p;
    return 0;
}

static inline uint32_t le_part(const uint8_t *s, size_t k) {
    uint32_t x = 0;
    for (size_t i = k; i > 0; i--) x = (x << 8) | s[i - 1];
    return x;
}

static inline uint32_t hash_int(uint32_t h, const int_t *v) {
    uint32_t salt = v->neg ? HC_10 : HC_11;

    if (v->mag == NULL) {
        if ((!v->neg && v->m64 < SMALL28_LIMIT) || (v->neg && v->m64 <= SMALL28_LIMIT)) {
            /* A small: mixed once by value, and negative ones first once
             * more by absolute value. */
            int32_t y = v->neg ? -(int32_t)v->m64 : (int32_t)v->m64;
            if (y < 0) h = mix1(h, (uint32_t)(-y), HC);
            return mix1(h, (uint32_t)y, HC);
        }
        return mix2(h, (uint32_t)v->m64, (uint32_t)(v->m64 >> 32), salt);
    }
    /* A bignum: one mix per 64-bit digit, low half then high half. */
    for (size_t i = 0; i < v->n; i += 8) {
        size_t left = v->n - i;
        uint32_t x = le_part(v->mag + i, left < 4 ? left : 4);
        uint32_t y = left > 4 ? le_part(v->mag + i + 4, left - 4 < 4 ? left - 4 : 4) : 0;
        h = mix2(h, x, y, salt);
    }
    return h;
}

#endif
