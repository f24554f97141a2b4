/* tracker_leave.c - processes that leave their node: the node leaving the
 * placement, one process moved on demand, a process started again after
 * it exited, processes stopped when the node falls below its quorum.
 *
 * What it is: the decisions about the register_name/4,5 processes this
 * node is home of when something other than a ring's growth moves them.
 *
 * Leaving. sw_tracker_leave takes this node out of the ring (its own and,
 * through {leaving, yes}, its peers'), so nothing is placed here any more;
 * the handoff scan then asks each local process that the ring now places
 * elsewhere {swarm, begin_handoff}, as on a ring's growth (tracker_mfa.c).
 * The callers of leave wait until those moves have settled.
 *
 * Restarts. A process that exits is started again on the name's owner
 * when the node is stopping (its processes stop with it: they restart
 * elsewhere, as after a node down, but without waiting for the node to
 * go) or when the restart policy asks for it, within a restart intensity
 * per name. The name keeps the dead pid until the new process commits:
 * the restart is a handoff without state (tracker_mfa.c's handoff_start,
 * locally when this node is the owner).
 *
 * Quorum. Below its quorum by its agent's reports (the BEAM nodes it sees,
 * not the C node connections, which come and go with a C node's restart),
 * a node stops its register_name/4,5 processes ({swarm, die}) and removes
 * their names: the side at quorum starts them again, so when the sides
 * meet again exactly one process has each name.
 *
 * What it is not: the handoff protocol itself, starts and their waiters
 * (tracker_mfa.c), the ring (tracker_members.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "term.h"
#include "tracker_int.h"

/* Local committed register_name/4,5 entries (or, mfa 0, register_name/2
 * ones), copied out as pointers so the caller can drop them: *n of them,
 * NULL when there is none or out of memory. */
static sw_entry_t **local_entries(sw_tracker_t *t, int mfa, size_t *n) {
    const sw_store_t *s = &t->store;
    size_t cap = 0;
    sw_entry_t **v = NULL;
    *n = 0;
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(s, i);
        if (!pn || sw_pidnames_at(pn, 0)->pid.node != t->self_beam) continue;
        for (uint32_t k = 0, cnt = sw_pidnames_count(pn); k < cnt; k++) {
            sw_entry_t *e = sw_pidnames_at(pn, k);
            if (e->reserved || (int)e->has_mfa != mfa) continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                sw_entry_t **nv = realloc(v, cap * sizeof *nv);
                if (!nv) return v;
                v = nv;
            }
            v[(*n)++] = e;
        }
    }
    return v;
}

/* ---- the quorum -------------------------------------------------------- */

/* This node and the peers its agent reports up (C hosts aside). */
static size_t reported_nodes(const sw_tracker_t *t) {
    size_t n = 1;
    for (uint32_t i = 0; i < t->peers.n; i++) {
        const sw_peer_t *p = &t->peers.v[i];
        if (p->agent_up && !p->down && !p->host && p->beam != SW_ATOM_NONE) n++;
    }
    return n;
}

int sw_tr_short_of_quorum(const sw_tracker_t *t) {
    return t->quorum && !t->host && reported_nodes(t) < t->quorum;
}

void sw_tr_quorum_check(sw_tracker_t *t) {
    if (!sw_tr_short_of_quorum(t) || !t->sync.begun) return;
    size_t n;
    sw_entry_t **v = local_entries(t, 1, &n);
    if (n) SW_WARN("quorum_stop", "count=%zu nodes=%zu quorum=%u", n, reported_nodes(t), t->quorum);
    for (size_t k = 0; k < n; k++) {
        sw_entry_t *e = v[k];
        sw_tr_broadcast(t, SW_MSG_DEL, e);
        if (!e->dead) sw_tr_agent_die(t, &e->pid);
        sw_tr_entry_drop(t, e, 1);
        t->st.quorum_stops++;
    }
    free(v);
}

/* ---- moves ------------------------------------------------------------- */

/* Starts e's MFA again on owner (a peer, or this node), with state (NULL:
 * none); e keeps its name until the new process commits. Returns 0, or -1
 * when owner cannot take it (not connected). */
static int move_to(sw_tracker_t *t, sw_entry_t *e, uint32_t owner, const char *state,
                   size_t statelen) {
    if (owner == SW_ATOM_NONE) return -1;
    if (owner == t->self_beam) {
        sw_stamp_t s = sw_entry_stamp(e);
        e->moving = 1;
        sw_tr_handoff_begin(t, e->name, e->nlen, &e->pid, &s, sw_entry_mfa(e), sw_entry_mfalen(e),
                            state, statelen);
        return 0;
    }
    sw_peer_t *p = sw_peers_by_beam(&t->peers, owner);
    if (!p || !p->conn_up || p->down) return -1;
    e->moving = 1;
    sw_tr_move_sent(t, e, owner);
    sw_tr_send_handoff_start(t, p, e, state, statelen);
    return 0;
}

/* The owner of name among the members but this node (SW_ATOM_NONE: none). */
static uint32_t owner_elsewhere(sw_tracker_t *t, const char *name, size_t nlen) {
    uint32_t o = sw_tr_owner_without_self(t, name, nlen);
    return o == t->self_beam ? SW_ATOM_NONE : o;
}

void sw_tracker_move(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                     const char *name, size_t nlen, const char *state, size_t statelen) {
    sw_pid_t c;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved || !e->has_mfa || e->pid.node != t->self_beam || e->dead) {
        sw_tr_reply_res(t, t->self_beam, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_NOT_FOUND));
        return;
    }
    if (!e->moving && move_to(t, e, owner_elsewhere(t, name, nlen), state, statelen) != 0) {
        sw_tr_reply_res(t, t->self_beam, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        return;
    }
    t->st.handoffs++;
    sw_tr_reply_via(t, t->self_beam, &c, ref, rlen, SW_MSG_OK);
}

/* A handoff_start sent: the entry (by name and pid), where to, and since
 * when. Unsure: the connection to the target went after it was sent, so
 * whether the new owner took the name is not known until the target's
 * next sync, which the new owner's {lost, ..., handoff} precedes
 * (sw_tr_handed_greet). Deferred: meanwhile the entry lost a conflict to a
 * pid on the target (a third node said so): was that the handoff's new
 * process (the loser just dies) or a copy the target started on its own
 * during a partition (the loser's state goes to it: resolve)? The target
 * tells, or its sync does. */
typedef struct move_rec_s {
    uint64_t h, at;
    sw_pid_t pid, winner;
    uint32_t target;
    uint8_t unsure, deferred;
    uint32_t nlen;
    char name[];
} move_rec_t;

/* The local entry rec is about (committed, same pid), if any. */
static sw_entry_t *move_entry(sw_tracker_t *t, const move_rec_t *rec) {
    sw_entry_t *e = sw_store_find(&t->store, rec->name, rec->nlen, rec->h);
    if (!e || e->reserved || memcmp(&e->pid, &rec->pid, sizeof rec->pid) != 0) return NULL;
    return e;
}

/* Whether rec still tells something: a move under way, an unsure one whose
 * entry stands, or a deferred loser. */
static int move_live(sw_tracker_t *t, const move_rec_t *rec) {
    if (rec->deferred) return 1;
    sw_entry_t *e = move_entry(t, rec);
    return e && (rec->unsure || e->moving);
}

/* Keeps the records for which keep(t, rec, ud) says 1 (and that are still
 * live), frees the others. */
static void moves_filter(sw_tracker_t *t, int (*keep)(sw_tracker_t *, move_rec_t *, void *),
                         void *ud) {
    size_t j = 0;
    for (size_t i = 0; i < t->moves_n; i++) {
        move_rec_t *rec = t->moves[i];
        if (move_live(t, rec) && keep(t, rec, ud)) t->moves[j++] = rec;
        else free(rec);
    }
    t->moves_n = j;
}

static int keep_all(sw_tracker_t *t, move_rec_t *rec, void *ud) {
    (void)t;
    (void)rec;
    (void)ud;
    return 1;
}

void sw_tr_move_sent(sw_tracker_t *t, const sw_entry_t *e, uint32_t target) {
    if (t->moves_n == t->moves_cap) {
        moves_filter(t, keep_all, NULL);
        if (t->moves_n * 2 >= t->moves_cap) {
            size_t cap = t->moves_cap ? t->moves_cap * 2 : 16;
            move_rec_t **v = realloc(t->moves, cap * sizeof *v);
            if (!v) return;
            t->moves = v;
            t->moves_cap = cap;
        }
    }
    move_rec_t *rec = calloc(1, sizeof *rec + e->nlen);
    if (!rec) return;
    rec->h = sw_name_hash(e->name, e->nlen);
    rec->at = t->now;
    rec->pid = e->pid;
    rec->target = target;
    rec->nlen = e->nlen;
    memcpy(rec->name, e->name, e->nlen);
    t->moves[t->moves_n++] = rec;
}

/* A move under way to the node that went: its entry is no longer marked,
 * and the record stays, unsure, until the target's next sync. */
static int unsure_if_to(sw_tracker_t *t, move_rec_t *rec, void *ud) {
    if (rec->target != *(const uint32_t *)ud || rec->unsure) return 1;
    sw_entry_t *e = move_entry(t, rec);
    rec->unsure = 1;
    rec->at = t->now;
    if (!e->moving) return 1;
    e->moving = 0;
    t->leave_check = 1;
    if (e->dead) { /* its restart may be lost: nothing holds the name */
        sw_tr_broadcast(t, SW_MSG_DEL, e);
        sw_tr_entry_drop(t, e, 1);
        return 0;
    }
    return 1;
}

void sw_tr_moves_lost(sw_tracker_t *t, uint32_t target) {
    moves_filter(t, unsure_if_to, &target);
}

int sw_tr_moves_defer(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner) {
    if (!e->has_mfa || e->dead) return 0;
    for (size_t i = 0; i < t->moves_n; i++) {
        move_rec_t *rec = t->moves[i];
        if (rec->unsure && !rec->deferred && rec->target == winner->node &&
            memcmp(&rec->pid, &e->pid, sizeof e->pid) == 0 && rec->nlen == e->nlen &&
            memcmp(rec->name, e->name, e->nlen) == 0) {
            rec->deferred = 1;
            rec->winner = *winner;
            return 1;
        }
    }
    return 0;
}

/* A deferred loser whose target said the handoff ended: it just dies. */
static int done_if_handed(sw_tracker_t *t, move_rec_t *rec, void *ud) {
    const move_rec_t *k = ud;
    if (!rec->deferred || memcmp(&rec->pid, &k->pid, sizeof k->pid) != 0 || rec->nlen != k->nlen ||
        memcmp(rec->name, k->name, k->nlen) != 0)
        return 1;
    sw_tr_agent_die(t, &rec->pid);
    return 0;
}

void sw_tr_moves_handed(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid) {
    if (!t->moves_n || nlen > SW_ENTRY_MAX_NAME) return;
    move_rec_t *k = malloc(sizeof *k + nlen);
    if (!k) return;
    k->pid = *pid;
    k->nlen = (uint32_t)nlen;
    memcpy(k->name, name, nlen);
    moves_filter(t, done_if_handed, k);
    free(k);
}

/* How unsure moves settle (settle_if_from's ud). */
typedef struct {
    uint32_t target; /* the node, or UINT32_MAX: those older than HANDED_KEEP_MS */
    int down;        /* the node is down: only deferred losers settle */
} settle_t;

/* The target's sync came: an unsure move it did not say it took never
 * happened, and a deferred loser's state goes to its winner. The target is
 * down: its deferred losers resolve (the winner is gone too: what its node
 * held starts again elsewhere), its other unsure moves wait for a later
 * sync. Too long passed: as a sync. */
static int settle_if_from(sw_tracker_t *t, move_rec_t *rec, void *ud) {
    const settle_t *how = ud;
    if (!rec->unsure) return 1;
    if (how->target == UINT32_MAX ? t->now - rec->at < HANDED_KEEP_MS : rec->target != how->target)
        return 1;
    if (how->down && !rec->deferred) return 1;
    if (rec->deferred) sw_tr_agent_resolve(t, &rec->pid, &rec->winner, rec->name, rec->nlen);
    return 0;
}

void sw_tr_moves_synced(sw_tracker_t *t, uint32_t target, int down) {
    settle_t how = {target, down};
    if (t->moves_n) moves_filter(t, settle_if_from, &how);
}

void sw_tr_moves_tick(sw_tracker_t *t) {
    settle_t how = {UINT32_MAX, 0};
    if (t->moves_n) moves_filter(t, settle_if_from, &how);
}

uint32_t sw_tr_move_target(sw_tracker_t *t, const sw_entry_t *e) {
    for (size_t i = t->moves_n; i-- > 0;) {
        const move_rec_t *rec = t->moves[i];
        if (!rec->unsure && !rec->deferred && memcmp(&rec->pid, &e->pid, sizeof e->pid) == 0 &&
            rec->nlen == e->nlen && memcmp(rec->name, e->name, e->nlen) == 0)
            return rec->target;
    }
    return sw_tr_owner_of(t, e->name, e->nlen);
}

void sw_tr_moves_free(sw_tracker_t *t) {
    for (size_t i = 0; i < t->moves_n; i++) free(t->moves[i]);
    free(t->moves);
    t->moves = NULL;
    t->moves_n = t->moves_cap = 0;
}

/* ---- leaving the placement --------------------------------------------- */

void sw_tracker_leave(sw_tracker_t *t, sw_leave_t mode, const erlang_pid *caller,
                      const char *ref, size_t rlen) {
    sw_pid_t c;
    int has_caller = caller && sw_pid_compact(&t->atoms, caller, &c) == 0;
    if (t->host) mode = SW_LEAVE_NONE; /* never in the placement */
    int was = t->leaving != SW_LEAVE_NONE;
    t->leaving = mode;
    if (was != (mode != SW_LEAVE_NONE)) {
        SW_INFO(mode ? "leaving" : "rejoined", "mode=%s", mode == SW_LEAVE_STOP ? "stop" : "handoff");
        t->ring_dirty = 1;
        for (uint32_t i = 0; i < t->peers.n; i++)
            if (t->peers.v[i].conn_up) sw_tr_send_leaving(t, &t->peers.v[i]);
    }
    if (mode == SW_LEAVE_NONE) {
        if (has_caller) sw_tr_reply_via(t, t->self_beam, &c, ref, rlen, SW_MSG_OK);
        return;
    }
    if (mode == SW_LEAVE_STOP) {
        /* register_name/2 names go now: they would go with the node. */
        size_t n;
        sw_entry_t **v = local_entries(t, 0, &n);
        for (size_t k = 0; k < n; k++) {
            sw_tr_broadcast(t, SW_MSG_DEL, v[k]);
            sw_tr_entry_drop(t, v[k], 1);
        }
        free(v);
    }
    t->handoff_due = 1;
    t->handoff_only_failed = 0;
    t->handoff_at = t->now;
    sw_tr_handoff_due(t);
    if (!has_caller) return;
    waiter_t *w = malloc(sizeof *w + rlen);
    if (!w) {
        sw_tr_reply_res(t, t->self_beam, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_OUT_OF_MEMORY));
        return;
    }
    w->next = t->leave_waiters;
    w->ccbeam = t->self_beam;
    w->mode = 0;
    w->caller = c;
    w->rlen = rlen;
    memcpy(w->ref, ref, rlen);
    t->leave_waiters = w;
    t->leave_check = 1;
}

void sw_tr_leave_settle(sw_tracker_t *t) {
    int check = t->leave_check;
    t->leave_check = 0;
    if (!t->leave_waiters || !check || t->handoff_due) return;
    size_t n;
    sw_entry_t **v = local_entries(t, 1, &n);
    for (size_t k = 0; k < n; k++)
        if (v[k]->handoff || v[k]->moving) {
            free(v);
            return;
        }
    free(v);
    /* {ok, Remaining} */
    ei_x_buff *r = &t->res;
    r->index = 0;
    ei_x_encode_tuple_header(r, 2);
    sw_proto_encode(r, SW_MSG_OK);
    ei_x_encode_ulong(r, (unsigned long)n);
    for (waiter_t *w = t->leave_waiters, *next; w; w = next) {
        next = w->next;
        sw_tr_reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen, r);
        free(w);
    }
    t->leave_waiters = NULL;
}

void sw_tr_leave_free(sw_tracker_t *t) {
    for (waiter_t *w = t->leave_waiters, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    t->leave_waiters = NULL;
}

int sw_tr_apply_leaving(sw_tracker_t *t, sw_peer_t *p, int leaving) {
    /* Only a swarm node is ever in the placement. */
    if (p->host || p->beam == SW_ATOM_NONE) return -1;
    if (p->leaving != (uint8_t)leaving) {
        p->leaving = (uint8_t)leaving;
        t->ring_dirty = 1;
    }
    return 0;
}

/* ---- restarts after an exit -------------------------------------------- */

/* The recent restarts of one name on this node. */
typedef struct {
    uint32_t n;       /* times in at[] (at most the intensity) */
    uint32_t nlen;
    uint64_t *at;     /* ms, oldest first */
    char name[];
} restarts_t;

typedef struct {
    const char *name;
    size_t nlen;
} rkey_t;

static int restarts_eq(const void *item, const void *key) {
    const restarts_t *r = item;
    const rkey_t *k = key;
    return r->nlen == k->nlen && memcmp(r->name, k->name, k->nlen) == 0;
}

static void restarts_drop(sw_tracker_t *t, restarts_t *r) {
    sw_htab_remove(&t->restarts, sw_name_hash(r->name, r->nlen), r);
    free(r->at);
    free(r);
}

void sw_tracker_set_restart(sw_tracker_t *t, sw_restart_t policy, unsigned intensity,
                            unsigned period_ms) {
    t->restart = policy;
    t->restart_intensity = intensity < SW_RESTART_MAX_INTENSITY ? intensity : SW_RESTART_MAX_INTENSITY;
    t->restart_period = period_ms;
    /* Records kept under another intensity are recounted from scratch. */
    sw_tr_restarts_free(t);
}

/* 1 if name may restart now (and the restart is counted), 0 when it
 * restarted `intensity` times within the period already. */
static int restart_allowed(sw_tracker_t *t, const char *name, size_t nlen) {
    if (t->restart_intensity == 0) return 0;
    uint64_t h = sw_name_hash(name, nlen);
    rkey_t k = {name, nlen};
    restarts_t *r = sw_htab_find(&t->restarts, h, &k, restarts_eq);
    if (!r) {
        r = calloc(1, sizeof *r + nlen);
        if (!r || !(r->at = malloc(t->restart_intensity * sizeof *r->at))) {
            if (r) free(r);
            return 0;
        }
        r->nlen = (uint32_t)nlen;
        memcpy(r->name, name, nlen);
        if (sw_htab_insert(&t->restarts, h, r) != 0) {
            free(r->at);
            free(r);
            return 0;
        }
    }
    /* Forget restarts older than the period. */
    uint32_t old = 0;
    while (old < r->n && t->now - r->at[old] >= t->restart_period) old++;
    memmove(r->at, r->at + old, (r->n - old) * sizeof *r->at);
    r->n -= old;
    if (r->n >= t->restart_intensity) return 0;
    r->at[r->n++] = t->now;
    return 1;
}

void sw_tr_restarts_tick(sw_tracker_t *t) {
    for (size_t i = 0; i < t->restarts.cap; i++) {
        restarts_t *r = sw_htab_at(&t->restarts, i);
        if (r && (r->n == 0 || t->now - r->at[r->n - 1] >= t->restart_period)) restarts_drop(t, r);
    }
}

void sw_tr_restarts_free(sw_tracker_t *t) {
    for (size_t i = 0; i < t->restarts.cap; i++) {
        restarts_t *r = sw_htab_at(&t->restarts, i);
        if (r) {
            free(r->at);
            free(r);
        }
    }
    sw_htab_close(&t->restarts);
    sw_htab_init(&t->restarts);
}

/* Whether e's process, which exited, is started again (and where): 1 when
 * a move is under way, 0 when e is to be removed. */
static int restart_exited(sw_tracker_t *t, sw_entry_t *e, int crashed) {
    if (e->moving) return 1; /* a move is under way already: it goes on */
    if (sw_tr_short_of_quorum(t) || sw_tr_below_quorum(t)) return 0;
    if (t->leaving == SW_LEAVE_STOP)
        return move_to(t, e, owner_elsewhere(t, e->name, e->nlen), NULL, 0) == 0;
    int wanted = t->restart == SW_RESTART_PERMANENT || (t->restart == SW_RESTART_TRANSIENT && crashed);
    if (!wanted) return 0;
    if (!restart_allowed(t, e->name, e->nlen)) {
        t->st.restarts_given_up++;
        if (sw_log_enabled(SW_LOG_WARNING)) {
            char name[256];
            SW_WARN("restart_given_up", "reason=intensity intensity=%u period_ms=%u name=%s",
                    t->restart_intensity, t->restart_period,
                    sw_term_snprint(name, sizeof name, e->name, e->nlen));
        }
        return 0;
    }
    uint32_t owner = sw_tr_owner_of(t, e->name, e->nlen);
    if (t->leaving && owner == t->self_beam) return 0; /* nobody else is there */
    if (move_to(t, e, owner, NULL, 0) != 0) return 0;
    t->st.restarts++;
    /* Per name: restarts by the policy are rare (bounded by its intensity). */
    if (sw_log_enabled(SW_LOG_INFO)) {
        char name[256];
        SW_INFO("restart", "reason=%s name=%s", crashed ? "crashed" : "exited",
                sw_term_snprint(name, sizeof name, e->name, e->nlen));
    }
    return 1;
}

void sw_tracker_pid_exit(sw_tracker_t *t, const erlang_pid *pid, int crashed) {
    sw_pid_t p;
    if (sw_pid_compact(&t->atoms, pid, &p) != 0) return;
    const sw_pidnames_t *pn = sw_store_pid(&t->store, &p);
    if (!pn) return;
    /* Most pids have a name or two: no allocation for those. */
    uint32_t cnt = sw_pidnames_count(pn);
    sw_entry_t *few[8];
    sw_entry_t **v = cnt <= 8 ? few : malloc(cnt * sizeof *v);
    if (!v) {
        /* Out of memory: remove them all, as a plain exit. */
        while ((pn = sw_store_pid(&t->store, &p)) != NULL) {
            sw_entry_t *e = sw_pidnames_at(pn, sw_pidnames_count(pn) - 1);
            if (e->pid.node == t->self_beam) sw_tr_broadcast(t, SW_MSG_DEL, e);
            sw_tr_entry_drop(t, e, 1);
        }
        return;
    }
    for (uint32_t k = 0; k < cnt; k++) v[k] = sw_pidnames_at(pn, k);
    for (uint32_t k = 0; k < cnt; k++) {
        sw_entry_t *e = v[k];
        int local = e->pid.node == t->self_beam;
        if (local && e->has_mfa && !e->reserved) {
            e->dead = 1;
            if (restart_exited(t, e, crashed)) continue;
        }
        if (local) sw_tr_broadcast(t, SW_MSG_DEL, e);
        sw_tr_entry_drop(t, e, 1);
    }
    if (v != few) free(v);
}
