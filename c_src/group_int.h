/* group_int.h - what the files of the process-groups state machine share;
 * no other file includes it.
 *
 * The files: group.c (the groups, memberships, requests, the replica sent
 * to swarm_groups, lifecycle), group_peer.c (the peer protocol: ops to and
 * from peer C nodes, syncs, connections, nodes going up and down),
 * group_msg.c (decoding of the messages of the local BEAM node),
 * group_pids.c (node incarnations and the pid tables), and chunks.c (a
 * group's members in chunks). The contract is group.h's.
 *
 * State (struct sw_group_s):
 *   atoms   interned node names (BEAM and C nodes), with their pid
 *           encodings (atoms.h); local indexes only
 *   ncs     node incarnations (BEAM node atom, creation); a pid is stored as
 *           {nc, num, serial}: 12 bytes
 *   live    the pids that have memberships (and local pids that had, still
 *           monitored: see member_add in group.c): 24-byte records in one
 *           dense array with a free list (record numbers are stable, so
 *           groups refer to records by number), found through an index of
 *           record numbers (sw_itab_t: 4 bytes per slot)
 *   park    two generations of the same kind of table: the memberships of
 *           pids whose BEAM node went down, kept for sw_group_transfer
 *   groups  name bytes -> group (each name stored once) and gid -> group;
 *           a group holds its members, as record numbers, in chunks
 *           (chunks.h)
 *   dq      groups with chunks to send to swarm_groups
 *   peers   one per known C node: its BEAM node, connection state, outbox
 *           (peers.h)
 *
 * A record lists its memberships as (gid, pos) pairs, pos being the
 * member's position in the group's chunks; mem_add and mem_del (group.c)
 * keep both directions in step. */
#ifndef SW_GROUP_INT_H
#define SW_GROUP_INT_H

#include <ei.h>
#include <stdint.h>

#include "atoms.h"
#include "chunks.h"
#include "group.h"
#include "htab.h"
#include "peers.h"
#include "proto.h"

#define NONE UINT32_MAX
#define MARK 0x80000000u /* on a membership's pos: seen in the current sync */

/* ---- node incarnations (group_pids.c) ---------------------------------- */

/* A node incarnation: a BEAM node's atom and a creation, numbered densely
 * from 0 (idx) in the order they were first seen. (The encoding of its
 * pids' start is its atom's, kept by the atom table.) */
typedef struct {
    uint32_t idx, beam, creation;
} nc_t;

/* The incarnations: found by (beam, creation), and by idx. Zeroed memory
 * is an empty table. */
typedef struct {
    sw_htab_t tab;
    nc_t **byidx;
    uint32_t n, cap;
} ncs_t;

/* The number of incarnation (beam, creation), added if absent; NONE on out
 * of memory. */
uint32_t sw__ncs_intern(ncs_t *t, uint32_t beam, uint32_t creation);
/* The incarnation (beam, creation), or NULL; adds nothing. */
const nc_t *sw__ncs_find(const ncs_t *t, uint32_t beam, uint32_t creation);
/* Frees everything; the table is empty afterwards. */
void sw__ncs_close(ncs_t *t);

/* ---- pid tables (group_pids.c) ----------------------------------------- */

typedef struct {
    uint32_t nc, num, serial;
} pkey_t;

typedef struct {
    uint32_t gid, pos;
} mem_t;

/* One pid with memberships. n == 1 keeps the membership inline; n >= 2
 * points at an array whose capacity is the smallest power of two >= n. A
 * free record has k.nc == NONE and links the free list through m.one.gid. */
typedef struct {
    pkey_t k;
    uint32_t n;
    union {
        mem_t one;
        mem_t *many;
    } m;
} prec_t;

/* Records by number (they move when the array grows: hold numbers, not
 * pointers, across an add), and their index by key. */
typedef struct {
    prec_t *recs;
    uint32_t nrecs, caprecs, free_head, live;
    sw_itab_t index;
} ptab_t;

/* An empty table (allocates nothing until the first add). */
void sw__ptab_init(ptab_t *t);
/* Frees every record and the index; the table is empty afterwards. */
void sw__ptab_close(ptab_t *t);

/* The hash of a key. */
static inline uint64_t sw__pkey_hash(const pkey_t *k) {
    return sw_hash_u64(((uint64_t)k->nc << 32 | k->num) ^
                       sw_hash_u64((uint64_t)k->serial + 0x9e3779b97f4a7c15ULL));
}

/* The index's equality: record r of table ctx holds key (a pkey_t). */
static inline int sw__prec_eq(const void *ctx, uint32_t r, const void *key) {
    const pkey_t *a = &((const ptab_t *)ctx)->recs[r].k, *b = key;
    return a->nc == b->nc && a->num == b->num && a->serial == b->serial;
}

/* The record number of k, or NONE. */
static inline uint32_t sw__ptab_find(const ptab_t *t, const pkey_t *k) {
    return sw_itab_find(&t->index, sw__pkey_hash(k), k, sw__prec_eq, t);
}

/* Adds an empty record for k (which must be absent). Returns its number, or
 * NONE on out of memory. Pointers into t->recs are invalid afterwards. */
uint32_t sw__ptab_add(ptab_t *t, const pkey_t *k);
/* Removes record r (its membership list must be empty: any array it holds
 * is freed) and puts it on the free list. */
void sw__ptab_del(ptab_t *t, uint32_t r);
/* Heap bytes of the table, its records' membership arrays included. */
uint64_t sw__ptab_bytes(const ptab_t *t);

/* The memberships of record p (p->n of them). */
static inline mem_t *sw__mems(prec_t *p) { return p->n <= 1 ? &p->m.one : p->m.many; }
/* The index of p's membership of group gid, or -1. */
int sw__rec_find(prec_t *p, uint32_t gid);
/* Appends (gid, pos) to p's memberships. 0, or -1 on out of memory. */
int sw__rec_push(prec_t *p, uint32_t gid, uint32_t pos);
/* Removes membership j of p; the last one takes its place. */
void sw__rec_drop(prec_t *p, uint32_t j);

/* ---- groups (group.c) -------------------------------------------------- */

typedef struct {
    uint64_t hash;
    sw_chunks_t ch;  /* members: live record numbers */
    uint32_t gid;
    uint32_t parked; /* parked memberships naming this group */
    uint8_t queued;  /* on the dq list */
    uint32_t nlen;
    char name[];     /* GroupBin: term_to_binary(Group), with 131 */
} group_t;

struct sw_group_s {
    sw_atoms_t atoms;
    ncs_t ncs;
    uint32_t self_beam;

    ptab_t live;
    ptab_t park[2]; /* [0]: current generation, [1]: previous */
    uint64_t park_rotated;

    sw_htab_t gnames;
    group_t **byid;
    uint32_t ngids, capgids;
    uint32_t *freegids;
    uint32_t nfree, capfree;
    uint32_t *dq;
    uint32_t ndq, capdq;
    uint64_t memberships;

    sw_peers_t peers; /* one per known C node (down: nothing from it is applied) */

    /* swarm_groups, the local replica's owner; sync.begun once it said
     * hello */
    erlang_pid proc;
    sw_proto_sync_t sync;
    sw_outbox_t mons, replies;
    uint64_t now;

    sw_group_stats_t st;
    ei_x_buff scratch;
    int (*connected)(void *ud, const char *cnode);
    void *connected_ud;
    int host; /* a C host's groups (sw_group_set_host) */
};

/* ---- pids of the state (group_pids.c) ---------------------------------- */

/* The key of pid ep (interning its node and incarnation). 0, or -1 on out
 * of memory. */
int sw__group_key(sw_group_t *g, const erlang_pid *ep, pkey_t *k);
/* Decodes a pid at buf[*index] into its key. 0, or -1. */
int sw__group_dec_pid(sw_group_t *g, const char *buf, int *index, pkey_t *k);
/* Appends the pid of key k, as ei_x_encode_pid would. */
void sw__group_enc_pid(ei_x_buff *x, const sw_group_t *g, const pkey_t *k);
/* The BEAM node (atom) of key k. */
static inline uint32_t sw__key_beam(const sw_group_t *g, const pkey_t *k) {
    return g->ncs.byidx[k->nc]->beam;
}

/* ---- shared by the files of the state machine (group.c) ---------------- */

/* The group with this name, created (empty) if absent and create is set;
 * NULL if absent (or out of memory). */
group_t *sw__group_get(sw_group_t *g, const char *name, size_t len, int create);
/* Makes k a member of group name/len; home: k is local and this node
 * originates the change. 1 added, 0 already a member, -1 out of memory. */
int sw__member_add(sw_group_t *g, const char *name, size_t len, const pkey_t *k, int home);
/* Removes k from gr. 1 removed, 0 not a member. */
int sw__member_del(sw_group_t *g, group_t *gr, const pkey_t *k, int home);
/* Removes membership j of live record r (in group gr). */
void sw__mem_del(sw_group_t *g, group_t *gr, uint32_t r, uint32_t j);
/* Removes every membership of live record r, then the record. */
void sw__rec_clear(sw_group_t *g, uint32_t r);
/* Copies the groups of live record r into the current park generation. */
void sw__park_rec(sw_group_t *g, uint32_t r);
/* Marks every chunk of every group to be sent to swarm_groups again. */
void sw__dirty_everything(sw_group_t *g);
/* Join (leave) of k on behalf of caller on BEAM node ccbeam, at its home. */
void sw__join_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                   size_t rlen, const char *name, size_t len, const pkey_t *k);
void sw__leave_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                    size_t rlen, const char *name, size_t len, const pkey_t *k);
/* A reply {Caller, Ref, Result} to a caller on BEAM node ccbeam (NULL
 * caller: nobody waits); Result is the atom of entry result (SW_MSG_*). */
void sw__reply_via(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                   size_t rlen, enum sw_msg result);
/* The same with Result given encoded (res/reslen: one term, copied). */
void sw__reply_raw_via(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                       size_t rlen, const char *res, size_t reslen);
/* {mon, Pid} for swarm_groups: monitor this local pid. */
void sw__mon_op(sw_group_t *g, const pkey_t *k);

/* ---- the peer protocol (group_peer.c) ---------------------------------- */

/* {join | leave, GroupBin, Pid} to every connected peer (op: SW_MSG_JOIN
 * or SW_MSG_LEAVE). */
void sw__broadcast(sw_group_t *g, enum sw_msg op, const group_t *gr, const pkey_t *k);
/* {down, Pid} to every connected peer. */
void sw__broadcast_down(sw_group_t *g, const pkey_t *k);
/* The outbox of the connected C node of BEAM node beam, or NULL (counted
 * unreachable). */
sw_outbox_t *sw__peer_box(sw_group_t *g, uint32_t beam);
/* Queues our sync to p (if swarm_groups said hello and p has none yet). */
void sw__send_sync(sw_group_t *g, sw_peer_t *p);

/* ---- lists of memberships (group_msg.c) -------------------------------- */

/* Validates a list [{GroupBin, [Pid]}]. With beam != NULL, every pid must
 * live on that BEAM node. Advances *index past the list. 0, or -1. */
int sw__check_glist(const char *buf, int *index, const char *beam);

/* Calls fn for every (GroupBin, Pid) of a list validated by
 * sw__check_glist; *index ends past the list. */
typedef void (*sw__glist_cb)(sw_group_t *g, const char *name, size_t len, const pkey_t *k);
void sw__walk_glist(sw_group_t *g, const char *buf, int *index, sw__glist_cb fn);

#endif
