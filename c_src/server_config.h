/* server_config.h - the configuration message of the control channel, as
 * server.c parses it. Private to server.c; visible so that the fuzz harness
 * (test/fuzz/fuzz_control.c) can drive the parser without a process.
 *
 * What it is: the decoded form of {'$sw1', config, [{Key, Value}]} and its
 * parser. What it is not: the node's start (server.c's start_node). */
#ifndef SW_SERVER_CONFIG_H
#define SW_SERVER_CONFIG_H

#include <stddef.h>

#include "node.h" /* SW_MAXNODELEN */

typedef struct {
    char beam[SW_MAXNODELEN + 1];
    char alive[SW_MAXNODELEN + 1];
    char host[SW_MAXNODELEN + 1];
    char cookie[1024];
    long tick_ms;
    long quorum;      /* StaticQuorumRing size; 0: plain ring */
    long otp_release; /* of the BEAM: 26+ encodes atoms as UTF-8 (ring keys) */
    long restart;     /* sw_restart_t: what happens to an MFA process that exits */
    long optimistic;  /* 1: optimistic register_name/2 (sw_tracker_set_optimistic) */
    long restart_intensity; /* restarts of one name ... (-1: not given) */
    long restart_period_ms; /* ... within this many ms (-1: not given) */
    int port_transport; /* {transport, port}: no distribution (server.c) */
    int pipe_in;        /* {transport, pipe}: distribution for the peers, the
                         * BEAM node's own messages on stdin (server.c) */
} sw__server_config_t;

/* Parses one control message body (len bytes at buf, starting with the 131
 * version byte) into *cfg, which it zeroes first. Strings are copied,
 * NUL-terminated; unknown keys are skipped; transport is the atom dist,
 * port or pipe. Returns 0, or -1 if the term is
 * malformed, not a config message, a value does not fit, or one of
 * beam_node, alive, host and cookie is missing (cfg then holds whatever was
 * decoded: the caller clears it, as it may hold the cookie). */
int sw__server_parse_config(const char *buf, size_t len, sw__server_config_t *cfg);

#endif
