/* tracker_mem - memory per name of the registry (c_src/tracker.c).
 *
 * Usage: tracker_mem [local|remote] [N]     (defaults: local 100000)
 *
 * Fills one tracker with N names {worker, I} (term_to_binary: 16 bytes for
 * I >= 256), each for its own pid, and prints the heap and RSS growth per
 * name:
 *   local   registered here (sw_tracker_register; this node is the only
 *           member, so it decides, and the pids are its own: entries in the
 *           names and pids indexes, the home's case);
 *   remote  added by a peer C node (its {add, ...} ops; pids of the peer's
 *           BEAM node: what every other node holds).
 * Outboxes are drained every 1000 names, as the server would, so they do
 * not count. Heap: mallinfo2() bytes in use (arena + mmapped) after minus
 * before; RSS: /proc/self/statm. Exit status 0, or 1 when the tracker does
 * not hold N names at the end.
 */
#include <ei.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracker.h"

#define BEAM_A "a@127.0.0.1"
#define CNODE_A "swarm_a@127.0.0.1"
#define BEAM_B "b@127.0.0.1"
#define CNODE_B "swarm_b@127.0.0.1"

static void emit_none(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    (void)ud, (void)dest, (void)cnode, (void)buf, (void)len;
}

static size_t heap_used(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss(void) {
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static erlang_pid mkpid(const char *node, unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    snprintf(p.node, sizeof p.node, "%s", node);
    p.num = num;
    p.serial = 0;
    p.creation = 1;
    return p;
}

/* term_to_binary({worker, i}) into x (reset first). */
static void name_of(ei_x_buff *x, long i) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "worker");
    ei_x_encode_long(x, i);
}

int main(int argc, char **argv) {
    int remote = argc > 1 && strcmp(argv[1], "remote") == 0;
    long n = argc > 2 ? atol(argv[2]) : 100000;
    sw_tracker_env_t env;
    memset(&env, 0, sizeof env);
    sw_tracker_t *t = sw_tracker_new(BEAM_A, CNODE_A, &env, NULL);
    if (!t) return 1;
    ei_x_buff name, x;
    ei_x_new(&name);
    ei_x_new(&x);

    /* The agent's hello: no names, no peers. */
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    int index = 0;
    erlang_pid agent = mkpid(BEAM_A, 1);
    if (sw_tracker_hello(t, &agent, x.buff, &index) != 0) return 1;
    if (remote) {
        sw_tracker_peer_up(t, BEAM_B, CNODE_B);
        sw_tracker_conn_up(t, CNODE_B);
        x.index = 0;
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "hello");
        ei_x_encode_atom(&x, BEAM_B);
        ei_x_encode_empty_list(&x);
        index = 0;
        if (sw_tracker_peer_ops(t, CNODE_B, x.buff, &index) != 0) return 1;
    }
    sw_tracker_flush(t, emit_none, NULL);
    erlang_pid caller = mkpid(BEAM_A, 2);
    char ref[2] = {97, 0}; /* any term: SMALL_INTEGER_EXT 0 */

    size_t heap0 = heap_used(), rss0 = rss();
    for (long i = 0; i < n; i++) {
        name_of(&name, 1000 + i);
        if (!remote) {
            erlang_pid p = mkpid(BEAM_A, 100 + (unsigned)i);
            sw_tracker_register(t, &caller, ref, sizeof ref, name.buff, (size_t)name.index, &p, 0);
        } else {
            erlang_pid p = mkpid(BEAM_B, 100 + (unsigned)i);
            x.index = 0;
            ei_x_encode_list_header(&x, 1);
            ei_x_encode_tuple_header(&x, 5);
            ei_x_encode_atom(&x, "add");
            ei_x_encode_binary(&x, name.buff, name.index);
            ei_x_encode_pid(&x, &p);
            ei_x_encode_ulonglong(&x, (unsigned long long)i + 1);
            ei_x_encode_atom(&x, BEAM_B);
            ei_x_encode_empty_list(&x);
            index = 0;
            if (sw_tracker_peer_ops(t, CNODE_B, x.buff, &index) != 0) return 1;
        }
        if (i % 1000 == 999) sw_tracker_flush(t, emit_none, NULL);
    }
    sw_tracker_flush(t, emit_none, NULL);
    size_t heap1 = heap_used(), rss1 = rss();
    sw_tracker_stats_t st;
    sw_tracker_stats(t, &st);
    name_of(&name, 1000 + n / 2);
    printf("tracker_mem %s: %ld names of %d bytes ({worker, I}), %llu pids: heap %.1f B/name, "
           "RSS %.1f B/name\n",
           remote ? "remote" : "local", n, name.index, (unsigned long long)st.pids,
           (double)(heap1 - heap0) / (double)n, (double)(rss1 - rss0) / (double)n);
    int ok = st.names == (uint64_t)n && sw_tracker_lookup(t, name.buff, (size_t)name.index, NULL);
    sw_tracker_free(t);
    ei_x_free(&name);
    ei_x_free(&x);
    return ok ? 0 : 1;
}
