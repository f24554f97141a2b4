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

/* Logs, for users, the members that joined or left the ring since it was
 * last built (this node aside) and the quorum reached or lost. */
static void log_ring_change(sw_tracker_t *t, const uint32_t *idx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int known = idx[i] == t->self_beam;
        for (size_t j = 0; j < t->ring_seen && !known; j++) known = t->ring_was[j] == idx[i];
        if (!known) SW_INFO("ring_join", "node=%s members=%zu", sw_atoms_str(&t->atoms, idx[i]), n);
    }
    for (size_t j = 0; j < t->ring_seen; j++) {
        int kept = t->ring_was[j] == t->self_beam;
        for (size_t i = 0; i < n && !kept; i++) kept = t->ring_was[j] == idx[i];
        if (!kept)
            SW_INFO("ring_leave", "node=%s members=%zu", sw_atoms_str(&t->atoms, t->ring_was[j]), n);
    }
    if (!t->quorum || t->host) return;
    int short_now = sw_tr_below_quorum(t);
    if (short_now && t->quorum_state == QUORUM_MET)
        SW_WARN("quorum_lost", "nodes=%zu quorum=%u", n, t->quorum);
    else if (!short_now && t->quorum_state != QUORUM_MET)
        SW_INFO("quorum_reached", "nodes=%zu quorum=%u", n, t->quorum);
    t->quorum_state = short_now ? QUORUM_SHORT : QUORUM_MET;
}

/* Nodes are added in sorted order, so every node builds the same ring from
 * the same members (libring's ring depends on the order of joins when two
 * nodes claim one point). */
void sw_tr_ring_rebuild(sw_tracker_t *t) {
    const char *names[1 + t->peers.n];
    size_t n = 0;
    /* A host is never a member, nor a host peer; a node that left the
     * placement (sw_tracker_leave, {leaving, yes}) is not one either,
     * unless every node left it (then nobody would decide). */
    int in = !t->host && !t->leaving;
    for (uint32_t i = 0; i < t->peers.n && !in; i++) {
        sw_peer_t *p = &t->peers.v[i];
        in = p->conn_up && !p->down && !p->host && !p->leaving && p->beam != UINT32_MAX;
    }
    if (!t->host && (!t->leaving || !in)) names[n++] = sw_atoms_str(&t->atoms, t->self_beam);
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (p->conn_up && !p->down && !p->host && (!p->leaving || !in) && p->beam != UINT32_MAX)
            names[n++] = sw_atoms_str(&t->atoms, p->beam);
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
     * the ring now gives to another node are handed off (handoff_scan): at
     * once for a node that was never a member here (a node joining the
     * cluster), HEAL_HANDOFF_DELAY_MS later for one that comes back (a
     * partition healed: the conflicts it brings are resolved first, so
     * that a winner gets its loser's state before it is asked to move). */
    uint32_t idx[1 + t->peers.n];
    int grew = 0, back = 0;
    if (n != t->ring_seen) t->ring_news = 1;
    for (size_t i = 0; i < n; i++) {
        idx[i] = sw_atoms_intern(&t->atoms, names[i]);
        int known = 0, ever = 0;
        for (size_t j = 0; j < t->ring_seen && !known; j++) known = t->ring_was[j] == idx[i];
        for (size_t j = 0; j < t->ring_ever_n && !known && !ever; j++) ever = t->ring_ever[j] == idx[i];
        grew |= !known;
        back |= !known && ever;
        if (!known && !ever) {
            uint32_t *e = realloc(t->ring_ever, (t->ring_ever_n + 1) * sizeof *e);
            if (e) {
                t->ring_ever = e;
                t->ring_ever[t->ring_ever_n++] = idx[i];
            }
        }
    }
    if (grew) t->ring_news = 1;
    log_ring_change(t, idx, n);
    /* (At least one slot: a host's ring may be empty, and realloc to 0
     * bytes would free the array.) */
    uint32_t *was = realloc(t->ring_was, (n ? n : 1) * sizeof *was);
    if (was) {
        memcpy(was, idx, n * sizeof *was);
        t->ring_was = was;
        t->ring_seen = n;
    }
    if (grew) {
        t->handoff_due = 1;
        t->handoff_only_failed = 0;
        t->handoff_backoff = HANDOFF_RETRY_MS;
        t->handoff_tries = 0;
        t->handoff_waits_agents = 0;
        t->handoff_at = t->now + (back ? HEAL_HANDOFF_DELAY_MS : 0);
    }
}

size_t sw_tracker_members(sw_tracker_t *t) {
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    return sw_ring_node_count(&t->ring);
}

int sw_tr_below_quorum(sw_tracker_t *t) {
    if (!t->quorum) return 0;
    size_t n = t->host ? 0 : 1;
    for (uint32_t i = 0; i < t->peers.n; i++) {
        const sw_peer_t *p = &t->peers.v[i];
        if (p->conn_up && !p->down && !p->host && p->beam != UINT32_MAX) n++;
    }
    return n < t->quorum;
}

/* The owner decides registrations of the name: its node on the libring
 * ring of the members. A host with no member has none (SW_ATOM_NONE). */
uint32_t sw_tr_owner_of(sw_tracker_t *t, const char *name, size_t len) {
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    const char *node;
    uint32_t fallback = t->host ? SW_ATOM_NONE : t->self_beam;
    if (sw_ring_owner_of(&t->ring, name, len, &node) != 0) return fallback;
    uint32_t b = sw_atoms_intern(&t->atoms, node);
    return b == UINT32_MAX ? fallback : b;
}

uint32_t sw_tr_owner_without_self(sw_tracker_t *t, const char *name, size_t len) {
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    size_t n = 0;
    const char *names[t->ring_seen ? t->ring_seen : 1];
    for (size_t i = 0; i < t->ring_seen; i++)
        if (t->ring_was[i] != t->self_beam) names[n++] = sw_atoms_str(&t->atoms, t->ring_was[i]);
    if (n == t->ring_seen) return sw_tr_owner_of(t, name, len); /* not a member */
    if (n == 0) return t->self_beam;
    /* A ring of the others, built for this question (rare: a move asked
     * by hand), in the same sorted order as sw_tr_ring_rebuild's. */
    sw_ring_t r;
    sw_ring_init(&r, t->ring_flags);
    for (size_t i = 0; i < n; i++) sw_ring_add_node(&r, names[i]);
    const char *node;
    uint32_t b = sw_ring_owner_of(&r, name, len, &node) == 0 ? sw_atoms_intern(&t->atoms, node)
                                                              : SW_ATOM_NONE;
    sw_ring_close(&r);
    return b == UINT32_MAX ? SW_ATOM_NONE : b;
}

int sw_tracker_takes_direct(sw_tracker_t *t, const char *beam, const char *name, size_t nlen) {
    if (t->host) return 0; /* never an owner */
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
    t->members_news = 1;
    /* A host's pids live on its node, which is gone from here with its
     * connection (no agent reports a host down): its entries go now. A
     * later connection brings them back with its sync. */
    if (p->host && p->conn_up && p->beam != UINT32_MAX) sw_tr_purge_node(t, p->beam);
    if (p->conn_up && p->beam != UINT32_MAX) sw_tr_moves_lost(t, p->beam);
    sw_peer_conn_close(p);
    /* Reservations waiting on that home will never be answered. */
    if (p->beam != UINT32_MAX)
        for (sw_entry_t *e = sw_store_resv_oldest(&t->store), *next; e; e = next) {
            next = sw_store_resv_next(&t->store, e);
            if (e->pid.node == p->beam) sw_tr_entry_drop(t, e, 0);
        }
}

void sw_tr_dial_if_ours(sw_tracker_t *t, sw_peer_t *p) {
    if (p->conn_up || !p->agent_up || !t->sync.begun || !t->env || !t->env->connect) return;
    /* A host dials every swarm node (they never dial hosts); otherwise the
     * smaller name dials, or the one that hung up on the other's dial while
     * its BEAM node was down here (once, now that it is up). */
    const char *cn = sw_atoms_str(&t->atoms, p->cnode);
    if ((t->host && !p->host) || strcmp(sw_atoms_str(&t->atoms, t->self_cnode), cn) < 0 ||
        (p->refused && !p->down)) {
        p->refused = 0;
        t->env->connect(t->ud, cn);
    }
}

/* First ops on every connection: {hello, OurBeamNode} (a host's:
 * {hello, Node, host}), to a swarm C node {hosts, [Node]}, then our sync
 * (and to a host, {members, ...} at the next flush). */
static void greet(sw_tracker_t *t, sw_peer_t *p) {
    sw_peer_hello(p, &t->atoms, t->self_beam, t->host);
    /* A swarm C node learns our hosts before our sync: if it is starting,
     * its sync waits for theirs (sw_proto_sync_hosts). */
    if (!t->host) sw_peer_hosts(p, &t->peers, &t->atoms);
    if (t->leaving) sw_tr_send_leaving(t, p);
    sw_tr_handed_greet(t, p);
    sw_tr_send_sync(t, p);
}

void sw_tr_conn_open(sw_tracker_t *t, sw_peer_t *p) {
    t->links_news = 1;
    t->ring_dirty = 1;
    t->members_news = 1;
    p->refused = 0;
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
        p->refused = 1;
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

int sw_tr_peer_hello(sw_tracker_t *t, sw_peer_t *p, const char *beam, int host) {
    if (sw_peer_hello_apply(&t->peers, &t->atoms, t->self_beam, p, beam, host) != 0) return -1;
    t->ring_dirty = 1;
    t->members_news = 1;
    return 0;
}

/* ---- C hosts ----------------------------------------------------------- */

void sw_tracker_set_host(sw_tracker_t *t) {
    t->host = 1;
    t->sync.need_one = 1;
    /* The baseline ring is empty: this node is not a member. */
    sw_tr_ring_rebuild(t);
    t->handoff_due = 0;
}

void sw_tracker_host_begin(sw_tracker_t *t, const erlang_pid *self) {
    t->agent = *self;
    sw_proto_sync_begin(&t->sync, t->now);
    for (uint32_t k = 0; k < t->peers.n; k++) {
        sw_peer_t *p = &t->peers.v[k];
        if (p->conn_up) greet(t, p);
        sw_tr_dial_if_ours(t, p);
    }
    sw_proto_sync_await(&t->peers);
    sw_proto_sync_check(&t->sync, &t->peers);
}

void sw_tracker_redial(sw_tracker_t *t, const char *beam) {
    uint32_t b = sw_atoms_find(&t->atoms, beam);
    sw_peer_t *p = b == SW_ATOM_NONE ? NULL : sw_peers_by_beam(&t->peers, b);
    if (!t->host || !p || p->host || p->down) return;
    sw_tr_dial_if_ours(t, p);
}

/* On a host: node is another C host that a swarm node listed; it is known
 * from now on (redialled if ours) until a list leaves it out while it is
 * not connected. */
static void host_known(sw_tracker_t *t, const char *node) {
    uint32_t b = sw_atoms_intern(&t->atoms, node);
    if (b == SW_ATOM_NONE || b == t->self_beam) return;
    sw_peer_t *other = sw_peers_by_beam(&t->peers, b);
    if (other && !other->host) return; /* a swarm node's BEAM node: not a host */
    sw_peer_t *p = sw_peers_get(&t->peers, b);
    if (!p) return;
    p->beam = b;
    p->host = 1;
    p->agent_up = 1;
    p->down = 0;
    sw_tr_dial_if_ours(t, p);
}

int sw_tr_apply_members(sw_tracker_t *t, sw_peer_t *p, const char *buf, int *index) {
    if (!t->host || p->host || p->beam == UINT32_MAX) return -1;
    int start = *index;
    if (sw_tr_check_pairs(t, buf, index, 0) != 0) return -1;
    /* Applied once the op list is done (sw_tr_members_apply_pending):
     * records added now would move the one the list is read for, and the
     * runtime may call back into the tracker from env->members. */
    t->members_in.index = 0;
    ei_x_append_buf(&t->members_in, buf + start, *index - start);
    t->members_pending = 1;
    return 0;
}

void sw_tr_members_apply_pending(sw_tracker_t *t) {
    if (!t->members_pending) return;
    t->members_pending = 0;
    const char *buf = t->members_in.buff;
    int i = 0, n, tup;
    if (ei_decode_list_header(buf, &i, &n) != 0) return;
    const char *self = sw_atoms_str(&t->atoms, t->self_beam);
    for (int k = 0; k < n; k++) {
        char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, &i, &tup) != 0 || ei_decode_atom(buf, &i, beam) != 0 ||
            ei_decode_atom(buf, &i, cnode) != 0)
            return;
        if (strcmp(beam, self) == 0 || strcmp(cnode, self) == 0) continue;
        int is_host = strcmp(beam, cnode) == 0;
        if (is_host) {
            /* Interned within the guard's budget, as a peer's node names. */
            sw_atoms_guard(&t->atoms, 1);
            host_known(t, beam);
            sw_atoms_guard(&t->atoms, 0);
        }
        if (t->env && t->env->members) t->env->members(t->ud, beam, cnode);
    }
    /* A known host that this list leaves out and that is not connected is
     * no longer dialled (it left, or every swarm node lost it). */
    for (uint32_t k = 0; k < t->peers.n; k++) {
        sw_peer_t *q = &t->peers.v[k];
        if (q->host && q->agent_up && !q->conn_up &&
            !sw_peer_list_names(t->members_in.buff, 0, sw_atoms_str(&t->atoms, q->beam)))
            q->agent_up = 0;
    }
}

/* ---- BEAM nodes up and down -------------------------------------------- */

void sw_tracker_peer_up(sw_tracker_t *t, const char *beam, const char *cnode) {
    /* A node joins: peers may mention nodes we have not met yet for a
     * while (see sw_atoms_guard). */
    sw_atoms_refill(&t->atoms);
    t->members_news = 1;
    if (t->host && strcmp(beam, cnode) == 0) {
        /* A host's runtime reporting another host: known, as by a list. */
        host_known(t, beam);
        return;
    }
    sw_peer_t *p = sw_peers_up(&t->peers, &t->atoms, t->self_beam, beam, cnode);
    /* It may make a connected peer a ring member (its BEAM node known, no
     * longer down): the ring must be rebuilt, as for any such change. A
     * handoff scan waiting for new owners' agents runs now; one held back
     * after a heal (HEAL_HANDOFF_DELAY_MS, while the conflicts settle) is
     * not brought forward: that made the first heal after a start hand
     * thousands of processes to a two-node ring, then again to three. */
    t->ring_dirty = 1;
    if (t->handoff_waits_agents) t->handoff_at = t->now;
    if (!p) return;
    /* A host's initial sync waits for the swarm nodes reported while it
     * is not complete. */
    sw_proto_sync_host_await(&t->sync, &t->peers, p, t->now);
    /* Its C node may have connected before this report, when it was still
     * a stranger: greet it now. */
    if (!p->conn_up && t->env && t->env->connected && t->env->connected(t->ud, cnode))
        sw_tr_conn_open(t, p);
    sw_tr_dial_if_ours(t, p);
}

void sw_tracker_peer_down(sw_tracker_t *t, const char *beam) {
    uint32_t b = sw_atoms_intern(&t->atoms, beam);
    if (b == UINT32_MAX || b == t->self_beam) return;
    t->members_news = 1;
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
    sw_tr_moves_synced(t, b, 1);
    sw_tr_quorum_check(t);
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
        SW_DEBUG("agent_resync", "names=%zu", t->store.names.count);
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
    sw_tr_quorum_check(t);
    return 0;
}
