/* fuzz_host.c - libFuzzer harness of a C host (host*.c, swarm.h) receiving
 * distribution frames: each frame body goes where the host's connection
 * sends it (sw__host_worker_frame first, then sw_dist_handle), on a host
 * that is never started (no sockets, no epmd; what it sends to its own
 * node is delivered by sw__host_poll, what it sends elsewhere finds no
 * connection) and whose timers never fire.
 *
 * The host "h@127.0.0.1" has four workers, pids {h@127.0.0.1, Id, 0, 0}:
 *   1 echo:    call: replies {echo, Msg}; cast: swarm_call_pid(Msg) to
 *              worker 2; info: swarm_join and swarm_register with Msg
 *   2 keeper:  call: keeps the from handle (a kept one is answered with
 *              Msg first); cast: swarm_call(name Msg); info: stops itself
 *              with reason Msg
 *   3 trapper: traps exits; info: leaves the group Msg, unregisters Msg
 *   4 caller:  call: swarm_call_pid to the caller, keeps nothing; cast:
 *              stops itself (normal)
 * A finished swarm_call answers the kept from handle with its reply.
 *
 * Input: a sequence of frames <<From:8, Len:16, Body:Len>> (a last Len
 * past the end takes what remains); Body is what follows the 112 byte
 * (<<131, Ctrl, 131, Msg>>).
 *   From bits 0-1: the sending node: 0 "a@127.0.0.1" (a BEAM node), 1
 *                  "swarm_b@127.0.0.1" (a C node whose connection is up),
 *                  2 the host itself (its local queue's path), 3 a node
 *                  nobody knows
 *   From bit 2:    no poll of the host after this frame
 *   From bit 3:    after it, the sender's connection goes down (as the
 *                  host's on_down does for a connection it did not dial;
 *                  not for the host itself, which has no connection)
 * At the end the host stops (workers, calls, registrations) and its loop
 * runs until it is freed.
 *
 * Properties: no crash, no read past a frame (ASan), no undefined
 * behaviour (UBSan), nothing leaked once the host is freed (LSan), the
 * host stops within a bounded number of loop rounds, and every worker's
 * terminate runs exactly once. */
#include <ei.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "fuzz.h"
#include "host_int.h"

#define NWORKERS 4

static const char *const from_node[] = {"a@127.0.0.1", "swarm_b@127.0.0.1", "h@127.0.0.1",
                                        "evil@127.0.0.1"};

static struct {
    swarm_worker_t *w[NWORKERS];
    swarm_from_t *kept;
    int terms, stopped;
} F;

static ei_x_buff scratch;

static int worker_no(const swarm_worker_t *w) { return (int)(intptr_t)swarm_worker_data(w); }

/* A call that finished: its reply (or the atom of its status) answers the
 * kept from handle. */
static void call_done(swarm_worker_t *w, int status, const char *reply, size_t len, void *ud) {
    (void)w, (void)ud;
    if (!F.kept) return;
    swarm_from_t *from = F.kept;
    F.kept = NULL;
    if (status == SWARM_OK && reply && swarm_reply(from, reply, len) != SWARM_EBADTERM) return;
    scratch.index = 0;
    ei_x_encode_version(&scratch);
    ei_x_encode_atom(&scratch, swarm_strerror(status));
    if (swarm_reply(from, scratch.buff, (size_t)scratch.index) == SWARM_EBADTERM)
        swarm_from_free(from);
}

static void reg_done(swarm_worker_t *w, int result, const erlang_pid *holder, void *ud) {
    (void)w, (void)result, (void)holder, (void)ud;
}

static void on_call(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len) {
    switch (worker_no(w)) {
    case 0: {
        scratch.index = 0;
        ei_x_encode_version(&scratch);
        ei_x_encode_tuple_header(&scratch, 2);
        ei_x_encode_atom(&scratch, "echo");
        ei_x_append_buf(&scratch, msg + 1, (int)len - 1);
        if (swarm_reply(from, scratch.buff, (size_t)scratch.index) == SWARM_EBADTERM)
            swarm_from_free(from);
        break;
    }
    case 1:
        if (F.kept && swarm_reply(F.kept, msg, len) == SWARM_EBADTERM) swarm_from_free(F.kept);
        F.kept = from;
        break;
    default: {
        erlang_pid caller = *swarm_from_pid(from);
        swarm_from_free(from);
        swarm_call_pid(w, &caller, msg, len, 0, call_done, NULL);
        break;
    }
    }
}

static void on_cast(swarm_worker_t *w, const char *msg, size_t len) {
    switch (worker_no(w)) {
    case 0: {
        erlang_pid to;
        if (!F.w[1]) break;
        swarm_worker_pid(F.w[1], &to);
        swarm_call_pid(w, &to, msg, len, 0, call_done, NULL);
        break;
    }
    case 1:
        swarm_call(w, msg, len, msg, len, 0, call_done, NULL);
        break;
    default:
        swarm_worker_stop(w, NULL, 0);
        break;
    }
}

static void on_info(swarm_worker_t *w, const char *msg, size_t len) {
    switch (worker_no(w)) {
    case 0:
        swarm_join(w, msg, len);
        swarm_register(w, msg, len, reg_done, NULL);
        break;
    case 1:
        swarm_worker_stop(w, msg, len);
        break;
    default:
        swarm_leave(w, msg, len);
        swarm_unregister(w, msg, len);
        break;
    }
}

static void on_terminate(swarm_worker_t *w, const char *reason, size_t len) {
    (void)reason, (void)len;
    int i = worker_no(w);
    FUZZ_CHECK(F.w[i] == w);
    F.w[i] = NULL;
    F.terms++;
}

static const swarm_worker_cbs_t cbs = {on_call, on_cast, on_info, on_terminate};

static void on_stopped(swarm_host_t *h, void *ud) {
    (void)h, (void)ud;
    F.stopped = 1;
}

/* The sender's connection went down, as on_down (host.c) reports the loss
 * of a connection the host did not dial. */
static void conn_down(swarm_host_t *h, const char *peer) {
    sw_tracker_conn_down(h->tracker, peer);
    sw_group_conn_down(h->groups, peer);
    sw__calls_node_down(h, peer);
    sw__host_workers_node_down(h, peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!scratch.buff) {
        fuzz_log_setup();
        ei_x_new(&scratch);
    }
    memset(&F, 0, sizeof F);
    uv_loop_t loop;
    FUZZ_CHECK(uv_loop_init(&loop) == 0);
    swarm_host_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = from_node[2];
    cfg.cookie = "cookie";
    int err;
    swarm_host_t *h = swarm_host_new(&loop, &cfg, &err);
    FUZZ_CHECK(h != NULL);
    for (int i = 0; i < NWORKERS; i++) {
        F.w[i] = swarm_worker_new(h, &cbs, (void *)(intptr_t)i);
        FUZZ_CHECK(F.w[i] != NULL);
    }
    swarm_worker_trap_exit(F.w[2], 1);
    sw_tracker_conn_up(h->tracker, from_node[1]);
    sw_group_conn_up(h->groups, from_node[1]);

    const uint8_t *p = data;
    size_t n = size;
    while (n >= 3) {
        unsigned f = p[0];
        const char *who = from_node[f & 3];
        size_t l = (size_t)p[1] << 8 | p[2];
        p += 3, n -= 3;
        if (l > n) l = n;
        if (!sw__host_worker_frame(h, who, (const char *)p, l))
            sw_dist_handle_checked(&h->dist, who, (const char *)p, l);
        if ((f & 8) && (f & 3) != 2) conn_down(h, who);
        if (!(f & 4)) sw__host_poll(h);
        p += l, n -= l;
    }

    swarm_host_stop(h, on_stopped, NULL);
    for (int i = 0; i < 100 && !F.stopped; i++) uv_run(&loop, UV_RUN_ONCE);
    FUZZ_CHECK(F.stopped);
    FUZZ_CHECK(F.terms == NWORKERS);
    FUZZ_CHECK(uv_loop_close(&loop) == 0);
    return 0;
}
