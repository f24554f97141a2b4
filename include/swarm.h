/* swarm.h - C workers in a BEAM cluster: the public API of libswarm.
 *
 * The only header a C program includes (it brings <ei.h> and <uv.h>, whose
 * types it uses). Link with priv/libswarm.a (or -lswarm from priv/) and
 * -lei -luv -lssl -lcrypto -lpthread -lm.
 *
 * What it is. A C program creates a HOST: a hidden Erlang node of its own
 * (registered in epmd, reachable by every BEAM node of the cluster) that
 * joins the swarm as a member without a BEAM node. It connects to the BEAM
 * nodes it is given and to their swarm C nodes (`swarm_<beam>`), receives
 * the whole registry and the group memberships (so names resolve locally,
 * as whereis_name/1 does on a BEAM node), and keeps that up across BEAM
 * node restarts and its own reconnects. It is not a ring member: ring
 * placement (register_name/4,5) stays on BEAM nodes.
 *
 * The host runs WORKERS: processes written in C, each with a pid of the
 * host's node, callbacks for calls, casts, other messages and termination,
 * and a user pointer. A worker registered under a name is found by BEAM
 * code as any registered process:
 *
 *     GenServer.call({:via, :swarm, {:sensor, 1}}, :read)
 *     Process.monitor(Swarm.whereis_name({:sensor, 1}))
 *
 * Registration has the registry's semantics: exactly one `yes` for a name
 * cluster-wide, even when a BEAM process races for it; the name is visible
 * on every node; it is removed everywhere when the worker stops or when its
 * host dies (the host's connections close, or stop answering ticks).
 *
 * Terms. Every term crosses this API as external term format bytes WITH the
 * version byte 131 (what term_to_binary/1 gives; build them with ei's
 * ei_x_encode_* after ei_x_new_with_version, read them with ei_decode_*
 * after ei_decode_version). Names are compared by their canonical encoding
 * (the bytes term_to_binary(Name, [deterministic]) gives on the cluster's
 * BEAM nodes): the library re-encodes a name given in any valid encoding
 * (ei's UTF-8 atoms, a list of small integers as a list rather than a
 * string...) into that form. Funs and maps are refused as names.
 *
 * Threading. A host and everything attached to it belong to the thread that
 * runs its loop: every function here must be called on that thread (from a
 * callback, or before the loop runs), except swarm_strerror. To do slow
 * work, use swarm_work() (libuv's thread pool): the work function runs on
 * another thread and must not call this API; its completion runs on the
 * loop and may reply.
 *
 * Ownership. Pointers passed in are borrowed for the call unless said
 * otherwise; bytes handed to callbacks are borrowed for the callback. Every
 * object the library returns (host, worker, from handle) is owned by the
 * library and freed by it at the documented moment.
 *
 * Errors. Functions returning int return SWARM_OK (0) or a negative
 * SWARM_E* code; swarm_strerror() names it. Bad input never crashes the
 * host: a malformed message from the network is counted and dropped.
 */
#ifndef SWARM_H
#define SWARM_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SWARM_API_VERSION 1

/* ---- errors ------------------------------------------------------------ */

enum {
    SWARM_OK = 0,
    SWARM_EINVAL = -1,    /* a bad argument (NULL, empty, out of range) */
    SWARM_ENOMEM = -2,    /* out of memory */
    SWARM_EBADTERM = -3,  /* bytes that are not one valid external term (or a
                             fun or a map given as a name) */
    SWARM_ETAKEN = -4,    /* the name is registered to another process */
    SWARM_ENOTFOUND = -5, /* no process has that name, or the pid is dead
                             (a call: the callee exited noproc) */
    SWARM_ETIMEDOUT = -6, /* no answer within the timeout */
    SWARM_ENOTCONN = -7,  /* no connection to the node it needs (a call: the
                             callee's node went away, noconnection; a
                             registration: no swarm C node reachable) */
    SWARM_EEXIT = -8,     /* a call's callee exited: the reply bytes are its
                             exit reason */
    SWARM_ESTOPPED = -9,  /* the worker stopped, or the host is stopping */
    SWARM_ENOCOOKIE = -10,/* no cookie: none given, the environment variable
                             unset and the cookie file unreadable */
    SWARM_ESTATE = -11,   /* not allowed in the object's state (e.g. a host
                             started twice, a worker that already has that
                             name) */
};

/* A static string naming err ("SWARM_ETAKEN: name taken"...), for any int.
 * Thread-safe. */
const char *swarm_strerror(int err);

/* ---- the host ---------------------------------------------------------- */

typedef struct swarm_host swarm_host_t;
typedef struct swarm_worker swarm_worker_t;
typedef struct swarm_from swarm_from_t;

typedef struct {
    /* This node's name, "alive@host" (e.g. "sensors@127.0.0.1"); required.
     * Must not be taken in epmd on that host. The host part must resolve to
     * an address of this machine (a literal IPv4 address is bound as is). */
    const char *name;
    /* The cookie. Leave it NULL to read it, in this order, from the
     * environment variable named by cookie_env (NULL: "SWARM_COOKIE"), then
     * from cookie_file (NULL: $HOME/.erlang.cookie; trailing whitespace
     * stripped). Programs must never take a cookie from their command line
     * (other users see it in ps). Copied; never logged. */
    const char *cookie;
    const char *cookie_env;
    const char *cookie_file;
    /* The BEAM nodes to contact first ("a@127.0.0.1"); nconnect of them.
     * More are found through them: the host connects to every BEAM node
     * that runs swarm in the cluster. Copied. */
    const char *const *connect;
    size_t nconnect;
    /* Distribution tick interval (ms); 0: 15000 (net_ticktime 60). A peer
     * silent for 4 ticks is taken for dead. */
    unsigned tick_ms;
    /* How long a registration may wait for its answer, including the wait
     * for a first swarm C node to connect (ms); 0: 5000. */
    unsigned register_timeout_ms;
    /* Term encoding of the cluster's BEAM nodes for names: 0 (OTP 25 and
     * earlier: latin-1 atoms as ATOM_EXT) or 1 (OTP 26+: atoms as UTF-8). */
    int utf8_atoms;
    /* swarm_host_run only: after the loop handled frames, it keeps polling
     * (epoll with no wait) for this long (µs) before it sleeps, as the BEAM's
     * schedulers busy-wait: a host serving a stream of calls then skips
     * most of its wake-ups (one caller: p50 about 50 against 120 µs on 2
     * cores). It costs CPU only right after work, which under load is
     * often (8 callers: about 30 against 20 µs per call; see the README's
     * benchmarks). 0: 100 µs; < 0: never (the loop sleeps as soon as it is
     * idle). A host on a loop the caller runs does not poll. */
    int spin_us;
    /* Called once, on the loop, when the host is first connected to at
     * least one swarm C node and has its registry (its initial sync is
     * complete). May be NULL. */
    void (*on_ready)(swarm_host_t *h, void *ud);
    void *ud; /* handed to on_ready; also swarm_host_data() */
} swarm_host_config_t;

/* Creates a host on loop (NULL: the host creates and owns a loop of its
 * own, run by swarm_host_run). Reads the cookie (see the config) and copies
 * the config. Does no I/O. Returns the host, or NULL with *err set
 * (SWARM_EINVAL bad config, SWARM_ENOCOOKIE, SWARM_ENOMEM); err may be
 * NULL. */
swarm_host_t *swarm_host_new(uv_loop_t *loop, const swarm_host_config_t *cfg, int *err);

/* Starts the host: listens (ephemeral port), publishes its name in epmd,
 * then dials the BEAM nodes of the config (and keeps dialling those it
 * loses, about once a second). Returns SWARM_OK, or SWARM_ESTATE (started
 * already), or a negative libuv error code when it could not begin (no
 * epmd to publish in is reported later, in the log, and the host stops:
 * as swarm_host_stop(h, NULL, NULL) would, so swarm_host_run then returns
 * that error and h is freed; a later swarm_host_stop on it is not
 * allowed). */
int swarm_host_start(swarm_host_t *h);

/* Runs the host's loop until the host has stopped and its handles are
 * closed: uv_run(UV_RUN_ONCE), and after an iteration that handled frames,
 * uv_run(UV_RUN_NOWAIT) until the config's spin_us pass without one. For a
 * host on a loop of the caller's, the caller may run that loop itself
 * instead. Returns 0, or < 0 if the host
 * stopped on an error (e.g. its name could not be published). */
int swarm_host_run(swarm_host_t *h);

/* Stops the host: every worker stops with reason `shutdown` (terminate
 * callbacks run; monitors and links are told), the names are removed from
 * the cluster (the host's dels are flushed to the C nodes it is connected
 * to before its connections close), every connection closes, and the epmd
 * name is released. Then done(h, ud) runs on the loop (may be NULL), after
 * which the host is freed (with its loop, if it owns one, once
 * swarm_host_run returns). Calls after this one on h or its workers fail
 * with SWARM_ESTOPPED (swarm_reply on a from handle still held: SWARM_ESTOPPED,
 * and the handle is freed; handles never answered nor freed are freed with
 * the host). Safe to call from any host callback and from a signal watcher
 * on the loop; a second call is ignored. */
void swarm_host_stop(swarm_host_t *h, void (*done)(swarm_host_t *h, void *ud), void *ud);

/* Asks the host to contact one more BEAM node (copied). SWARM_EINVAL for a
 * malformed name. */
int swarm_host_connect(swarm_host_t *h, const char *beam);

/* The host's loop, its node name ("alive@host"), and the config's ud. */
uv_loop_t *swarm_host_loop(const swarm_host_t *h);
const char *swarm_host_node(const swarm_host_t *h);
void *swarm_host_data(const swarm_host_t *h);

/* 1 once the host is connected to at least one swarm C node and synced
 * with it (on_ready ran), else 0. */
int swarm_host_ready(const swarm_host_t *h);

typedef struct {
    uint64_t workers;        /* live workers */
    uint64_t local_names;    /* names held by this host's workers */
    uint64_t names;          /* names in the host's replica of the registry */
    uint64_t members;        /* swarm C nodes connected (ring members) */
    uint64_t msgs_in;        /* messages delivered to workers */
    uint64_t calls_in;       /* of which '$gen_call's */
    uint64_t dropped;        /* messages dropped: to a pid with no worker,
                                malformed, or not decodable */
    uint64_t monitors;       /* monitors held on workers by other processes */
    uint64_t links;          /* links between workers and other processes */
    uint64_t calls_out;      /* swarm_call()s in flight */
    uint64_t reconnects;     /* connections to BEAM nodes and C nodes
                                established again after a loss */
} swarm_host_stats_t;

/* Fills *out. */
void swarm_host_stats(const swarm_host_t *h, swarm_host_stats_t *out);

/* ---- workers ----------------------------------------------------------- */

/* What a worker does with what it receives. Every callback may be NULL
 * (then what it would receive is dropped; a call is then answered by no
 * one and times out at the caller: give call when the worker takes calls).
 * msg/len: the message term (with 131), borrowed for the callback. The
 * worker's user pointer is swarm_worker_data(w). */
typedef struct {
    /* {'$gen_call', From, Msg} (GenServer.call, :gen_server.call): answer
     * with swarm_reply(from, ...) now or later, or drop it with
     * swarm_from_free(from). from is the callback's to keep until then. */
    void (*call)(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len);
    /* {'$gen_cast', Msg} (GenServer.cast): msg is Msg. */
    void (*cast)(swarm_worker_t *w, const char *msg, size_t len);
    /* Any other message (send/2, publish, a call reply nobody waits for,
     * {'EXIT', Pid, Reason} of a link when trapping exits). */
    void (*info)(swarm_worker_t *w, const char *msg, size_t len);
    /* The worker is stopping, with reason (a term, with 131): `normal`,
     * `shutdown` (the host stops), what swarm_worker_stop was given, or a
     * linked process's exit reason. Its names, groups and monitors are
     * still in place during the callback; do not reply to calls from
     * here (they are answered with the worker's exit by their monitors).
     * Free the user pointer here. */
    void (*terminate)(swarm_worker_t *w, const char *reason, size_t len);
} swarm_worker_cbs_t;

/* Creates a worker on host h: a process with a fresh pid of the host's
 * node, no name, no groups. cbs is borrowed for the worker's life (share
 * one static table among many workers); data is the user pointer.
 * Returns NULL on out of memory or a stopping host. */
swarm_worker_t *swarm_worker_new(swarm_host_t *h, const swarm_worker_cbs_t *cbs, void *data);

/* Copies the worker's pid into *out (an erlang_pid is about 1 KB: a
 * worker does not keep one). The pid carries the node's creation, which
 * epmd assigns when the host is published: a worker created before that
 * has its final pid from then on (ask again from on_ready or later).
 * Then: the worker's host and user pointer. */
void swarm_worker_pid(const swarm_worker_t *w, erlang_pid *out);
swarm_host_t *swarm_worker_host(const swarm_worker_t *w);
void *swarm_worker_data(const swarm_worker_t *w);
void swarm_worker_set_data(swarm_worker_t *w, void *data);

/* Trap exits (on != 0), as process_flag(trap_exit, true): an exit signal
 * from a linked process arrives at info as {'EXIT', Pid, Reason} instead of
 * stopping the worker (a `kill` from exit/2 still stops it). Off by
 * default. */
void swarm_worker_trap_exit(swarm_worker_t *w, int on);

/* Stops the worker with reason (a term with 131; NULL: `normal`):
 * terminate runs, then its names and group memberships are removed
 * cluster-wide, each monitor gets {'DOWN', Ref, process, Pid, Reason},
 * each linked process the exit signal (which kills it unless the reason is
 * `normal` or it traps exits), and calls waiting on it (swarm_call) end
 * with SWARM_ESTOPPED. A call or monitor that arrives later gets noproc at
 * once. The worker's memory is freed once the current callback returns (w
 * stays valid until then; further calls on it fail with SWARM_ESTOPPED).
 * SWARM_ESTOPPED if it is already stopping; SWARM_EBADTERM for a bad
 * reason. */
int swarm_worker_stop(swarm_worker_t *w, const char *reason, size_t len);

/* ---- names -------------------------------------------------------------- */

/* result: SWARM_OK (the name is the worker's, visible on this host, and
 * committed at the name's home), SWARM_ETAKEN (holder: the pid that has
 * it), SWARM_ETIMEDOUT, SWARM_ENOTCONN (no swarm C node connected within
 * register_timeout_ms), SWARM_ESTOPPED (the worker or host stopped
 * meanwhile; then w may be NULL). holder is NULL unless ETAKEN; borrowed. */
typedef void (*swarm_register_cb)(swarm_worker_t *w, int result, const erlang_pid *holder,
                                  void *ud);

/* Registers name (a term with 131, any valid encoding: it is made
 * canonical) for worker w, as Swarm.register_name(Name, Pid): the name's
 * owner on the ring decides, so exactly one registration of a name wins
 * cluster-wide. Asynchronous: done(w, result, holder, ud) runs on the loop
 * exactly once (never from inside this call; done may be NULL when the
 * result does not matter to the program). A worker may hold several
 * names. Returns SWARM_OK if the request began (done will run), or
 * SWARM_EBADTERM / SWARM_EINVAL / SWARM_ESTOPPED / SWARM_ENOMEM (done will
 * not run). */
int swarm_register(swarm_worker_t *w, const char *name, size_t len, swarm_register_cb done,
                   void *ud);

/* Removes name from the cluster if w holds it (as unregister_name/1). The
 * removal is local at once and reaches the other nodes asynchronously.
 * SWARM_ENOTFOUND if w does not hold it. */
int swarm_unregister(swarm_worker_t *w, const char *name, size_t len);

/* Looks name up in the host's replica (no message is sent), as
 * whereis_name/1: SWARM_OK with *pid filled, or SWARM_ENOTFOUND. */
int swarm_whereis(swarm_host_t *h, const char *name, size_t len, erlang_pid *pid);

/* ---- replies ------------------------------------------------------------ */

/* The caller of a from handle (the process that called). */
const erlang_pid *swarm_from_pid(const swarm_from_t *from);

/* Answers the call from stands for with reply (a term with 131); frees
 * from. Callable from any later callback or timer on the loop. SWARM_OK,
 * or SWARM_EBADTERM (from is then NOT freed: reply again or free it), or
 * SWARM_ENOTCONN (the caller's node is gone; from is freed). A reply to a
 * caller that gave up (timed out) is dropped by its node, as for a
 * GenServer. */
int swarm_reply(swarm_from_t *from, const char *reply, size_t len);

/* Frees from without answering (the caller then times out, or gets its
 * callee's exit if the worker stops). */
void swarm_from_free(swarm_from_t *from);

/* ---- sending and calling (C -> BEAM, or to other workers) -------------- */

/* Sends msg (a term with 131) to pid, as `Pid ! Msg`; from is the sender
 * worker (NULL: the host's own process). Asynchronous and unacknowledged,
 * as in Erlang. SWARM_ENOTCONN when the pid's node is not connected (the
 * host dials it; the message is dropped). A pid of this host is delivered
 * to its worker on the next loop iteration. */
int swarm_send(swarm_host_t *h, swarm_worker_t *from, const erlang_pid *to, const char *msg,
               size_t len);

/* swarm_send to the process registered under name (whereis first):
 * SWARM_ENOTFOUND when no process has that name. */
int swarm_send_name(swarm_host_t *h, swarm_worker_t *from, const char *name, size_t nlen,
                    const char *msg, size_t len);

/* GenServer.cast({:via, :swarm, Name}, Msg): sends {'$gen_cast', Msg}.
 * SWARM_ENOTFOUND when no process has that name. */
int swarm_cast(swarm_host_t *h, const char *name, size_t nlen, const char *msg, size_t len);

/* status: SWARM_OK (reply: the callee's reply), SWARM_ETIMEDOUT,
 * SWARM_ENOTFOUND (no such name, or the callee was dead: noproc),
 * SWARM_ENOTCONN (the callee's node went away), SWARM_EEXIT (the callee
 * exited while the call waited; reply: its reason), SWARM_ESTOPPED (the
 * calling worker or the host stopped; reply NULL). reply/len borrowed for
 * the callback. */
typedef void (*swarm_call_cb)(swarm_worker_t *w, int status, const char *reply, size_t len,
                              void *ud);

/* GenServer.call(Pid, Msg, timeout_ms) from worker w, asynchronous: the
 * callee is monitored, sent {'$gen_call', {WPid, Ref}, Msg}, and done runs
 * on the loop exactly once, with the reply or why there is none (never
 * from inside this call). Other messages keep reaching w meanwhile.
 * timeout_ms 0: 5000. Returns SWARM_OK if the call began, or SWARM_EINVAL,
 * SWARM_EBADTERM, SWARM_ESTOPPED, SWARM_ENOMEM (done will not run). */
int swarm_call_pid(swarm_worker_t *w, const erlang_pid *to, const char *msg, size_t len,
                   unsigned timeout_ms, swarm_call_cb done, void *ud);

/* swarm_call_pid to the process registered under name. No process with
 * that name: done runs with SWARM_ENOTFOUND. */
int swarm_call(swarm_worker_t *w, const char *name, size_t nlen, const char *msg, size_t len,
               unsigned timeout_ms, swarm_call_cb done, void *ud);

/* ---- groups ------------------------------------------------------------- */

/* Worker w joins (leaves) group (a term with 131, made canonical), as
 * Swarm.join/2 (leave/2): the change is made on this host (the worker's
 * home) at once and replicated to every node. Idempotent. A worker leaves
 * all its groups when it stops. */
int swarm_join(swarm_worker_t *w, const char *group, size_t len);
int swarm_leave(swarm_worker_t *w, const char *group, size_t len);

/* The members of group in the host's replica (BEAM processes and workers
 * of any host), as Swarm.members/1: fills out[0..max) and returns the
 * number of members (which may exceed max: call again with more room), or
 * a negative error. */
int swarm_members(swarm_host_t *h, const char *group, size_t len, erlang_pid *out, size_t max);

/* Swarm.publish(Group, Msg): msg sent to every member (workers of this
 * host included). Returns the number of members sent to, or < 0. */
int swarm_publish(swarm_host_t *h, const char *group, size_t len, const char *msg, size_t mlen);

/* ---- work off the loop ------------------------------------------------- */

/* Runs work(ud) on libuv's thread pool (UV_THREADPOOL_SIZE threads, 4 by
 * default), then done(h, status, ud) on the loop: status SWARM_OK, or
 * SWARM_ESTOPPED if the host stopped before the work could start (work did
 * not run). work must not call this API or touch host objects; done may
 * (a kept from handle is answered there). Returns SWARM_OK, or
 * SWARM_ENOMEM / SWARM_ESTOPPED (nothing will run). */
int swarm_work(swarm_host_t *h, void (*work)(void *ud),
               void (*done)(swarm_host_t *h, int status, void *ud), void *ud);

/* Runs cb(h, ud) on the loop once, after ms milliseconds (a one-shot timer
 * the host owns; a host that stops first runs none of them). Returns
 * SWARM_OK, SWARM_ENOMEM or SWARM_ESTOPPED. */
int swarm_after(swarm_host_t *h, unsigned ms, void (*cb)(swarm_host_t *h, void *ud), void *ud);

#ifdef __cplusplus
}
#endif

#endif
