/* test_peers.c - CUnit suite of the peer protocol's skeleton in peers.c:
 * the initial sync, connection open and close, the flush envelope and
 * replies through a caller's C node.
 *
 * Checked: a sync completes only after the owner's hello, once every
 * awaited peer synced or went down, or at SW_SYNC_TIMEOUT_MS (not a
 * millisecond before), and the owner is told exactly once per hello; a
 * new hello starts over; peers that are not reported up, or already
 * synced, are not awaited. The hosts a peer lists ({hosts, [Node]}: only
 * to swarm C nodes, only hosts connected here) are waited for too, even
 * when the list came before the hello, until each synced or the timeout;
 * a malformed list changes nothing. The flush sends {'$sw1', Tag, [Op]} (decoded
 * back) to connected peers only, and empties every outbox. A reply goes
 * to the local outbox as {Caller, Ref, Result}, to a connected peer as
 * {reply, Caller, Ref, Result}, and nowhere (NULL) when the peer is not
 * connected. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <string.h>

#include "atoms.h"
#include "peers.h"
#include "swarm_proto.h"

typedef struct {
    sw_atoms_t at;
    sw_peers_t ps;
    uint32_t self;
    sw_peer_t *a, *b; /* valid until the next sw_peers_get */
} fixture_t;

static void fx_init(fixture_t *f) {
    memset(f, 0, sizeof *f);
    sw_atoms_init(&f->at);
    f->self = sw_atoms_intern(&f->at, "self@h");
    sw_peers_up(&f->ps, &f->at, f->self, "a@h", "swarm_a@h");
    sw_peers_up(&f->ps, &f->at, f->self, "b@h", "swarm_b@h");
    f->a = sw_peers_by_cnode(&f->ps, sw_atoms_find(&f->at, "swarm_a@h"));
    f->b = sw_peers_by_cnode(&f->ps, sw_atoms_find(&f->at, "swarm_b@h"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->b);
}

static void fx_close(fixture_t *f) {
    sw_peers_close(&f->ps);
    sw_atoms_close(&f->at);
}

static void test_sync_waits_for_peers(void) {
    fixture_t f;
    fx_init(&f);
    sw_proto_sync_t s = {0};
    /* Nothing completes before the owner's hello. */
    sw_proto_sync_check(&s, &f.ps);
    CU_ASSERT_FALSE(s.synced);
    sw_proto_sync_begin(&s, 1000);
    sw_proto_sync_await(&f.ps);
    CU_ASSERT_TRUE(f.a->awaited && f.b->awaited);
    sw_proto_sync_check(&s, &f.ps);
    CU_ASSERT_FALSE(s.synced);
    sw_proto_sync_peer_synced(&s, &f.ps, f.a);
    CU_ASSERT_TRUE(f.a->synced);
    CU_ASSERT_FALSE(f.a->awaited);
    CU_ASSERT_FALSE(s.synced);
    CU_ASSERT_FALSE(sw_proto_sync_news(&s));
    sw_proto_sync_peer_gone(&s, &f.ps, f.b);
    CU_ASSERT_TRUE(s.synced);
    /* Told once. */
    CU_ASSERT_TRUE(sw_proto_sync_news(&s));
    CU_ASSERT_TRUE(sw_proto_sync_done(&s));
    CU_ASSERT_FALSE(sw_proto_sync_news(&s));
    CU_ASSERT_FALSE(sw_proto_sync_done(&s));
    /* A new hello starts over; a synced peer is not awaited again, one
     * whose node is down (not reported up) neither. */
    sw_peers_down(&f.ps, f.b->beam);
    sw_proto_sync_begin(&s, 5000);
    CU_ASSERT_FALSE(s.synced);
    sw_proto_sync_await(&f.ps);
    CU_ASSERT_FALSE(f.a->awaited);
    CU_ASSERT_FALSE(f.b->awaited);
    sw_proto_sync_check(&s, &f.ps);
    CU_ASSERT_TRUE(s.synced);
    CU_ASSERT_TRUE(sw_proto_sync_done(&s));
    fx_close(&f);
}

static void test_sync_timeout(void) {
    fixture_t f;
    fx_init(&f);
    sw_proto_sync_t s = {0};
    /* Without a hello, time does nothing. */
    sw_proto_sync_tick(&s, &f.ps, 1000000, "test_sync_timeout");
    CU_ASSERT_FALSE(s.synced);
    sw_proto_sync_begin(&s, 1000);
    sw_proto_sync_await(&f.ps);
    sw_proto_sync_tick(&s, &f.ps, 1000 + SW_SYNC_TIMEOUT_MS - 1, "test_sync_timeout");
    CU_ASSERT_FALSE(s.synced);
    CU_ASSERT_TRUE(sw_peers_awaiting(&f.ps));
    sw_proto_sync_tick(&s, &f.ps, 1000 + SW_SYNC_TIMEOUT_MS, "test_sync_timeout");
    CU_ASSERT_TRUE(s.synced);
    CU_ASSERT_FALSE(sw_peers_awaiting(&f.ps));
    CU_ASSERT_TRUE(sw_proto_sync_done(&s));
    fx_close(&f);
}

/* Decodes p's outbox body, one op, as {hosts, [Node]} into names (at most
 * 4); returns how many, or -1. */
static int dec_hosts_op(const sw_peer_t *p, char names[4][MAXATOMLEN_UTF8]) {
    int i = 0, arity, n;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(p->out.body.buff, &i, &arity) != 0 || arity != 2 ||
        ei_decode_atom(p->out.body.buff, &i, tag) != 0 || strcmp(tag, "hosts") != 0 ||
        ei_decode_list_header(p->out.body.buff, &i, &n) != 0 || n > 4)
        return -1;
    for (int k = 0; k < n; k++)
        if (ei_decode_atom(p->out.body.buff, &i, names[k]) != 0) return -1;
    return n;
}

/* Encodes {hosts, Nodes} (after its tuple header and tag, as the op walk
 * hands it over) into x; arity returned. */
static int enc_hosts_list(ei_x_buff *x, const char *const *nodes, int n) {
    x->index = 0;
    if (n) ei_x_encode_list_header(x, n);
    for (int k = 0; k < n; k++) ei_x_encode_atom(x, nodes[k]);
    ei_x_encode_empty_list(x);
    return 2;
}

/* Adds a C host record for node (its BEAM node and C node), connected;
 * returns the node's atom. Moves every record (sw_peers_get). */
static uint32_t add_host(fixture_t *f, const char *node) {
    uint32_t b = sw_atoms_intern(&f->at, node);
    sw_peer_t *h = sw_peers_get(&f->ps, b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    h->beam = b;
    h->host = 1;
    h->conn_up = 1;
    return b;
}

static void test_sync_waits_for_listed_hosts(void) {
    fixture_t f;
    fx_init(&f);
    ei_x_buff x;
    ei_x_new(&x);
    sw_proto_sync_t s = {0};
    /* A host connected to us is listed to a swarm C node, not to a host
     * nor to a node whose name is not a swarm C node's. */
    uint32_t hc = add_host(&f, "h1@h");
    f.a = sw_peers_by_cnode(&f.ps, sw_atoms_find(&f.at, "swarm_a@h"));
    f.b = sw_peers_by_cnode(&f.ps, sw_atoms_find(&f.at, "swarm_b@h"));
    sw_peer_hosts(f.a, &f.ps, &f.at);
    char names[4][MAXATOMLEN_UTF8];
    CU_ASSERT_EQUAL(f.a->out.count, 1);
    CU_ASSERT_EQUAL(dec_hosts_op(f.a, names), 1);
    CU_ASSERT_STRING_EQUAL(names[0], "h1@h");
    sw_peer_t *h = sw_peers_by_cnode(&f.ps, hc);
    sw_peer_hosts(h, &f.ps, &f.at);
    CU_ASSERT_EQUAL(h->out.count, 0);
    /* Nothing to list: nothing queued. */
    h->conn_up = 0;
    sw_outbox_reset(&f.b->out);
    sw_peer_hosts(f.b, &f.ps, &f.at);
    CU_ASSERT_EQUAL(f.b->out.count, 0);

    /* A list may come before the owner's hello: it is kept. Self, a swarm
     * node's BEAM node and duplicates are skipped. */
    const char *l1[] = {"h1@h", "h2@h", "self@h", "a@h", "h1@h"};
    int idx = 0, ar = enc_hosts_list(&x, l1, 5);
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, ar), 0);
    CU_ASSERT_EQUAL(idx, x.index);
    CU_ASSERT_EQUAL(s.nhosts, 2);
    sw_proto_sync_begin(&s, 1000);
    CU_ASSERT_EQUAL(s.nhosts, 2);
    sw_proto_sync_await(&f.ps);
    f.a = sw_peers_by_cnode(&f.ps, sw_atoms_find(&f.at, "swarm_a@h"));
    f.b = sw_peers_by_cnode(&f.ps, sw_atoms_find(&f.at, "swarm_b@h"));
    sw_proto_sync_peer_synced(&s, &f.ps, f.a);
    sw_proto_sync_peer_synced(&s, &f.ps, f.b);
    /* Every swarm peer synced: the listed hosts are still waited for. */
    CU_ASSERT_FALSE(s.synced);
    h = sw_peers_by_cnode(&f.ps, hc);
    h->conn_up = 1;
    sw_proto_sync_peer_synced(&s, &f.ps, h);
    CU_ASSERT_EQUAL(s.nhosts, 1);
    CU_ASSERT_FALSE(s.synced);
    uint32_t h2 = add_host(&f, "h2@h");
    sw_proto_sync_peer_synced(&s, &f.ps, sw_peers_by_cnode(&f.ps, h2));
    CU_ASSERT_EQUAL(s.nhosts, 0);
    CU_ASSERT_TRUE(s.synced);
    /* Once complete, a list changes nothing. */
    idx = 0;
    ar = enc_hosts_list(&x, l1, 2);
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, ar), 0);
    CU_ASSERT_EQUAL(s.nhosts, 0);

    /* A new sync: a host synced on its live connection is not waited for;
     * one never heard of is, until the timeout. */
    sw_proto_sync_begin(&s, 50000);
    const char *l2[] = {"h1@h", "h3@h"};
    idx = 0;
    ar = enc_hosts_list(&x, l2, 2);
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, ar), 0);
    CU_ASSERT_EQUAL(s.nhosts, 1);
    sw_proto_sync_check(&s, &f.ps);
    CU_ASSERT_FALSE(s.synced);
    sw_proto_sync_tick(&s, &f.ps, 50000 + SW_SYNC_TIMEOUT_MS, "test_sync_timeout");
    CU_ASSERT_TRUE(s.synced);
    CU_ASSERT_EQUAL(s.nhosts, 0);

    /* Malformed: refused whole, nothing changes. */
    sw_proto_sync_begin(&s, 90000);
    x.index = 0;
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_atom(&x, "h4@h");
    ei_x_encode_long(&x, 7);
    ei_x_encode_empty_list(&x);
    idx = 0;
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, 2), -1);
    idx = 0;
    ar = enc_hosts_list(&x, l2, 2);
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, 3), -1);
    x.index = 0;
    ei_x_encode_atom(&x, "h4@h");
    idx = 0;
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, 2), -1);
    CU_ASSERT_EQUAL(s.nhosts, 0);
    /* An empty list is fine. */
    idx = 0;
    ar = enc_hosts_list(&x, l2, 0);
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, ar), 0);
    CU_ASSERT_EQUAL(idx, x.index);
    /* At most SW_SYNC_MAX_HOSTS are kept. */
    x.index = 0;
    ei_x_encode_list_header(&x, SW_SYNC_MAX_HOSTS + 5);
    for (unsigned k = 0; k < SW_SYNC_MAX_HOSTS + 5; k++) {
        char n[32];
        snprintf(n, sizeof n, "many%u@h", k);
        ei_x_encode_atom(&x, n);
    }
    ei_x_encode_empty_list(&x);
    idx = 0;
    CU_ASSERT_EQUAL(sw_proto_sync_hosts(&s, &f.ps, &f.at, f.self, x.buff, &idx, 2), 0);
    CU_ASSERT_EQUAL(s.nhosts, SW_SYNC_MAX_HOSTS);
    CU_ASSERT_EQUAL(idx, x.index);
    ei_x_free(&x);
    fx_close(&f);
}

static void test_conn_open_close(void) {
    fixture_t f;
    fx_init(&f);
    sw_peer_hello(f.a, &f.at, f.self, 0);
    f.a->synced = f.a->sync_sent = 1;
    sw_peer_conn_open(f.a);
    CU_ASSERT_TRUE(f.a->conn_up);
    CU_ASSERT_FALSE(f.a->synced || f.a->sync_sent);
    CU_ASSERT_EQUAL(f.a->out.count, 0);
    CU_ASSERT_EQUAL(f.a->out.body.index, 0);
    sw_peer_hello(f.a, &f.at, f.self, 0);
    f.a->synced = f.a->sync_sent = 1;
    sw_peer_conn_close(f.a);
    CU_ASSERT_FALSE(f.a->conn_up || f.a->synced || f.a->sync_sent);
    CU_ASSERT_EQUAL(f.a->out.count, 0);
    CU_ASSERT_EQUAL(f.a->out.body.index, 0);
    fx_close(&f);
}

typedef struct {
    int n;
    char cnode[64];
    char buf[256];
    size_t len;
} sent_t;

static void record_send(void *ud, const char *cnode, const char *buf, size_t len) {
    sent_t *s = ud;
    s->n++;
    snprintf(s->cnode, sizeof s->cnode, "%s", cnode);
    CU_ASSERT_FATAL(len <= sizeof s->buf);
    memcpy(s->buf, buf, len);
    s->len = len;
}

static void test_flush_envelope(void) {
    fixture_t f;
    fx_init(&f);
    sw_peer_conn_open(f.a);
    sw_peer_hello(f.a, &f.at, f.self, 0);
    sw_peer_hello(f.b, &f.at, f.self, 0); /* b is not connected: dropped */
    CU_ASSERT_TRUE(sw_peers_pending(&f.ps));
    ei_x_buff x;
    ei_x_new(&x);
    sent_t s = {0};
    sw_proto_flush_peers(&f.ps, &f.at, &x, SW_MSG_OPS, record_send, &s);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_STRING_EQUAL(s.cnode, "swarm_a@h");
    CU_ASSERT_FALSE(sw_peers_pending(&f.ps));
    /* {'$sw1', ops, [{hello, 'self@h'}]} */
    int i = 0, ver, arity, n;
    char a1[MAXATOMLEN_UTF8], a2[MAXATOMLEN_UTF8], a3[MAXATOMLEN_UTF8], a4[MAXATOMLEN_UTF8];
    CU_ASSERT_EQUAL(ei_decode_version(s.buf, &i, &ver), 0);
    CU_ASSERT_EQUAL(ei_decode_tuple_header(s.buf, &i, &arity), 0);
    CU_ASSERT_EQUAL(arity, 3);
    CU_ASSERT_EQUAL(ei_decode_atom(s.buf, &i, a1), 0);
    CU_ASSERT_STRING_EQUAL(a1, SW_PROTO_TAG);
    CU_ASSERT_EQUAL(ei_decode_atom(s.buf, &i, a2), 0);
    CU_ASSERT_STRING_EQUAL(a2, "ops");
    CU_ASSERT_EQUAL(ei_decode_list_header(s.buf, &i, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(ei_decode_tuple_header(s.buf, &i, &arity), 0);
    CU_ASSERT_EQUAL(arity, 2);
    CU_ASSERT_EQUAL(ei_decode_atom(s.buf, &i, a3), 0);
    CU_ASSERT_STRING_EQUAL(a3, "hello");
    CU_ASSERT_EQUAL(ei_decode_atom(s.buf, &i, a4), 0);
    CU_ASSERT_STRING_EQUAL(a4, "self@h");
    CU_ASSERT_EQUAL(ei_decode_list_header(s.buf, &i, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL((size_t)i, s.len);
    /* Nothing queued: nothing sent. */
    sw_proto_flush_peers(&f.ps, &f.at, &x, SW_MSG_OPS, record_send, &s);
    CU_ASSERT_EQUAL(s.n, 1);
    ei_x_free(&x);
    fx_close(&f);
}

static void test_reply_routes(void) {
    fixture_t f;
    fx_init(&f);
    sw_outbox_t local;
    sw_outbox_init(&local);
    sw_peer_conn_open(f.a);
    ei_x_buff *x = sw_proto_reply_begin(&f.ps, &f.at, f.self, f.self, &local, "test_reply");
    CU_ASSERT_PTR_EQUAL(x, &local.body);
    CU_ASSERT_EQUAL(local.count, 1);
    x = sw_proto_reply_begin(&f.ps, &f.at, f.self, f.a->beam, &local, "test_reply");
    CU_ASSERT_PTR_EQUAL(x, &f.a->out.body);
    CU_ASSERT_EQUAL(f.a->out.count, 1);
    int i = 0, arity;
    char tag[MAXATOMLEN_UTF8];
    CU_ASSERT_EQUAL(ei_decode_tuple_header(f.a->out.body.buff, &i, &arity), 0);
    CU_ASSERT_EQUAL(arity, 4);
    CU_ASSERT_EQUAL(ei_decode_atom(f.a->out.body.buff, &i, tag), 0);
    CU_ASSERT_STRING_EQUAL(tag, "reply");
    /* b is not connected: no reply is queued. */
    CU_ASSERT_PTR_NULL(sw_proto_reply_begin(&f.ps, &f.at, f.self, f.b->beam, &local, "test_reply"));
    CU_ASSERT_EQUAL(f.b->out.count, 0);
    CU_ASSERT_EQUAL(local.count, 1);
    sw_outbox_free(&local);
    fx_close(&f);
}

int test_peers_suite(void) {
    CU_pSuite s = CU_add_suite("peers", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "sync: waits for every awaited peer, told once", test_sync_waits_for_peers) ||
        !CU_add_test(s, "sync: completes at the timeout, not before", test_sync_timeout) ||
        !CU_add_test(s, "sync: waits for the hosts a peer listed", test_sync_waits_for_listed_hosts) ||
        !CU_add_test(s, "conn open/close reset the record", test_conn_open_close) ||
        !CU_add_test(s, "flush: one envelope per connected peer", test_flush_envelope) ||
        !CU_add_test(s, "reply: local, through a peer, or nowhere", test_reply_routes))
        return -1;
    return 0;
}
