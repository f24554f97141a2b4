/* test_ring.c - CUnit suite for c_src/ring.c.
 *
 * Vectors from the BEAM (OTP 25), with a reference HashRing written from
 * libring's definition (test/ring_SUITE.erl holds the same reference and
 * compares 10,000 random keys): node points phash2({Node, I}, 4294967295),
 * key hashes (atoms via term_to_binary, as OTP 25 and as OTP 26 write it)
 * and owners on the ring of 'a@h', 'b@h', 'c@h'. Then properties: every
 * key maps to a member, a removal moves only the removed node's keys, an
 * addition moves keys only to the new node, the collision rule, canonical
 * mode's independence from the order of joins, and the error codes.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phash2.h"
#include "ring.h"

typedef struct {
    const char *name;
    uint32_t i;
    uint32_t hash; /* erlang:phash2({Node, I}, 4294967295) */
} point_vec_t;

static const point_vec_t points[] = {
    {"n1@127.0.0.1", 1, 509464287u},   {"n1@127.0.0.1", 2, 4067650330u},
    {"n1@127.0.0.1", 128, 2078467594u}, {"n1@127.0.0.1", 300, 1094750080u},
    {"a@h", 1, 249069945u},            {"a@h", 2, 443827556u},
    {"a@h", 128, 1937405261u},         {"a@h", 300, 511405998u},
    {"\xe6\x97\xa5\xe6\x9c\xac@h", 1, 2319708812u},
    {"\xe6\x97\xa5\xe6\x9c\xac@h", 2, 669099126u},
    {"\xe6\x97\xa5\xe6\x9c\xac@h", 128, 2346734755u},
    {"\xe6\x97\xa5\xe6\x9c\xac@h", 300, 2479329469u},
};

typedef struct {
    const char *ext; /* term_to_binary(Key) on OTP 25 */
    size_t len;
    uint32_t hash25;    /* key hash as libring computes it on OTP 25 */
    const char *owner25; /* on the ring a@h, b@h, c@h */
    uint32_t hash26;    /* ... on OTP >= 26 (atoms written as UTF-8) */
    const char *owner26;
} key_vec_t;

static const key_vec_t keys[] = {
    {"\x83\x64\x00\x03\x66\x6f\x6f", 7, 355247239u, "b@h", 3066830727u, "a@h"}, /* foo */
    {"\x83\x64\x00\x05\x68\xe9\x6c\x6c\x6f", 9, 100853083u, "c@h", 2690130281u, "c@h"}, /* 'h\xe9llo' (latin1) */
    {"\x83\x77\x06\xe6\x97\xa5\xe6\x9c\xac", 9, 3868310429u, "c@h", 3868310429u, "c@h"}, /* '\u65e5\u672c' (UTF-8 only) */
    {"\x83\x6d\x00\x00\x00\x03\x66\x6f\x6f", 9, 161968632u, "c@h", 161968632u, "c@h"}, /* <<"foo">> */
    {"\x83\x68\x02\x64\x00\x01\x78\x61\x01", 9, 3264759563u, "a@h", 3264759563u, "a@h"}, /* {x, 1} */
    {"\x83\x61\x2a", 3, 701417368u, "b@h", 701417368u, "b@h"}, /* 42 */
    {"\x83\x6b\x00\x03\x61\x62\x63", 7, 519996486u, "a@h", 519996486u, "a@h"}, /* "abc" */
    {"\x83\x62\xff\xff\xff\xfb", 6, 517668864u, "a@h", 517668864u, "a@h"}, /* -5 */
    {"\x83\x6e\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40", 13, 1070946125u, "c@h", 1070946125u, "c@h"}, /* 1 bsl 70 */
    {"\x83\x68\x02\x64\x00\x04\x6e\x61\x6d\x65\x6d\x00\x00\x00\x08\x77\x6f\x72\x6b\x65\x72\x2d\x37", 23, 3512411986u, "a@h", 3512411986u, "a@h"}, /* {name, <<"worker-7">>} */
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The colliding pair: phash2({'c605@h', 114}, R) == phash2({'c955@h', 127}, R). */
#define COLL_A "c605@h"
#define COLL_B "c955@h"
#define COLL_H 1472137161u

static void test_point_vectors(void) {
    for (size_t i = 0; i < COUNT(points); i++) {
        uint32_t h = 0;
        CU_ASSERT_EQUAL(sw_ring_point_hash(points[i].name, points[i].i, &h), 0);
        CU_ASSERT_EQUAL(h, points[i].hash);
    }
    uint32_t a, b;
    CU_ASSERT_EQUAL(sw_ring_point_hash(COLL_A, 114, &a), 0);
    CU_ASSERT_EQUAL(sw_ring_point_hash(COLL_B, 127, &b), 0);
    CU_ASSERT_EQUAL(a, COLL_H);
    CU_ASSERT_EQUAL(b, COLL_H);
}

static void abc_ring(sw_ring_t *r, unsigned flags) {
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(r, flags), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(r, "a@h"), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(r, "b@h"), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(r, "c@h"), 0);
}

static void test_key_vectors(void) {
    sw_ring_t r25, r26;
    abc_ring(&r25, 0);
    abc_ring(&r26, SW_RING_ATOMS_UTF8);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r25), 384);
    for (size_t i = 0; i < COUNT(keys); i++) {
        const key_vec_t *k = &keys[i];
        uint32_t h;
        const char *owner = NULL;
        CU_ASSERT_EQUAL(sw_ring_key_hash(&r25, k->ext, k->len, &h), 0);
        CU_ASSERT_EQUAL(h, k->hash25);
        CU_ASSERT_EQUAL(sw_ring_owner_of(&r25, k->ext, k->len, &owner), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(owner);
        CU_ASSERT_STRING_EQUAL(owner, k->owner25);
        CU_ASSERT_EQUAL(sw_ring_key_hash(&r26, k->ext, k->len, &h), 0);
        CU_ASSERT_EQUAL(h, k->hash26);
        CU_ASSERT_EQUAL(sw_ring_owner_of(&r26, k->ext, k->len, &owner), 0);
        CU_ASSERT_STRING_EQUAL(owner, k->owner26);
    }
    /* The atom foo sent as SMALL_ATOM_UTF8_EXT (as OTP 26 and ei write it)
     * still hashes as each release's term_to_binary(foo). */
    uint32_t h;
    CU_ASSERT_EQUAL(sw_ring_key_hash(&r25, "\x83\x77\x03" "foo", 6, &h), 0);
    CU_ASSERT_EQUAL(h, keys[0].hash25);
    CU_ASSERT_EQUAL(sw_ring_key_hash(&r26, "\x83\x73\x03" "foo", 6, &h), 0);
    CU_ASSERT_EQUAL(h, keys[0].hash26);
    /* The key inside a larger buffer: {foo, 1} with the index on foo. */
    const char msg[] = "\x83\x68\x02\x64\x00\x03" "foo" "\x61\x01";
    int idx = 3;
    const char *owner;
    CU_ASSERT_EQUAL(sw_ring_owner_of_at(&r25, msg, sizeof msg - 1, &idx, &owner), 0);
    CU_ASSERT_EQUAL(idx, 9);
    CU_ASSERT_STRING_EQUAL(owner, keys[0].owner25);
    sw_ring_close(&r25);
    sw_ring_close(&r26);
}

static void test_collisions(void) {
    sw_ring_t r;
    const char *owner;
    /* libring: the first owner keeps a contested point... */
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, 0), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, COLL_A), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, COLL_B), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, "z@h"), 0);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 383);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, COLL_A);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H + 1, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, "z@h");
    /* ... and when it leaves, the point is gone for the other node too. */
    CU_ASSERT_EQUAL(sw_ring_remove_node(&r, COLL_A), 0);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 255);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, "z@h");
    sw_ring_close(&r);
    /* In the other order the other node keeps it. */
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, 0), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, COLL_B), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, COLL_A), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, "z@h"), 0);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, COLL_B);
    sw_ring_close(&r);
    /* Canonical mode: the smaller name wins whatever the order, and the
     * point comes back to the other node when the winner leaves. */
    for (int order = 0; order < 2; order++) {
        CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, SW_RING_CANONICAL), 0);
        CU_ASSERT_EQUAL(sw_ring_add_node(&r, order ? COLL_B : COLL_A), 0);
        CU_ASSERT_EQUAL(sw_ring_add_node(&r, order ? COLL_A : COLL_B), 0);
        CU_ASSERT_EQUAL(sw_ring_add_node(&r, "z@h"), 0);
        CU_ASSERT_EQUAL(sw_ring_point_count(&r), 383);
        CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H, &owner), 0);
        CU_ASSERT_STRING_EQUAL(owner, COLL_A);
        CU_ASSERT_EQUAL(sw_ring_remove_node(&r, COLL_A), 0);
        CU_ASSERT_EQUAL(sw_ring_point_count(&r), 256);
        CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, COLL_H, &owner), 0);
        CU_ASSERT_STRING_EQUAL(owner, COLL_B);
        sw_ring_close(&r);
    }
}

/* Keys for the properties: BINARY_EXT "key-<n>". */
#define NKEYS 20000

static size_t key_ext(char *buf, unsigned n) {
    char text[32];
    int tl = snprintf(text, sizeof text, "key-%u", n);
    buf[0] = (char)131;
    buf[1] = 109;
    buf[2] = buf[3] = buf[4] = 0;
    buf[5] = (char)tl;
    memcpy(buf + 6, text, (size_t)tl);
    return 6 + (size_t)tl;
}

/* Owners of all keys, as indexes into names[] (-1 if none). */
static void owners(const sw_ring_t *r, const char *const *names, size_t nnames, int *out) {
    char buf[64];
    for (unsigned k = 0; k < NKEYS; k++) {
        const char *o = NULL;
        size_t len = key_ext(buf, k);
        out[k] = -1;
        if (sw_ring_owner_of(r, buf, len, &o) != 0) continue;
        for (size_t i = 0; i < nnames; i++)
            if (strcmp(o, names[i]) == 0) out[k] = (int)i;
    }
}

static void test_properties(void) {
    static const char *const names[] = {"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1",
                                        "n4@127.0.0.1", "n5@127.0.0.1", "n6@127.0.0.1"};
    int *before = malloc(NKEYS * sizeof(int)), *after = malloc(NKEYS * sizeof(int));
    sw_ring_t r;
    CU_ASSERT_FATAL(before && after);
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, 0), 0);
    for (size_t i = 0; i < 5; i++) CU_ASSERT_EQUAL(sw_ring_add_node(&r, names[i]), 0);

    /* Every key maps to a member, and the load is not absurd. */
    owners(&r, names, 5, before);
    unsigned count[6] = {0};
    for (unsigned k = 0; k < NKEYS; k++) {
        CU_ASSERT(before[k] >= 0 && before[k] < 5);
        if (before[k] >= 0) count[before[k]]++;
    }
    for (size_t i = 0; i < 5; i++) CU_ASSERT(count[i] > NKEYS / 10 && count[i] < NKEYS / 2);

    /* Removing n3 moves exactly the keys n3 owned. */
    CU_ASSERT_EQUAL(sw_ring_remove_node(&r, names[2]), 0);
    owners(&r, names, 5, after);
    for (unsigned k = 0; k < NKEYS; k++) {
        CU_ASSERT(after[k] >= 0 && after[k] != 2);
        if (before[k] != 2) CU_ASSERT_EQUAL(after[k], before[k]);
    }
    /* Adding it back restores the placement (no collision among these). */
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, names[2]), 0);
    owners(&r, names, 5, after);
    CU_ASSERT_EQUAL(memcmp(before, after, NKEYS * sizeof(int)), 0);

    /* Adding n6 only moves keys to n6. */
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, names[5]), 0);
    owners(&r, names, 6, after);
    unsigned moved = 0;
    for (unsigned k = 0; k < NKEYS; k++) {
        if (after[k] != before[k]) {
            CU_ASSERT_EQUAL(after[k], 5);
            moved++;
        }
    }
    CU_ASSERT(moved > NKEYS / 12 && moved < NKEYS / 3);

    /* The order of joins does not matter (without collisions, in either
     * mode; with them, in canonical mode). */
    sw_ring_t r2;
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r2, SW_RING_CANONICAL), 0);
    for (size_t i = 6; i-- > 0;) CU_ASSERT_EQUAL(sw_ring_add_node(&r2, names[i]), 0);
    owners(&r2, names, 6, before);
    CU_ASSERT_EQUAL(memcmp(before, after, NKEYS * sizeof(int)), 0);
    sw_ring_close(&r2);

    /* nodes(): most recently added first, like HashRing.nodes/1. */
    const char *list[8];
    CU_ASSERT_EQUAL(sw_ring_nodes(&r, list, 8), 6);
    CU_ASSERT_STRING_EQUAL(list[0], names[5]);
    CU_ASSERT_STRING_EQUAL(list[1], names[2]);
    CU_ASSERT_STRING_EQUAL(list[2], names[4]);
    CU_ASSERT_STRING_EQUAL(list[5], names[0]);
    CU_ASSERT_EQUAL(sw_ring_nodes(&r, list, 2), 6);
    CU_ASSERT_EQUAL(sw_ring_node_count(&r), 6);
    CU_ASSERT(sw_ring_has_node(&r, names[3]));
    CU_ASSERT(!sw_ring_has_node(&r, "n9@127.0.0.1"));

    /* Removing everything empties it. */
    for (size_t i = 0; i < 6; i++) CU_ASSERT_EQUAL(sw_ring_remove_node(&r, names[i]), 0);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 0);
    sw_ring_close(&r);
    free(before);
    free(after);
}

static void test_weights(void) {
    sw_ring_t r;
    const char *owner;
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, 0), 0);
    CU_ASSERT_EQUAL(sw_ring_add_node_weight(&r, "a@h", 1), 0);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 1);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, 0, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, "a@h");
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, UINT32_MAX, &owner), 0); /* wraps */
    CU_ASSERT_STRING_EQUAL(owner, "a@h");
    CU_ASSERT_EQUAL(sw_ring_add_node_weight(&r, "b@h", 300), 0);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 301);
    /* b@h's 300th point sits where phash2({'b@h', 300}, R) says. */
    uint32_t h;
    CU_ASSERT_EQUAL(sw_ring_point_hash("b@h", 300, &h), 0);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, h, &owner), 0);
    CU_ASSERT_STRING_EQUAL(owner, "b@h");
    CU_ASSERT_EQUAL(sw_ring_add_node_weight(&r, "c@h", 0), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_add_node_weight(&r, "c@h", SW_RING_WEIGHT_MAX + 1), SW_RING_EINVAL);
    sw_ring_close(&r);
}

static void test_errors(void) {
    sw_ring_t r;
    const char *owner = NULL;
    uint32_t h;
    CU_ASSERT_EQUAL(sw_ring_init(NULL, 0), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_init(&r, 1u << 7), SW_RING_EINVAL);
    CU_ASSERT_EQUAL_FATAL(sw_ring_init(&r, 0), 0);
    /* Empty ring: libring's {error, {invalid_ring, no_nodes}}. */
    CU_ASSERT_EQUAL(sw_ring_owner_of(&r, keys[0].ext, keys[0].len, &owner), SW_RING_EEMPTY);
    CU_ASSERT_EQUAL(sw_ring_owner_of_hash(&r, 5, &owner), SW_RING_EEMPTY);
    CU_ASSERT_PTR_NULL(owner);
    /* Bad names. */
    char long_name[300];
    memset(long_name, 'x', 256);
    long_name[256] = '\0';
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, ""), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, NULL), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, "bad\xc3(@h"), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, long_name), SW_RING_EINVAL);
    long_name[255] = '\0';
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, long_name), 0);
    CU_ASSERT_EQUAL(sw_ring_point_hash("", 1, &h), SW_RING_EINVAL);
    CU_ASSERT_EQUAL(sw_ring_node_count(&r), 1);
    /* Membership no-ops. */
    CU_ASSERT_EQUAL(sw_ring_add_node(&r, long_name), SW_RING_EEXIST);
    CU_ASSERT_EQUAL(sw_ring_remove_node(&r, "nope@h"), SW_RING_ENOENT);
    CU_ASSERT_EQUAL(sw_ring_point_count(&r), 128);
    /* Malformed keys are refused with phash2's codes. */
    CU_ASSERT_EQUAL(sw_ring_owner_of(&r, "\x83\x64\x00\x05" "ab", 6, &owner), SW_PHASH2_ETRUNC);
    CU_ASSERT_EQUAL(sw_ring_owner_of(&r, "\x84\x61\x01", 3, &owner), SW_PHASH2_EVERSION);
    CU_ASSERT_EQUAL(sw_ring_owner_of(&r, "\x83\x61\x01\x01", 4, &owner), SW_PHASH2_ETRAILING);
    CU_ASSERT_EQUAL(sw_ring_owner_of(&r, "\x83\x77\x02\xc3\x28", 5, &owner), SW_PHASH2_EBADTERM);
    CU_ASSERT_EQUAL(sw_ring_key_hash(&r, "\x83", 1, &h), SW_PHASH2_ETRUNC);
    int idx = 5;
    CU_ASSERT_EQUAL(sw_ring_owner_of_at(&r, "\x83\x61\x01", 3, &idx, &owner), SW_PHASH2_ETRUNC);
    CU_ASSERT_EQUAL(idx, 5);
    CU_ASSERT_STRING_EQUAL(sw_ring_err_name(SW_RING_EEMPTY), "SW_RING_EEMPTY");
    CU_ASSERT_STRING_EQUAL(sw_ring_err_name(SW_PHASH2_ETRUNC), "SW_PHASH2_ETRUNC");
    CU_ASSERT(strlen(sw_ring_strerror(SW_RING_EEXIST)) > 0);
    sw_ring_close(&r);
    sw_ring_close(NULL);
}

int test_ring_suite(void) {
    CU_pSuite s = CU_add_suite("ring", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "node point vectors", test_point_vectors) ||
        !CU_add_test(s, "key vectors (OTP 25 and 26)", test_key_vectors) ||
        !CU_add_test(s, "collisions", test_collisions) ||
        !CU_add_test(s, "movement properties", test_properties) ||
        !CU_add_test(s, "weights", test_weights) ||
        !CU_add_test(s, "errors", test_errors))
        return -1;
    return 0;
}
