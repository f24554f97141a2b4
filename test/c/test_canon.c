/* test_canon.c - CUnit suite of canon.c, the canonical encoding of names.
 *
 * Checked: hand-built encodings of every type against the bytes OTP 25's
 * term_to_binary(T, [deterministic]) gives (at minor_version 1 and 2),
 * including the old pid, port, reference and float forms and the BEAM's
 * limits on them; names built with ei's encoders; invalid input (no 131
 * byte, trailing bytes, every truncation, NaN, bad float strings, empty
 * bitstrings, nesting past SW_TERM_MAX_DEPTH) refused with out unchanged;
 * maps and funs refused, alone and nested; long lists at the STRING_EXT
 * bound; appending after bytes already in out; idempotence on everything
 * accepted; random mutations never crash and whatever is accepted comes
 * back unchanged from a second pass. Every input is copied into an
 * allocation of its exact size, so ASan and valgrind see a read past it. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "term.h"

/* Runs sw_canon_term on a private copy of in[0..len). */
static int canon(const void *in, size_t len, int utf8, ei_x_buff *out) {
    char *t = malloc(len ? len : 1);
    CU_ASSERT_FATAL(t != NULL);
    memcpy(t, in, len);
    int rc = sw_canon_term(t, len, utf8, out);
    free(t);
    return rc;
}

/* Parses hex digits (spaces ignored) into b; returns the length. */
static size_t unhex(const char *s, unsigned char *b) {
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9') v = *s - '0';
        else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            b[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* canon(canon(x)) == canon(x), for output out[0..len). */
static void check_idempotent(const char *c, size_t len, int utf8) {
    ei_x_buff again;
    ei_x_new(&again);
    CU_ASSERT_EQUAL_FATAL(canon(c, len, utf8, &again), 0);
    CU_ASSERT_EQUAL(again.index, (int)len);
    CU_ASSERT(memcmp(again.buff, c, len) == 0);
    CU_ASSERT_EQUAL(sw_term_validate_ext(c, len), 0);
    ei_x_free(&again);
}

/* ---- hand-built encodings ------------------------------------------------- */

typedef struct {
    const char *in;
    int utf8;
    int rc;
    const char *want; /* with 83; NULL when rc != 0 */
} case_t;

/* "A" = the atom 'a@host' as ATOM_EXT; expected bytes measured on OTP 25. */
#define AH "64 0006 61 40 68 6f 73 74"
#define AH_U "77 06 61 40 68 6f 73 74"

static const case_t cases[] = {
    /* atoms */
    {"83 64 0003 616263", 0, 0, "83 64 0003 616263"},
    {"83 77 03 616263", 0, 0, "83 64 0003 616263"},
    {"83 76 0003 616263", 0, 0, "83 64 0003 616263"},
    {"83 73 03 616263", 0, 0, "83 64 0003 616263"},
    {"83 64 0003 616263", 1, 0, "83 77 03 616263"},
    {"83 73 03 616263", 1, 0, "83 77 03 616263"},
    {"83 77 02 c3a9", 0, 0, "83 64 0001 e9"},        /* 'é' */
    {"83 64 0001 e9", 1, 0, "83 77 02 c3a9"},
    {"83 76 0003 e697a5", 0, 0, "83 77 03 e697a5"},  /* '日' */
    {"83 76 0003 e697a5", 1, 0, "83 77 03 e697a5"},
    {"83 64 0002 c3a9", 0, 0, "83 64 0002 c3a9"},    /* latin-1 'Ã©' */
    {"83 64 0000", 0, 0, "83 64 0000"},
    {"83 76 0000", 1, 0, "83 77 00"},
    {"83 77 01 00", 0, 0, "83 64 0001 00"},
    {"83 77 02 c080", 0, -1, NULL},                  /* overlong UTF-8 */
    {"83 77 03 eda080", 0, -1, NULL},                /* a surrogate */
    /* integers */
    {"83 61 00", 0, 0, "83 61 00"},
    {"83 62 000000ff", 0, 0, "83 61 ff"},
    {"83 62 00000100", 0, 0, "83 62 00000100"},
    {"83 62 ffffffff", 0, 0, "83 62 ffffffff"},
    {"83 62 80000000", 0, 0, "83 62 80000000"},
    {"83 6e 00 00", 0, 0, "83 61 00"},
    {"83 6e 00 01", 0, 0, "83 61 00"},               /* negative zero */
    {"83 6e 01 01 00", 0, 0, "83 61 00"},
    {"83 6f 00000000 01", 0, 0, "83 61 00"},
    {"83 6e 02 00 0500", 0, 0, "83 61 05"},
    {"83 6e 04 01 01000000", 0, 0, "83 62 ffffffff"},
    {"83 6e 04 01 00000080", 0, 0, "83 62 80000000"},
    {"83 6e 04 00 00000080", 0, 0, "83 6e 04 00 00000080"},
    {"83 6e 06 01 01000080 0000", 0, 0, "83 6e 04 01 01000080"},
    {"83 6e 04 00 ffffff7f", 0, 0, "83 62 7fffffff"},
    {"83 6f 00000009 00 0102030405060708 00", 0, 0, "83 6e 08 00 0102030405060708"},
    /* floats */
    {"83 46 3ff8000000000000", 0, 0, "83 46 3ff8000000000000"},
    {"83 46 8000000000000000", 0, 0, "83 46 0000000000000000"},  /* -0.0 */
    {"83 46 0000000000000001", 0, 0, "83 46 0000000000000001"},
    {"83 46 7ff0000000000000", 0, -1, NULL},                     /* inf */
    {"83 46 7ff8000000000001", 0, -1, NULL},                     /* NaN */
    {"83 63 312e35 00000000000000000000000000000000000000000000000000000000", 0, 0,
     "83 46 3ff8000000000000"},                                  /* "1.5" */
    {"83 63 312c35 00000000000000000000000000000000000000000000000000000000", 0, 0,
     "83 46 3ff8000000000000"},                                  /* "1,5" */
    {"83 63 2b312e3545 2b32 000000000000000000000000000000000000000000000000", 0, 0,
     "83 46 4062c00000000000"},                                  /* "+1.5E+2" */
    {"83 63 2d302e30 000000000000000000000000000000000000000000000000000000", 0, 0,
     "83 46 0000000000000000"},                                  /* "-0.0" */
    {"83 63 312e30652d343030 0000000000000000000000000000000000000000000000", 0, 0,
     "83 46 0000000000000000"},                                  /* "1.0e-400" */
    {"83 63 312e3065343030 000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* "1.0e400" */
    {"83 63 696e66 00000000000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* "inf" */
    {"83 63 312e 0000000000000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* "1." */
    {"83 63 2e35 0000000000000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* ".5" */
    {"83 63 2020312e35 0000000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* "  1.5" */
    {"83 63 312e3520 000000000000000000000000000000000000000000000000000000", 0, -1,
     NULL},                                                      /* "1.5 " */
    {"83 63 312e35 00 6a756e6b 0000000000000000000000000000000000000000000000", 0, 0,
     "83 46 3ff8000000000000"},                                  /* "1.5\0junk" */
    /* lists */
    {"83 6a", 0, 0, "83 6a"},
    {"83 6b 0000", 0, 0, "83 6a"},
    {"83 6c 00000000 6a", 0, 0, "83 6a"},
    {"83 6c 00000000 61 01", 0, 0, "83 61 01"},                  /* LIST_EXT(0, 1) = 1 */
    {"83 6c 00000000 6c 00000000 6b 0000", 0, 0, "83 6a"},
    {"83 6b 0003 010203", 0, 0, "83 6b 0003 010203"},
    {"83 6c 00000003 61 01 62 00000002 6e 01 00 03 6a", 0, 0, "83 6b 0003 010203"},
    {"83 6c 00000001 61 01 6c 00000001 61 02 6b 0001 03", 0, 0, "83 6b 0003 010203"},
    {"83 6c 00000001 61 01 6c 00000000 6c 00000001 61 02 6a", 0, 0, "83 6b 0002 0102"},
    {"83 6c 00000001 6c 00000000 61 05 6a", 0, 0, "83 6b 0001 05"}, /* [LIST_EXT(0, 5)] */
    {"83 6c 00000002 61 01 61 02 64 0003 666f6f", 0, 0,
     "83 6c 00000002 61 01 61 02 64 0003 666f6f"},               /* [1,2|foo] */
    {"83 6c 00000001 61 01 6c 00000001 61 02 61 03", 0, 0,
     "83 6c 00000002 61 01 61 02 61 03"},                        /* [1,2|3] */
    {"83 6c 00000001 77 01 61 6b 0002 6263", 0, 0,
     "83 6c 00000003 64 0001 61 61 62 61 63 6a"},                /* [a|"bc"] */
    {"83 6c 00000004 61 01 61 02 61 03 62 00000100 6a", 0, 0,
     "83 6c 00000004 61 01 61 02 61 03 62 00000100 6a"},
    {"83 6c 00000002 6b 0002 0102 6c 00000001 61 03 6a 6a", 0, 0,
     "83 6c 00000002 6b 0002 0102 6b 0001 03 6a"},
    {"83 6c 00000002 62 ffffffff 61 00 6a", 0, 0, "83 6c 00000002 62 ffffffff 61 00 6a"},
    /* tuples */
    {"83 68 00", 0, 0, "83 68 00"},
    {"83 69 00000000", 0, 0, "83 68 00"},
    {"83 69 00000002 77 01 61 62 00000001", 0, 0, "83 68 02 64 0001 61 61 01"},
    /* binaries and bitstrings */
    {"83 6d 00000000", 0, 0, "83 6d 00000000"},
    {"83 6d 00000002 0102", 0, 0, "83 6d 00000002 0102"},
    {"83 4d 00000001 03 ff", 0, 0, "83 4d 00000001 03 e0"},
    {"83 4d 00000002 01 ff ff", 0, 0, "83 4d 00000002 01 ff 80"},
    {"83 4d 00000001 08 07", 0, 0, "83 6d 00000001 07"},
    {"83 4d 00000000 08", 0, -1, NULL},
    {"83 4d 00000001 00 00", 0, -1, NULL},
    /* pids */
    {"83 58 " AH " 00000001 00000002 00000003", 0, 0, "83 58 " AH " 00000001 00000002 00000003"},
    {"83 58 " AH_U " ffffffff ffffffff 00000000", 0, 0,
     "83 58 " AH " ffffffff ffffffff 00000000"},
    {"83 58 " AH " 00000001 00000002 00000003", 1, 0, "83 58 " AH_U " 00000001 00000002 00000003"},
    {"83 67 " AH " 00000001 00000002 00", 0, 0, "83 58 " AH " 00000001 00000002 00000000"},
    {"83 67 " AH " ffffffff ffffffff 03", 0, 0, "83 58 " AH " ffffffff ffffffff 00000003"},
    {"83 67 " AH " 00000001 00000002 04", 0, -1, NULL},
    /* ports */
    {"83 59 " AH " 00000001 00000003", 0, 0, "83 59 " AH " 00000001 00000003"},
    {"83 59 " AH " 0fffffff 00000005", 0, 0, "83 59 " AH " 0fffffff 00000005"},
    {"83 59 " AH " 10000000 00000005", 0, 0, "83 78 " AH " 00000000 10000000 00000005"},
    {"83 59 " AH " ffffffff ffffffff", 0, 0, "83 78 " AH " 00000000 ffffffff ffffffff"},
    {"83 78 " AH " 00000000 00000001 00000003", 0, 0, "83 59 " AH " 00000001 00000003"},
    {"83 78 " AH " ffffffff ffffffff 00000005", 0, 0, "83 78 " AH " ffffffff ffffffff 00000005"},
    {"83 66 " AH " 00000001 03", 0, 0, "83 59 " AH " 00000001 00000003"},
    {"83 66 " AH " 10000000 00", 0, 0, "83 78 " AH " 00000000 10000000 00000000"},
    {"83 66 " AH " 00000001 04", 0, -1, NULL},
    /* references */
    {"83 5a 0003 " AH " 00000003 00000001 00000002 00000003", 0, 0,
     "83 5a 0003 " AH " 00000003 00000001 00000002 00000003"},
    {"83 5a 0000 " AH " 00000003", 0, 0, "83 5a 0000 " AH " 00000003"},
    {"83 5a 0001 " AH " 00000003 ffffffff", 0, 0, "83 5a 0001 " AH " 00000003 ffffffff"},
    {"83 5a 0001 " AH_U " 00000003 ffffffff", 1, 0, "83 5a 0001 " AH_U " 00000003 ffffffff"},
    {"83 72 0001 " AH " 03 0003ffff", 0, 0, "83 5a 0001 " AH " 00000003 0003ffff"},
    {"83 72 0002 " AH " 03 0003ffff 01020304", 0, 0,
     "83 5a 0002 " AH " 00000003 0003ffff 01020304"},
    {"83 72 0000 " AH " 00", 0, 0, "83 5a 0000 " AH " 00000000"},
    {"83 72 0001 " AH " 03 00040000", 0, -1, NULL},
    {"83 72 0001 " AH " 04 00000000", 0, -1, NULL},
    {"83 65 " AH " 0003ffff 03", 0, 0, "83 5a 0001 " AH " 00000003 0003ffff"},
    {"83 65 " AH " 00040000 03", 0, -1, NULL},
    {"83 65 " AH " 00000000 04", 0, -1, NULL},
    /* maps and funs: refused */
    {"83 74 00000000", 0, -2, NULL},
    {"83 68 02 61 01 74 00000001 61 01 61 02", 0, -2, NULL},
    {"83 6c 00000001 74 00000000 6a", 0, -2, NULL},
    {"83 71 64 0001 6d 64 0001 66 61 00", 0, -2, NULL},
    {"83 68 01 71 64 0001 6d 64 0001 66 61 00", 0, -2, NULL},
    {"83 70 00000010 00 0000000000000000 00", 0, -2, NULL}, /* a closure's head */
    {"83 68 02 61 01 70 00000010 00", 0, -2, NULL},
    /* garbage */
    {"83", 0, -1, NULL},
    {"84 61 01", 0, -1, NULL},
    {"83 61 01 00", 0, -1, NULL},
    {"83 52 00", 0, -1, NULL},               /* atom cache reference */
    {"83 79 00", 0, -1, NULL},               /* LOCAL_EXT */
    {"83 50 00000001 78", 0, -1, NULL},      /* compressed */
    {"83 68 02 61 01", 0, -1, NULL},
    {"83 6c 00000002 61 01", 0, -1, NULL},
    {"83 6c 00000001 61 01 6b 0003 0102", 0, -1, NULL},
};

static void test_cases(void) {
    static unsigned char in[512], want[512];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const case_t *c = &cases[k];
        size_t n = unhex(c->in, in);
        ei_x_buff out;
        ei_x_new(&out);
        int rc = canon(in, n, c->utf8, &out);
        if (rc != c->rc) fprintf(stderr, "\ncase %zu (%s): rc %d, want %d\n", k, c->in, rc, c->rc);
        CU_ASSERT_EQUAL(rc, c->rc);
        if (c->want && rc == 0) {
            size_t wn = unhex(c->want, want);
            int same = (size_t)out.index == wn && memcmp(out.buff, want, wn) == 0;
            if (!same) fprintf(stderr, "\ncase %zu (%s): wrong bytes\n", k, c->in);
            CU_ASSERT(same);
            check_idempotent(out.buff, (size_t)out.index, c->utf8);
        } else {
            CU_ASSERT_EQUAL(out.index, 0);
        }
        ei_x_free(&out);
    }
}

/* Every strict prefix of every accepted case is refused, out unchanged. */
static void test_truncations(void) {
    static unsigned char in[512];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (cases[k].rc != 0) continue;
        size_t n = unhex(cases[k].in, in);
        for (size_t l = 0; l < n; l++) {
            ei_x_buff out;
            ei_x_new(&out);
            int rc = canon(in, l, 0, &out);
            if (rc != SW_CANON_EBAD) fprintf(stderr, "\ncase %zu cut at %zu: rc %d\n", k, l, rc);
            CU_ASSERT_EQUAL(rc, SW_CANON_EBAD);
            CU_ASSERT_EQUAL(out.index, 0);
            ei_x_free(&out);
        }
    }
}

/* ---- built with ei --------------------------------------------------------- */

/* {sensor, [1,2,3], "é", -1, 1 bsl 40, 3.5} built as a C program would,
 * against term_to_binary of the BEAM (OTP 25). */
static void test_ei_built(void) {
    ei_x_buff x, out;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_atom(&x, "sensor");
    ei_x_encode_list_header(&x, 3);
    for (long i = 1; i <= 3; i++) ei_x_encode_longlong(&x, i);
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom_len_as(&x, "\xc3\xa9", 2, ERLANG_UTF8, ERLANG_UTF8);
    ei_x_encode_longlong(&x, -1);
    ei_x_encode_longlong(&x, 1LL << 40);
    ei_x_encode_double(&x, 3.5);
    static unsigned char want[128];
    size_t wn = unhex("83 68 06 64 0006 73656e736f72 6b 0003 010203 64 0001 e9 62 ffffffff"
                      " 6e 06 00 000000000001 46 400c000000000000",
                      want);
    ei_x_new(&out);
    CU_ASSERT_EQUAL_FATAL(canon(x.buff, (size_t)x.index, 0, &out), 0);
    CU_ASSERT_EQUAL(out.index, (int)wn);
    CU_ASSERT(memcmp(out.buff, want, wn) == 0);
    ei_x_free(&x);
    ei_x_free(&out);
}

/* The result is appended after what out holds; a failure leaves it. */
static void test_append(void) {
    ei_x_buff out;
    ei_x_new(&out);
    ei_x_append_buf(&out, "xyz", 3);
    static const unsigned char a[] = {131, 119, 1, 'a'};
    static const unsigned char bad[] = {131, 119, 1};
    CU_ASSERT_EQUAL(canon(a, sizeof a, 0, &out), 0);
    CU_ASSERT_EQUAL(out.index, 3 + 5);
    CU_ASSERT(memcmp(out.buff, "xyz\x83\x64\x00\x01" "a", 8) == 0);
    CU_ASSERT_EQUAL(canon(bad, sizeof bad, 0, &out), SW_CANON_EBAD);
    CU_ASSERT_EQUAL(out.index, 8);
    CU_ASSERT_EQUAL(sw_canon_term(NULL, 4, 0, &out), SW_CANON_EBAD);
    CU_ASSERT_EQUAL(sw_canon_term((const char *)a, sizeof a, 0, NULL), SW_CANON_EBAD);
    ei_x_free(&out);
}

/* ---- sizes ----------------------------------------------------------------- */

/* A list of n bytes as a C program builds it: LIST_EXT of integers. */
static void byte_list(ei_x_buff *x, long n) {
    ei_x_new_with_version(x);
    ei_x_encode_list_header(x, n);
    for (long i = 0; i < n; i++) ei_x_encode_long(x, i & 0xff);
    ei_x_encode_empty_list(x);
}

static void test_string_bound(void) {
    long sizes[] = {1, 65535, 65536};
    for (size_t k = 0; k < 3; k++) {
        long n = sizes[k];
        ei_x_buff x, out;
        byte_list(&x, n);
        ei_x_new(&out);
        CU_ASSERT_EQUAL_FATAL(canon(x.buff, (size_t)x.index, 0, &out), 0);
        const unsigned char *o = (const unsigned char *)out.buff;
        if (n <= 65535) {
            CU_ASSERT_EQUAL(out.index, 4 + (int)n);
            CU_ASSERT_EQUAL(o[1], 107);
            CU_ASSERT_EQUAL(o[2] << 8 | o[3], n);
            CU_ASSERT_EQUAL(o[4 + n - 1], (n - 1) & 0xff);
        } else {
            CU_ASSERT_EQUAL(out.index, 1 + 5 + 2 * (int)n + 1);
            CU_ASSERT_EQUAL(o[1], 108);
            CU_ASSERT_EQUAL(o[out.index - 1], 106);
        }
        check_idempotent(out.buff, (size_t)out.index, 0);
        ei_x_free(&x);
        ei_x_free(&out);
    }
}

/* Nesting: SW_TERM_MAX_DEPTH levels are accepted, one more refused. */
static void test_depth(void) {
    for (int extra = 0; extra <= 1; extra++) {
        int d = SW_TERM_MAX_DEPTH + extra;
        ei_x_buff x, out;
        ei_x_new_with_version(&x);
        for (int i = 0; i < d; i++) {
            if (i % 2) {
                ei_x_encode_tuple_header(&x, 1);
            } else {
                ei_x_encode_list_header(&x, 1);
            }
        }
        ei_x_encode_atom(&x, "a");
        for (int i = d - 1; i >= 0; i--)
            if (i % 2 == 0) ei_x_encode_empty_list(&x);
        ei_x_new(&out);
        int rc = canon(x.buff, (size_t)x.index, 0, &out);
        CU_ASSERT_EQUAL(rc, extra ? SW_CANON_EBAD : 0);
        if (rc == 0) check_idempotent(out.buff, (size_t)out.index, 0);
        ei_x_free(&x);
        ei_x_free(&out);
    }
}

/* ---- random mutations -------------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t xorshift(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Mutations of the accepted cases: never a crash; what is accepted is
 * valid external format and canonical (a second pass keeps it). */
static void test_mutations(void) {
    static unsigned char in[600];
    unsigned accepted = 0;
    for (int round = 0; round < 20000; round++) {
        const case_t *c = &cases[xorshift() % (sizeof cases / sizeof cases[0])];
        size_t n = unhex(c->in, in);
        int muts = 1 + (int)(xorshift() % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = 1 + xorshift() % (n > 1 ? n - 1 : 1);
            switch (xorshift() % 4) {
            case 0: in[at % n] = (unsigned char)xorshift(); break;
            case 1: in[at % n] ^= (unsigned char)(1u << (xorshift() % 8)); break;
            case 2: if (n > 1) n--; break;
            default:
                if (n < sizeof in) in[n++] = (unsigned char)xorshift();
            }
        }
        ei_x_buff out;
        ei_x_new(&out);
        int utf8 = (int)(xorshift() & 1);
        int rc = canon(in, n, utf8, &out);
        CU_ASSERT(rc == 0 || rc == SW_CANON_EBAD || rc == SW_CANON_EREFUSED);
        if (rc == 0) {
            accepted++;
            check_idempotent(out.buff, (size_t)out.index, utf8);
        } else {
            CU_ASSERT_EQUAL(out.index, 0);
        }
        ei_x_free(&out);
    }
    CU_ASSERT(accepted > 1000);
}

int test_canon_suite(void) {
    CU_pSuite s = CU_add_suite("canon", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "encodings of every type (OTP 25 bytes)", test_cases) ||
        !CU_add_test(s, "every truncation refused", test_truncations) ||
        !CU_add_test(s, "a name built with ei", test_ei_built) ||
        !CU_add_test(s, "appends; failure leaves out", test_append) ||
        !CU_add_test(s, "STRING_EXT bound", test_string_bound) ||
        !CU_add_test(s, "depth bound", test_depth) ||
        !CU_add_test(s, "random mutations", test_mutations))
        return -1;
    return 0;
}
