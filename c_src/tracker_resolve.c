/* tracker_resolve.c - a conflict loser's state on its way to the winner,
 * when the winner is moving.
 *
 * What it is: the routing of {resolve_state, ...}: the helper of a
 * conflict's loser (swarm_helpers) asked the loser {swarm, begin_handoff}
 * and sends its state to the winner's node; the winner's home C node, which
 * knows whether the winner is being handed off, has it cast to the winner
 * ({swarm, resolve_conflict, State}) when the winner stays, and otherwise
 * to whatever process takes the winner's name by the handoff: parked while
 * the winner is asked {swarm, begin_handoff} (a cast then might arrive
 * after the winner's state was taken, and be lost with it), sent after the
 * handoff_start to the new owner ({resolve_follow, ...}, same connection),
 * which casts it to the new process after its end_handoff, or, when the
 * name has moved on already, to the home of the name's process, which
 * casts it to that process (the name's survivor).
 *
 * What it is not: the conflict itself (tracker.c decides the loser), the
 * asking of the loser (the agent's helper), nor the handoff protocol
 * (tracker_mfa.c). A state that finds no way (the winner died, a C node
 * restarted meanwhile) is dropped, as a cast to a dead process is. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "term.h"
#include "tracker_int.h"

/* A state waiting for the begin_handoff answer of pid, under name. */
struct state_rec_s {
    struct state_rec_s *next;
    uint64_t at;
    sw_pid_t pid;
    size_t slen;
    char *state;
    uint32_t nlen;
    char name[];
};

static state_rec_t *rec_new(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                            const char *state, size_t slen) {
    state_rec_t *r = malloc(sizeof *r + nlen);
    if (!r) return NULL;
    if (!(r->state = malloc(slen ? slen : 1))) {
        free(r);
        return NULL;
    }
    memcpy(r->state, state, slen);
    r->slen = slen;
    r->next = NULL;
    r->at = t->now;
    r->pid = *pid;
    r->nlen = (uint32_t)nlen;
    memcpy(r->name, name, nlen);
    return r;
}

static void rec_free(state_rec_t *r) {
    free(r->state);
    free(r);
}

void sw_tr_states_free(state_rec_t *list) {
    for (state_rec_t *r = list, *next; r; r = next) {
        next = r->next;
        rec_free(r);
    }
}

static int rec_is(const state_rec_t *r, const char *name, size_t nlen, const sw_pid_t *pid) {
    return r->nlen == nlen && memcmp(r->name, name, nlen) == 0 &&
           memcmp(&r->pid, pid, sizeof *pid) == 0;
}

/* Sends the state to p for whatever took old's name ({resolve_follow}). */
static void follow(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                   const sw_pid_t *old, const char *state, size_t slen) {
    if (!p || !p->conn_up) {
        SW_DEBUG("resolve_state_dropped", "reason=no_connection");
        return;
    }
    sw_tr_send_resolve_follow(t, p, name, nlen, old, state, slen);
}

void sw_tracker_resolve_state(sw_tracker_t *t, const char *name, size_t nlen,
                              const erlang_pid *winner, const char *state, size_t slen) {
    sw_pid_t w;
    if (sw_pid_compact(&t->atoms, winner, &w) != 0 || w.node != t->self_beam) return;
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved) {
        SW_DEBUG("resolve_state_dropped", "reason=name_gone");
        return;
    }
    if (memcmp(&e->pid, &w, sizeof w) != 0) {
        /* The name moved on: its holder's home knows whether it took it
         * from the winner (a handoff it recorded). */
        if (e->pid.node != t->self_beam)
            follow(t, sw_peers_by_beam(&t->peers, e->pid.node), name, nlen, &w, state, slen);
        return;
    }
    if (e->moving) {
        follow(t, sw_peers_by_beam(&t->peers, sw_tr_move_target(t, e)), name, nlen, &w, state,
               slen);
        return;
    }
    if (!e->handoff) {
        sw_tr_agent_resolve_cast(t, &w, state, slen);
        return;
    }
    /* Being asked: the answer decides where the state goes. */
    state_rec_t *r = rec_new(t, name, nlen, &w, state, slen);
    if (!r) return;
    r->next = t->parked;
    t->parked = r;
}

void sw_tr_states_answered(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                           sw_peer_t *moved_to) {
    for (state_rec_t **pp = &t->parked; *pp;) {
        state_rec_t *r = *pp;
        if (!rec_is(r, name, nlen, pid)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (moved_to) follow(t, moved_to, name, nlen, pid, r->state, r->slen);
        else sw_tr_agent_resolve_cast(t, pid, r->state, r->slen);
        rec_free(r);
    }
}

void sw_tr_states_tick(sw_tracker_t *t) {
    for (state_rec_t **pp = &t->parked; *pp;) {
        state_rec_t *r = *pp;
        if (t->now - r->at < HANDED_KEEP_MS) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        SW_DEBUG("resolve_state_dropped", "reason=no_handoff_answer");
        rec_free(r);
    }
}

void sw_tr_apply_resolve_follow(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                                const char *state, size_t slen) {
    /* The handoff's start still runs: after its end_handoff. */
    if (sw_tr_start_attach_state(t, name, nlen, old, state, slen)) return;
    /* Done: to the name's process here now (the one that took old's name,
     * or, had that one gone too, the name's next process: the name's
     * survivor either way). */
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (e && !e->reserved && e->has_mfa && !e->dead && e->pid.node == t->self_beam)
        sw_tr_agent_resolve_cast(t, &e->pid, state, slen);
    else SW_DEBUG("resolve_state_dropped", "reason=name_not_here");
}

int sw_tr_state_attach(sw_tracker_t *t, state_rec_t **list, const char *name, size_t nlen,
                       const sw_pid_t *old, const char *state, size_t slen) {
    state_rec_t *r = rec_new(t, name, nlen, old, state, slen);
    if (!r) return 0;
    /* In arrival order. */
    while (*list) list = &(*list)->next;
    *list = r;
    return 1;
}

void sw_tr_states_cast(sw_tracker_t *t, state_rec_t *list, const sw_pid_t *to) {
    for (state_rec_t *r = list; r; r = r->next) sw_tr_agent_resolve_cast(t, to, r->state, r->slen);
}
