/* canon.c - see canon.h. One iterative walk over the input that writes the
 * canonical bytes as it goes. Containers are kept on an explicit stack of
 * at most SW_TERM_MAX_DEPTH + 1 frames (a list chained through LIST_EXT
 * tails takes one frame however many pieces it has).
 *
 * A list is written as LIST_EXT with its element count patched in when the
 * list ends (the pieces of a chained list give its length only piece by
 * piece); if it then turns out to be a proper list of 1..65535 byte-valued
 * integers, the elements just written (SMALL_INTEGER_EXT pairs) are
 * compacted in place into a STRING_EXT.
 *
 * Every read is bounds-checked even though the input is validated first:
 * when the validator refuses the input, the walk still runs (its output
 * discarded) to tell a fun after well-formed bytes (SW_CANON_EREFUSED)
 * from garbage (SW_CANON_EBAD). */
#include "canon.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

#define MAX_STRING 65535u
#define MAX_V3_PORT 0xfffffffu  /* ports with larger ids need V4_PORT_EXT */
#define MAX_OLD_REF0 0x3ffffu   /* first word of an old-style reference */
#define MAX_OLD_CREATION 3u     /* 8-bit creations of the old pid/port/ref forms */

typedef enum { F_ROOT, F_TUPLE, F_LIST, F_TAIL } fkind_t;

typedef struct {
    fkind_t kind;
    int bytes;      /* F_LIST: every element so far is a SMALL_INTEGER_EXT */
    uint64_t left;  /* terms (elements) still to read at this level */
    uint64_t count; /* F_LIST: elements so far */
    int hdr;        /* F_LIST: offset in out of its LIST_EXT header */
} frame_t;

typedef struct {
    const unsigned char *b;
    size_t len, pos;
    int utf8;
    ei_x_buff *out;
    int oom; /* out could not grow */
} walk_t;

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* 1 if n more bytes can be read at w->pos. */
static int has(const walk_t *w, size_t n) { return n <= w->len && w->pos <= w->len - n; }

static void put(walk_t *w, const void *p, size_t n) {
    if (!w->oom && ei_x_append_buf(w->out, p, (int)n) != 0) w->oom = 1;
}

static void put1(walk_t *w, unsigned char c) { put(w, &c, 1); }

static void put32(walk_t *w, uint32_t v) {
    unsigned char b[4];
    set32(b, v);
    put(w, b, 4);
}

/* ---- atoms --------------------------------------------------------------- */

/* Reads the atom at w->pos (any of the four atom tags) and writes it in
 * canonical form. */
static int atom(walk_t *w) {
    if (!has(w, 2)) return -1;
    unsigned char tag = w->b[w->pos];
    size_t n;
    if (tag == 100 || tag == 118) {
        if (!has(w, 3)) return -1;
        n = (size_t)w->b[w->pos + 1] << 8 | w->b[w->pos + 2];
        w->pos += 3;
    } else if (tag == 115 || tag == 119) {
        n = w->b[w->pos + 1];
        w->pos += 2;
    } else {
        return -1;
    }
    if (!has(w, n)) return -1;
    const unsigned char *s = w->b + w->pos;
    w->pos += n;

    /* The characters as code points; an atom has at most 255. */
    uint32_t cp[255];
    size_t nc = 0;
    int latin1 = 1;
    if (tag == 100 || tag == 115) {
        if (n > 255) return -1;
        for (size_t i = 0; i < n; i++) cp[nc++] = s[i];
    } else {
        for (size_t i = 0; i < n;) {
            unsigned c = s[i], k, min;
            uint32_t v;
            if (c < 0x80) k = 0, v = c, min = 0;
            else if ((c & 0xE0) == 0xC0) k = 1, v = c & 0x1F, min = 0x80;
            else if ((c & 0xF0) == 0xE0) k = 2, v = c & 0x0F, min = 0x800;
            else if ((c & 0xF8) == 0xF0) k = 3, v = c & 0x07, min = 0x10000;
            else return -1;
            if (k > n - i - 1 || nc == 255) return -1;
            for (unsigned j = 1; j <= k; j++) {
                if ((s[i + j] & 0xC0) != 0x80) return -1;
                v = v << 6 | (s[i + j] & 0x3F);
            }
            if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
            if (v > 0xFF) latin1 = 0;
            cp[nc++] = v;
            i += k + 1;
        }
    }

    unsigned char o[255 * 4];
    size_t on = 0;
    if (latin1 && !w->utf8) {
        for (size_t i = 0; i < nc; i++) o[on++] = (unsigned char)cp[i];
        unsigned char h[3] = {100, 0, (unsigned char)on};
        put(w, h, 3);
        put(w, o, on);
        return 0;
    }
    for (size_t i = 0; i < nc; i++) {
        uint32_t v = cp[i];
        if (v < 0x80) {
            o[on++] = (unsigned char)v;
        } else if (v < 0x800) {
            o[on++] = (unsigned char)(0xC0 | v >> 6);
            o[on++] = (unsigned char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            o[on++] = (unsigned char)(0xE0 | v >> 12);
            o[on++] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
            o[on++] = (unsigned char)(0x80 | (v & 0x3F));
        } else {
            o[on++] = (unsigned char)(0xF0 | v >> 18);
            o[on++] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
            o[on++] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
            o[on++] = (unsigned char)(0x80 | (v & 0x3F));
        }
    }
    if (on <= 255) {
        unsigned char h[2] = {119, (unsigned char)on};
        put(w, h, 2);
    } else {
        unsigned char h[3] = {118, (unsigned char)(on >> 8), (unsigned char)on};
        put(w, h, 3);
    }
    put(w, o, on);
    return 0;
}

/* ---- numbers ------------------------------------------------------------- */

/* Writes the integer -mag or mag (neg), mag being n little-endian digit
 * bytes (high zero digits allowed). Sets *byte when the result is a
 * SMALL_INTEGER_EXT. */
static void integer(walk_t *w, int neg, const unsigned char *mag, size_t n, int *byte) {
    while (n > 0 && mag[n - 1] == 0) n--;
    *byte = 0;
    if (n <= 4) {
        uint32_t v = 0;
        for (size_t i = n; i > 0; i--) v = v << 8 | mag[i - 1];
        if (v == 0) neg = 0;
        if (!neg && v <= 255) {
            unsigned char o[2] = {97, (unsigned char)v};
            put(w, o, 2);
            *byte = 1;
            return;
        }
        if (v <= 0x7fffffffu || (neg && v == 0x80000000u)) {
            put1(w, 98);
            put32(w, neg ? (uint32_t)(0u - v) : v);
            return;
        }
    }
    if (n <= 255) {
        unsigned char h[3] = {110, (unsigned char)n, (unsigned char)(neg != 0)};
        put(w, h, 3);
    } else {
        put1(w, 111);
        put32(w, (uint32_t)n);
        put1(w, (unsigned char)(neg != 0));
    }
    put(w, mag, n);
}

/* The old FLOAT_EXT: 31 bytes of text read as the BEAM reads it. */
static int old_float(const unsigned char *s31, double *d) {
    char s[32];
    memcpy(s, s31, 31);
    s[31] = 0;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    if (!isdigit((unsigned char)s[i])) return -1;
    while (isdigit((unsigned char)s[i])) i++;
    if (s[i] != '.' && s[i] != ',') return -1;
    size_t dp = i++;
    if (!isdigit((unsigned char)s[i])) return -1;
    while (isdigit((unsigned char)s[i])) i++;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') i++;
        if (!isdigit((unsigned char)s[i])) return -1;
        while (isdigit((unsigned char)s[i])) i++;
    }
    if (s[i] != 0) return -1;
    /* strtod reads the radix character of the locale: the other one is
     * tried when the first stops short, as the BEAM does. */
    char *end;
    *d = strtod(s, &end);
    if (end != s + i) {
        s[dp] = s[dp] == '.' ? ',' : '.';
        *d = strtod(s, &end);
        if (end != s + i) return -1;
    }
    return isfinite(*d) ? 0 : -1;
}

static int new_float(walk_t *w, double d) {
    if (!isfinite(d)) return -1;
    if (d == 0) d = 0.0; /* -0.0 */
    uint64_t u;
    memcpy(&u, &d, 8);
    put1(w, 70);
    put32(w, (uint32_t)(u >> 32));
    put32(w, (uint32_t)u);
    return 0;
}

/* ---- pids, ports, references -------------------------------------------- */

static int pid(walk_t *w, int old) {
    if (atom(w) || !has(w, old ? 9 : 12)) return -1;
    const unsigned char *p = w->b + w->pos;
    uint32_t cr = old ? p[8] : get32(p + 8);
    if (old && cr > MAX_OLD_CREATION) return -1;
    w->pos += old ? 9 : 12;
    put(w, p, 8);
    put32(w, cr);
    return 0;
}

/* tag 102 (PORT_EXT), 89 (NEW_PORT_EXT) or 120 (V4_PORT_EXT). The node
 * atom has already gone out after a placeholder tag at *tag_at. */
static int port(walk_t *w, unsigned char tag, int tag_at) {
    size_t need = tag == 102 ? 5 : tag == 89 ? 8 : 12;
    if (!has(w, need)) return -1;
    const unsigned char *p = w->b + w->pos;
    uint64_t id;
    uint32_t cr;
    if (tag == 120) {
        id = (uint64_t)get32(p) << 32 | get32(p + 4);
        cr = get32(p + 8);
    } else {
        id = get32(p);
        cr = tag == 102 ? p[4] : get32(p + 4);
        if (tag == 102 && cr > MAX_OLD_CREATION) return -1;
    }
    w->pos += need;
    if (!w->oom) w->out->buff[tag_at] = (char)(id > MAX_V3_PORT ? 120 : 89);
    if (id > MAX_V3_PORT) put32(w, (uint32_t)(id >> 32));
    put32(w, (uint32_t)id);
    put32(w, cr);
    return 0;
}

/* tag 101 (REFERENCE_EXT), 114 (NEW_REFERENCE_EXT) or 90. */
static int reference(walk_t *w, unsigned char tag) {
    size_t nw = 1;
    if (tag != 101) {
        if (!has(w, 2)) return -1;
        nw = (size_t)w->b[w->pos] << 8 | w->b[w->pos + 1];
        if (nw > 5) return -1;
        w->pos += 2;
    }
    unsigned char h[3] = {90, (unsigned char)(nw >> 8), (unsigned char)nw};
    put(w, h, 3);
    if (atom(w)) return -1;
    size_t crn = tag == 90 ? 4 : 1;
    if (!has(w, crn + 4 * nw)) return -1;
    const unsigned char *p = w->b + w->pos;
    const unsigned char *words = tag == 101 ? p : p + crn;
    uint32_t cr = tag == 90 ? get32(p) : tag == 101 ? p[4] : p[0];
    if (tag != 90 && (cr > MAX_OLD_CREATION || (nw > 0 && get32(words) > MAX_OLD_REF0))) return -1;
    w->pos += crn + 4 * nw;
    put32(w, cr);
    put(w, words, 4 * nw);
    return 0;
}

/* ---- the walk ------------------------------------------------------------ */

/* Ends the list frame f: patches its header, or rewrites it as STRING_EXT
 * when it is proper and holds only bytes. */
static void list_end(walk_t *w, frame_t *f, int proper) {
    if (w->oom) return;
    unsigned char *o = (unsigned char *)w->out->buff + f->hdr;
    if (proper && f->bytes && f->count <= MAX_STRING) {
        o[0] = 107;
        o[1] = (unsigned char)(f->count >> 8);
        o[2] = (unsigned char)f->count;
        for (uint64_t i = 0; i < f->count; i++) o[3 + i] = o[5 + 2 * i + 1];
        w->out->index = f->hdr + 3 + (int)f->count;
        return;
    }
    set32(o + 1, (uint32_t)f->count);
    if (proper) put1(w, 106);
}

/* Reads the tail of the list frame f at w->pos, which may continue the
 * list. Returns 1 if the list goes on (f->left > 0, or f became the
 * improper tail's frame), 0 if it ended, -1 on bad input. */
static int list_tail(walk_t *w, frame_t *f) {
    if (!has(w, 1)) return -1;
    unsigned char tag = w->b[w->pos];
    if (tag == 108) {
        if (!has(w, 5)) return -1;
        uint32_t n = get32(w->b + w->pos + 1);
        w->pos += 5;
        f->left = n;
        f->count += n;
        return f->count > UINT32_MAX ? -1 : 1;
    }
    if (tag == 107) {
        if (!has(w, 3)) return -1;
        size_t n = (size_t)w->b[w->pos + 1] << 8 | w->b[w->pos + 2];
        w->pos += 3;
        if (!has(w, n)) return -1;
        for (size_t i = 0; i < n; i++) {
            unsigned char e[2] = {97, w->b[w->pos + i]};
            put(w, e, 2);
        }
        w->pos += n;
        f->count += n;
        if (f->count > UINT32_MAX) return -1;
        list_end(w, f, 1);
        return 0;
    }
    if (tag == 106) {
        w->pos++;
        list_end(w, f, 1);
        return 0;
    }
    list_end(w, f, 0);
    f->kind = F_TAIL;
    f->left = 1;
    return 1;
}

/* Reads one term at w->pos and writes it, or, for a container, its header
 * (pushing a frame with *push). Sets *byte when it wrote a
 * SMALL_INTEGER_EXT. */
static int term(walk_t *w, frame_t *push, int *pushed, int *byte) {
    *pushed = 0;
    *byte = 0;
    /* A LIST_EXT of no elements is its tail. */
    while (has(w, 5) && w->b[w->pos] == 108 && get32(w->b + w->pos + 1) == 0) w->pos += 5;
    if (!has(w, 1)) return -1;
    const unsigned char *p = w->b + w->pos;
    unsigned char tag = *p;
    size_t n;
    switch (tag) {
    case 97: /* SMALL_INTEGER */
        if (!has(w, 2)) return -1;
        w->pos += 2;
        integer(w, 0, p + 1, 1, byte);
        return 0;
    case 98: { /* INTEGER */
        if (!has(w, 5)) return -1;
        int32_t v = (int32_t)get32(p + 1);
        uint32_t mag = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        unsigned char m[4] = {(unsigned char)mag, (unsigned char)(mag >> 8),
                              (unsigned char)(mag >> 16), (unsigned char)(mag >> 24)};
        w->pos += 5;
        integer(w, v < 0, m, 4, byte);
        return 0;
    }
    case 110: /* SMALL_BIG */
    case 111: /* LARGE_BIG */ {
        size_t h = tag == 110 ? 3 : 6;
        if (!has(w, h)) return -1;
        n = tag == 110 ? p[1] : get32(p + 1);
        w->pos += h;
        if (!has(w, n)) return -1;
        w->pos += n;
        integer(w, p[h - 1] != 0, p + h, n, byte);
        return 0;
    }
    case 70: { /* NEW_FLOAT */
        if (!has(w, 9)) return -1;
        uint64_t u = (uint64_t)get32(p + 1) << 32 | get32(p + 5);
        double d;
        memcpy(&d, &u, 8);
        w->pos += 9;
        return new_float(w, d);
    }
    case 99: { /* FLOAT (old) */
        double d;
        if (!has(w, 32) || old_float(p + 1, &d)) return -1;
        w->pos += 32;
        return new_float(w, d);
    }
    case 100:
    case 115:
    case 118:
    case 119:
        return atom(w);
    case 104: /* SMALL_TUPLE */
    case 105: /* LARGE_TUPLE */
        if (!has(w, tag == 104 ? 2 : 5)) return -1;
        n = tag == 104 ? p[1] : get32(p + 1);
        w->pos += tag == 104 ? 2 : 5;
        if (n <= 255) {
            unsigned char h[2] = {104, (unsigned char)n};
            put(w, h, 2);
        } else {
            put1(w, 105);
            put32(w, (uint32_t)n);
        }
        *push = (frame_t){.kind = F_TUPLE, .left = n};
        *pushed = n > 0;
        return 0;
    case 106: /* NIL */
        w->pos++;
        put1(w, 106);
        return 0;
    case 107: /* STRING: canonical as it is, unless empty */
        if (!has(w, 3)) return -1;
        n = (size_t)p[1] << 8 | p[2];
        if (!has(w, 3 + n)) return -1;
        w->pos += 3 + n;
        if (n == 0) put1(w, 106);
        else put(w, p, 3 + n);
        return 0;
    case 108: /* LIST of at least one element */
        if (!has(w, 5)) return -1;
        n = get32(p + 1);
        w->pos += 5;
        *push = (frame_t){.kind = F_LIST, .bytes = 1, .left = n, .count = n,
                          .hdr = w->out->index};
        put(w, p, 5);
        *pushed = 1;
        return 0;
    case 109: /* BINARY */
        if (!has(w, 5)) return -1;
        n = get32(p + 1);
        if (!has(w, 5 + n)) return -1;
        w->pos += 5 + n;
        put(w, p, 5 + n);
        return 0;
    case 77: { /* BIT_BINARY */
        if (!has(w, 6)) return -1;
        n = get32(p + 1);
        unsigned bits = p[5];
        if (n == 0 || bits < 1 || bits > 8 || !has(w, 6 + n)) return -1;
        w->pos += 6 + n;
        if (bits == 8) {
            put1(w, 109);
            put(w, p + 1, 4);
        } else {
            put(w, p, 6);
        }
        put(w, p + 6, n - 1);
        put1(w, (unsigned char)(p[5 + n] & (0xFF << (8 - bits))));
        return 0;
    }
    case 88: /* NEW_PID */
    case 103: /* PID */
        w->pos++;
        put1(w, 88);
        return pid(w, tag == 103);
    case 89: /* NEW_PORT */
    case 102: /* PORT */
    case 120: { /* V4_PORT */
        w->pos++;
        int at = w->out->index;
        put1(w, 89);
        if (atom(w)) return -1;
        return port(w, tag, at);
    }
    case 101: /* REFERENCE */
    case 114: /* NEW_REFERENCE */
    case 90:  /* NEWER_REFERENCE */
        w->pos++;
        return reference(w, tag);
    case 116: /* MAP */
    case 113: /* EXPORT */
    case 112: /* NEW_FUN */
    case 117: /* FUN */
        return SW_CANON_EREFUSED;
    default:
        return -1;
    }
}

static int walk(walk_t *w) {
    frame_t st[SW_TERM_MAX_DEPTH + 1];
    int sp = 0;
    st[sp++] = (frame_t){.kind = F_ROOT, .left = 1};
    while (sp > 0) {
        frame_t *f = &st[sp - 1];
        if (f->left == 0) {
            if (f->kind == F_LIST) {
                int rc = list_tail(w, f);
                if (rc < 0) return -1;
                if (rc > 0) continue;
            }
            sp--;
            continue;
        }
        f->left--;
        frame_t child;
        int pushed, byte;
        int rc = term(w, &child, &pushed, &byte);
        if (rc) return rc;
        if (f->kind == F_LIST && !byte) f->bytes = 0;
        if (pushed) {
            if (sp == SW_TERM_MAX_DEPTH + 1) return -1;
            st[sp++] = child;
        }
        if (w->oom) return SW_CANON_ENOMEM;
    }
    return w->pos == w->len ? 0 : -1;
}

int sw_canon_term(const char *in, size_t len, int utf8_atoms, ei_x_buff *out) {
    if (!in || !out || len < 2 || len > INT32_MAX || (unsigned char)in[0] != 131)
        return SW_CANON_EBAD;
    int start = out->index;
    int i = 1;
    int valid = sw_term_validate_depth(in, len, &i, SW_TERM_MAX_DEPTH) == 0 && (size_t)i == len;
    walk_t w = {.b = (const unsigned char *)in, .len = len, .pos = 1, .utf8 = utf8_atoms != 0,
                .out = out};
    put1(&w, 131);
    int rc = w.oom ? SW_CANON_ENOMEM : walk(&w);
    if (rc == 0 && w.oom) rc = SW_CANON_ENOMEM;
    /* The validator refuses closures: the walk, which stops at the first
     * map or fun, tells one in well-formed bytes from garbage. */
    if (!valid && rc != SW_CANON_EREFUSED) rc = SW_CANON_EBAD;
    if (rc != 0) out->index = start;
    return rc;
}
