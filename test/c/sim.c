/* sim.c - helpers of the simulating CUnit suites; see sim.h. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "swarm_proto.h"

uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

const char *beam_name(int i) {
    static const char *n[SIM_MAXN] = {"a@127.0.0.1", "b@127.0.0.1", "c@127.0.0.1",
                                      "d@127.0.0.1", "e@127.0.0.1", "f@127.0.0.1"};
    return n[i];
}

const char *cnode_name(int i) {
    static const char *n[SIM_MAXN] = {"swarm_a@127.0.0.1", "swarm_b@127.0.0.1", "swarm_c@127.0.0.1",
                                      "swarm_d@127.0.0.1", "swarm_e@127.0.0.1", "swarm_f@127.0.0.1"};
    return n[i];
}

erlang_pid mkpid(int node, unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    strcpy(p.node, beam_name(node));
    p.num = num;
    p.serial = 0;
    p.creation = 1;
    return p;
}

int pid_eq(const erlang_pid *a, const erlang_pid *b) {
    return strcmp(a->node, b->node) == 0 && a->num == b->num && a->serial == b->serial &&
           a->creation == b->creation;
}

int pid_node(const erlang_pid *p) {
    for (int i = 0; i < SIM_MAXN; i++)
        if (strcmp(p->node, beam_name(i)) == 0) return i;
    return -1;
}

char *tagged_bin(const char *tag, long i, size_t *len) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, tag);
    ei_x_encode_long(&x, i);
    char *b = malloc((size_t)x.index);
    if (!b) abort();
    memcpy(b, x.buff, (size_t)x.index);
    *len = (size_t)x.index;
    ei_x_free(&x);
    return b;
}

void q_push(queue_t *q, const char *buf, size_t len) {
    msg_t *m = malloc(sizeof *m + len);
    if (!m) abort();
    m->next = NULL;
    m->len = len;
    memcpy(m->buf, buf, len);
    if (q->tail) q->tail->next = m;
    else q->head = m;
    q->tail = m;
    q->n++;
}

msg_t *q_pop(queue_t *q) {
    msg_t *m = q->head;
    if (!m) return NULL;
    q->head = m->next;
    if (!q->head) q->tail = NULL;
    q->n--;
    return m;
}

void q_clear(queue_t *q) {
    msg_t *m;
    while ((m = q_pop(q)) != NULL) free(m);
}

int dec_envelope(const char *buf, int *index, int *arity, char *tag) {
    int version;
    *index = 0;
    if (ei_decode_version(buf, index, &version) != 0 || ei_decode_tuple_header(buf, index, arity) != 0 ||
        ei_decode_atom(buf, index, tag) != 0 || strcmp(tag, SW_PROTO_TAG) != 0 ||
        ei_decode_atom(buf, index, tag) != 0)
        return -1;
    return 0;
}
