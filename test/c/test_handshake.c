/* test_handshake.c - CUnit suite of handshake.c: the cookie digest against
 * vectors computed by the BEAM (erlang:md5), the message codecs (exact
 * bytes, round trips, every truncation, inputs ending at a guard page), and
 * the state machine run initiator-against-acceptor in memory, including
 * every refusal path. No sockets. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handshake.h"

/* ---- guard page: the decoder's input ends right before an unmapped page,
 * so any over-read faults (with or without ASan). */
typedef struct {
    uint8_t *base;
    size_t maplen;
} guard_t;

static const uint8_t *guarded(guard_t *g, const void *src, size_t len) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + pg - 1) / pg + 1;
    g->maplen = (data_pages + 1) * pg;
    g->base = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(g->base != MAP_FAILED);
    CU_ASSERT_FATAL(mprotect(g->base + data_pages * pg, pg, PROT_NONE) == 0);
    uint8_t *p = g->base + data_pages * pg - len;
    if (len) memcpy(p, src, len);
    return p;
}

static void unguard(guard_t *g) { munmap(g->base, g->maplen); }

/* ---- digest ----------------------------------------------------------- */

static void test_digest_vectors(void) {
    /* erlang:md5([Cookie, integer_to_list(Challenge)]) on OTP 25. */
    static const struct {
        const char *cookie;
        uint32_t challenge;
        uint8_t md5[16];
    } v[] = {
        {"secretcookie", 3735928559u,
         {0x4d, 0x97, 0x57, 0xcd, 0x7a, 0xe7, 0x73, 0xaa, 0xf1, 0xa0, 0x8d, 0x00, 0xff, 0x98, 0x13,
          0x18}},
        {"abc", 0,
         {0x57, 0x75, 0x71, 0xbe, 0x4d, 0xe9, 0xdc, 0xce, 0x85, 0xa0, 0x41, 0xba, 0x04, 0x10, 0xf2,
          0x9f}},
        {"COOKIE", 4294967295u,
         {0x88, 0xc5, 0xfc, 0xce, 0xd0, 0x16, 0xfe, 0xe7, 0x1b, 0x36, 0xaa, 0xe8, 0x7a, 0xc1, 0xb1,
          0xfe}},
        {"", 1,
         {0xc4, 0xca, 0x42, 0x38, 0xa0, 0xb9, 0x23, 0x82, 0x0d, 0xcc, 0x50, 0x9a, 0x6f, 0x75, 0x84,
          0x9b}},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[16];
        sw__hs_digest(d, v[i].cookie, v[i].challenge);
        CU_ASSERT_EQUAL(memcmp(d, v[i].md5, 16), 0);
    }
}

/* ---- codecs ------------------------------------------------------------ */

static void test_name_exact_bytes(void) {
    uint8_t out[SW_HS_ENC_MAX];
    int n = sw__hs_enc_name(out, 6, 0x0102030405060708ULL, 0xA0B0C0D0u, "a@b");
    static const uint8_t want[] = {0, 18, 'N', 1, 2, 3, 4, 5, 6, 7, 8, 0xA0, 0xB0, 0xC0, 0xD0,
                                   0, 3, 'a', '@', 'b'};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof want);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);

    n = sw__hs_enc_name(out, 5, 0x0102030405060708ULL, 7, "a@b");
    static const uint8_t want5[] = {0, 10, 'n', 0, 5, 5, 6, 7, 8, 'a', '@', 'b'};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof want5);
    CU_ASSERT_EQUAL(memcmp(out, want5, sizeof want5), 0);

    CU_ASSERT_EQUAL(sw__hs_enc_name(out, 6, 0, 0, "noat"), -1);
    CU_ASSERT_EQUAL(sw__hs_enc_name(out, 6, 0, 0, "@host"), -1);
    CU_ASSERT_EQUAL(sw__hs_enc_name(out, 6, 0, 0, "alive@"), -1);
    char longname[SW_MAXNODELEN + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[3] = '@';
    longname[sizeof longname - 1] = '\0';
    CU_ASSERT_EQUAL(sw__hs_enc_name(out, 6, 0, 0, longname), -1);
    longname[SW_MAXNODELEN] = '\0'; /* exactly the maximum is fine */
    CU_ASSERT(sw__hs_enc_name(out, 6, 0, 0, longname) > 0);
}

static void test_name_roundtrip_and_truncations(void) {
    for (int version = 5; version <= 6; version++) {
        uint8_t out[SW_HS_ENC_MAX];
        int n = sw__hs_enc_name(out, version, SW_DFLAGS_OURS, 99, "swarm_a@127.0.0.1");
        CU_ASSERT_FATAL(n > 2);
        size_t blen = (size_t)n - 2;
        for (size_t cut = 0; cut <= blen; cut++) {
            guard_t g;
            const uint8_t *m = guarded(&g, out + 2, cut);
            int v;
            uint64_t f;
            uint32_t cr;
            char name[SW_MAXNODELEN + 1];
            int r = sw__hs_dec_name(m, cut, &v, &f, &cr, name);
            if (cut == blen) {
                CU_ASSERT_EQUAL(r, 0);
                CU_ASSERT_EQUAL(v, version);
                CU_ASSERT_STRING_EQUAL(name, "swarm_a@127.0.0.1");
                CU_ASSERT_EQUAL(f, version == 6 ? SW_DFLAGS_OURS : (uint32_t)SW_DFLAGS_OURS);
                CU_ASSERT_EQUAL(cr, version == 6 ? 99u : 0u);
            } else if (version == 6 || cut < 7 + 3) {
                /* v5 names end with the message: a shorter v5 name may still
                 * parse if it keeps an '@' with a host; others must fail. */
                CU_ASSERT_EQUAL(r, -1);
            }
            unguard(&g);
        }
    }
}

static void test_name_malformed(void) {
    int v;
    uint64_t f;
    uint32_t cr;
    char name[SW_MAXNODELEN + 1];
    /* Nlen beyond the message. */
    uint8_t m1[] = {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 'a', '@', 'b'};
    CU_ASSERT_EQUAL(sw__hs_dec_name(m1, sizeof m1, &v, &f, &cr, name), -1);
    /* NUL inside the name. */
    uint8_t m2[] = {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 0, 'b'};
    CU_ASSERT_EQUAL(sw__hs_dec_name(m2, sizeof m2, &v, &f, &cr, name), -1);
    /* Unknown tag. */
    uint8_t m3[] = {'X', 0, 5, 0, 0, 0, 0, 'a', '@', 'b'};
    CU_ASSERT_EQUAL(sw__hs_dec_name(m3, sizeof m3, &v, &f, &cr, name), -1);
    /* Trailing bytes after the name are tolerated. */
    uint8_t m4[] = {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a', '@', 'b', 'z', 'z'};
    CU_ASSERT_EQUAL(sw__hs_dec_name(m4, sizeof m4, &v, &f, &cr, name), 0);
    CU_ASSERT_STRING_EQUAL(name, "a@b");
}

static void test_other_messages(void) {
    uint8_t out[SW_HS_ENC_MAX], d[16], d2[16];
    for (int i = 0; i < 16; i++) d[i] = (uint8_t)(i * 17);

    int n = sw__hs_enc_status(out, "ok_simultaneous");
    CU_ASSERT_EQUAL(n, 2 + 1 + 15);
    CU_ASSERT_EQUAL(out[0], 0);
    CU_ASSERT_EQUAL(out[1], 16);
    CU_ASSERT_EQUAL(out[2], 's');
    CU_ASSERT_EQUAL(memcmp(out + 3, "ok_simultaneous", 15), 0);

    n = sw__hs_enc_challenge(out, 6, 0x1122334455667788ULL, 0xCAFEBABE, 0x01020304, "x@y");
    static const uint8_t want[] = {0, 22, 'N', 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                   0xCA, 0xFE, 0xBA, 0xBE, 1, 2, 3, 4, 0, 3, 'x', '@', 'y'};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof want);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    for (size_t cut = 0; cut <= sizeof want - 2; cut++) {
        guard_t g;
        const uint8_t *m = guarded(&g, out + 2, cut);
        int v;
        uint64_t f;
        uint32_t ch, cr;
        char name[SW_MAXNODELEN + 1];
        int r = sw__hs_dec_challenge(m, cut, &v, &f, &ch, &cr, name);
        CU_ASSERT_EQUAL(r, cut == sizeof want - 2 ? 0 : -1);
        if (r == 0) {
            CU_ASSERT_EQUAL(v, 6);
            CU_ASSERT_EQUAL(f, 0x1122334455667788ULL);
            CU_ASSERT_EQUAL(ch, 0xCAFEBABE);
            CU_ASSERT_EQUAL(cr, 0x01020304u);
            CU_ASSERT_STRING_EQUAL(name, "x@y");
        }
        unguard(&g);
    }
    n = sw__hs_enc_challenge(out, 5, 0x1122334455667788ULL, 0xCAFEBABE, 0, "x@y");
    static const uint8_t want5[] = {0, 14, 'n', 0, 5, 0x55, 0x66, 0x77, 0x88,
                                    0xCA, 0xFE, 0xBA, 0xBE, 'x', '@', 'y'};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof want5);
    CU_ASSERT_EQUAL(memcmp(out, want5, sizeof want5), 0);

    n = sw__hs_enc_complement(out, 0xAABBCCDD00000000ULL | SW_DFLAGS_OURS, 0x05060708);
    static const uint8_t wantc[] = {0, 9, 'c', 0xAA, 0xBB, 0xCC, 0xDD, 5, 6, 7, 8};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof wantc);
    CU_ASSERT_EQUAL(memcmp(out, wantc, sizeof wantc), 0);
    uint32_t hi, cr;
    CU_ASSERT_EQUAL(sw__hs_dec_complement(out + 2, 9, &hi, &cr), 0);
    CU_ASSERT_EQUAL(hi, 0xAABBCCDDu);
    CU_ASSERT_EQUAL(cr, 0x05060708u);
    CU_ASSERT_EQUAL(sw__hs_dec_complement(out + 2, 8, &hi, &cr), -1);

    n = sw__hs_enc_reply(out, 0x01020304, d);
    CU_ASSERT_EQUAL_FATAL(n, 23);
    CU_ASSERT_EQUAL(out[1], 21);
    CU_ASSERT_EQUAL(out[2], 'r');
    uint32_t ch;
    CU_ASSERT_EQUAL(sw__hs_dec_reply(out + 2, 21, &ch, d2), 0);
    CU_ASSERT_EQUAL(ch, 0x01020304u);
    CU_ASSERT_EQUAL(memcmp(d, d2, 16), 0);
    CU_ASSERT_EQUAL(sw__hs_dec_reply(out + 2, 20, &ch, d2), -1);
    CU_ASSERT_EQUAL(sw__hs_dec_reply(out + 2, 22, &ch, d2), -1);

    n = sw__hs_enc_ack(out, d);
    CU_ASSERT_EQUAL_FATAL(n, 19);
    CU_ASSERT_EQUAL(out[2], 'a');
    memset(d2, 0, 16);
    CU_ASSERT_EQUAL(sw__hs_dec_ack(out + 2, 17, d2), 0);
    CU_ASSERT_EQUAL(memcmp(d, d2, 16), 0);
    out[2] = 'b';
    CU_ASSERT_EQUAL(sw__hs_dec_ack(out + 2, 17, d2), -1);
}

static void test_flags_and_names(void) {
    CU_ASSERT(sw__hs_flags_ok(SW_DFLAGS_MANDATORY_25));
    CU_ASSERT(sw__hs_flags_ok(SW_DFLAG_MANDATORY_25_DIGEST));
    CU_ASSERT(!sw__hs_flags_ok(SW_DFLAGS_MANDATORY_25 & ~SW_DFLAG_BIG_CREATION));
    CU_ASSERT(!sw__hs_flags_ok(0));
    CU_ASSERT(!(SW_DFLAGS_OURS & SW_DFLAG_PUBLISHED)); /* hidden */
    CU_ASSERT(!(SW_DFLAGS_OURS & SW_DFLAG_FRAGMENTS));
    CU_ASSERT(!(SW_DFLAGS_OURS & SW_DFLAG_ATOM_CACHE));
    CU_ASSERT(sw__hs_valid_name("a@b", 3));
    CU_ASSERT(!sw__hs_valid_name("ab", 2));
    CU_ASSERT(!sw__hs_valid_name("", 0));
    CU_ASSERT(!sw__hs_valid_name("a@", 2));
}

/* ---- the state machine -------------------------------------------------- */

typedef struct {
    sw__hs_status_t answer;
    int calls;
} decider_t;

static sw__hs_status_t decide(sw__hs_t *hs, void *ud) {
    decider_t *d = ud;
    d->calls++;
    return d->answer;
}

/* Delivers every message in from->out to `to`. Returns the last result (or
 * SW_HS_MORE if there was nothing to deliver). */
static sw__hs_result_t deliver(sw__hs_t *from, sw__hs_t *to, sw__hs_result_t *last_to) {
    uint8_t buf[SW_HS_OUT_MAX];
    size_t len = from->outlen, off = 0;
    memcpy(buf, from->out, len);
    from->outlen = 0;
    sw__hs_result_t r = SW_HS_MORE;
    while (off + 2 <= len) {
        size_t ml = ((size_t)buf[off] << 8) | buf[off + 1];
        CU_ASSERT_FATAL(off + 2 + ml <= len);
        guard_t g;
        const uint8_t *m = guarded(&g, buf + off + 2, ml);
        r = sw__hs_input(to, m, ml);
        unguard(&g);
        off += 2 + ml;
        if (r == SW_HS_FAILED) break;
    }
    if (last_to) *last_to = r;
    return r;
}

typedef struct {
    sw__hs_t i, a;
    decider_t d;
    sw__hs_result_t ri, ra; /* last results on each side */
    int replaced;
} pair_t;

static void pair_init(pair_t *p, const char *icookie, const char *acookie, int version,
                      uint64_t iflags, sw__hs_status_t answer, const char *expect) {
    memset(p, 0, sizeof *p);
    p->d.answer = answer;
    sw__hs_init(&p->i, 1, "init@h", icookie, iflags, 0x11111111, 12345, NULL, NULL);
    sw__hs_init(&p->a, 0, "acc@h", acookie, SW_DFLAGS_OURS, 0x22222222, 4000000000u, decide,
                &p->d);
    CU_ASSERT_EQUAL_FATAL(sw__hs_start(&p->i, expect, version), 0);
}

/* Runs the exchange until neither side has anything to send. */
static void pair_run(pair_t *p) {
    for (int turn = 0; turn < 10; turn++) {
        if (p->i.outlen == 0 && p->a.outlen == 0) return;
        if (p->i.outlen) {
            deliver(&p->i, &p->a, &p->ra);
            if (p->ra == SW_HS_DONE && p->a.stale_confirmed) p->replaced++;
        }
        if (p->a.outlen) deliver(&p->a, &p->i, &p->ri);
    }
    CU_FAIL("handshake did not settle");
}

static void test_sm_ok_v6(void) {
    pair_t p;
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ri, SW_HS_DONE);
    CU_ASSERT_EQUAL(p.ra, SW_HS_DONE);
    CU_ASSERT_EQUAL(p.d.calls, 1);
    CU_ASSERT_STRING_EQUAL(p.a.peer_name, "init@h");
    CU_ASSERT_EQUAL(p.a.peer_creation, 0x11111111u);
    CU_ASSERT_EQUAL(p.i.peer_creation, 0x22222222u);
    CU_ASSERT_EQUAL(p.a.peer_challenge, 12345u);
    CU_ASSERT_EQUAL(p.i.peer_challenge, 4000000000u);
    CU_ASSERT_EQUAL(p.a.name_version, 6);
    /* The digest shorthand is expanded for the layer above. */
    CU_ASSERT_EQUAL(p.i.peer_flags & SW_DFLAGS_MANDATORY_25, SW_DFLAGS_MANDATORY_25);
    /* Input after the end is refused. */
    uint8_t junk[] = {'a'};
    CU_ASSERT_EQUAL(sw__hs_input(&p.i, junk, 1), SW_HS_FAILED);
}

static void test_sm_ok_v5_complement(void) {
    pair_t p;
    /* Flags above bit 31 travel in the complement. */
    uint64_t flags = SW_DFLAGS_MANDATORY_25 | (1ULL << 35);
    pair_init(&p, "c", "c", 5, flags, SW_HS_STATUS_OK_SIMULTANEOUS, "acc@h");
    CU_ASSERT_EQUAL(p.i.out[2], 'n');
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ri, SW_HS_DONE);
    CU_ASSERT_EQUAL(p.ra, SW_HS_DONE);
    CU_ASSERT_EQUAL(p.a.name_version, 5);
    CU_ASSERT_EQUAL(p.a.peer_creation, 0x11111111u); /* from the complement */
    CU_ASSERT_EQUAL(p.a.peer_flags, flags);
}

static void test_sm_wrong_cookie(void) {
    pair_t p;
    pair_init(&p, "one", "two", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ra, SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.a.err, SW_HS_ERR_AUTH);
    CU_ASSERT_EQUAL(p.a.failed_in, SW_HS_ST_A_REPLY);
    CU_ASSERT_EQUAL(p.a.outlen, 0); /* no ack for a bad digest */
    CU_ASSERT_NOT_EQUAL(p.ri, SW_HS_DONE);
}

static void test_sm_bad_ack(void) {
    /* An acceptor that knows our name but not our cookie cannot produce
     * the ack: feed a forged one. */
    pair_t p;
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "acc@h");
    deliver(&p.i, &p.a, &p.ra); /* name -> status + challenge */
    deliver(&p.a, &p.i, &p.ri); /* -> reply */
    CU_ASSERT_EQUAL(p.ri, SW_HS_MORE);
    uint8_t forged[17] = {'a'};
    CU_ASSERT_EQUAL(sw__hs_input(&p.i, forged, 17), SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.i.err, SW_HS_ERR_AUTH);
}

static void test_sm_refusals(void) {
    pair_t p;
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_NOK, "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ra, SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.a.err, SW_HS_ERR_NOK);
    CU_ASSERT_EQUAL(p.ri, SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.i.err, SW_HS_ERR_NOK);

    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_NOT_ALLOWED, "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.i.err, SW_HS_ERR_NOT_ALLOWED);

    /* An initiator without the mandatory flags is told not_allowed and the
     * acceptor is not even asked. */
    pair_init(&p, "c", "c", 6, SW_DFLAGS_MANDATORY_25 & ~SW_DFLAG_MAP_TAG, SW_HS_STATUS_OK,
              "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.a.err, SW_HS_ERR_FLAGS);
    CU_ASSERT_EQUAL(p.d.calls, 0);
    CU_ASSERT_EQUAL(p.i.err, SW_HS_ERR_NOT_ALLOWED);

    /* We called another node than the one that answers. */
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "other@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ri, SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.i.err, SW_HS_ERR_NAME);
}

static void test_sm_alive(void) {
    pair_t p;
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_ALIVE, "acc@h");
    pair_run(&p);
    CU_ASSERT_EQUAL(p.replaced, 1);
    CU_ASSERT_EQUAL(p.ri, SW_HS_DONE);
    CU_ASSERT_EQUAL(p.ra, SW_HS_DONE);

    /* "true" alone replaces nothing: the acceptor goes on with its
     * challenge, and an initiator without the cookie fails there. */
    pair_init(&p, "wrong", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_ALIVE, "acc@h");
    deliver(&p.i, &p.a, &p.ra); /* name -> alive */
    CU_ASSERT_EQUAL(p.ra, SW_HS_MORE);
    CU_ASSERT_EQUAL(p.a.stale_confirmed, 0);
    deliver(&p.a, &p.i, &p.ri); /* -> true */
    deliver(&p.i, &p.a, &p.ra); /* true -> challenge */
    CU_ASSERT_EQUAL(p.ra, SW_HS_MORE);
    CU_ASSERT_EQUAL(p.a.stale_confirmed, 1);
    CU_ASSERT_EQUAL(p.a.state, SW_HS_ST_A_REPLY);
    pair_run(&p);
    CU_ASSERT_EQUAL(p.ra, SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.a.err, SW_HS_ERR_AUTH);
    CU_ASSERT_EQUAL(p.replaced, 0);

    /* "false" ends it. */
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_ALIVE, "acc@h");
    deliver(&p.i, &p.a, &p.ra);
    p.a.outlen = 0;
    uint8_t f[] = {'s', 'f', 'a', 'l', 's', 'e'};
    CU_ASSERT_EQUAL(sw__hs_input(&p.a, f, sizeof f), SW_HS_FAILED);
    CU_ASSERT_EQUAL(p.a.err, SW_HS_ERR_NOT_ALLOWED);
}

static void test_sm_garbage_each_state(void) {
    /* For every step of a good exchange, replace the next message by junk:
     * the receiving side must fail with a protocol error, never crash. */
    static const uint8_t junk[][4] = {{0}, {'z', 1, 2, 3}, {'s', 'x', 'y', 'z'}};
    for (int step = 0; step < 5; step++) {
        for (size_t j = 0; j < sizeof junk / sizeof junk[0]; j++) {
            for (size_t jl = 1; jl <= 4; jl++) {
                pair_t p;
                pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "acc@h");
                sw__hs_t *from = &p.i, *to = &p.a;
                for (int s = 0; s < step && (from->outlen); s++) {
                    deliver(from, to, NULL);
                    sw__hs_t *t = from;
                    from = to;
                    to = t;
                }
                if (to->state == SW_HS_ST_DONE || to->state == SW_HS_ST_FAILED) continue;
                guard_t g;
                const uint8_t *m = guarded(&g, junk[j], jl);
                sw__hs_result_t r = sw__hs_input(to, m, jl);
                unguard(&g);
                CU_ASSERT_EQUAL(r, SW_HS_FAILED);
                CU_ASSERT(to->err == SW_HS_ERR_PROTO || to->err == SW_HS_ERR_FLAGS);
            }
        }
    }
    /* Empty message. */
    pair_t p;
    pair_init(&p, "c", "c", 6, SW_DFLAGS_OURS, SW_HS_STATUS_OK, "acc@h");
    CU_ASSERT_EQUAL(sw__hs_input(&p.a, (const uint8_t *)"", 0), SW_HS_FAILED);
}

int test_handshake_suite(void) {
    CU_pSuite s = CU_add_suite("handshake", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "digest matches erlang:md5 vectors", test_digest_vectors) ||
        !CU_add_test(s, "send_name exact bytes", test_name_exact_bytes) ||
        !CU_add_test(s, "send_name round trip and truncations", test_name_roundtrip_and_truncations) ||
        !CU_add_test(s, "send_name malformed", test_name_malformed) ||
        !CU_add_test(s, "status/challenge/complement/reply/ack", test_other_messages) ||
        !CU_add_test(s, "flags and names", test_flags_and_names) ||
        !CU_add_test(s, "machine: v6 ok", test_sm_ok_v6) ||
        !CU_add_test(s, "machine: v5 name + complement", test_sm_ok_v5_complement) ||
        !CU_add_test(s, "machine: wrong cookie", test_sm_wrong_cookie) ||
        !CU_add_test(s, "machine: forged ack", test_sm_bad_ack) ||
        !CU_add_test(s, "machine: nok, not_allowed, flags, name", test_sm_refusals) ||
        !CU_add_test(s, "machine: alive/true replaces, false ends", test_sm_alive) ||
        !CU_add_test(s, "machine: garbage in every state", test_sm_garbage_each_state))
        return -1;
    return 0;
}
