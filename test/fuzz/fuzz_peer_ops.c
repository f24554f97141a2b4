/* fuzz_peer_ops.c - libFuzzer harness of a peer C node's op list, as the
 * registry (sw_tracker_peer_ops, tracker.h) and the groups
 * (sw_group_peer_ops, group.h) apply it: the third element of
 * {'$sw1', ops | gops, [Op]} from W_PEER, on a world without network
 * (fuzz_world.h) whose connection to W_PEER is up.
 *
 * Input: [0] settings, then the op list as an external term (131 first).
 *   bits 0-1: to the registry (0), the groups (1), or both (2, 3)
 *   bit 2:    the peer's {hello, W_PEER_BEAM} comes first (as on every
 *             connection), in a message of its own
 *   bit 3:    no agent hello before (a fresh C node)
 *   bit 4:    the peer sent nothing before on this connection (no hello,
 *             no sync); otherwise its hello and syncs were applied
 *   bit 5:    then the clock runs past the claim timeout, twice
 * An input that is not one valid external term is skipped: dist.c never
 * passes such a message on (fuzz_dist.c covers that path).
 *
 * Properties: no crash, no read past the term (ASan), no undefined
 * behaviour (UBSan), no leak (LSan), every message queued afterwards is a
 * well-formed external term, and the skipped-op results and counters are
 * never negative or decreasing. */
#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "fuzz_world.h"
#include "term.h"

static ei_x_buff hello;

static void apply(world_t *s, int registry, const char *buf, size_t len) {
    int index = 1;
    (void)len;
    if (registry) {
        sw_tracker_stats_t a, b;
        sw_tracker_stats(s->tracker, &a);
        int skipped = sw_tracker_peer_ops(s->tracker, W_PEER, buf, &index);
        sw_tracker_stats(s->tracker, &b);
        FUZZ_CHECK(skipped >= 0 && b.bad_ops >= a.bad_ops);
    } else {
        sw_group_stats_t a, b;
        sw_group_stats(s->groups, &a);
        int skipped = sw_group_peer_ops(s->groups, W_PEER, buf, &index);
        sw_group_stats(s->groups, &b);
        FUZZ_CHECK(skipped >= 0 && b.bad_ops >= a.bad_ops);
    }
    world_flush(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!hello.buff) {
        ei_x_new_with_version(&hello);
        ei_x_encode_list_header(&hello, 1);
        ei_x_encode_tuple_header(&hello, 2);
        ei_x_encode_atom(&hello, "hello");
        ei_x_encode_atom(&hello, W_PEER_BEAM);
        ei_x_encode_empty_list(&hello);
    }
    if (size < 1) return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    if (sw_term_validate_ext(buf, len) != 0) return 0;
    unsigned f = data[0];
    unsigned flags = (f & 16) ? W_CONN : W_PEER_SYNC;
    if (!(f & 8)) flags |= W_AGENT;
    world_t *s = world_new(flags);
    int to = f & 3;
    for (int registry = 1; registry >= 0; registry--) {
        if (to == (registry ? 1 : 0)) continue;
        if (f & 4) apply(s, registry, hello.buff, (size_t)hello.index);
        apply(s, registry, buf, len);
    }
    if (f & 32) {
        world_tick(s, 31000);
        world_tick(s, 70000);
    }
    world_free(s);
    return 0;
}
