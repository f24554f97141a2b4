/* canon_check - compares sw_canon_term with encodings made by the BEAM.
 *
 * Usage: canon_check [FILE]      (standard input without FILE)
 *
 * FILE is a sequence of records
 *   <<Len:32, In:Len/binary, Utf8:8, Expect:8, WLen:32, Want:WLen/binary>>
 * (big-endian) written by test/phash2_SUITE.erl: In is some valid encoding
 * of a term T (with 131), Utf8 the utf8_atoms argument, Expect 0 when T is
 * a name (then Want is the BEAM's canonical encoding of T:
 * term_to_binary(T, [deterministic]) with -0.0 as 0.0, at minor_version 1
 * or 2 by Utf8) or 2 when T holds a map or a fun (Want is empty).
 *
 * Every record is checked three ways: In made canonical; In decoded and
 * encoded again through ei the way a C program would build it (UTF-8 atom
 * tags, lists of small integers as LIST_EXT pieces, integers through
 * ei_x_encode_longlong or padded bignums, old float strings, large tuple
 * headers), then made canonical; and, for names, Want made canonical again
 * (it must come back unchanged). Each disagreement is reported with the
 * term printed by ei_print_term (the first 20, the rest counted).
 *
 * Prints "checked N terms, M mismatches" last. Exit status: 0 when all
 * agreed, 1 on mismatches, 2 on a malformed file or I/O error.
 */
#include <ei.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"

#define MAX_REPORTED 20

static uint32_t rd32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static unsigned char *slurp(FILE *f, size_t *len) {
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ---- re-encoding through ei ----------------------------------------------- */

static uint64_t rng_state;

static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng_state >> 33) % n);
}

static void put_u32(ei_x_buff *x, uint32_t v) {
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    ei_x_append_buf(x, b, 4);
}

static void put_u8(ei_x_buff *x, unsigned v) {
    char c = (char)v;
    ei_x_append_buf(x, &c, 1);
}

/* Copies the term at buf[*i] unchanged. */
static int copy_raw(const char *buf, int *i, ei_x_buff *x) {
    int s = *i;
    if (ei_skip_term(buf, i) < 0) return -1;
    return ei_x_append_buf(x, buf + s, *i - s);
}

/* An integer as a bignum with up to 3 zero bytes of padding. */
static int enc_padded_big(ei_x_buff *x, const char *buf, int *i) {
    int type, size;
    ei_get_type(buf, i, &type, &size);
    const unsigned char *p = (const unsigned char *)buf + *i;
    unsigned char mag[8];
    size_t n = 0;
    int neg = 0;
    if (type == ERL_SMALL_INTEGER_EXT) {
        mag[n++] = p[1];
        *i += 2;
    } else if (type == ERL_INTEGER_EXT) {
        int32_t v = (int32_t)rd32(p + 1);
        uint32_t m = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        neg = v < 0;
        for (; n < 4; n++) mag[n] = (unsigned char)(m >> (8 * n));
        *i += 5;
    } else {
        size_t h = type == ERL_SMALL_BIG_EXT ? 3 : 6;
        size_t dn = type == ERL_SMALL_BIG_EXT ? p[1] : rd32(p + 1);
        neg = p[h - 1] != 0;
        size_t pad = rnd(4);
        put_u8(x, ERL_LARGE_BIG_EXT);
        put_u32(x, (uint32_t)(dn + pad));
        put_u8(x, (unsigned)neg);
        ei_x_append_buf(x, (const char *)p + h, (int)dn);
        for (size_t k = 0; k < pad; k++) put_u8(x, 0);
        *i += (int)(h + dn);
        return 0;
    }
    size_t pad = rnd(4);
    put_u8(x, ERL_SMALL_BIG_EXT);
    put_u8(x, (unsigned)(n + pad));
    put_u8(x, (unsigned)neg);
    ei_x_append_buf(x, (const char *)mag, (int)n);
    for (size_t k = 0; k < pad; k++) put_u8(x, 0);
    return 0;
}

static int reenc(const char *buf, int *i, ei_x_buff *x, int depth);

/* Past this depth (pieces of chained lists included) a list is written
 * in one piece: each piece nests its successor one level deeper, and the
 * C side refuses terms deeper than SW_TERM_MAX_DEPTH (128), so splitting
 * the pieces of an input that is already chained again and again could
 * make a valid name too deep. */
#define SPLIT_MAX_DEPTH 64

/* n elements (then the tail) of a list, in LIST_EXT pieces of random
 * sizes, chained through their tails. */
static int reenc_list(const char *buf, int *i, ei_x_buff *x, int n, int depth) {
    while (n > 0) {
        int split = depth < SPLIT_MAX_DEPTH;
        int k = split ? 1 + (int)rnd((unsigned)n) : n;
        if (split && rnd(6) == 0) { /* an empty piece (ei would write NIL_EXT) */
            put_u8(x, ERL_LIST_EXT);
            put_u32(x, 0);
            depth++;
        }
        ei_x_encode_list_header(x, k);
        for (int j = 0; j < k; j++)
            if (reenc(buf, i, x, depth + 1) < 0) return -1;
        n -= k;
        depth++; /* the next piece (or the tail) is nested in this one */
    }
    return reenc(buf, i, x, depth + 1); /* the tail */
}

static int reenc(const char *buf, int *i, ei_x_buff *x, int depth) {
    int type, size;
    if (depth > 200 || ei_get_type(buf, i, &type, &size) < 0) return -1;
    type = (unsigned char)buf[*i]; /* ei_get_type calls LIST_EXT(0, Tail) NIL */
    switch (type) {
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT: {
        long long v;
        int j = *i;
        if (rnd(2) == 0 && ei_decode_longlong(buf, &j, &v) == 0) {
            *i = j;
            return ei_x_encode_longlong(x, v);
        }
        return enc_padded_big(x, buf, i);
    }
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT: {
        double d;
        if (ei_decode_double(buf, i, &d) < 0) return -1;
        if (rnd(2) == 0) return ei_x_encode_double(x, d);
        char s[32] = {0};
        snprintf(s, sizeof s, "%.20e", d);
        put_u8(x, ERL_FLOAT_EXT);
        return ei_x_append_buf(x, s, 31);
    }
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT: {
        /* Its text as UTF-8 (an atom may hold NUL characters). */
        const unsigned char *p = (const unsigned char *)buf + *i;
        int small = type == ERL_SMALL_ATOM_EXT || type == ERL_SMALL_ATOM_UTF8_EXT;
        size_t n = small ? p[1] : (size_t)p[1] << 8 | p[2];
        const unsigned char *s = p + (small ? 2 : 3);
        *i += (int)(s - p + n);
        char a[MAXATOMLEN_UTF8];
        size_t an = 0;
        for (size_t k = 0; k < n; k++) {
            if (type == ERL_ATOM_UTF8_EXT || type == ERL_SMALL_ATOM_UTF8_EXT || s[k] < 0x80) {
                a[an++] = (char)s[k];
            } else {
                a[an++] = (char)(0xC0 | s[k] >> 6);
                a[an++] = (char)(0x80 | (s[k] & 0x3F));
            }
        }
        if (rnd(2) == 0) return ei_x_encode_atom_len_as(x, a, (int)an, ERLANG_UTF8, ERLANG_UTF8);
        put_u8(x, ERL_ATOM_UTF8_EXT);
        put_u8(x, (unsigned)(an >> 8));
        put_u8(x, (unsigned)an);
        return ei_x_append_buf(x, a, (int)an);
    }
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT: {
        int n;
        if (ei_decode_tuple_header(buf, i, &n) < 0) return -1;
        if (rnd(2) == 0) {
            ei_x_encode_tuple_header(x, n);
        } else {
            put_u8(x, ERL_LARGE_TUPLE_EXT);
            put_u32(x, (uint32_t)n);
        }
        for (int j = 0; j < n; j++)
            if (reenc(buf, i, x, depth + 1) < 0) return -1;
        return 0;
    }
    case ERL_NIL_EXT:
        (*i)++;
        if (rnd(3) == 0) {
            put_u8(x, ERL_STRING_EXT);
            put_u8(x, 0);
            put_u8(x, 0);
            return 0;
        }
        return ei_x_encode_empty_list(x);
    case ERL_STRING_EXT: {
        /* As a C program builds a list of bytes: LIST_EXT of integers. */
        const unsigned char *p = (const unsigned char *)buf + *i;
        size = p[1] << 8 | p[2];
        int n = size;
        *i += 3 + n;
        while (n > 0) {
            int k = 1 + (int)rnd((unsigned)n);
            ei_x_encode_list_header(x, k);
            for (int j = 0; j < k; j++) ei_x_encode_long(x, *(p + 3 + size - n + j));
            n -= k;
        }
        return ei_x_encode_empty_list(x);
    }
    case ERL_LIST_EXT: {
        int n = (int)rd32((const unsigned char *)buf + *i + 1);
        *i += 5;
        return reenc_list(buf, i, x, n, depth);
    }
    case ERL_BINARY_EXT: {
        const unsigned char *p = (const unsigned char *)buf + *i;
        size = (int)rd32(p + 1);
        *i += 5 + size;
        return ei_x_encode_binary(x, p + 5, size);
    }
    case ERL_BIT_BINARY_EXT: {
        const char *p;
        unsigned off;
        size_t bits;
        if (ei_decode_bitstring(buf, i, &p, &off, &bits) < 0) return -1;
        return ei_x_encode_bitstring(x, p, off, bits);
    }
    case ERL_NEW_PID_EXT:
    case ERL_PID_EXT: {
        erlang_pid pid;
        if (ei_decode_pid(buf, i, &pid) < 0) return -1;
        return ei_x_encode_pid(x, &pid);
    }
    case ERL_NEW_PORT_EXT:
    case ERL_PORT_EXT:
    case ERL_V4_PORT_EXT: {
        erlang_port port;
        if (ei_decode_port(buf, i, &port) < 0) return -1;
        return ei_x_encode_port(x, &port);
    }
    case ERL_NEWER_REFERENCE_EXT:
    case ERL_NEW_REFERENCE_EXT:
    case ERL_REFERENCE_EXT: {
        erlang_ref ref;
        if (ei_decode_ref(buf, i, &ref) < 0) return -1;
        return ei_x_encode_ref(x, &ref);
    }
    default: /* maps, funs: as they are (they must be refused) */
        return copy_raw(buf, i, x);
    }
}

/* ---- checking ------------------------------------------------------------ */

static void hex(const char *what, const char *b, size_t len) {
    printf("  %s:", what);
    for (size_t i = 0; i < len && i < 256; i++) printf(" %02x", (unsigned char)b[i]);
    if (len > 256) printf(" ... (%zu bytes)", len);
    printf("\n");
}

/* Canonicalises in (copied to an allocation of its own, so that ASan and
 * valgrind see a read past its end) and compares with the expectation. */
static int check_one(const char *in, size_t len, int utf8, int expect, const char *want,
                     size_t wlen, ei_x_buff *got) {
    char *t = malloc(len ? len : 1);
    if (!t) return -2;
    memcpy(t, in, len);
    got->index = 0;
    int rc = sw_canon_term(t, len, utf8, got);
    free(t);
    if (expect == 2) return rc == SW_CANON_EREFUSED ? 0 : -1;
    if (rc != 0 || (size_t)got->index != wlen || memcmp(got->buff, want, wlen) != 0) return -1;
    return 0;
}

static void report(unsigned long recno, const char *what, const char *in, size_t len,
                   int expect, const char *want, size_t wlen, const ei_x_buff *got) {
    printf("MISMATCH record %lu (%s), expected %s\n  term: ", recno, what,
           expect ? "refusal" : "success");
    int idx = 1;
    if (len < 2 || ei_print_term(stdout, in, &idx) < 0) printf("(not printable)");
    printf("\n");
    hex("in", in, len);
    hex("want", want, wlen);
    hex("got", got->buff, (size_t)got->index);
}

int main(int argc, char **argv) {
    FILE *f = stdin;
    if (argc > 1 && !(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 2;
    }
    size_t len;
    unsigned char *data = slurp(f, &len);
    if (f != stdin) fclose(f);
    if (!data) {
        fprintf(stderr, "canon_check: cannot read input\n");
        return 2;
    }
    ei_init();
    rng_state = 0x5eed;

    ei_x_buff got, alt;
    ei_x_new(&got);
    ei_x_new(&alt);
    unsigned long n = 0, bad = 0;
    size_t pos = 0;
    int status = 0;
    while (pos < len) {
        size_t tlen, wlen;
        if (len - pos < 4 || len - pos - 4 < (tlen = rd32(data + pos)) ||
            len - pos - 4 - tlen < 6 ||
            len - pos - 10 - tlen < (wlen = rd32(data + pos + 4 + tlen + 2))) {
            fprintf(stderr, "canon_check: truncated record %lu at byte %zu\n", n, pos);
            status = 2;
            break;
        }
        const char *in = (const char *)data + pos + 4;
        int utf8 = data[pos + 4 + tlen], expect = data[pos + 4 + tlen + 1];
        const char *want = in + tlen + 6;
        pos += 10 + tlen + wlen;

        int mism = 0;
        if (check_one(in, tlen, utf8, expect, want, wlen, &got) != 0) {
            if (bad + mism < MAX_REPORTED) report(n, "as given", in, tlen, expect, want, wlen, &got);
            mism = 1;
        }
        alt.index = 0;
        ei_x_encode_version(&alt);
        int i = 1;
        if (reenc(in, &i, &alt, 0) < 0 || (size_t)i != tlen) {
            printf("record %lu: ei could not re-encode it\n", n);
            mism = 1;
        } else if (check_one(alt.buff, (size_t)alt.index, utf8, expect, want, wlen, &got) != 0) {
            if (bad + mism < MAX_REPORTED)
                report(n, "re-encoded by ei", alt.buff, (size_t)alt.index, expect, want, wlen, &got);
            mism = 1;
        }
        if (expect == 0 && check_one(want, wlen, utf8, 0, want, wlen, &got) != 0) {
            if (bad + mism < MAX_REPORTED) report(n, "idempotence", want, wlen, 0, want, wlen, &got);
            mism = 1;
        }
        bad += mism;
        n++;
    }
    ei_x_free(&got);
    ei_x_free(&alt);
    free(data);
    printf("checked %lu terms, %lu mismatches\n", n, bad);
    if (status) return status;
    return bad ? 1 : 0;
}
