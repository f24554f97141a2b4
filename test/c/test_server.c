/* test_server.c - CUnit suite of server.c's lifecycle without a BEAM: the
 * server runs on a thread of this process, on pipes, as the agent runs
 * priv/swarm_node (the configuration arrives on its stdin). A crash of the
 * server is a crash of the test runner, hence a failed run. The port
 * transport is driven as the agent of a node without distribution drives
 * it: requests on stdin, answers in deliver frames on stdout. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "swarm_proto.h"

typedef struct {
    int in_fd, out_fd;
    atomic_int done;
    int code;
} run_t;

static void *run_server(void *arg) {
    run_t *r = arg;
    r->code = sw_server_run(r->in_fd, r->out_fd);
    atomic_store(&r->done, 1);
    return NULL;
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Polls r->done for at most ms; returns it. */
static int wait_done(run_t *r, unsigned ms) {
    uint64_t deadline = mono_ms() + ms;
    while (!atomic_load(&r->done) && mono_ms() < deadline) usleep(10000);
    return atomic_load(&r->done);
}

/* The server's periodic tick fires every 500 ms from the start, before any
 * configuration made the tracker and the groups: it must wait for them, not
 * use them. The server gets no configuration for 1.3 s (two ticks), must
 * still be running, and must stop cleanly (code 0) when its stdin closes. */
static void test_tick_before_config(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    if (!getenv("SWARM_LOG")) sw_log_set_level(SW_LOG_ERROR);
    run_t r = {.in_fd = in[0], .out_fd = out[1]};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, run_server, &r) == 0);
    CU_ASSERT_FALSE(wait_done(&r, 1300));
    close(in[1]); /* EOF: the BEAM is gone */
    int done = wait_done(&r, 10000);
    CU_ASSERT(done);
    if (done) {
        pthread_join(th, NULL);
        CU_ASSERT_EQUAL(r.code, 0);
    }
    close(out[0]); /* in[0] and out[1]: the server closed them */
    sw_log_set_level(SW_LOG_INFO);
    sw_log_init_from_env();
}

/* Writes x as one control frame. */
static void put(int fd, const ei_x_buff *x) {
    unsigned char h[4] = {(unsigned char)(x->index >> 24), (unsigned char)(x->index >> 16),
                          (unsigned char)(x->index >> 8), (unsigned char)x->index};
    CU_ASSERT_EQUAL(write(fd, h, 4), 4);
    CU_ASSERT_EQUAL(write(fd, x->buff, (size_t)x->index), x->index);
}

/* Reads one control frame into buf (cap bytes); returns its length, or
 * -1. Blocking: the server answers within the test's time. */
static long get(int fd, char *buf, size_t cap) {
    unsigned char h[4];
    size_t off = 0;
    while (off < 4) {
        ssize_t n = read(fd, h + off, 4 - off);
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if (len > cap) return -1;
    for (off = 0; off < len;) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return (long)len;
}

static erlang_pid local_pid(unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    strcpy(p.node, "nonode@nohost");
    p.num = num;
    return p;
}

/* {'$sw1', Tag, Caller, Ref} with Ref an integer. */
static void put_ask(int fd, const char *tag, const erlang_pid *caller, long ref) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, tag);
    ei_x_encode_pid(&x, caller);
    ei_x_encode_long(&x, ref);
    put(fd, &x);
    ei_x_free(&x);
}

/* Reads a deliver frame {'$sw1', deliver, To, {Ref, Reply}}: checks To
 * and Ref, and leaves *index at Reply. */
static int get_reply(int fd, char *buf, size_t cap, const erlang_pid *to, long ref, int *index) {
    long n = get(fd, buf, cap);
    int v, a;
    char atom[MAXATOMLEN_UTF8];
    erlang_pid p;
    long r;
    *index = 0;
    if (n < 0 || ei_decode_version(buf, index, &v) || ei_decode_tuple_header(buf, index, &a) || a != 4 ||
        ei_decode_atom(buf, index, atom) || strcmp(atom, SW_PROTO_TAG) ||
        ei_decode_atom(buf, index, atom) || strcmp(atom, "deliver") || ei_decode_pid(buf, index, &p) ||
        strcmp(p.node, to->node) || p.num != to->num || ei_decode_tuple_header(buf, index, &a) ||
        a != 2 || ei_decode_long(buf, index, &r) || r != ref)
        return -1;
    return 0;
}

/* The port transport: {transport, port} in the configuration makes the
 * node ready under its name without epmd or a listener; a ping on stdin
 * is answered on stdout in a deliver frame to the caller; a malformed
 * frame (not a term) and an unknown message are counted, not fatal; EOF
 * stops the node cleanly. */
static void test_port_transport(void) {
    int in[2], out[2];
    CU_ASSERT_FATAL(pipe(in) == 0 && pipe(out) == 0);
    if (!getenv("SWARM_LOG")) sw_log_set_level(SW_LOG_ERROR);
    run_t r = {.in_fd = in[0], .out_fd = out[1]};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, run_server, &r) == 0);

    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "config");
    ei_x_encode_list_header(&x, 5);
    const char *kv[][2] = {{"alive", "swarm_nonode"}, {"host", "nohost"}, {"cookie", "nocookie"}};
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "beam_node");
    ei_x_encode_atom(&x, "nonode@nohost");
    for (int i = 0; i < 3; i++) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, kv[i][0]);
        ei_x_encode_binary(&x, kv[i][1], (long)strlen(kv[i][1]));
    }
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "transport");
    ei_x_encode_atom(&x, "port");
    ei_x_encode_empty_list(&x);
    put(in[1], &x);
    ei_x_free(&x);

    char buf[8192];
    long n = get(out[0], buf, sizeof buf);
    int index = 0, v, a;
    char atom[MAXATOMLEN_UTF8], name[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT(ei_decode_version(buf, &index, &v) == 0 && ei_decode_tuple_header(buf, &index, &a) == 0 &&
              a == 3 && ei_decode_atom(buf, &index, atom) == 0 && ei_decode_atom(buf, &index, atom) == 0 &&
              strcmp(atom, "ready") == 0 && ei_decode_atom(buf, &index, name) == 0 &&
              strcmp(name, "swarm_nonode@nohost") == 0);

    erlang_pid caller = local_pid(77);
    put_ask(in[1], "ping", &caller, 1);
    CU_ASSERT(get_reply(out[0], buf, sizeof buf, &caller, 1, &index) == 0 &&
              ei_decode_atom(buf, &index, atom) == 0 && strcmp(atom, "pong") == 0);

    /* Not a term, then a term that is no message of ours. */
    CU_ASSERT_EQUAL(write(in[1], "\0\0\0\3\x83\x68\x09", 7), 7);
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, "hello");
    put(in[1], &x);
    ei_x_free(&x);
    put_ask(in[1], "stats", &caller, 2);
    long unknown = -1;
    if (get_reply(out[0], buf, sizeof buf, &caller, 2, &index) == 0) {
        int len;
        if (ei_decode_list_header(buf, &index, &len) == 0)
            for (int i = 0; i < len; i++) {
                long val;
                if (ei_decode_tuple_header(buf, &index, &a) || ei_decode_atom(buf, &index, atom) ||
                    ei_decode_long(buf, &index, &val))
                    break;
                if (strcmp(atom, "unknown_msgs") == 0) unknown = val;
            }
    }
    CU_ASSERT_EQUAL(unknown, 2);

    close(in[1]);
    int done = wait_done(&r, 10000);
    CU_ASSERT(done);
    if (done) {
        pthread_join(th, NULL);
        CU_ASSERT_EQUAL(r.code, 0);
    }
    close(out[0]);
    sw_log_set_level(SW_LOG_INFO);
    sw_log_init_from_env();
}

int test_server_suite(void) {
    CU_pSuite s = CU_add_suite("server", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "tick before the configuration arrives", test_tick_before_config) ||
        !CU_add_test(s, "the port transport: ready, answers, bad frames", test_port_transport))
        return -1;
    return 0;
}
