/* tracker.c - the registry state machine; see tracker.h for the contract and
 * README.md (Internals) for the protocol.
 *
 * State:
 *   names    name bytes -> entry            (committed entries and reservations)
 *   pids     pid -> its committed entries   (the entry itself when the pid has
 *            one name, else a pidset_t listing them)
 *   resv     claim reservations (this node is the owner and has sent a claim
 *            to the home of the pid): expiry, FIFO order, oldest first
 *   atoms    interned node names (atoms.h); indexes are local to this
 *            tracker and never go on the wire; a pid is held as an sw_pid_t
 *   peers    one record per known C node: its BEAM node, connection state and
 *            outbox (peers.h)
 *
 * Why a home and an owner. The owner (ring) serialises decisions so that two
 * concurrent registrations of one name in a connected cluster get exactly one
 * yes. The home (node of the pid) is where the pid is monitored, so it is the
 * only node that can say an entry is still valid; making it the origin of
 * every add and delete of its entries means each peer sees them in order (one
 * FIFO connection), and a home's sync is authoritative for its pids: a peer
 * drops any entry of that home's pids the sync does not list. Homes never
 * move (a pid lives where it lives), so ring changes never move authority.
 *
 * Failure modes, stated plainly. (1) While two nodes disagree about the ring
 * (a node just joined, left or restarted; a restarted owner may also decide
 * before the syncs that hold a name reached it), two owners may both say yes
 * to one name; the two entries then meet at every node and the larger stamp
 * (ties: the larger pid) wins everywhere. A node that sees the conflict tells
 * the loser's home ({lost, ...}), and the home deletes the loser everywhere:
 * without that, the loser would live on at its home and come back with its
 * next sync after the winner is gone, at some nodes only. So the registry
 * still converges, but one of the two callers that got yes loses the name.
 * (2) A claim whose home never answers (its C node died) holds the name
 * reserved for CLAIM_TIMEOUT_MS; its caller gets no reply from us. (3) When
 * only a C node restarts, its BEAM node's entries stay valid on the peers;
 * the restarted node rebuilds its home entries from its agent's replica
 * (with fresh stamps: a home's stamp for its own entry always replaces the
 * peers' copy) and re-syncs, which also removes entries of processes that
 * died while it was down. (4) Once the agent reports a BEAM node down, its
 * C node is not listened to (what it still sends is ignored, a dial from it
 * is hung up) until the agent reports the node up again, so nothing brings
 * its purged names back. */
#include "tracker.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atoms.h"
#include "htab.h"
#include "log.h"
#include "peers.h"
#include "ring.h"
#include "swarm_proto.h"
#include "term.h"

/* A reservation whose home never answers its claim is given up after this
 * long. Only a last resort: a claim is lost only with its connection
 * (conn_lost drops the reservations at once) and a hung C node is killed by
 * its agent's watchdog (its connections drop too); given up early, a
 * reservation whose home is merely slow (a backlog, valgrind) lets a second
 * claim for the name through, and both callers get yes. */
#define CLAIM_TIMEOUT_MS SW_CLAIM_TIMEOUT_MS
#define SYNC_TIMEOUT_MS 10000u
#define REDIAL_MS 1000u
/* From a ring's growth to the handoff scan (the tick runs every 500 ms). */
#define HANDOFF_DELAY_MS 300u

/* ---- words ------------------------------------------------------------
 *
 * The atoms written with every operation (op tags, results, the envelope),
 * encoded by ei once per process and copied from then on: ei_x_encode_atom
 * sizes, checks and converts its string at every call. */
typedef enum {
    W_ADD, W_DEL, W_REPLY, W_CLAIM, W_CLAIM_NACK, W_REG_REQ, W_UNREG_REQ, W_LOST,
    W_YES, W_NO, W_OK, W_PROTO, W_OPS, W_BATCH, W_COUNT
} word_t;

static const char *const word_str[W_COUNT] = {
    "add", "del", "reply", "claim", "claim_nack", "reg_req", "unreg_req", "lost",
    "yes", "no", "ok", SW_PROTO_TAG, "ops", "batch"};

/* The ei encoding of word w (*len bytes; 0 if ei could not encode it, which
 * it always can for these short ASCII words). */
static const char *word_bytes(word_t w, size_t *len) {
    static struct {
        int len;
        char ext[32];
    } words[W_COUNT];
    static int ready;
    if (!ready) {
        for (int i = 0; i < W_COUNT; i++) {
            int n = 0;
            if (ei_encode_atom(NULL, &n, word_str[i]) == 0 && n <= (int)sizeof words[i].ext) {
                n = 0;
                if (ei_encode_atom(words[i].ext, &n, word_str[i]) == 0) words[i].len = n;
            }
        }
        ready = 1;
    }
    *len = (size_t)words[w].len;
    return words[w].ext;
}

/* ei_x_encode_atom(x, word_str[w]), from the bytes made once. */
static void enc_word(ei_x_buff *x, word_t w) {
    size_t len;
    const char *b = word_bytes(w, &len);
    if (len) ei_x_append_buf(x, b, (int)len);
    else ei_x_encode_atom(x, word_str[w]);
}

/* ---- entries ----------------------------------------------------------- */

typedef struct {
    uint64_t counter;
    uint32_t origin; /* atom index of the node that issued the stamp */
} stamp_t;

/* One name: a committed entry or a reservation, in one malloc'd block of
 * ENTRY_HDR + nlen bytes (+ 4 + MFA size for an MFA entry), the most
 * frequent object of a C node, hence packed: no stored hash (names_hash()
 * recomputes it from the name when a table needs it), the stamp as two
 * fields (no padding), no links (the pid index and the reservation records
 * are outside), sizes and kind in one word. A name of up to 20 bytes (say
 * {worker, 12345}) makes a 56-byte block, one 64-byte malloc chunk. */
typedef struct entry_s entry_t;
struct entry_s {
    sw_pid_t pid;      /* RES_START: node UINT32_MAX (no pid yet) */
    uint64_t counter;  /* stamp: Lamport counter (RES_START: also the start id) */
    uint32_t origin;   /* stamp: atom of the node that issued it */
    uint32_t ix;       /* committed: position in its pid's pidset_t (0 when the
                        * pid has only this entry); RES_CLAIM: its record in
                        * t->resv; RES_START: unused */
    uint32_t nlen : 24;    /* name size (entry_new refuses longer names) */
    uint32_t reserved : 2; /* 0 committed, RES_CLAIM or RES_START */
    uint32_t has_mfa : 1;  /* register_name/4,5 entry: the MFA follows the name */
    uint32_t handoff : 1;  /* home: the agent is asking the process about a
                            * handoff (begin_handoff); not asked again meanwhile */
    uint32_t moving : 1;   /* home: handed off; its successor will replace it */
    char name[];       /* term_to_binary bytes (with 131); for an MFA entry then
                        * the MFA size (4 bytes, native order, unaligned) and
                        * term_to_binary({M,F,A}) */
};
#define ENTRY_HDR offsetof(entry_t, name)
#define ENTRY_MAX_NAME ((1u << 24) - 1)

/* A claim reservation: the owner said yes and waits for the home. */
#define RES_CLAIM 1
/* A start reservation: the owner runs the MFA; the pid is not known yet
 * (pid.node is UINT32_MAX) and the entry is in no pid index. Its stamp
 * counter is the start's id (a reservation's stamp never changes). */
#define RES_START 2

static uint32_t entry_mfalen(const entry_t *e) {
    uint32_t l = 0;
    if (e->has_mfa) memcpy(&l, e->name + e->nlen, sizeof l);
    return l;
}

/* The MFA bytes (entry_mfalen() of them; none for a plain entry). */
static const char *entry_mfa(const entry_t *e) {
    return e->name + e->nlen + (e->has_mfa ? sizeof(uint32_t) : 0);
}

static stamp_t entry_stamp(const entry_t *e) {
    stamp_t s = {e->counter, e->origin};
    return s;
}

typedef struct {
    const char *name;
    size_t len;
} namekey_t;

static int entry_eq(const void *item, const void *key) {
    const entry_t *e = item;
    const namekey_t *k = key;
    return e->nlen == k->len && memcmp(e->name, k->name, k->len) == 0;
}

static uint64_t name_hash(const char *name, size_t len) { return sw_hash_bytes(name, len, 0x6e616d65); }

/* The names table's hash of an entry. */
static uint64_t entry_hash(const entry_t *e) { return name_hash(e->name, e->nlen); }
static uint64_t names_hash(const void *item) { return entry_hash(item); }

static uint64_t pid_hash(const sw_pid_t *p) {
    return sw_hash_u64(((uint64_t)p->node << 32 | p->num) ^ sw_hash_u64((uint64_t)p->serial << 32 | p->creation));
}

/* The pids table maps a pid to its committed entries: an item is the entry
 * itself when the pid has one name (the usual case), or a pidset_t tagged
 * with the low bit when it has several. In a set, e[k]->ix == k; removal
 * moves the last entry into the hole; a set that drops to one entry gives
 * its slot back to that entry. */
typedef struct {
    uint32_t n, cap; /* n >= 2 */
    entry_t *e[];
} pidset_t;

static int pi_is_set(const void *item) { return ((uintptr_t)item & 1u) != 0; }
static pidset_t *pi_set(const void *item) { return (pidset_t *)((uintptr_t)item & ~(uintptr_t)1); }
static void *pi_tag(pidset_t *ps) { return (void *)((uintptr_t)ps | 1u); }
/* Number of entries of a pids table item, and its k-th entry. */
static uint32_t pi_count(const void *item) { return pi_is_set(item) ? pi_set(item)->n : 1; }
static entry_t *pi_at(const void *item, uint32_t k) {
    return pi_is_set(item) ? pi_set(item)->e[k] : (entry_t *)item;
}

static int pid_item_eq(const void *item, const void *key) {
    return memcmp(&pi_at(item, 0)->pid, key, sizeof(sw_pid_t)) == 0;
}
static uint64_t pids_hash(const void *item) { return pid_hash(&pi_at(item, 0)->pid); }

/* A claim reservation's record: expiry and FIFO links (indexes in t->resv).
 * Free records are chained through next. */
#define NO_RESV UINT32_MAX
typedef struct {
    entry_t *e; /* NULL when free */
    uint64_t deadline;
    uint32_t prev, next;
} resv_t;

struct sw_tracker_s {
    sw_atoms_t atoms;
    uint32_t self_beam, self_cnode;
    const sw_tracker_env_t *env;
    void *ud;

    sw_ctab_t names;       /* name -> entry_t */
    sw_ctab_t pids;        /* pid -> entry_t or tagged pidset_t */
    resv_t *resv;          /* claim reservation records */
    uint32_t resv_n, resv_cap; /* records in use or on the free list; allocated */
    uint32_t resv_free;    /* free list head */
    uint32_t res_head, res_tail; /* reservations, oldest first */

    sw_peers_t peers;       /* one record per known C node */

    sw_outbox_t agent_ops, agent_replies;
    erlang_pid agent;
    int have_agent;
    int synced, synced_sent;
    uint64_t hello_at, now, last_redial;

    uint64_t clock; /* Lamport counter */
    sw_tracker_stats_t st;
    ei_x_buff scratch;
    ei_x_buff res;  /* scratch for reply terms */

    sw_ring_t ring;      /* libring ring over the members */
    int ring_dirty;      /* membership changed since the ring was built */
    unsigned ring_flags; /* SW_RING_* */
    uint32_t quorum;     /* StaticQuorumRing size, 0 for the plain ring */
    sw_htab_t starts;    /* id -> start_t: MFA starts in progress here */
    uint32_t *ring_was;  /* the members (atoms) of the ring last built */
    size_t ring_seen;    /* ... how many */
    int handoff_due;     /* the ring gained a member: look for handoffs */
    int ring_news;       /* the members changed: tell the agent ({ring, ...}) */
    int links_news;      /* a peer's connection went or came: tell the agent
                          * ({links}), whose waiting callers then resend */
    uint64_t handoff_at; /* ... from this time on (ms, t->now's clock) */
};

/* A waiter on an MFA start: where its reply goes. */
typedef struct waiter_s waiter_t;
struct waiter_s {
    waiter_t *next;
    uint32_t ccbeam;
    uint8_t mode; /* MODE_REGISTER or MODE_WHEREIS */
    sw_pid_t caller;
    size_t rlen;
    char ref[];
};
#define MODE_REGISTER 0
#define MODE_WHEREIS 1

typedef struct {
    uint64_t id;        /* the reservation's stamp counter */
    entry_t *e;         /* the RES_START entry, NULL once it was dropped */
    waiter_t *waiters;  /* oldest first: the first one caused the start */
    sw_pid_t old_pid;   /* restart after a node went down: the dead pid;
                         * handoff: the pid handing off */
    int restart;
    int handoff;        /* a handoff's start: e is NULL (the name stays the
                         * old pid's until the new one commits) */
    char *mfa;          /* handoff: copy of the MFA */
    size_t mfalen;
    char *state;        /* handoff with {resume, State}: term_to_binary(State) */
    size_t statelen;
    uint32_t nlen;
    char name[];        /* copy of the name, for when e is gone */
} start_t;

/* ---- encoding helpers -------------------------------------------------- */

static void enc_stamp(ei_x_buff *x, const sw_tracker_t *t, const stamp_t *s) {
    ei_x_encode_ulonglong(x, s->counter);
    sw_atoms_enc(x, &t->atoms, s->origin);
}

static int stamp_cmp(const sw_tracker_t *t, const stamp_t *a, const stamp_t *b) {
    if (a->counter != b->counter) return a->counter < b->counter ? -1 : 1;
    if (a->origin == b->origin) return 0;
    return strcmp(sw_atoms_str(&t->atoms, a->origin), sw_atoms_str(&t->atoms, b->origin));
}

static void clock_see(sw_tracker_t *t, uint64_t c) {
    if (c > t->clock) t->clock = c;
}

/* Agent ops: {add, Name, Pid} | {del, Name, Pid} (op: W_ADD or W_DEL);
 * Name spliced as a term. */
static void agent_op(sw_tracker_t *t, word_t op, const entry_t *e) {
    ei_x_buff *x = &t->agent_ops.body;
    /* A local register_name/4,5 entry carries its MFA to the agent, which
     * keeps it (swarm_mfa) for the hello of a restarted C node: without
     * it, a re-adopted entry could not be restarted elsewhere nor handed
     * off. {add, Name, Pid, MFABin}; its del: {del, Name, Pid, mfa}. */
    int mfa = e->has_mfa && e->pid.node == t->self_beam;
    ei_x_encode_tuple_header(x, mfa ? 4 : 3);
    enc_word(x, op);
    ei_x_append_buf(x, e->name + 1, (int)e->nlen - 1);
    sw_pid_enc(x, &t->atoms, &e->pid);
    if (mfa && op == W_ADD) ei_x_encode_binary(x, entry_mfa(e), (int)entry_mfalen(e));
    else if (mfa) ei_x_encode_atom(x, "mfa");
    t->agent_ops.count++;
}

/* Agent op {die, Pid}: the local process Pid, started by register_name/4,5,
 * lost its name in a conflict (two owners started it while their views of
 * the cluster differed): the agent sends it {swarm, die}, as Swarm asks the
 * copies of a name that live where they do not belong to shut down. */
static void agent_die(sw_tracker_t *t, const sw_pid_t *pid) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "die");
    sw_pid_enc(x, &t->atoms, pid);
    t->agent_ops.count++;
    t->st.told_to_die++;
}

/* The local register_name/4,5 process of entry e lost its name to winner
 * (NULL: unknown). Handed off (e->moving): it just dies. Otherwise, as in
 * Swarm when a partition heals, agent op {resolve, Pid, Winner}: the agent
 * asks it {swarm, begin_handoff} and, on {resume, State}, casts
 * {swarm, resolve_conflict, State} to the winner; then it sends the loser
 * {swarm, die}. */
static void agent_loser(sw_tracker_t *t, const entry_t *e, const sw_pid_t *winner) {
    if (e->moving || !winner) {
        agent_die(t, &e->pid);
        return;
    }
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "resolve");
    sw_pid_enc(x, &t->atoms, &e->pid);
    sw_pid_enc(x, &t->atoms, winner);
    t->agent_ops.count++;
    t->st.told_to_die++;
}

/* Agent replies: {Caller, Ref, Result}; res/reslen is the encoded Result
 * term (without 131). */
static void agent_reply_raw(sw_tracker_t *t, const sw_pid_t *caller, const char *ref, size_t rlen,
                            const char *res, size_t reslen) {
    ei_x_buff *x = &t->agent_replies.body;
    ei_x_encode_tuple_header(x, 3);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, res, (int)reslen);
    t->agent_replies.count++;
}

/* The Result term `atom`, encoded into t->res. */
static ei_x_buff *res_atom(sw_tracker_t *t, word_t atom) {
    t->res.index = 0;
    enc_word(&t->res, atom);
    return &t->res;
}

/* Sends a reply to the caller through its C node (ccnode is a BEAM node
 * atom). Queued after everything already queued to that node, so the caller's
 * replica shows the change before the caller learns of it. */
static void reply_raw_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                          size_t rlen, const char *res, size_t reslen) {
    if (ccbeam == UINT32_MAX) return; /* nobody waits (a restart) */
    if (ccbeam == t->self_beam) {
        agent_reply_raw(t, caller, ref, rlen, res, reslen);
        return;
    }
    sw_peer_t *p = sw_peers_by_beam(&t->peers, ccbeam);
    if (!p || !p->conn_up) {
        SW_WARN("reply_dropped", "to=%s reason=no_connection", sw_atoms_str(&t->atoms, ccbeam));
        return;
    }
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 4);
    enc_word(x, W_REPLY);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, res, (int)reslen);
    p->out.count++;
}

static void reply_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                      size_t rlen, word_t result) {
    ei_x_buff *r = res_atom(t, result);
    reply_raw_via(t, ccbeam, caller, ref, rlen, r->buff, (size_t)r->index);
}

/* {add|del, NameBin, Pid, Counter, Origin} (op: W_ADD or W_DEL); an add of
 * an MFA entry carries a sixth element, the MFA bytes, so that any node can
 * restart it. */
static void enc_entry_op(sw_tracker_t *t, ei_x_buff *x, word_t op, const entry_t *e) {
    uint32_t mfalen = entry_mfalen(e);
    int with_mfa = mfalen && op == W_ADD;
    stamp_t s = entry_stamp(e);
    ei_x_encode_tuple_header(x, with_mfa ? 6 : 5);
    enc_word(x, op);
    ei_x_encode_binary(x, e->name, (int)e->nlen);
    sw_pid_enc(x, &t->atoms, &e->pid);
    enc_stamp(x, t, &s);
    if (with_mfa) ei_x_encode_binary(x, entry_mfa(e), (int)mfalen);
}

/* {add|del, NameBin, Pid, Counter, Origin} to every connected peer. */
static void broadcast(sw_tracker_t *t, word_t op, const entry_t *e) {
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (!p->conn_up) continue;
        enc_entry_op(t, &p->out.body, op, e);
        p->out.count++;
    }
}

/* ---- entry store ------------------------------------------------------- */

static entry_t *find(const sw_tracker_t *t, const char *name, size_t len, uint64_t h) {
    namekey_t k = {name, len};
    return sw_ctab_find(&t->names, h, &k, entry_eq);
}

/* A new entry (committed, in no index) holding copies of name and of the
 * MFA bytes (mfalen 0: a plain entry). NULL when out of memory or when the
 * name is longer than ENTRY_MAX_NAME (peers and callers send at most
 * SW_MAX_NAME_BYTES). */
static entry_t *entry_new(const char *name, size_t len, const sw_pid_t *pid, const stamp_t *s,
                          const char *mfa, size_t mfalen) {
    if (len > ENTRY_MAX_NAME || mfalen > UINT32_MAX) return NULL;
    size_t extra = mfalen ? sizeof(uint32_t) + mfalen : 0;
    entry_t *e = malloc(ENTRY_HDR + len + extra);
    if (!e) return NULL;
    memset(e, 0, ENTRY_HDR);
    e->pid = *pid;
    e->counter = s->counter;
    e->origin = s->origin;
    e->nlen = (uint32_t)len;
    memcpy(e->name, name, len);
    if (mfalen) {
        uint32_t l = (uint32_t)mfalen;
        e->has_mfa = 1;
        memcpy(e->name + len, &l, sizeof l);
        memcpy(e->name + len + sizeof l, mfa, mfalen);
    }
    return e;
}

/* Moves set ps (the pids table's item under hash ph) to an allocation of
 * cap entries (cap >= ps->n), in the same table slot. Returns the new set,
 * or NULL when out of memory (ps unchanged). */
static pidset_t *pidset_resize(sw_tracker_t *t, uint64_t ph, pidset_t *ps, uint32_t cap) {
    pidset_t *np = malloc(sizeof *np + (size_t)cap * sizeof np->e[0]);
    if (!np) return NULL;
    np->n = ps->n;
    np->cap = cap;
    memcpy(np->e, ps->e, (size_t)ps->n * sizeof ps->e[0]);
    sw_ctab_replace(&t->pids, ph, pi_tag(ps), pi_tag(np));
    free(ps);
    return np;
}

/* Adds committed entry e to the pid index (t->st.pids counts pids). Out of
 * memory leaves e out of the index (pid_unlink copes). */
static void pid_link(sw_tracker_t *t, entry_t *e) {
    uint64_t ph = pid_hash(&e->pid);
    void *it = sw_ctab_find(&t->pids, ph, &e->pid, pid_item_eq);
    e->ix = 0;
    if (!it) {
        if (sw_ctab_insert(&t->pids, ph, e) == 0) t->st.pids++;
        return;
    }
    if (!pi_is_set(it)) {
        /* The pid's second name: its entries move into a set, which takes
         * the slot in place. */
        pidset_t *ps = malloc(sizeof *ps + 4 * sizeof ps->e[0]);
        if (!ps) return;
        ps->n = 2;
        ps->cap = 4;
        ps->e[0] = it;
        ps->e[1] = e;
        e->ix = 1;
        sw_ctab_replace(&t->pids, ph, it, pi_tag(ps));
        return;
    }
    pidset_t *ps = pi_set(it);
    if (ps->n == ps->cap) {
        ps = pidset_resize(t, ph, ps, ps->cap * 2);
        if (!ps) return;
    }
    e->ix = ps->n;
    ps->e[ps->n++] = e;
}

/* Removes committed entry e from the pid index, if it is there. Other
 * entries of its pid may move inside the pid's item, but the item stays in
 * its table slot (or the slot empties), so loops walking the table slot by
 * slot stay valid. */
static void pid_unlink(sw_tracker_t *t, entry_t *e) {
    uint64_t ph = pid_hash(&e->pid);
    /* Usually the pid's only entry, the table's item itself: one probe. */
    if (sw_ctab_remove(&t->pids, ph, e) == 0) {
        t->st.pids--;
        return;
    }
    void *it = sw_ctab_find(&t->pids, ph, &e->pid, pid_item_eq);
    if (!it || !pi_is_set(it)) return;
    pidset_t *ps = pi_set(it);
    uint32_t k = e->ix;
    if (k >= ps->n || ps->e[k] != e) return;
    ps->e[k] = ps->e[--ps->n];
    ps->e[k]->ix = k;
    if (ps->n == 1) {
        entry_t *last = ps->e[0];
        last->ix = 0;
        sw_ctab_replace(&t->pids, ph, it, last);
        free(ps);
    } else if (ps->cap > 4 && ps->n * 4 <= ps->cap) {
        (void)pidset_resize(t, ph, ps, ps->cap / 2);
    }
}

/* Makes e (just created, in no index) a claim reservation expiring at
 * deadline, youngest in the FIFO. Returns 0, or -1 when out of memory
 * (nothing changed). */
static int res_link(sw_tracker_t *t, entry_t *e, uint64_t deadline) {
    uint32_t i = t->resv_free;
    if (i != NO_RESV) {
        t->resv_free = t->resv[i].next;
    } else {
        if (t->resv_n == t->resv_cap) {
            uint32_t cap = t->resv_cap ? t->resv_cap * 2 : 16;
            resv_t *nr = realloc(t->resv, (size_t)cap * sizeof *nr);
            if (!nr) return -1;
            t->resv = nr;
            t->resv_cap = cap;
        }
        i = t->resv_n++;
    }
    resv_t *r = &t->resv[i];
    r->e = e;
    r->deadline = deadline;
    r->next = NO_RESV;
    r->prev = t->res_tail;
    if (t->res_tail != NO_RESV) t->resv[t->res_tail].next = i;
    else t->res_head = i;
    t->res_tail = i;
    e->reserved = RES_CLAIM;
    e->ix = i;
    t->st.reserved++;
    return 0;
}

/* Takes claim reservation e out of the FIFO and frees its record (e stays
 * RES_CLAIM; the caller commits or frees it). */
static void res_unlink(sw_tracker_t *t, entry_t *e) {
    uint32_t i = e->ix;
    resv_t *r = &t->resv[i];
    if (r->prev != NO_RESV) t->resv[r->prev].next = r->next;
    else t->res_head = r->next;
    if (r->next != NO_RESV) t->resv[r->next].prev = r->prev;
    else t->res_tail = r->prev;
    r->e = NULL;
    r->next = t->resv_free;
    t->resv_free = i;
    e->ix = 0;
    t->st.reserved--;
    if (t->st.reserved == 0) {
        /* All records are free: start again from the first, and give the
         * memory back if a burst made the array large. */
        t->resv_n = 0;
        t->resv_free = NO_RESV;
        if (t->resv_cap > 256) {
            free(t->resv);
            t->resv = NULL;
            t->resv_cap = 0;
        }
    }
}

static void start_detach(sw_tracker_t *t, entry_t *e);
static void start_free(start_t *st);

/* Removes e from every index and frees it; tells the agent if it was
 * committed. */
static void entry_drop(sw_tracker_t *t, entry_t *e, int tell_agent) {
    sw_ctab_remove(&t->names, entry_hash(e), e);
    if (e->reserved == RES_START) {
        start_detach(t, e);
    } else if (e->reserved) {
        res_unlink(t, e);
    } else {
        pid_unlink(t, e);
        t->st.names--;
        if (tell_agent) agent_op(t, W_DEL, e);
    }
    free(e);
}

/* Inserts a committed entry (h: name_hash of the name). Returns it, or NULL
 * on out of memory. */
static entry_t *entry_commit(sw_tracker_t *t, const char *name, size_t len, uint64_t h,
                             const sw_pid_t *pid, const stamp_t *s, const char *mfa,
                             size_t mfalen) {
    entry_t *e = entry_new(name, len, pid, s, mfa, mfalen);
    if (!e) return NULL;
    if (sw_ctab_insert(&t->names, h, e) != 0) {
        free(e);
        return NULL;
    }
    pid_link(t, e);
    t->st.names++;
    agent_op(t, W_ADD, e);
    return e;
}

/* Turns a claim reservation into a committed entry. */
static void entry_confirm(sw_tracker_t *t, entry_t *e) {
    res_unlink(t, e);
    e->reserved = 0;
    pid_link(t, e);
    t->st.names++;
    agent_op(t, W_ADD, e);
}

/* ---- ownership --------------------------------------------------------- */

/* Rebuilds the ring from the members: this node and the peers whose
 * connection is up, whose BEAM node is known and not reported down. Nodes are
 * added in sorted order, so every node builds the same ring from the same
 * members (libring's ring depends on the order of joins when two nodes claim
 * one point). */
static void ring_rebuild(sw_tracker_t *t) {
    const char *names[1 + t->peers.n];
    size_t n = 0;
    names[n++] = sw_atoms_str(&t->atoms, t->self_beam);
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (p->conn_up && !p->down && p->beam != UINT32_MAX) names[n++] = sw_atoms_str(&t->atoms, p->beam);
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of nodes */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *x = names[j];
            names[j] = names[j - 1];
            names[j - 1] = x;
        }
    sw_ring_close(&t->ring);
    sw_ring_init(&t->ring, t->ring_flags);
    for (size_t i = 0; i < n; i++)
        if (sw_ring_add_node(&t->ring, names[i]) != 0) SW_ERROR("ring_add_failed", "node=%s", names[i]);
    t->ring_dirty = 0;
    /* A member joined: processes started here by register_name/4,5 that
     * the ring now gives to another node are handed off (handoff_scan), a
     * little later, once the newcomer is connected to the others too. */
    uint32_t idx[1 + t->peers.n];
    int grew = 0;
    if (n != t->ring_seen) t->ring_news = 1;
    for (size_t i = 0; i < n; i++) {
        idx[i] = sw_atoms_intern(&t->atoms, names[i]);
        int known = 0;
        for (size_t j = 0; j < t->ring_seen && !known; j++) known = t->ring_was[j] == idx[i];
        grew |= !known;
    }
    if (grew) t->ring_news = 1;
    uint32_t *was = realloc(t->ring_was, n * sizeof *was);
    if (was) {
        memcpy(was, idx, n * sizeof *was);
        t->ring_was = was;
        t->ring_seen = n;
    }
    if (grew) {
        t->handoff_due = 1;
        t->handoff_at = t->now + HANDOFF_DELAY_MS;
    }
}

/* Number of ring members (for the quorum). */
static size_t members(sw_tracker_t *t) {
    if (t->ring_dirty) ring_rebuild(t);
    return sw_ring_node_count(&t->ring);
}

static int below_quorum(sw_tracker_t *t) { return t->quorum && members(t) < t->quorum; }

/* The node (BEAM atom) that decides registrations of this name: its owner on
 * the libring ring of the members. */
static uint32_t owner_of(sw_tracker_t *t, const char *name, size_t len) {
    if (t->ring_dirty) ring_rebuild(t);
    const char *node;
    if (sw_ring_owner_of(&t->ring, name, len, &node) != 0) return t->self_beam;
    uint32_t b = sw_atoms_intern(&t->atoms, node);
    return b == UINT32_MAX ? t->self_beam : b;
}

/* ---- decisions --------------------------------------------------------- */

/* What a claim asks of the home. A copy of a register request sent again
 * (after a link dropped) must not contradict an earlier copy that may have
 * won: an owner that finds the name already taken asks the pid's home,
 * which alone knows for sure, instead of answering from its own view. */
typedef enum {
    CLAIM_NEW = 0, /* commit if free, else `no` */
    CLAIM_RETRY,   /* a copy: the same, and `yes` if the name is the pid's */
    CLAIM_CONFIRM, /* the owner holds the name for this pid: `yes` if the
                    * home does too, else nothing (an orphan copy must not
                    * register the name again after an unregister) */
    CLAIM_CHECK,   /* the owner holds the name for another pid: `yes` if the
                    * home holds it for this one, else `no`; never commits */
} claim_mode_t;

static const char *const claim_mode_atom[] = {"", "retry", "confirm", "check"};

static void send_claim(sw_tracker_t *t, sw_peer_t *home, uint32_t ccbeam, const sw_pid_t *caller,
                       const char *ref, size_t rlen, const char *name, size_t nlen,
                       const sw_pid_t *pid, const stamp_t *s, const char *yes, size_t yeslen,
                       const char *no, size_t nolen, const char *mfa, size_t mfalen, int mode);

/* Commits name -> pid (pid known, not registered here) as the owner:
 * directly if the pid is ours, else through a claim to its home. yes/no are
 * the encoded Result terms for the caller (no when the home refuses). */
static void commit_or_claim(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                            const char *ref, size_t rlen, const char *name, size_t nlen,
                            uint64_t h, const sw_pid_t *pid, const stamp_t *s,
                            const char *yes, size_t yeslen, const char *no, size_t nolen,
                            const char *mfa, size_t mfalen, int retry) {
    entry_t *e;
    if (pid->node == t->self_beam) {
        e = entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
        if (!e) {
            reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
            return;
        }
        broadcast(t, W_ADD, e);
        reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) {
        /* A copy sent again must not say `no` while an earlier one may
         * have got the name: it waits for the next link change. */
        if (retry) return;
        SW_WARN("register_refused", "reason=pid_node_not_in_swarm pid_node=%s",
                sw_atoms_str(&t->atoms, pid->node));
        reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    e = entry_new(name, nlen, pid, s, mfa, mfalen);
    if (!e || res_link(t, e, t->now + CLAIM_TIMEOUT_MS) != 0) {
        free(e);
        reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    if (sw_ctab_insert(&t->names, h, e) != 0) {
        res_unlink(t, e);
        free(e);
        reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    send_claim(t, home, ccbeam, caller, ref, rlen, name, nlen, pid, s, yes, yeslen, no, nolen, mfa,
               mfalen, retry ? CLAIM_RETRY : CLAIM_NEW);
}

/* Queues {claim, ...} for name -> pid to its home. */
static void send_claim(sw_tracker_t *t, sw_peer_t *home, uint32_t ccbeam, const sw_pid_t *caller,
                       const char *ref, size_t rlen, const char *name, size_t nlen,
                       const sw_pid_t *pid, const stamp_t *s, const char *yes, size_t yeslen,
                       const char *no, size_t nolen, const char *mfa, size_t mfalen, int mode) {
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, mode ? 12 : 11);
    enc_word(x, W_CLAIM);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, pid);
    enc_stamp(x, t, s);
    sw_atoms_enc(x, &t->atoms, ccbeam);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, yes, (int)yeslen);
    ei_x_append_buf(x, no, (int)nolen);
    ei_x_encode_binary(x, mfa ? mfa : "", (int)mfalen);
    if (mode) ei_x_encode_atom(x, claim_mode_atom[mode]);
    home->out.count++;
}

/* A copy of a register request found the name taken here (entry e): asks
 * pid's home (claim mode CLAIM_CONFIRM or CLAIM_CHECK), which alone knows
 * whether an earlier copy won there; no answer while that home is away
 * (the caller sends another copy at the next link change). If this node is
 * pid's home, e is the truth: answered here (for CONFIRM the add went to
 * the caller's node before, on the same connection). */
static void ask_home(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                     size_t rlen, const char *name, size_t nlen, const sw_pid_t *pid,
                     const entry_t *e, int mode) {
    if (pid->node == t->self_beam) {
        reply_via(t, ccbeam, caller, ref, rlen, mode == CLAIM_CONFIRM ? W_YES : W_NO);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) return;
    size_t yl, nl;
    const char *yes = word_bytes(W_YES, &yl), *no = word_bytes(W_NO, &nl);
    stamp_t es = entry_stamp(e);
    send_claim(t, home, ccbeam, caller, ref, rlen, name, nlen, pid, &es, yes, yl, no, nl, NULL, 0,
               mode);
}

/* Owner's decision on register(name, pid) coming from the caller's node
 * ccbeam (retry: see sw_tracker_register). */
static void decide(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                   size_t rlen, const char *name, size_t nlen, const sw_pid_t *pid, int retry) {
    uint64_t h = name_hash(name, nlen);
    entry_t *e = find(t, name, nlen, h);
    if (e) {
        int same = memcmp(&e->pid, pid, sizeof *pid) == 0;
        if (retry && same && e->reserved) return; /* an earlier copy's claim is on its way */
        /* Taken for that pid (an earlier copy won: the home confirms, so
         * the yes follows the add to the caller's node), or for another
         * (this view may be stale while an earlier copy won: the home is
         * asked). */
        if (retry) ask_home(t, ccbeam, caller, ref, rlen, name, nlen, pid, e, same ? CLAIM_CONFIRM : CLAIM_CHECK);
        else reply_via(t, ccbeam, caller, ref, rlen, W_NO);
        return;
    }
    stamp_t s = {++t->clock, t->self_beam};
    size_t yl, nl;
    const char *yes = word_bytes(W_YES, &yl), *no = word_bytes(W_NO, &nl);
    commit_or_claim(t, ccbeam, caller, ref, rlen, name, nlen, h, pid, &s, yes, yl, no, nl, NULL, 0,
                    retry);
}

/* ---- MFA starts (register_name/4,5) ------------------------------------
 *
 * The owner of a name reserves it (a RES_START entry, invisible to lookups),
 * asks its agent to run apply(M, F, A) in a fresh process ({start, Id, MFA}
 * in the agent's batch), and queues every request for that name that comes
 * meanwhile. The agent always answers with sw_tracker_started(); the start
 * then commits like register_name/2 would, and the waiters get their
 * replies: the first one (who caused the start) and whereis_or_register
 * callers {ok, Pid}, later register callers {error, {already_registered,
 * Pid}}, everyone the MFA's error if it failed. */

static int start_eq(const void *item, const void *key) {
    return ((const start_t *)item)->id == *(const uint64_t *)key;
}

static start_t *start_find(sw_tracker_t *t, uint64_t id) {
    return sw_htab_find(&t->starts, sw_hash_u64(id), &id, start_eq);
}

static void start_free(start_t *st) {
    for (waiter_t *w = st->waiters, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    free(st->mfa);
    free(st->state);
    free(st);
}

static void start_detach(sw_tracker_t *t, entry_t *e) {
    start_t *st = start_find(t, e->counter);
    if (st && st->e == e) st->e = NULL;
}

static int add_waiter(start_t *st, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                      size_t rlen, int mode) {
    waiter_t *w = malloc(sizeof *w + rlen);
    if (!w) return -1;
    w->next = NULL;
    w->ccbeam = ccbeam;
    w->mode = (uint8_t)mode;
    w->caller = *caller;
    w->rlen = rlen;
    memcpy(w->ref, ref, rlen);
    waiter_t **tail = &st->waiters;
    while (*tail) tail = &(*tail)->next;
    *tail = w;
    return 0;
}

/* {Tag, Pid} or {error, {already_registered, Pid}} into t->res. */
static ei_x_buff *res_pid(sw_tracker_t *t, int already, const sw_pid_t *pid) {
    ei_x_buff *x = &t->res;
    x->index = 0;
    ei_x_encode_tuple_header(x, 2);
    if (already) {
        ei_x_encode_atom(x, "error");
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "already_registered");
    } else {
        ei_x_encode_atom(x, "ok");
    }
    if (pid->node == UINT32_MAX) ei_x_encode_atom(x, "undefined");
    else sw_pid_enc(x, &t->atoms, pid);
    return x;
}

static ei_x_buff *res_error(sw_tracker_t *t, const char *why) {
    ei_x_buff *x = &t->res;
    x->index = 0;
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_atom(x, why);
    return x;
}

static void reply_res(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                      size_t rlen, ei_x_buff *r) {
    reply_raw_via(t, ccbeam, caller, ref, rlen, r->buff, (size_t)r->index);
}

/* Agent op {start, Id, MFABin}: run the MFA in a fresh process, answer
 * {'$sw1', started, [{Id, Pid | undefined, Result}]}. */
static void agent_start(sw_tracker_t *t, uint64_t id, const char *mfa, size_t mfalen) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "start");
    ei_x_encode_ulonglong(x, id);
    ei_x_encode_binary(x, mfa, (int)mfalen);
    t->agent_ops.count++;
}

/* Reserves name and asks the agent to run the MFA. NULL on out of memory. */
static start_t *start_begin(sw_tracker_t *t, const char *name, size_t nlen, uint64_t h,
                            const char *mfa, size_t mfalen) {
    stamp_t s = {++t->clock, t->self_beam};
    sw_pid_t none = {UINT32_MAX, 0, 0, 0};
    start_t *st = calloc(1, sizeof *st + nlen);
    entry_t *e = entry_new(name, nlen, &none, &s, mfa, mfalen);
    if (!st || !e || sw_ctab_insert(&t->names, h, e) != 0) {
        free(st);
        free(e);
        return NULL;
    }
    e->reserved = RES_START;
    st->id = s.counter;
    st->e = e;
    st->nlen = (uint32_t)nlen;
    memcpy(st->name, name, nlen);
    if (sw_htab_insert(&t->starts, sw_hash_u64(st->id), st) != 0) {
        sw_ctab_remove(&t->names, h, e);
        free(e);
        free(st);
        return NULL;
    }
    agent_start(t, st->id, mfa, mfalen);
    return st;
}

/* Owner's decision on register_name(Name, M, F, A) from node ccbeam. */
static void decide_mfa(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                       size_t rlen, const char *name, size_t nlen, const char *mfa, size_t mfalen,
                       int mode) {
    if (below_quorum(t)) {
        reply_res(t, ccbeam, caller, ref, rlen, res_error(t, "no_node_available"));
        return;
    }
    uint64_t h = name_hash(name, nlen);
    entry_t *e = find(t, name, nlen, h);
    if (e && e->reserved == RES_START) {
        start_t *st = start_find(t, e->counter);
        if (st && add_waiter(st, ccbeam, caller, ref, rlen, mode) == 0) return;
        reply_res(t, ccbeam, caller, ref, rlen, res_error(t, "out_of_memory"));
        return;
    }
    if (e) {
        reply_res(t, ccbeam, caller, ref, rlen, res_pid(t, mode != MODE_WHEREIS, &e->pid));
        return;
    }
    start_t *st = start_begin(t, name, nlen, h, mfa, mfalen);
    if (!st || add_waiter(st, ccbeam, caller, ref, rlen, mode) != 0) {
        reply_res(t, ccbeam, caller, ref, rlen, res_error(t, "out_of_memory"));
        return;
    }
}

void sw_tracker_register_mfa(sw_tracker_t *t, const erlang_pid *caller, const char *ref,
                             size_t rlen, const char *name, size_t nlen, const char *mfa,
                             size_t mfalen, int whereis) {
    sw_pid_t c;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    int mode = whereis ? MODE_WHEREIS : MODE_REGISTER;
    if (c.node != t->self_beam) {
        /* Sent straight here by a caller on another node (see
         * sw_tracker_takes_direct): decide, replying through its C node. */
        decide_mfa(t, c.node, &c, ref, rlen, name, nlen, mfa, mfalen, mode);
        return;
    }
    if (below_quorum(t)) {
        reply_res(t, t->self_beam, &c, ref, rlen, res_error(t, "no_node_available"));
        return;
    }
    uint32_t owner = owner_of(t, name, nlen);
    if (owner == t->self_beam) {
        decide_mfa(t, t->self_beam, &c, ref, rlen, name, nlen, mfa, mfalen, mode);
        return;
    }
    sw_peer_t *o = sw_peers_by_beam(&t->peers, owner);
    ei_x_buff *x = &o->out.body;
    ei_x_encode_tuple_header(x, 6);
    ei_x_encode_atom(x, "reg_mfa_req");
    ei_x_encode_binary(x, name, (int)nlen);
    ei_x_encode_binary(x, mfa, (int)mfalen);
    ei_x_encode_atom(x, mode == MODE_WHEREIS ? "whereis_or_register" : "register");
    sw_pid_enc(x, &t->atoms, &c);
    ei_x_append_buf(x, ref, (int)rlen);
    o->out.count++;
}

/* A process replaces old (restart after its node went down, or a handoff):
 * the environment's hook (groups: the new pid joins the old one's groups). */
static void tell_restarted(sw_tracker_t *t, const sw_pid_t *old, const erlang_pid *epid) {
    if (!t->env || !t->env->restarted) return;
    erlang_pid oldp;
    memset(&oldp, 0, sizeof oldp);
    snprintf(oldp.node, sizeof oldp.node, "%s", sw_atoms_str(&t->atoms, old->node));
    oldp.num = old->num;
    oldp.serial = old->serial;
    oldp.creation = old->creation;
    t->env->restarted(t->ud, &oldp, epid);
}

static void handoff_started(sw_tracker_t *t, start_t *st, const erlang_pid *epid);

void sw_tracker_started(sw_tracker_t *t, uint64_t id, const erlang_pid *epid, const char *res,
                        size_t reslen) {
    start_t *st = start_find(t, id);
    if (!st) {
        SW_WARN("start_unknown", "id=%llu", (unsigned long long)id);
        return;
    }
    sw_htab_remove(&t->starts, sw_hash_u64(id), st);
    if (st->handoff) {
        handoff_started(t, st, epid);
        start_free(st);
        return;
    }
    entry_t *e = st->e;
    sw_pid_t pid;
    if (epid && sw_pid_compact(&t->atoms, epid, &pid) == 0) {
        waiter_t *first = st->waiters;
        if (e) {
            /* Take the reservation out, then commit under the same stamp. */
            uint64_t h = entry_hash(e);
            stamp_t es = entry_stamp(e);
            sw_ctab_remove(&t->names, h, e);
            ei_x_buff yes, no;
            ei_x_new(&yes);
            ei_x_new(&no);
            /* (res_pid fills t->res: evaluate it before reading its index) */
            ei_x_buff *r = res_pid(t, 0, &pid);
            ei_x_append_buf(&yes, r->buff, r->index);
            sw_pid_t none = {UINT32_MAX, 0, 0, 0};
            r = res_pid(t, 1, &none);
            ei_x_append_buf(&no, r->buff, r->index);
            commit_or_claim(t, first ? first->ccbeam : UINT32_MAX,
                            first ? &first->caller : &pid, first ? first->ref : "",
                            first ? first->rlen : 0, e->name, e->nlen, h, &pid, &es,
                            yes.buff, (size_t)yes.index, no.buff, (size_t)no.index, entry_mfa(e),
                            entry_mfalen(e), 0);
            ei_x_free(&yes);
            ei_x_free(&no);
            free(e);
            if (st->restart) tell_restarted(t, &st->old_pid, epid);
            for (waiter_t *w = first ? first->next : NULL; w; w = w->next)
                reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen,
                          res_pid(t, w->mode != MODE_WHEREIS, &pid));
        } else {
            /* The reservation gave way to an entry committed elsewhere (two
             * owners while views differed): the process runs unnamed. */
            entry_t *cur = find(t, st->name, st->nlen, name_hash(st->name, st->nlen));
            SW_WARN("start_orphaned", "id=%llu", (unsigned long long)id);
            for (waiter_t *w = st->waiters; w; w = w->next)
                reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen,
                          res_pid(t, w->mode != MODE_WHEREIS, cur ? &cur->pid : &pid));
        }
    } else {
        if (e) entry_drop(t, e, 0);
        if (st->restart)
            SW_WARN("restart_failed", "id=%llu", (unsigned long long)id);
        for (waiter_t *w = st->waiters; w; w = w->next)
            reply_raw_via(t, w->ccbeam, &w->caller, w->ref, w->rlen, res, reslen);
    }
    start_free(st);
}

void sw_tracker_register(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                         const char *name, size_t nlen, const erlang_pid *pid, int retry) {
    sw_pid_t c, p;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    if (sw_pid_compact(&t->atoms, pid, &p) != 0) {
        /* A pid of a node this C node has never heard of (refused by the
         * guard on direct requests): not a node of the swarm. */
        reply_via(t, c.node, &c, ref, rlen, W_NO);
        return;
    }
    uint32_t owner = owner_of(t, name, nlen);
    if (c.node != t->self_beam) {
        /* A caller on another node sent its request straight here, taking
         * this node for the owner (its ring, from its own C node): decide,
         * with the reply going through the caller's C node (after the
         * entry, when its pid lives there). */
        decide(t, c.node, &c, ref, rlen, name, nlen, &p, retry);
        return;
    }
    if (owner == t->self_beam) {
        decide(t, t->self_beam, &c, ref, rlen, name, nlen, &p, retry);
        return;
    }
    sw_peer_t *o = sw_peers_by_beam(&t->peers, owner);
    ei_x_buff *x = &o->out.body;
    ei_x_encode_tuple_header(x, retry ? 6 : 5);
    enc_word(x, W_REG_REQ);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, &p);
    sw_pid_enc(x, &t->atoms, &c);
    ei_x_append_buf(x, ref, (int)rlen);
    if (retry) ei_x_encode_atom(x, "retry");
    o->out.count++;
}

/* Home's removal of a name on request of the caller's node ccbeam. */
static void unregister_at_home(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                               const char *ref, size_t rlen, const char *name, size_t nlen) {
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    if (e && !e->reserved && e->pid.node == t->self_beam) {
        broadcast(t, W_DEL, e);
        entry_drop(t, e, 1);
    }
    reply_via(t, ccbeam, caller, ref, rlen, W_OK);
}

void sw_tracker_unregister(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                           const char *name, size_t nlen) {
    sw_pid_t c;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    if (!e || e->reserved || e->pid.node == t->self_beam) {
        unregister_at_home(t, t->self_beam, &c, ref, rlen, name, nlen);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, e->pid.node);
    if (!home || !home->conn_up) {
        /* The home's C node is away (a link blip, a restart): nobody can
         * remove the entry now, and `ok` would be a lie. No answer: the
         * caller sends its request again when a link comes back ({links}
         * to the agent), or exits with a timeout after call_timeout. (A
         * home whose BEAM node goes down takes its names with it.) */
        t->st.unreg_waits++;
        SW_DEBUG("unregister_waits", "reason=home_unreachable home=%s",
                 sw_atoms_str(&t->atoms, e->pid.node));
        return;
    }
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, 4);
    enc_word(x, W_UNREG_REQ);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, &c);
    ei_x_append_buf(x, ref, (int)rlen);
    home->out.count++;
}

void sw_tracker_pid_down(sw_tracker_t *t, const erlang_pid *pid) {
    sw_pid_t p;
    if (sw_pid_compact(&t->atoms, pid, &p) != 0) return;
    void *it;
    while ((it = sw_ctab_find(&t->pids, pid_hash(&p), &p, pid_item_eq)) != NULL) {
        entry_t *e = pi_at(it, pi_count(it) - 1);
        if (e->pid.node == t->self_beam) broadcast(t, W_DEL, e);
        entry_drop(t, e, 1);
    }
}

/* Drops every entry (and reservation) whose pid lives on BEAM node beam. */
static void purge_node(sw_tracker_t *t, uint32_t beam) {
    for (size_t i = 0; i < t->pids.cap; i++) {
        void *it;
        /* The slot keeps the pid's item until its last entry is gone. */
        while ((it = sw_ctab_at(&t->pids, i)) != NULL && pi_at(it, 0)->pid.node == beam)
            entry_drop(t, pi_at(it, pi_count(it) - 1), 1);
    }
    for (uint32_t r = t->res_head, next; r != NO_RESV; r = next) {
        next = t->resv[r].next;
        if (t->resv[r].e->pid.node == beam) entry_drop(t, t->resv[r].e, 0);
    }
}

/* ---- sync -------------------------------------------------------------- */

static void maybe_synced(sw_tracker_t *t) {
    if (t->synced_sent || !t->have_agent || sw_peers_awaiting(&t->peers)) return;
    t->synced = 1;
}

/* Queues {sync, [{NameBin, Pid, Counter, Origin[, MFABin]}]} of our home
 * entries. */
static void send_sync(sw_tracker_t *t, sw_peer_t *p) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "sync");
    uint64_t n = 0;
    for (size_t i = 0; i < t->pids.cap; i++) {
        const void *it = sw_ctab_at(&t->pids, i);
        if (it && pi_at(it, 0)->pid.node == t->self_beam) n += pi_count(it);
    }
    if (n) ei_x_encode_list_header(x, (long)n);
    for (size_t i = 0; i < t->pids.cap; i++) {
        const void *it = sw_ctab_at(&t->pids, i);
        if (!it || pi_at(it, 0)->pid.node != t->self_beam) continue;
        for (uint32_t k = 0, cnt = pi_count(it); k < cnt; k++) {
            const entry_t *e = pi_at(it, k);
            uint32_t mfalen = entry_mfalen(e);
            stamp_t s = entry_stamp(e);
            ei_x_encode_tuple_header(x, mfalen ? 5 : 4);
            ei_x_encode_binary(x, e->name, (int)e->nlen);
            sw_pid_enc(x, &t->atoms, &e->pid);
            enc_stamp(x, t, &s);
            if (mfalen) ei_x_encode_binary(x, entry_mfa(e), (int)mfalen);
        }
    }
    ei_x_encode_empty_list(x);
    p->out.count++;
}

/* ---- peer ops ---------------------------------------------------------- */

static void conn_open(sw_tracker_t *t, sw_peer_t *p);

typedef struct {
    const char *name;
    long nlen;
    erlang_pid pid;
    sw_pid_t cpid;
    stamp_t stamp;
} decoded_entry_t;

/* Decodes NameBin at *index without copying: the name points into buf. */
static int dec_namebin(const char *buf, int *index, const char **name, long *len) {
    size_t n;
    if (sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, name, &n) != 0) return -1;
    *len = (long)n;
    return 0;
}

static int dec_stamp(sw_tracker_t *t, const char *buf, int *index, stamp_t *s) {
    unsigned long long c;
    if (ei_decode_ulonglong(buf, index, &c) != 0) return -1;
    uint32_t o = sw_atoms_dec(&t->atoms, buf, index);
    if (o == UINT32_MAX) return -1;
    s->counter = c;
    s->origin = o;
    return 0;
}

/* A binary's bytes, without copying (MFA blobs: opaque to the C node). */
static int dec_bin(const char *buf, int *index, const char **data, long *len) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_BINARY_EXT) return -1;
    *data = buf + *index + 5;
    *len = size;
    *index += 5 + size;
    return 0;
}

/* Orders two entries of one name with equal stamps (a restarted C node's
 * clock starts again from 0, so its stamps can repeat): by pid, so that the
 * order stays total and every node picks the same winner. */
static int pid_cmp(const sw_tracker_t *t, const sw_pid_t *a, const sw_pid_t *b) {
    if (a->node != b->node) return strcmp(sw_atoms_str(&t->atoms, a->node), sw_atoms_str(&t->atoms, b->node));
    if (a->num != b->num) return a->num < b->num ? -1 : 1;
    if (a->serial != b->serial) return a->serial < b->serial ? -1 : 1;
    if (a->creation != b->creation) return a->creation < b->creation ? -1 : 1;
    return 0;
}

/* {lost, NameBin, Pid, Counter, Origin, Winner} to the home of pid: its
 * entry lost a conflict here, to pid Winner. Only the home can remove it
 * everywhere (it originates every del of its pids); if the message cannot
 * go now, the conflict is seen again, and reported again, when the home's
 * next sync arrives. */
static void send_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                      const stamp_t *s, const sw_pid_t *winner) {
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) return;
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, 6);
    enc_word(x, W_LOST);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, pid);
    enc_stamp(x, t, s);
    sw_pid_enc(x, &t->atoms, winner);
    home->out.count++;
}

/* Applies an add from a home: insert, or settle a conflict with the entry
 * held for that name. */
static void apply_add(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                      const stamp_t *s, const char *mfa, size_t mfalen) {
    clock_see(t, s->counter);
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (pid->node != t->self_beam && home && !home->agent_up && home->beam != UINT32_MAX &&
        !home->conn_up) {
        /* Its node is known down: a late add must not resurrect it (nor
         * displace what we hold). */
        return;
    }
    uint64_t h = name_hash(name, nlen);
    entry_t *e = find(t, name, nlen, h);
    if (e) {
        if (memcmp(&e->pid, pid, sizeof *pid) == 0) {
            /* The same registration. Only the home originates adds of its
             * pids, in its connection's order, so its stamp is the current
             * one: take it. It differs from ours when the home's C node
             * restarted and re-stamped its entries (keeping ours would make
             * its later del, which carries the new stamp, miss), or when the
             * home had the entry before our reservation's claim reached it
             * (the claim will be refused; the entry stands). */
            e->counter = s->counter;
            e->origin = s->origin;
            if (e->reserved) entry_confirm(t, e);
            return;
        }
        if (e->reserved) {
            /* A reservation is only a pending decision: a committed entry
             * replaces it whatever the stamps. (Kept, it would hide the
             * entry here for good if its claim is then refused.) If the
             * claim still succeeds, its add meets this entry and the stamps
             * decide. */
            entry_drop(t, e, 0);
        } else {
            /* A conflict: two owners said yes while their views differed.
             * The larger stamp wins here, as everywhere. The loser must go
             * at its home too, or it would stay there (and come back here
             * with the home's next sync) after the winner is gone, while the
             * nodes that saw the conflict dropped it: its home removes it and
             * tells everyone (a del). */
            stamp_t es = entry_stamp(e);
            int c = stamp_cmp(t, s, &es);
            if (c == 0) c = pid_cmp(t, pid, &e->pid);
            t->st.conflicts++;
            if (c < 0) {
                send_lost(t, name, nlen, pid, s, &e->pid);
                return;
            }
            if (e->pid.node == t->self_beam) {
                broadcast(t, W_DEL, e);
                if (e->has_mfa) agent_loser(t, e, pid);
            } else {
                send_lost(t, e->name, e->nlen, &e->pid, &es, pid);
            }
            entry_drop(t, e, 1);
        }
    }
    entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
}

/* {lost, ...} at the home of the losing entry: remove it everywhere. */
static void apply_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                       const stamp_t *s, const sw_pid_t *winner) {
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    stamp_t es = e ? entry_stamp(e) : *s;
    if (e && !e->reserved && e->pid.node == t->self_beam && memcmp(&e->pid, pid, sizeof *pid) == 0 &&
        stamp_cmp(t, s, &es) == 0) {
        broadcast(t, W_DEL, e);
        if (e->has_mfa) agent_loser(t, e, winner);
        entry_drop(t, e, 1);
    }
}

/* ---- handoff ------------------------------------------------------------
 *
 * When the ring gains a member, each home looks at the processes it hosts
 * that register_name/4,5 started (MFA entries): those whose owner is now
 * another node are asked by the agent, in a fresh process, to answer
 * {swarm, begin_handoff} (Swarm's protocol): `restart` or `{resume, State}`
 * moves the name: the home sends {handoff_start, ...} to the new owner,
 * which starts the MFA there and commits the new pid under a larger stamp,
 * so the old entry loses everywhere and its home sends the old process
 * {swarm, die}; with {resume, State} the new process is then cast
 * {swarm, end_handoff, State}. `ignore` leaves it where it is. A process
 * that does not answer (not a gen_server, timeout, dead) counts as
 * `restart`. The new pid joins the old one's groups. */

/* Asks the agent about every local MFA process the ring now places on a
 * connected peer. Returns how many wait for their new owner's agent to be
 * reported up (the caller scans again later). */
static size_t handoff_scan(sw_tracker_t *t) {
    size_t deferred = 0;
    if (below_quorum(t)) return 0;
    for (size_t i = 0; i < t->pids.cap; i++) {
        const void *it = sw_ctab_at(&t->pids, i);
        if (!it || pi_at(it, 0)->pid.node != t->self_beam) continue;
        for (uint32_t k = 0, cnt = pi_count(it); k < cnt; k++) {
            entry_t *e = pi_at(it, k);
            if (!e->has_mfa || e->reserved || e->handoff) continue;
            uint32_t owner = owner_of(t, e->name, e->nlen);
            if (owner == t->self_beam) continue;
            sw_peer_t *p = sw_peers_by_beam(&t->peers, owner);
            if (!p || !p->conn_up) continue;
            if (!p->agent_up) {
                deferred++;
                continue;
            }
            e->handoff = 1;
            ei_x_buff *x = &t->agent_ops.body;
            ei_x_encode_tuple_header(x, 3);
            ei_x_encode_atom(x, "handoff");
            ei_x_encode_binary(x, e->name, (int)e->nlen);
            sw_pid_enc(x, &t->atoms, &e->pid);
            t->agent_ops.count++;
            t->st.handoffs++;
        }
    }
    return deferred;
}

void sw_tracker_handoff_result(sw_tracker_t *t, const char *name, size_t nlen,
                               const erlang_pid *epid, sw_handoff_t how, const char *state,
                               size_t statelen) {
    sw_pid_t pid;
    if (sw_pid_compact(&t->atoms, epid, &pid) != 0) return;
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    if (!e || e->reserved || !e->has_mfa || memcmp(&e->pid, &pid, sizeof pid) != 0 ||
        pid.node != t->self_beam)
        return; /* gone or replaced meanwhile */
    e->handoff = 0;
    if (how == SW_HANDOFF_IGNORE) return;
    uint32_t owner = owner_of(t, name, nlen);
    sw_peer_t *p = owner == t->self_beam ? NULL : sw_peers_by_beam(&t->peers, owner);
    if (!p || !p->conn_up) return; /* the ring changed back meanwhile */
    stamp_t es = entry_stamp(e);
    e->moving = 1;
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 7);
    ei_x_encode_atom(x, "handoff_start");
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, &pid);
    enc_stamp(x, t, &es);
    ei_x_encode_binary(x, entry_mfa(e), (int)entry_mfalen(e));
    if (how == SW_HANDOFF_RESUME && state) ei_x_encode_binary(x, state, (int)statelen);
    else ei_x_encode_atom(x, "none");
    p->out.count++;
}

/* The new owner could not take over old's name (its start failed, or the
 * name was taken meanwhile): {handoff_failed, NameBin, OldPid} to old's
 * home, whose entry stops being marked as handed off (the process keeps
 * the name, as with `ignore`; the next ring change asks it again). */
static void handoff_failed(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old) {
    sw_peer_t *p = sw_peers_by_beam(&t->peers, old->node);
    if (!p || !p->conn_up) return;
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "handoff_failed");
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, old);
    p->out.count++;
}

/* {handoff_failed, ...} at old's home (see handoff_failed). */
static void apply_handoff_failed(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old) {
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    if (!e || e->reserved || !e->moving || memcmp(&e->pid, old, sizeof *old) != 0) return;
    e->moving = 0;
    t->st.handoffs_failed++;
    SW_WARN("handoff_failed", "reason=not_started_at_new_owner");
}

/* {handoff_start, ...} at the new owner: start the MFA here; the name stays
 * old's until the new process commits (handoff_started). */
static void handoff_begin(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                          const stamp_t *s, const char *mfa, size_t mfalen, const char *state,
                          size_t statelen) {
    clock_see(t, s->counter);
    entry_t *cur = find(t, name, nlen, name_hash(name, nlen));
    if (cur && (cur->reserved || memcmp(&cur->pid, old, sizeof *old) != 0)) {
        SW_WARN("handoff_dropped", "reason=name_taken");
        handoff_failed(t, name, nlen, old);
        return;
    }
    start_t *st = calloc(1, sizeof *st + nlen);
    if (!st || !(st->mfa = malloc(mfalen ? mfalen : 1)) ||
        (state && !(st->state = malloc(statelen ? statelen : 1)))) {
        if (st) start_free(st);
        handoff_failed(t, name, nlen, old);
        return;
    }
    st->id = ++t->clock;
    st->handoff = 1;
    st->restart = 1;
    st->old_pid = *old;
    memcpy(st->mfa, mfa, mfalen);
    st->mfalen = mfalen;
    if (state) {
        memcpy(st->state, state, statelen);
        st->statelen = statelen;
    }
    st->nlen = (uint32_t)nlen;
    memcpy(st->name, name, nlen);
    if (sw_htab_insert(&t->starts, sw_hash_u64(st->id), st) != 0) {
        start_free(st);
        handoff_failed(t, name, nlen, old);
        return;
    }
    agent_start(t, st->id, mfa, mfalen);
}

/* The handoff's new process started (epid) or not (NULL): it takes the name
 * from the old pid with a larger stamp. */
static void handoff_started(sw_tracker_t *t, start_t *st, const erlang_pid *epid) {
    sw_pid_t pid;
    if (!epid || sw_pid_compact(&t->atoms, epid, &pid) != 0) {
        SW_WARN("handoff_start_failed", "id=%llu", (unsigned long long)st->id);
        handoff_failed(t, st->name, st->nlen, &st->old_pid);
        return;
    }
    uint64_t h = name_hash(st->name, st->nlen);
    entry_t *cur = find(t, st->name, st->nlen, h);
    if (cur && !cur->reserved && memcmp(&cur->pid, &st->old_pid, sizeof pid) == 0) {
        stamp_t cs = entry_stamp(cur);
        if (cur->pid.node == t->self_beam) {
            broadcast(t, W_DEL, cur);
            if (cur->has_mfa) agent_die(t, &cur->pid);
        } else {
            send_lost(t, cur->name, cur->nlen, &cur->pid, &cs, &pid);
        }
        entry_drop(t, cur, 1);
    } else if (cur) {
        /* Another registration took the name meanwhile: the new process has
         * no name to hold. */
        SW_WARN("handoff_dropped", "reason=name_taken");
        agent_die(t, &pid);
        return;
    }
    stamp_t s = {++t->clock, t->self_beam};
    entry_t *e = entry_commit(t, st->name, st->nlen, h, &pid, &s, st->mfa, st->mfalen);
    if (!e) {
        agent_die(t, &pid);
        return;
    }
    broadcast(t, W_ADD, e);
    tell_restarted(t, &st->old_pid, epid);
    if (st->state) {
        ei_x_buff *x = &t->agent_ops.body;
        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_atom(x, "end_handoff");
        sw_pid_enc(x, &t->atoms, &pid);
        ei_x_encode_binary(x, st->state, (int)st->statelen);
        t->agent_ops.count++;
    }
}

static void apply_del(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                      const stamp_t *s) {
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    stamp_t es = e ? entry_stamp(e) : *s;
    if (e && !e->reserved && memcmp(&e->pid, pid, sizeof *pid) == 0 && stamp_cmp(t, s, &es) == 0)
        entry_drop(t, e, 1);
}

/* Home's handling of an owner's claim. yes/no: the Result terms to send. */
static void apply_claim(sw_tracker_t *t, sw_peer_t *from, const char *name, size_t nlen,
                        const sw_pid_t *pid, const stamp_t *s, uint32_t ccbeam,
                        const sw_pid_t *caller, const char *ref, size_t rlen, const char *yes,
                        size_t yeslen, const char *no, size_t nolen, const char *mfa,
                        size_t mfalen, int mode) {
    clock_see(t, s->counter);
    uint64_t h = name_hash(name, nlen);
    entry_t *e = find(t, name, nlen, h);
    int ours = e && !e->reserved && memcmp(&e->pid, pid, sizeof *pid) == 0;
    if (e || pid->node != t->self_beam || mode == CLAIM_CONFIRM || mode == CLAIM_CHECK) {
        /* Taken, not ours to commit, or only a question (see
         * claim_mode_t). A copy whose earlier copy committed here (its
         * reply was lost) is answered yes: the name is that pid's. */
        ours = ours && mode != CLAIM_NEW;
        /* The owner reserved the name for a claim that commits (new or
         * retry): release it. A question reserved nothing. */
        if (mode == CLAIM_NEW || mode == CLAIM_RETRY) {
            ei_x_buff *x = &from->out.body;
            ei_x_encode_tuple_header(x, 4);
            enc_word(x, W_CLAIM_NACK);
            ei_x_encode_binary(x, name, (int)nlen);
            enc_stamp(x, t, s);
            from->out.count++;
        }
        if (ours) reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
        else if (mode != CLAIM_CONFIRM) reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    e = entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
    if (!e) {
        reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    broadcast(t, W_ADD, e);
    reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
}

/* A home's sync: authoritative for the pids of its BEAM node. */
static int apply_sync(sw_tracker_t *t, sw_peer_t *from, const char *buf, int *index) {
    int arity, type, size;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    /* First pass: validate and remember which names the home lists. */
    int start = *index;
    if (type == ERL_NIL_EXT) {
        sw_term_skip(buf, index);
    } else {
        if (ei_decode_list_header(buf, index, &arity) != 0) return -1;
        for (int i = 0; i < arity; i++) {
            const char *name;
            long nlen;
            sw_pid_t pid;
            stamp_t s;
            int tup;
            const char *mfa;
            long mfalen;
            if (ei_decode_tuple_header(buf, index, &tup) != 0 || (tup != 4 && tup != 5)) return -1;
            if (dec_namebin(buf, index, &name, &nlen) != 0) return -1;
            if (sw_pid_dec(&t->atoms, buf, index, &pid) != 0 || dec_stamp(t, buf, index, &s) != 0) return -1;
            if (tup == 5 && dec_bin(buf, index, &mfa, &mfalen) != 0) return -1;
            if (pid.node != from->beam) return -1;
        }
        if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
        sw_term_skip(buf, index);
    }
    /* Drop what we hold for that node's pids and is not in the sync: build
     * the set of listed names in a temporary table. */
    sw_htab_t listed;
    sw_htab_init(&listed);
    int i2 = start;
    int n = 0;
    if (ei_decode_list_header(buf, &i2, &arity) == 0) n = arity;
    else arity = 0;
    entry_t **tmp = n ? malloc((size_t)n * sizeof *tmp) : NULL;
    int ntmp = 0;
    for (int k = 0; k < n; k++) {
        /* (validated by the first pass: these decodes succeed) */
        const char *name = NULL;
        long nlen = 0;
        int tup;
        sw_pid_t pid;
        stamp_t s;
        const char *mfa = NULL;
        long mfalen = 0;
        ei_decode_tuple_header(buf, &i2, &tup);
        dec_namebin(buf, &i2, &name, &nlen);
        sw_pid_dec(&t->atoms, buf, &i2, &pid);
        dec_stamp(t, buf, &i2, &s);
        if (tup == 5) dec_bin(buf, &i2, &mfa, &mfalen);
        if (tmp) {
            entry_t *x = entry_new(name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen);
            if (x && sw_htab_insert(&listed, entry_hash(x), x) == 0) tmp[ntmp++] = x;
            else free(x);
        }
    }
    for (size_t i = 0; i < t->pids.cap; i++) {
        void *it = sw_ctab_at(&t->pids, i);
        if (!it || pi_at(it, 0)->pid.node != from->beam) continue;
        /* Last entry first: dropping entry k moves the last one (already
         * seen) into k and leaves 0..k-1 in place; the slot keeps the
         * pid's item until its last entry is gone. */
        for (uint32_t k = pi_count(it); k-- > 0;) {
            entry_t *e = pi_at(it, k);
            /* Kept only if the home lists that name for that very pid: an
             * entry of its pids under a name it now lists for another of
             * its pids is stale too (it re-registered the name while our
             * copy's del went missing, e.g. across its C node's restart). */
            namekey_t nk = {e->name, e->nlen};
            entry_t *l = sw_htab_find(&listed, entry_hash(e), &nk, entry_eq);
            if (!l || memcmp(&l->pid, &e->pid, sizeof e->pid) != 0) {
                entry_drop(t, e, 1);
                if (!(it = sw_ctab_at(&t->pids, i))) break;
            }
        }
    }
    for (int k = 0; k < ntmp; k++) {
        entry_t *x = tmp[k];
        stamp_t xs = entry_stamp(x);
        apply_add(t, x->name, x->nlen, &x->pid, &xs, entry_mfa(x), entry_mfalen(x));
        free(x);
    }
    free(tmp);
    sw_htab_close(&listed);
    from->synced = 1;
    if (sw_peer_unawait(from)) maybe_synced(t);
    return 0;
}

/* The trailing mode of a claim (claim_mode_t), or -1. */
static int dec_claim_mode(const char *buf, int *index) {
    char a[MAXATOMLEN_UTF8];
    if (sw_atom_dec(buf, index, a) != 0) return -1;
    for (int m = CLAIM_RETRY; m <= CLAIM_CHECK; m++)
        if (strcmp(a, claim_mode_atom[m]) == 0) return m;
    return -1;
}

/* One op from peer `from` (an sw_peer_op_cb; ud is the tracker). */
static int apply_op(void *ud, sw_peer_t *from, const char *buf, int *index) {
    sw_tracker_t *t = ud;
    int arity;
    char tag[MAXATOMLEN_UTF8];
    const char *name, *ref;
    long nlen;
    size_t rlen;
    sw_pid_t pid, caller;
    stamp_t s;
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 1) return -1;
    if (sw_atom_dec(buf, index, tag) != 0) return -1;
    if (strcmp(tag, "add") == 0 || strcmp(tag, "del") == 0) {
        const char *mfa = NULL;
        long mfalen = 0;
        if ((arity != 5 && !(arity == 6 && tag[0] == 'a')) ||
            dec_namebin(buf, index, &name, &nlen) || sw_pid_dec(&t->atoms, buf, index, &pid) ||
            dec_stamp(t, buf, index, &s) || (arity == 6 && dec_bin(buf, index, &mfa, &mfalen)))
            return -1;
        /* Only a home originates adds and dels of its pids. */
        if (pid.node != from->beam) return -1;
        if (tag[0] == 'a') apply_add(t, name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen);
        else apply_del(t, name, (size_t)nlen, &pid, &s);
    } else if (strcmp(tag, "lost") == 0) {
        sw_pid_t winner;
        if ((arity != 5 && arity != 6) || dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || dec_stamp(t, buf, index, &s) ||
            (arity == 6 && sw_pid_dec(&t->atoms, buf, index, &winner)))
            return -1;
        apply_lost(t, name, (size_t)nlen, &pid, &s, arity == 6 ? &winner : NULL);
    } else if (strcmp(tag, "handoff_failed") == 0) {
        if (arity != 3 || dec_namebin(buf, index, &name, &nlen) || sw_pid_dec(&t->atoms, buf, index, &pid))
            return -1;
        /* Only about our own processes. */
        if (pid.node != t->self_beam) return -1;
        apply_handoff_failed(t, name, (size_t)nlen, &pid);
    } else if (strcmp(tag, "handoff_start") == 0) {
        const char *mfa, *state = NULL;
        long mfalen, statelen = 0;
        int type, size;
        if (arity != 7 || dec_namebin(buf, index, &name, &nlen) || sw_pid_dec(&t->atoms, buf, index, &pid) ||
            dec_stamp(t, buf, index, &s) || dec_bin(buf, index, &mfa, &mfalen) ||
            ei_get_type(buf, index, &type, &size))
            return -1;
        if (type == ERL_BINARY_EXT) {
            if (dec_bin(buf, index, &state, &statelen)) return -1;
        } else if (sw_term_skip(buf, index) != 0) {
            return -1;
        }
        /* Only a home hands off its own processes. */
        if (pid.node != from->beam) return -1;
        handoff_begin(t, name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen, state, (size_t)statelen);
    } else if (strcmp(tag, "reg_mfa_req") == 0) {
        const char *mfa;
        long mfalen;
        char mode[MAXATOMLEN_UTF8];
        if (arity != 6 || dec_namebin(buf, index, &name, &nlen) || dec_bin(buf, index, &mfa, &mfalen) ||
            ei_decode_atom(buf, index, mode) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        if (from->beam == UINT32_MAX) return -1;
        decide_mfa(t, from->beam, &caller, ref, rlen, name, (size_t)nlen, mfa, (size_t)mfalen,
                   strcmp(mode, "whereis_or_register") == 0 ? MODE_WHEREIS : MODE_REGISTER);
    } else if (strcmp(tag, "reg_req") == 0) {
        if ((arity != 5 && arity != 6) || dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) || (arity == 6 && dec_claim_mode(buf, index) != CLAIM_RETRY))
            return -1;
        if (from->beam == UINT32_MAX) return -1;
        decide(t, from->beam, &caller, ref, rlen, name, (size_t)nlen, &pid, arity == 6);
    } else if (strcmp(tag, "claim") == 0) {
        char cc[MAXATOMLEN_UTF8];
        const char *yes, *no, *mfa;
        size_t yeslen, nolen;
        long mfalen;
        if ((arity != 11 && arity != 12) || dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || dec_stamp(t, buf, index, &s) ||
            sw_atom_dec(buf, index, cc) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) || sw_term_dec_raw(buf, index, &yes, &yeslen) ||
            sw_term_dec_raw(buf, index, &no, &nolen) || dec_bin(buf, index, &mfa, &mfalen))
            return -1;
        int mode = arity == 12 ? dec_claim_mode(buf, index) : CLAIM_NEW;
        if (mode < 0) return -1;
        uint32_t ccbeam = sw_atoms_intern(&t->atoms, cc);
        if (ccbeam == UINT32_MAX) return -1;
        apply_claim(t, from, name, (size_t)nlen, &pid, &s, ccbeam, &caller, ref, rlen, yes, yeslen,
                    no, nolen, mfa, (size_t)mfalen, mode);
    } else if (strcmp(tag, "claim_nack") == 0) {
        if (arity != 4 || dec_namebin(buf, index, &name, &nlen) || dec_stamp(t, buf, index, &s))
            return -1;
        entry_t *e = find(t, name, (size_t)nlen, name_hash(name, (size_t)nlen));
        stamp_t es = e ? entry_stamp(e) : s;
        if (e && e->reserved && stamp_cmp(t, &s, &es) == 0) entry_drop(t, e, 0);
    } else if (strcmp(tag, "reply") == 0) {
        const char *res;
        size_t reslen;
        if (arity != 4 || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) || sw_term_dec_raw(buf, index, &res, &reslen))
            return -1;
        agent_reply_raw(t, &caller, ref, rlen, res, reslen);
    } else if (strcmp(tag, "unreg_req") == 0) {
        if (arity != 4 || dec_namebin(buf, index, &name, &nlen) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        if (from->beam == UINT32_MAX) return -1;
        unregister_at_home(t, from->beam, &caller, ref, rlen, name, (size_t)nlen);
    } else if (strcmp(tag, "sync") == 0) {
        if (arity != 2 || from->beam == UINT32_MAX) return -1;
        return apply_sync(t, from, buf, index);
    } else if (strcmp(tag, "hello") == 0) {
        /* {hello, BeamNode}: first op on every connection, names the peer's
         * BEAM node before anything else needs it. */
        char beam[MAXATOMLEN_UTF8];
        if (arity != 2 || ei_decode_atom(buf, index, beam) != 0) return -1;
        /* A C node speaks only for the BEAM node its own name implies: a
         * hello naming another node would let any cookie holder replace
         * that node's names with its sync. */
        if (!sw_peer_hello_ok(sw_atoms_str(&t->atoms, from->cnode), beam)) return -1;
        uint32_t b = sw_atoms_intern(&t->atoms, beam);
        if (b == UINT32_MAX || b == t->self_beam) return -1;
        /* (A record that knew the BEAM node first, by peer_up before the
         * connection, is merged into this one.) */
        sw_peers_set_beam(&t->peers, from, b);
        t->ring_dirty = 1;
    } else {
        return -1;
    }
    return 0;
}

int sw_tracker_peer_ops(sw_tracker_t *t, const char *cnode, const char *buf, int *index) {
    /* A connection the agent has not told us about becomes a peer only by
     * a first hello that names the BEAM node its name implies; any other
     * node (a remote shell, an rpc script) is sent nothing and leaves
     * nothing behind. */
    int greet;
    sw_peer_t *p = sw_peers_for_ops(&t->peers, &t->atoms, cnode, buf, *index, &greet);
    if (!p) {
        t->st.stranger_ops++;
        SW_WARN("ops_from_stranger", "from=%s", cnode);
        return 1;
    }
    if (greet) conn_open(t, p);
    if (!p->conn_up) return 1;
    return sw_peer_ops_guarded(p, &t->atoms, cnode, buf, index, apply_op, t, &t->st.bad_ops, "bad_op");
}

/* ---- membership -------------------------------------------------------- */

/* The connection to p is gone (or is to be ignored from now on). */
static void conn_lost(sw_tracker_t *t, sw_peer_t *p) {
    if (p->conn_up) t->links_news = 1;
    p->conn_up = 0;
    t->ring_dirty = 1;
    p->synced = 0;
    sw_outbox_release(&p->out);
    /* Reservations waiting on that home will never be answered. */
    if (p->beam != UINT32_MAX)
        for (uint32_t r = t->res_head, next; r != NO_RESV; r = next) {
            next = t->resv[r].next;
            if (t->resv[r].e->pid.node == p->beam) entry_drop(t, t->resv[r].e, 0);
        }
}

static void dial_if_ours(sw_tracker_t *t, sw_peer_t *p) {
    if (!p->conn_up && p->agent_up && t->have_agent && t->env && t->env->connect &&
        strcmp(sw_atoms_str(&t->atoms, t->self_cnode), sw_atoms_str(&t->atoms, p->cnode)) < 0)
        t->env->connect(t->ud, sw_atoms_str(&t->atoms, p->cnode));
}

void sw_tracker_peer_up(sw_tracker_t *t, const char *beam, const char *cnode) {
    /* A node joins: peers may mention nodes we have not met yet for a
     * while (see sw_atoms_guard). */
    sw_atoms_refill(&t->atoms);
    sw_peer_t *p = sw_peers_up(&t->peers, &t->atoms, t->self_beam, beam, cnode);
    /* It may make a connected peer a ring member (its BEAM node known, no
     * longer down): the ring must be rebuilt, as for any such change. */
    t->ring_dirty = 1;
    if (!p) return;
    /* Its C node may have connected before this report, when it was still
     * a stranger: greet it now. */
    if (!p->conn_up && t->env && t->env->connected && t->env->connected(t->ud, cnode)) conn_open(t, p);
    dial_if_ours(t, p);
}

static void restart_node(sw_tracker_t *t, uint32_t beam);

void sw_tracker_peer_down(sw_tracker_t *t, const char *beam) {
    uint32_t b = sw_atoms_intern(&t->atoms, beam);
    if (b == UINT32_MAX || b == t->self_beam) return;
    sw_peer_t *p = sw_peers_down(&t->peers, b);
    if (p) {
        if (sw_peer_unawait(p)) maybe_synced(t);
        if (p->conn_up) {
            if (t->env && t->env->disconnect) t->env->disconnect(t->ud, sw_atoms_str(&t->atoms, p->cnode));
            /* The connection counts as down from now on, not from when the
             * I/O layer reports it closed: what its C node sent before its
             * BEAM node died may still be in flight, and must not bring back
             * the names purged below. */
            conn_lost(t, p);
        }
    }
    t->ring_dirty = 1;
    restart_node(t, b);
}

/* The MFA entries of a node that went down are started again, once, by
 * their new owner: every survivor computes the same ring without that node,
 * and only the owner starts. The other entries of the node just go. */
static void restart_node(sw_tracker_t *t, uint32_t beam) {
    typedef struct {
        entry_t *copy;
    } item_t;
    size_t n = 0, cap = 0;
    item_t *items = NULL;
    for (size_t i = 0; i < t->pids.cap; i++) {
        const void *it = sw_ctab_at(&t->pids, i);
        if (!it || pi_at(it, 0)->pid.node != beam) continue;
        for (uint32_t k = 0, cnt = pi_count(it); k < cnt; k++) {
            const entry_t *e = pi_at(it, k);
            if (!e->has_mfa || owner_of(t, e->name, e->nlen) != t->self_beam) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                item_t *ni = realloc(items, cap * sizeof *ni);
                if (!ni) break;
                items = ni;
            }
            stamp_t es = entry_stamp(e);
            entry_t *c = entry_new(e->name, e->nlen, &e->pid, &es, entry_mfa(e), entry_mfalen(e));
            if (c) items[n++].copy = c;
        }
    }
    purge_node(t, beam);
    int quorum_ok = !below_quorum(t);
    for (size_t k = 0; k < n; k++) {
        entry_t *c = items[k].copy;
        if (!quorum_ok) {
            SW_WARN("restart_skipped", "reason=no_quorum");
        } else if (!find(t, c->name, c->nlen, entry_hash(c))) {
            start_t *st = start_begin(t, c->name, c->nlen, entry_hash(c), entry_mfa(c),
                                      entry_mfalen(c));
            if (st) {
                st->restart = 1;
                st->old_pid = c->pid;
            }
        }
        free(c);
    }
    free(items);
}

/* First ops on every connection: {hello, OurBeamNode}, then our sync. */
static void greet(sw_tracker_t *t, sw_peer_t *p) {
    sw_peer_hello(p, &t->atoms, t->self_beam);
    send_sync(t, p);
}

void sw_tracker_conn_up(sw_tracker_t *t, const char *cnode) {
    /* Only a C node the agent told us about is greeted at once; any other
     * node that connects must say hello first (sw_tracker_peer_ops). */
    uint32_t c = sw_atoms_find(&t->atoms, cnode);
    sw_peer_t *p = c == UINT32_MAX ? NULL : sw_peers_by_cnode(&t->peers, c);
    if (!p) return;
    if (p->down) {
        /* Its BEAM node is known down, but its C node lives on (it has not
         * seen its stdin close yet, or only the BEAM nodes are cut apart)
         * and dialled us: its sync would bring back the names purged at
         * peer_down. Hang up; once the agent reports the node up again
         * (peer_up), the next dial is welcome. */
        if (t->env && t->env->disconnect) t->env->disconnect(t->ud, cnode);
        return;
    }
    conn_open(t, p);
}

/* The connection to p's C node is up and p is a swarm peer: greet it. */
static void conn_open(sw_tracker_t *t, sw_peer_t *p) {
    t->links_news = 1;
    p->conn_up = 1;
    p->synced = 0;
    t->ring_dirty = 1;
    sw_outbox_reset(&p->out);
    /* Before the agent's hello our home entries are not known yet, and an
     * empty sync would make the peer drop them: greet once hello came. */
    if (t->have_agent) greet(t, p);
}

void sw_tracker_conn_down(sw_tracker_t *t, const char *cnode) {
    uint32_t c = sw_atoms_find(&t->atoms, cnode);
    sw_peer_t *p = c == UINT32_MAX ? NULL : sw_peers_by_cnode(&t->peers, c);
    if (!p) return;
    conn_lost(t, p);
    sw_peers_forget(&t->peers, p);
}

/* Validates a list of {NameBin, Pid} or {NameBin, Pid, MFABin} (names), or
 * of {BeamAtom, CNodeAtom}. */
static int check_pairs(sw_tracker_t *t, const char *buf, int *index, int names) {
    int arity, type, size;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    if (type == ERL_NIL_EXT) return sw_term_skip(buf, index);
    if (ei_decode_list_header(buf, index, &arity) != 0) return -1;
    for (int k = 0; k < arity; k++) {
        int tup;
        const char *name;
        long nlen;
        sw_pid_t pid;
        char a1[MAXATOMLEN_UTF8], a2[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, index, &tup) != 0 || (tup != 2 && !(names && tup == 3)))
            return -1;
        if (names) {
            const char *mfa;
            long mfalen;
            if (dec_namebin(buf, index, &name, &nlen) != 0 || sw_pid_dec(&t->atoms, buf, index, &pid) != 0 ||
                (tup == 3 && dec_bin(buf, index, &mfa, &mfalen) != 0))
                return -1;
        } else if (ei_decode_atom(buf, index, a1) != 0 || ei_decode_atom(buf, index, a2) != 0) {
            return -1;
        }
    }
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
    return sw_term_skip(buf, index);
}

int sw_tracker_hello(sw_tracker_t *t, const erlang_pid *agent, const char *buf, int *index) {
    int arity, tup;
    /* Validate both lists first so a malformed hello changes nothing. */
    int i = *index;
    if (check_pairs(t, buf, &i, 1) != 0 || check_pairs(t, buf, &i, 0) != 0) return -1;

    /* A second hello from the agent (its BEAM node stays the same: the
     * agent is our port's owner, and a new agent means a new C node) comes
     * after the distribution link between them went down and back up:
     * anything in flight either way was lost. This C node's state is the
     * truth: its entries are all streamed to the agent again (the agent
     * drops, at `synced`, what was not streamed, and monitors every local
     * pid afresh, which reports those that died meanwhile), and the
     * agent's list is not adopted (it may still show a name whose del was
     * lost). A first hello, to a C node just started, adopts that list. */
    int resync = t->have_agent;
    t->agent = *agent;
    t->have_agent = 1;
    t->synced = 0;
    t->synced_sent = 0;
    t->hello_at = t->now;
    if (resync) {
        t->st.agent_resyncs++;
        SW_INFO("agent_resync", "names=%zu", t->names.count);
        for (size_t k = 0; k < t->names.cap; k++) {
            const entry_t *e = sw_ctab_at(&t->names, k);
            if (e && !e->reserved) agent_op(t, W_ADD, e);
        }
    }
    i = *index;
    if (resync) {
        sw_term_skip(buf, &i);
    } else if (ei_decode_list_header(buf, &i, &arity) == 0) {
        for (int k = 0; k < arity; k++) {
            const char *name = NULL, *mfa = NULL;
            long nlen = 0, mfalen = 0;
            sw_pid_t pid = {0, 0, 0, 0};
            ei_decode_tuple_header(buf, &i, &tup);
            dec_namebin(buf, &i, &name, &nlen);
            if (sw_pid_dec(&t->atoms, buf, &i, &pid) != 0) continue;
            if (tup == 3 && dec_bin(buf, &i, &mfa, &mfalen) != 0) continue;
            uint64_t h = name_hash(name, (size_t)nlen);
            if (pid.node != t->self_beam || find(t, name, (size_t)nlen, h)) continue;
            stamp_t s = {++t->clock, t->self_beam};
            entry_commit(t, name, (size_t)nlen, h, &pid, &s, mfa, (size_t)mfalen);
        }
        /* The tail of a non-empty list; ei_decode_list_header already
         * consumed an empty one. */
        if (arity > 0) sw_term_skip(buf, &i);
    }
    int peers_at = i;
    if (ei_decode_list_header(buf, &i, &arity) == 0) {
        for (int k = 0; k < arity; k++) {
            char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
            ei_decode_tuple_header(buf, &i, &tup);
            ei_decode_atom(buf, &i, beam);
            ei_decode_atom(buf, &i, cnode);
            sw_tracker_peer_up(t, beam, cnode);
        }
        if (arity > 0) sw_term_skip(buf, &i);
    }
    if (resync) {
        /* A peer_down may have been lost too: a node the agent reported up
         * and no longer lists is down. */
        for (uint32_t k = 0; k < t->peers.n; k++) {
            sw_peer_t *p = &t->peers.v[k];
            if (!p->agent_up || p->beam == UINT32_MAX) continue;
            const char *b = sw_atoms_str(&t->atoms, p->beam);
            if (!sw_peer_list_names(buf, peers_at, b)) {
                char gone[MAXATOMLEN_UTF8];
                snprintf(gone, sizeof gone, "%s", b);
                sw_tracker_peer_down(t, gone);
            }
        }
    }
    *index = i;
    for (uint32_t k = 0; k < t->peers.n; k++) {
        sw_peer_t *p = &t->peers.v[k];
        if (p->agent_up && !p->synced) p->awaited = 1;
        /* Connections that came up before hello get their greeting now. */
        if (p->conn_up) greet(t, p);
    }
    maybe_synced(t);
    return 0;
}

/* ---- lifecycle, time, output ------------------------------------------- */

sw_tracker_t *sw_tracker_new(const char *beam, const char *cnode, const sw_tracker_env_t *env,
                             void *ud) {
    sw_tracker_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    sw_atoms_init(&t->atoms);
    sw_ctab_init(&t->names, names_hash);
    sw_ctab_init(&t->pids, pids_hash);
    t->resv_free = t->res_head = t->res_tail = NO_RESV;
    t->env = env;
    t->ud = ud;
    t->self_beam = sw_atoms_intern(&t->atoms, beam);
    t->self_cnode = sw_atoms_intern(&t->atoms, cnode);
    if (t->self_beam == UINT32_MAX || t->self_cnode == UINT32_MAX) {
        sw_tracker_free(t);
        return NULL;
    }
    sw_outbox_init(&t->agent_ops);
    sw_outbox_init(&t->agent_replies);
    ei_x_new(&t->scratch);
    ei_x_new(&t->res);
    sw_htab_init(&t->starts);
    sw_ring_init(&t->ring, 0);
    /* The first ring (this node alone) is the baseline: any member that
     * comes later is a newcomer (handoff_scan). */
    ring_rebuild(t);
    t->handoff_due = 0;
    return t;
}

void sw_tracker_free(sw_tracker_t *t) {
    if (!t) return;
    for (size_t i = 0; i < t->names.cap; i++) free(sw_ctab_at(&t->names, i));
    for (size_t i = 0; i < t->pids.cap; i++) {
        void *it = sw_ctab_at(&t->pids, i);
        if (it && pi_is_set(it)) free(pi_set(it));
    }
    sw_ctab_close(&t->names);
    sw_ctab_close(&t->pids);
    free(t->resv);
    free(t->ring_was);
    sw_peers_close(&t->peers);
    sw_outbox_free(&t->agent_ops);
    sw_outbox_free(&t->agent_replies);
    if (t->scratch.buff) ei_x_free(&t->scratch);
    if (t->res.buff) ei_x_free(&t->res);
    for (size_t i = 0; i < t->starts.cap; i++) {
        start_t *st = sw_htab_at(&t->starts, i);
        if (st) start_free(st);
    }
    sw_htab_close(&t->starts);
    sw_ring_close(&t->ring);
    sw_atoms_close(&t->atoms);
    free(t);
}

void sw_tracker_tick(sw_tracker_t *t, uint64_t now_ms) {
    t->now = now_ms;
    while (t->res_head != NO_RESV && t->resv[t->res_head].deadline <= now_ms) {
        t->st.expired++;
        entry_drop(t, t->resv[t->res_head].e, 0);
    }
    if (t->have_agent && !t->synced && now_ms - t->hello_at >= SYNC_TIMEOUT_MS) {
        SW_WARN("sync_timeout", "waited_ms=%u", SYNC_TIMEOUT_MS);
        for (uint32_t i = 0; i < t->peers.n; i++) t->peers.v[i].awaited = 0;
        maybe_synced(t);
    }
    if (now_ms - t->last_redial >= REDIAL_MS) {
        t->last_redial = now_ms;
        for (uint32_t i = 0; i < t->peers.n; i++) dial_if_ours(t, &t->peers.v[i]);
    }
    if (t->ring_dirty) ring_rebuild(t);
    if (t->handoff_due && now_ms >= t->handoff_at && t->synced) {
        t->handoff_due = 0;
        if (handoff_scan(t) > 0) {
            t->handoff_due = 1;
            t->handoff_at = now_ms + HANDOFF_DELAY_MS;
        }
    }
}

/* Starts x afresh as {'$sw1', tag, ...} of the given arity (version byte
 * included): a message of the tracker to its agent. */
static void begin_msg(ei_x_buff *x, const char *tag, int arity) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    ei_x_encode_atom(x, tag);
}

void sw_tracker_flush(sw_tracker_t *t, sw_tracker_emit_cb emit, void *ud) {
    ei_x_buff *x = &t->scratch;
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (!p->out.count) continue;
        x->index = 0;
        ei_x_encode_version(x);
        ei_x_encode_tuple_header(x, 3);
        enc_word(x, W_PROTO);
        enc_word(x, W_OPS);
        sw_outbox_emit(x, &p->out);
        sw_outbox_reset(&p->out);
        if (p->conn_up) emit(ud, SW_DEST_PEER, sw_atoms_str(&t->atoms, p->cnode), x->buff, (size_t)x->index);
    }
    if (t->have_agent && (t->agent_ops.count || t->agent_replies.count)) {
        x->index = 0;
        ei_x_encode_version(x);
        ei_x_encode_tuple_header(x, 4);
        enc_word(x, W_PROTO);
        enc_word(x, W_BATCH);
        sw_outbox_emit(x, &t->agent_ops);
        sw_outbox_emit(x, &t->agent_replies);
        sw_outbox_reset(&t->agent_ops);
        sw_outbox_reset(&t->agent_replies);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (t->have_agent && t->ring_news) {
        /* {'$sw1', ring, [BeamNode]}: the ring's members, for callers that
         * send register_name/2 straight to the owner's C node. */
        t->ring_news = 0;
        begin_msg(x, "ring", 3);
        ei_x_encode_list_header(x, (long)t->ring_seen);
        for (size_t i = 0; i < t->ring_seen; i++) sw_atoms_enc(x, &t->atoms, t->ring_was[i]);
        ei_x_encode_empty_list(x);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (t->have_agent && t->synced && !t->synced_sent) {
        t->synced_sent = 1;
        begin_msg(x, "synced", 2);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (t->have_agent && t->links_news) {
        /* {'$sw1', links}: a connection to a peer went down or came up.
         * Requests and replies in flight on a lost one are gone, and a
         * request that waits for a home (unregister) may go through now:
         * the agent tells callers still waiting to send theirs again. */
        t->links_news = 0;
        begin_msg(x, "links", 2);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
}

int sw_tracker_pending(const sw_tracker_t *t) {
    if (sw_peers_pending(&t->peers)) return 1;
    return (t->have_agent && (t->agent_ops.count || t->agent_replies.count || t->ring_news ||
                              t->links_news || (t->synced && !t->synced_sent)));
}

int sw_tracker_takes_direct(sw_tracker_t *t, const char *beam, const char *name, size_t nlen) {
    uint32_t b = sw_atoms_find(&t->atoms, beam);
    if (b == SW_ATOM_NONE || b == t->self_beam) return 0;
    const sw_peer_t *p = sw_peers_by_beam(&t->peers, b);
    return p && p->conn_up && p->agent_up && !p->down && owner_of(t, name, nlen) == t->self_beam;
}

int sw_tracker_synced(const sw_tracker_t *t) { return t->synced; }

void sw_tracker_guard_atoms(sw_tracker_t *t, int on) { sw_atoms_guard(&t->atoms, on); }

void sw_tracker_set_ring(sw_tracker_t *t, unsigned quorum, unsigned ring_flags) {
    t->quorum = quorum;
    t->ring_flags = ring_flags;
    t->ring_dirty = 1;
}

void sw_tracker_stats(const sw_tracker_t *t, sw_tracker_stats_t *out) {
    *out = t->st;
    out->atoms_refused = t->atoms.refused;
    out->members = 1;
    for (uint32_t i = 0; i < t->peers.n; i++) {
        const sw_peer_t *p = &t->peers.v[i];
        if (p->conn_up && !p->down && p->beam != UINT32_MAX) out->members++;
    }
}

int sw_tracker_lookup(sw_tracker_t *t, const char *name, size_t nlen, erlang_pid *pid_out) {
    entry_t *e = find(t, name, nlen, name_hash(name, nlen));
    if (!e || e->reserved) return 0;
    if (pid_out) {
        memset(pid_out, 0, sizeof *pid_out);
        sw_pid_expand(&t->atoms, &e->pid, pid_out);
    }
    return 1;
}
