/* group.c - process groups: the state machine; see group.h for the contract
 * and README.md (Internals) for the protocol.
 *
 * State:
 *   atoms   interned node names (BEAM and C nodes), with their pid
 *           encodings (atoms.h); local indexes only
 *   ncs     node incarnations (BEAM node atom, creation); a pid is stored as
 *           {nc, num, serial}: 12 bytes
 *   live    the pids that have memberships (and local pids that had, still
 *           monitored: see member_add): 24-byte records in one dense
 *           array (with a free list: records never move, so groups can
 *           point at them by number), found through an open-addressing
 *           index of record numbers (linear probing, backward-shift
 *           deletion, so no tombstones)
 *   park    two generations of the same kind of table: the memberships of
 *           pids whose BEAM node went down, kept for sw_group_transfer
 *   groups  name bytes -> group (each name stored once) and gid -> group;
 *           a group holds its members, as record numbers, in chunks of up
 *           to 64 with stable ids (see below)
 *   dq      groups with chunks to send to swarm_groups
 *   peers   one per known C node: its BEAM node, connection state, outbox
 *           (peers.h)
 *
 * A record lists its memberships as (gid, pos) pairs, pos = chunk id << 6 |
 * slot; mem_add and mem_del keep both directions in step.
 *
 * Why chunks with stable ids. swarm_groups mirrors every chunk as one ETS
 * object keyed {GroupBin, K}, and members/1 reads a group's chunks one after
 * the other (one ets:select). A member never moves to another chunk (a join
 * fills a chunk with room, a leave moves the chunk's last member into the
 * hole, within the chunk), so every change rewrites exactly one chunk, and a
 * reader, even though it reads several objects one after the other, sees
 * every member that stays in the group exactly once.
 * The cost: chunks emptied by leaves stay partly filled until joins fill
 * them again.
 *
 * Why the home decides. The home (BEAM node of the pid) is where the pid is
 * monitored, so it is the only node that knows whether a membership is still
 * valid. Making it the origin of every change of its pids' memberships gives
 * every peer those changes in one order (one FIFO connection), makes each
 * home's sync authoritative for its pids, and needs no owner or stamp: two
 * changes of one membership never come from two nodes.
 *
 * Failure modes, stated plainly. (1) A join or leave for a pid whose home's
 * C node is not connected (it is restarting, or the pid's node does not run
 * swarm) is refused with `home_unreachable`; nothing is queued. (2) While a
 * connection is down, peers keep the memberships they had of that home's
 * pids; the home's sync on reconnection corrects them. (3) Memberships of a
 * node that went down disappear everywhere when each node hears of it (its
 * agent's monitor fires), not at one instant; from then on, until the node
 * is reported up again, nothing its C node still sends is applied, so no
 * late op brings them back. */
#include "group.h"

#include <stdlib.h>
#include <string.h>

#include "atoms.h"
#include "htab.h"
#include "log.h"
#include "peers.h"
#include "swarm_proto.h"
#include "term.h"

#define PARK_MS 30000u
#define SYNC_TIMEOUT_MS 10000u
#define MARK 0x80000000u /* on a membership's pos: seen in the current sync */
#define NONE UINT32_MAX

/* ---- node incarnations ------------------------------------------------- */

/* A node incarnation: a BEAM node's atom and a creation. (The encoding of
 * its pids' start is its atom's, kept by the atom table.) */
typedef struct {
    uint64_t hash;
    uint32_t idx, beam, creation;
} nc_t;

typedef struct {
    sw_htab_t tab;
    nc_t **byidx;
    uint32_t n, cap;
} ncs_t;

typedef struct {
    uint32_t beam, creation;
} nckey_t;

static int nc_eq(const void *item, const void *key) {
    const nc_t *a = item;
    const nckey_t *k = key;
    return a->beam == k->beam && a->creation == k->creation;
}

static uint32_t nc_intern(ncs_t *t, uint32_t beam, uint32_t creation) {
    nckey_t k = {beam, creation};
    uint64_t h = sw_hash_u64((uint64_t)beam << 32 | creation);
    nc_t *a = sw_htab_find(&t->tab, h, &k, nc_eq);
    if (a) return a->idx;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        nc_t **nb = realloc(t->byidx, cap * sizeof *nb);
        if (!nb) return NONE;
        t->byidx = nb;
        t->cap = cap;
    }
    a = malloc(sizeof *a);
    if (!a) return NONE;
    a->hash = h;
    a->idx = t->n;
    a->beam = beam;
    a->creation = creation;
    if (sw_htab_insert(&t->tab, h, a) != 0) {
        free(a);
        return NONE;
    }
    t->byidx[t->n++] = a;
    return a->idx;
}

static void ncs_close(ncs_t *t) {
    for (uint32_t i = 0; i < t->n; i++) free(t->byidx[i]);
    free(t->byidx);
    sw_htab_close(&t->tab);
}

/* ---- pid tables -------------------------------------------------------- */

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

typedef struct {
    prec_t *recs;
    uint32_t nrecs, caprecs, free_head, live;
    uint32_t *slots; /* record number + 1; 0: empty */
    uint32_t cap, mask;
} ptab_t;

static uint64_t pkey_hash(const pkey_t *k) {
    return sw_hash_u64(((uint64_t)k->nc << 32 | k->num) ^
                       sw_hash_u64((uint64_t)k->serial + 0x9e3779b97f4a7c15ULL));
}

static int pkey_eq(const pkey_t *a, const pkey_t *b) {
    return a->nc == b->nc && a->num == b->num && a->serial == b->serial;
}

static void ptab_init(ptab_t *t) {
    memset(t, 0, sizeof *t);
    t->free_head = NONE;
}

static mem_t *mems(prec_t *p) { return p->n <= 1 ? &p->m.one : p->m.many; }

static void ptab_close(ptab_t *t) {
    for (uint32_t r = 0; r < t->nrecs; r++)
        if (t->recs[r].k.nc != NONE && t->recs[r].n >= 2) free(t->recs[r].m.many);
    free(t->recs);
    free(t->slots);
    ptab_init(t);
}

static uint32_t ptab_find(const ptab_t *t, const pkey_t *k) {
    if (!t->cap) return NONE;
    for (size_t i = pkey_hash(k) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t s = t->slots[i];
        if (!s) return NONE;
        if (pkey_eq(&t->recs[s - 1].k, k)) return s - 1;
    }
}

static int ptab_grow_index(ptab_t *t) {
    uint32_t cap = t->cap ? t->cap * 2 : 16;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    uint32_t mask = cap - 1;
    for (uint32_t i = 0; i < t->cap; i++) {
        uint32_t s = t->slots[i];
        if (!s) continue;
        size_t j = pkey_hash(&t->recs[s - 1].k) & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->mask = mask;
    return 0;
}

/* Adds an empty record for k (which must be absent). Returns its number, or
 * NONE on out of memory. Pointers into t->recs are invalid afterwards. */
static uint32_t ptab_add(ptab_t *t, const pkey_t *k) {
    if ((t->live + 1) * 4 > t->cap * 3 && ptab_grow_index(t) != 0) return NONE;
    uint32_t r;
    if (t->free_head != NONE) {
        r = t->free_head;
        t->free_head = t->recs[r].m.one.gid;
    } else {
        if (t->nrecs == t->caprecs) {
            uint32_t cap = t->caprecs ? t->caprecs + t->caprecs / 2 : 16;
            prec_t *nr = realloc(t->recs, (size_t)cap * sizeof *nr);
            if (!nr) return NONE;
            t->recs = nr;
            t->caprecs = cap;
        }
        r = t->nrecs++;
    }
    prec_t *p = &t->recs[r];
    p->k = *k;
    p->n = 0;
    p->m.one.gid = p->m.one.pos = 0;
    size_t j = pkey_hash(k) & t->mask;
    while (t->slots[j]) j = (j + 1) & t->mask;
    t->slots[j] = r + 1;
    t->live++;
    return r;
}

/* Removes record r (its membership list must be empty) from the index and
 * puts it on the free list. Backward-shift deletion: every entry after the
 * hole that could have lived in it moves back, so no probe chain breaks. */
static void ptab_del(ptab_t *t, uint32_t r) {
    size_t i = pkey_hash(&t->recs[r].k) & t->mask;
    while (t->slots[i] != r + 1) i = (i + 1) & t->mask;
    t->slots[i] = 0;
    for (size_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
        size_t home = pkey_hash(&t->recs[t->slots[j] - 1].k) & t->mask;
        /* The entry at j may stay if its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = 0;
        i = j;
    }
    prec_t *p = &t->recs[r];
    if (p->n >= 2) free(p->m.many);
    p->k.nc = NONE;
    p->n = 0;
    p->m.one.gid = t->free_head;
    t->free_head = r;
    t->live--;
}

static int rec_find(prec_t *p, uint32_t gid) {
    mem_t *m = mems(p);
    for (uint32_t j = 0; j < p->n; j++)
        if (m[j].gid == gid) return (int)j;
    return -1;
}

/* Appends (gid, pos) to p's memberships. 0, or -1 on out of memory. */
static int rec_push(prec_t *p, uint32_t gid, uint32_t pos) {
    mem_t e = {gid, pos};
    if (p->n == 0) {
        p->m.one = e;
        p->n = 1;
        return 0;
    }
    if (p->n == 1) {
        mem_t *a = malloc(2 * sizeof *a);
        if (!a) return -1;
        a[0] = p->m.one;
        a[1] = e;
        p->m.many = a;
        p->n = 2;
        return 0;
    }
    if ((p->n & (p->n - 1)) == 0) { /* a power of two: the array is full */
        mem_t *a = realloc(p->m.many, (size_t)p->n * 2 * sizeof *a);
        if (!a) return -1;
        p->m.many = a;
    }
    p->m.many[p->n++] = e;
    return 0;
}

/* Removes membership j of p; the last one takes its place. */
static void rec_drop(prec_t *p, uint32_t j) {
    if (p->n == 1) {
        p->n = 0;
        return;
    }
    mem_t *a = p->m.many;
    a[j] = a[p->n - 1];
    p->n--;
    if (p->n == 1) {
        mem_t one = a[0];
        free(a);
        p->m.one = one;
    } else if ((p->n & (p->n - 1)) == 0) {
        /* Back to a power of two: give the upper half back. If realloc
         * fails the larger block simply stays. */
        mem_t *s = realloc(a, (size_t)p->n * sizeof *a);
        if (s) p->m.many = s;
    }
}

/* ---- groups and peers -------------------------------------------------- */

#define CHUNK_BITS 6
#define CHUNK_MAX (1u << 25) /* chunk ids per group: pos keeps bit 31 for MARK */

typedef struct {
    uint32_t n, cap;  /* members, capacity (4 .. SW_GROUP_CHUNK) */
    uint32_t mem[];   /* live record numbers */
} chunk_t;

typedef struct {
    uint64_t hash;
    chunk_t **chunks; /* by chunk id; NULL: id unused */
    uint32_t nids;    /* ids handed out so far (array length in use) */
    uint32_t capids;
    uint32_t live;    /* chunks allocated */
    uint32_t nonfull; /* allocated chunks with room */
    uint32_t room;    /* where the search for a chunk with room starts */
    uint32_t count;   /* members */
    uint32_t gid;
    uint32_t parked;  /* parked memberships naming this group */
    uint64_t *dirty;  /* chunk ids to send to swarm_groups */
    uint32_t dwords;
    uint8_t queued;   /* on the dq list */
    uint32_t nlen;
    char name[];      /* GroupBin: term_to_binary(Group), with 131 */
} group_t;

typedef struct {
    const char *name;
    size_t len;
} gkey_t;

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

    /* swarm_groups, the local replica's owner */
    erlang_pid proc;
    int have_proc, synced, synced_sent;
    sw_outbox_t mons, replies;
    uint64_t hello_at, now;

    sw_group_stats_t st;
    ei_x_buff scratch;
    int (*connected)(void *ud, const char *cnode);
    void *connected_ud;
};

static int group_eq(const void *item, const void *key) {
    const group_t *g = item;
    const gkey_t *k = key;
    return g->nlen == k->len && memcmp(g->name, k->name, k->len) == 0;
}

static uint64_t group_hash(const char *name, size_t len) { return sw_hash_bytes(name, len, 0x67727073); }

static group_t *group_find(const sw_group_t *g, const char *name, size_t len, uint64_t h) {
    gkey_t k = {name, len};
    return sw_htab_find(&g->gnames, h, &k, group_eq);
}

static int push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x) {
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 16;
        uint32_t *nv = realloc(*v, (size_t)c * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

/* The group with this name, created (empty) if absent and create is set. */
static group_t *group_get(sw_group_t *g, const char *name, size_t len, int create) {
    uint64_t h = group_hash(name, len);
    group_t *gr = group_find(g, name, len, h);
    if (gr || !create) return gr;
    uint32_t gid;
    if (g->nfree) {
        gid = g->freegids[--g->nfree];
    } else {
        if (g->ngids == g->capgids) {
            uint32_t cap = g->capgids ? g->capgids * 2 : 16;
            group_t **nb = realloc(g->byid, (size_t)cap * sizeof *nb);
            if (!nb) return NULL;
            g->byid = nb;
            g->capgids = cap;
        }
        gid = g->ngids++;
        g->byid[gid] = NULL;
    }
    gr = calloc(1, sizeof *gr + len);
    if (!gr || sw_htab_insert(&g->gnames, h, gr) != 0) {
        free(gr);
        push_u32(&g->freegids, &g->nfree, &g->capfree, gid);
        return NULL;
    }
    gr->hash = h;
    gr->gid = gid;
    gr->nlen = (uint32_t)len;
    memcpy(gr->name, name, len);
    g->byid[gid] = gr;
    g->st.groups++;
    return gr;
}

/* Frees a group nobody refers to any more: no member, no parked
 * membership, nothing left to send. */
static void group_maybe_free(sw_group_t *g, group_t *gr) {
    if (gr->count || gr->parked || gr->queued) return;
    sw_htab_remove(&g->gnames, gr->hash, gr);
    g->byid[gr->gid] = NULL;
    /* If the gid cannot be recycled it is simply never reused. */
    push_u32(&g->freegids, &g->nfree, &g->capfree, gr->gid);
    free(gr->chunks); /* all NULL: count == 0 */
    free(gr->dirty);
    free(gr);
    g->st.groups--;
}

/* Notes that chunk `chunk` of the group must be sent to swarm_groups. */
static void dirty(sw_group_t *g, group_t *gr, uint32_t chunk) {
    uint32_t w = chunk / 64;
    if (w >= gr->dwords) {
        uint32_t nw = w + 1 > gr->dwords * 2 ? w + 1 : gr->dwords * 2;
        uint64_t *d = realloc(gr->dirty, (size_t)nw * sizeof *d);
        if (!d) {
            SW_ERROR("out_of_memory", "what=group_dirty chunks=%u", chunk + 1);
            return;
        }
        memset(d + gr->dwords, 0, (size_t)(nw - gr->dwords) * sizeof *d);
        gr->dirty = d;
        gr->dwords = nw;
    }
    gr->dirty[w] |= 1ULL << (chunk % 64);
    if (!gr->queued) {
        if (push_u32(&g->dq, &g->ndq, &g->capdq, gr->gid) != 0) {
            SW_ERROR("out_of_memory", "what=group_queue");
            return;
        }
        gr->queued = 1;
    }
}

/* Marks every chunk to be sent again. */
static void dirty_all(sw_group_t *g, group_t *gr) {
    for (uint32_t k = 0; k < gr->nids; k++)
        if (gr->chunks[k]) dirty(g, gr, k);
}

/* Frees chunk k, which holds no member. */
static void chunk_release(group_t *gr, uint32_t k) {
    free(gr->chunks[k]);
    gr->chunks[k] = NULL;
    gr->live--;
    gr->nonfull--;
    while (gr->nids && !gr->chunks[gr->nids - 1]) gr->nids--;
    if (gr->room >= gr->nids) gr->room = 0;
}

/* The id of a chunk with room, allocating one if needed; NONE on out of
 * memory. */
static uint32_t chunk_with_room(group_t *gr) {
    if (gr->nonfull) {
        for (uint32_t i = 0; i < gr->nids; i++) {
            uint32_t k = (gr->room + i) % gr->nids;
            chunk_t *c = gr->chunks[k];
            if (c && c->n < SW_GROUP_CHUNK) {
                gr->room = k;
                return k;
            }
        }
    }
    uint32_t k = gr->nids;
    if (gr->live < gr->nids) { /* reuse a free id, the lowest */
        for (k = 0; gr->chunks[k]; k++) {
        }
    } else {
        if (gr->nids == CHUNK_MAX) return NONE;
        if (gr->nids == gr->capids) {
            uint32_t cap = gr->capids ? gr->capids * 2 : 1;
            chunk_t **nc = realloc(gr->chunks, (size_t)cap * sizeof *nc);
            if (!nc) return NONE;
            gr->chunks = nc;
            gr->capids = cap;
        }
        gr->chunks[gr->nids++] = NULL;
    }
    /* Small groups get small chunks; a group that filled one gets full
     * size ones at once. */
    uint32_t cap = gr->count >= SW_GROUP_CHUNK ? SW_GROUP_CHUNK : 4;
    chunk_t *c = malloc(sizeof *c + cap * sizeof(uint32_t));
    if (!c) return NONE;
    c->n = 0;
    c->cap = cap;
    gr->chunks[k] = c;
    gr->live++;
    gr->nonfull++;
    gr->room = k;
    return k;
}

/* Adds live record r to the group. 0, or -1 on out of memory. */
static int mem_add(sw_group_t *g, group_t *gr, uint32_t r) {
    uint32_t k = chunk_with_room(gr);
    if (k == NONE) return -1;
    chunk_t *c = gr->chunks[k];
    if (c->n == c->cap) {
        uint32_t cap = c->cap * 2 > SW_GROUP_CHUNK ? SW_GROUP_CHUNK : c->cap * 2;
        chunk_t *nc = realloc(c, sizeof *c + cap * sizeof(uint32_t));
        if (!nc) return -1;
        c = gr->chunks[k] = nc;
        c->cap = cap;
    }
    if (rec_push(&g->live.recs[r], gr->gid, k << CHUNK_BITS | c->n) != 0) {
        if (c->n == 0) chunk_release(gr, k);
        return -1;
    }
    c->mem[c->n++] = r;
    if (c->n == SW_GROUP_CHUNK) gr->nonfull--;
    dirty(g, gr, k);
    gr->count++;
    g->memberships++;
    return 0;
}

/* Removes membership j of live record r (in group gr). The chunk's last
 * member moves into the freed slot; an emptied chunk is freed. */
static void mem_del(sw_group_t *g, group_t *gr, uint32_t r, uint32_t j) {
    prec_t *p = &g->live.recs[r];
    uint32_t pos = mems(p)[j].pos & ~MARK;
    uint32_t k = pos >> CHUNK_BITS, slot = pos & (SW_GROUP_CHUNK - 1);
    chunk_t *c = gr->chunks[k];
    uint32_t last = c->n - 1;
    if (slot != last) {
        uint32_t mr = c->mem[last];
        prec_t *q = &g->live.recs[mr];
        mem_t *qm = &mems(q)[rec_find(q, gr->gid)];
        qm->pos = (qm->pos & MARK) | pos;
        c->mem[slot] = mr;
    }
    if (c->n == SW_GROUP_CHUNK) gr->nonfull++;
    c->n--;
    dirty(g, gr, k);
    gr->count--;
    rec_drop(p, j);
    g->memberships--;
    if (c->n == 0) {
        chunk_release(gr, k);
    } else if (k < gr->room) {
        gr->room = k; /* fill low chunks first */
    }
}

/* ---- pids: conversion and encoding ------------------------------------- */

/* The key of compact pid p, interning its incarnation. 0, or -1 on out of
 * memory. */
static int cpid_key(sw_group_t *g, const sw_pid_t *p, pkey_t *k) {
    uint32_t nc = nc_intern(&g->ncs, p->node, p->creation);
    if (nc == NONE) return -1;
    k->nc = nc;
    k->num = p->num;
    k->serial = p->serial;
    return 0;
}

static int to_key(sw_group_t *g, const erlang_pid *ep, pkey_t *k) {
    sw_pid_t p;
    if (sw_pid_compact(&g->atoms, ep, &p) != 0) return -1;
    return cpid_key(g, &p, k);
}

static uint32_t key_beam(const sw_group_t *g, const pkey_t *k) { return g->ncs.byidx[k->nc]->beam; }

/* Appends the pid of key k, as ei_x_encode_pid would: chunks re-encode up
 * to 64 pids per change, so this is one copy of the node's pid prefix (see
 * atoms.h) instead of ei's atom encoding per pid. */
static void enc_pid(ei_x_buff *x, const sw_group_t *g, const pkey_t *k) {
    const nc_t *nc = g->ncs.byidx[k->nc];
    sw_pid_t p = {nc->beam, k->num, k->serial, nc->creation};
    sw_pid_enc(x, &g->atoms, &p);
}

static int dec_pid(sw_group_t *g, const char *buf, int *index, pkey_t *k) {
    sw_pid_t p;
    if (sw_pid_dec(&g->atoms, buf, index, &p) != 0) return -1;
    return cpid_key(g, &p, k);
}

/* ---- outboxes ---------------------------------------------------------- */

/* {join | leave, GroupBin, Pid} to every connected peer. */
static void broadcast(sw_group_t *g, const char *op, const group_t *gr, const pkey_t *k) {
    for (uint32_t i = 0; i < g->peers.n; i++) {
        sw_peer_t *p = &g->peers.v[i];
        if (!p->conn_up) continue;
        ei_x_buff *x = &p->out.body;
        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_atom(x, op);
        ei_x_encode_binary(x, gr->name, (int)gr->nlen);
        enc_pid(x, g, k);
        p->out.count++;
    }
}

/* {down, Pid} to every connected peer. */
static void broadcast_down(sw_group_t *g, const pkey_t *k) {
    for (uint32_t i = 0; i < g->peers.n; i++) {
        sw_peer_t *p = &g->peers.v[i];
        if (!p->conn_up) continue;
        ei_x_buff *x = &p->out.body;
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "down");
        enc_pid(x, g, k);
        p->out.count++;
    }
}

/* {mon, Pid} for swarm_groups: monitor this local pid. Sent once per
 * local record (when it is created, and again to a new swarm_groups after
 * its hello), so swarm_groups needs no table of its monitors. */
static void mon_op(sw_group_t *g, const pkey_t *k) {
    ei_x_buff *x = &g->mons.body;
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "mon");
    enc_pid(x, g, k);
    g->mons.count++;
}

/* {Caller, Ref, Result} for swarm_groups. */
static void agent_reply(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                        const char *result) {
    ei_x_buff *x = &g->replies.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_encode_atom(x, result);
    g->replies.count++;
}

/* A reply to a caller on BEAM node ccbeam, queued after every change
 * already queued to that node: it sees the change before the reply. */
static void reply_via(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                      size_t rlen, const char *result) {
    if (!caller) return;
    if (ccbeam == g->self_beam) {
        agent_reply(g, caller, ref, rlen, result);
        return;
    }
    sw_peer_t *p = sw_peers_by_beam(&g->peers, ccbeam);
    if (!p || !p->conn_up) {
        g->st.unreachable++;
        SW_WARN("group_reply_dropped", "to=%s reason=no_connection", sw_atoms_str(&g->atoms, ccbeam));
        return;
    }
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, "reply");
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_encode_atom(x, result);
    p->out.count++;
}

/* ---- membership changes ------------------------------------------------ */

/* Makes k a member of the group named name/len. home: k is a local pid and
 * this node originates the change (broadcast it; a pid new here is to be
 * monitored). Returns 1 if added, 0 if it was a member already, -1 on out
 * of memory (nothing changed).
 *
 * A local pid's record lives from its first join until swarm_groups reports
 * it dead (or a new swarm_groups says hello): a local pid that left every
 * group keeps its record, with no memberships, because it stays monitored;
 * so a rejoin needs no second monitor, and swarm_groups keeps no table of
 * its monitors (a monitor there costs 64 bytes, a table entry more). */
static int member_add(sw_group_t *g, const char *name, size_t len, const pkey_t *k, int home) {
    group_t *gr = group_get(g, name, len, 1);
    if (!gr) return -1;
    uint32_t r = ptab_find(&g->live, k);
    if (r != NONE && rec_find(&g->live.recs[r], gr->gid) >= 0) return 0;
    int fresh = r == NONE;
    if (fresh && (r = ptab_add(&g->live, k)) == NONE) {
        group_maybe_free(g, gr);
        return -1;
    }
    if (mem_add(g, gr, r) != 0) {
        if (fresh) ptab_del(&g->live, r);
        group_maybe_free(g, gr);
        SW_ERROR("out_of_memory", "what=membership");
        return -1;
    }
    if (home) {
        broadcast(g, "join", gr, k);
        if (fresh) mon_op(g, k);
    }
    return 1;
}

/* Removes k from the group. home: as for member_add. Returns 1 if removed,
 * 0 if it was not a member. A local pid's record stays (see member_add). */
static int member_del(sw_group_t *g, group_t *gr, const pkey_t *k, int home) {
    uint32_t r = ptab_find(&g->live, k);
    if (r == NONE) return 0;
    int j = rec_find(&g->live.recs[r], gr->gid);
    if (j < 0) return 0;
    if (home) broadcast(g, "leave", gr, k);
    mem_del(g, gr, r, (uint32_t)j);
    if (g->live.recs[r].n == 0 && key_beam(g, k) != g->self_beam) ptab_del(&g->live, r);
    return 1;
}

/* Removes every membership of live record r, then the record. */
static void rec_clear(sw_group_t *g, uint32_t r) {
    prec_t *p;
    while ((p = &g->live.recs[r])->n > 0) {
        uint32_t j = p->n - 1;
        mem_del(g, g->byid[mems(p)[j].gid], r, j);
    }
    ptab_del(&g->live, r);
}

/* Copies the group list of live record r into the current park
 * generation. */
static void park_rec(sw_group_t *g, uint32_t r) {
    ptab_t *pt = &g->park[0];
    pkey_t k = g->live.recs[r].k;
    uint32_t pr = ptab_find(pt, &k);
    if (pr == NONE && (pr = ptab_add(pt, &k)) == NONE) return;
    prec_t *p = &g->live.recs[r];
    prec_t *q = &pt->recs[pr];
    for (uint32_t j = 0; j < p->n; j++) {
        uint32_t gid = mems(p)[j].gid;
        if (rec_find(q, gid) >= 0 || rec_push(q, gid, 0) != 0) continue;
        g->byid[gid]->parked++;
    }
    if (q->n == 0) ptab_del(pt, pr);
}

/* Forgets a park generation, releasing the groups it kept. */
static void park_drop(sw_group_t *g, ptab_t *pt) {
    for (uint32_t r = 0; r < pt->nrecs; r++) {
        prec_t *p = &pt->recs[r];
        if (p->k.nc == NONE) continue;
        for (uint32_t j = 0; j < p->n; j++) {
            group_t *gr = g->byid[mems(p)[j].gid];
            gr->parked--;
            group_maybe_free(g, gr);
        }
    }
    ptab_close(pt);
}

/* ---- requests ---------------------------------------------------------- */

static void join_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                      size_t rlen, const char *name, size_t len, const pkey_t *k) {
    int r = member_add(g, name, len, k, 1);
    reply_via(g, ccbeam, caller, ref, rlen, r < 0 ? "out_of_memory" : "ok");
}

static void leave_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                       size_t rlen, const char *name, size_t len, const pkey_t *k) {
    group_t *gr = group_get(g, name, len, 0);
    if (gr) member_del(g, gr, k, 1);
    reply_via(g, ccbeam, caller, ref, rlen, "ok");
}

/* Sends {join_req | leave_req, GroupBin, Pid, Caller, Ref} to the home, or
 * answers home_unreachable. */
static void request_remote(sw_group_t *g, const char *op, const erlang_pid *caller,
                           const char *ref, size_t rlen, const char *name, size_t len,
                           const erlang_pid *pid, uint32_t home) {
    sw_peer_t *p = sw_peers_by_beam(&g->peers, home);
    if (!p || !p->conn_up) {
        g->st.unreachable++;
        agent_reply(g, caller, ref, rlen, "home_unreachable");
        return;
    }
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_atom(x, op);
    ei_x_encode_binary(x, name, (int)len);
    ei_x_encode_pid(x, pid);
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    p->out.count++;
}

/* A local caller's join (join = 1) or leave: done here if pid is ours,
 * else asked of pid's home. */
static void join_or_leave(sw_group_t *g, int join, const erlang_pid *caller, const char *ref,
                          size_t rlen, const char *group, size_t glen, const erlang_pid *pid) {
    pkey_t k;
    if (to_key(g, pid, &k) != 0) {
        agent_reply(g, caller, ref, rlen, "out_of_memory");
        return;
    }
    uint32_t home = key_beam(g, &k);
    if (home != g->self_beam)
        request_remote(g, join ? "join_req" : "leave_req", caller, ref, rlen, group, glen, pid, home);
    else if (join)
        join_home(g, g->self_beam, caller, ref, rlen, group, glen, &k);
    else
        leave_home(g, g->self_beam, caller, ref, rlen, group, glen, &k);
}

void sw_group_join(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                   const char *group, size_t glen, const erlang_pid *pid) {
    join_or_leave(g, 1, caller, ref, rlen, group, glen, pid);
}

void sw_group_leave(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                    const char *group, size_t glen, const erlang_pid *pid) {
    join_or_leave(g, 0, caller, ref, rlen, group, glen, pid);
}

void sw_group_pid_down(sw_group_t *g, const erlang_pid *pid) {
    pkey_t k;
    if (to_key(g, pid, &k) != 0 || key_beam(g, &k) != g->self_beam) return;
    uint32_t r = ptab_find(&g->live, &k);
    if (r == NONE) return;
    if (g->live.recs[r].n > 0) broadcast_down(g, &k);
    rec_clear(g, r);
}

/* Appends the groups of k in table t to *gids. */
static void collect_gids(ptab_t *t, const pkey_t *k, uint32_t **gids, uint32_t *n, uint32_t *cap) {
    uint32_t r = ptab_find(t, k);
    if (r == NONE) return;
    prec_t *p = &t->recs[r];
    for (uint32_t j = 0; j < p->n; j++) push_u32(gids, n, cap, mems(p)[j].gid);
}

int sw_group_transfer(sw_group_t *g, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    pkey_t ok, nk;
    if (to_key(g, old_pid, &ok) != 0 || to_key(g, new_pid, &nk) != 0) return -1;
    uint32_t home = key_beam(g, &nk);
    if (home != g->self_beam) {
        sw_peer_t *p = sw_peers_by_beam(&g->peers, home);
        if (!p || !p->conn_up) {
            g->st.unreachable++;
            return -1;
        }
        ei_x_buff *x = &p->out.body;
        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_atom(x, "transfer");
        ei_x_encode_pid(x, old_pid);
        ei_x_encode_pid(x, new_pid);
        p->out.count++;
        return 0;
    }
    /* Copy the gids first: joining may move the records they live in. */
    uint32_t *gids = NULL, n = 0, cap = 0;
    collect_gids(&g->live, &ok, &gids, &n, &cap);
    collect_gids(&g->park[0], &ok, &gids, &n, &cap);
    collect_gids(&g->park[1], &ok, &gids, &n, &cap);
    int added = 0;
    for (uint32_t i = 0; i < n; i++) {
        group_t *gr = g->byid[gids[i]];
        if (gr && member_add(g, gr->name, gr->nlen, &nk, 1) == 1) added++;
    }
    free(gids);
    return added;
}

/* ---- sync -------------------------------------------------------------- */

/* Calls fn for every member of the group (a live record number). */
#define FOR_MEMBERS(gr, r, body)                                      \
    for (uint32_t k_ = 0; k_ < (gr)->nids; k_++) {                    \
        const chunk_t *c_ = (gr)->chunks[k_];                         \
        for (uint32_t i_ = 0; c_ && i_ < c_->n; i_++) {               \
            uint32_t r = c_->mem[i_];                                 \
            body;                                                     \
        }                                                             \
    }

static int is_local(const sw_group_t *g, uint32_t r) {
    return key_beam(g, &g->live.recs[r].k) == g->self_beam;
}

static long local_members(const sw_group_t *g, const group_t *gr) {
    long n = 0;
    FOR_MEMBERS(gr, r, n += is_local(g, r));
    return n;
}

/* Queues {sync, [{GroupBin, [Pid]}]}: the memberships of our pids. */
static void send_sync(sw_group_t *g, sw_peer_t *p) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "sync");
    long ngroups = 0;
    for (uint32_t gid = 0; gid < g->ngids; gid++)
        if (g->byid[gid] && local_members(g, g->byid[gid])) ngroups++;
    if (ngroups) ei_x_encode_list_header(x, ngroups);
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        const group_t *gr = g->byid[gid];
        long n = gr ? local_members(g, gr) : 0;
        if (!n) continue;
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_binary(x, gr->name, (int)gr->nlen);
        ei_x_encode_list_header(x, n);
        FOR_MEMBERS(gr, r, if (is_local(g, r)) enc_pid(x, g, &g->live.recs[r].k));
        ei_x_encode_empty_list(x);
    }
    ei_x_encode_empty_list(x);
    p->out.count++;
    p->sync_sent = 1;
}

static void maybe_synced(sw_group_t *g) {
    if (g->synced || !g->have_proc || sw_peers_awaiting(&g->peers)) return;
    g->synced = 1;
}

/* Validates a list [{GroupBin, [Pid]}]. With beam != NULL, every pid must
 * live on that BEAM node. Advances *index past the list. */
static int check_glist(const char *buf, int *index, const char *beam) {
    int type, size, n, tup, m;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    if (type == ERL_NIL_EXT) return sw_term_skip(buf, index);
    if (ei_decode_list_header(buf, index, &n) != 0) return -1;
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t len;
        if (ei_decode_tuple_header(buf, index, &tup) != 0 || tup != 2 ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0)
            return -1;
        if (ei_get_type(buf, index, &type, &size) != 0) return -1;
        if (type == ERL_NIL_EXT) {
            if (sw_term_skip(buf, index) != 0) return -1;
            continue;
        }
        if (ei_decode_list_header(buf, index, &m) != 0) return -1;
        for (int j = 0; j < m; j++) {
            erlang_pid ep;
            if (ei_decode_pid(buf, index, &ep) != 0) return -1;
            if (beam && strcmp(ep.node, beam) != 0) return -1;
        }
        if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
        sw_term_skip(buf, index);
    }
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
    return sw_term_skip(buf, index);
}

/* Calls fn for every (GroupBin, Pid) of a list validated by check_glist;
 * *index ends past the list. */
typedef void (*glist_cb)(sw_group_t *g, const char *name, size_t len, const pkey_t *k, void *arg);

static void walk_glist(sw_group_t *g, const char *buf, int *index, glist_cb fn, void *arg) {
    int n, tup, m;
    if (ei_decode_list_header(buf, index, &n) != 0) return;
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t len;
        ei_decode_tuple_header(buf, index, &tup);
        sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len);
        ei_decode_list_header(buf, index, &m);
        for (int j = 0; j < m; j++) {
            pkey_t k;
            if (dec_pid(g, buf, index, &k) == 0) fn(g, name, len, &k, arg);
        }
        if (m > 0) sw_term_skip(buf, index); /* the pid list's tail */
    }
    if (n > 0) sw_term_skip(buf, index);
}

/* Sync item: add if absent, and mark the membership as listed. */
static void sync_item(sw_group_t *g, const char *name, size_t len, const pkey_t *k, void *arg) {
    (void)arg;
    if (member_add(g, name, len, k, 0) < 0) return;
    group_t *gr = group_get(g, name, len, 0);
    uint32_t r = ptab_find(&g->live, k);
    if (!gr || r == NONE) return;
    prec_t *p = &g->live.recs[r];
    mems(p)[rec_find(p, gr->gid)].pos |= MARK;
}

/* A home's sync: authoritative for the pids of its BEAM node. */
static int apply_sync(sw_group_t *g, sw_peer_t *from, const char *buf, int *index) {
    int start = *index;
    if (check_glist(buf, index, sw_atoms_str(&g->atoms, from->beam)) != 0) return -1;
    int i = start;
    walk_glist(g, buf, &i, sync_item, NULL);
    /* Drop what we hold for that node's pids and the sync did not list. */
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *p = &g->live.recs[r];
        if (p->k.nc == NONE || key_beam(g, &p->k) != from->beam) continue;
        for (uint32_t j = p->n; j-- > 0;) {
            p = &g->live.recs[r];
            mem_t *m = &mems(p)[j];
            if (m->pos & MARK) m->pos &= ~MARK;
            else mem_del(g, g->byid[m->gid], r, j);
        }
        if (g->live.recs[r].n == 0) ptab_del(&g->live, r);
    }
    from->synced = 1;
    if (sw_peer_unawait(from)) maybe_synced(g);
    return 0;
}

/* ---- peer ops ---------------------------------------------------------- */

/* One op from peer `from` (an sw_peer_op_cb; ud is the group state). */
static int apply_op(void *ud, sw_peer_t *from, const char *buf, int *index) {
    sw_group_t *g = ud;
    int arity;
    char tag[MAXATOMLEN_UTF8];
    const char *name, *ref;
    size_t len, rlen;
    pkey_t k;
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 1) return -1;
    if (ei_decode_atom(buf, index, tag) != 0) return -1;
    if (strcmp(tag, "hello") == 0) {
        char beam[MAXATOMLEN_UTF8];
        if (arity != 2 || ei_decode_atom(buf, index, beam) != 0) return -1;
        /* A C node speaks only for the BEAM node its own name implies. */
        if (!sw_peer_hello_ok(sw_atoms_str(&g->atoms, from->cnode), beam)) return -1;
        uint32_t b = sw_atoms_intern(&g->atoms, beam);
        if (b == NONE || b == g->self_beam) return -1;
        /* (A record that knew the BEAM node first, by peer_up before the
         * connection, is merged into this one.) */
        sw_peers_set_beam(&g->peers, from, b);
        return 0;
    }
    if (from->beam == NONE) return -1; /* everything else needs hello first */
    if (strcmp(tag, "join") == 0 || strcmp(tag, "leave") == 0) {
        if (arity != 3 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 || dec_pid(g, buf, index, &k) != 0 ||
            key_beam(g, &k) != from->beam)
            return -1;
        if (tag[0] == 'j') {
            member_add(g, name, len, &k, 0);
        } else {
            group_t *gr = group_get(g, name, len, 0);
            if (gr) member_del(g, gr, &k, 0);
        }
    } else if (strcmp(tag, "down") == 0) {
        if (arity != 2 || dec_pid(g, buf, index, &k) != 0 || key_beam(g, &k) != from->beam) return -1;
        uint32_t r = ptab_find(&g->live, &k);
        if (r != NONE) rec_clear(g, r);
    } else if (strcmp(tag, "sync") == 0) {
        if (arity != 2) return -1;
        return apply_sync(g, from, buf, index);
    } else if (strcmp(tag, "join_req") == 0 || strcmp(tag, "leave_req") == 0) {
        erlang_pid caller;
        if (arity != 5 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 || dec_pid(g, buf, index, &k) != 0 ||
            ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0)
            return -1;
        if (key_beam(g, &k) != g->self_beam) {
            /* Not ours (the sender's view is wrong): answer, never hang. */
            reply_via(g, from->beam, &caller, ref, rlen, "home_unreachable");
            return -1;
        }
        if (tag[0] == 'j') join_home(g, from->beam, &caller, ref, rlen, name, len, &k);
        else leave_home(g, from->beam, &caller, ref, rlen, name, len, &k);
    } else if (strcmp(tag, "reply") == 0) {
        erlang_pid caller;
        char res[MAXATOMLEN_UTF8];
        if (arity != 4 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0 ||
            ei_decode_atom(buf, index, res) != 0)
            return -1;
        agent_reply(g, &caller, ref, rlen, res);
    } else if (strcmp(tag, "transfer") == 0) {
        erlang_pid op, np;
        pkey_t nk;
        if (arity != 3 || ei_decode_pid(buf, index, &op) != 0 || ei_decode_pid(buf, index, &np) != 0 ||
            to_key(g, &np, &nk) != 0 || key_beam(g, &nk) != g->self_beam)
            return -1;
        sw_group_transfer(g, &op, &np);
    } else {
        return -1;
    }
    return 0;
}

static void conn_open(sw_group_t *g, sw_peer_t *p);

int sw_group_peer_ops(sw_group_t *g, const char *cnode, const char *buf, int *index) {
    /* As for the registry: a node the agent did not report becomes a peer
     * only by a first hello naming the BEAM node its name implies;
     * anything else is dropped and costs nothing. */
    int greet;
    sw_peer_t *p = sw_peers_for_ops(&g->peers, &g->atoms, cnode, buf, *index, &greet);
    if (!p) {
        g->st.bad_ops++;
        SW_WARN("gops_from_stranger", "from=%s", cnode);
        return 1;
    }
    if (greet) conn_open(g, p);
    if (!p->conn_up || p->down) return 1;
    return sw_peer_ops_guarded(p, &g->atoms, cnode, buf, index, apply_op, g, &g->st.bad_ops,
                               "bad_group_op");
}

/* ---- membership of the cluster ----------------------------------------- */

void sw_group_set_connected(sw_group_t *g, int (*fn)(void *ud, const char *cnode), void *ud) {
    g->connected = fn;
    g->connected_ud = ud;
}

void sw_group_peer_up(sw_group_t *g, const char *beam, const char *cnode) {
    sw_atoms_refill(&g->atoms);
    sw_peer_t *p = sw_peers_up(&g->peers, &g->atoms, g->self_beam, beam, cnode);
    /* Its C node may have connected while still a stranger: greet it. */
    if (p && !p->conn_up && g->connected && g->connected(g->connected_ud, cnode)) conn_open(g, p);
}

void sw_group_peer_down(sw_group_t *g, const char *beam) {
    uint32_t b = sw_atoms_find(&g->atoms, beam);
    if (b == NONE || b == g->self_beam) return;
    sw_peer_t *p = sw_peers_down(&g->peers, b);
    if (p && sw_peer_unawait(p)) maybe_synced(g);
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *q = &g->live.recs[r];
        if (q->k.nc == NONE || key_beam(g, &q->k) != b) continue;
        park_rec(g, r);
        rec_clear(g, r);
    }
}

void sw_group_agent_hello(sw_group_t *g, const char *buf, int index) {
    int n, tup;
    if (sw_term_skip(buf, &index) != 0) return;
    int list = index;
    if (ei_decode_list_header(buf, &index, &n) != 0) return;
    for (int i = 0; i < n; i++) {
        char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, &index, &tup) != 0 || tup != 2 ||
            ei_decode_atom(buf, &index, beam) != 0 || ei_decode_atom(buf, &index, cnode) != 0)
            return;
        sw_group_peer_up(g, beam, cnode);
    }
    /* The list is the agent's whole view: a node it reported before and no
     * longer lists went down while a peer_down was lost in flight (their
     * link dropped; this hello is the resynchronisation). */
    for (uint32_t k = 0; k < g->peers.n; k++) {
        sw_peer_t *p = &g->peers.v[k];
        if (!p->agent_up || p->beam == NONE) continue;
        const char *b = sw_atoms_str(&g->atoms, p->beam);
        if (!sw_peer_list_names(buf, list, b)) {
            char gone[MAXATOMLEN_UTF8];
            snprintf(gone, sizeof gone, "%s", b);
            sw_group_peer_down(g, gone);
        }
    }
}

void sw_group_conn_up(sw_group_t *g, const char *cnode) {
    /* Only a C node the agent reported is greeted at once; any other must
     * say hello first (sw_group_peer_ops). */
    uint32_t c = sw_atoms_find(&g->atoms, cnode);
    sw_peer_t *p = c == NONE ? NULL : sw_peers_by_cnode(&g->peers, c);
    if (!p) return;
    conn_open(g, p);
}

/* The connection to p's C node is up and p is a swarm peer: greet it. */
static void conn_open(sw_group_t *g, sw_peer_t *p) {
    p->conn_up = 1;
    p->synced = 0;
    p->sync_sent = 0;
    sw_outbox_release(&p->out);
    sw_peer_hello(p, &g->atoms, g->self_beam);
    /* Before swarm_groups' hello our home memberships are not known yet
     * (after a restart), and an empty sync would make the peer drop them. */
    if (g->have_proc) send_sync(g, p);
}

void sw_group_conn_down(sw_group_t *g, const char *cnode) {
    uint32_t c = sw_atoms_find(&g->atoms, cnode);
    sw_peer_t *p = c == NONE ? NULL : sw_peers_by_cnode(&g->peers, c);
    if (!p) return;
    p->conn_up = 0;
    p->synced = 0;
    p->sync_sent = 0;
    sw_outbox_release(&p->out);
    sw_peers_forget(&g->peers, p);
}

/* ---- local messages ---------------------------------------------------- */

static void adopt_item(sw_group_t *g, const char *name, size_t len, const pkey_t *k, void *arg) {
    (void)arg;
    if (key_beam(g, k) == g->self_beam) member_add(g, name, len, k, 1);
}

static int ghello(sw_group_t *g, const erlang_pid *proc, const char *buf, int *index) {
    int start = *index;
    erlang_pid holder;
    if (check_glist(buf, index, NULL) != 0 || ei_decode_pid(buf, index, &holder) != 0) return -1;
    /* Only a C node that never met swarm_groups adopts its list (it was
     * restarted: the list is all it can know). A later hello (swarm_groups
     * restarted, or their link dropped and came back) finds this state the
     * truth: the list may still show a membership whose leave was lost. */
    int adopt = !g->have_proc;
    g->proc = *proc;
    g->have_proc = 1;
    g->synced = g->synced_sent = 0;
    g->hello_at = g->now;
    int i = start;
    if (adopt) walk_glist(g, buf, &i, adopt_item, NULL);
    /* The whole replica again: every chunk, and one monitor request per
     * local member to this swarm_groups, which monitors nothing yet (a new
     * one monitors from a new process): older requests are dropped, and
     * local pids that left every group are forgotten (nobody monitors
     * them any more). */
    sw_outbox_reset(&g->mons);
    /* First in the list, {hello, Holder}: the monitor requests that follow
     * are for that holder; swarm_groups drops those before it (made for an
     * earlier holder, or for an earlier hello). */
    ei_x_encode_tuple_header(&g->mons.body, 2);
    ei_x_encode_atom(&g->mons.body, "hello");
    ei_x_encode_pid(&g->mons.body, &holder);
    g->mons.count++;
    for (uint32_t gid = 0; gid < g->ngids; gid++)
        if (g->byid[gid]) dirty_all(g, g->byid[gid]);
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *p = &g->live.recs[r];
        if (p->k.nc == NONE || key_beam(g, &p->k) != g->self_beam) continue;
        if (p->n == 0) ptab_del(&g->live, r);
        else mon_op(g, &p->k);
    }
    for (uint32_t k = 0; k < g->peers.n; k++) {
        sw_peer_t *p = &g->peers.v[k];
        if (p->conn_up && !p->sync_sent) send_sync(g, p);
        p->awaited = p->agent_up && !p->synced;
    }
    maybe_synced(g);
    SW_INFO("groups_hello", "groups=%llu memberships=%llu", (unsigned long long)g->st.groups,
            (unsigned long long)g->memberships);
    return 0;
}

static void reply_stats(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen) {
    sw_group_stats_t st;
    sw_group_stats(g, &st);
    const sw_counter_t kv[] = {
        {"groups", st.groups},           {"memberships", st.memberships},
        {"pids", st.pids},               {"parked", st.parked},
        {"bad_ops", st.bad_ops},         {"bad_msgs", st.bad_msgs},
        {"unreachable", st.unreachable}, {"state_bytes", st.state_bytes},
        {"synced", (uint64_t)g->synced},
    };
    size_t n = sizeof kv / sizeof kv[0];
    ei_x_buff *x = &g->replies.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    sw_term_enc_counters(x, kv, n);
    g->replies.count++;
}

int sw_group_local(sw_group_t *g, const char *tag, int arity, const char *buf, int *index) {
    erlang_pid caller, pid, pid2;
    const char *ref, *name;
    size_t rlen, len;
    if (strcmp(tag, "gjoin") == 0 || strcmp(tag, "gleave") == 0) {
        if (arity != 6 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0 ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 || ei_decode_pid(buf, index, &pid) != 0)
            goto bad;
        if (tag[1] == 'j') sw_group_join(g, &caller, ref, rlen, name, len, &pid);
        else sw_group_leave(g, &caller, ref, rlen, name, len, &pid);
    } else if (strcmp(tag, "gdown") == 0) {
        if (arity != 3 || ei_decode_pid(buf, index, &pid) != 0) goto bad;
        sw_group_pid_down(g, &pid);
    } else if (strcmp(tag, "ghello") == 0) {
        if (arity != 5 || ei_decode_pid(buf, index, &pid) != 0 || ghello(g, &pid, buf, index) != 0)
            goto bad;
    } else if (strcmp(tag, "gtransfer") == 0) {
        if (arity != 4 || ei_decode_pid(buf, index, &pid) != 0 || ei_decode_pid(buf, index, &pid2) != 0)
            goto bad;
        sw_group_transfer(g, &pid, &pid2);
    } else if (strcmp(tag, "gstats") == 0) {
        if (arity != 4 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0)
            goto bad;
        reply_stats(g, &caller, ref, rlen);
    } else {
        goto bad;
    }
    return 0;
bad:
    g->st.bad_msgs++;
    return -1;
}

/* ---- lifecycle, time, output ------------------------------------------- */

sw_group_t *sw_group_new(const char *beam) {
    sw_group_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    sw_atoms_init(&g->atoms);
    sw_htab_init(&g->ncs.tab);
    sw_htab_init(&g->gnames);
    ptab_init(&g->live);
    ptab_init(&g->park[0]);
    ptab_init(&g->park[1]);
    sw_outbox_init(&g->mons);
    sw_outbox_init(&g->replies);
    ei_x_new(&g->scratch);
    g->self_beam = sw_atoms_intern(&g->atoms, beam);
    if (g->self_beam == NONE) {
        sw_group_free(g);
        return NULL;
    }
    return g;
}

void sw_group_free(sw_group_t *g) {
    if (!g) return;
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        group_t *gr = g->byid[gid];
        if (!gr) continue;
        for (uint32_t k = 0; k < gr->nids; k++) free(gr->chunks[k]);
        free(gr->chunks);
        free(gr->dirty);
        free(gr);
    }
    free(g->byid);
    free(g->freegids);
    free(g->dq);
    sw_htab_close(&g->gnames);
    ptab_close(&g->live);
    ptab_close(&g->park[0]);
    ptab_close(&g->park[1]);
    sw_peers_close(&g->peers);
    sw_outbox_free(&g->mons);
    sw_outbox_free(&g->replies);
    ei_x_free(&g->scratch);
    ncs_close(&g->ncs);
    sw_atoms_close(&g->atoms);
    free(g);
}

void sw_group_tick(sw_group_t *g, uint64_t now_ms) {
    if (!g) return;
    g->now = now_ms;
    if (g->have_proc && !g->synced && now_ms - g->hello_at >= SYNC_TIMEOUT_MS) {
        SW_WARN("groups_sync_timeout", "waited_ms=%u", SYNC_TIMEOUT_MS);
        for (uint32_t i = 0; i < g->peers.n; i++) g->peers.v[i].awaited = 0;
        maybe_synced(g);
    }
    if (now_ms - g->park_rotated >= PARK_MS) {
        g->park_rotated = now_ms;
        park_drop(g, &g->park[1]);
        g->park[1] = g->park[0];
        ptab_init(&g->park[0]);
    }
}

/* The dirty chunks, [{GroupBin, K, PidTuple}] (an empty tuple: chunk K is
 * gone); clears dq. */
static void emit_chunks(sw_group_t *g, ei_x_buff *x) {
    long total = 0;
    for (uint32_t i = 0; i < g->ndq; i++) {
        const group_t *gr = g->byid[g->dq[i]];
        for (uint32_t w = 0; w < gr->dwords; w++) total += __builtin_popcountll(gr->dirty[w]);
    }
    if (total) ei_x_encode_list_header(x, total);
    for (uint32_t i = 0; i < g->ndq; i++) {
        group_t *gr = g->byid[g->dq[i]];
        for (uint32_t w = 0; w < gr->dwords; w++) {
            for (uint64_t bits = gr->dirty[w]; bits; bits &= bits - 1) {
                uint32_t k = w * 64 + (uint32_t)__builtin_ctzll(bits);
                const chunk_t *c = k < gr->nids ? gr->chunks[k] : NULL;
                ei_x_encode_tuple_header(x, 3);
                ei_x_encode_binary(x, gr->name, (int)gr->nlen);
                ei_x_encode_ulong(x, k);
                ei_x_encode_tuple_header(x, c ? (long)c->n : 0);
                for (uint32_t m = 0; c && m < c->n; m++) enc_pid(x, g, &g->live.recs[c->mem[m]].k);
            }
        }
        free(gr->dirty);
        gr->dirty = NULL;
        gr->dwords = 0;
        gr->queued = 0;
        group_maybe_free(g, gr);
    }
    g->ndq = 0;
    ei_x_encode_empty_list(x);
}

void sw_group_flush(sw_group_t *g, sw_group_emit_cb emit, void *ud) {
    if (!g) return;
    ei_x_buff *x = &g->scratch;
    for (uint32_t i = 0; i < g->peers.n; i++) {
        sw_peer_t *p = &g->peers.v[i];
        if (!p->out.count) continue;
        x->index = 0;
        ei_x_encode_version(x);
        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_atom(x, SW_PROTO_TAG);
        ei_x_encode_atom(x, "gops");
        sw_outbox_emit(x, &p->out);
        sw_outbox_release(&p->out);
        if (p->conn_up) emit(ud, sw_atoms_str(&g->atoms, p->cnode), NULL, x->buff, (size_t)x->index);
    }
    if (!g->have_proc) return;
    if (g->ndq || g->mons.count || g->replies.count) {
        x->index = 0;
        ei_x_encode_version(x);
        ei_x_encode_tuple_header(x, 5);
        ei_x_encode_atom(x, SW_PROTO_TAG);
        ei_x_encode_atom(x, "gbatch");
        emit_chunks(g, x);
        sw_outbox_emit(x, &g->mons);
        sw_outbox_emit(x, &g->replies);
        sw_outbox_reset(&g->mons);
        sw_outbox_reset(&g->replies);
        emit(ud, NULL, &g->proc, x->buff, (size_t)x->index);
        sw_outbox_release(&g->mons);
        sw_outbox_release(&g->replies);
    }
    sw_buf_release(x);
    if (g->synced && !g->synced_sent) {
        g->synced_sent = 1;
        x->index = 0;
        ei_x_encode_version(x);
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, SW_PROTO_TAG);
        ei_x_encode_atom(x, "gsynced");
        emit(ud, NULL, &g->proc, x->buff, (size_t)x->index);
    }
}

int sw_group_pending(const sw_group_t *g) {
    if (!g) return 0;
    if (sw_peers_pending(&g->peers)) return 1;
    return g->have_proc && (g->ndq || g->mons.count || g->replies.count || (g->synced && !g->synced_sent));
}

int sw_group_synced(const sw_group_t *g) { return g->synced; }

static uint64_t ptab_bytes(const ptab_t *t) {
    uint64_t b = (uint64_t)t->caprecs * sizeof(prec_t) + (uint64_t)t->cap * sizeof(uint32_t);
    for (uint32_t r = 0; r < t->nrecs; r++) {
        const prec_t *p = &t->recs[r];
        if (p->k.nc == NONE || p->n < 2) continue;
        uint32_t cap = 2;
        while (cap < p->n) cap *= 2;
        b += cap * sizeof(mem_t);
    }
    return b;
}

void sw_group_stats(const sw_group_t *g, sw_group_stats_t *out) {
    *out = g->st;
    out->memberships = g->memberships;
    out->pids = g->live.live;
    out->parked = g->park[0].live + g->park[1].live;
    uint64_t b = sizeof *g + ptab_bytes(&g->live) + ptab_bytes(&g->park[0]) + ptab_bytes(&g->park[1]);
    b += (uint64_t)g->gnames.cap * sizeof(sw_htab_slot_t) + (uint64_t)g->capgids * sizeof(group_t *);
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        const group_t *gr = g->byid[gid];
        if (!gr) continue;
        b += sizeof *gr + gr->nlen + (uint64_t)gr->capids * sizeof(chunk_t *) + gr->dwords * 8u;
        for (uint32_t k = 0; k < gr->nids; k++)
            if (gr->chunks[k]) b += sizeof(chunk_t) + gr->chunks[k]->cap * sizeof(uint32_t);
    }
    out->state_bytes = b;
}

int sw_group_is_member(const sw_group_t *g, const char *group, size_t glen, const erlang_pid *pid) {
    const group_t *gr = group_find(g, group, glen, group_hash(group, glen));
    uint32_t b = sw_atoms_find(&g->atoms, pid->node);
    if (!gr || b == NONE) return 0;
    /* Look the incarnation up without interning (g is const here). */
    nckey_t nk = {b, pid->creation};
    const nc_t *nc = sw_htab_find(&g->ncs.tab, sw_hash_u64((uint64_t)b << 32 | pid->creation), &nk,
                                  nc_eq);
    if (!nc) return 0;
    pkey_t k = {nc->idx, pid->num, pid->serial};
    uint32_t r = ptab_find(&g->live, &k);
    if (r == NONE) return 0;
    prec_t *p = &g->live.recs[r];
    return rec_find(p, gr->gid) >= 0;
}

size_t sw_group_count(const sw_group_t *g, const char *group, size_t glen) {
    const group_t *gr = group_find(g, group, glen, group_hash(group, glen));
    return gr ? gr->count : 0;
}
