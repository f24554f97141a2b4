/* test_frame.c - CUnit suite of the frame reader (frame.c), without
 * sockets: a seeded random stream of frames, ticks and bad frames fed byte
 * by byte, in random splits and whole; oversized lengths; the
 * handshake-to-connected switch inside one read; a 10 MB frame (contiguous,
 * buffer within twice its size, shrinking afterwards); and the memory a
 * peer can make us hold: headers announcing huge frames followed by few
 * bytes, and a large frame trickling in. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "handshake.h"
#include "node.h"

static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

typedef struct {
    int kind;   /* sw__frame_kind_t expected */
    size_t off; /* body offset in the stream (after 112 for MSG) */
    size_t len;
} expect_t;

typedef struct {
    unsigned char *data;
    size_t len, cap;
    expect_t *ex;
    size_t nex, excap;
} stream_t;

static void s_put(stream_t *s, const void *p, size_t n) {
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->data = realloc(s->data, s->cap);
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

static void s_expect(stream_t *s, int kind, size_t off, size_t len) {
    if (s->nex == s->excap) {
        s->excap = s->excap ? s->excap * 2 : 64;
        s->ex = realloc(s->ex, s->excap * sizeof *s->ex);
    }
    s->ex[s->nex++] = (expect_t){kind, off, len};
}

static void s_frame(stream_t *s, int first, size_t blen) {
    unsigned char h[4] = {(unsigned char)(blen >> 24), (unsigned char)(blen >> 16),
                          (unsigned char)(blen >> 8), (unsigned char)blen};
    s_put(s, h, 4);
    if (blen == 0) {
        s_expect(s, SW_FRAME_TICK, 0, 0);
        return;
    }
    size_t off = s->len;
    unsigned char b = (unsigned char)first;
    s_put(s, &b, 1);
    for (size_t i = 1; i < blen; i++) {
        b = (unsigned char)rnd();
        s_put(s, &b, 1);
    }
    if (first == 112) s_expect(s, SW_FRAME_MSG, off + 1, blen - 1);
    else s_expect(s, SW_FRAME_BAD, off, blen);
}

static void make_stream(stream_t *s, uint64_t seed, int nframes) {
    memset(s, 0, sizeof *s);
    rng_state = seed;
    for (int i = 0; i < nframes; i++) {
        /* Draws sequenced explicitly: argument evaluation order differs
         * between compilers and the stream must not. */
        uint32_t k = rnd() % 100;
        uint32_t first = rnd() % 112;
        uint32_t len = rnd();
        if (k < 10) s_frame(s, 0, 0);
        else if (k < 15) s_frame(s, (int)first, 1 + len % 50);
        else if (k < 17) s_frame(s, 112, 70000 + len % 70000); /* > MIN_READ */
        else s_frame(s, 112, 1 + len % 300);
    }
}

static void free_stream(stream_t *s) {
    free(s->data);
    free(s->ex);
}

/* Feeds s into a reader in chunks chosen by mode (0: one byte, 1: random
 * 1..5000, 2: as much as offered) and checks every returned frame. */
static void feed_and_check(stream_t *s, int mode) {
    sw__reader_t r;
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    size_t pos = 0, idx = 0;
    int bad = 0;
    while (pos < s->len && !bad) {
        char *p;
        size_t room;
        CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
        CU_ASSERT_FATAL(room >= 1);
        size_t n = mode == 0 ? 1 : mode == 1 ? 1 + rnd() % 5000 : room;
        if (n > room) n = room;
        if (n > s->len - pos) n = s->len - pos;
        memcpy(p, s->data + pos, n);
        sw__reader_commit(&r, n);
        pos += n;
        for (;;) {
            const char *body = NULL;
            size_t len = 0;
            sw__frame_kind_t k = sw__reader_next(&r, &body, &len);
            if (k == SW_FRAME_NONE) break;
            if (idx >= s->nex || (int)k != s->ex[idx].kind) {
                CU_FAIL("unexpected frame kind");
                bad = 1;
                break;
            }
            if (k != SW_FRAME_TICK) {
                CU_ASSERT_EQUAL(len, s->ex[idx].len);
                if (len == s->ex[idx].len && memcmp(body, s->data + s->ex[idx].off, len) != 0) {
                    CU_FAIL("frame body differs");
                    bad = 1;
                }
            }
            idx++;
        }
    }
    CU_ASSERT_EQUAL(idx, s->nex);
    CU_ASSERT_EQUAL(sw__reader_buffered(&r), 0);
    sw__reader_free(&r);
}

static void test_reader_splits(void) {
    for (uint64_t seed = 1; seed <= 4; seed++) {
        stream_t s;
        make_stream(&s, seed * 0x9E3779B97F4A7C15ULL, 400);
        feed_and_check(&s, 0);
        feed_and_check(&s, 1);
        feed_and_check(&s, 2);
        free_stream(&s);
    }
}

static void test_reader_toobig(void) {
    sw__reader_t r;
    sw__reader_init(&r, 4, 1000);
    char *p;
    size_t room;
    const char *body;
    size_t len;
    static const unsigned char in[] = {0, 0, 0, 2, 112, 9, 0, 0, 3, 233};
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    memcpy(p, in, sizeof in);
    sw__reader_commit(&r, sizeof in);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, 1);
    CU_ASSERT_EQUAL(body[0], 9);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_TOOBIG);
    CU_ASSERT_EQUAL(len, 1001);
    CU_ASSERT_EQUAL(sw__reader_buffered(&r), 4); /* nothing consumed */
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_TOOBIG);
    /* The largest length the contract allows is accepted as a header. */
    sw__reader_free(&r);
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    unsigned char h[4] = {0x10, 0, 0, 0}; /* 256 MB exactly */
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    memcpy(p, h, 4);
    sw__reader_commit(&r, 4);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
    h[3] = 1;
    sw__reader_free(&r);
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    memcpy(p, h, 4);
    sw__reader_commit(&r, 4);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_TOOBIG);
    sw__reader_free(&r);
}

static void test_reader_mode_switch(void) {
    /* Last handshake message and two frames in one read. */
    static const unsigned char in[] = {0, 3, 'a', 'b', 'c',      /* hs message */
                                       0, 0, 0, 0,               /* tick */
                                       0, 0, 0, 3, 112, 131, 106, /* frame */
                                       0, 0};                    /* partial header */
    sw__reader_t r;
    sw__reader_init(&r, 2, SW_HS_MSG_MAX);
    char *p;
    size_t room;
    const char *body;
    size_t len;
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    memcpy(p, in, sizeof in);
    sw__reader_commit(&r, sizeof in);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(memcmp(body, "abc", 3), 0);
    sw__reader_set_mode(&r, 4, SW_NODE_MAX_FRAME);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_TICK);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL((unsigned char)body[0], 131);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
    CU_ASSERT_EQUAL(sw__reader_buffered(&r), 2);
    sw__reader_free(&r);

    /* In handshake mode an empty message is bad, not a tick. */
    sw__reader_init(&r, 2, SW_HS_MSG_MAX);
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    p[0] = 0;
    p[1] = 0;
    sw__reader_commit(&r, 2);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_BAD);
    sw__reader_free(&r);
}

/* Offers room, writes n bytes of src there, commits. */
static void put(sw__reader_t *r, const void *src, size_t n) {
    while (n) {
        char *p;
        size_t room;
        CU_ASSERT_FATAL(sw__reader_space(r, &p, &room) == 0);
        CU_ASSERT_FATAL(room >= SW_READER_MIN_READ / 2);
        size_t k = n < room ? n : room;
        memcpy(p, src, k);
        sw__reader_commit(r, k);
        src = (const char *)src + k;
        n -= k;
    }
}

static void hdr32(unsigned char h[4], size_t l) {
    h[0] = (unsigned char)(l >> 24);
    h[1] = (unsigned char)(l >> 16);
    h[2] = (unsigned char)(l >> 8);
    h[3] = (unsigned char)l;
}

static void test_reader_big(void) {
    const size_t L = 10u * 1024u * 1024u;
    sw__reader_t r;
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    char *p;
    size_t room;
    const char *body;
    size_t len;
    /* A small frame first, so the big one starts mid-buffer. */
    static const unsigned char small[] = {0, 0, 0, 2, 112, 1};
    unsigned char h[4];
    hdr32(h, L);
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    memcpy(p, small, sizeof small);
    memcpy(p + sizeof small, h, 4);
    sw__reader_commit(&r, sizeof small + 4);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
    /* The body arrives in 64 KiB reads; the buffer follows it, never more
     * than twice what arrived plus one read. */
    size_t got = 0, reallocs = 0;
    char *last = NULL;
    while (got < L) {
        CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
        if (!last || p != last + 65536) reallocs++;
        last = p;
        size_t n = L - got < 65536 ? L - got : 65536;
        if (n > room) n = room;
        for (size_t i = 0; i < n; i++) p[i] = (char)((got + i) * 7);
        if (got == 0) p[0] = 112;
        sw__reader_commit(&r, n);
        got += n;
        CU_ASSERT(r.cap <= 2 * (got + 4 + SW_READER_MIN_READ));
        if (got < L) CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
    }
    /* Doubling: a logarithmic number of moves, not one per read. */
    CU_ASSERT(reallocs <= 12);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, L - 1);
    int ok = 1;
    for (size_t i = 1; i < L && ok; i++)
        if (body[i - 1] != (char)(i * 7)) ok = 0;
    CU_ASSERT(ok);
    CU_ASSERT(r.cap >= L + 4 && r.cap < 2 * L); /* grown to fit, not doubled past it */
    /* Empty again: the big buffer is given back. */
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    CU_ASSERT_EQUAL(r.cap, SW_READER_MIN_READ);
    sw__reader_free(&r);
}

/* A header announcing a huge frame and a few bytes: the reader holds at
 * most about two minimal reads (128 KiB), not the announced size, whatever the size and however
 * the bytes are split. */
static void test_reader_announce_huge(void) {
    static const size_t sizes[] = {SW_NODE_MAX_FRAME, SW_NODE_MAX_FRAME - 1, 100u << 20,
                                   SW_READER_MIN_READ * 3, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int split = 0; split < 3; split++) {
            sw__reader_t r;
            sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
            unsigned char in[14];
            hdr32(in, sizes[i]);
            memset(in + 4, 112, 10);
            if (split == 0) {
                put(&r, in, sizeof in);
            } else if (split == 1) {
                for (size_t k = 0; k < sizeof in; k++) put(&r, in + k, 1);
            } else {
                put(&r, in, 2);
                put(&r, in + 2, 2);
                put(&r, in + 4, 10);
            }
            const char *body;
            size_t len;
            CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
            char *p;
            size_t room;
            CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
            CU_ASSERT(r.cap <= 2 * (SW_READER_MIN_READ + sizeof in));
            CU_ASSERT(room >= SW_READER_MIN_READ / 2);
            sw__reader_free(&r);
        }
    }
    /* Behind many small frames too: the partial big one is compacted to
     * the front, the buffer does not grow for it. */
    sw__reader_t r;
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    static const unsigned char small[] = {0, 0, 0, 3, 112, 1, 2};
    for (int k = 0; k < 5000; k++) put(&r, small, sizeof small);
    unsigned char h[4];
    hdr32(h, SW_NODE_MAX_FRAME);
    put(&r, h, 4);
    const char *body;
    size_t len;
    int n = 0;
    while (sw__reader_next(&r, &body, &len) == SW_FRAME_MSG) n++;
    CU_ASSERT_EQUAL(n, 5000);
    char *p;
    size_t room;
    CU_ASSERT_FATAL(sw__reader_space(&r, &p, &room) == 0);
    CU_ASSERT(r.cap <= 2 * SW_READER_MIN_READ);
    CU_ASSERT_EQUAL(sw__reader_buffered(&r), 4);
    sw__reader_free(&r);
}

/* A 100 MiB frame announced, then trickling in: at every step the buffer
 * stays within twice the bytes received plus one read; a peer must send
 * the bytes to make us hold them. */
static void test_reader_grows_with_bytes(void) {
    sw__reader_t r;
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    const size_t L = 100u << 20;
    unsigned char h[5];
    hdr32(h, L);
    h[4] = 112;
    put(&r, h, 5);
    static char chunk[300000];
    memset(chunk, 'x', sizeof chunk);
    size_t got = 1;
    size_t maxcap = 0;
    int within = 1;
    for (int k = 0; k < 40; k++) {
        size_t n = 1000 + (size_t)k * 7000; /* growing, uneven reads */
        put(&r, chunk, n);
        got += n;
        if (r.cap > maxcap) maxcap = r.cap;
        if (r.cap > 2 * (got + 4 + SW_READER_MIN_READ)) within = 0;
    }
    CU_ASSERT(within);
    CU_ASSERT(maxcap < 16u << 20); /* ~5.5 MB received of 100 MiB announced */
    const char *body;
    size_t len;
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_NONE);
    sw__reader_free(&r);
}

/* After a large frame, a few bytes of the next one in the same read: the
 * buffer still shrinks (keeping those bytes), and the next frame parses. */
static void test_reader_shrink_with_partial_next(void) {
    sw__reader_t r;
    sw__reader_init(&r, 4, SW_NODE_MAX_FRAME);
    const size_t L = 6u << 20;
    char *big = malloc(L + 4 + 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    hdr32((unsigned char *)big, L);
    memset(big + 4, 112, L);
    static const unsigned char next[] = {0, 0, 0, 3, 112, 7, 8};
    memcpy(big + 4 + L, next, 3);
    put(&r, big, L + 4 + 3);
    free(big);
    const char *body;
    size_t len;
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, L - 1);
    CU_ASSERT(r.cap > SW_READER_SHRINK_AT);
    put(&r, next + 3, sizeof next - 3);
    CU_ASSERT(r.cap <= SW_READER_MIN_READ + 8);
    CU_ASSERT_EQUAL(sw__reader_next(&r, &body, &len), SW_FRAME_MSG);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT(len == 2 && body[0] == 7 && body[1] == 8);
    CU_ASSERT_EQUAL(sw__reader_buffered(&r), 0);
    sw__reader_free(&r);
}

int test_frame_suite(void) {
    CU_pSuite s = CU_add_suite("frame", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "random frames: bytewise, random splits, whole", test_reader_splits) ||
        !CU_add_test(s, "oversized length", test_reader_toobig) ||
        !CU_add_test(s, "handshake to connected in one read", test_reader_mode_switch) ||
        !CU_add_test(s, "10 MB frame: contiguous, bounded growth, shrink", test_reader_big) ||
        !CU_add_test(s, "huge length announced, few bytes sent", test_reader_announce_huge) ||
        !CU_add_test(s, "buffer grows with the bytes received", test_reader_grows_with_bytes) ||
        !CU_add_test(s, "shrinks with part of the next frame", test_reader_shrink_with_partial_next))
        return -1;
    return 0;
}
