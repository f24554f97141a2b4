/* host.c - a C host: a hidden Erlang node that joins a swarm cluster as a
 * member without a BEAM node and runs C workers (include/swarm.h).
 *
 * What it is: the host's life cycle (config and cookie, start, stop, the
 * loop it may own), its network presence (an sw_node_t advertising the
 * distribution flags of a node that hosts processes: DIST_MONITOR,
 * DIST_MONITOR_NAME and UNLINK_ID, so BEAM nodes send it MONITOR_P,
 * DEMONITOR_P, LINK, UNLINK_ID and EXIT controls for its pids: seen from
 * OTP 25, link/1 sends LINK (1), unlink/1 UNLINK_ID (35; UNLINK (4) to a
 * node without that flag), a linked process's death EXIT (3), exit/2
 * EXIT2 (8), monitor/2 MONITOR_P (19) and demonitor/1 DEMONITOR_P (20)), the
 * wiring of its tracker and groups in host mode (tracker.h, group.h, "C
 * hosts"), and the loop's handles that drive them.
 *
 * Wiring, as server.c does for a sidecar, with the agent's part played
 * here: the config's BEAM nodes, those added by swarm_host_connect and
 * those a swarm C node lists (env->members) are dialled, and dialled again
 * about once a second while not connected. A BEAM node's connection up is
 * that node's peer_up (its C node is "swarm_" + its name), its loss that
 * node's peer_down; any other connection (a C node, another host) is a
 * conn_up / conn_down of the tracker and the groups. Every frame goes to
 * the workers first (host_worker.c); what is not a worker's (the swarm
 * server's protocol, net_kernel, a BEAM agent's agent_cnode_up to
 * swarm_agent) goes to sw_dist_handle. What the tracker would send an
 * agent is consumed in-process (host_reg.c); what the groups would send
 * swarm_groups is dropped (the host's replica is the group state
 * itself).
 *
 * The check handle, after each round of I/O: local deliveries (messages
 * between processes of this host, queued so that no send re-enters a
 * callback), finished calls' done callbacks, the outboxes flushed,
 * readiness, registrations, and the workers stopped meanwhile freed. An
 * idle handle keeps the loop's poll from blocking while there is such
 * work queued. A 500 ms timer drives the tracker's and groups' ticks,
 * redials and registration timeouts.
 *
 * Stop: workers stop with `shutdown` (their dels queued), calls and
 * registrations end with SWARM_ESTOPPED, the outboxes are flushed, every
 * connection is closed after its queue is written (at most 1 s), then the
 * node (epmd name included) is freed, the handles closed, done called and
 * the host freed.
 * What it is not: the workers (host_worker.c), calls (host_call.c), names
 * and groups (host_reg.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handshake.h"
#include "host_int.h"
#include "log.h"
#include "ring.h"
#include "swarm_proto.h"

#define HOST_FLAGS (SW_DFLAG_DIST_MONITOR | SW_DFLAG_DIST_MONITOR_NAME | SW_DFLAG_UNLINK_ID)
#define STOP_DRAIN_MS 1000u

/* ---- errors ---------------------------------------------------------------- */

#define SWARM_ERRNO_MAP(X)                                                                         \
    X(SWARM_OK, "success")                                                                         \
    X(SWARM_EINVAL, "invalid argument")                                                            \
    X(SWARM_ENOMEM, "out of memory")                                                               \
    X(SWARM_EBADTERM, "not a valid external term")                                                 \
    X(SWARM_ETAKEN, "name taken")                                                                  \
    X(SWARM_ENOTFOUND, "no such process")                                                          \
    X(SWARM_ETIMEDOUT, "timed out")                                                                \
    X(SWARM_ENOTCONN, "node not connected")                                                        \
    X(SWARM_EEXIT, "callee exited")                                                                \
    X(SWARM_ESTOPPED, "stopped")                                                                   \
    X(SWARM_ENOCOOKIE, "no cookie")                                                                \
    X(SWARM_ESTATE, "not allowed in this state")

const char *swarm_strerror(int err) {
    switch (err) {
#define X(code, text)                                                                              \
    case code: return #code ": " text;
        SWARM_ERRNO_MAP(X)
#undef X
    default: return "SWARM_E?: unknown error";
    }
}

/* ---- config ---------------------------------------------------------------- */

static int copy_cookie(char *out, size_t cap, const char *src, size_t len) {
    while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r' || src[len - 1] == ' ' ||
                       src[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= cap || memchr(src, 0, len)) return -1;
    memcpy(out, src, len);
    out[len] = 0;
    return 0;
}

/* The cookie: cfg->cookie, else the environment variable, else the file.
 * SWARM_OK, SWARM_EINVAL (too long) or SWARM_ENOCOOKIE. */
int sw__host_cookie(const swarm_host_config_t *cfg, char *out, size_t cap) {
    if (cfg->cookie) return copy_cookie(out, cap, cfg->cookie, strlen(cfg->cookie)) == 0 ? SWARM_OK : SWARM_EINVAL;
    const char *env = getenv(cfg->cookie_env ? cfg->cookie_env : "SWARM_COOKIE");
    if (env && *env) return copy_cookie(out, cap, env, strlen(env)) == 0 ? SWARM_OK : SWARM_EINVAL;
    char path[4096];
    const char *file = cfg->cookie_file;
    if (!file) {
        const char *home = getenv("HOME");
        if (!home || snprintf(path, sizeof path, "%s/.erlang.cookie", home) >= (int)sizeof path)
            return SWARM_ENOCOOKIE;
        file = path;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return SWARM_ENOCOOKIE;
    char buf[512];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    int rc = n == sizeof buf ? -1 : copy_cookie(out, cap, buf, n);
    memset(buf, 0, sizeof buf);
    return rc == 0 ? SWARM_OK : SWARM_ENOCOOKIE;
}

/* Adds a node to the known list (dial != 0: a BEAM node to keep dialled).
 * Returns its record, or NULL when out of memory. */
static sw_hbeam_t *known_add(swarm_host_t *h, const char *name, int dial) {
    for (size_t i = 0; i < h->nbeams; i++) {
        if (strcmp(h->beams[i].name, name) == 0) {
            if (dial) h->beams[i].dial = 1;
            return &h->beams[i];
        }
    }
    if (h->nbeams == h->capbeams) {
        size_t cap = h->capbeams ? h->capbeams * 2 : 8;
        sw_hbeam_t *nb = realloc(h->beams, cap * sizeof *nb);
        if (!nb) return NULL;
        h->beams = nb;
        h->capbeams = cap;
    }
    sw_hbeam_t *b = &h->beams[h->nbeams++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->dial = (uint8_t)dial;
    return b;
}

static sw_hbeam_t *known_find(swarm_host_t *h, const char *name) {
    for (size_t i = 0; i < h->nbeams; i++)
        if (strcmp(h->beams[i].name, name) == 0) return &h->beams[i];
    return NULL;
}

static int valid_node(const char *name) {
    return name && sw__hs_valid_name(name, strlen(name)) && strchr(name, '@') == strrchr(name, '@');
}

/* ---- small helpers the other files use ------------------------------------ */

void sw__host_self(const swarm_host_t *h, erlang_pid *out) {
    memset(out, 0, sizeof *out);
    memcpy(out->node, h->name, strlen(h->name) + 1);
    out->creation = h->node ? sw_node_creation(h->node) : 0;
}

void sw__host_ref(swarm_host_t *h, ei_x_buff *x, uint64_t *id) {
    erlang_ref r;
    memset(&r, 0, sizeof r);
    memcpy(r.node, h->name, strlen(h->name) + 1);
    *id = ++h->next_ref;
    r.len = 3;
    r.n[0] = (unsigned)(*id & 0x3ffffu);
    r.n[1] = (unsigned)(*id >> 18);
    r.n[2] = (unsigned)(*id >> 50);
    r.creation = h->node ? sw_node_creation(h->node) : 0;
    ei_x_encode_ref(x, &r);
}

ei_x_buff *sw__host_ctrl(swarm_host_t *h, int arity, long op) {
    ei_x_buff *x = &h->ctrl;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_long(x, op);
    return x;
}

void sw__host_wake(swarm_host_t *h) {
    if (!h->closed && !uv_is_active((uv_handle_t *)&h->idle)) uv_idle_start(&h->idle, NULL);
}

int sw__host_route(swarm_host_t *h, const char *node, const char *ctrl, size_t clen,
                   const char *msg, size_t mlen) {
    if (strcmp(node, h->name) == 0) {
        if (h->closed) return SWARM_ESTOPPED;
        sw_lmsg_t *m = malloc(sizeof *m + clen + mlen);
        if (!m) return SWARM_ENOMEM;
        m->next = NULL;
        m->len = clen + mlen;
        memcpy(m->buf, ctrl, clen);
        if (mlen) memcpy(m->buf + clen, msg, mlen);
        if (h->ltail) h->ltail->next = m;
        else h->lhead = m;
        h->ltail = m;
        sw__host_wake(h);
        return SWARM_OK;
    }
    sw_conn_t *c = h->node ? sw_node_find(h->node, node) : NULL;
    if (!c) return SWARM_ENOTCONN;
    int r = sw_conn_send(c, ctrl, clen, msg, mlen);
    return r == 0 ? SWARM_OK : r == UV_ENOMEM ? SWARM_ENOMEM : SWARM_ENOTCONN;
}

/* ---- outboxes -------------------------------------------------------------- */

static void tracker_emit(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    swarm_host_t *h = ud;
    if (dest == SW_DEST_AGENT) {
        sw__reg_agent_msg(h, buf, len);
        return;
    }
    if (sw_dist_send_reg(&h->out, cnode, SW_SERVER_NAME, buf, len) != 0)
        SW_DEBUG("send_failed", "to=%s bytes=%zu", cnode, len);
}

static void group_emit(void *ud, const char *cnode, const erlang_pid *to, const char *buf,
                       size_t len) {
    swarm_host_t *h = ud;
    if (to) return; /* swarm_groups' replica: the host reads its group state itself */
    if (sw_dist_send_reg(&h->out, cnode, SW_SERVER_NAME, buf, len) != 0)
        SW_DEBUG("send_failed", "module=group to=%s bytes=%zu", cnode, len);
}

static void flush(swarm_host_t *h) {
    if (h->tracker && sw_tracker_pending(h->tracker)) sw_tracker_flush(h->tracker, tracker_emit, h);
    if (h->groups && sw_group_pending(h->groups)) sw_group_flush(h->groups, group_emit, h);
}

static void check_ready(swarm_host_t *h) {
    if (h->ready || h->stopping || !h->synced_seen || !h->tracker ||
        sw_tracker_members(h->tracker) == 0)
        return;
    h->ready = 1;
    SW_INFO("host_ready", "members=%zu", sw_tracker_members(h->tracker));
    if (h->on_ready) h->on_ready(h, h->ud);
}

/* The C node of a BEAM node: "swarm_" + its name. */
static void cnode_of(const char *beam, char *out, size_t cap) { snprintf(out, cap, "swarm_%s", beam); }

/* BEAM node peer runs swarm and is connected: its peer_up. */
static void beam_up(swarm_host_t *h, const char *peer) {
    char cnode[SW_MAXNODELEN + 8];
    cnode_of(peer, cnode, sizeof cnode);
    sw_tracker_peer_up(h->tracker, peer, cnode);
    sw_group_peer_up(h->groups, peer, cnode);
}

/* ---- tracker environment --------------------------------------------------- */

static void env_connect(void *ud, const char *cnode) {
    swarm_host_t *h = ud;
    if (h->node && !h->stopping) sw_node_connect(h->node, cnode);
}

static void env_disconnect(void *ud, const char *cnode) {
    swarm_host_t *h = ud;
    sw_conn_t *c = h->node ? sw_node_find(h->node, cnode) : NULL;
    if (c) sw_conn_close(c);
}

static int env_connected(void *ud, const char *cnode) {
    swarm_host_t *h = ud;
    return h->node && sw_node_find(h->node, cnode) != NULL;
}

/* beam runs swarm: dialled until connected; if it connected to us before
 * (taken for a C node until now), its peer_up now. */
static sw_hbeam_t *add_beam(swarm_host_t *h, const char *beam) {
    sw_hbeam_t *b = known_find(h, beam);
    int was_beam = b && b->dial;
    if (!(b = known_add(h, beam, 1))) return NULL;
    if (!b->up) {
        if (h->published && !h->stopping) sw_node_connect(h->node, beam);
    } else if (!was_beam && !h->stopping) {
        sw_tracker_conn_down(h->tracker, beam);
        sw_group_conn_down(h->groups, beam);
        beam_up(h, beam);
    }
    return b;
}

static void env_members(void *ud, const char *beam, const char *cnode) {
    swarm_host_t *h = ud;
    if (strcmp(beam, cnode) == 0) sw_group_peer_up(h->groups, beam, cnode);
    else add_beam(h, beam);
}

/* ---- node callbacks -------------------------------------------------------- */

static void dial_all(swarm_host_t *h) {
    if (!h->published || h->stopping) return;
    for (size_t i = 0; i < h->nbeams; i++)
        if (h->beams[i].dial && !h->beams[i].up) sw_node_connect(h->node, h->beams[i].name);
}

static void host_stop_now(swarm_host_t *h);

static void on_started(sw_node_t *n, int err, void *ud) {
    swarm_host_t *h = ud;
    if (err != 0) {
        SW_ERROR("host_start_failed", "name=%s err=%s", h->name, uv_err_name(err));
        h->run_err = err;
        host_stop_now(h);
        return;
    }
    h->published = 1;
    erlang_pid self;
    sw__host_self(h, &self);
    h->out.self = self;
    /* Their clocks now, not at the first tick: the initial syncs' timeout
     * counts from the hello they stamp here. */
    uint64_t now = uv_now(h->loop);
    sw_tracker_tick(h->tracker, now);
    sw_group_tick(h->groups, now);
    sw_tracker_host_begin(h->tracker, &self);
    sw_group_host_begin(h->groups, &self);
    sw__reg_published(h);
    dial_all(h);
    sw__host_wake(h);
}

static void on_up(sw_node_t *n, sw_conn_t *c, void *ud) {
    swarm_host_t *h = ud;
    const char *peer = sw_conn_peer(c);
    sw_hbeam_t *b = known_find(h, peer);
    if (!b) b = known_add(h, peer, 0);
    if (b) {
        if (b->seen) h->st.reconnects++;
        b->seen = 1;
        b->up = 1;
    }
    if (b && b->dial) {
        beam_up(h, peer);
    } else {
        sw_tracker_conn_up(h->tracker, peer);
        sw_group_conn_up(h->groups, peer);
    }
    sw__host_wake(h);
}

static void on_frame(sw_node_t *n, sw_conn_t *c, const char *buf, size_t len, void *ud) {
    swarm_host_t *h = ud;
    h->frames++;
    if (!sw__host_worker_frame(h, sw_conn_peer(c), buf, len))
        sw_dist_handle_checked(&h->dist, sw_conn_peer(c), buf, len);
    sw__host_wake(h);
}

static void on_down(sw_node_t *n, sw_conn_t *c, sw_down_reason_t why, void *ud) {
    swarm_host_t *h = ud;
    const char *peer = sw_conn_peer(c);
    SW_INFO("conn_down", "peer=%s reason=%d", peer, (int)why);
    sw_hbeam_t *b = known_find(h, peer);
    if (b) b->up = 0;
    if (b && b->dial) {
        sw_tracker_peer_down(h->tracker, peer);
        sw_group_peer_down(h->groups, peer);
    } else {
        sw_tracker_conn_down(h->tracker, peer);
        sw_group_conn_down(h->groups, peer);
    }
    sw__calls_node_down(h, peer);
    sw__host_workers_node_down(h, peer);
    sw__host_wake(h);
}

static void on_connect_failed(sw_node_t *n, const char *name, int err, void *ud) {
    SW_DEBUG("connect_failed", "peer=%s err=%d", name, err);
}

static const sw_node_cbs_t node_cbs = {on_started, on_up, on_frame, on_down, on_connect_failed};

/* ---- loop handles ---------------------------------------------------------- */

static void drain_local(swarm_host_t *h) {
    /* Only what was queued before this round: a worker that sends to itself
     * from its callback is served at the next one. */
    sw_lmsg_t *m = h->lhead;
    h->lhead = h->ltail = NULL;
    while (m) {
        sw_lmsg_t *next = m->next;
        if (!sw__host_worker_frame(h, h->name, m->buf, m->len)) h->st.dropped++;
        free(m);
        m = next;
    }
}

void sw__host_poll(swarm_host_t *h) {
    drain_local(h);
    sw__calls_run_done(h);
    flush(h);
    check_ready(h);
    sw__reg_poll(h);
    flush(h);
    sw__host_workers_reap(h);
    if (!h->lhead && !h->calls_done && !(h->tracker && sw_tracker_pending(h->tracker)))
        uv_idle_stop(&h->idle);
}

static void on_check(uv_check_t *c) { sw__host_poll(c->data); }

static void on_tick(uv_timer_t *t) {
    swarm_host_t *h = t->data;
    sw_log_tick();
    uint64_t now = uv_now(h->loop);
    sw_tracker_tick(h->tracker, now);
    sw_group_tick(h->groups, now);
    if (++h->ticks % 2 == 0) dial_all(h);
    sw__reg_poll(h);
    flush(h);
}

/* ---- life cycle ------------------------------------------------------------ */

static void host_free(swarm_host_t *h) {
    if (h->dist_open) sw_dist_close(&h->dist);
    sw_tracker_free(h->tracker);
    sw_group_free(h->groups);
    sw_dist_out_close(&h->out);
    sw__host_workers_close(h);
    sw_htab_close(&h->calls_tab);
    sw_htab_close(&h->regs_tab);
    while (h->froms) swarm_from_free(h->froms);
    sw__reg_free(h);
    while (h->lhead) {
        sw_lmsg_t *m = h->lhead;
        h->lhead = m->next;
        free(m);
    }
    ei_x_free(&h->ctrl);
    ei_x_free(&h->msg);
    free(h->beams);
    memset(h->cookie, 0, sizeof h->cookie);
    free(h);
}

/* Every handle is closed: done, then the host is freed (by swarm_host_run
 * if it runs the loop, which it then closes). */
static void finish(swarm_host_t *h) {
    if (h->done) h->done(h, h->done_ud);
    h->done = NULL;
    h->finished = 1;
    if (!h->running) host_free(h);
}

void sw__host_unref(swarm_host_t *h) {
    h->handles--;
    if (h->handles == 0 && h->closed) finish(h);
}

static void on_handle_closed(uv_handle_t *hd) { sw__host_unref(hd->data); }

static void close_handles(swarm_host_t *h) {
    h->closed = 1;
    uv_close((uv_handle_t *)&h->check, on_handle_closed);
    uv_close((uv_handle_t *)&h->idle, on_handle_closed);
    uv_close((uv_handle_t *)&h->tick, on_handle_closed);
}

static void on_node_freed(sw_node_t *n, void *ud) {
    swarm_host_t *h = ud;
    h->node = NULL;
    close_handles(h);
}

static void free_node(swarm_host_t *h) {
    if (h->node) {
        h->out.node = NULL;
        sw_node_free(h->node, on_node_freed);
    } else {
        close_handles(h);
    }
}

static void on_drain_tick(uv_timer_t *t) {
    swarm_host_t *h = t->data;
    int busy = 0;
    for (size_t i = 0; i < h->nbeams; i++) {
        sw_conn_t *c = h->node ? sw_node_find(h->node, h->beams[i].name) : NULL;
        if (c && sw_conn_queued(c) > 0) busy = 1;
    }
    if (busy && uv_now(h->loop) < h->stop_deadline) return;
    uv_timer_stop(t);
    free_node(h);
}

/* Everything that ends the host's activity, then the drain of the
 * connections' write queues, then the node and the handles. */
static void host_stop_now(swarm_host_t *h) {
    if (h->stopping) return;
    h->stopping = 1;
    sw__host_workers_stop(h);
    sw__calls_stop(h);
    sw__calls_run_done(h);
    sw__reg_stop(h);
    drain_local(h); /* monitors and links among this host's own processes */
    flush(h);
    /* The stopped workers are freed by the check handle or with the host:
     * the stop may come from inside one of their callbacks. */
    if (!h->node || !h->published) {
        free_node(h);
        return;
    }
    h->stop_deadline = uv_now(h->loop) + STOP_DRAIN_MS;
    uv_timer_stop(&h->tick);
    uv_timer_start(&h->tick, on_drain_tick, 0, 20);
}

void swarm_host_stop(swarm_host_t *h, void (*done)(swarm_host_t *h, void *ud), void *ud) {
    if (!h || h->stopping) return;
    h->done = done;
    h->done_ud = ud;
    SW_INFO("host_stopping", "name=%s", h->name);
    host_stop_now(h);
}

swarm_host_t *swarm_host_new(uv_loop_t *loop, const swarm_host_config_t *cfg, int *err) {
    int e = SWARM_EINVAL;
    swarm_host_t *h = NULL;
    if (err) *err = SWARM_OK;
    /* The library's own copy of ei (libswarm.so carries one, hidden) is
     * initialised here, not by the program's ei_init(); a repeated call is
     * harmless. */
    ei_init();
    if (!cfg || !valid_node(cfg->name) || (cfg->nconnect && !cfg->connect)) goto fail;
    for (size_t i = 0; i < cfg->nconnect; i++)
        if (!valid_node(cfg->connect[i]) || strcmp(cfg->connect[i], cfg->name) == 0) goto fail;
    e = SWARM_ENOMEM;
    if (!(h = calloc(1, sizeof *h))) goto fail;
    e = sw__host_cookie(cfg, h->cookie, sizeof h->cookie);
    if (e != SWARM_OK) goto fail;
    e = SWARM_ENOMEM;
    snprintf(h->name, sizeof h->name, "%s", cfg->name);
    size_t al = (size_t)(strchr(cfg->name, '@') - cfg->name);
    memcpy(h->alive, cfg->name, al);
    snprintf(h->hostpart, sizeof h->hostpart, "%s", cfg->name + al + 1);
    h->tick_ms = cfg->tick_ms;
    h->register_timeout_ms = cfg->register_timeout_ms ? cfg->register_timeout_ms : 5000;
    h->utf8_atoms = cfg->utf8_atoms;
    h->spin_ns = cfg->spin_us < 0 ? 0 : (uint64_t)(cfg->spin_us ? cfg->spin_us : 100) * 1000u;
    h->on_ready = cfg->on_ready;
    h->ud = cfg->ud;
    for (size_t i = 0; i < cfg->nconnect; i++)
        if (!known_add(h, cfg->connect[i], 1)) goto fail;
    if (ei_x_new(&h->ctrl) != 0) goto fail;
    if (ei_x_new(&h->msg) != 0) goto fail;
    if (sw_dist_out_init(&h->out) != 0) goto fail;
    sw__host_self(h, &h->out.self);
    h->env.connect = env_connect;
    h->env.disconnect = env_disconnect;
    h->env.connected = env_connected;
    h->env.members = env_members;
    if (!(h->tracker = sw_tracker_new(h->name, h->name, &h->env, h))) goto fail;
    sw_tracker_set_host(h->tracker);
    sw_tracker_set_ring(h->tracker, 0, cfg->utf8_atoms ? SW_RING_ATOMS_UTF8 : 0);
    if (!(h->groups = sw_group_new(h->name))) goto fail;
    sw_group_set_host(h->groups);
    sw_group_set_connected(h->groups, env_connected, h);
    if (sw_dist_init(&h->dist, &h->out, h->tracker, h->groups, h->name) != 0) goto fail;
    h->dist_open = 1;
    sw_htab_init(&h->workers);
    sw_htab_init(&h->calls_tab);
    sw_htab_init(&h->regs_tab);
    h->regs_tail = &h->regs;
    if (!loop) {
        if (!(loop = malloc(sizeof *loop)) || uv_loop_init(loop) != 0) {
            free(loop);
            goto fail;
        }
        h->own_loop = 1;
    }
    h->loop = loop;
    uv_check_init(loop, &h->check);
    uv_idle_init(loop, &h->idle);
    uv_timer_init(loop, &h->tick);
    h->check.data = h->idle.data = h->tick.data = h;
    h->handles = 3;
    return h;

fail:
    if (h) {
        h->handles = 0;
        host_free(h);
    }
    if (err) *err = e;
    return NULL;
}

int swarm_host_start(swarm_host_t *h) {
    if (!h) return SWARM_EINVAL;
    if (h->started || h->stopping) return SWARM_ESTATE;
    sw_log_init_from_env();
    sw_log_set_node(h->name);
    sw_node_config_t nc;
    memset(&nc, 0, sizeof nc);
    nc.alive = h->alive;
    nc.host = h->hostpart;
    nc.cookie = h->cookie;
    nc.tick_ms = h->tick_ms;
    nc.extra_flags = HOST_FLAGS;
    h->node = sw_node_new(h->loop, &nc, &node_cbs, h);
    if (!h->node) return SWARM_ENOMEM;
    int r = sw_node_start(h->node);
    if (r < 0) {
        /* Nothing began: the host can be started again or stopped. */
        sw_node_free(h->node, NULL);
        h->node = NULL;
        return r;
    }
    h->out.node = h->node;
    h->started = 1;
    uv_check_start(&h->check, on_check);
    uv_timer_start(&h->tick, on_tick, SW_HOST_TICK_MS, SW_HOST_TICK_MS);
    return SWARM_OK;
}

int swarm_host_run(swarm_host_t *h) {
    if (!h) return SWARM_EINVAL;
    uv_loop_t *loop = h->loop;
    int own = h->own_loop;
    h->running = 1;
    /* After an iteration that handled frames, poll without sleeping until
     * spin_ns pass with none: under a steady stream of calls most wake-ups
     * (a context switch each, the largest cost of a call here) are skipped. */
    int alive = 1;
    while (alive) {
        uint64_t f = h->frames;
        alive = uv_run(loop, UV_RUN_ONCE);
        if (!alive || h->spin_ns == 0 || h->frames == f) continue;
        uint64_t last = uv_hrtime();
        while (alive) {
            uint64_t f2 = h->frames;
            alive = uv_run(loop, UV_RUN_NOWAIT);
            uint64_t now = uv_hrtime();
            if (h->frames != f2) last = now;
            else if (now - last > h->spin_ns) break;
        }
    }
    h->running = 0;
    int rc = h->run_err;
    int finished = h->finished;
    if (finished) host_free(h);
    if (own && finished) {
        uv_loop_close(loop);
        free(loop);
    }
    return rc < 0 ? rc : 0;
}

int swarm_host_connect(swarm_host_t *h, const char *beam) {
    if (!h || !valid_node(beam) || strcmp(beam, h->name) == 0) return SWARM_EINVAL;
    if (h->stopping) return SWARM_ESTOPPED;
    if (!add_beam(h, beam)) return SWARM_ENOMEM;
    return SWARM_OK;
}

uv_loop_t *swarm_host_loop(const swarm_host_t *h) { return h->loop; }
const char *swarm_host_node(const swarm_host_t *h) { return h->name; }
void *swarm_host_data(const swarm_host_t *h) { return h->ud; }
int swarm_host_ready(const swarm_host_t *h) { return h->ready; }

void swarm_host_stats(const swarm_host_t *h, swarm_host_stats_t *out) {
    *out = h->st;
    if (h->tracker) {
        sw_tracker_stats_t ts;
        sw_tracker_stats(h->tracker, &ts);
        out->names = ts.names;
        out->members = sw_tracker_members(h->tracker);
    }
}
