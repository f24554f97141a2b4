/* test_server.c - CUnit suite of server.c's lifecycle without a BEAM: the
 * server runs on a thread of this process, on pipes, as the agent runs
 * priv/swarm_node (the configuration arrives on its stdin). A crash of the
 * server is a crash of the test runner, hence a failed run. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

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
    close(in[0]);
    close(out[0]);
    close(out[1]);
    sw_log_set_level(SW_LOG_INFO);
    sw_log_init_from_env();
}

int test_server_suite(void) {
    CU_pSuite s = CU_add_suite("server", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "tick before the configuration arrives", test_tick_before_config))
        return -1;
    return 0;
}
