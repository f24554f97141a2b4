/* phash2.c - erlang:phash2/1,2 over the external term format.
 *
 * This is the BEAM's portable hash (make_hash2 in erts), re-derived from its
 * behaviour: Bob Jenkins' 96-bit mix folded over the term in a fixed
 * depth-first order, with a few type-specific shortcuts. The external format
 * is itself a depth-first serialisation, so the hash is computed in one pass
 * over the bytes with a small explicit stack of open containers: no term is
 * built and nothing recurses on the C stack.
 *
 * Not here: erlang:phash/2, the VM-internal hash, decoding of compressed
 * terms; atoms and binaries are read and hashed in phash2_ext.c, the
 * mixing steps and integers are in phash2_int.h. See phash2.h for the
 * observable semantics.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phash2_int.h"

/* ---- the walk ------------------------------------------------------------ */

enum { FR_SEQ, FR_LIST, FR_MAP };

/* An open container. FR_SEQ (tuple elements, fun environment): n terms
 * left. FR_LIST: n elements left in the current LIST_EXT, then its tail;
 * a/c hold the pending run of byte elements (see feed_byte). FR_MAP: n
 * pairs left, c the phase (0 key next, 1 value next, 2 pair done), a/b the
 * enclosing hash and pair accumulator to restore at the end. */
typedef struct {
    uint8_t kind;
    uint8_t c;
    uint32_t n;
    uint32_t a;
    uint32_t b;
} frame_t;

#define INLINE_FRAMES 32

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    uint32_t hash;
    uint32_t pairs; /* xor of the pair hashes of the innermost open map */
    frame_t *frames;
    size_t depth;
    size_t cap;
    frame_t inline_frames[INLINE_FRAMES];
} ctx_t;

#define NEED(c, k)                                                            \
    do {                                                                      \
        if ((c)->len - (c)->pos < (size_t)(k)) return SW_PHASH2_ETRUNC;       \
    } while (0)

static int push(ctx_t *c, uint8_t kind, uint32_t n, uint32_t a, uint32_t b) {
    if (c->depth == c->cap) {
        if (c->cap >= SW_PHASH2_MAX_DEPTH) return SW_PHASH2_EDEPTH;
        size_t ncap = c->cap * 2;
        if (ncap > SW_PHASH2_MAX_DEPTH) ncap = SW_PHASH2_MAX_DEPTH;
        frame_t *nf;
        if (c->frames == c->inline_frames) {
            nf = malloc(ncap * sizeof *nf);
            if (nf) memcpy(nf, c->frames, c->depth * sizeof *nf);
        } else {
            nf = realloc(c->frames, ncap * sizeof *nf);
        }
        if (!nf) return SW_PHASH2_ENOMEM;
        c->frames = nf;
        c->cap = ncap;
    }
    frame_t *f = &c->frames[c->depth++];
    f->kind = kind;
    f->c = 0;
    f->n = n;
    f->a = a;
    f->b = b;
    return 0;
}

/* A [] and an atom are not mixed when they come first (running hash still
 * zero): the BEAM takes their value as the hash. */
static inline void hash_nil(ctx_t *c) {
    c->hash = c->hash == 0 ? NIL_ZERO_HASH : mix1(c->hash, NIL_TYPE_TAG, HC_2);
}

static inline void hash_atom(ctx_t *c, uint32_t hv) {
    c->hash = c->hash == 0 ? hv : mix1(c->hash, hv, HC_3);
}

/* Consecutive list elements that are integers 0..255 are packed four to a
 * word (big-endian, first element highest) and mixed per word; a partial
 * word is mixed when the run ends (a non-byte element, or the list's end). */
static inline void feed_byte(ctx_t *c, uint32_t *sh, uint8_t *n, uint8_t v) {
    *sh = (*sh << 8) + v;
    if (*n == 3) {
        c->hash = mix1(c->hash, *sh, HC_4);
        *sh = 0;
        *n = 0;
    } else {
        (*n)++;
    }
}

static inline void flush_bytes(ctx_t *c, uint32_t *sh, uint8_t *n) {
    if (*n > 0) c->hash = mix1(c->hash, *sh, HC_4);
    *sh = 0;
    *n = 0;
}

/* If the term at pos is an integer in 0..255, consumes it, sets *v and
 * returns 1; returns 0 (consuming nothing) for any other term. */
static int take_byte(ctx_t *c, uint8_t *v) {
    NEED(c, 1);
    uint8_t tag = c->p[c->pos];
    if (tag != ERL_SMALL_INTEGER_EXT && tag != ERL_INTEGER_EXT && tag != ERL_SMALL_BIG_EXT &&
        tag != ERL_LARGE_BIG_EXT)
        return 0;
    size_t p = c->pos;
    int_t iv;
    int rc = read_int(c->p, c->len, &p, &iv);
    if (rc < 0) return rc;
    if (iv.mag != NULL || iv.neg || iv.m64 > 255) return 0;
    c->pos = p;
    *v = (uint8_t)iv.m64;
    return 1;
}

static int hash_float(ctx_t *c) {
    uint64_t bits;
    double d;
    uint8_t tag = c->p[c->pos++];

    if (tag == NEW_FLOAT_EXT) {
        NEED(c, 8);
        bits = be64(c->p + c->pos);
        c->pos += 8;
        memcpy(&d, &bits, sizeof d);
    } else {
        /* FLOAT_EXT: 31 bytes of "%.20e" text, NUL padded (obsolete; parsed
         * with strtod, so in the C locale the C node runs in). */
        char text[32], *end;
        NEED(c, 31);
        memcpy(text, c->p + c->pos, 31);
        text[31] = '\0';
        c->pos += 31;
        d = strtod(text, &end);
        if (end == text) return SW_PHASH2_EBADTERM;
        memcpy(&bits, &d, sizeof bits);
    }
    if (!isfinite(d)) return SW_PHASH2_EBADTERM;
    if (d == 0.0) bits = 0; /* -0.0 hashes as 0.0 */
    c->hash = mix2(c->hash, (uint32_t)(bits >> 32), (uint32_t)bits, HC_12);
    return 0;
}

static int hash_binary(ctx_t *c) {
    uint8_t tag = c->p[c->pos++];
    uint32_t n, bits = 8;

    NEED(c, tag == ERL_BINARY_EXT ? 4 : 5);
    n = be32(c->p + c->pos);
    c->pos += 4;
    if (tag == ERL_BIT_BINARY_EXT) {
        bits = c->p[c->pos++];
        /* binary_to_term accepts 1..8 bits in a non-empty last byte, and 0
         * bits only for an empty bitstring. */
        if (n == 0 ? bits != 0 : (bits < 1 || bits > 8)) return SW_PHASH2_EBADTERM;
        if (n == 0) bits = 8;
    }
    NEED(c, n);
    const uint8_t *d = c->p + c->pos;
    c->pos += n;
    uint32_t seed = HC_13 + c->hash;
    if (bits == 8) {
        c->hash = n == 0 ? seed : sw__phash2_block_hash(d, n, seed);
    } else {
        /* n-1 whole bytes, then the top `bits` bits of the last one (its
         * unused low bits are ignored, as the BEAM does). */
        c->hash = sw__phash2_block_hash(d, n - 1, seed);
        c->hash = mix2(c->hash, bits, (uint32_t)(d[n - 1] >> (8 - bits)), HC_15);
    }
    return 0;
}

/* Pids, ports and references: the node atom is parsed (and validated) but
 * only the number is hashed. */
static int hash_identifier(ctx_t *c) {
    uint8_t tag = c->p[c->pos++];
    size_t words = 0;
    int rc;

    if (tag == ERL_NEWER_REFERENCE_EXT || tag == ERL_NEW_REFERENCE_EXT) {
        NEED(c, 2);
        words = be16(c->p + c->pos);
        c->pos += 2;
        if (words > 5) return SW_PHASH2_EBADTERM;
    }
    if ((rc = sw__phash2_parse_atom(c->p, c->len, &c->pos, NULL, NULL, NULL, NULL)) < 0)
        return rc == SW_PHASH2_EBADTAG ? SW_PHASH2_EBADTERM : rc;
    switch (tag) {
    case ERL_NEW_PID_EXT: /* ID, Serial, Creation: 32 bits each */
    case ERL_PID_EXT:     /* ID, Serial 32 bits, Creation 8 */
        NEED(c, tag == ERL_NEW_PID_EXT ? 12 : 9);
        c->hash = mix1(c->hash, be32(c->p + c->pos), HC_5);
        c->pos += tag == ERL_NEW_PID_EXT ? 12 : 9;
        break;
    case ERL_NEW_PORT_EXT: /* ID 32, Creation 32 */
    case ERL_PORT_EXT:     /* ID 32, Creation 8 */
        NEED(c, tag == ERL_NEW_PORT_EXT ? 8 : 5);
        c->hash = mix1(c->hash, be32(c->p + c->pos), HC_6);
        c->pos += tag == ERL_NEW_PORT_EXT ? 8 : 5;
        break;
    case ERL_V4_PORT_EXT: { /* ID 64, Creation 32 */
        NEED(c, 12);
        uint64_t id = be64(c->p + c->pos);
        c->hash = mix2(c->hash, (uint32_t)id, (uint32_t)(id >> 32), HC_6);
        c->pos += 12;
        break;
    }
    case ERL_REFERENCE_EXT: /* ID 32, Creation 8 */
        NEED(c, 5);
        c->hash = mix1(c->hash, be32(c->p + c->pos), HC_7);
        c->pos += 5;
        break;
    default: { /* NEW(ER)_REFERENCE_EXT: Creation 8 or 32, then the words */
        size_t cr = tag == ERL_NEWER_REFERENCE_EXT ? 4 : 1;
        NEED(c, cr);
        c->pos += cr;
        if ((c->len - c->pos) / 4 < words) return SW_PHASH2_ETRUNC;
        c->hash = mix1(c->hash, words ? be32(c->p + c->pos) : 0, HC_7);
        c->pos += words * 4;
        break;
    }
    }
    return 0;
}

static int read_u32_int(ctx_t *c, uint32_t *out) {
    int_t v;
    int rc = read_int(c->p, c->len, &c->pos, &v);
    if (rc < 0) return rc == SW_PHASH2_EBADTAG ? SW_PHASH2_EBADTERM : rc;
    if (v.mag != NULL) return SW_PHASH2_EBADTERM;
    *out = v.neg ? (uint32_t)(0 - v.m64) : (uint32_t)v.m64;
    return 0;
}

static int hash_fun(ctx_t *c) {
    uint8_t tag = c->p[c->pos++];
    uint32_t hv_mod, hv_fun, arity, num_free, old_index, old_uniq;
    int rc;

    if (tag == ERL_EXPORT_EXT) {
        if ((rc = sw__phash2_parse_atom(c->p, c->len, &c->pos, &hv_mod, NULL, NULL, NULL)) < 0 ||
            (rc = sw__phash2_parse_atom(c->p, c->len, &c->pos, &hv_fun, NULL, NULL, NULL)) < 0)
            return rc == SW_PHASH2_EBADTAG ? SW_PHASH2_EBADTERM : rc;
        NEED(c, 2);
        if (c->p[c->pos] != ERL_SMALL_INTEGER_EXT) return SW_PHASH2_EBADTERM;
        arity = c->p[c->pos + 1];
        c->pos += 2;
        c->hash = mix2(c->hash, arity, hv_mod, HC);
        c->hash = mix1(c->hash, hv_fun, HC_14);
        return 0;
    }
    /* NEW_FUN_EXT: Size 4, Arity 1, Uniq 16, Index 4, NumFree 4, Module,
     * OldIndex, OldUniq, Pid, free variables. */
    size_t start = c->pos - 1;
    NEED(c, 29);
    uint32_t size = be32(c->p + c->pos);
    if (size < 29 || size > c->len - (start + 1)) return SW_PHASH2_EBADTERM;
    num_free = be32(c->p + c->pos + 25);
    c->pos += 29;
    if ((rc = sw__phash2_parse_atom(c->p, c->len, &c->pos, &hv_mod, NULL, NULL, NULL)) < 0)
        return rc == SW_PHASH2_EBADTAG ? SW_PHASH2_EBADTERM : rc;
    if ((rc = read_u32_int(c, &old_index)) < 0 || (rc = read_u32_int(c, &old_uniq)) < 0)
        return rc;
    NEED(c, 1);
    if (c->p[c->pos] != ERL_NEW_PID_EXT && c->p[c->pos] != ERL_PID_EXT) return SW_PHASH2_EBADTERM;
    uint32_t saved = c->hash;
    if ((rc = hash_identifier(c)) < 0) return rc; /* parses the pid; not hashed */
    c->hash = saved;
    if (num_free > c->len - c->pos) return SW_PHASH2_ETRUNC;
    c->hash = mix2(c->hash, num_free, hv_mod, HC);
    c->hash = mix2(c->hash, old_index, old_uniq, HC);
    return num_free ? push(c, FR_SEQ, num_free, 0, 0) : 0;
}

/* Hashes the term at pos: scalars entirely; containers by their header,
 * pushing a frame for their contents. */
static int term(ctx_t *c) {
    int rc;
    for (;;) {
        NEED(c, 1);
        uint8_t tag = c->p[c->pos];
        switch (tag) {
        case ERL_SMALL_INTEGER_EXT:
        case ERL_INTEGER_EXT:
        case ERL_SMALL_BIG_EXT:
        case ERL_LARGE_BIG_EXT: {
            int_t v;
            if ((rc = read_int(c->p, c->len, &c->pos, &v)) < 0) return rc;
            c->hash = hash_int(c->hash, &v);
            return 0;
        }
        case NEW_FLOAT_EXT:
        case ERL_FLOAT_EXT:
            return hash_float(c);
        case ERL_ATOM_EXT:
        case ERL_SMALL_ATOM_EXT:
        case ERL_ATOM_UTF8_EXT:
        case ERL_SMALL_ATOM_UTF8_EXT: {
            uint32_t hv;
            if ((rc = sw__phash2_parse_atom(c->p, c->len, &c->pos, &hv, NULL, NULL, NULL)) < 0) return rc;
            hash_atom(c, hv);
            return 0;
        }
        case ERL_NIL_EXT:
            c->pos++;
            hash_nil(c);
            return 0;
        case ERL_STRING_EXT: {
            NEED(c, 3);
            uint32_t n = be16(c->p + c->pos + 1), sh = 0;
            uint8_t k = 0;
            c->pos += 3;
            NEED(c, n);
            for (uint32_t i = 0; i < n; i++) feed_byte(c, &sh, &k, c->p[c->pos + i]);
            c->pos += n;
            flush_bytes(c, &sh, &k);
            hash_nil(c);
            return 0;
        }
        case ERL_LIST_EXT: {
            NEED(c, 5);
            uint32_t n = be32(c->p + c->pos + 1);
            c->pos += 5;
            if (n == 0) continue; /* no elements: the term is the tail */
            if (n > c->len - c->pos) return SW_PHASH2_ETRUNC;
            return push(c, FR_LIST, n, 0, 0);
        }
        case ERL_SMALL_TUPLE_EXT:
        case ERL_LARGE_TUPLE_EXT: {
            uint32_t n;
            if (tag == ERL_SMALL_TUPLE_EXT) {
                NEED(c, 2);
                n = c->p[c->pos + 1];
                c->pos += 2;
            } else {
                NEED(c, 5);
                n = be32(c->p + c->pos + 1);
                c->pos += 5;
            }
            if (n > c->len - c->pos) return SW_PHASH2_ETRUNC;
            c->hash = mix1(c->hash, n, HC_9);
            return n ? push(c, FR_SEQ, n, 0, 0) : 0;
        }
        case ERL_MAP_EXT: {
            NEED(c, 5);
            uint32_t n = be32(c->p + c->pos + 1);
            c->pos += 5;
            if (n > (c->len - c->pos) / 2) return SW_PHASH2_ETRUNC;
            c->hash = mix1(c->hash, n, HC_16);
            if (n == 0) return 0;
            /* Each pair is hashed from zero and the pair hashes xor-ed, so
             * the order of the pairs does not matter. */
            if ((rc = push(c, FR_MAP, n, c->hash, c->pairs)) < 0) return rc;
            c->hash = 0;
            c->pairs = 0;
            return 0;
        }
        case ERL_BINARY_EXT:
        case ERL_BIT_BINARY_EXT:
            return hash_binary(c);
        case ERL_NEW_PID_EXT:
        case ERL_PID_EXT:
        case ERL_NEW_PORT_EXT:
        case ERL_V4_PORT_EXT:
        case ERL_PORT_EXT:
        case ERL_NEWER_REFERENCE_EXT:
        case ERL_NEW_REFERENCE_EXT:
        case ERL_REFERENCE_EXT:
            return hash_identifier(c);
        case ERL_NEW_FUN_EXT:
        case ERL_EXPORT_EXT:
            return hash_fun(c);
        case COMPRESSED_TAG:
            return SW_PHASH2_ENOTSUP;
        default:
            return SW_PHASH2_EBADTAG;
        }
    }
}

/* Closes finished containers. Returns 1 when the next term to hash is at
 * pos, 0 when the outermost term is complete, or an error. */
static int advance(ctx_t *c) {
    int rc;
    while (c->depth > 0) {
        frame_t *f = &c->frames[c->depth - 1];
        switch (f->kind) {
        case FR_SEQ:
            if (f->n > 0) {
                f->n--;
                return 1;
            }
            c->depth--;
            break;
        case FR_MAP:
            if (f->c == 2) {
                c->pairs ^= c->hash;
                c->hash = 0;
                f->n--;
                f->c = 0;
            }
            if (f->c == 1) {
                f->c = 2;
                return 1;
            }
            if (f->n > 0) {
                f->c = 1;
                return 1;
            }
            {
                uint32_t pairs = c->pairs;
                c->hash = mix1(f->a, pairs, HC_19);
                c->pairs = f->b;
            }
            c->depth--;
            break;
        case FR_LIST: {
            uint32_t sh = f->a;
            uint8_t k = f->c, v;
            while (f->n > 0) {
                f->n--;
                if ((rc = take_byte(c, &v)) < 0) return rc;
                if (rc == 0) {
                    flush_bytes(c, &sh, &k);
                    f->a = 0;
                    f->c = 0;
                    return 1;
                }
                feed_byte(c, &sh, &k, v);
            }
            /* The tail. A list or string there continues the same list. */
            if (c->pos >= c->len) return SW_PHASH2_ETRUNC;
            uint8_t tag = c->p[c->pos];
            if (tag == ERL_LIST_EXT) {
                NEED(c, 5);
                f->n = be32(c->p + c->pos + 1);
                c->pos += 5;
                if (f->n > c->len - c->pos) return SW_PHASH2_ETRUNC;
                f->a = sh;
                f->c = k;
                break;
            }
            if (tag == ERL_STRING_EXT) {
                NEED(c, 3);
                uint32_t n = be16(c->p + c->pos + 1);
                c->pos += 3;
                NEED(c, n);
                for (uint32_t i = 0; i < n; i++) feed_byte(c, &sh, &k, c->p[c->pos + i]);
                c->pos += n;
                flush_bytes(c, &sh, &k);
                hash_nil(c);
                c->depth--;
                break;
            }
            flush_bytes(c, &sh, &k);
            c->depth--;
            if (tag == ERL_NIL_EXT) {
                c->pos++;
                hash_nil(c);
                break;
            }
            return 1; /* an improper tail: hash it as a term */
        }
        }
    }
    return 0;
}

static int walk(const uint8_t *buf, size_t len, size_t *pos, uint32_t *hash) {
    ctx_t c;
    int rc;

    c.p = buf;
    c.len = len;
    c.pos = *pos;
    c.hash = 0;
    c.pairs = 0;
    c.frames = c.inline_frames;
    c.depth = 0;
    c.cap = INLINE_FRAMES;
    for (;;) {
        if ((rc = term(&c)) < 0) break;
        if ((rc = advance(&c)) <= 0) break;
    }
    if (c.frames != c.inline_frames) free(c.frames);
    if (rc < 0) return rc;
    *pos = c.pos;
    *hash = c.hash;
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int sw_phash2_hash(const char *buf, size_t len, uint32_t *hash) {
    size_t pos = 1;
    uint32_t h;
    int rc;

    if (!buf || !hash) return SW_PHASH2_EINVAL;
    if (len < 1) return SW_PHASH2_ETRUNC;
    if ((uint8_t)buf[0] != VERSION_MAGIC) return SW_PHASH2_EVERSION;
    if ((rc = walk((const uint8_t *)buf, len, &pos, &h)) < 0) return rc;
    if (pos != len) return SW_PHASH2_ETRAILING;
    *hash = h;
    return 0;
}

int sw_phash2_hash_at(const char *buf, size_t len, int *index, uint32_t *hash) {
    size_t pos;
    uint32_t h;
    int rc;

    if (!buf || !index || !hash || *index < 0) return SW_PHASH2_EINVAL;
    pos = (size_t)*index;
    if (pos > len) return SW_PHASH2_ETRUNC;
    if ((rc = walk((const uint8_t *)buf, len, &pos, &h)) < 0) return rc;
    if (pos > (size_t)INT_MAX) return SW_PHASH2_EINVAL;
    *index = (int)pos;
    *hash = h;
    return 0;
}

int sw_phash2_apply_range(uint32_t hash, uint64_t range, uint32_t *out) {
    if (!out || range > ((uint64_t)1 << 32)) return SW_PHASH2_EINVAL;
    if (range == 0)
        *out = hash & ((1u << 27) - 1);
    else
        *out = (uint32_t)((uint64_t)hash % range);
    return 0;
}

int sw_phash2(const char *buf, size_t len, uint64_t range, uint32_t *out) {
    uint32_t h;
    int rc;
    if (!out || range > ((uint64_t)1 << 32)) return SW_PHASH2_EINVAL;
    if ((rc = sw_phash2_hash(buf, len, &h)) < 0) return rc;
    return sw_phash2_apply_range(h, range, out);
}

int sw_phash2_at(const char *buf, size_t len, int *index, uint64_t range, uint32_t *out) {
    uint32_t h;
    int rc, idx;
    if (!out || !index || range > ((uint64_t)1 << 32)) return SW_PHASH2_EINVAL;
    idx = *index;
    if ((rc = sw_phash2_hash_at(buf, len, &idx, &h)) < 0) return rc;
    *index = idx;
    return sw_phash2_apply_range(h, range, out);
}

