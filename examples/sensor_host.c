/* sensor_host.c - a C host with N sensor workers, called from BEAM nodes.
 *
 *   priv/sensor_host --name sensors@127.0.0.1 --cookie-file ~/.erlang.cookie \
 *                    --connect a@127.0.0.1 [--connect b@127.0.0.1 ...] --sensors 10
 *                    [--idle M] [--spin-us US]
 *
 * Hosts N workers named {sensor, I} (I = 1..N), each a member of the group
 * `sensors`. From any BEAM node of the cluster:
 *
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, :read)       -> {1, Value}
 *   GenServer.cast({:via, :swarm, {:sensor, 1}}, {:set, 42})   (Value = 42)
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, {:slow, 200}) -> :done, 200 ms
 *       later, from a timer: the other sensors keep answering meanwhile
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, {:compute, N}) -> {:sum, S},
 *       S = 1 + ... + N computed on libuv's thread pool, off the loop
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, {:call, Name, Msg})
 *       -> {:ok, Reply} | {:error, Why}: the sensor calls the process
 *       registered as Name (a GenServer on a BEAM node) and relays its reply
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, {:register, Name}) -> :yes | :no
 *       (an extra name for this sensor)
 *   GenServer.call({:via, :swarm, {:sensor, 1}}, :stop)        -> :ok, then the
 *       sensor stops (reason normal); {:stop, Reason}: stops with Reason
 *   Swarm.publish(:sensors, msg) / Swarm.multi_call(:sensors, :read)
 *
 * --idle M adds M workers without names or callbacks (what an idle worker
 * costs: bench/host_bench.erl measures the host's memory with them).
 * --spin-us: the config's spin_us (how long the loop polls after work
 * before it sleeps; default 100, -1 never).
 *
 * The cookie is read from the file (or the environment variable
 * SWARM_COOKIE), never from the command line. One line on stdout when the
 * host is ready; SIGTERM or SIGINT stops it cleanly (workers stop with
 * reason shutdown, their names leave the cluster). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm.h"

typedef struct {
    swarm_worker_t *w;
    long id;
    char *value; /* the Value term's bytes (without 131); NULL: 0 */
    size_t vlen;
} sensor_t;

typedef struct {
    swarm_from_t *from;
} pending_t;

static long n_sensors = 1;
static long n_idle = 0;
static long n_registered = 0;
static int ready_logged = 0;
static uv_signal_t sig_term, sig_int;

/* ---- terms --------------------------------------------------------------- */

/* Encodes into x (fresh, with version) and hands it to swarm_reply. */
static void reply_atom(swarm_from_t *from, const char *atom) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, atom);
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

static void reply_pair_atom(swarm_from_t *from, const char *a, const char *b) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, a);
    ei_x_encode_atom(&x, b);
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* The byte range [*index, end of term) of the term at buf[*index]; moves
 * *index past it. -1 if malformed. */
static int term_span(const char *buf, int *index, const char **start, size_t *len) {
    int at = *index;
    if (ei_skip_term(buf, index) != 0) return -1;
    *start = buf + at;
    *len = (size_t)(*index - at);
    return 0;
}

/* A fresh term (with 131) made of the bytes of one term (without 131). */
static void wrap_term(ei_x_buff *x, const char *t, size_t len) {
    ei_x_new_with_version(x);
    ei_x_append_buf(x, t, (int)len);
}

/* ---- a sensor's callbacks ------------------------------------------------ */

static void slow_done(swarm_host_t *h, void *ud) {
    pending_t *p = ud;
    reply_atom(p->from, "done");
    free(p);
}

typedef struct {
    swarm_from_t *from;
    long n;
    long long sum;
} compute_t;

static void compute_work(void *ud) { /* on a thread of the pool */
    compute_t *c = ud;
    long long s = 0;
    for (long i = 1; i <= c->n; i++) s += i;
    c->sum = s;
}

static void compute_done(swarm_host_t *h, int status, void *ud) {
    compute_t *c = ud;
    if (status == SWARM_OK) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "sum");
        ei_x_encode_longlong(&x, c->sum);
        swarm_reply(c->from, x.buff, (size_t)x.index);
        ei_x_free(&x);
    } else {
        swarm_from_free(c->from);
    }
    free(c);
}

static void relay_done(swarm_worker_t *w, int status, const char *reply, size_t len, void *ud) {
    pending_t *p = ud;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    if (status == SWARM_OK) {
        ei_x_encode_atom(&x, "ok");
        ei_x_append_buf(&x, reply + 1, (int)len - 1); /* the Reply, without its 131 */
    } else {
        ei_x_encode_atom(&x, "error");
        ei_x_encode_atom(&x, status == SWARM_ENOTFOUND ? "noproc"
                             : status == SWARM_ETIMEDOUT ? "timeout"
                             : status == SWARM_ENOTCONN ? "noconnection"
                             : status == SWARM_EEXIT ? "exit"
                                                     : "stopped");
    }
    swarm_reply(p->from, x.buff, (size_t)x.index);
    ei_x_free(&x);
    free(p);
}

static void extra_registered(swarm_worker_t *w, int result, const erlang_pid *holder, void *ud) {
    pending_t *p = ud;
    reply_atom(p->from, result == SWARM_OK ? "yes" : "no");
    free(p);
}

static void sensor_call(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len) {
    sensor_t *s = swarm_worker_data(w);
    int i = 0, version, arity, type, size;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_version(msg, &i, &version) != 0) goto unknown;
    if (ei_get_type(msg, &i, &type, &size) != 0) goto unknown;
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        if (ei_decode_atom(msg, &i, atom) != 0) goto unknown;
        if (strcmp(atom, "read") == 0) {
            ei_x_buff x;
            ei_x_new_with_version(&x);
            ei_x_encode_tuple_header(&x, 2);
            ei_x_encode_long(&x, s->id);
            if (s->value) ei_x_append_buf(&x, s->value, (int)s->vlen);
            else ei_x_encode_long(&x, 0);
            swarm_reply(from, x.buff, (size_t)x.index);
            ei_x_free(&x);
            return;
        }
        if (strcmp(atom, "stop") == 0) {
            reply_atom(from, "ok");
            swarm_worker_stop(w, NULL, 0);
            return;
        }
        goto unknown;
    }
    if (ei_decode_tuple_header(msg, &i, &arity) != 0 || arity < 2) goto unknown;
    if (ei_decode_atom(msg, &i, atom) != 0) goto unknown;
    if (strcmp(atom, "slow") == 0 && arity == 2) {
        long ms;
        if (ei_decode_long(msg, &i, &ms) != 0 || ms < 0 || ms > 600000) goto unknown;
        pending_t *p = malloc(sizeof *p);
        if (!p) goto unknown;
        p->from = from;
        if (swarm_after(swarm_worker_host(w), (unsigned)ms, slow_done, p) != SWARM_OK) {
            free(p);
            goto unknown;
        }
        return;
    }
    if (strcmp(atom, "compute") == 0 && arity == 2) {
        long n;
        if (ei_decode_long(msg, &i, &n) != 0 || n < 0) goto unknown;
        compute_t *c = malloc(sizeof *c);
        if (!c) goto unknown;
        c->from = from;
        c->n = n;
        c->sum = 0;
        if (swarm_work(swarm_worker_host(w), compute_work, compute_done, c) != SWARM_OK) {
            free(c);
            goto unknown;
        }
        return;
    }
    if (strcmp(atom, "call") == 0 && arity == 3) {
        const char *name, *m;
        size_t nlen, mlen;
        if (term_span(msg, &i, &name, &nlen) != 0 || term_span(msg, &i, &m, &mlen) != 0) goto unknown;
        ei_x_buff xn, xm;
        wrap_term(&xn, name, nlen);
        wrap_term(&xm, m, mlen);
        pending_t *p = malloc(sizeof *p);
        int r = p ? swarm_call(w, xn.buff, (size_t)xn.index, xm.buff, (size_t)xm.index, 5000,
                               relay_done, p)
                  : SWARM_ENOMEM;
        ei_x_free(&xn);
        ei_x_free(&xm);
        if (r != SWARM_OK) {
            free(p);
            reply_pair_atom(from, "error", "badarg");
            return;
        }
        p->from = from;
        return;
    }
    if (strcmp(atom, "register") == 0 && arity == 2) {
        const char *name;
        size_t nlen;
        if (term_span(msg, &i, &name, &nlen) != 0) goto unknown;
        ei_x_buff xn;
        wrap_term(&xn, name, nlen);
        pending_t *p = malloc(sizeof *p);
        int r = p ? swarm_register(w, xn.buff, (size_t)xn.index, extra_registered, p) : SWARM_ENOMEM;
        ei_x_free(&xn);
        if (r != SWARM_OK) {
            free(p);
            reply_atom(from, "no");
            return;
        }
        p->from = from;
        return;
    }
    if (strcmp(atom, "stop") == 0 && arity == 2) {
        const char *why;
        size_t wlen;
        if (term_span(msg, &i, &why, &wlen) != 0) goto unknown;
        ei_x_buff xw;
        wrap_term(&xw, why, wlen);
        reply_atom(from, "ok");
        swarm_worker_stop(w, xw.buff, (size_t)xw.index);
        ei_x_free(&xw);
        return;
    }
unknown:
    reply_pair_atom(from, "error", "unknown_call");
}

static void sensor_cast(swarm_worker_t *w, const char *msg, size_t len) {
    sensor_t *s = swarm_worker_data(w);
    int i = 0, version, arity;
    char atom[MAXATOMLEN_UTF8];
    const char *v;
    size_t vlen;
    if (ei_decode_version(msg, &i, &version) != 0 || ei_decode_tuple_header(msg, &i, &arity) != 0 ||
        arity != 2 || ei_decode_atom(msg, &i, atom) != 0 || strcmp(atom, "set") != 0 ||
        term_span(msg, &i, &v, &vlen) != 0)
        return;
    char *copy = malloc(vlen);
    if (!copy) return;
    memcpy(copy, v, vlen);
    free(s->value);
    s->value = copy;
    s->vlen = vlen;
}

static void sensor_terminate(swarm_worker_t *w, const char *reason, size_t len) {
    sensor_t *s = swarm_worker_data(w);
    free(s->value);
    free(s);
}

static const swarm_worker_cbs_t sensor_cbs = {sensor_call, sensor_cast, NULL, sensor_terminate};

/* ---- the host -------------------------------------------------------------- */

static void log_ready(swarm_host_t *h) {
    if (ready_logged || n_registered < n_sensors || !swarm_host_ready(h)) return;
    ready_logged = 1;
    printf("sensor_host ready node=%s sensors=%ld\n", swarm_host_node(h), n_sensors);
    fflush(stdout);
}

static void registered(swarm_worker_t *w, int result, const erlang_pid *holder, void *ud) {
    sensor_t *s = ud;
    if (result != SWARM_OK) {
        fprintf(stderr, "sensor_host: {sensor, %ld} not registered: %s\n", s->id,
                swarm_strerror(result));
        if (w) swarm_worker_stop(w, NULL, 0);
    }
    n_registered++;
    if (w) log_ready(swarm_worker_host(w));
}

static void on_ready(swarm_host_t *h, void *ud) { log_ready(h); }

static const swarm_worker_cbs_t idle_cbs = {NULL, NULL, NULL, NULL};

static void start_idle(swarm_host_t *h) {
    for (long k = 0; k < n_idle; k++)
        if (!swarm_worker_new(h, &idle_cbs, NULL)) {
            fprintf(stderr, "sensor_host: only %ld idle workers\n", k);
            break;
        }
}

static void start_sensors(swarm_host_t *h) {
    for (long id = 1; id <= n_sensors; id++) {
        sensor_t *s = calloc(1, sizeof *s);
        if (!s) break;
        s->id = id;
        s->w = swarm_worker_new(h, &sensor_cbs, s);
        if (!s->w) {
            free(s);
            break;
        }
        ei_x_buff name, group;
        ei_x_new_with_version(&name);
        ei_x_encode_tuple_header(&name, 2);
        ei_x_encode_atom(&name, "sensor");
        ei_x_encode_long(&name, id);
        ei_x_new_with_version(&group);
        ei_x_encode_atom(&group, "sensors");
        if (swarm_register(s->w, name.buff, (size_t)name.index, registered, s) != SWARM_OK)
            n_registered++;
        swarm_join(s->w, group.buff, (size_t)group.index);
        ei_x_free(&name);
        ei_x_free(&group);
    }
}

/* The signal watchers are unreferenced (they do not keep the loop alive)
 * and closed once the host has stopped, before its loop is closed. */
static void on_stopped(swarm_host_t *h, void *ud) {
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *sig, int signum) {
    swarm_host_stop(sig->data, on_stopped, NULL);
}

static void usage(void) {
    fprintf(stderr, "usage: sensor_host --name NODE --cookie-file FILE --connect BEAMNODE "
                    "[--connect BEAMNODE ...] --sensors N [--idle M] [--spin-us US]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *name = NULL, *cookie_file = NULL;
    const char *connect[64];
    size_t nconnect = 0;
    int spin_us = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--name") == 0) name = argv[++i];
        else if (strcmp(argv[i], "--cookie-file") == 0) cookie_file = argv[++i];
        else if (strcmp(argv[i], "--connect") == 0 && nconnect < 64) connect[nconnect++] = argv[++i];
        else if (strcmp(argv[i], "--sensors") == 0) {
            char *end;
            errno = 0;
            n_sensors = strtol(argv[++i], &end, 10);
            if (errno || *end || n_sensors < 0 || n_sensors > 10000000) usage();
        } else if (strcmp(argv[i], "--idle") == 0) {
            char *end;
            errno = 0;
            n_idle = strtol(argv[++i], &end, 10);
            if (errno || *end || n_idle < 0 || n_idle > 100000000) usage();
        } else if (strcmp(argv[i], "--spin-us") == 0) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || *end || v < -1 || v > 1000000) usage();
            spin_us = (int)v;
        } else usage();
    }
    if (!name || nconnect == 0) usage();

    swarm_host_config_t cfg = {0};
    cfg.name = name;
    cfg.cookie_file = cookie_file;
    cfg.connect = connect;
    cfg.nconnect = nconnect;
    cfg.spin_us = spin_us;
    cfg.on_ready = on_ready;
    int err = 0;
    swarm_host_t *h = swarm_host_new(NULL, &cfg, &err);
    if (!h) {
        fprintf(stderr, "sensor_host: %s\n", swarm_strerror(err));
        return 1;
    }
    uv_loop_t *loop = swarm_host_loop(h);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    sig_term.data = sig_int.data = h;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_unref((uv_handle_t *)&sig_term);
    uv_unref((uv_handle_t *)&sig_int);
    if ((err = swarm_host_start(h)) != SWARM_OK) {
        fprintf(stderr, "sensor_host: start: %s\n", swarm_strerror(err));
        return 1;
    }
    start_idle(h);
    start_sensors(h);
    int r = swarm_host_run(h);
    return r == 0 ? 0 : 1;
}
