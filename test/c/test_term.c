/* test_term.c - CUnit suite of term.c, the bounds-checked validator of the
 * external term format. Every input is placed flush against an unmapped page
 * (guard page), so a read one byte past the end faults with or without ASan.
 *
 * Checked: valid terms of every type accepted with the index right past them
 * (built with ei's encoders and hard-coded bytes produced by the BEAM's
 * term_to_binary, OTP 25); every strict prefix of each refused with the index
 * unchanged; lying length fields (binary, list, tuple, map, string, big,
 * atom, reference); 1,000,000 nested lists and tuples walked without
 * recursion, and the 10,000,000 pending-element limit at its boundary;
 * the depth bound at its boundary and the iterative skip;
 * atom cache references, LOCAL_EXT and funs refused, alone and
 * inside containers; random mutations of valid terms never crash, and
 * whatever the validator accepts ei_skip_term can walk without reading past
 * the end, stopping where the validator stopped. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "term.h"

/* ---- guard page -------------------------------------------------------- */

typedef struct {
    char *base;
    size_t data; /* bytes usable before the guard page */
    size_t maplen;
} guard_t;

static void guard_open(guard_t *g, size_t cap) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (cap + pg - 1) / pg + 1;
    g->data = pages * pg;
    g->maplen = g->data + pg;
    g->base = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(g->base != MAP_FAILED);
    CU_ASSERT_FATAL(mprotect(g->base + g->data, pg, PROT_NONE) == 0);
}

static void guard_close(guard_t *g) { munmap(g->base, g->maplen); }

/* Copies len bytes of src so that the last one sits right before the guard
 * page; returns where they start. */
static const char *flush(guard_t *g, const void *src, size_t len) {
    CU_ASSERT_FATAL(len <= g->data);
    char *p = g->base + g->data - len;
    if (len) memmove(p, src, len);
    return p;
}

/* ---- corpus of valid terms (each with its 131 byte) -------------------- */

typedef struct {
    const char *what;
    size_t len;
    unsigned char *bytes;
} sample_t;

static sample_t corpus[96];
static int ncorpus;

static void add_sample(const char *what, const void *bytes, size_t len) {
    CU_ASSERT_FATAL(ncorpus < (int)(sizeof corpus / sizeof corpus[0]));
    sample_t *s = &corpus[ncorpus++];
    s->what = what;
    s->len = len;
    s->bytes = malloc(len);
    memcpy(s->bytes, bytes, len);
}

#define ADD_BYTES(what, ...)                                  \
    do {                                                      \
        static const unsigned char b_[] = {__VA_ARGS__};      \
        add_sample(what, b_, sizeof b_);                      \
    } while (0)

static void add_x(const char *what, ei_x_buff *x) {
    add_sample(what, x->buff, (size_t)x->index);
    ei_x_free(x);
}

static void x_begin(ei_x_buff *x) { ei_x_new_with_version(x); }

static void build_corpus(void) {
    ei_x_buff x;
    if (ncorpus) return;

    /* Built with ei. */
    x_begin(&x); ei_x_encode_long(&x, 7); add_x("small integer", &x);
    x_begin(&x); ei_x_encode_long(&x, -123456); add_x("integer", &x);
    x_begin(&x); ei_x_encode_longlong(&x, 1LL << 40); add_x("ei small big", &x);
    x_begin(&x); ei_x_encode_ulonglong(&x, UINT64_MAX); add_x("ei big u64", &x);
    x_begin(&x); ei_x_encode_double(&x, 3.5); add_x("new float", &x);
    x_begin(&x); ei_x_encode_atom(&x, "worker"); add_x("small utf8 atom", &x);
    {
        char a[256];
        memset(a, 'z', 255);
        a[255] = 0;
        x_begin(&x); ei_x_encode_atom(&x, a); add_x("255-char atom", &x);
        x_begin(&x); ei_x_encode_atom_len_as(&x, a, 200, ERLANG_LATIN1, ERLANG_LATIN1);
        add_x("latin1 atom", &x);
    }
    x_begin(&x); ei_x_encode_string(&x, "hello"); add_x("ei string", &x);
    x_begin(&x); ei_x_encode_empty_list(&x); add_x("nil", &x);
    x_begin(&x); ei_x_encode_binary(&x, "abc", 3); add_x("binary", &x);
    x_begin(&x); ei_x_encode_binary(&x, "", 0); add_x("empty binary", &x);
    x_begin(&x); ei_x_encode_bitstring(&x, "\xff\x80", 0, 9); add_x("bitstring 9 bits", &x);
    {
        erlang_pid p;
        memset(&p, 0, sizeof p);
        strcpy(p.node, "a@127.0.0.1");
        p.num = 42;
        p.serial = 1;
        p.creation = 0x12345678;
        x_begin(&x); ei_x_encode_pid(&x, &p); add_x("ei pid", &x);
        erlang_port pt;
        memset(&pt, 0, sizeof pt);
        strcpy(pt.node, "a@127.0.0.1");
        pt.id = 5;
        pt.creation = 3;
        x_begin(&x); ei_x_encode_port(&x, &pt); add_x("ei port", &x);
        pt.id = 1ULL << 40;
        x_begin(&x); ei_x_encode_port(&x, &pt); add_x("ei v4 port", &x);
        erlang_ref r;
        memset(&r, 0, sizeof r);
        strcpy(r.node, "a@127.0.0.1");
        r.len = 3;
        r.n[0] = 1; r.n[1] = 2; r.n[2] = 3;
        r.creation = 9;
        x_begin(&x); ei_x_encode_ref(&x, &r); add_x("ei ref", &x);
        r.len = 5;
        x_begin(&x); ei_x_encode_ref(&x, &r); add_x("ei ref 5 words", &x);
    }
    x_begin(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "worker");
    ei_x_encode_long(&x, 17);
    add_x("{worker, 17}", &x);
    x_begin(&x);
    ei_x_encode_tuple_header(&x, 300);
    for (int i = 0; i < 300; i++) ei_x_encode_long(&x, i * 1000);
    add_x("large tuple", &x);
    x_begin(&x);
    ei_x_encode_list_header(&x, 3);
    ei_x_encode_atom(&x, "a");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_tuple_header(&x, 0);
    ei_x_encode_empty_list(&x);
    add_x("nested list", &x);
    x_begin(&x);
    ei_x_encode_map_header(&x, 2);
    ei_x_encode_atom(&x, "k");
    ei_x_encode_map_header(&x, 0);
    ei_x_encode_binary(&x, "v", 1);
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_double(&x, -0.5);
    add_x("map", &x);
    {
        /* LARGE_BIG: 2^2100, as term_to_binary encodes it. */
        unsigned char b[270];
        memset(b, 0, sizeof b);
        b[0] = 131; b[1] = 111; b[2] = 0; b[3] = 0; b[4] = 1; b[5] = 7; b[6] = 0;
        b[269] = 16;
        add_sample("large big 2^2100", b, sizeof b);
    }

    /* term_to_binary output (OTP 25). */
    ADD_BYTES("small big 2^64", 131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    ADD_BYTES("negative big -2^70", 131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 64);
    ADD_BYTES("bitstring <<5:3>>", 131, 77, 0, 0, 0, 1, 3, 160);
    ADD_BYTES("bitstring <<1,2,3:7>>", 131, 77, 0, 0, 0, 3, 7, 1, 2, 6);
    ADD_BYTES("map #{a=>1, <<\"k\">>=>[x]}", 131, 116, 0, 0, 0, 2, 100, 0, 1, 97, 97, 1, 109, 0, 0,
              0, 1, 107, 108, 0, 0, 0, 1, 100, 0, 1, 120, 106);
    ADD_BYTES("empty map", 131, 116, 0, 0, 0, 0);
    ADD_BYTES("make_ref()", 131, 90, 0, 3, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111,
              104, 111, 115, 116, 0, 0, 0, 0, 0, 0, 18, 81, 168, 52, 0, 1, 119, 111, 14, 78);
    ADD_BYTES("port", 131, 89, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111,
              115, 116, 0, 0, 0, 0, 0, 0, 0, 0);
    ADD_BYTES("self()", 131, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104,
              111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0);
    ADD_BYTES("string \"hello\"", 131, 107, 0, 5, 104, 101, 108, 108, 111);
    ADD_BYTES("improper list [1|2]", 131, 108, 0, 0, 0, 1, 97, 1, 97, 2);
    ADD_BYTES("old float 1.5", 131, 99, 49, 46, 53, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
              48, 48, 48, 48, 48, 48, 48, 48, 101, 43, 48, 48, 0, 0, 0, 0, 0);
    ADD_BYTES("new float -2.25", 131, 70, 192, 2, 0, 0, 0, 0, 0, 0);
    ADD_BYTES("ATOM_EXT abc", 131, 100, 0, 3, 97, 98, 99);
    ADD_BYTES("latin1 atom h\xc3\xa9llo", 131, 100, 0, 5, 104, 233, 108, 108, 111);
    ADD_BYTES("fun lists:map/2", 131, 113, 100, 0, 5, 108, 105, 115, 116, 115, 100, 0, 3, 109,
              97, 112, 97, 2);
    ADD_BYTES("{worker, 7, [a, {<<\"x\">>, 3.0}], #{k => [1|foo]}}", 131, 104, 4, 100, 0, 6, 119,
              111, 114, 107, 101, 114, 97, 7, 108, 0, 0, 0, 2, 100, 0, 1, 97, 104, 2, 109, 0, 0,
              0, 1, 120, 70, 64, 8, 0, 0, 0, 0, 0, 0, 106, 116, 0, 0, 0, 1, 100, 0, 1, 107, 108,
              0, 0, 0, 1, 97, 1, 100, 0, 3, 102, 111, 111);
    ADD_BYTES("-100000", 131, 98, 255, 254, 121, 96);
    ADD_BYTES("<<>>", 131, 109, 0, 0, 0, 0);

    /* Older encodings, by hand. */
    ADD_BYTES("SMALL_ATOM_EXT ab", 131, 115, 2, 97, 98);
    ADD_BYTES("ATOM_UTF8_EXT \xc3\xa9", 131, 118, 0, 2, 0xc3, 0xa9);
    ADD_BYTES("empty atom", 131, 119, 0);
    ADD_BYTES("PID_EXT", 131, 103, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 2, 3);
    ADD_BYTES("PORT_EXT", 131, 102, 119, 1, 97, 0, 0, 0, 1, 3);
    ADD_BYTES("REFERENCE_EXT", 131, 101, 119, 1, 97, 0, 0, 0, 1, 3);
    ADD_BYTES("NEW_REFERENCE_EXT", 131, 114, 0, 2, 119, 1, 97, 3, 0, 0, 0, 1, 0, 0, 0, 2);
    ADD_BYTES("V4_PORT_EXT", 131, 120, 119, 1, 97, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7);
    ADD_BYTES("LARGE_TUPLE_EXT empty", 131, 105, 0, 0, 0, 0);
    ADD_BYTES("SMALL_TUPLE_EXT empty", 131, 104, 0);
    ADD_BYTES("binary in list", 131, 108, 0, 0, 0, 2, 109, 0, 0, 0, 2, 1, 2, 104, 0, 106);
}

static void free_corpus(void) {
    for (int i = 0; i < ncorpus; i++) free(corpus[i].bytes);
    ncorpus = 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Validates buf[0..len) (no 131) flush against the guard; returns the
 * validator's result and stores the index it reached. */
static int check_raw(guard_t *g, const void *src, size_t len, int *end) {
    const char *p = flush(g, src, len);
    int i = 0;
    int r = sw_term_validate(p, len, &i);
    if (r != 0) CU_ASSERT_EQUAL(i, 0); /* index unchanged on failure */
    *end = i;
    return r;
}

static int check_ext(guard_t *g, const void *src, size_t len) {
    return sw_term_validate_ext(flush(g, src, len), len);
}

/* ---- tests ------------------------------------------------------------- */

static void test_valid_terms(void) {
    guard_t g;
    build_corpus();
    guard_open(&g, 4096);
    for (int k = 0; k < ncorpus; k++) {
        const sample_t *s = &corpus[k];
        int end;
        int ok = check_raw(&g, s->bytes + 1, s->len - 1, &end) == 0 && end == (int)s->len - 1;
        if (!ok) fprintf(stderr, "\n  refused valid term: %s\n", s->what);
        CU_ASSERT(ok);
        CU_ASSERT_EQUAL(check_ext(&g, s->bytes, s->len), 0);
        /* A term followed by another: the index stops between them. */
        unsigned char *two = malloc(2 * s->len);
        memcpy(two, s->bytes + 1, s->len - 1);
        memcpy(two + s->len - 1, s->bytes + 1, s->len - 1);
        CU_ASSERT_EQUAL(check_raw(&g, two, 2 * (s->len - 1), &end), 0);
        CU_ASSERT_EQUAL(end, (int)s->len - 1);
        /* ..., and _ext wants exactly one. */
        two[0] = (char)131;
        memcpy(two + 1, s->bytes + 1, s->len - 1);
        memcpy(two + s->len, s->bytes + 1, s->len - 1);
        CU_ASSERT_EQUAL(check_ext(&g, two, 2 * s->len - 1), -1);
        free(two);
        /* ei agrees on where the term ends. */
        int i = 1;
        CU_ASSERT_EQUAL(ei_skip_term((const char *)s->bytes, &i), 0);
        CU_ASSERT_EQUAL(i, (int)s->len);
    }
    /* A start index inside the buffer, and bad indexes. */
    static const unsigned char pair[] = {97, 1, 97, 2};
    const char *p = flush(&g, pair, sizeof pair);
    int i = 2;
    CU_ASSERT_EQUAL(sw_term_validate(p, sizeof pair, &i), 0);
    CU_ASSERT_EQUAL(i, 4);
    CU_ASSERT_EQUAL(sw_term_validate(p, sizeof pair, &i), -1);
    CU_ASSERT_EQUAL(i, 4);
    i = -1;
    CU_ASSERT_EQUAL(sw_term_validate(p, sizeof pair, &i), -1);
    i = 100;
    CU_ASSERT_EQUAL(sw_term_validate(p, sizeof pair, &i), -1);
    /* _ext: missing or wrong version byte, empty. */
    CU_ASSERT_EQUAL(check_ext(&g, "\x83", 1), -1);
    CU_ASSERT_EQUAL(check_ext(&g, "", 0), -1);
    CU_ASSERT_EQUAL(check_ext(&g, "\x82\x61\x01", 3), -1);
    CU_ASSERT_EQUAL(check_ext(&g, "\x61\x01", 2), -1);
    guard_close(&g);
}

static void test_truncations(void) {
    guard_t g;
    build_corpus();
    guard_open(&g, 4096);
    for (int k = 0; k < ncorpus; k++) {
        const sample_t *s = &corpus[k];
        for (size_t cut = 0; cut < s->len - 1; cut++) {
            int end;
            int r = check_raw(&g, s->bytes + 1, cut, &end);
            if (r != -1) fprintf(stderr, "\n  prefix %zu of %s accepted\n", cut, s->what);
            CU_ASSERT_EQUAL(r, -1);
            CU_ASSERT_EQUAL(check_ext(&g, s->bytes, cut + 1), -1);
        }
    }
    guard_close(&g);
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_lying_lengths(void) {
    guard_t g;
    guard_open(&g, 4096);
    unsigned char b[64];
    int end;
    /* BINARY_EXT claiming 4 GiB - 1 bytes, 3 present. */
    b[0] = 109; put32(b + 1, 0xFFFFFFFFu); b[5] = b[6] = b[7] = 1;
    CU_ASSERT_EQUAL(check_raw(&g, b, 8, &end), -1);
    /* ... and one byte short of what it claims. */
    put32(b + 1, 3);
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
    CU_ASSERT_EQUAL(check_raw(&g, b, 8, &end), 0);
    /* BIT_BINARY_EXT: huge length, and bad bit counts. */
    b[0] = 77; put32(b + 1, 0xFFFFFFF0u); b[5] = 3;
    CU_ASSERT_EQUAL(check_raw(&g, b, 10, &end), -1);
    put32(b + 1, 1); b[5] = 0; b[6] = 0;
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
    b[5] = 9;
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
    b[5] = 8;
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), 0);
    /* LIST_EXT claiming 2^32 - 1 elements, then a few. */
    b[0] = 108; put32(b + 1, 0xFFFFFFFFu); b[5] = 97; b[6] = 1; b[7] = 106;
    CU_ASSERT_EQUAL(check_raw(&g, b, 8, &end), -1);
    /* ... just under the element limit but not present. */
    put32(b + 1, 9000000u);
    CU_ASSERT_EQUAL(check_raw(&g, b, 8, &end), -1);
    /* LARGE_TUPLE_EXT and MAP_EXT with huge arities. */
    b[0] = 105; put32(b + 1, 0xFFFFFFFFu); b[5] = 106;
    CU_ASSERT_EQUAL(check_raw(&g, b, 6, &end), -1);
    b[0] = 116; put32(b + 1, 0x80000000u); b[5] = 106; b[6] = 106;
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
    b[0] = 116; put32(b + 1, 1); /* a map of one pair with only the key */
    CU_ASSERT_EQUAL(check_raw(&g, b, 6, &end), -1);
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), 0);
    /* STRING_EXT claiming 65535 bytes. */
    b[0] = 107; b[1] = 0xFF; b[2] = 0xFF; b[3] = 'a';
    CU_ASSERT_EQUAL(check_raw(&g, b, 4, &end), -1);
    /* SMALL_BIG_EXT with 255 digits, 2 present; LARGE_BIG_EXT 4 GiB. */
    b[0] = 110; b[1] = 255; b[2] = 0; b[3] = 1; b[4] = 2;
    CU_ASSERT_EQUAL(check_raw(&g, b, 5, &end), -1);
    b[0] = 111; put32(b + 1, 0xFFFFFFFFu); b[5] = 0; b[6] = 1;
    CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
    /* Atoms: ATOM_EXT of 65535 bytes; an atom longer than 255 characters
     * can hold (1021 bytes) even when present. */
    b[0] = 100; b[1] = 0xFF; b[2] = 0xFF; b[3] = 'a';
    CU_ASSERT_EQUAL(check_raw(&g, b, 4, &end), -1);
    {
        unsigned char big[1100];
        memset(big, 'a', sizeof big);
        big[0] = 118; big[1] = 1021 >> 8; big[2] = 1021 & 0xFF;
        CU_ASSERT_EQUAL(check_raw(&g, big, 3 + 1021, &end), -1);
        /* 1020 bytes: 255 four-byte characters pass, 1020 ASCII ones
         * (over 255 characters) do not, as binary_to_term. */
        big[1] = 1020 >> 8; big[2] = 1020 & 0xFF;
        CU_ASSERT_EQUAL(check_raw(&g, big, 3 + 1020, &end), -1);
        for (int i = 0; i < 255; i++) memcpy(big + 3 + 4 * i, "\xF0\x9F\x98\x80", 4);
        CU_ASSERT_EQUAL(check_raw(&g, big, 3 + 1020, &end), 0);
        /* Not UTF-8: a stray continuation byte, a truncated sequence, an
         * overlong form, a surrogate, beyond U+10FFFF; Latin-1 atoms of
         * 255 bytes pass, of 256 not. */
        static const char *bad[] = {"b\xff\xff", "a\x80", "\xE2\x82", "\xC0\xAF", "\xED\xA0\x80",
                                    "\xF4\x90\x80\x80"};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            size_t l = strlen(bad[k]);
            big[0] = 119;
            big[1] = (unsigned char)l;
            memcpy(big + 2, bad[k], l);
            CU_ASSERT_EQUAL(check_raw(&g, big, 2 + l, &end), -1);
            big[0] = 115; /* the same bytes as Latin-1: fine */
            CU_ASSERT_EQUAL(check_raw(&g, big, 2 + l, &end), 0);
        }
        big[0] = 100; big[1] = 0; big[2] = 255;
        memset(big + 3, 0xE9, 256);
        CU_ASSERT_EQUAL(check_raw(&g, big, 3 + 255, &end), 0);
        big[2] = 0; big[1] = 1;
        CU_ASSERT_EQUAL(check_raw(&g, big, 3 + 256, &end), -1);
    }
    b[0] = 119; b[1] = 200; b[2] = 'a';
    CU_ASSERT_EQUAL(check_raw(&g, b, 3, &end), -1);
    /* A pid whose node is not an atom; a pid short of its fields. */
    static const unsigned char pid_int_node[] = {88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(check_raw(&g, pid_int_node, sizeof pid_int_node, &end), -1);
    static const unsigned char pid_short[] = {88, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(check_raw(&g, pid_short, sizeof pid_short, &end), -1);
    /* NEWER_REFERENCE_EXT: 0xFFFF id words; 6 words (more than a ref has). */
    static const unsigned char ref_huge[] = {90, 0xFF, 0xFF, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 1};
    CU_ASSERT_EQUAL(check_raw(&g, ref_huge, sizeof ref_huge, &end), -1);
    unsigned char ref6[3 + 3 + 4 + 24];
    memset(ref6, 0, sizeof ref6);
    ref6[0] = 90; ref6[2] = 6; ref6[3] = 119; ref6[4] = 1; ref6[5] = 97;
    CU_ASSERT_EQUAL(check_raw(&g, ref6, sizeof ref6, &end), -1);
    ref6[2] = 5;
    CU_ASSERT_EQUAL(check_raw(&g, ref6, sizeof ref6 - 4, &end), 0);
    guard_close(&g);
}

/* N nested one-element lists around [] ([[[...[]...]]]), or N nested
 * one-tuples around [] ({{{...[]...}}}). */
static unsigned char *nest(size_t n, int tuples, size_t *len) {
    size_t per = tuples ? 2 : 6;
    *len = n * per + 1;
    unsigned char *b = malloc(*len);
    CU_ASSERT_FATAL(b != NULL);
    unsigned char *p = b;
    for (size_t i = 0; i < n; i++) {
        if (tuples) {
            *p++ = 104;
            *p++ = 1;
        } else {
            *p++ = 108;
            put32(p, 1);
            p += 4;
        }
    }
    *p++ = 106;
    if (!tuples)
        for (size_t i = 0; i < n; i++) *p++ = 106; /* the tails */
    return b;
}

static void test_deep_nesting(void) {
    for (int tuples = 0; tuples <= 1; tuples++) {
        size_t len;
        unsigned char *b = nest(1000000, tuples, &len);
        guard_t g;
        guard_open(&g, len);
        int end;
        CU_ASSERT_EQUAL(check_raw(&g, b, len, &end), 0);
        CU_ASSERT_EQUAL((size_t)end, len);
        /* Truncated anywhere: refused, still without recursion. */
        CU_ASSERT_EQUAL(check_raw(&g, b, len - 1, &end), -1);
        CU_ASSERT_EQUAL(check_raw(&g, b, len / 2, &end), -1);
        CU_ASSERT_EQUAL(check_raw(&g, b, 7, &end), -1);
        guard_close(&g);
        free(b);
    }
    /* The element limit, with every element present: a flat list of
     * 9,999,999 [] (10,000,000 terms pending with its tail) passes, one
     * more is refused before the elements are read. */
    size_t len = 5 + 10000000u + 1;
    unsigned char *b = malloc(len);
    CU_ASSERT_FATAL(b != NULL);
    memset(b, 106, len);
    guard_t g;
    guard_open(&g, len);
    int end;
    b[0] = 108;
    put32(b + 1, 9999999u);
    CU_ASSERT_EQUAL(check_raw(&g, b, len - 1, &end), 0);
    CU_ASSERT_EQUAL((size_t)end, len - 1);
    put32(b + 1, 10000000u);
    CU_ASSERT_EQUAL(check_raw(&g, b, len, &end), -1);
    guard_close(&g);
    free(b);
}

/* Depth-bounded validation: exactly max_depth levels pass, one more is
 * refused (lists, tuples, maps, and a mix of siblings that close and
 * reopen levels); 200,000 levels are refused without recursion, and
 * sw_term_skip walks a million levels without recursion. */
static void test_depth_bound(void) {
    guard_t g;
    int end;
    for (int tuples = 0; tuples <= 1; tuples++) {
        size_t len;
        unsigned char *b = nest(SW_TERM_MAX_DEPTH, tuples, &len);
        guard_open(&g, len + 16);
        char *p = g.base + g.data - len;
        memcpy(p, b, len);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate_depth(p, len, &end, SW_TERM_MAX_DEPTH), 0);
        CU_ASSERT_EQUAL((size_t)end, len);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate_depth(p, len, &end, SW_TERM_MAX_DEPTH - 1), -1);
        CU_ASSERT_EQUAL(end, 0);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate_depth(p, len, &end, 0), -1);
        guard_close(&g);
        free(b);
        b = nest(SW_TERM_MAX_DEPTH + 1, tuples, &len);
        guard_open(&g, len);
        p = g.base + g.data - len;
        memcpy(p, b, len);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate_depth(p, len, &end, SW_TERM_MAX_DEPTH), -1);
        guard_close(&g);
        free(b);
        b = nest(200000, tuples, &len);
        guard_open(&g, len);
        p = g.base + g.data - len;
        memcpy(p, b, len);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate_depth(p, len, &end, SW_TERM_MAX_DEPTH), -1);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_validate(p, len, &end), 0);
        guard_close(&g);
        free(b);
        b = nest(1000000, tuples, &len);
        end = 0;
        CU_ASSERT_EQUAL(sw_term_skip((const char *)b, &end), 0);
        CU_ASSERT_EQUAL((size_t)end, len);
        free(b);
    }
    /* Siblings: {[[a]], [[a]], #{k => [[a]]}} is depth 4 (tuple, map,
     * list, list); closing one branch gives its levels back. */
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_tuple_header(&x, 3);
    for (int i = 0; i < 2; i++) {
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_atom(&x, "a");
        ei_x_encode_empty_list(&x);
        ei_x_encode_empty_list(&x);
    }
    ei_x_encode_map_header(&x, 1);
    ei_x_encode_atom(&x, "k");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_atom(&x, "a");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    end = 0;
    CU_ASSERT_EQUAL(sw_term_validate_depth(x.buff, (size_t)x.index, &end, 4), 0);
    CU_ASSERT_EQUAL(end, x.index);
    end = 0;
    CU_ASSERT_EQUAL(sw_term_validate_depth(x.buff, (size_t)x.index, &end, 3), -1);
    end = 0;
    CU_ASSERT_EQUAL(sw_term_skip(x.buff, &end), 0);
    CU_ASSERT_EQUAL(end, x.index);
    ei_x_free(&x);
}

static void test_refused_tags(void) {
    guard_t g;
    guard_open(&g, 4096);
    int end;
    /* ATOM_CACHE_REF alone, as a pid's node, inside a tuple and a list. */
    static const unsigned char cache[] = {82, 0};
    CU_ASSERT_EQUAL(check_raw(&g, cache, sizeof cache, &end), -1);
    static const unsigned char cache_pid[] = {88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(check_raw(&g, cache_pid, sizeof cache_pid, &end), -1);
    static const unsigned char cache_tuple[] = {104, 2, 97, 1, 82, 3};
    CU_ASSERT_EQUAL(check_raw(&g, cache_tuple, sizeof cache_tuple, &end), -1);
    static const unsigned char cache_list[] = {108, 0, 0, 0, 1, 82, 3, 106};
    CU_ASSERT_EQUAL(check_raw(&g, cache_list, sizeof cache_list, &end), -1);
    CU_ASSERT_EQUAL(check_ext(&g, "\x83\x52\x00", 3), -1);
    /* LOCAL_EXT, NEW_FUN_EXT (term_to_binary(fun() -> ok end)), FUN_EXT,
     * the distribution header (68), compressed terms (80), unknown tags. */
    static const unsigned char local[] = {121, 97, 1};
    CU_ASSERT_EQUAL(check_raw(&g, local, sizeof local, &end), -1);
    static const unsigned char newfun[] = {
        112, 0, 0, 0, 73, 0, 34, 57, 238, 252, 135, 72, 217, 79, 224, 190, 2, 31, 37, 136, 50,
        113, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 5, 115, 119, 103, 101, 110, 97, 0, 98, 1, 17, 207,
        119, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0,
        0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(check_raw(&g, newfun, sizeof newfun, &end), -1);
    static const unsigned char oldfun[] = {117, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(check_raw(&g, oldfun, sizeof oldfun, &end), -1);
    static const unsigned char disthdr[] = {68, 0};
    CU_ASSERT_EQUAL(check_raw(&g, disthdr, sizeof disthdr, &end), -1);
    static const unsigned char zlib[] = {80, 0, 0, 0, 1, 120, 156};
    CU_ASSERT_EQUAL(check_raw(&g, zlib, sizeof zlib, &end), -1);
    for (int tag = 0; tag < 256; tag++) {
        static const int known[] = {97, 98, 70, 99, 100, 118, 115, 119, 104, 105, 116, 106, 107,
                                    108, 109, 77, 110, 111, 88, 103, 89, 120, 102, 101, 114, 90,
                                    113};
        int is_known = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) is_known |= known[k] == tag;
        if (is_known) continue;
        unsigned char one[8] = {(unsigned char)tag, 0, 0, 0, 0, 0, 0, 0};
        CU_ASSERT_EQUAL(check_raw(&g, one, sizeof one, &end), -1);
    }
    guard_close(&g);
}

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_mutations(void) {
    guard_t g;
    build_corpus();
    guard_open(&g, 4096);
    static const unsigned char interesting[] = {0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF, 82, 97, 104,
                                                105, 106, 107, 108, 109, 116, 119};
    unsigned char m[2048];
    long accepted = 0;
    rng_state = 0x7465726d;
    for (int round = 0; round < 400; round++) {
        for (int k = 0; k < ncorpus; k++) {
            const sample_t *s = &corpus[k];
            size_t len = s->len - 1;
            memcpy(m, s->bytes + 1, len);
            int edits = 1 + (int)(rnd() % 4);
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)(rnd() % len);
                switch (rnd() % 5) {
                case 0: m[at] ^= (unsigned char)(1u << (rnd() % 8)); break;
                case 1: m[at] = (unsigned char)rnd(); break;
                case 2: m[at] = interesting[rnd() % sizeof interesting]; break;
                case 3: /* lengthen: duplicate a byte */
                    if (len + 1 < sizeof m) {
                        memmove(m + at + 1, m + at, len - at);
                        len++;
                    }
                    break;
                default: /* shorten: drop a byte */
                    if (len > 1) {
                        memmove(m + at, m + at + 1, len - at - 1);
                        len--;
                    }
                    break;
                }
            }
            int end;
            if (check_raw(&g, m, len, &end) == 0) {
                accepted++;
                CU_ASSERT(end > 0 && (size_t)end <= len);
                /* What the validator passes, ei can walk inside the buffer
                 * (the guard page faults otherwise). */
                const char *p = g.base + g.data - len;
                int i = 0;
                if (ei_skip_term(p, &i) == 0) CU_ASSERT_EQUAL(i, end);
            }
        }
    }
    /* Mutations hit both sides of the validator. */
    CU_ASSERT(accepted > 100);
    CU_ASSERT(accepted < 400L * ncorpus);
    guard_close(&g);
}

/* Names as text for log lines: printed, cut, or summarised when too deep
 * or not a term. */
static void test_snprint(void) {
    char out[32];
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "worker");
    ei_x_encode_long(&x, 12);
    CU_ASSERT_STRING_EQUAL(sw_term_snprint(out, sizeof out, x.buff, (size_t)x.index), "{worker, 12}");
    ei_x_free(&x);
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, "a_long_atom_that_does_not_fit_in_32_bytes");
    sw_term_snprint(out, sizeof out, x.buff, (size_t)x.index);
    CU_ASSERT_EQUAL(strlen(out), sizeof out - 1);
    CU_ASSERT_STRING_EQUAL(out + sizeof out - 4, "...");
    CU_ASSERT_EQUAL(strncmp(out, "a_long_atom", 11), 0);
    ei_x_free(&x);
    ei_x_new_with_version(&x);
    for (int i = 0; i < SW_TERM_MAX_DEPTH + 1; i++) ei_x_encode_list_header(&x, 1);
    ei_x_encode_empty_list(&x);
    for (int i = 0; i < SW_TERM_MAX_DEPTH + 1; i++) ei_x_encode_empty_list(&x);
    char want[32];
    snprintf(want, sizeof want, "<term of %d bytes>", x.index);
    CU_ASSERT_STRING_EQUAL(sw_term_snprint(out, sizeof out, x.buff, (size_t)x.index), want);
    /* Truncated: not a term. */
    CU_ASSERT_STRING_EQUAL(sw_term_snprint(out, sizeof out, x.buff, 5), "<term of 5 bytes>");
    ei_x_free(&x);
}

static int cleanup(void) {
    free_corpus();
    return 0;
}

int test_term_suite(void) {
    CU_pSuite s = CU_add_suite("term", NULL, cleanup);
    if (!s) return -1;
    if (!CU_add_test(s, "valid terms of every type", test_valid_terms) ||
        !CU_add_test(s, "every truncation refused", test_truncations) ||
        !CU_add_test(s, "lying lengths", test_lying_lengths) ||
        !CU_add_test(s, "1e6 nested lists and tuples", test_deep_nesting) ||
        !CU_add_test(s, "depth bound, iterative skip", test_depth_bound) ||
        !CU_add_test(s, "atom cache refs, funs, unknown tags refused", test_refused_tags) ||
        !CU_add_test(s, "random mutations", test_mutations) ||
        !CU_add_test(s, "names as text for logs", test_snprint))
        return -1;
    return 0;
}
