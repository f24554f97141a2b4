/* fuzz_local.c - libFuzzer harness of the port transport's input: the
 * messages a BEAM node without distribution writes on its C node's stdin
 * after the configuration, each dispatched by sw_dist_handle_local (dist.h)
 * as a message to the swarm server from the node's own BEAM node, on a
 * world without network (fuzz_world.h) whose sends to local pids go through
 * the port transport's sink (sw_dist_out_t.local), as server.c wires it.
 *
 * Input: [0] settings, then frames <<Len:16, Body:Len>> (a last Len past
 * the end takes what remains), each a message term (131 first), each
 * followed by a flush.
 *   bit 0: no agent hello before (a fresh C node)
 *   bit 1: then the clock runs past the claim timeout, twice
 *
 * Properties: no crash, no read past a frame (ASan), no undefined
 * behaviour (UBSan), nothing leaked once the world is freed (LSan), and
 * every message delivered to a local pid is a well-formed external term. */
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "fuzz.h"
#include "fuzz_world.h"
#include "term.h"

static int deliver(void *ud, const erlang_pid *to, const char *msg, size_t len) {
    (void)ud;
    (void)to;
    int i = 1;
    FUZZ_CHECK(len >= 2 && (unsigned char)msg[0] == 131);
    FUZZ_CHECK(sw_term_validate_depth(msg, len, &i, SW_TERM_MAX_DEPTH) == 0 && (size_t)i == len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned f = data[0];
    world_t *w = world_new((f & 1) ? 0 : W_AGENT);
    w->out.local = deliver;
    w->out.local_ud = w;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    while (n >= 2) {
        size_t l = (size_t)p[0] << 8 | p[1];
        p += 2, n -= 2;
        if (l > n) l = n;
        sw_dist_handle_local(&w->dist, (const char *)p, l);
        world_flush(w);
        p += l, n -= l;
    }
    if (f & 2) {
        world_tick(w, 31000);
        world_tick(w, 70000);
    }
    world_free(w);
    return 0;
}
