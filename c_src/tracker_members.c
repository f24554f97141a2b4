/* tracker_members.c - the tracker's view of the cluster: which peers are
 * up, which connections are open, the ring over the members and the quorum.
 *
 * What it is: the events that change who is there (the agent's hello and
 * its reports of BEAM nodes up and down, connections up and down, a peer's
 * hello) and what follows from them: dialling, greeting a peer with our
 * sync, rebuilding the ring, dropping what a lost connection leaves
 * hanging. The members of the ring are this node and the peers whose
 * connection is up and whose BEAM node is known and not reported down.
 *
 * What it is not: the peer records themselves (peers.c), the ring's
 * placement (ring.c), or what happens to entries beyond a node's purge
 * (tracker.c, tracker_mfa.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "term.h"
#include "tracker_int.h"

/* ---- the ring and the quorum ------------------------------------------- */

/* Nodes are added in sorted order, so every node builds the same ring from
 * the same members (libring's ring depends on the order of joins when two
 * nodes claim one point). */
void sw_tr_ring_rebuild(sw_tracker_t *t) {
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
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    return sw_ring_node_count(&t->ring);
}

int sw_tr_below_quorum(sw_tracker_t *t) { return t->quorum && members(t) < t->quorum; }

/* The owner decides registrations of the name: its node on the libring
 * ring of the members. */
uint32_t sw_tr_owner_of(sw_tracker_t *t, const char *name, size_t len) {
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    const char *node;
    if (sw_ring_owner_of(&t->ring, name, len, &node) != 0) return t->self_beam;
    uint32_t b = sw_atoms_intern(&t->atoms, node);
    return b == UINT32_MAX ? t->self_beam : b;
}

int sw_tracker_takes_direct(sw_tracker_t *t, const char *beam, const char *name, size_t nlen) {
    uint32_t b = sw_atoms_find(&t->atoms, beam);
    if (b == SW_ATOM_NONE || b == t->self_beam) return 0;
    const sw_peer_t *p = sw_peers_by_beam(&t->peers, b);
    return p && p->conn_up && p->agent_up && !p->down && sw_tr_owner_of(t, name, nlen) == t->self_beam;
}

void sw_tracker_set_ring(sw_tracker_t *t, unsigned quorum, unsigned ring_flags) {
    t->quorum = quorum;
    t->ring_flags = ring_flags;
    t->ring_dirty = 1;
}

/* ---- connections ------------------------------------------------------- */

/* The connection to p is gone (or is to be ignored from now on). */
static void conn_lost(sw_tracker_t *t, sw_peer_t *p) {
    if (p->conn_up) t->links_news = 1;
    t->ring_dirty = 1;
    sw_peer_conn_close(p);
    /* Reservations waiting on that home will never be answered. */
    if (p->beam != UINT32_MAX)
        for (sw_entry_t *e = sw_store_resv_oldest(&t->store), *next; e; e = next) {
            next = sw_store_resv_next(&t->store, e);
            if (e->pid.node == p->beam) sw_tr_entry_drop(t, e, 0);
        }
}

void sw_tr_dial_if_ours(sw_tracker_t *t, sw_peer_t *p) {
    if (!p->conn_up && p->agent_up && t->sync.begun && t->env && t->env->connect &&
        strcmp(sw_atoms_str(&t->atoms, t->self_cnode), sw_atoms_str(&t->atoms, p->cnode)) < 0)
        t->env->connect(t->ud, sw_atoms_str(&t->atoms, p->cnode));
}

/* First ops on every connection: {hello, OurBeamNode}, then our sync. */
static void greet(sw_tracker_t *t, sw_peer_t *p) {
    sw_peer_hello(p, &t->atoms, t->self_beam);
    sw_tr_send_sync(t, p);
}

void sw_tr_conn_open(sw_tracker_t *t, sw_peer_t *p) {
    t->links_news = 1;
    t->ring_dirty = 1;
    sw_peer_conn_open(p);
    /* Before the agent's hello our home entries are not known yet, and an
     * empty sync would make the peer drop them: greet once hello came. */
    if (t->sync.begun) greet(t, p);
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
    sw_tr_conn_open(t, p);
}

void sw_tracker_conn_down(sw_tracker_t *t, const char *cnode) {
    uint32_t c = sw_atoms_find(&t->atoms, cnode);
    sw_peer_t *p = c == UINT32_MAX ? NULL : sw_peers_by_cnode(&t->peers, c);
    if (!p) return;
    conn_lost(t, p);
    sw_peers_forget(&t->peers, p);
}

int sw_tr_peer_hello(sw_tracker_t *t, sw_peer_t *p, const char *beam) {
    /* A C node speaks only for the BEAM node its own name implies: a hello
     * naming another node would let any cookie holder replace that node's
     * names with its sync. */
    if (!sw_peer_hello_ok(sw_atoms_str(&t->atoms, p->cnode), beam)) return -1;
    uint32_t b = sw_atoms_intern(&t->atoms, beam);
    if (b == UINT32_MAX || b == t->self_beam) return -1;
    /* (A record that knew the BEAM node first, by peer_up before the
     * connection, is merged into this one.) */
    sw_peers_set_beam(&t->peers, p, b);
    t->ring_dirty = 1;
    return 0;
}

/* ---- BEAM nodes up and down -------------------------------------------- */

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
    if (!p->conn_up && t->env && t->env->connected && t->env->connected(t->ud, cnode))
        sw_tr_conn_open(t, p);
    sw_tr_dial_if_ours(t, p);
}

void sw_tracker_peer_down(sw_tracker_t *t, const char *beam) {
    uint32_t b = sw_atoms_intern(&t->atoms, beam);
    if (b == UINT32_MAX || b == t->self_beam) return;
    sw_peer_t *p = sw_peers_down(&t->peers, b);
    if (p) {
        sw_proto_sync_peer_gone(&t->sync, &t->peers, p);
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
    /* Requests waiting here for a home on that node (an unregister, a
     * register copy) have nobody to answer them now: callers are told to
     * send theirs again ({links}) and find the names gone. */
    t->links_news = 1;
    sw_tr_restart_node(t, b);
}

/* ---- the agent's hello ------------------------------------------------- */

int sw_tracker_hello(sw_tracker_t *t, const erlang_pid *agent, const char *buf, int *index) {
    int arity, tup;
    /* Validate both lists first so a malformed hello changes nothing. */
    int i = *index;
    if (sw_tr_check_pairs(t, buf, &i, 1) != 0 || sw_tr_check_pairs(t, buf, &i, 0) != 0) return -1;

    /* A second hello from the agent (its BEAM node stays the same: the
     * agent is our port's owner, and a new agent means a new C node) comes
     * after the distribution link between them went down and back up:
     * anything in flight either way was lost. This C node's state is the
     * truth: its entries are all streamed to the agent again (the agent
     * drops, at `synced`, what was not streamed, and monitors every local
     * pid afresh, which reports those that died meanwhile), and the
     * agent's list is not adopted (it may still show a name whose del was
     * lost). A first hello, to a C node just started, adopts that list. */
    int resync = t->sync.begun;
    t->agent = *agent;
    sw_proto_sync_begin(&t->sync, t->now);
    if (resync) {
        t->st.agent_resyncs++;
        SW_INFO("agent_resync", "names=%zu", t->store.names.count);
        for (size_t k = 0; k < sw_store_slots_names(&t->store); k++) {
            const sw_entry_t *e = sw_store_name_at(&t->store, k);
            if (e && !e->reserved) sw_tr_agent_op(t, SW_MSG_ADD, e);
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
            sw_tr_dec_namebin(buf, &i, &name, &nlen);
            if (sw_pid_dec(&t->atoms, buf, &i, &pid) != 0) continue;
            if (tup == 3 && sw_tr_dec_bin(buf, &i, &mfa, &mfalen) != 0) continue;
            uint64_t h = sw_name_hash(name, (size_t)nlen);
            if (pid.node != t->self_beam || sw_store_find(&t->store, name, (size_t)nlen, h)) continue;
            /* Adopted with a fresh stamp: a home's stamp for its own entry
             * always replaces the peers' copy. */
            sw_stamp_t s = {++t->clock, t->self_beam};
            sw_tr_entry_commit(t, name, (size_t)nlen, h, &pid, &s, mfa, (size_t)mfalen);
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
    /* Connections that came up before hello get their greeting now. */
    for (uint32_t k = 0; k < t->peers.n; k++)
        if (t->peers.v[k].conn_up) greet(t, &t->peers.v[k]);
    sw_proto_sync_await(&t->peers);
    sw_proto_sync_check(&t->sync, &t->peers);
    return 0;
}
