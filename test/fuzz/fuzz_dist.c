/* fuzz_dist.c - libFuzzer harness of the dispatch of one distribution frame
 * body to a running C node: sw_dist_handle (dist.h) on a world without
 * network (fuzz_world.h), which validates both terms and hands the message
 * to the tracker, the groups or net_kernel's is_auth.
 *
 * Input: [0] settings, then the frame body after the 112 byte
 * (<<131, Ctrl, 131, Msg>>), or with bit 6 a sequence of frames
 * <<From:8, Len:16, Body:Len>> (From as bits 0-1 below; a last Len past the
 * end takes what remains), each followed by a flush: a conversation, so
 * that reservations, starts and handoffs can be reached and answered.
 *   bits 0-1: the connection it came by: 0 our BEAM node (the agent, local
 *             callers), 1 peer C node W_PEER, 2 its BEAM node W_PEER_BEAM
 *             (a caller asking this node directly), 3 a node nobody knows
 *   bit 2:    no agent hello before (a fresh C node)
 *   bit 3:    the peer's connection is up but it sent nothing yet
 *   bit 4:    no connection to the peer at all
 *   bit 5:    then the clock runs past the claim timeout, twice
 *   bit 6:    a sequence of frames (above)
 *
 * Properties: no crash, no read past the frame (ASan), no undefined
 * behaviour (UBSan), nothing leaked once the world is freed (LSan), and
 * every message the node then queues is a well-formed external term. */
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "fuzz.h"
#include "fuzz_world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *from[] = {W_BEAM, W_PEER, W_PEER_BEAM, "evil@127.0.0.1"};
    unsigned f = data[0];
    unsigned flags = 0;
    if (!(f & 4)) flags |= W_AGENT;
    if (!(f & 16)) flags |= (f & 8) ? W_CONN : W_PEER_SYNC;
    world_t *s = world_new(flags);
    if (!(f & 64)) {
        sw_dist_handle(&s->dist, from[f & 3], (const char *)data + 1, size - 1);
        world_flush(s);
    } else {
        const uint8_t *p = data + 1;
        size_t n = size - 1;
        while (n >= 3) {
            const char *who = from[p[0] & 3];
            size_t l = (size_t)p[1] << 8 | p[2];
            p += 3, n -= 3;
            if (l > n) l = n;
            sw_dist_handle(&s->dist, who, (const char *)p, l);
            world_flush(s);
            p += l, n -= l;
        }
    }
    if (f & 32) {
        world_tick(s, 31000);
        world_tick(s, 70000);
    }
    world_free(s);
    return 0;
}
