/* host_int.h - what the files of a C host share (private to libswarm).
 *
 * What it is: the host's and the worker's structures and the internal
 * entry points that host.c (life cycle, connections, the loop's handles),
 * host_worker.c (the worker table and the distribution controls for
 * worker pids), host_call.c (replies, sends, calls, work off the loop) and
 * host_reg.c (names and groups) call in one another.
 * What it is not: an API. Programs include swarm.h only.
 *
 * One thread: everything here runs on the host's loop. Callbacks into the
 * program run from the loop's check handle (local deliveries, completions)
 * or from the node's frame callback (network deliveries), never from
 * inside an API call that asked for them. */
#ifndef SW_HOST_INT_H
#define SW_HOST_INT_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "dist.h"
#include "dist_send.h"
#include "group.h"
#include "htab.h"
#include "node.h"
#include "swarm.h"
#include "tracker.h"

/* Period of the host's housekeeping timer (tracker and group ticks,
 * redials of lost BEAM nodes every other tick, registration timeouts). */
#define SW_HOST_TICK_MS 500u
/* Pids are {Node, Num, Serial, Creation} with Num on 15 bits and Serial on
 * 13 (what every OTP release accepts from a peer): a worker's 28-bit
 * number w->id is split into both. Number 0 is the host's own process. */
#define SW_HOST_PID_BITS 28u

/* What a worker holds beyond its small record: monitors on it and links,
 * each an encoded pid (and for a monitor its Ref), allocated on first use. */
typedef struct {
    uint8_t kind;  /* SW_REL_MON or SW_REL_LINK */
    uint16_t plen; /* encoded pid bytes (no 131) */
    uint16_t rlen; /* encoded Ref bytes (monitors), else 0 */
    char bytes[];  /* pid then Ref */
} sw_rel_t;

enum { SW_REL_MON = 1, SW_REL_LINK = 2 };

typedef struct {
    sw_rel_t **rels;
    uint32_t n, cap;
    uint32_t calls;  /* this worker's swarm_call()s in flight */
} sw_wside_t;

enum {
    SW_W_TRAP = 1,     /* trapping exits */
    SW_W_STOPPING = 2, /* stopped: out of the table, freed at the next check */
};

struct swarm_worker {
    swarm_host_t *h;
    const swarm_worker_cbs_t *cbs;
    void *data;
    sw_wside_t *side;    /* NULL until a monitor, link or call needs it */
    swarm_worker_t *next_free; /* on the deferred free list once stopping */
    uint32_t id;         /* 1 .. 2^28-1: the pid's Num and Serial */
    uint8_t flags;
};

/* A message to a pid of this host: delivered from the check handle. */
typedef struct sw_lmsg_s {
    struct sw_lmsg_s *next;
    size_t len;
    char buf[]; /* a frame body: 131 Ctrl [131 Msg] */
} sw_lmsg_t;

/* A join or leave made before the host was published (its worker's pid
 * has no creation yet): replayed once it is (host_reg.c). */
typedef struct sw_hgop_s {
    struct sw_hgop_s *next;
    uint32_t id;   /* the worker's id */
    uint8_t join;
    size_t len;
    char group[]; /* canonical, with 131 */
} sw_hgop_t;

typedef struct sw_hcall_s sw_hcall_t;
typedef struct sw_hreg_s sw_hreg_t;
typedef struct sw_hjob_s sw_hjob_t;

/* A node this host knows: a BEAM node (from the config,
 * swarm_host_connect, or a C node's member list: dialled while not
 * connected), or a node that connected (a C node, another host). */
typedef struct {
    char name[SW_MAXNODELEN + 1];
    uint8_t dial;   /* a BEAM node: kept dialled, its connection is its
                       peer_up; else a C node or host that connected */
    uint8_t up;     /* connection up */
    uint8_t seen;   /* was up once (for stats.reconnects) */
} sw_hbeam_t;

struct swarm_from {
    swarm_host_t *h;
    swarm_from_t *prev, *next; /* the host's live handles */
    erlang_pid caller;
    size_t tlen;
    char tag[]; /* the call's Tag, encoded (no 131), verbatim */
};

struct swarm_host {
    uv_loop_t *loop;
    int own_loop;
    char name[SW_MAXNODELEN + 1];
    char alive[SW_MAXNODELEN + 1];
    char hostpart[SW_MAXNODELEN + 1];
    char cookie[256];
    unsigned tick_ms, register_timeout_ms;
    int utf8_atoms;
    void (*on_ready)(swarm_host_t *h, void *ud);
    void *ud;

    sw_hbeam_t *beams;
    size_t nbeams, capbeams;

    sw_node_t *node;
    sw_tracker_t *tracker;
    sw_group_t *groups;
    sw_tracker_env_t env;
    sw_dist_out_t out; /* out.self: the host's own process (id 0) */
    sw_dist_t dist;
    int dist_open;

    uv_check_t check; /* local deliveries, completions, frees, flushes */
    uv_idle_t idle;   /* keeps the poll from blocking while work is queued */
    uv_timer_t tick;
    int handles;      /* loop handles of the host not yet closed */

    /* Workers: by id in an open-addressing table of pointers. */
    sw_htab_t workers;
    uint32_t next_id;
    swarm_worker_t *free_list;

    sw_lmsg_t *lhead, *ltail; /* local deliveries */
    sw_htab_t calls_tab;      /* swarm_call()s in flight, by Ref number */
    sw_hcall_t *calls_done, *calls_tail; /* finished, their done to run */
    sw_hreg_t *regs;          /* registrations in flight or finished */
    sw_hreg_t **regs_tail;    /* where the next one is appended */
    sw_htab_t regs_tab;       /* the same, by request id (their replies) */
    sw_hjob_t *jobs;          /* swarm_work and swarm_after in flight */
    swarm_from_t *froms;      /* live from handles */
    sw_hgop_t *early, *early_tail; /* group ops before publication */
    uint64_t next_ref;        /* refs this host mints */

    int started, published, ready, stopping, closed, running, finished;
    int run_err;
    uint64_t stop_deadline; /* loop time the stop stops waiting for writes */
    int synced_seen; /* the tracker said synced */
    unsigned ticks;
    void (*done)(swarm_host_t *h, void *ud);
    void *done_ud;

    ei_x_buff ctrl, msg; /* scratch for encoding */
    swarm_host_stats_t st;
    uint64_t frames;  /* frames received (swarm_host_run's polling watches it;
                         kept here: the node may be freed while the loop runs) */
    uint64_t spin_ns; /* swarm_host_run polls this long after frames before it
                         sleeps (the config's spin_us) */
};

/* ---- host.c -------------------------------------------------------------- */

/* Sends a frame body (ctrl with 131, msg with 131 or NULL) to the node of
 * `node`: queued for the check handle when it is this host, else onto the
 * connection. Returns SWARM_OK, SWARM_ENOTCONN (no connection: the node is
 * dialled), or SWARM_ENOMEM. */
int sw__host_route(swarm_host_t *h, const char *node, const char *ctrl, size_t clen,
                   const char *msg, size_t mlen);
/* One round of the check handle's work: local deliveries, the done
 * callbacks of finished calls, outboxes, readiness, registrations, frees.
 * (The check handle calls it; tests call it to step a host.) */
void sw__host_poll(swarm_host_t *h);
/* A handle or request of the host ended (closed, completed): the host
 * is freed once none is left after its stop. */
void sw__host_unref(swarm_host_t *h);
/* The cookie of cfg (cfg->cookie, the environment, the file) into out
 * (cap bytes): SWARM_OK, SWARM_EINVAL (too long) or SWARM_ENOCOOKIE. */
int sw__host_cookie(const swarm_host_config_t *cfg, char *out, size_t cap);
/* Makes sure the check handle runs soon (an idle handle keeps the loop's
 * poll from blocking). */
void sw__host_wake(swarm_host_t *h);
/* Starts a control term {Op, ...} of arity elements (131 first) in
 * h->ctrl, emptied; the caller appends the rest. */
ei_x_buff *sw__host_ctrl(swarm_host_t *h, int arity, long op);
/* The host's own pid (number 0) into *out. */
void sw__host_self(const swarm_host_t *h, erlang_pid *out);
/* A fresh reference of this node, encoded (no 131) into x. */
void sw__host_ref(swarm_host_t *h, ei_x_buff *x, uint64_t *id);

/* ---- host_worker.c ------------------------------------------------------- */

/* Handles one frame body whose destination may be a worker (from is the
 * sending node's name). The body is proved well-formed first
 * (sw_dist_frame_check; a bad one is dropped and counted). Returns 1 if it
 * was a worker's (handled or counted), 0 if it is for the rest of the node:
 * pass it to sw_dist_handle_checked, which does not check it again. */
int sw__host_worker_frame(swarm_host_t *h, const char *from, const char *buf, size_t len);
/* The worker with this pid, or NULL (another node, dead, stopping). */
swarm_worker_t *sw__host_worker_find(swarm_host_t *h, const erlang_pid *pid);
/* Encodes w's pid (no 131) into x. */
void sw__worker_enc_pid(const swarm_worker_t *w, ei_x_buff *x);
/* Fills *out with w's pid. */
void sw__worker_pid(const swarm_worker_t *w, erlang_pid *out);
/* The connection to node is down: its processes' monitors on workers are
 * dropped, their links end with the exit signal `noconnection`. */
void sw__host_workers_node_down(swarm_host_t *h, const char *node);
/* Stops every worker with `shutdown` (host stop). */
void sw__host_workers_stop(swarm_host_t *h);
/* Frees the workers stopped since the last call. */
void sw__host_workers_reap(swarm_host_t *h);
/* Frees the table (every worker has stopped and been reaped). */
void sw__host_workers_close(swarm_host_t *h);
/* A worker's side table, allocated on first use; NULL when out of memory. */
sw_wside_t *sw__worker_side(swarm_worker_t *w);
/* The reason term of a stop, with 131, for the named atom. */
void sw__enc_atom_ext(ei_x_buff *x, const char *atom);

/* ---- host_call.c --------------------------------------------------------- */

/* A message {Ref, Reply} or a MONITOR_P_EXIT for a call of w's: 1 if it
 * finished one of w's calls (then it is consumed), else 0. msg is the
 * message with 131 (NULL for a monitor exit); ref/rlen the Ref's bytes,
 * reason/len the exit reason (no 131) for a monitor exit. */
int sw__call_reply(swarm_worker_t *w, const char *msg, size_t len);
int sw__call_down(swarm_worker_t *w, const char *ref, size_t rlen, const char *reason,
                  size_t len);
/* Ends w's calls with SWARM_ESTOPPED (w stopping). */
void sw__calls_worker_stopped(swarm_worker_t *w);
/* Ends the calls to processes of node with SWARM_ENOTCONN. */
void sw__calls_node_down(swarm_host_t *h, const char *node);
/* Runs the done callbacks of finished calls; returns how many ran. */
size_t sw__calls_run_done(swarm_host_t *h);
/* Host stop: every call ends with SWARM_ESTOPPED, every timer and work item
 * is cancelled, from handles are freed. */
void sw__calls_stop(swarm_host_t *h);
/* A from handle for a '$gen_call' to w (caller pid, tag bytes no 131). */
swarm_from_t *sw__from_new(swarm_host_t *h, const erlang_pid *caller, const char *tag,
                           size_t tlen);

/* ---- host_reg.c ---------------------------------------------------------- */

/* The tracker's output for the agent (in-process here): batch, synced,
 * links, ring. buf with 131. */
void sw__reg_agent_msg(swarm_host_t *h, const char *buf, size_t len);
/* The host became ready, or a tick passed: sends queued requests, times
 * out old ones, runs the done callbacks of finished ones. */
void sw__reg_poll(swarm_host_t *h);
/* w stops: its registrations end with SWARM_ESTOPPED. */
void sw__reg_worker_stopped(swarm_host_t *h, swarm_worker_t *w);
/* Host stop: every registration ends with SWARM_ESTOPPED (done run now). */
void sw__reg_stop(swarm_host_t *h);
/* The host is published: the joins and leaves made before are carried out
 * (those of workers that stopped meanwhile are dropped). */
void sw__reg_published(swarm_host_t *h);
/* Frees the group ops still waiting for publication. */
void sw__reg_free(swarm_host_t *h);
/* Makes name (any valid encoding, with 131) canonical into x (emptied
 * first; with 131): canon.h with the config's utf8_atoms. SWARM_OK,
 * SWARM_EBADTERM (not one valid term, or a map or a fun in it),
 * SWARM_EINVAL (NULL) or SWARM_ENOMEM. */
int sw__canon(const swarm_host_t *h, const char *name, size_t len, ei_x_buff *x);

#endif
