/* fuzz_world.h - a swarm C node without network, for the harnesses that
 * feed it messages (fuzz_dist.c, fuzz_peer_ops.c).
 *
 * What it is: the parts server.c wires together (tracker, groups, the
 * dispatcher and its sender, a node from sw_node_new on a libuv loop that
 * never runs), for the BEAM node
 * W_BEAM, optionally brought into a typical state through the real
 * dispatch path (sw_dist_handle): its agent and swarm_groups said hello
 * (W_AGENT: four local names, two local groups, peers W_PEER_BEAM and
 * W_OTHER_BEAM known), the connection to peer C node W_PEER is up
 * (W_CONN), and that peer sent its hello and syncs (W_PEER_SYNC: two
 * names, two groups of its pids). Names are term_to_binary({worker, I}),
 * groups term_to_binary({group, I}); local pids are <0.I.0> on W_BEAM, the
 * peer's on W_PEER_BEAM, creation 1 (the seeds in corpus/ use the same).
 * Since the node has no connection, every reply and outbox is dropped at
 * sw_node_find; world_flush() still checks that each is a well-formed
 * external term.
 * What it is not: a simulation; nothing answers. */
#ifndef SW_FUZZ_WORLD_H
#define SW_FUZZ_WORLD_H

#include <stdint.h>

#include "dist.h"
#include "dist_send.h"
#include "group.h"
#include "tracker.h"

#define W_BEAM "a@127.0.0.1"
#define W_CNODE "swarm_a@127.0.0.1"
#define W_PEER_BEAM "b@127.0.0.1"
#define W_PEER "swarm_b@127.0.0.1"
#define W_OTHER_BEAM "c@127.0.0.1"
#define W_OTHER "swarm_c@127.0.0.1"

enum { W_AGENT = 1, W_CONN = 2, W_PEER_SYNC = 4 };

typedef struct {
    sw_tracker_t *tracker;
    sw_group_t *groups;
    sw_dist_out_t out;
    sw_dist_t dist; /* sw_dist_handle(&w->dist, ...) feeds the world */
    sw_tracker_env_t env;
} world_t;

/* A new world in the state the W_* flags ask (W_PEER_SYNC implies W_CONN).
 * Aborts if the setup does not reach that state. Free with world_free. */
world_t *world_new(unsigned flags);

/* Drains the tracker's and the groups' outboxes (each message checked). */
void world_flush(world_t *w);

/* Advances the tracker's and groups' clocks to now_ms, then flushes. */
void world_tick(world_t *w, uint64_t now_ms);

void world_free(world_t *w);

#endif
