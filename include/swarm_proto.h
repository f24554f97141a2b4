/* swarm_proto.h - the wire protocol shared by the C node and the Erlang side.
 * include/swarm_proto.hrl holds the same definitions for Erlang; the two
 * files change together.
 *
 * Every message is a tuple whose first element is the atom SW_PROTO_TAG
 * ('$sw1': protocol version 1). A message whose first element is another atom
 * is an unknown message: logged, counted, dropped. The full message list is in
 * README.md, section Internals. */
#ifndef SWARM_PROTO_H
#define SWARM_PROTO_H

#define SW_PROTO_TAG "$sw1"
#define SW_PROTO_VERSION 1

/* Registered name of the registry server inside every C node. */
#define SW_SERVER_NAME "swarm"

/* The C node of BEAM node N is named SW_CNODE_PREFIX ++ N
 * (swarm_a@host for a@host): a peer C node's connection name tells which
 * BEAM node it may speak for. */
#define SW_CNODE_PREFIX "swarm_"

/* Largest accepted encoded name (term_to_binary(Name, [deterministic])). */
#define SW_MAX_NAME_BYTES (64 * 1024)

#endif
