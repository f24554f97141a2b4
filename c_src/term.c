/* term.c - see term.h. Instead of recursing, the walker keeps one counter of
 * terms still to read: a tuple of arity N adds N, a list of length N adds
 * N + 1 (its tail), a map of arity N adds 2N. That is enough to skip terms,
 * and needs no stack. */
#include "term.h"

#include <ei.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PENDING 10000000u

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* The number of characters of the n bytes at s if they are well-formed
 * UTF-8 (shortest forms, no surrogates, at most U+10FFFF), else -1. */
static long utf8_chars(const unsigned char *s, size_t n) {
    long chars = 0;
    for (size_t i = 0; i < n; chars++) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        if (k > n - i - 1) return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return -1;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
        i += k + 1;
    }
    return chars;
}

/* Checks an atom at *pos: its length, and, as binary_to_term does, that
 * it has at most 255 characters and that a UTF-8 atom is valid UTF-8 (ei
 * would copy invalid bytes out of a pid's node, and then fail to encode
 * that pid again: half a term in an outgoing message). */
static int atom_at(const unsigned char *b, size_t len, size_t *pos) {
    if (*pos >= len) return -1;
    unsigned char tag = b[*pos];
    size_t n;
    if (tag == 100 || tag == 118) { /* ATOM_EXT, ATOM_UTF8_EXT */
        if (*pos + 3 > len) return -1;
        n = get16(b + *pos + 1);
        *pos += 3;
    } else if (tag == 115 || tag == 119) { /* SMALL_ATOM(_UTF8)_EXT */
        if (*pos + 2 > len) return -1;
        n = b[*pos + 1];
        *pos += 2;
    } else {
        return -1;
    }
    if (n > 255 * 4 || n > len - *pos) return -1;
    if (tag == 118 || tag == 119) {
        long chars = utf8_chars(b + *pos, n);
        if (chars < 0 || chars > 255) return -1;
    } else if (n > 255) {
        return -1;
    }
    *pos += n;
    return 0;
}

static int need(size_t pos, size_t n, size_t len) { return n > len || pos > len - n ? -1 : 0; }

/* The walker. With max_depth == 0 it keeps only the total of terms still to
 * read; otherwise also, per open container, how many of its elements are
 * left (left[1..depth]; left[0] is the top level), so it knows how deep it
 * is and refuses a container that would open level max_depth + 1. */
static int walk(const char *buf, size_t len, int *index, unsigned max_depth) {
    const unsigned char *b = (const unsigned char *)buf;
    if (*index < 0) return -1;
    size_t pos = (size_t)*index;
    uint64_t pending = 1;
    uint64_t left[SW_TERM_MAX_DEPTH + 1];
    unsigned depth = 0;
    if (max_depth > SW_TERM_MAX_DEPTH) max_depth = SW_TERM_MAX_DEPTH;
    left[0] = 1;
    while (pending > 0) {
        pending--;
        if (max_depth) {
            while (left[depth] == 0) depth--; /* closes finished containers */
            left[depth]--;
        }
        if (pos >= len) return -1;
        unsigned char tag = b[pos++];
        uint64_t n, opened = 0; /* elements of a container opened here */
        switch (tag) {
        case 97: /* SMALL_INTEGER */
            if (need(pos, 1, len)) return -1;
            pos += 1;
            break;
        case 98: /* INTEGER */
            if (need(pos, 4, len)) return -1;
            pos += 4;
            break;
        case 70: /* NEW_FLOAT */
            if (need(pos, 8, len)) return -1;
            pos += 8;
            break;
        case 99: /* FLOAT (old, 31 chars) */
            if (need(pos, 31, len)) return -1;
            pos += 31;
            break;
        case 100:
        case 118:
        case 115:
        case 119:
            pos--;
            if (atom_at(b, len, &pos)) return -1;
            break;
        case 104: /* SMALL_TUPLE */
            if (need(pos, 1, len)) return -1;
            opened = b[pos];
            pos += 1;
            break;
        case 105: /* LARGE_TUPLE */
            if (need(pos, 4, len)) return -1;
            opened = get32(b + pos);
            pos += 4;
            break;
        case 116: /* MAP */
            if (need(pos, 4, len)) return -1;
            opened = 2 * (uint64_t)get32(b + pos);
            pos += 4;
            break;
        case 106: /* NIL */
            break;
        case 107: /* STRING */
            if (need(pos, 2, len)) return -1;
            n = get16(b + pos);
            pos += 2;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 108: /* LIST: elements then tail */
            if (need(pos, 4, len)) return -1;
            opened = (uint64_t)get32(b + pos) + 1;
            pos += 4;
            break;
        case 109: /* BINARY */
            if (need(pos, 4, len)) return -1;
            n = get32(b + pos);
            pos += 4;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 77: /* BIT_BINARY */
            if (need(pos, 5, len)) return -1;
            n = get32(b + pos);
            if (b[pos + 4] < 1 || b[pos + 4] > 8 || (n == 0 && b[pos + 4] != 8)) return -1;
            pos += 5;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 110: /* SMALL_BIG */
            if (need(pos, 2, len)) return -1;
            n = b[pos];
            pos += 2;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 111: /* LARGE_BIG */
            if (need(pos, 5, len)) return -1;
            n = get32(b + pos);
            pos += 5;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 88: /* NEW_PID: node, id, serial, creation */
            if (atom_at(b, len, &pos) || need(pos, 12, len)) return -1;
            pos += 12;
            break;
        case 103: /* PID */
            if (atom_at(b, len, &pos) || need(pos, 9, len)) return -1;
            pos += 9;
            break;
        case 89: /* NEW_PORT */
            if (atom_at(b, len, &pos) || need(pos, 8, len)) return -1;
            pos += 8;
            break;
        case 120: /* V4_PORT */
            if (atom_at(b, len, &pos) || need(pos, 12, len)) return -1;
            pos += 12;
            break;
        case 102: /* PORT */
            if (atom_at(b, len, &pos) || need(pos, 5, len)) return -1;
            pos += 5;
            break;
        case 101: /* REFERENCE (old) */
            if (atom_at(b, len, &pos) || need(pos, 5, len)) return -1;
            pos += 5;
            break;
        case 114: /* NEW_REFERENCE: Len:16, node, creation:8, ids */
        case 90:  /* NEWER_REFERENCE: Len:16, node, creation:32, ids */
            if (need(pos, 2, len)) return -1;
            n = get16(b + pos);
            if (n > 5) return -1;
            pos += 2;
            if (atom_at(b, len, &pos)) return -1;
            n = (tag == 114 ? 1 : 4) + 4 * n;
            if (need(pos, n, len)) return -1;
            pos += n;
            break;
        case 113: /* EXPORT: module, function, arity */
            opened = 3;
            break;
        default: /* ATOM_CACHE_REF (82), LOCAL_EXT (121), funs (112, 117), unknown */
            return -1;
        }
        if (opened) {
            pending += opened;
            if (pending > MAX_PENDING) return -1;
            if (max_depth) {
                if (depth + 1 > max_depth) return -1;
                left[++depth] = opened;
            }
        }
    }
    *index = (int)pos;
    return 0;
}

int sw_term_validate(const char *buf, size_t len, int *index) {
    return walk(buf, len, index, 0);
}

int sw_term_validate_depth(const char *buf, size_t len, int *index, unsigned max_depth) {
    if (max_depth == 0) return -1;
    return walk(buf, len, index, max_depth);
}

int sw_term_skip(const char *buf, int *index) {
    /* The term was validated with its buffer's real length, so the walk
     * stops inside it whatever bound it is given. */
    return walk(buf, (size_t)INT32_MAX, index, 0);
}

int sw_term_validate_ext(const char *buf, size_t len) {
    if (len < 2 || (unsigned char)buf[0] != 131 || len > INT32_MAX) return -1;
    int i = 1;
    if (sw_term_validate(buf, len, &i)) return -1;
    return (size_t)i == len ? 0 : -1;
}

int sw_term_dec_ext_bin(const char *buf, int *index, size_t max, const char **term, size_t *len) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_BINARY_EXT) return -1;
    if (size < 2 || (size_t)size > max) return -1;
    const char *p = buf + *index + 5;
    if (sw_term_validate_ext(p, (size_t)size) != 0) return -1;
    *term = p;
    *len = (size_t)size;
    *index += 5 + size;
    return 0;
}

int sw_term_dec_raw(const char *buf, int *index, const char **raw, size_t *len) {
    int i = *index;
    if (sw_term_skip(buf, &i) != 0) return -1;
    *raw = buf + *index;
    *len = (size_t)(i - *index);
    *index = i;
    return 0;
}

void sw_term_enc_counters(ei_x_buff *x, const sw_counter_t *kv, size_t n) {
    ei_x_encode_list_header(x, (long)n);
    for (size_t i = 0; i < n; i++) {
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, kv[i].k);
        ei_x_encode_ulonglong(x, kv[i].v);
    }
    ei_x_encode_empty_list(x);
}

const char *sw_term_snprint(char *out, size_t cap, const char *buf, size_t len) {
    int i = 1;
    char *text = NULL;
    if (len < 2 || len > INT32_MAX || (unsigned char)buf[0] != 131 ||
        sw_term_validate_depth(buf, len, &i, SW_TERM_MAX_DEPTH) != 0 || (size_t)i != len) {
        snprintf(out, cap, "<term of %zu bytes>", len);
        return out;
    }
    i = 1;
    if (ei_s_print_term(&text, buf, &i) < 0 || !text) {
        free(text);
        snprintf(out, cap, "<term of %zu bytes>", len);
        return out;
    }
    size_t n = strlen(text);
    if (n < cap) {
        memcpy(out, text, n + 1);
    } else {
        memcpy(out, text, cap - 4);
        memcpy(out + cap - 4, "...", 4);
    }
    free(text);
    return out;
}
