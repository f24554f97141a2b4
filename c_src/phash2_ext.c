/* phash2_ext.c - the parts of erlang:phash2 in C that read atoms and hash
 * blocks of bytes: hashpjw over an atom's text (with its validation as
 * binary_to_term does it), Jenkins' lookup2 over a binary, and the public
 * entry points built on them alone (sw_phash2_bytes, sw_phash2_atom_text)
 * and the error names. See phash2.h for the contract and phash2.c for the
 * walk over a term.
 *
 * Not here: the walk, containers, integers and the other term types. */
#include <string.h>

#include "phash2_int.h"

/* Jenkins' lookup2 over a byte block, little-endian words, seeded with the
 * running hash: how binaries are hashed. The length folded in is truncated
 * to 32 bits, as the BEAM does. */
uint32_t sw__phash2_block_hash(const uint8_t *k, size_t length, uint32_t initval) {
    uint32_t a = HC, b = HC, c = initval;
    size_t len = length;

    while (len >= 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        MIX(a, b, c);
        k += 12;
        len -= 12;
    }
    c += (uint32_t)length;
    /* The tail: bytes 0..3 go to a, 4..7 to b, 8..10 to c above its low
     * byte (which holds the length). */
    switch (len) {
    case 11: c += (uint32_t)k[10] << 24; /* fall through */
    case 10: c += (uint32_t)k[9] << 16;  /* fall through */
    case 9: c += (uint32_t)k[8] << 8;    /* fall through */
    case 8: b += (uint32_t)k[7] << 24;   /* fall through */
    case 7: b += (uint32_t)k[6] << 16;   /* fall through */
    case 6: b += (uint32_t)k[5] << 8;    /* fall through */
    case 5: b += k[4];                   /* fall through */
    case 4: a += (uint32_t)k[3] << 24;   /* fall through */
    case 3: a += (uint32_t)k[2] << 16;   /* fall through */
    case 2: a += (uint32_t)k[1] << 8;    /* fall through */
    case 1: a += k[0];                   /* fall through */
    default: break;
    }
    MIX(a, b, c);
    return c;
}


/* hashpjw, the atom table's hash: the value every atom contributes. */
static inline uint32_t pjw_step(uint32_t h, uint8_t v) {
    uint32_t g;
    h = (h << 4) + v;
    if ((g = h & 0xf0000000u) != 0) {
        h ^= g >> 24;
        h ^= g;
    }
    return h;
}


/* ---- atoms -------------------------------------------------------------- */

/* Decodes one UTF-8 character at s[0..n) strictly (no overlong forms, no
 * surrogates, nothing above U+10FFFF), as binary_to_term does. Returns its
 * byte length and sets *cp, or 0 if invalid. */
static size_t utf8_char(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        uint32_t c = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        *cp = c;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        uint32_t c = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                     ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (c < 0x10000 || c > 0x10FFFF) return 0;
        *cp = c;
        return 4;
    }
    return 0;
}

/* Parses the atom at buf[*pos]: validates it, computes its hash value (*hv,
 * optional) and optionally writes its UTF-8 text to out. The BEAM stores
 * atom text as UTF-8 and its hash folds each two-byte sequence of a latin1
 * character back into that character's byte ("latin1 clutch"), so an atom
 * hashes the same whichever tag carried it: latin1 characters contribute
 * their code, other characters their UTF-8 bytes. */
int sw__phash2_parse_atom(const uint8_t *buf, size_t len, size_t *pos, uint32_t *hv, char *out,
                      size_t *out_len, int *latin1) {
    size_t p = *pos, n, i, o = 0, chars = 0;
    int utf8, all_latin1 = 1;
    uint32_t h = 0;

    if (len - p < 1) return SW_PHASH2_ETRUNC;
    switch ((uint8_t)buf[p++]) {
    case ERL_ATOM_EXT:
        if (len - p < 2) return SW_PHASH2_ETRUNC;
        n = be16(buf + p);
        p += 2;
        utf8 = 0;
        break;
    case ERL_SMALL_ATOM_EXT:
        if (len - p < 1) return SW_PHASH2_ETRUNC;
        n = buf[p++];
        utf8 = 0;
        break;
    case ERL_ATOM_UTF8_EXT:
        if (len - p < 2) return SW_PHASH2_ETRUNC;
        n = be16(buf + p);
        p += 2;
        utf8 = 1;
        break;
    case ERL_SMALL_ATOM_UTF8_EXT:
        if (len - p < 1) return SW_PHASH2_ETRUNC;
        n = buf[p++];
        utf8 = 1;
        break;
    default:
        return SW_PHASH2_EBADTAG;
    }
    if (len - p < n) return SW_PHASH2_ETRUNC;
    const uint8_t *s = buf + p;

    if (!utf8) {
        if (n > 255) return SW_PHASH2_EBADTERM;
        for (i = 0; i < n; i++) {
            uint8_t v = s[i];
            h = pjw_step(h, v);
            if (out) {
                if (v < 0x80) {
                    out[o++] = (char)v;
                } else {
                    out[o++] = (char)(0xC0 | (v >> 6));
                    out[o++] = (char)(0x80 | (v & 0x3F));
                }
            }
        }
    } else {
        for (i = 0; i < n;) {
            uint32_t cp;
            size_t k = utf8_char(s + i, n - i, &cp);
            if (k == 0 || ++chars > 255) return SW_PHASH2_EBADTERM;
            if (cp < 256) {
                h = pjw_step(h, (uint8_t)cp);
            } else {
                all_latin1 = 0;
                for (size_t j = 0; j < k; j++) h = pjw_step(h, s[i + j]);
            }
            if (out) {
                memcpy(out + o, s + i, k);
                o += k;
            }
            i += k;
        }
    }
    if (out) out[o] = '\0';
    if (out_len) *out_len = o;
    if (latin1) *latin1 = all_latin1;
    if (hv) *hv = h;
    *pos = p + n;
    return 0;
}

int sw_phash2_bytes(const void *data, size_t len, uint64_t range, uint32_t *out) {
    if ((!data && len) || !out || range > ((uint64_t)1 << 32)) return SW_PHASH2_EINVAL;
    /* A binary as the whole term: the running hash is zero. */
    uint32_t h = len == 0 ? HC_13 : sw__phash2_block_hash(data, len, HC_13);
    return sw_phash2_apply_range(h, range, out);
}

int sw_phash2_atom_text(const char *buf, size_t len, int *index, char *out, size_t *out_len,
                        int *latin1) {
    size_t pos;
    int rc;
    if (!buf || !index || !out || !out_len || *index < 0) return SW_PHASH2_EINVAL;
    pos = (size_t)*index;
    if (pos > len) return SW_PHASH2_ETRUNC;
    if ((rc = sw__phash2_parse_atom((const uint8_t *)buf, len, &pos, NULL, out, out_len, latin1)) < 0)
        return rc;
    *index = (int)pos;
    return 0;
}

const char *sw_phash2_err_name(int err) {
    switch (err) {
#define SW_PHASH2_ERR_NAME(name, val, str) \
    case (val): return "SW_PHASH2_" #name;
        SW_PHASH2_ERRNO_MAP(SW_PHASH2_ERR_NAME)
#undef SW_PHASH2_ERR_NAME
    default: return "unknown";
    }
}

const char *sw_phash2_strerror(int err) {
    switch (err) {
#define SW_PHASH2_ERR_STR(name, val, str) \
    case (val): return str;
        SW_PHASH2_ERRNO_MAP(SW_PHASH2_ERR_STR)
#undef SW_PHASH2_ERR_STR
    default: return "unknown error";
    }
}

