/* test_control.c - CUnit suite of the control channel (control.c) on real
 * pipes and a private libuv loop: frames in, whole and split, a frame over
 * the limit, EOF; a large frame (contiguous, the buffer shrinking after
 * it); a large write that does not block while nobody reads, then arrives
 * whole and in order; a write after the reader is gone. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "control.h"

typedef struct {
    int frames;
    size_t bytes;
    int ok;       /* every frame had the expected content */
    int ended, err;
    size_t big;   /* length of the largest frame */
} seen_t;

/* Frames carry bytes (i + offset) & 0xff: checkable whatever their size. */
static void fill(char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (char)((i + seed) & 0xff);
}

static void on_frame(sw_control_t *c, const char *body, size_t len, void *ud) {
    seen_t *s = ud;
    (void)c;
    unsigned seed = len ? (unsigned char)body[0] : 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)body[i] != ((i + seed) & 0xff)) s->ok = 0;
    s->frames++;
    s->bytes += len;
    if (len > s->big) s->big = len;
}

static void on_end(sw_control_t *c, int err, void *ud) {
    seen_t *s = ud;
    (void)c;
    s->ended++;
    s->err = err;
}

static void put_frame(int fd, size_t len, unsigned seed) {
    char *b = malloc(4 + len);
    b[0] = (char)(len >> 24), b[1] = (char)(len >> 16), b[2] = (char)(len >> 8), b[3] = (char)len;
    fill(b + 4, len, seed);
    size_t off = 0;
    while (off < 4 + len) {
        ssize_t w = write(fd, b + off, 4 + len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(b);
}

/* Runs the loop until cond(s) or 10 s; returns cond(s). */
static int run_until(uv_loop_t *loop, seen_t *s, int (*cond)(seen_t *)) {
    for (int i = 0; i < 10000 && !cond(s); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (!cond(s)) usleep(1000);
    }
    return cond(s);
}

static int ended(seen_t *s) { return s->ended > 0; }

static void close_all(sw_control_t *c, uv_loop_t *loop) {
    sw_control_close(c);
    uv_run(loop, UV_RUN_DEFAULT);
    CU_ASSERT_EQUAL(uv_loop_close(loop), 0);
}

/* Frames written in one go and one byte at a time are handed on whole, in
 * order; EOF ends the channel with UV_EOF. */
static void test_frames_in(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sw_control_t c;
    seen_t s = {.ok = 1};
    CU_ASSERT_FATAL(sw_control_init(&c, &loop, in[0], out[1], on_frame, on_end, &s) == 0);
    put_frame(in[1], 0, 0);
    put_frame(in[1], 10, 3);
    put_frame(in[1], 1000, 7);
    /* One frame trickling in byte by byte. */
    char b[4 + 300];
    b[0] = 0, b[1] = 0, b[2] = 1, b[3] = 44;
    fill(b + 4, 300, 9);
    for (size_t i = 0; i < sizeof b; i++) {
        CU_ASSERT_EQUAL(write(in[1], b + i, 1), 1);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    close(in[1]);
    CU_ASSERT(run_until(&loop, &s, ended));
    CU_ASSERT_EQUAL(s.frames, 4);
    CU_ASSERT_EQUAL(s.bytes, 1310u);
    CU_ASSERT(s.ok);
    CU_ASSERT_EQUAL(s.err, UV_EOF);
    close_all(&c, &loop);
    close(out[0]);
}

/* A header announcing more than the limit ends the channel (UV_E2BIG)
 * before any byte of that frame is awaited; frames before it came. */
static void test_too_big(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sw_control_t c;
    seen_t s = {.ok = 1};
    CU_ASSERT_FATAL(sw_control_init(&c, &loop, in[0], out[1], on_frame, on_end, &s) == 0);
    sw_control_set_max(&c, 100);
    put_frame(in[1], 100, 1);
    CU_ASSERT_EQUAL(write(in[1], "\0\0\0\x65", 4), 4); /* 101 */
    CU_ASSERT(run_until(&loop, &s, ended));
    CU_ASSERT_EQUAL(s.frames, 1);
    CU_ASSERT_EQUAL(s.err, UV_E2BIG);
    close_all(&c, &loop);
    close(in[1]);
    close(out[0]);
}

typedef struct {
    int fd;
    size_t len;
    unsigned seed;
    char *got; /* for the reader */
    size_t gotlen;
} io_t;

static void *writer(void *arg) {
    io_t *w = arg;
    put_frame(w->fd, w->len, w->seed);
    return NULL;
}

static void *reader(void *arg) {
    io_t *r = arg;
    r->got = malloc(r->len);
    while (r->gotlen < r->len) {
        ssize_t n = read(r->fd, r->got + r->gotlen, r->len - r->gotlen);
        if (n <= 0) break;
        r->gotlen += (size_t)n;
    }
    return NULL;
}

static int got_one(seen_t *s) { return s->frames >= 1; }

/* A 6 MiB frame arrives contiguous and whole; the read buffer shrinks back
 * once it is consumed. */
static void test_large_in(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sw_control_t c;
    seen_t s = {.ok = 1};
    CU_ASSERT_FATAL(sw_control_init(&c, &loop, in[0], out[1], on_frame, on_end, &s) == 0);
    sw_control_set_max(&c, 8u << 20);
    io_t w = {.fd = in[1], .len = 6u << 20, .seed = 5};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, writer, &w) == 0);
    CU_ASSERT(run_until(&loop, &s, got_one));
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(s.big, 6u << 20);
    CU_ASSERT(s.ok);
    CU_ASSERT(c.cap <= SW_CONTROL_SHRINK_AT);
    close_all(&c, &loop);
    close(in[1]);
    close(out[0]);
}

/* A 4 MiB frame is queued at once though nobody reads (the pipe takes
 * 64 KiB); then a reader gets it whole, behind a small frame written
 * before it, and the queue empties. */
static void test_write_nonblocking(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sw_control_t c;
    seen_t s = {.ok = 1};
    CU_ASSERT_FATAL(sw_control_init(&c, &loop, in[0], out[1], on_frame, on_end, &s) == 0);
    size_t big = 4u << 20;
    char *body = malloc(big);
    fill(body, big, 11);
    CU_ASSERT_EQUAL(sw_control_write(&c, "ab", 2, "c", 1), 0);
    CU_ASSERT_EQUAL(sw_control_write(&c, body, 100, body + 100, big - 100), 0);
    CU_ASSERT(sw_control_queued(&c) > 0);
    io_t r = {.fd = out[0], .len = 4 + 3 + 4 + big};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, reader, &r) == 0);
    for (int i = 0; i < 10000 && sw_control_queued(&c) > 0; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    CU_ASSERT_EQUAL(sw_control_queued(&c), 0u);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL_FATAL(r.gotlen, r.len);
    CU_ASSERT(memcmp(r.got, "\0\0\0\x03" "abc", 7) == 0);
    const unsigned char *h = (const unsigned char *)r.got + 7;
    CU_ASSERT_EQUAL((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3], big);
    CU_ASSERT(memcmp(r.got + 11, body, big) == 0);
    CU_ASSERT_FALSE(s.ended);
    free(r.got);
    free(body);
    close_all(&c, &loop);
    close(in[1]);
    close(out[0]);
}

/* Writing once the reader is gone ends the channel with an error, and
 * every write after the end or the close is refused. */
static void test_write_after_reader_gone(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sw_control_t c;
    seen_t s = {.ok = 1};
    CU_ASSERT_FATAL(sw_control_init(&c, &loop, in[0], out[1], on_frame, on_end, &s) == 0);
    close(out[0]);
    int r = sw_control_write(&c, "x", 1, NULL, 0);
    if (r == 0) CU_ASSERT(run_until(&loop, &s, ended));
    CU_ASSERT(r != 0 || s.err == UV_EPIPE);
    CU_ASSERT_EQUAL(sw_control_write(&c, "y", 1, NULL, 0), UV_EPIPE);
    close_all(&c, &loop);
    CU_ASSERT_EQUAL(sw_control_write(&c, "z", 1, NULL, 0), UV_EPIPE);
    close(in[1]);
}

int test_control_suite(void) {
    CU_pSuite s = CU_add_suite("control", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "frames in, whole and split; EOF", test_frames_in) ||
        !CU_add_test(s, "a frame over the limit ends the channel", test_too_big) ||
        !CU_add_test(s, "a large frame in; the buffer shrinks after", test_large_in) ||
        !CU_add_test(s, "a large write does not block, arrives whole", test_write_nonblocking) ||
        !CU_add_test(s, "writes after the reader is gone", test_write_after_reader_gone))
        return -1;
    return 0;
}
