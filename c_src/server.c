/* server.c - see server.h.
 *
 * Control channel (stdin/stdout, each message <<Len:32/big, ExtTerm>>):
 *   BEAM -> node: {'$sw1', config, [{beam_node, Atom}, {alive, Bin},
 *                  {host, Bin}, {cookie, Bin}, {tick_ms, Int}?,
 *                  {transport, dist | port}?]} once, first.
 *   node -> BEAM: {'$sw1', ready, NodeAtom} | {'$sw1', error, Bin}, then
 *                 {'$sw1', log, Level, EventBin, TextBin}: the node's log
 *                 records, for the BEAM node's logger (see to_agent).
 * The cookie travels only here, never on the command line. EOF on stdin means
 * the BEAM node (or the application) is gone: the node stops.
 *
 * Two transports carry the messages between the node and its BEAM node:
 * - dist (the default): the node joins the cluster (node.c) and its BEAM
 *   node's processes talk to it over distribution, as to its peers;
 * - port, for a BEAM node without distribution (nonode@nohost): no epmd,
 *   no listener, no connection. Every frame on stdin after the
 *   configuration is a message to the swarm server, dispatched as a
 *   REG_SEND from the BEAM node would be (sw_dist_handle_local); every
 *   message to one of the BEAM node's processes leaves on stdout as
 *   {'$sw1', deliver, Pid, Msg} (the out's local sink), which the agent
 *   delivers. There are no peers: the registry is a single node's.
 *
 * Who calls whom: the server owns and calls everything below it; node.c
 * reports to it through sw_node_cbs_t, the tracker through
 * sw_tracker_env_t; dist.c and group_io.c know the parts they are given,
 * never the server. */
#include "server.h"

#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "control.h"
#include "dist.h"
#include "dist_send.h"
#include "group.h"
#include "group_io.h"
#include "log.h"
#include "node.h"
#include "proto.h"
#include "ring.h"
#include "server_config.h"
#include "swarm_proto.h"
#include "term.h"
#include "tracker.h"

#define TICK_MS 500

typedef struct {
    uv_loop_t *loop;
    sw_node_t *node;
    sw_tracker_t *tracker;
    sw_group_t *groups;
    char beam[SW_MAXNODELEN + 1];  /* our BEAM node, "a@host" */
    char cnode[SW_MAXNODELEN + 1]; /* our own name, "swarm_a@host" */
    sw_dist_out_t out;  /* sends; out.node is node while it runs */
    sw_dist_t dist;     /* dispatch of received frames; dist.agent: the agent */
    int dist_open;

    sw_control_t ctl;   /* control channel: stdin, stdout */
    int configured;     /* the configuration came */
    int port_mode;      /* the port transport (no distribution) */
    int pipe_in;        /* dist for the peers, the BEAM node's messages on stdin */
    ei_x_buff fwd;      /* scratch for the head of deliver frames */
    uv_check_t flush;   /* drains outboxes after each round of I/O */
    uv_timer_t tick;    /* drives sw_tracker_tick */
    uv_signal_t sigterm;
    int stopping;
    int exit_code;
    sw_tracker_env_t env;
} sw_server_t;

static void stop(sw_server_t *s, int code);

/* ---- outboxes ---------------------------------------------------------- */

static void emit(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    sw_server_t *s = ud;
    int r;
    if (dest == SW_DEST_AGENT) r = sw_dist_send_pid(&s->out, &s->dist.agent, buf, len);
    else r = sw_dist_send_reg(&s->out, cnode, SW_SERVER_NAME, buf, len);
    if (r != 0)
        SW_WARN("send_failed", "to=%s bytes=%zu", dest == SW_DEST_AGENT ? "agent" : cnode, len);
}

/* ---- tracker environment ----------------------------------------------- */

static void env_connect(void *ud, const char *cnode) {
    sw_server_t *s = ud;
    if (s->node) sw_node_connect(s->node, cnode);
}

static int env_connected(void *ud, const char *cnode) {
    sw_server_t *s = ud;
    return s->node && sw_node_find(s->node, cnode) != NULL;
}

static void env_disconnect(void *ud, const char *cnode) {
    sw_server_t *s = ud;
    sw_conn_t *c = s->node ? sw_node_find(s->node, cnode) : NULL;
    if (c) sw_conn_close(c);
}

/* A process restarted here after its node went down keeps its groups. */
static void env_restarted(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    sw_server_t *s = ud;
    sw_group_io_restarted(s->groups, old_pid, new_pid);
}

/* ---- node callbacks ---------------------------------------------------- */

/* One control message to the BEAM (copied; it leaves in order, without
 * blocking the loop). */
static void write_control(sw_server_t *s, const char *buf, size_t len) {
    if (sw_control_write(&s->ctl, buf, len, NULL, 0) != 0)
        SW_WARN("control_write_failed", "bytes=%zu", len);
}

/* The port transport's local sink (sw_dist_out_t.local): msg for process
 * `to` of our BEAM node, as {'$sw1', deliver, To, Msg}; msg's bytes are
 * copied once, behind the encoded head. */
static int deliver_local(void *ud, const erlang_pid *to, const char *msg, size_t len) {
    sw_server_t *s = ud;
    /* No pid yet (the agent has not said hello since this node started):
     * lost, as over distribution, where no connection leads to it. */
    if (len < 2 || (unsigned char)msg[0] != 131 || to->node[0] == 0) return -1;
    ei_x_buff *x = &s->fwd;
    x->index = 0;
    if (ei_x_encode_version(x) || ei_x_encode_tuple_header(x, 4) ||
        ei_x_encode_atom(x, SW_PROTO_TAG) || sw_proto_encode(x, SW_MSG_DELIVER) ||
        ei_x_encode_pid(x, to))
        return -1;
    return sw_control_write(&s->ctl, x->buff, (size_t)x->index, msg + 1, len - 1) == 0 ? 0 : -1;
}

/* The log sink once the node is ready (the agent owns the control channel
 * then): each record goes to the agent as {'$sw1', log, Level, Event,
 * Text} on the control channel rather than over distribution, so it
 * reaches the BEAM node's logger even while a distribution link is down.
 * It goes through the control channel's write queue, in order with the
 * other frames, never blocking the loop; while more than LOG_QUEUE_MAX
 * bytes wait there (a BEAM node that stopped reading), the record goes to
 * stderr instead (log.c's fallback), as does a record logged while one is
 * being queued (control.c logs its own failures). log.c's rate limit
 * bounds the flow. */
#define LOG_QUEUE_MAX (1u << 20)
static int to_agent(void *ud, sw_log_level_t lvl, const char *node, const char *event,
                    const char *text, size_t len) {
    static int in_sink;
    sw_server_t *s = ud;
    (void)node; /* the agent knows its C node */
    if (in_sink || len > 1024 || strlen(event) >= 64 || sw_control_queued(&s->ctl) > LOG_QUEUE_MAX)
        return -1;
    char frame[1280];
    int i = 0;
    ei_encode_version(frame, &i);
    ei_encode_tuple_header(frame, &i, 5);
    ei_encode_atom(frame, &i, SW_PROTO_TAG);
    ei_encode_atom(frame, &i, sw_msg_name[SW_MSG_LOG]);
    ei_encode_atom(frame, &i, sw_log_level_name(lvl));
    /* A binary: the BEAM decodes with [safe], which refuses new atoms. */
    ei_encode_binary(frame, &i, event, (long)strlen(event));
    ei_encode_binary(frame, &i, text, (long)len);
    in_sink = 1;
    int r = sw_control_write(&s->ctl, frame, (size_t)i, NULL, 0);
    in_sink = 0;
    return r == 0 ? 0 : -1;
}

/* The node runs as `name` (its server's pid is <name.1.0> of `creation`):
 * {'$sw1', ready, Name} tells the BEAM. */
static void report_ready(sw_server_t *s, const char *name, unsigned creation) {
    ei_x_buff x;
    if (ei_x_new_with_version(&x) != 0) {
        stop(s, 1);
        return;
    }
    erlang_pid *self = &s->out.self;
    memset(self, 0, sizeof *self);
    snprintf(self->node, sizeof self->node, "%s", name);
    self->num = 1;
    self->serial = 0;
    self->creation = creation;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    sw_proto_encode(&x, SW_MSG_READY);
    ei_x_encode_atom(&x, name);
    write_control(s, x.buff, (size_t)x.index);
    ei_x_free(&x);
    /* SWARM_LOG_SINK=stderr keeps the records on stderr (tests and
     * operators that read the node's lines). */
    const char *sink = getenv("SWARM_LOG_SINK");
    if (!sink || strcmp(sink, "stderr") != 0) sw_log_set_sink(to_agent, s);
    SW_DEBUG("started", "beam=%s creation=%u transport=%s", s->beam, creation,
             s->port_mode ? "port" : "dist");
}

static void on_started(sw_node_t *n, int err, void *ud) {
    sw_server_t *s = ud;
    if (err == 0) {
        report_ready(s, sw_node_name(n), sw_node_creation(n));
        return;
    }
    ei_x_buff x;
    if (ei_x_new_with_version(&x) == 0) {
        char why[128];
        snprintf(why, sizeof why, "start_failed: %s", err < 0 ? uv_strerror(err) : "unknown");
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, SW_PROTO_TAG);
        sw_proto_encode(&x, SW_MSG_ERROR);
        ei_x_encode_binary(&x, why, (int)strlen(why));
        write_control(s, x.buff, (size_t)x.index);
        ei_x_free(&x);
    }
    SW_ERROR("start_failed", "err=%d", err);
    stop(s, 1);
}

static void on_up(sw_node_t *n, sw_conn_t *c, void *ud) {
    sw_server_t *s = ud;
    const char *peer = sw_conn_peer(c);
    if (strcmp(peer, s->beam) != 0) {
        sw_tracker_conn_up(s->tracker, peer);
        sw_group_conn_up(s->groups, peer);
    }
}

static void on_frame(sw_node_t *n, sw_conn_t *c, const char *buf, size_t len, void *ud) {
    sw_server_t *s = ud;
    sw_dist_handle(&s->dist, sw_conn_peer(c), buf, len);
}

static void on_down(sw_node_t *n, sw_conn_t *c, sw_down_reason_t why, void *ud) {
    sw_server_t *s = ud;
    const char *peer = sw_conn_peer(c);
    if (strcmp(peer, s->beam) != 0) {
        sw_tracker_conn_down(s->tracker, peer);
        sw_group_conn_down(s->groups, peer);
    } else if (!s->stopping) {
        /* The link to our own BEAM node dropped while it is alive (stdin is
         * still open): dial it back so the agent keeps getting the stream. */
        sw_node_connect(s->node, s->beam);
    }
}

static void on_connect_failed(sw_node_t *n, const char *name, int err, void *ud) {
    SW_DEBUG("connect_failed", "peer=%s err=%d", name, err);
}

static const sw_node_cbs_t node_cbs = {on_started, on_up, on_frame, on_down, on_connect_failed};

/* ---- loop handles ------------------------------------------------------ */

/* The loop handles below run from sw_server_run() on, but the tracker and
 * the groups exist only once the configuration arrived (start_node), and
 * only partly when start_node failed half-way: each one is tested. */
static void on_flush(uv_check_t *h) {
    sw_server_t *s = h->data;
    if (s->tracker && sw_tracker_pending(s->tracker)) sw_tracker_flush(s->tracker, emit, s);
    sw_group_io_flush(s->groups, &s->out);
}

static void on_tick(uv_timer_t *h) {
    sw_server_t *s = h->data;
    sw_log_tick();
    /* The timer runs from the start; the tracker and the groups exist only
     * once the configuration has come (it may come late on a busy host). */
    if (!s->tracker || !s->groups) return;
    sw_tracker_tick(s->tracker, uv_now(s->loop));
    if (sw_tracker_pending(s->tracker)) sw_tracker_flush(s->tracker, emit, s);
    sw_group_tick(s->groups, uv_now(s->loop));
    sw_group_io_flush(s->groups, &s->out);
}

static void on_sigterm(uv_signal_t *h, int sig) {
    SW_DEBUG("signal", "sig=%d", sig);
    stop(h->data, 0);
}

/* ---- configuration ----------------------------------------------------- */

static int dec_str(const char *buf, int *index, char *out, size_t cap) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) != 0 || size < 0 || (size_t)size >= cap) return -1;
    if (type == ERL_BINARY_EXT) {
        long l;
        if (ei_decode_binary(buf, index, out, &l) != 0) return -1;
        out[l] = 0;
        return 0;
    }
    if (type == ERL_STRING_EXT) return ei_decode_string(buf, index, out);
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT)
        return cap >= MAXATOMLEN_UTF8 ? ei_decode_atom(buf, index, out) : -1;
    return -1;
}

static int copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

int sw__server_parse_config(const char *buf, size_t len, sw__server_config_t *cfg) {
    int index = 0, version, arity, n;
    char atom[MAXATOMLEN_UTF8];
    memset(cfg, 0, sizeof *cfg);
    cfg->restart_intensity = -1;
    cfg->restart_period_ms = -1;
    int vi = 1;
    if (len < 2 || len > INT32_MAX || (unsigned char)buf[0] != 131 ||
        sw_term_validate_depth(buf, len, &vi, SW_TERM_MAX_DEPTH) != 0 || (size_t)vi != len)
        return -1;
    if (ei_decode_version(buf, &index, &version) || ei_decode_tuple_header(buf, &index, &arity) ||
        arity != 3 || ei_decode_atom(buf, &index, atom) || strcmp(atom, SW_PROTO_TAG) ||
        ei_decode_atom(buf, &index, atom) || sw_proto_lookup(atom) != SW_MSG_CONFIG ||
        ei_decode_list_header(buf, &index, &n))
        return -1;
    for (int i = 0; i < n; i++) {
        char val[MAXATOMLEN_UTF8 > 1024 ? MAXATOMLEN_UTF8 : 1024];
        if (ei_decode_tuple_header(buf, &index, &arity) || arity != 2 ||
            ei_decode_atom(buf, &index, atom))
            return -1;
        long *num = strcmp(atom, "tick_ms") == 0             ? &cfg->tick_ms
                    : strcmp(atom, "quorum") == 0            ? &cfg->quorum
                    : strcmp(atom, "otp_release") == 0       ? &cfg->otp_release
                    : strcmp(atom, "restart") == 0           ? &cfg->restart
                    : strcmp(atom, "optimistic") == 0        ? &cfg->optimistic
                    : strcmp(atom, "restart_intensity") == 0 ? &cfg->restart_intensity
                    : strcmp(atom, "restart_period_ms") == 0 ? &cfg->restart_period_ms
                                                             : NULL;
        if (num) {
            long v;
            if (ei_decode_long(buf, &index, &v) || v < 0 || v > INT32_MAX) return -1;
            if (num == &cfg->restart && v > SW_RESTART_PERMANENT) return -1;
            if (num == &cfg->optimistic && v > 1) return -1;
            *num = v;
            continue;
        }
        if (strcmp(atom, "beam_node") && strcmp(atom, "alive") && strcmp(atom, "host") &&
            strcmp(atom, "cookie") && strcmp(atom, "transport")) {
            /* Unknown keys are skipped so newer Erlang sides can add settings. */
            if (sw_term_skip(buf, &index)) return -1;
            continue;
        }
        if (dec_str(buf, &index, val, sizeof val)) return -1;
        int r = 0;
        if (strcmp(atom, "beam_node") == 0) r = copy_str(cfg->beam, sizeof cfg->beam, val);
        else if (strcmp(atom, "alive") == 0) r = copy_str(cfg->alive, sizeof cfg->alive, val);
        else if (strcmp(atom, "host") == 0) r = copy_str(cfg->host, sizeof cfg->host, val);
        else if (strcmp(atom, "cookie") == 0) r = copy_str(cfg->cookie, sizeof cfg->cookie, val);
        else if (strcmp(val, "port") == 0) cfg->port_transport = 1;
        else if (strcmp(val, "dist") == 0) cfg->port_transport = 0;
        else if (strcmp(val, "pipe") == 0) cfg->pipe_in = 1;
        else r = -1;
        if (r != 0) return -1;
    }
    return cfg->beam[0] && cfg->alive[0] && cfg->host[0] && cfg->cookie[0] ? 0 : -1;
}

static int start_node(sw_server_t *s, const sw__server_config_t *cfg) {
    if (strlen(cfg->alive) + 1 + strlen(cfg->host) > SW_MAXNODELEN) return -1;
    memcpy(s->beam, cfg->beam, sizeof s->beam);
    strcpy(s->cnode, cfg->alive);
    strcat(s->cnode, "@");
    strcat(s->cnode, cfg->host);
    sw_log_set_node(s->cnode);
    sw_node_config_t nc;
    memset(&nc, 0, sizeof nc);
    nc.alive = cfg->alive;
    nc.host = cfg->host;
    nc.cookie = cfg->cookie;
    nc.tick_ms = cfg->tick_ms > 0 ? (unsigned)cfg->tick_ms : 0;
    s->env.connect = env_connect;
    s->env.disconnect = env_disconnect;
    s->env.connected = env_connected;
    s->env.restarted = env_restarted;
    s->tracker = sw_tracker_new(s->beam, s->cnode, &s->env, s);
    if (!s->tracker) return -1;
    sw_tracker_set_ring(s->tracker, (unsigned)cfg->quorum,
                        cfg->otp_release >= 26 ? SW_RING_ATOMS_UTF8 : 0);
    sw_tracker_set_restart(s->tracker, (sw_restart_t)cfg->restart,
                           cfg->restart_intensity >= 0 ? (unsigned)cfg->restart_intensity : 3,
                           cfg->restart_period_ms >= 0 ? (unsigned)cfg->restart_period_ms : 5000);
    sw_tracker_set_optimistic(s->tracker, (int)cfg->optimistic);
    /* The tracker's clock from the start, not from the first tick: what it
     * stamps before then (an orphan kept, a restart counted, a claim's
     * deadline) is measured against the loop's time. */
    uv_update_time(s->loop);
    sw_tracker_tick(s->tracker, uv_now(s->loop));
    s->groups = sw_group_new(s->beam);
    if (!s->groups) return -1;
    /* Its clock too: swarm_groups' hello may come before the first tick,
     * and its initial sync's timeout counts from the time it stamps. */
    sw_group_tick(s->groups, uv_now(s->loop));
    sw_group_set_connected(s->groups, env_connected, s);
    if (sw_dist_init(&s->dist, &s->out, s->tracker, s->groups, s->beam) != 0) return -1;
    s->dist_open = 1;
    if (cfg->port_transport) {
        /* No network: the BEAM's messages come on stdin, large ones too (a
         * hello with every local name), and ours leave on stdout. */
        s->port_mode = 1;
        s->out.local = deliver_local;
        s->out.local_ud = s;
        sw_control_set_max(&s->ctl, SW_NODE_MAX_FRAME);
        report_ready(s, s->cnode, 1);
        return 0;
    }
    if (cfg->pipe_in) {
        /* The BEAM node's messages come on stdin (a hello with every local
         * name among them); ours leave by distribution. */
        s->pipe_in = 1;
        sw_control_set_max(&s->ctl, SW_NODE_MAX_FRAME);
    }
    s->node = sw_node_new(s->loop, &nc, &node_cbs, s);
    if (!s->node) return -1;
    s->out.node = s->node;
    return sw_node_start(s->node);
}

/* ---- control channel --------------------------------------------------- */

static void on_control(sw_control_t *c, const char *body, size_t len, void *ud) {
    sw_server_t *s = ud;
    if (s->stopping) return;
    if (s->port_mode || s->pipe_in) {
        sw_dist_handle_local(&s->dist, body, len);
        return;
    }
    if (s->configured) {
        SW_WARN("control_unexpected", "len=%zu", len);
        return;
    }
    s->configured = 1;
    sw__server_config_t cfg;
    if (sw__server_parse_config(body, len, &cfg) != 0 || start_node(s, &cfg) != 0) {
        memset(&cfg, 0, sizeof cfg);
        SW_ERROR("bad_config", "len=%zu", len);
        stop(s, 2);
        return;
    }
    memset(&cfg, 0, sizeof cfg); /* do not leave the cookie on the stack */
}

static void on_control_end(sw_control_t *c, int err, void *ud) {
    sw_server_t *s = ud;
    if (err == UV_EOF) {
        SW_DEBUG("control_closed", "reason=eof");
        stop(s, 0);
    } else {
        SW_ERROR("control_closed", "reason=%s queued=%zu", uv_strerror(err), sw_control_queued(c));
        stop(s, 2);
    }
}

/* ---- lifecycle --------------------------------------------------------- */

static void on_node_freed(sw_node_t *n, void *ud) {
    (void)n;
    (void)ud;
}

static void stop(sw_server_t *s, int code) {
    if (s->stopping) return;
    s->stopping = 1;
    s->exit_code = code;
    if (s->node) {
        sw_node_free(s->node, on_node_freed);
        s->node = NULL;
        s->out.node = NULL;
    }
    sw_control_close(&s->ctl);
    uv_close((uv_handle_t *)&s->flush, NULL);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

int sw_server_run(int in_fd, int out_fd) {
    sw_server_t *s = calloc(1, sizeof *s);
    if (!s) return 1;
    signal(SIGPIPE, SIG_IGN);
    s->loop = uv_default_loop();
    if (sw_dist_out_init(&s->out) != 0) {
        free(s);
        return 1;
    }
    if (ei_x_new(&s->fwd) != 0) {
        sw_dist_out_close(&s->out);
        free(s);
        return 1;
    }
    int r = sw_control_init(&s->ctl, s->loop, in_fd, out_fd, on_control, on_control_end, s);
    if (r != 0) {
        SW_ERROR("control_open_failed", "in=%d out=%d err=%s", in_fd, out_fd, uv_strerror(r));
        sw_control_close(&s->ctl);
        uv_run(s->loop, UV_RUN_DEFAULT);
        ei_x_free(&s->fwd);
        sw_dist_out_close(&s->out);
        free(s);
        uv_loop_close(uv_default_loop());
        return 1;
    }
    uv_check_init(s->loop, &s->flush);
    s->flush.data = s;
    uv_check_start(&s->flush, on_flush);
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->tick);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_sigterm, SIGTERM);
    uv_unref((uv_handle_t *)&s->sigterm);

    uv_run(s->loop, UV_RUN_DEFAULT);
    sw_log_set_sink(NULL, NULL);

    int code = s->exit_code;
    if (s->dist_open) sw_dist_close(&s->dist);
    sw_tracker_free(s->tracker);
    sw_group_free(s->groups);
    sw_dist_out_close(&s->out);
    ei_x_free(&s->fwd);
    free(s);
    uv_loop_close(uv_default_loop());
    SW_DEBUG("stopped", "code=%d", code);
    return code;
}
