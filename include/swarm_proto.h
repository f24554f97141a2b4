/* swarm_proto.h - the wire protocol shared by the C node and the Erlang side.
 *
 * What it is: the one definition of the protocol's constants for C: the
 * envelope tag and version, the server's registered name, the size limit of
 * a name, and the table of every atom the protocol is made of (message
 * tags, op tags, modes and results: SW_MSGS below). include/swarm_proto.hrl
 * holds the same definitions for Erlang, the table as one
 * -define(SW_MSG_<ID>, atom) per entry in the same order; the CUnit suite
 * test/c/test_proto.c fails when the two lists differ.
 * What it is not: a codec. c_src/proto.h maps atoms to the table's enum
 * (for dispatch) and back (for encoding); the decoders live beside their
 * modules (dist.c, tracker_msg.c, tracker_wire.c, group_msg.c,
 * group_peer.c). The message formats
 * and the state machines they drive are described in README.md, section
 * Internals.
 *
 * Every message is a tuple whose first element is the atom SW_PROTO_TAG
 * ('$sw1': protocol version 1). A message whose first element is another atom
 * is an unknown message: logged, counted, dropped. */
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

/* The protocol's atoms: X(ID, "atom"), once each. Written below as
 * direction, then the term (arity in braces counts every element, the
 * '$sw1' envelope included), then its meaning. An atom with two roles
 * lists both.
 *
 * Directions: port = the control channel between swarm_agent and its C
 * node (stdin/stdout); local = from a process of the BEAM node to its own
 * C node's server (over distribution, or, for a BEAM node without it, as
 * a frame on the control channel: the port transport); peer = between C
 * nodes, inside {'$sw1', ops | gops, [Op]}; agent = from a C node to
 * swarm_agent (inside a batch for ops); groups = from a C node to
 * swarm_groups; erl = between Erlang processes only; reply = inside
 * {Ref, Reply} to a caller. What a C node sends to a process of its BEAM
 * node (agent, groups, reply) comes, under the port transport, inside a
 * deliver frame on the control channel. */
#define SW_MSGS(X)                                                                              \
    /* ---- control channel ---------------------------------------------- */                  \
    /* port, in: {'$sw1', config, [{Key, Value}]} (3), the node's settings, first */            \
    X(CONFIG, "config")                                                                         \
    /* port, out: {'$sw1', ready, CNodeAtom} (3), the node is published */                      \
    X(READY, "ready")                                                                           \
    /* port, out: {'$sw1', error, ReasonBin} (3), the node could not start;                     \
     * reply: {error, Why} */                                                                   \
    X(ERROR, "error")                                                                           \
    /* port, out: {'$sw1', deliver, Pid, Msg} (4), without distribution (the port              \
     * transport): Msg for local process Pid, which distribution would carry */                 \
    X(DELIVER, "deliver")                                                                       \
    /* port, out: {'$sw1', log, Level, EventBin, TextBin} (5), one log record of the node      \
     * (Level: debug | info | warning | error; TextBin: key=value pairs) */                     \
    X(LOG, "log")                                                                               \
    /* ---- local: BEAM node -> its C node ----------------------------------- */              \
    /* local: {'$sw1', reg, Caller, Ref, NameBin, Pid} (6) or with retry (7): register_name;    \
     * also from a caller on another BEAM node (direct to the name's owner) */                  \
    X(REG, "reg")                                                                               \
    /* local: {'$sw1', reg_mfa, Caller, Ref, NameBin, MFABin, Mode} (7): register_name/4,5 */   \
    X(REG_MFA, "reg_mfa")                                                                       \
    /* local: {'$sw1', unreg, Caller, Ref, NameBin} (5): unregister_name */                     \
    X(UNREG, "unreg")                                                                           \
    /* local: {'$sw1', started, [{Id, Pid | undefined, Result}]} (3), MFA starts done;          \
     * erl: {'$sw1', started, Id, Pid, Result} (5), a starter to its agent */                   \
    X(STARTED, "started")                                                                       \
    /* local: {'$sw1', handoff, NameBin, Pid, restart | ignore | {resume, StateBin}} (5),       \
     * a process's begin_handoff answer; agent op: {handoff, NameBin, Pid}, ask it */           \
    X(HANDOFF, "handoff")                                                                       \
    /* local: {'$sw1', pid_down, Pid} (3), a monitored local pid died */                        \
    X(PID_DOWN, "pid_down")                                                                     \
    /* local: {'$sw1', peer_up, BeamNode, CNode} (4), a BEAM node running swarm is up */        \
    X(PEER_UP, "peer_up")                                                                       \
    /* local: {'$sw1', peer_down, BeamNode} (3), that BEAM node is gone */                      \
    X(PEER_DOWN, "peer_down")                                                                   \
    /* local: {'$sw1', hello, Agent, [{NameBin, Pid}], [{BeamNode, CNode}]} (5), the agent;    \
     * peer op: {hello, BeamNode} (2), first op on every connection (ops and gops);             \
     * groups op: {hello, Holder} (2), the monitors' holder */                                  \
    X(HELLO, "hello")                                                                           \
    /* local: {'$sw1', ping, Caller, Ref} (4) -> {Ref, pong}: liveness */                       \
    X(PING, "ping")                                                                             \
    /* local: {'$sw1', stats, Caller, Ref} (4) -> {Ref, [{Counter, Int}]} */                    \
    X(STATS, "stats")                                                                           \
    /* local: {'$sw1', gjoin, Caller, Ref, GroupBin, Pid} (6): join */                          \
    X(GJOIN, "gjoin")                                                                           \
    /* local: {'$sw1', gleave, Caller, Ref, GroupBin, Pid} (6): leave */                        \
    X(GLEAVE, "gleave")                                                                         \
    /* local: {'$sw1', gdown, Pid} (3), a local member died */                                  \
    X(GDOWN, "gdown")                                                                           \
    /* local: {'$sw1', ghello, Proc, [{GroupBin, [Pid]}], Holder} (5), swarm_groups */          \
    X(GHELLO, "ghello")                                                                         \
    /* local: {'$sw1', gtransfer, OldPid, NewPid} (4), a restarted process rejoins */           \
    X(GTRANSFER, "gtransfer")                                                                   \
    /* local: {'$sw1', gstats, Caller, Ref} (4) -> {Ref, [{Counter, Int}]} */                   \
    X(GSTATS, "gstats")                                                                         \
    /* ---- peer: C node <-> C node ------------------------------------------ */              \
    /* peer: {'$sw1', ops, [Op]} (3), the registry's ops (below) */                             \
    X(OPS, "ops")                                                                               \
    /* peer: {'$sw1', gops, [Op]} (3), the groups' ops (below) */                               \
    X(GOPS, "gops")                                                                             \
    /* peer op: {add, NameBin, Pid, Counter, Origin} (5) or with MFABin (6);                    \
     * agent op: {add, Name, Pid} (3) or with MFABin (4), write the replica */                  \
    X(ADD, "add")                                                                               \
    /* peer op: {del, NameBin, Pid, Counter, Origin} (5);                                       \
     * agent op: {del, Name, Pid} (3) or with mfa (4) */                                        \
    X(DEL, "del")                                                                               \
    /* peer op: {lost, NameBin, Pid, Counter, Origin} (5) or with Winner (6), a conflict;   \
     * with handoff (7): Pid was handed off to Winner */                                        \
    X(LOST, "lost")                                                                             \
    /* peer op: {sync, [Entry]} (2), a whole replica after every connection up */               \
    X(SYNC, "sync")                                                                             \
    /* peer op: {reg_req, NameBin, Pid, Caller, Ref} (5) or with retry (6), to the owner */     \
    X(REG_REQ, "reg_req")                                                                       \
    /* peer op: {reg_mfa_req, NameBin, MFABin, Mode, Caller, Ref} (6), to the owner */          \
    X(REG_MFA_REQ, "reg_mfa_req")                                                               \
    /* peer op: {unreg_req, NameBin, Caller, Ref} (4), to the pid's home */                     \
    X(UNREG_REQ, "unreg_req")                                                                   \
    /* peer op: {claim, NameBin, Pid, Counter, Origin, CallerBeam, Caller, Ref, Yes, No,        \
     * MFABin} (11) or with a claim mode (12), the owner to the pid's home */                   \
    X(CLAIM, "claim")                                                                           \
    /* peer op: {claim_nack, NameBin, Counter, Origin} (4), the home refused */                 \
    X(CLAIM_NACK, "claim_nack")                                                                 \
    /* peer op: {reply, Caller, Ref, Result} (4), for a caller of the receiving node */         \
    X(REPLY, "reply")                                                                           \
    /* peer op: {handoff_start, NameBin, Pid, Counter, Origin, MFABin, StateBin | none} (7) */  \
    X(HANDOFF_START, "handoff_start")                                                           \
    /* peer op: {handoff_failed, NameBin, OldPid} (3), the new owner could not take over */     \
    X(HANDOFF_FAILED, "handoff_failed")                                                         \
    /* peer op (groups): {join, GroupBin, Pid} (3) */                                           \
    X(JOIN, "join")                                                                             \
    /* peer op (groups): {leave, GroupBin, Pid} (3) */                                          \
    X(LEAVE, "leave")                                                                           \
    /* peer op (groups): {down, Pid} (2), every membership of Pid ends */                       \
    X(DOWN, "down")                                                                             \
    /* peer op (groups): {join_req, GroupBin, Pid, Caller, Ref} (5), to the pid's home */       \
    X(JOIN_REQ, "join_req")                                                                     \
    /* peer op (groups): {leave_req, GroupBin, Pid, Caller, Ref} (5), to the pid's home */     \
    X(LEAVE_REQ, "leave_req")                                                                   \
    /* peer op (groups): {transfer, OldPid, NewPid} (3), to NewPid's home */                    \
    X(TRANSFER, "transfer")                                                                     \
    /* ---- agent: C node -> swarm_agent ------------------------------------- */              \
    /* agent: {'$sw1', batch, [Op], [{Caller, Ref, Result}]} (4) */                             \
    X(BATCH, "batch")                                                                           \
    /* agent: {'$sw1', ring, [BeamNode]} (3), the ring's members */                             \
    X(RING, "ring")                                                                             \
    /* agent: {'$sw1', synced} (2), every peer's sync has arrived */                            \
    X(SYNCED, "synced")                                                                         \
    /* agent: {'$sw1', links} (2), a peer connection went up or down */                         \
    X(LINKS, "links")                                                                           \
    /* agent op: {start, Id, MFABin} (3), run the MFA in a fresh process */                     \
    X(START, "start")                                                                           \
    /* agent op: {die, Pid} (2), send Pid {swarm, die} */                                       \
    X(DIE, "die")                                                                               \
    /* agent op: {end_handoff, Pid, StateBin} (3), cast {swarm, end_handoff, State} */          \
    X(END_HANDOFF, "end_handoff")                                                               \
    /* agent op: {resolve, Loser, Winner, NameBin} (4), a conflict's loser hands over, dies */        \
    X(RESOLVE, "resolve")                                                                       \
    /* agent op: the fourth element of {del, Name, Pid, mfa}, an MFA entry's del */             \
    X(MFA, "mfa")                                                                               \
    /* ---- groups: C node -> swarm_groups ----------------------------------- */              \
    /* groups: {'$sw1', gbatch, Chunks, [MonOp], [{Caller, Ref, Result}]} (5) */                \
    X(GBATCH, "gbatch")                                                                         \
    /* groups: {'$sw1', gsynced} (2), every peer's group sync has arrived */                    \
    X(GSYNCED, "gsynced")                                                                       \
    /* groups op: {mon, Pid} (2), monitor this local member */                                  \
    X(MON, "mon")                                                                               \
    /* ---- erl: between Erlang processes ------------------------------------ */              \
    /* erl: {'$sw1', agent_hello, Node, Agent, CNode} (5), agent to agent */                    \
    X(AGENT_HELLO, "agent_hello")                                                               \
    /* erl: {'$sw1', agent_cnode_up, Node} (3), my C node is (again) ready (also to             \
     * swarm_agent on a C host, which dials it) */                                              \
    X(AGENT_CNODE_UP, "agent_cnode_up")                                                         \
    /* erl: {'$sw1', agent_bye, Node} (3), my swarm stops */                                    \
    X(AGENT_BYE, "agent_bye")                                                                   \
    /* reply: {'$sw1', raw, ResultBin} (3), an MFA start's result as term_to_binary */          \
    X(RAW, "raw")                                                                               \
    /* ---- modes ------------------------------------------------------------ */              \
    /* mode: a request sent again (reg, reg_req) or claim mode, commit or own pid's yes */      \
    X(RETRY, "retry")                                                                           \
    /* claim mode: yes if the home holds the name for the pid, else nothing */                  \
    X(CONFIRM, "confirm")                                                                       \
    /* claim mode: yes if the home holds the name for the pid, else no; never commits */        \
    X(CHECK, "check")                                                                           \
    /* mode of reg_mfa and reg_mfa_req: register_name/4,5 */                                    \
    X(REGISTER, "register")                                                                     \
    /* mode of reg_mfa and reg_mfa_req: whereis_or_register_name */                             \
    X(WHEREIS_OR_REGISTER, "whereis_or_register")                                               \
    /* handoff answer: start the process again at the new owner */                              \
    X(RESTART, "restart")                                                                       \
    /* handoff answer: keep the process where it is */                                          \
    X(IGNORE, "ignore")                                                                         \
    /* handoff answer: {resume, StateBin}, start at the new owner with that state */            \
    X(RESUME, "resume")                                                                         \
    /* ---- results ---------------------------------------------------------- */              \
    /* reply: register_name succeeded */                                                        \
    X(YES, "yes")                                                                               \
    /* reply: register_name refused (the name is taken) */                                      \
    X(NO, "no")                                                                                 \
    /* reply: ok, {ok, Pid}; done */                                                            \
    X(OK, "ok")                                                                                 \
    /* reply: {error, {already_registered, Pid}} */                                             \
    X(ALREADY_REGISTERED, "already_registered")                                                 \
    /* reply: {ok, undefined}, a start that returned no pid */                                  \
    X(UNDEFINED, "undefined")                                                                   \
    /* peer op: handoff_start's state when the process gave none */                             \
    X(NONE, "none")                                                                             \
    /* reply: this C node is not the name's owner, ask your own */                              \
    X(REDIRECT, "redirect")                                                                     \
    /* reply: to ping */                                                                        \
    X(PONG, "pong")                                                                             \
    /* reply: {error, home_unreachable}, the pid's home C node is not connected */              \
    X(HOME_UNREACHABLE, "home_unreachable")                                                     \
    /* reply: {error, no_node_available}, the ring is empty or below quorum */                  \
    X(NO_NODE_AVAILABLE, "no_node_available")                                                   \
    /* reply: {error, out_of_memory} */                                                         \
    X(OUT_OF_MEMORY, "out_of_memory")                                                           \
    /* ---- C hosts ---------------------------------------------------------- */              \
    /* peer op: {hello, Node, host} (3), a C host's first op (ops and gops): Node is the       \
     * host's node, its BEAM node and C node at once */                                         \
    X(HOST, "host")                                                                             \
    /* peer op: {members, [{BeamNode, CNode}]} (2), a C node to a C host: the nodes it         \
     * knows (itself, its reported peers, its connected hosts; Beam == CNode: a host) */        \
    X(MEMBERS, "members")                                                                       \
    /* ---- leaving the placement, restarts ---------------------------------- */              \
    /* peer op: {leaving, yes | no} (2), the sender left the placement (yes) or came back     \
     * (no); local: {'$sw1', leaving, Caller, Ref, handoff | stop} (5) -> {Ref, {ok, N}}, this \
     * node leaves the placement and hands its processes off (N: those left here) */            \
    X(LEAVING, "leaving")                                                                       \
    /* leave mode: the node is stopping (register_name/2 names go at once) */                   \
    X(STOP, "stop")                                                                             \
    /* local: {'$sw1', rejoin, Caller, Ref} (4) -> {Ref, ok}, back in the placement */          \
    X(REJOIN, "rejoin")                                                                         \
    /* local: {'$sw1', pid_down, Pid, crash} (4), a monitored local pid died abnormally */      \
    X(CRASH, "crash")                                                                           \
    /* local: {'$sw1', move, Caller, Ref, NameBin, StateBin} (6) -> {Ref, ok | {error, Why}}:  \
     * hand the local process of that name off to its owner among the other nodes */          \
    X(MOVE, "move")                                                                             \
    /* reply: {error, not_found}, no local register_name/4,5 process has that name */           \
    X(NOT_FOUND, "not_found")                                                                   \
    /* peer op: {orphan, NameBin, Pid, Counter, Origin, MFABin} (6), a survivor to the name's  \
     * owner: an MFA entry of a node gone down that the owner may not know: restart it */        \
    X(ORPHAN, "orphan")                                                                         \
    /* local: {'$sw1', reg_opt, NameBin, Pid} (4), register_name/2 in optimistic mode: the     \
     * caller wrote its replica row and returned yes; no reply */                               \
    X(REG_OPT, "reg_opt")                                                                       \
    /* agent op: {drop, Name, Pid} (3): remove the row {Name, Pid} a caller wrote (optimistic  \
     * mode) that was never this C node's entry; no monitor changes */                          \
    X(DROP, "drop")                                                                             \
    /* local: {'$sw1', resolve_state, NameBin, Winner, StateBin} (5), a conflict loser's        \
     * state for Winner (a pid of this node), from the loser's helper via swarm_confirm */      \
    X(RESOLVE_STATE, "resolve_state")                                                           \
    /* peer op: {resolve_follow, NameBin, OldPid, StateBin} (4), the same state for whatever    \
     * process took OldPid's name by a handoff to the receiver */                               \
    X(RESOLVE_FOLLOW, "resolve_follow")                                                         \
    /* agent op: {resolve_cast, Pid, StateBin} (3): cast {swarm, resolve_conflict, State} */   \
    X(RESOLVE_CAST, "resolve_cast")                                                             \
    /* peer op: {hosts, [Node]} (2), a C node to a C node (ops and gops), after its hello and   \
     * before its sync: the C hosts connected to it, whose syncs the receiver's initial sync    \
     * waits for */                                                                             \
    X(HOSTS, "hosts")

/* SW_MSG_<ID>: the position of an atom in SW_MSGS. */
enum sw_msg {
#define SW_MSG_ENUM_(id, atom) SW_MSG_##id,
    SW_MSGS(SW_MSG_ENUM_)
#undef SW_MSG_ENUM_
    SW_MSG_COUNT
};

/* sw_msg_name[SW_MSG_<ID>]: the atom's text (defined in c_src/proto.c). */
extern const char *const sw_msg_name[SW_MSG_COUNT];

#endif
