/* test_sim.c - CUnit suite: seeded schedules of the whole core (registry
 * and groups) in a simulated cluster with faults (sim_cluster.h), and the
 * invariants each must keep.
 *
 * A schedule (one seed): 2..5 nodes (one may join later), a static quorum
 * in one schedule of four, then epochs. A calm epoch runs requests only
 * (register, register MFA as register or whereis_or_register, unregister,
 * sent through the caller's C node or straight to another C node as
 * direct-to-owner callers do; join, leave; process deaths; a copy of a
 * register sent again with the retry flag) interleaved with deliveries. A
 * faulty epoch mixes in faults: a link dropped with what is in flight on
 * it, a one-way cut (j stops hearing i), BEAM-level cuts (one-way, or
 * random splits into 2-3 sides), a C node crash and restart (fresh state,
 * the agent's hello from its replica), a BEAM node's death, a node
 * joining, time passing. Different links deliver in a random interleaving,
 * each link in FIFO order. Every epoch ends healed: cuts lifted, sides
 * reunited, crashed C nodes restarted, then settled (delivered to
 * quiescence, a second of time at a time, until nothing moves).
 *
 * Invariants, and when each must hold:
 * (I1) at most one committed owner per name: in a connected phase (from
 *      the point where a settled, fully connected cluster agrees on every
 *      name, until the next fault), after every step, at most one node
 *      holds the name for a pid of its own (the pid's home, where a
 *      registration commits). During a fault two sides may each commit it.
 * (I2) one yes per name in a connected phase: a yes to a plain register
 *      (or {ok, Pid} to a register MFA) made in the phase is refused while
 *      an earlier yes of the phase for another pid, or for the same pid,
 *      still stands (its entry not yet deleted at its home). Copies sent
 *      again (retry) may repeat a yes and are not counted. Also: with the
 *      quorum met, no MFA request of the phase is refused with
 *      no_node_available.
 * (I3) every request answered exactly once: no copy ever gets two
 *      replies; after the final heal and settle, every request got a reply
 *      (to one of its copies), except those a fault may have swallowed
 *      (pending when a fault struck, or made while one was in place: a
 *      cut, a side not seeing another, a crashed C node; or waiting at
 *      their node when a peer_down came: see sim_cluster.c; their callers
 *      rely on the call timeout) and those whose caller's node died.
 * (I4) convergence after heal: every live C node holds the same names and
 *      the same group memberships; each agent's replica and each
 *      swarm_groups replica equals its C node's state; no reservation is
 *      left.
 * (I5) no name or membership of a dead process after a heal.
 * (I6) no false no: a name a live worker holds after a heal was not
 *      refused to it (see check_no_false_no).
 * The agent model also reports, at any time, breaches of the protocol it
 * sees (a del of what the replica does not hold, a reply to the wrong
 * caller, a malformed message, ops refused by a peer).
 *
 * Environment: SW_SIM_SCHEDULES=N schedules (default 10000); SW_SIM_SEED=S
 * runs only seed S, SW_SIM_TRACE=1 prints its every step; SW_SIM_COVERAGE=1 prints how often each path was taken. A failing seed
 * prints one line with the command that reproduces it. The suite prints
 * one summary line: simulation: N schedules, M faults injected, V
 * invariant violations. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sim_cluster.h"
#include "sim_codec.h"

/* I2's record of a name in the current connected phase: per pid, the yes
 * replies and the home's deletes seen. */
typedef struct {
    sc_pid_t pid;
    int yes, del;
} hold_t;

#define MAXHOLD 48

typedef struct {
    sc_t *sc;
    uint64_t r;          /* the schedule's own PRNG (ops and faults) */
    int joined[SC_MAXN]; /* the node is part of the cluster */
    int joiner;          /* a node that joins later, or -1 */
    int deaths;
    hold_t hold[SC_NAMES][MAXHOLD];
    int nhold[SC_NAMES];
} run_t;

static run_t *cur;

/* Coverage of the whole run: paths the schedules must reach. */
static struct {
    long yes, ok_pid, already, boom, no_node, redirect, unreachable, handoffs, handoffs_failed,
        conflicts, died, retry_yes, copies, mid_start, phases, i2_yes;
} cov;

static uint64_t rnd(run_t *x, uint64_t n) { return splitmix(&x->r) % n; }

static int live(const sc_t *sc, int i) { return cur->joined[i] && sc->nd[i].beam_up && sc->nd[i].t; }

static hold_t *hold_of(run_t *x, int name, sc_pid_t pid) {
    for (int k = 0; k < x->nhold[name]; k++)
        if (x->hold[name][k].pid == pid) return &x->hold[name][k];
    if (x->nhold[name] == MAXHOLD) return NULL;
    hold_t *h = &x->hold[name][x->nhold[name]++];
    h->pid = pid;
    h->yes = h->del = 0;
    return h;
}

static void on_home_del(sc_t *sc, int name, sc_pid_t pid) {
    if (!sc->connected) return;
    hold_t *h = hold_of(cur, name, pid);
    if (h) h->del++;
}

/* (I2) at each reply. */
static void on_reply(sc_t *sc, int r) {
    const sc_req_t *q = &sc->req[r];
    if (strcmp(q->result, "yes") == 0) cov.yes++, cov.retry_yes += q->retry;
    if (strcmp(q->result, "ok_pid") == 0) cov.ok_pid++;
    if (strcmp(q->result, "already") == 0) cov.already++;
    if (strcmp(q->result, "error:boom") == 0) cov.boom++;
    if (strcmp(q->result, "error:no_node_available") == 0) cov.no_node++;
    if (strcmp(q->result, "home_unreachable") == 0) cov.unreachable++;
    if (!sc->connected || q->phase != sc->phase) return;
    if (q->kind == RQ_MFA && strncmp(q->result, "error:no_node", 13) == 0) {
        int n = 0;
        for (int i = 0; i < sc->n; i++) n += live(sc, i);
        if (sc->quorum && (unsigned)n >= sc->quorum)
            sc_violation(sc, "request #%d refused for quorum with %d of %u nodes connected", r, n, sc->quorum);
        return;
    }
    sc_pid_t p = -1;
    if (q->kind == RQ_REG && !q->retry && strcmp(q->result, "yes") == 0) p = q->pid;
    if (q->kind == RQ_MFA && !q->whereis && strcmp(q->result, "ok_pid") == 0) p = q->rpid;
    if (p < 0) return;
    hold_t *h = hold_of(cur, q->name, p);
    if (!h) return;
    cov.i2_yes++;
    if (++h->yes <= h->del) return; /* that registration is already gone */
    for (int k = 0; k < cur->nhold[q->name]; k++) {
        const hold_t *o = &cur->hold[q->name][k];
        if (o->yes - (o == h) > o->del)
            sc_violation(sc, "name %d: yes for pid %d (request #%d) while pid %d holds it", q->name, p, r,
                         o->pid);
    }
}

/* (I1) after every step of a connected phase. */
static void check_step(sc_t *sc) {
    if (!sc->connected) return;
    for (int k = 0; k < SC_NAMES; k++) {
        int homes = 0;
        for (int i = 0; i < sc->n; i++) {
            erlang_pid ep;
            size_t nl;
            const char *nb = sc_name_bytes(k, &nl);
            if (!live(sc, i) || !sw_tracker_lookup(sc->nd[i].t, nb, nl, &ep)) continue;
            sc_pid_t p = sc_pid_of(&ep);
            /* (A process handing off, or one that exited and is being
             * started again, keeps its name until the new one commits.) */
            homes += p / SC_PIDS == i && !sc->nd[i].moving[p % SC_PIDS] && !sc->nd[i].dead[p % SC_PIDS];
        }
        if (homes > 1) sc_violation(sc, "name %d committed at %d homes at once", k, homes);
    }
}

static void step(sc_t *sc) {
    if (sc_step(sc)) check_step(sc);
}

static int fully_connected(const sc_t *sc) {
    for (int i = 0; i < sc->n; i++)
        for (int j = 0; j < sc->n; j++)
            if (i != j && live(sc, i) && live(sc, j) && !(sc->up[i][j] && sc->up[j][i])) return 0;
    return 1;
}

/* 1 if some node's tracker waits to retry a handoff. */
static int retry_pending(const sc_t *sc) {
    for (int i = 0; i < sc->n; i++)
        if (live(sc, i) && sw_tracker_retry_pending(sc->nd[i].t)) return 1;
    return 0;
}

/* Delivers to quiescence and lets time pass, a second at a time, until
 * three rounds in a row move nothing and no handoff waits to be retried
 * (handoff scans, their retries and redials run on ticks). */
static void settle(sc_t *sc) {
    int calm = 0;
    for (int k = 0; k < 80 && calm < 3; k++) {
        long moved = 0;
        while (sc_step(sc)) {
            check_step(sc);
            if (++moved > 200000) {
                sc_violation(sc, "no quiescence");
                return;
            }
        }
        calm = moved == 0 && fully_connected(sc) && !retry_pending(sc) ? calm + 1 : 0;
        sc_tick(sc, 1000);
    }
    if (calm < 3) sc_violation(sc, "the cluster does not settle");
}

/* (I6) after a heal: a name held by a live worker (one of the processes
 * that exist from the start, which only register_name/2 names) was said
 * yes to it: a register of that (name, pid) whose caller saw `no' and no
 * other one that saw yes or got no answer at all would be a false no (the
 * caller believes the name is not its, the registry says it is). The
 * caller sees what swarm:request/6 takes: a yes of any copy, else the
 * reply of its latest copy. */
static void check_no_false_no(sc_t *sc, int k, sc_pid_t want) {
    if (want < 0 || want % SC_PIDS >= SC_FIRST_STARTED || sc_proc_dead(sc, want)) return;
    int saw_no = 0, other = 0;
    for (int r = 0; r < sc->nreq; r++) {
        const sc_req_t *q = &sc->req[r];
        if (q->first != r || q->kind != RQ_REG || q->name != k || q->pid != want) continue;
        int yes = 0, latest = r;
        for (int c = r; c < sc->nreq; c++) {
            if (sc->req[c].first != r) continue;
            latest = c;
            yes |= sc->req[c].replies && strcmp(sc->req[c].result, "yes") == 0;
        }
        const sc_req_t *l = &sc->req[latest];
        if (!yes && l->replies && strcmp(l->result, "no") == 0) saw_no = r + 1;
        else other = 1;
    }
    if (saw_no && !other)
        sc_violation(sc, "name %d held by pid %d, whose register (request #%d) saw no", k, want, saw_no - 1);
}

/* (I4, I5) after a heal. */
static void check_converged(sc_t *sc) {
    int ref = -1;
    for (int i = 0; i < sc->n && ref < 0; i++)
        if (live(sc, i)) ref = i;
    if (ref < 0) return;
    if (!sc_quiet(sc)) sc_violation(sc, "not quiet after settle");
    for (int k = 0; k < SC_NAMES; k++) {
        size_t nl;
        const char *nb = sc_name_bytes(k, &nl);
        erlang_pid ep;
        sc_pid_t want = sw_tracker_lookup(sc->nd[ref].t, nb, nl, &ep) ? sc_pid_of(&ep) : -1;
        if (want >= 0 && sc_proc_dead(sc, want)) sc_violation(sc, "name %d held by dead pid %d", k, want);
        check_no_false_no(sc, k, want);
        for (int i = 0; i < sc->n; i++) {
            if (!live(sc, i)) continue;
            sc_pid_t got = sw_tracker_lookup(sc->nd[i].t, nb, nl, &ep) ? sc_pid_of(&ep) : -1;
            if (got != want) sc_violation(sc, "name %d: node %d has %d, node %d has %d", k, ref, want, i, got);
            if (sc->nd[i].rep[k] != got)
                sc_violation(sc, "name %d: replica %d has %d, its C node %d", k, i, sc->nd[i].rep[k], got);
        }
    }
    for (int i = 0; i < sc->n; i++) {
        if (!live(sc, i)) continue;
        sw_tracker_stats_t st;
        sw_tracker_stats(sc->nd[i].t, &st);
        if (st.reserved) sc_violation(sc, "node %d keeps %llu reservations", i, (unsigned long long)st.reserved);
    }
    for (int g = 0; g < SC_GROUPS; g++) {
        size_t gl;
        const char *gb = sc_group_bytes(g, &gl);
        for (int pn = 0; pn < sc->n; pn++)
            for (int num = 1; num < sc->nd[pn].next_num; num++) {
                sc_pid_t p = pn * SC_PIDS + num;
                erlang_pid ep = sc_epid(p);
                int want = sw_group_is_member(sc->nd[ref].g, gb, gl, &ep);
                if (want && sc_proc_dead(sc, p)) sc_violation(sc, "group %d keeps dead pid %d", g, p);
                for (int i = 0; i < sc->n; i++)
                    if (live(sc, i) && sw_group_is_member(sc->nd[i].g, gb, gl, &ep) != want)
                        sc_violation(sc, "group %d, pid %d: node %d says %d, node %d not", g, p, ref, want, i);
            }
        for (int i = 0; i < sc->n; i++) {
            if (!live(sc, i)) continue;
            const sc_node_t *nd = &sc->nd[i];
            size_t cnt = 0;
            for (int k = 0; k < SC_CHUNKS; k++)
                for (int m = 0; m < nd->chunk_len[g][k]; m++) {
                    erlang_pid ep = sc_epid(nd->chunk[g][k][m]);
                    cnt++;
                    if (!sw_group_is_member(nd->g, gb, gl, &ep))
                        sc_violation(sc, "group %d: replica %d shows %d, not a member", g, i, nd->chunk[g][k][m]);
                }
            if (cnt != sw_group_count(nd->g, gb, gl))
                sc_violation(sc, "group %d: replica %d shows %zu members of %zu", g, i, cnt,
                             sw_group_count(nd->g, gb, gl));
        }
    }
}

/* (I3) at the end. */
static void check_replies(sc_t *sc) {
    for (int r = 0; r < sc->nreq; r++) {
        const sc_req_t *q = &sc->req[r];
        if (q->first != r || q->done || !sc->nd[q->node].beam_up) continue;
        int exempt = 0;
        for (int c = r; c < sc->nreq; c++)
            if (sc->req[c].first == r) exempt |= sc->req[c].exempt;
        if (!exempt) sc_violation(sc, "request #%d (kind %d, name %d, node %d) never answered", r, q->kind, q->name, q->node);
    }
}

/* Begins a connected phase (called when settled and converged). */
static void connected_phase(run_t *x) {
    sc_t *sc = x->sc;
    sc->phase++;
    sc->connected = fully_connected(sc) && sc_quiet(sc) && !sc->cuts;
    cov.phases += sc->connected;
    memset(x->nhold, 0, sizeof x->nhold);
    for (int i = 0; i < sc->n; i++) memset(sc->nd[i].moving, 0, sizeof sc->nd[i].moving);
}

static void join_node(run_t *x, int j) {
    sc_t *sc = x->sc;
    x->joined[j] = 1;
    sc->phase++;
    sc->connected = 0;
    sc_cnode_start(sc, j);
    for (int i = 0; i < sc->n; i++) {
        if (i == j || !x->joined[i] || !sc->nd[i].beam_up) continue;
        sc->nd[j].known[i] = 1; /* in its hello */
        sc_beam_heal(sc, i, j);    /* peer_up at i */
    }
    sc_hello(sc, j);
}

static void heal(run_t *x) {
    sc_t *sc = x->sc;
    sc_heal_cuts(sc);
    for (int a = 0; a < sc->n; a++)
        for (int b = a + 1; b < sc->n; b++)
            if (x->joined[a] && x->joined[b]) sc_beam_heal(sc, a, b);
    for (int i = 0; i < sc->n; i++)
        if (x->joined[i] && sc->nd[i].beam_up && !sc->nd[i].t) {
            sc_cnode_start(sc, i);
            sc_hello(sc, i);
        }
    settle(sc);
    check_converged(sc);
}

static int pick_live(run_t *x) {
    int c[SC_MAXN], n = 0;
    for (int i = 0; i < x->sc->n; i++)
        if (x->joined[i] && x->sc->nd[i].beam_up) c[n++] = i;
    return n ? c[rnd(x, (uint64_t)n)] : -1;
}

/* A process of a live node: a worker, or one started by an MFA. */
static sc_pid_t pick_pid(run_t *x) {
    int i = pick_live(x);
    const sc_node_t *nd = &x->sc->nd[i];
    if (nd->next_num > SC_FIRST_STARTED && rnd(x, 4) == 0)
        return i * SC_PIDS + SC_FIRST_STARTED + (int)rnd(x, (uint64_t)(nd->next_num - SC_FIRST_STARTED));
    return i * SC_PIDS + 1 + (int)rnd(x, SC_WORKERS);
}

/* 1 if a fault is in place: a cut, a side that does not see another, a
 * crashed C node. */
static int degraded(const run_t *x) {
    const sc_t *sc = x->sc;
    for (int i = 0; i < sc->n; i++) {
        if (!x->joined[i] || !sc->nd[i].beam_up) continue;
        if (!sc->nd[i].t) return 1;
        for (int j = 0; j < sc->n; j++)
            if (j != i && x->joined[j] && sc->nd[j].beam_up && (!sc->nd[i].known[j] || !sc->up[i][j]))
                return 1;
    }
    return sc->cuts > 0;
}

static void request(run_t *x) {
    sc_t *sc = x->sc;
    sc->degraded = degraded(x);
    int node = pick_live(x);
    int other = pick_live(x);
    uint64_t w = rnd(x, 100);
    int name = (int)rnd(x, SC_NAMES);
    if (w < 30) {
        sc_reg(sc, node, name, pick_pid(x), rnd(x, 4) == 0 ? other : -1);
    } else if (w < 48) {
        sc_reg_mfa(sc, node, name, (int)rnd(x, 3) == 0, rnd(x, 4) == 0 ? other : -1);
    } else if (w < 63) {
        sc_unreg(sc, node, name);
    } else if (w < 85) {
        sc_join(sc, node, (int)rnd(x, SC_GROUPS), pick_pid(x), rnd(x, 3) == 0);
    } else if (w < 90) {
        sc_kill(sc, pick_pid(x));
    } else if (w < 93) {
        sc_crash(sc, pick_pid(x));
    } else if (sc->nreq) {
        /* A duplicate: a register sent again with the retry flag. */
        int r = sc->req[rnd(x, (uint64_t)sc->nreq)].first;
        if (sc->req[r].kind == RQ_REG && sc->nd[sc->req[r].node].beam_up) {
            sc_resend(sc, r);
            cov.copies++;
        }
    }
}

static void inject_fault(run_t *x) {
    sc_t *sc = x->sc;
    int a = pick_live(x), b = pick_live(x);
    uint64_t w = rnd(x, 100);
    if (w < 20) {
        if (a != b) sc_link_drop(sc, a, b);
    } else if (w < 32) {
        if (a != b) sc_cut_oneway(sc, a, b);
    } else if (w < 44) {
        if (a != b) sc_beam_cut(sc, a, b, 0);
    } else if (w < 56) {
        /* A random split into 2 or 3 sides. */
        int side[SC_MAXN], k = 2 + (int)rnd(x, 2);
        for (int i = 0; i < sc->n; i++) side[i] = (int)rnd(x, (uint64_t)k);
        for (int i = 0; i < sc->n; i++)
            for (int j = i + 1; j < sc->n; j++)
                if (side[i] != side[j] && x->joined[i] && x->joined[j]) sc_beam_cut(sc, i, j, 1);
    } else if (w < 66) {
        /* Preferably a C node whose agent is being asked about a handoff
         * or runs a start (its answer will find a new C node). */
        for (int i = 0; i < sc->n; i++)
            if (sc->nd[i].t && (sc->nd[i].nhandoffs || sc->nd[i].nstarts)) a = i;
        cov.mid_start += sc->nd[a].t && (sc->nd[a].nhandoffs || sc->nd[a].nstarts);
        sc_cnode_crash(sc, a);
    } else if (w < 76) {
        for (int i = 0; i < sc->n; i++)
            if (x->joined[i] && sc->nd[i].beam_up && !sc->nd[i].t) {
                sc_cnode_start(sc, i);
                sc_hello(sc, i);
                break;
            }
    } else if (w < 82) {
        int alive = 0;
        for (int i = 0; i < sc->n; i++) alive += x->joined[i] && sc->nd[i].beam_up;
        if (alive > 2 && x->deaths == 0) {
            x->deaths++;
            sc_beam_death(sc, a);
        }
    } else if (w < 88) {
        if (x->joiner >= 0) {
            join_node(x, x->joiner);
            x->joiner = -1;
        }
    } else if (w < 91) {
        if (a != b) sc_beam_heal(sc, a, b);
    } else if (w < 95) {
        /* A node leaves the placement (handoff or stop) or comes back: the
         * ring changes, as when a node joins. */
        int mode = (int)rnd(x, 3);
        int out = 0;
        for (int i = 0; i < sc->n; i++) out += sc->nd[i].leaving != 0;
        if (mode == 0 || out == 0) sc_leave(sc, a, mode);
    } else {
        sc_tick(sc, 300 + rnd(x, 1500));
    }
}

static void epoch(run_t *x, int faulty, int ops) {
    sc_t *sc = x->sc;
    if (!faulty) connected_phase(x);
    while (ops > 0) {
        if (rnd(x, 3) != 0 && !sc_quiet(sc)) {
            step(sc);
            continue;
        }
        ops--;
        if (faulty && rnd(x, 5) == 0) inject_fault(x);
        else request(x);
    }
    heal(x);
}

static void sum_stats(sc_t *sc) {
    for (int i = 0; i < sc->n; i++) {
        if (!sc->nd[i].t) continue;
        sw_tracker_stats_t st;
        sw_tracker_stats(sc->nd[i].t, &st);
        cov.handoffs += (long)st.handoffs;
        cov.handoffs_failed += (long)st.handoffs_failed;
        cov.conflicts += (long)st.conflicts;
        cov.died += (long)st.told_to_die;
    }
}

/* One schedule; returns its violations. */
static long schedule(uint64_t seed, int trace, long show, long *faults) {
    run_t *x = calloc(1, sizeof *x);
    if (!x) abort();
    cur = x;
    x->r = seed * 0x9e3779b97f4a7c15ULL ^ 0x51u;
    int n = 2 + (int)rnd(x, 4);
    unsigned quorum = rnd(x, 4) == 0 ? (unsigned)(n / 2 + 1) : 0;
    sc_t *sc = sc_new(n, seed, quorum);
    sc->restart_policy = (int)rnd(x, 3);
    sc->restart_intensity = 1 + (int)rnd(x, 3);
    x->sc = sc;
    sc->trace = trace;
    sc->show = show;
    sc->on_reply = on_reply;
    sc->on_home_del = on_home_del;
    x->joiner = n >= 3 && rnd(x, 3) == 0 ? n - 1 : -1;
    for (int i = 0; i < n; i++) x->joined[i] = i != x->joiner;
    for (int i = 0; i < n; i++) {
        if (!x->joined[i]) continue;
        for (int k = 0; k < n; k++) sc->nd[i].known[k] = x->joined[k] && k != i;
        sc_cnode_start(sc, i);
        sc_hello(sc, i);
    }
    settle(sc);
    check_converged(sc);
    int epochs = 3 + (int)rnd(x, 2);
    for (int e = 0; e < epochs; e++) epoch(x, e % 2 == 1, 10 + (int)rnd(x, 20));
    if (x->joiner >= 0) {
        join_node(x, x->joiner);
        heal(x);
    }
    check_replies(sc);
    for (int r = 0; r < sc->nreq; r++) cov.redirect += strcmp(sc->req[r].result, "redirect") == 0;
    sum_stats(sc);
    long v = sc->violations;
    *faults += sc->faults;
    sc_free(sc);
    free(x);
    cur = NULL;
    return v;
}

static void test_schedules(void) {
    const char *only = getenv("SW_SIM_SEED"), *many = getenv("SW_SIM_SCHEDULES");
    uint64_t first = 1, count = many ? strtoull(many, NULL, 10) : 10000;
    if (only) {
        first = strtoull(only, NULL, 10);
        count = 1;
    }
    char exe[512];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[el > 0 ? el : 0] = '\0';
    long faults = 0, violations = 0, failed = 0;
    memset(&cov, 0, sizeof cov);
    /* The first violations are printed in full, then one line per failing
     * seed (the first few), then the count. */
    for (uint64_t seed = first; seed < first + count; seed++) {
        long show = only ? 20 : violations < 3 ? 3 - violations : 0;
        long v = schedule(seed, only && getenv("SW_SIM_TRACE"), show, &faults);
        if (v && failed++ < 5)
            fprintf(stderr, "\nsimulation: seed %llu broke %ld invariants; reproduce: SW_SIM_SEED=%llu SW_SIM_TRACE=1 %s sim\n",
                    (unsigned long long)seed, v,
                    (unsigned long long)seed, exe);
        violations += v;
    }
    if (failed > 5) fprintf(stderr, "\nsimulation: %ld more seeds failed\n", failed - 5);
    printf("\nsimulation: %llu schedules, %ld faults injected, %ld invariant violations\n",
           (unsigned long long)count, faults, violations);
    if (getenv("SW_SIM_COVERAGE"))
        printf("coverage: yes %ld (retry %ld), {ok,Pid} %ld, already_registered %ld, start errors %ld, "
               "no_node_available %ld, redirects %ld, home_unreachable %ld, handoffs %ld (failed %ld), "
               "conflicts %ld, told to die %ld, duplicates %ld, crashes mid-start/handoff %ld, "
               "connected phases %ld, yes checked by I2 %ld\n",
               cov.yes, cov.retry_yes, cov.ok_pid, cov.already, cov.boom, cov.no_node, cov.redirect,
               cov.unreachable, cov.handoffs, cov.handoffs_failed, cov.conflicts, cov.died, cov.copies, cov.mid_start,
               cov.phases, cov.i2_yes);
    CU_ASSERT_EQUAL(violations, 0);
    /* A run of the default size reaches every path it is meant to. */
    if (count >= 1000) {
        CU_ASSERT(cov.yes > 0 && cov.retry_yes > 0 && cov.ok_pid > 0 && cov.already > 0);
        CU_ASSERT(cov.boom > 0 && cov.redirect > 0 && cov.handoffs > 0 && cov.conflicts > 0);
        CU_ASSERT(cov.no_node > 0 && cov.died > 0 && cov.copies > 0 && cov.mid_start > 0);
        CU_ASSERT(cov.phases >= (long)count && cov.i2_yes > 0);
    }
}

static int suite_init(void) {
    sw_log_set_level(SW_LOG_ERROR);
    return 0;
}

static int suite_cleanup(void) {
    sc_names_free();
    sw_log_set_level(SW_LOG_INFO);
    return 0;
}

int test_sim_suite(void) {
    CU_pSuite s = CU_add_suite("sim", suite_init, suite_cleanup);
    if (!s) return -1;
    if (!CU_add_test(s, "seeded schedules with faults: invariants I1-I5", test_schedules)) return -1;
    return 0;
}
