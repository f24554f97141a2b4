/* sim.h - helpers shared by the CUnit suites that simulate a cluster of C
 * nodes inside one process (test_tracker.c, test_group.c).
 *
 * What it is: the pieces both simulations are built of: a seeded PRNG, the
 * names of up to SIM_MAXN nodes (node i: BEAM node "a@127.0.0.1",
 * "b@127.0.0.1"... and its C node "swarm_a@127.0.0.1"...), pids on them,
 * FIFO queues of byte messages (a connection direction, an agent's mailbox),
 * the NameBin of a {Tag, I} term, and the decoding of a message's
 * {'$sw1', Tag, ...} envelope.
 * What it is not: a simulator. Each suite keeps its own nodes, delivery
 * order and invariants. Allocation failures abort the test run (these are
 * tests: malloc is assumed to succeed). */
#ifndef SW_TEST_SIM_H
#define SW_TEST_SIM_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

/* Nodes that have names. */
#define SIM_MAXN 6

/* ---- PRNG ---------------------------------------------------------------- */

/* The next value of the splitmix64 sequence whose state is *s. */
uint64_t splitmix(uint64_t *s);

/* ---- names and pids ------------------------------------------------------ */

/* BEAM node name of node i (0 <= i < SIM_MAXN). */
const char *beam_name(int i);
/* C node name of node i (0 <= i < SIM_MAXN). */
const char *cnode_name(int i);

/* The pid <num> on BEAM node `node` (serial 0, creation 1; the rest of the
 * struct zeroed). */
erlang_pid mkpid(int node, unsigned num);
/* 1 if a and b are the same pid (node, num, serial, creation), else 0. */
int pid_eq(const erlang_pid *a, const erlang_pid *b);
/* The node i whose BEAM node p lives on, or -1 if none of SIM_MAXN. */
int pid_node(const erlang_pid *p);

/* term_to_binary({tag, i}) (with 131) in a new malloc'd block of *len
 * bytes, for the caller to keep or free. */
char *tagged_bin(const char *tag, long i, size_t *len);

/* ---- messages ------------------------------------------------------------ */

/* One queued message: len bytes at buf. */
typedef struct msg_s {
    struct msg_s *next;
    size_t len;
    char buf[];
} msg_t;

/* A FIFO of messages; zeroed memory is an empty queue. */
typedef struct {
    msg_t *head, *tail;
    int n; /* messages queued */
} queue_t;

/* Appends a copy of the len bytes at buf. */
void q_push(queue_t *q, const char *buf, size_t len);
/* Takes the oldest message out (the caller frees it), or NULL if empty. */
msg_t *q_pop(queue_t *q);
/* Drops every message. */
void q_clear(queue_t *q);

/* Decodes the start of a whole message (with its 131 byte) at buf:
 * {'$sw1', Tag, ...}. Sets *arity to the tuple's arity, tag
 * (MAXATOMLEN_UTF8 bytes) to Tag, and *index to the third element. Returns
 * 0, or -1 if buf does not start that way. */
int dec_envelope(const char *buf, int *index, int *arity, char *tag);

#endif
