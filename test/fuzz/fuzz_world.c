/* fuzz_world.c - see fuzz_world.h. */
#include "fuzz_world.h"

#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "fuzz.h"
#include "group_io.h"
#include "swarm_proto.h"
#include "term.h"

static uv_loop_t loop;
static sw_node_t *node;
static const sw_node_cbs_t no_cbs;

/* The setup frames, built once. */
static ei_x_buff f_hello, f_ghello, f_ops, f_gops;

static erlang_pid mkpid(const char *nodename, unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    strcpy(p.node, nodename);
    p.num = num;
    p.serial = 0;
    p.creation = 1;
    return p;
}

/* term_to_binary({Tag, I}) as a binary term, byte for byte as OTP 25's
 * term_to_binary/2 writes it (ATOM_EXT, SMALL_INTEGER_EXT; 0 <= i < 256):
 * names are compared as bytes, and the seeds come from a BEAM. */
static void enc_tagged_bin(ei_x_buff *x, const char *tag, long i) {
    char b[300];
    size_t tl = strlen(tag);
    b[0] = (char)131;
    b[1] = 104; /* SMALL_TUPLE_EXT */
    b[2] = 2;
    b[3] = 100; /* ATOM_EXT */
    b[4] = 0;
    b[5] = (char)tl;
    memcpy(b + 6, tag, tl);
    b[6 + tl] = 97; /* SMALL_INTEGER_EXT */
    b[7 + tl] = (char)i;
    ei_x_encode_binary(x, b, (int)(8 + tl));
}

/* {6, From, '', swarm} then the version byte and {'$sw1', Tag, ...} of
 * arity `arity` (the caller adds the rest). */
static void begin_frame(ei_x_buff *x, const erlang_pid *from, const char *tag, int arity) {
    ei_x_new_with_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, SW_DOP_REG_SEND);
    ei_x_encode_pid(x, from);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, SW_SERVER_NAME);
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    ei_x_encode_atom(x, tag);
}

static void build_frames(void) {
    erlang_pid agent = mkpid(W_BEAM, 999), proc = mkpid(W_BEAM, 998), holder = mkpid(W_BEAM, 997);
    erlang_pid peer_srv = mkpid(W_PEER, 1);

    /* {'$sw1', hello, Agent, [{NameBin, Pid}], [{Beam, CNode}]} */
    begin_frame(&f_hello, &agent, "hello", 5);
    ei_x_encode_pid(&f_hello, &agent);
    ei_x_encode_list_header(&f_hello, 4);
    for (int i = 0; i < 4; i++) {
        erlang_pid p = mkpid(W_BEAM, (unsigned)i + 1);
        ei_x_encode_tuple_header(&f_hello, 2);
        enc_tagged_bin(&f_hello, "worker", i);
        ei_x_encode_pid(&f_hello, &p);
    }
    ei_x_encode_empty_list(&f_hello);
    ei_x_encode_list_header(&f_hello, 2);
    ei_x_encode_tuple_header(&f_hello, 2);
    ei_x_encode_atom(&f_hello, W_PEER_BEAM);
    ei_x_encode_atom(&f_hello, W_PEER);
    ei_x_encode_tuple_header(&f_hello, 2);
    ei_x_encode_atom(&f_hello, W_OTHER_BEAM);
    ei_x_encode_atom(&f_hello, W_OTHER);
    ei_x_encode_empty_list(&f_hello);

    /* {'$sw1', ghello, Proc, [{GroupBin, [Pid]}], Holder} */
    begin_frame(&f_ghello, &proc, "ghello", 5);
    ei_x_encode_pid(&f_ghello, &proc);
    ei_x_encode_list_header(&f_ghello, 2);
    for (int g = 0; g < 2; g++) {
        ei_x_encode_tuple_header(&f_ghello, 2);
        enc_tagged_bin(&f_ghello, "group", g);
        ei_x_encode_list_header(&f_ghello, 2);
        for (int k = 0; k < 2; k++) {
            erlang_pid p = mkpid(W_BEAM, (unsigned)(g + k + 1));
            ei_x_encode_pid(&f_ghello, &p);
        }
        ei_x_encode_empty_list(&f_ghello);
    }
    ei_x_encode_empty_list(&f_ghello);
    ei_x_encode_pid(&f_ghello, &holder);

    /* {'$sw1', ops, [{hello, Beam}, {sync, [{NameBin, Pid, Counter, Origin}]}]} */
    begin_frame(&f_ops, &peer_srv, "ops", 3);
    ei_x_encode_list_header(&f_ops, 2);
    ei_x_encode_tuple_header(&f_ops, 2);
    ei_x_encode_atom(&f_ops, "hello");
    ei_x_encode_atom(&f_ops, W_PEER_BEAM);
    ei_x_encode_tuple_header(&f_ops, 2);
    ei_x_encode_atom(&f_ops, "sync");
    ei_x_encode_list_header(&f_ops, 2);
    for (int i = 0; i < 2; i++) {
        erlang_pid p = mkpid(W_PEER_BEAM, (unsigned)i + 1);
        ei_x_encode_tuple_header(&f_ops, 4);
        enc_tagged_bin(&f_ops, "worker", 10 + i);
        ei_x_encode_pid(&f_ops, &p);
        ei_x_encode_long(&f_ops, 5 + i);
        ei_x_encode_atom(&f_ops, W_PEER_BEAM);
    }
    ei_x_encode_empty_list(&f_ops);
    ei_x_encode_empty_list(&f_ops);

    /* {'$sw1', gops, [{hello, Beam}, {sync, [{GroupBin, [Pid]}]}]} */
    begin_frame(&f_gops, &peer_srv, "gops", 3);
    ei_x_encode_list_header(&f_gops, 2);
    ei_x_encode_tuple_header(&f_gops, 2);
    ei_x_encode_atom(&f_gops, "hello");
    ei_x_encode_atom(&f_gops, W_PEER_BEAM);
    ei_x_encode_tuple_header(&f_gops, 2);
    ei_x_encode_atom(&f_gops, "sync");
    ei_x_encode_list_header(&f_gops, 2);
    for (int g = 0; g < 2; g++) {
        erlang_pid p = mkpid(W_PEER_BEAM, (unsigned)g + 1);
        ei_x_encode_tuple_header(&f_gops, 2);
        enc_tagged_bin(&f_gops, "group", g * 2);
        ei_x_encode_list_header(&f_gops, 1);
        ei_x_encode_pid(&f_gops, &p);
        ei_x_encode_empty_list(&f_gops);
    }
    ei_x_encode_empty_list(&f_gops);
    ei_x_encode_empty_list(&f_gops);
}

static void world_init(void) {
    FUZZ_CHECK(uv_loop_init(&loop) == 0);
    sw_node_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alive = "swarm_a";
    cfg.host = "127.0.0.1";
    cfg.cookie = "fuzzcookie";
    node = sw_node_new(&loop, &cfg, &no_cbs, NULL);
    FUZZ_CHECK(node != NULL);
    build_frames();
    fuzz_log_setup();
}

/* A message the node queued must be a well-formed external term: a peer
 * or the agent would drop it whole (and every op batched in it). */
static void check_term(const char *buf, size_t len) {
    if (sw_term_validate_ext(buf, len) == 0) return;
    fprintf(stderr, "malformed message queued (%zu bytes):", len);
    for (size_t i = 0; i < len && i < 4096; i++) fprintf(stderr, " %02x", (unsigned char)buf[i]);
    fprintf(stderr, "\n");
    FUZZ_CHECK(!"malformed message queued");
}

static void emit_tracker(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    world_t *w = ud;
    check_term(buf, len);
    if (dest == SW_DEST_AGENT) {
        FUZZ_CHECK(cnode == NULL && w->dist.have_agent);
        sw_dist_send_pid(&w->out, &w->dist.agent, buf, len);
    } else {
        FUZZ_CHECK(cnode != NULL);
        sw_dist_send_reg(&w->out, cnode, SW_SERVER_NAME, buf, len);
    }
}

static void emit_group(void *ud, const char *cnode, const erlang_pid *to, const char *buf, size_t len) {
    world_t *w = ud;
    check_term(buf, len);
    FUZZ_CHECK((cnode == NULL) != (to == NULL));
    if (to) sw_dist_send_pid(&w->out, to, buf, len);
    else sw_dist_send_reg(&w->out, cnode, SW_SERVER_NAME, buf, len);
}

static void restarted(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    world_t *w = ud;
    sw_group_io_restarted(w->groups, old_pid, new_pid);
}

void world_flush(world_t *w) {
    if (sw_tracker_pending(w->tracker)) sw_tracker_flush(w->tracker, emit_tracker, w);
    if (sw_group_pending(w->groups)) sw_group_flush(w->groups, emit_group, w);
    FUZZ_CHECK(!sw_tracker_pending(w->tracker));
}

void world_tick(world_t *w, uint64_t now_ms) {
    sw_tracker_tick(w->tracker, now_ms);
    sw_group_tick(w->groups, now_ms);
    world_flush(w);
}

static void feed(world_t *w, const char *from, const ei_x_buff *x) {
    sw_dist_handle(&w->dist, from, x->buff, (size_t)x->index);
}

world_t *world_new(unsigned flags) {
    if (!node) world_init();
    world_t *w = calloc(1, sizeof *w);
    FUZZ_CHECK(w != NULL);
    FUZZ_CHECK(sw_dist_out_init(&w->out) == 0);
    w->out.node = node;
    w->out.self = mkpid(W_CNODE, 1);
    w->env.restarted = restarted;
    w->tracker = sw_tracker_new(W_BEAM, W_CNODE, &w->env, w);
    w->groups = sw_group_new(W_BEAM);
    FUZZ_CHECK(w->tracker && w->groups);
    FUZZ_CHECK(sw_dist_init(&w->dist, &w->out, w->tracker, w->groups, W_BEAM) == 0);
    if (flags & W_PEER_SYNC) flags |= W_CONN;
    if (flags & W_AGENT) {
        feed(w, W_BEAM, &f_hello);
        feed(w, W_BEAM, &f_ghello);
        FUZZ_CHECK(w->dist.have_agent && w->dist.st.unknown_msgs == 0);
    }
    if (flags & W_CONN) {
        sw_tracker_conn_up(w->tracker, W_PEER);
        sw_group_conn_up(w->groups, W_PEER);
    }
    if (flags & W_PEER_SYNC) {
        feed(w, W_PEER, &f_ops);
        feed(w, W_PEER, &f_gops);
        sw_tracker_stats_t ts;
        sw_group_stats_t gs;
        sw_tracker_stats(w->tracker, &ts);
        sw_group_stats(w->groups, &gs);
        FUZZ_CHECK(w->dist.st.unknown_msgs == 0 && ts.bad_ops == 0 && gs.bad_ops == 0);
        FUZZ_CHECK(ts.names == ((flags & W_AGENT) ? 6u : 2u));
    }
    world_flush(w);
    return w;
}

void world_free(world_t *w) {
    sw_dist_close(&w->dist);
    sw_tracker_free(w->tracker);
    sw_group_free(w->groups);
    sw_dist_out_close(&w->out);
    free(w);
}
