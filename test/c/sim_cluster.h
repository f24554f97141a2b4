/* sim_cluster.h - a whole cluster of C nodes (registry and groups) inside one
 * process, with the BEAM side modelled, for the seeded simulation suite
 * (test_sim.c).
 *
 * What it is: the model and its fault injection. Node i is a tracker and a
 * group state (its C node, either may be crashed: NULL) beside a model of
 * its BEAM node: the agent (a replica name -> pid fed by the tracker's
 * batches; answers to {start, ...} and {handoff, ...} that it gives later,
 * at a random step; monitors of local processes), swarm_groups (the chunk
 * replica, monitors) and processes that are alive or dead. Between C nodes
 * i and j, each side believes the connection up or down (up[i][j]: i's
 * view), and one FIFO queue per direction holds what was sent and not yet
 * read; cut[i][j] drops what i sends to j. Requests a caller on BEAM node c
 * sends straight to another node's C node (direct-to-owner, dist.c) travel
 * a FIFO of their own. What an agent sends its C node (pid_down, peer
 * up/down, hello, start and handoff answers, gdown) is one more FIFO per
 * node. Each step delivers the head of one non-empty queue chosen by the
 * seeded PRNG, or has an agent answer one pending start or handoff: every
 * queue stays FIFO as TCP does, different queues interleave at random.
 *
 * Requests (register, register MFA, unregister, join, leave) are recorded
 * with their replies; a caller whose C node reports {links} (a connection
 * went or came) sends every request of its still unanswered again as a new
 * copy (register copies carry the retry flag), as swarm:request/6 does.
 *
 * What it is not: the invariants and schedules (test_sim.c), or the terms'
 * encoding and decoding (sim_codec.h). Nothing here
 * asserts through CUnit: protocol breaches seen while decoding (a second
 * reply to one copy, an inconsistent agent stream) go to sc_violation(),
 * which the suite counts. */
#ifndef SW_TEST_SIM_CLUSTER_H
#define SW_TEST_SIM_CLUSTER_H

#include <stdint.h>

#include "group.h"
#include "sim.h"
#include "tracker.h"

#define SC_MAXN 5
#define SC_NAMES 12      /* names {worker, 0..11} */
#define SC_GROUPS 3      /* groups {group, 0..2} */
#define SC_PIDS 128      /* process nums per node */
#define SC_WORKERS 6     /* processes 1..6 exist from the start */
#define SC_FIRST_STARTED 16 /* processes started by MFA: 16.. */
#define SC_CHUNKS 16     /* chunks per group in swarm_groups' replica */
#define SC_MAXREQ 4096
#define SC_MAXCOPIES 12  /* copies of one request (bounded resends) */
#define SC_AGENT_NUM 5000
#define SC_GPROC_NUM 5001
#define SC_HOLDER_NUM 5002
#define SC_CALLER_NUM 10000 /* a copy's caller is <SC_CALLER_NUM + copy index> */

/* A process: node * SC_PIDS + num; -1 for none. */
typedef int sc_pid_t;

typedef enum { RQ_REG, RQ_UNREG, RQ_MFA, RQ_JOIN, RQ_LEAVE } sc_rq_kind_t;

/* One copy of a request. Copies of one logical request share `first`. */
typedef struct {
    uint8_t kind;      /* sc_rq_kind_t */
    uint8_t node;      /* the caller's node */
    uint8_t retry;     /* a copy sent again after {links} */
    uint8_t whereis;   /* RQ_MFA: whereis_or_register */
    uint8_t replies;   /* replies received by this copy */
    uint8_t exempt;    /* may stay unanswered: see test_sim.c (I3) */
    uint8_t done;      /* first copy: some copy got a final reply (not
                          a redirect) */
    int16_t name;      /* name or group */
    sc_pid_t pid;      /* RQ_REG/JOIN/LEAVE: the pid named */
    int first;         /* index of the logical request's first copy */
    int copies;        /* first copy only: copies made */
    long phase;        /* sc->phase when the logical request was made */
    char result[24];   /* "yes", "no", "ok", "redirect", "ok_pid", "already",
                          "error:<atom>", "home_unreachable" */
    sc_pid_t rpid;     /* the pid of an {ok, Pid} / already_registered result */
} sc_req_t;

typedef enum { EV_PID_DOWN, EV_PEER_UP, EV_PEER_DOWN, EV_HELLO, EV_GDOWN, EV_PID_CRASH } sc_ev_kind_t;

typedef struct sc_ev_s {
    struct sc_ev_s *next;
    int kind;
    int arg; /* pid or peer */
} sc_ev_t;

typedef struct {
    sc_ev_t *head, *tail;
    int n;
} sc_evq_t;

/* A start or handoff the agent has yet to answer. */
typedef struct {
    uint64_t id;   /* start: its id */
    int name;      /* handoff: the name */
    sc_pid_t pid;  /* handoff: the process asked */
} sc_pending_t;

#define SC_MAXPEND 64

typedef struct sc_s sc_t;

typedef struct {
    sc_t *sc;
    int id;
    sw_tracker_t *t; /* NULL while the C node is down */
    sw_group_t *g;
    sw_tracker_env_t env;
    int beam_up;          /* the BEAM node runs */
    int leaving;          /* sw_leave_t the agent asked (told every new C node) */
    int known[SC_MAXN];   /* peers the agent reports up */
    /* agent */
    sc_pid_t rep[SC_NAMES];
    uint8_t rep_mfa[SC_NAMES]; /* local MFA entry: the agent keeps its MFA */
    uint8_t shadow[SC_NAMES];
    int shadow_on;
    int synced;
    sc_evq_t aq;
    sc_pending_t starts[SC_MAXPEND];
    int nstarts;
    sc_pending_t handoffs[SC_MAXPEND];
    int nhandoffs;
    /* swarm_groups */
    sc_pid_t chunk[SC_GROUPS][SC_CHUNKS][SW_GROUP_CHUNK];
    int chunk_len[SC_GROUPS][SC_CHUNKS];
    uint8_t gshadow[SC_GROUPS][SC_CHUNKS]; /* chunks received since ghello */
    int gshadow_on;
    uint8_t gmon[SC_PIDS];
    /* processes */
    uint8_t dead[SC_PIDS];
    uint8_t moving[SC_PIDS]; /* answered restart/resume to a handoff */
    int16_t got_state[SC_PIDS]; /* 1 + the pid whose handed-off state this
                                 * process got (end_handoff), 0: none */
    uint8_t unsure[SC_PIDS]; /* its C node crashed while it moved */
    int next_num;
} sc_node_t;

struct sc_s {
    int n;
    sc_node_t nd[SC_MAXN];
    int up[SC_MAXN][SC_MAXN];   /* up[i][j]: i's side of the connection is up */
    int cut[SC_MAXN][SC_MAXN];  /* what i sends to j is lost */
    queue_t q[SC_MAXN][SC_MAXN];  /* C node i -> C node j */
    queue_t dq[SC_MAXN][SC_MAXN]; /* direct requests: BEAM node i -> C node j */
    struct {
        int from, to, connect;
    } pend[64];
    int npend;
    uint64_t rng;
    uint64_t now;
    unsigned quorum;
    sc_req_t req[SC_MAXREQ];
    int nreq;
    long steps;
    long phase;     /* topology epochs: bumped by every fault and heal */
    int connected;  /* the current phase is a connected one (test_sim.c) */
    int cuts;       /* one-way cuts in place */
    int restart_policy, restart_intensity; /* sw_tracker_set_restart */
    int degraded;   /* set by the suite: a fault is in place (requests made
                       now may go unanswered: see test_sim.c, I3) */
    long faults;    /* faults injected */
    long violations;
    long show;      /* violations to print in full (the rest are counted) */
    int trace;
    /* Called by the model at every reply (the suite's I2 check). */
    void (*on_reply)(sc_t *sc, int r);
    /* Called at every del of a local pid's name in a home's replica. */
    void (*on_home_del)(sc_t *sc, int name, sc_pid_t pid);
};

/* ---- the cluster --------------------------------------------------------- */

/* A cluster of n nodes (none started), PRNG seeded. */
sc_t *sc_new(int n, uint64_t seed, unsigned quorum);
void sc_free(sc_t *sc);

/* Counts a violation and prints it (the first sc->show of them). */
void sc_violation(sc_t *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts node i's C node (fresh tracker and group state). */
void sc_cnode_start(sc_t *sc, int i);
/* Queues node i's agent hello (and swarm_groups' ghello). */
void sc_hello(sc_t *sc, int i);
/* The C node of node i crashes: its state is gone, what was sent to it is
 * lost, its peers see the connections close. Its agent keeps its replica. */
void sc_cnode_crash(sc_t *sc, int i);
/* BEAM node i dies (and its C node): every other agent reports it down. */
void sc_beam_death(sc_t *sc, int i);

/* Closes the connection i-j at both ends; queued bytes are lost. */
void sc_link_drop(sc_t *sc, int i, int j);
/* From now on j does not hear i: what i sent and sends is lost, j sees the
 * connection close, i still believes it up. */
void sc_cut_oneway(sc_t *sc, int i, int j);
/* Ends every one-way cut: such a connection is closed at both ends (then
 * redialled). */
void sc_heal_cuts(sc_t *sc);
/* a's agent reports b down (a BEAM-level cut), and b's reports a down if
 * both; sc_beam_heal reports them up again where they were down. */
void sc_beam_cut(sc_t *sc, int a, int b, int both);
void sc_beam_heal(sc_t *sc, int a, int b);

/* ---- requests ------------------------------------------------------------ */

/* Each returns the copy's index. direct >= 0: the caller sends it straight
 * to that node's C node (it takes it for the owner). */
int sc_reg(sc_t *sc, int node, int name, sc_pid_t pid, int direct);
int sc_reg_mfa(sc_t *sc, int node, int name, int whereis, int direct);
int sc_unreg(sc_t *sc, int node, int name);
int sc_join(sc_t *sc, int node, int group, sc_pid_t pid, int leave);
/* Sends a copy of logical request `first` again (retry for a register). */
int sc_resend(sc_t *sc, int first);
/* A process dies; its monitors fire. */
void sc_kill(sc_t *sc, sc_pid_t p);
/* The same, the process crashing (its agent reports a crash: the restart
 * policy may start it again). */
void sc_crash(sc_t *sc, sc_pid_t p);
/* Node i's agent asks its C node to leave the placement (mode: sw_leave_t,
 * SW_LEAVE_NONE to come back); a C node started later is told again. */
void sc_leave(sc_t *sc, int i, int mode);

/* ---- running ------------------------------------------------------------- */

/* Delivers one message or answers one pending start/handoff; 0 if nothing
 * was pending. */
int sc_step(sc_t *sc);
/* Lets dt ms pass on every live C node. */
void sc_tick(sc_t *sc, uint64_t dt);
/* 1 if nothing is in flight or pending anywhere. */
int sc_quiet(const sc_t *sc);

#endif
