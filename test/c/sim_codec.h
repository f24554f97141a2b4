/* sim_codec.h - the terms of the cluster simulation (sim_cluster.h): its
 * names, groups and MFAs as bytes, its processes as pids, the results of
 * replies decoded, and the hello messages its BEAM-side models send.
 *
 * What it is: pure encoding and decoding over the model's state; nothing
 * here sends, delivers or changes the model.
 * What it is not: the model (sim_cluster.c) or its checks (test_sim.c). */
#ifndef SW_TEST_SIM_CODEC_H
#define SW_TEST_SIM_CODEC_H

#include <ei.h>
#include <stddef.h>

#include "sim_cluster.h"

/* ---- names and pids ------------------------------------------------------ */

/* term_to_binary({worker, i}), ({group, i}), ({mfa, i}): the bytes (kept
 * until sc_names_free) and their size in *len. */
const char *sc_name_bytes(int i, size_t *len);
const char *sc_group_bytes(int i, size_t *len);
const char *sc_mfa_bytes(int i, size_t *len);
void sc_names_free(void);

/* The pid of process p, and back (-1 if not a process of the model). */
erlang_pid sc_epid(sc_pid_t p);
sc_pid_t sc_pid_of(const erlang_pid *p);
/* 1 if p is dead (or its BEAM node is, or p is none). */
int sc_proc_dead(const sc_t *sc, sc_pid_t p);

/* ---- decoding ------------------------------------------------------------ */

/* A reply's Result term at buf[*index]: an atom into result as is;
 * {ok, Pid} as "ok_pid" (Pid in *rpid); {error, {already_registered, Pid}}
 * as "already"; {error, Atom} as "error:Atom". 0, or -1 if malformed. */
int sc_dec_result(const char *buf, int *index, char *result, size_t rsize, sc_pid_t *rpid);
/* The i of a {worker, i} term at buf[*index], or -1. */
int sc_dec_worker(const char *buf, int *index);
/* The i of a NameBin (groups = 0) or GroupBin (1) binary at buf[*index],
 * or -1. */
int sc_dec_namebin(const char *buf, int *index, int groups);

/* ---- hello messages ------------------------------------------------------ */

/* Node nd's agent hello {'$sw1', hello, Agent, Names, Peers} into x (with
 * 131): Names the live local processes its replica holds (with their MFA
 * when the entry has one), Peers those it knows. Returns the index of
 * Names. */
int sc_enc_hello(const sc_t *sc, const sc_node_t *nd, ei_x_buff *x);
/* Node nd's swarm_groups hello {'$sw1', ghello, Proc, [{GroupBin, [Pid]}],
 * Holder} into x (with 131): the live local members its replica holds. */
void sc_enc_ghello(const sc_t *sc, const sc_node_t *nd, ei_x_buff *x);

#endif
