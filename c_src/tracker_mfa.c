/* tracker_mfa.c - processes the registry starts: register_name/4,5, their
 * restart when their node goes down, and their handoff when the ring grows.
 *
 * What it is: the part of the tracker's state machine where a name's owner
 * has the agent run apply(M, F, A) and names the process it gets.
 *
 * MFA starts. The owner of a name reserves it (an SW_RES_START entry,
 * invisible to lookups), asks its agent to run apply(M, F, A) in a fresh
 * process ({start, Id, MFA} in the agent's batch), and queues every request
 * for that name that comes meanwhile. The agent always answers with
 * sw_tracker_started(); the start then commits like register_name/2 would,
 * and the waiters get their replies: the first one (who caused the start)
 * and whereis_or_register callers {ok, Pid}, later register callers
 * {error, {already_registered, Pid}}, everyone the MFA's error if it failed.
 *
 * Restarts. The MFA entries of a node that went down are started again,
 * once, by their new owner: every survivor computes the same ring without
 * that node, and only the owner starts.
 *
 * Handoff. When the ring gains a member, each home looks at the processes
 * it hosts that register_name/4,5 started (MFA entries): those whose owner
 * is now another node are asked by the agent, in a fresh process, to answer
 * {swarm, begin_handoff} (Swarm's protocol): `restart` or `{resume, State}`
 * moves the name: the home sends {handoff_start, ...} to the new owner,
 * which starts the MFA there and commits the new pid under a larger stamp,
 * so the old entry loses everywhere and its home sends the old process
 * {swarm, die}; with {resume, State} the new process is then cast
 * {swarm, end_handoff, State}. `ignore` leaves it where it is. A process
 * that does not answer (not a gen_server, timeout, dead) counts as
 * `restart`. The new pid joins the old one's groups (the env's restarted
 * hook).
 *
 * What it is not: the register_name/2 path (tracker.c decides and commits;
 * a start ends in the same commit) nor the messages' encoding
 * (tracker_wire.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "term.h"
#include "tracker_int.h"

/* ---- starts and their waiters ------------------------------------------ */

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
    sw_tr_states_free(st->follows);
    free(st);
}

void sw_tr_start_detach(sw_tracker_t *t, sw_entry_t *e) {
    start_t *st = start_find(t, e->counter);
    if (st && st->e == e) st->e = NULL;
}

void sw_tr_starts_free(sw_tracker_t *t) {
    for (size_t i = 0; i < t->starts.cap; i++) {
        start_t *st = sw_htab_at(&t->starts, i);
        if (st) start_free(st);
    }
    sw_htab_close(&t->starts);
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

/* Reserves name and asks the agent to run the MFA. The reservation's stamp
 * counter is the start's id (a reservation's stamp never changes). NULL on
 * out of memory. */
static start_t *start_begin(sw_tracker_t *t, const char *name, size_t nlen, uint64_t h,
                            const char *mfa, size_t mfalen) {
    sw_stamp_t s = {++t->clock, t->self_beam};
    sw_pid_t none = {UINT32_MAX, 0, 0, 0};
    start_t *st = calloc(1, sizeof *st + nlen);
    sw_entry_t *e = sw_entry_new(name, nlen, &none, &s, mfa, mfalen);
    if (!st || !e || sw_store_reserve_start(&t->store, e, h) != 0) {
        free(st);
        free(e);
        return NULL;
    }
    st->id = s.counter;
    st->e = e;
    st->nlen = (uint32_t)nlen;
    memcpy(st->name, name, nlen);
    if (sw_htab_insert(&t->starts, sw_hash_u64(st->id), st) != 0) {
        sw_store_remove(&t->store, e);
        free(e);
        free(st);
        return NULL;
    }
    sw_tr_agent_start(t, st->id, mfa, mfalen);
    return st;
}

void sw_tr_decide_mfa(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                      size_t rlen, const char *name, size_t nlen, const char *mfa, size_t mfalen,
                      int mode) {
    if (sw_tr_below_quorum(t)) {
        sw_tr_reply_res(t, ccbeam, caller, ref, rlen, sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        return;
    }
    uint64_t h = sw_name_hash(name, nlen);
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, h);
    if (e && e->reserved == SW_RES_START) {
        start_t *st = start_find(t, e->counter);
        if (st && add_waiter(st, ccbeam, caller, ref, rlen, mode) == 0) return;
        sw_tr_reply_res(t, ccbeam, caller, ref, rlen, sw_tr_res_error(t, SW_MSG_OUT_OF_MEMORY));
        return;
    }
    if (e) {
        sw_tr_reply_res(t, ccbeam, caller, ref, rlen, sw_tr_res_pid(t, mode != MODE_WHEREIS, &e->pid));
        return;
    }
    start_t *st = start_begin(t, name, nlen, h, mfa, mfalen);
    if (!st || add_waiter(st, ccbeam, caller, ref, rlen, mode) != 0) {
        sw_tr_reply_res(t, ccbeam, caller, ref, rlen, sw_tr_res_error(t, SW_MSG_OUT_OF_MEMORY));
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
        sw_tr_decide_mfa(t, c.node, &c, ref, rlen, name, nlen, mfa, mfalen, mode);
        return;
    }
    if (sw_tr_below_quorum(t)) {
        sw_tr_reply_res(t, t->self_beam, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        return;
    }
    uint32_t owner = sw_tr_owner_of(t, name, nlen);
    if (owner == SW_ATOM_NONE) { /* a host with no member */
        sw_tr_reply_res(t, t->self_beam, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        return;
    }
    if (owner == t->self_beam) {
        sw_tr_decide_mfa(t, t->self_beam, &c, ref, rlen, name, nlen, mfa, mfalen, mode);
        return;
    }
    sw_tr_send_reg_mfa_req(t, sw_peers_by_beam(&t->peers, owner), name, nlen, mfa, mfalen, mode,
                           &c, ref, rlen);
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

/* The start of reservation e succeeded with pid: it commits under the
 * reservation's stamp (through a claim when pid is not ours), and the
 * waiters get their replies. */
static void start_commit(sw_tracker_t *t, start_t *st, sw_entry_t *e, const sw_pid_t *pid,
                         const erlang_pid *epid) {
    waiter_t *first = st->waiters;
    /* Take the reservation out, then commit under the same stamp. */
    uint64_t h = sw_entry_hash(e);
    sw_stamp_t es = sw_entry_stamp(e);
    sw_store_remove(&t->store, e);
    ei_x_buff yes, no;
    ei_x_new(&yes);
    ei_x_new(&no);
    /* (res_pid fills t->res: evaluate it before reading its index) */
    ei_x_buff *r = sw_tr_res_pid(t, 0, pid);
    ei_x_append_buf(&yes, r->buff, r->index);
    sw_pid_t none = {UINT32_MAX, 0, 0, 0};
    r = sw_tr_res_pid(t, 1, &none);
    ei_x_append_buf(&no, r->buff, r->index);
    sw_tr_commit_or_claim(t, first ? first->ccbeam : UINT32_MAX, first ? &first->caller : pid,
                          first ? first->ref : "", first ? first->rlen : 0, e->name, e->nlen, h,
                          pid, &es, yes.buff, (size_t)yes.index, no.buff, (size_t)no.index,
                          sw_entry_mfa(e), sw_entry_mfalen(e), 0);
    ei_x_free(&yes);
    ei_x_free(&no);
    free(e);
    if (st->restart) tell_restarted(t, &st->old_pid, epid);
    for (waiter_t *w = first ? first->next : NULL; w; w = w->next)
        sw_tr_reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen,
                        sw_tr_res_pid(t, w->mode != MODE_WHEREIS, pid));
}

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
    sw_entry_t *e = st->e;
    sw_pid_t pid;
    if (epid && sw_tr_short_of_quorum(t) && sw_pid_compact(&t->atoms, epid, &pid) == 0) {
        /* The node fell below its quorum while the MFA ran: the side at
         * quorum owns the name now. */
        sw_tr_agent_die(t, &pid);
        if (e) sw_tr_entry_drop(t, e, 0);
        for (waiter_t *w = st->waiters; w; w = w->next)
            sw_tr_reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen,
                            sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        start_free(st);
        return;
    }
    if (epid && sw_pid_compact(&t->atoms, epid, &pid) == 0) {
        if (e) {
            start_commit(t, st, e, &pid, epid);
        } else {
            /* The reservation gave way to an entry committed elsewhere (two
             * owners while views differed): the process runs unnamed. */
            sw_entry_t *cur = sw_store_find(&t->store, st->name, st->nlen, sw_name_hash(st->name, st->nlen));
            SW_WARN("start_orphaned", "id=%llu", (unsigned long long)id);
            for (waiter_t *w = st->waiters; w; w = w->next)
                sw_tr_reply_res(t, w->ccbeam, &w->caller, w->ref, w->rlen,
                                sw_tr_res_pid(t, w->mode != MODE_WHEREIS, cur ? &cur->pid : &pid));
        }
    } else {
        if (e) sw_tr_entry_drop(t, e, 0);
        if (st->restart)
            SW_WARN("restart_failed", "id=%llu", (unsigned long long)id);
        for (waiter_t *w = st->waiters; w; w = w->next)
            sw_tr_reply_raw_via(t, w->ccbeam, &w->caller, w->ref, w->rlen, res, reslen);
    }
    start_free(st);
}

/* ---- restarts after a node went down ----------------------------------- */

static void orphan_keep(sw_tracker_t *t, const sw_entry_t *e);

void sw_tr_restart_node(sw_tracker_t *t, uint32_t beam) {
    const sw_store_t *s = &t->store;
    size_t n = 0, cap = 0;
    sw_entry_t **copies = NULL;
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(s, i);
        if (!pn || sw_pidnames_at(pn, 0)->pid.node != beam) continue;
        for (uint32_t k = 0, cnt = sw_pidnames_count(pn); k < cnt; k++) {
            const sw_entry_t *e = sw_pidnames_at(pn, k);
            if (!e->has_mfa || e->reserved) continue;
            uint32_t owner = sw_tr_owner_of(t, e->name, e->nlen);
            if (owner != t->self_beam) {
                /* The owner may not know this entry (it was cut from its
                 * home before the entry was made, a partition that not
                 * every node saw alike): tell it, so that someone
                 * restarts it; and keep it, in case the owner goes down
                 * before it has (sw_tr_orphans_check). */
                sw_peer_t *o = sw_peers_by_beam(&t->peers, owner);
                if (o && o->conn_up && !o->down) sw_tr_send_orphan(t, o, e);
                orphan_keep(t, e);
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                sw_entry_t **nc = realloc(copies, cap * sizeof *nc);
                if (!nc) break;
                copies = nc;
            }
            sw_stamp_t es = sw_entry_stamp(e);
            sw_entry_t *c = sw_entry_new(e->name, e->nlen, &e->pid, &es, sw_entry_mfa(e),
                                         sw_entry_mfalen(e));
            if (c) copies[n++] = c;
        }
    }
    sw_tr_purge_node(t, beam);
    int quorum_ok = !sw_tr_below_quorum(t);
    size_t started = 0;
    for (size_t k = 0; k < n; k++) {
        sw_entry_t *c = copies[k];
        if (quorum_ok && !sw_store_find(&t->store, c->name, c->nlen, sw_entry_hash(c))) {
            start_t *st = start_begin(t, c->name, c->nlen, sw_entry_hash(c), sw_entry_mfa(c),
                                      sw_entry_mfalen(c));
            if (st) {
                st->restart = 1;
                st->old_pid = c->pid;
                started++;
            }
        }
        free(c);
    }
    free(copies);
    /* One line per node gone down (its processes may be thousands). */
    if (!quorum_ok && n)
        SW_WARN("node_restarts_skipped", "count=%zu node=%s reason=no_quorum", n,
                sw_atoms_str(&t->atoms, beam));
    if (started)
        SW_INFO("node_restarts", "count=%zu node=%s", started, sw_atoms_str(&t->atoms, beam));
    sw_tr_orphans_check(t);
}

/* ---- entries of nodes gone down, left to another owner ----------------- */

/* How long such an entry is kept while its owner lives and its home is
 * away (its owner restarts it, or the home comes back, long before). */
#define ORPHAN_KEEP_MS 300000u

static void orphan_keep(sw_tracker_t *t, const sw_entry_t *e) {
    if (t->norph == t->orph_cap) {
        size_t cap = t->orph_cap ? t->orph_cap * 2 : 64;
        sw_entry_t **v = realloc(t->orph, cap * sizeof *v);
        uint64_t *at = v ? realloc(t->orph_at, cap * sizeof *at) : NULL;
        if (v) t->orph = v;
        if (!at) return;
        t->orph_at = at;
        t->orph_cap = cap;
    }
    sw_stamp_t es = sw_entry_stamp(e);
    sw_entry_t *c = sw_entry_new(e->name, e->nlen, &e->pid, &es, sw_entry_mfa(e), sw_entry_mfalen(e));
    if (!c) return;
    t->orph[t->norph] = c;
    t->orph_at[t->norph++] = t->now;
}

void sw_tr_orphans_check(sw_tracker_t *t) {
    int quorum_ok = !sw_tr_below_quorum(t) && !sw_tr_short_of_quorum(t);
    size_t j = 0;
    for (size_t k = 0; k < t->norph; k++) {
        sw_entry_t *c = t->orph[k];
        const sw_peer_t *home = sw_peers_by_beam(&t->peers, c->pid.node);
        int drop = 1;
        if (sw_store_find(&t->store, c->name, c->nlen, sw_entry_hash(c))) {
            /* held again (its owner restarted it, or someone registered it) */
        } else if (home && home->agent_up && !home->down) {
            /* its home is back: its sync says what lives */
        } else if (t->now - t->orph_at[k] >= ORPHAN_KEEP_MS) {
            SW_WARN("orphan_expired", "reason=owner_alive_never_restarted");
        } else if (sw_tr_owner_of(t, c->name, c->nlen) == t->self_beam && quorum_ok) {
            /* Its owner went down too: ours to restart now. */
            start_t *st = start_begin(t, c->name, c->nlen, sw_entry_hash(c), sw_entry_mfa(c),
                                      sw_entry_mfalen(c));
            if (st) {
                st->restart = 1;
                st->old_pid = c->pid;
            }
        } else {
            drop = 0;
        }
        if (drop) {
            free(c);
        } else {
            t->orph[j] = c;
            t->orph_at[j++] = t->orph_at[k];
        }
    }
    t->norph = j;
}

void sw_tr_orphans_free(sw_tracker_t *t) {
    for (size_t k = 0; k < t->norph; k++) free(t->orph[k]);
    free(t->orph);
    free(t->orph_at);
    t->orph = NULL;
    t->orph_at = NULL;
    t->norph = t->orph_cap = 0;
}

void sw_tr_apply_orphan(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                        const sw_stamp_t *s, const char *mfa, size_t mfalen) {
    sw_tr_clock_see(t, s->counter);
    uint64_t h = sw_name_hash(name, nlen);
    if (sw_store_find(&t->store, name, nlen, h)) return; /* held: nothing is lost */
    if (sw_tr_owner_of(t, name, nlen) != t->self_beam) return;
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (home && home->conn_up) return; /* its home speaks for it */
    if (home && home->agent_up && !home->down) {
        /* Not reported down here yet: our own peer_down restarts it. */
        sw_tr_entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
        return;
    }
    if (sw_tr_short_of_quorum(t) || sw_tr_below_quorum(t)) return;
    start_t *st = start_begin(t, name, nlen, h, mfa, mfalen);
    if (st) {
        st->restart = 1;
        st->old_pid = *pid;
    }
}

/* ---- handoff ----------------------------------------------------------- */

/* The log lines of a handoff scan: one per name at debug, and one for
 * users at the end, counting the names asked to move and naming the nodes
 * they go to. */
typedef struct {
    size_t count;
    uint32_t to[8]; /* the first nodes they go to (atoms) */
    size_t nto;
} handoff_log_t;

static void handoff_log_one(handoff_log_t *l, sw_tracker_t *t, const sw_entry_t *e, uint32_t owner) {
    l->count++;
    int seen = 0;
    for (size_t i = 0; i < l->nto && !seen; i++) seen = l->to[i] == owner;
    if (!seen && l->nto < sizeof l->to / sizeof l->to[0]) l->to[l->nto++] = owner;
    if (sw_log_enabled(SW_LOG_DEBUG)) {
        char name[256];
        SW_DEBUG("handoff_one", "to=%s name=%s", sw_atoms_str(&t->atoms, owner),
                 sw_term_snprint(name, sizeof name, e->name, e->nlen));
    }
}

static void handoff_log_end(const handoff_log_t *l, sw_tracker_t *t) {
    if (!l->count) return;
    char to[512];
    size_t off = 0;
    to[0] = 0;
    for (size_t i = 0; i < l->nto && off < sizeof to; i++) {
        int w = snprintf(to + off, sizeof to - off, "%s%s", i ? "," : "",
                         sw_atoms_str(&t->atoms, l->to[i]));
        if (w < 0) break;
        off += (size_t)w;
    }
    SW_INFO("handoff", "count=%zu to=%s", l->count, to);
}

size_t sw_tr_handoff_scan(sw_tracker_t *t, int only_failed) {
    const sw_store_t *s = &t->store;
    size_t deferred = 0;
    handoff_log_t log = {0};
    if (sw_tr_below_quorum(t)) return 0;
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(s, i);
        if (!pn || sw_pidnames_at(pn, 0)->pid.node != t->self_beam) continue;
        for (uint32_t k = 0, cnt = sw_pidnames_count(pn); k < cnt; k++) {
            sw_entry_t *e = sw_pidnames_at(pn, k);
            if (!e->has_mfa || e->reserved || e->handoff || e->moving || e->dead) continue;
            if (only_failed && !e->hfail) continue;
            uint32_t owner = sw_tr_owner_of(t, e->name, e->nlen);
            if (owner == t->self_beam) continue;
            sw_peer_t *p = sw_peers_by_beam(&t->peers, owner);
            if (!p || !p->conn_up) continue;
            if (!p->agent_up) {
                deferred++;
                continue;
            }
            e->handoff = 1;
            e->hfail = 0;
            sw_tr_agent_handoff(t, e);
            t->st.handoffs++;
            handoff_log_one(&log, t, e, owner);
        }
    }
    handoff_log_end(&log, t);
    return deferred;
}

void sw_tracker_handoff_result(sw_tracker_t *t, const char *name, size_t nlen,
                               const erlang_pid *epid, sw_handoff_t how, const char *state,
                               size_t statelen) {
    sw_pid_t pid;
    if (sw_pid_compact(&t->atoms, epid, &pid) != 0) return;
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved || !e->has_mfa || memcmp(&e->pid, &pid, sizeof pid) != 0 ||
        pid.node != t->self_beam) {
        /* Gone or replaced meanwhile: states parked for it go to it (a
         * cast to a dead process is dropped, as any). */
        sw_tr_states_answered(t, name, nlen, &pid, NULL);
        return;
    }
    e->handoff = 0;
    t->leave_check = 1;
    /* `ignore' stays; an entry moving already (its process exited while it
     * was asked, and is being started again) is not sent twice. */
    if (how == SW_HANDOFF_IGNORE || e->moving) {
        sw_tr_states_answered(t, name, nlen, &pid, NULL);
        return;
    }
    uint32_t owner = sw_tr_owner_of(t, name, nlen);
    sw_peer_t *p = owner == t->self_beam ? NULL : sw_peers_by_beam(&t->peers, owner);
    if (!p || !p->conn_up) { /* the ring changed back meanwhile */
        sw_tr_states_answered(t, name, nlen, &pid, NULL);
        return;
    }
    e->moving = 1;
    sw_tr_move_sent(t, e, owner);
    sw_tr_send_handoff_start(t, p, e, how == SW_HANDOFF_RESUME ? state : NULL, statelen);
    sw_tr_states_answered(t, name, nlen, &pid, p);
}

/* The new owner could not take over old's name (its start failed, or the
 * name was taken meanwhile): tells old's home, whose entry stops being
 * marked as handed off (the process keeps the name, as with `ignore`; the
 * next ring change asks it again). */
static void handoff_failed(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old) {
    if (old->node == t->self_beam) { /* a restart here */
        sw_tr_handoff_failed_at_home(t, name, nlen, old);
        return;
    }
    sw_peer_t *p = sw_peers_by_beam(&t->peers, old->node);
    if (!p || !p->conn_up) return;
    sw_tr_send_handoff_failed(t, p, name, nlen, old);
}

void sw_tr_handoff_failed_at_home(sw_tracker_t *t, const char *name, size_t nlen,
                                  const sw_pid_t *old) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved || !e->moving || memcmp(&e->pid, old, sizeof *old) != 0) return;
    e->moving = 0;
    t->leave_check = 1;
    t->st.handoffs_failed++;
    SW_WARN("handoff_failed", "reason=not_started_at_new_owner");
    if (e->dead) { /* a restart of an exited process: nothing holds the name */
        sw_tr_broadcast(t, SW_MSG_DEL, e);
        sw_tr_entry_drop(t, e, 1);
        return;
    }
    e->hfail = 1;
    if (!t->handoff_retry && t->handoff_tries < HANDOFF_RETRIES) {
        t->handoff_retry = 1;
        t->handoff_retry_at = t->now + t->handoff_backoff;
        t->handoff_backoff *= 2;
        t->handoff_tries++;
    }
}

/* The name stays old's until the new process commits (handoff_started). */
void sw_tr_handoff_begin(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                         const sw_stamp_t *s, const char *mfa, size_t mfalen, const char *state,
                         size_t statelen) {
    sw_tr_clock_see(t, s->counter);
    sw_entry_t *cur = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
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
    st->old_s = *s;
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
    sw_tr_agent_start(t, st->id, mfa, mfalen);
}

/* ---- handed: ends of handoffs that the old home must hear --------------- */

/* A handoff from another home that committed here: the old entry (name,
 * pid, stamp) and the new pid, since `at'. */
typedef struct {
    uint64_t h, at;
    sw_pid_t old, winner;
    sw_stamp_t old_s;
    uint32_t nlen;
    char name[];
} handed_t;

typedef struct {
    const char *name;
    size_t nlen;
} handed_key_t;

static int handed_eq(const void *item, const void *key) {
    const handed_t *r = item;
    const handed_key_t *k = key;
    return r->nlen == k->nlen && memcmp(r->name, k->name, k->nlen) == 0;
}

static handed_t *handed_find(sw_tracker_t *t, const char *name, size_t nlen, uint64_t h) {
    handed_key_t k = {name, nlen};
    return sw_htab_find(&t->handed, h, &k, handed_eq);
}

/* Notes that the name of old_pid (entry stamp old_s) was handed off to
 * winner here, and tells old_pid's home if it is connected. */
static void handed_note(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old_pid,
                        const sw_stamp_t *old_s, const sw_pid_t *winner) {
    uint64_t h = sw_name_hash(name, nlen);
    sw_tr_send_lost(t, name, nlen, old_pid, old_s, winner, 1);
    handed_t *old = handed_find(t, name, nlen, h);
    handed_t *r = malloc(sizeof *r + nlen);
    if (!r) return;
    r->h = h;
    r->at = t->now;
    r->old = *old_pid;
    r->winner = *winner;
    r->old_s = *old_s;
    r->nlen = (uint32_t)nlen;
    memcpy(r->name, name, nlen);
    if (old) {
        if (sw_htab_replace(&t->handed, h, old, r) == 0) free(old);
        else free(r);
    } else if (sw_htab_insert(&t->handed, h, r) != 0) {
        free(r);
    }
}

void sw_tr_handed_greet(sw_tracker_t *t, sw_peer_t *p) {
    if (!t->handed.count || p->beam == UINT32_MAX) return;
    for (size_t i = 0; i < t->handed.cap; i++) {
        const handed_t *r = sw_htab_at(&t->handed, i);
        if (r && r->old.node == p->beam)
            sw_tr_send_lost(t, r->name, r->nlen, &r->old, &r->old_s, &r->winner, 1);
    }
}

void sw_tr_handed_del(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid) {
    if (!t->handed.count) return;
    uint64_t h = sw_name_hash(name, nlen);
    handed_t *r = handed_find(t, name, nlen, h);
    if (r && memcmp(&r->old, pid, sizeof *pid) == 0 && sw_htab_remove(&t->handed, h, r) == 0) free(r);
}

int sw_tr_handed_is(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                    const sw_pid_t *winner) {
    if (!t->handed.count) return 0;
    const handed_t *r = handed_find(t, name, nlen, sw_name_hash(name, nlen));
    return r && memcmp(&r->old, old, sizeof *old) == 0 && memcmp(&r->winner, winner, sizeof *winner) == 0;
}

void sw_tr_handed_tick(sw_tracker_t *t) {
    if (!t->handed.count) return;
    /* (Removing the current item while iterating is allowed.) */
    for (size_t i = 0; i < t->handed.cap; i++) {
        handed_t *r = sw_htab_at(&t->handed, i);
        if (r && t->now - r->at >= HANDED_KEEP_MS && sw_htab_remove(&t->handed, r->h, r) == 0) free(r);
    }
}

void sw_tr_handed_free(sw_tracker_t *t) {
    for (size_t i = 0; i < t->handed.cap; i++) free(sw_htab_at(&t->handed, i));
    sw_htab_close(&t->handed);
    sw_htab_init(&t->handed);
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
    if (sw_tr_short_of_quorum(t)) {
        /* Below the quorum since: the side at quorum takes the name. */
        sw_tr_agent_die(t, &pid);
        handoff_failed(t, st->name, st->nlen, &st->old_pid);
        return;
    }
    uint64_t h = sw_name_hash(st->name, st->nlen);
    sw_entry_t *cur = sw_store_find(&t->store, st->name, st->nlen, h);
    if (cur && !cur->reserved && memcmp(&cur->pid, &st->old_pid, sizeof pid) == 0) {
        sw_stamp_t cs = sw_entry_stamp(cur);
        if (cur->pid.node == t->self_beam) {
            sw_tr_broadcast(t, SW_MSG_DEL, cur);
            if (cur->has_mfa && !cur->dead) sw_tr_agent_die(t, &cur->pid);
        } else {
            /* Said again on every new connection to that home until it
             * removes the old pid (the connection may go before this
             * arrives). */
            handed_note(t, cur->name, cur->nlen, &cur->pid, &cs, &pid);
        }
        sw_tr_entry_drop(t, cur, 1);
    } else if (!cur && st->handoff && st->old_pid.node != t->self_beam) {
        /* The old entry went meanwhile (its node was reported down, e.g. a
         * partition): its home must still hear that the state moved. */
        handed_note(t, st->name, st->nlen, &st->old_pid, &st->old_s, &pid);
    } else if (cur) {
        /* Another registration took the name meanwhile: the new process has
         * no name to hold. */
        SW_WARN("handoff_dropped", "reason=name_taken");
        sw_tr_agent_die(t, &pid);
        return;
    }
    sw_stamp_t s = {++t->clock, t->self_beam};
    sw_entry_t *e = sw_tr_entry_commit(t, st->name, st->nlen, h, &pid, &s, st->mfa, st->mfalen);
    if (!e) {
        sw_tr_agent_die(t, &pid);
        return;
    }
    sw_tr_broadcast(t, SW_MSG_ADD, e);
    tell_restarted(t, &st->old_pid, epid);
    if (st->state) sw_tr_agent_end_handoff(t, &pid, st->state, st->statelen);
    sw_tr_states_cast(t, st->follows, &pid);
}

int sw_tr_start_attach_state(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                             const char *state, size_t slen) {
    for (size_t i = 0; i < t->starts.cap; i++) {
        start_t *st = sw_htab_at(&t->starts, i);
        if (st && st->handoff && memcmp(&st->old_pid, old, sizeof *old) == 0 && st->nlen == nlen &&
            memcmp(st->name, name, nlen) == 0)
            return sw_tr_state_attach(t, &st->follows, name, nlen, old, state, slen);
    }
    return 0;
}
