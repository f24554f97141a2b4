%% swarm_proto.hrl - the wire protocol shared by the Erlang side and the C
%% node; include/swarm_proto.h holds the same definitions for C.
-define(SW_TAG, '$sw1').
-define(SW_PROTO_VERSION, 1).
-define(SW_SERVER, swarm).
-define(SW_MAX_NAME_BYTES, 65536).
%% The C node of BEAM node N is named SW_CNODE_PREFIX ++ N.
-define(SW_CNODE_PREFIX, "swarm_").
%% ETS replica of the registry, fed by the local C node.
-define(SW_NAMES, swarm_names).
%% The MFAs of this node's register_name/4,5 processes, {Name, Pid, MFABin},
%% kept by the agent for the hello of a restarted C node.
-define(SW_MFA, swarm_mfa).
%% Registered name of the agent process on every BEAM node running swarm.
-define(SW_AGENT, swarm_agent).
%% The C node of a BEAM node without distribution (nonode@nohost), reached
%% through its port rather than over distribution (swarm_cnode).
-define(SW_UNNAMED_CNODE, swarm_nonode@nohost).
%% Process groups: ETS replica of the memberships (chunks of
%% pids, see swarm_groups.erl) and the registered name of its writer.
-define(SW_GROUPS, swarm_groups).
%% Member lists of large groups as members/1 last built them, with the
%% version of the group they were built at (see swarm_groups.erl).
-define(SW_GROUPS_CACHE, swarm_groups_cache).
%% Joins and leaves of this node's pids that its replica shows before the
%% C node confirmed them: `{{GroupBin, Pid}, gjoin | gleave, Tag}' (see
%% swarm_groups.erl, the pending overlay).
-define(SW_GROUPS_PENDING, swarm_groups_pending).
%% The protocol's atoms, one -define(SW_MSG_<ID>, atom) each, in the order
%% and with the names of SW_MSGS in include/swarm_proto.h, which says for
%% each its direction, its term and its meaning. test/c/test_proto.c checks
%% that the two lists agree.
-define(SW_MSG_CONFIG, config).
-define(SW_MSG_READY, ready).
-define(SW_MSG_ERROR, error).
-define(SW_MSG_DELIVER, deliver).
-define(SW_MSG_LOG, log).
-define(SW_MSG_REG, reg).
-define(SW_MSG_REG_MFA, reg_mfa).
-define(SW_MSG_UNREG, unreg).
-define(SW_MSG_STARTED, started).
-define(SW_MSG_HANDOFF, handoff).
-define(SW_MSG_PID_DOWN, pid_down).
-define(SW_MSG_PEER_UP, peer_up).
-define(SW_MSG_PEER_DOWN, peer_down).
-define(SW_MSG_HELLO, hello).
-define(SW_MSG_PING, ping).
-define(SW_MSG_STATS, stats).
-define(SW_MSG_GJOIN, gjoin).
-define(SW_MSG_GLEAVE, gleave).
-define(SW_MSG_GDOWN, gdown).
-define(SW_MSG_GHELLO, ghello).
-define(SW_MSG_GTRANSFER, gtransfer).
-define(SW_MSG_GSTATS, gstats).
-define(SW_MSG_OPS, ops).
-define(SW_MSG_GOPS, gops).
-define(SW_MSG_ADD, add).
-define(SW_MSG_DEL, del).
-define(SW_MSG_LOST, lost).
-define(SW_MSG_SYNC, sync).
-define(SW_MSG_REG_REQ, reg_req).
-define(SW_MSG_REG_MFA_REQ, reg_mfa_req).
-define(SW_MSG_UNREG_REQ, unreg_req).
-define(SW_MSG_CLAIM, claim).
-define(SW_MSG_CLAIM_NACK, claim_nack).
-define(SW_MSG_REPLY, reply).
-define(SW_MSG_HANDOFF_START, handoff_start).
-define(SW_MSG_HANDOFF_FAILED, handoff_failed).
-define(SW_MSG_JOIN, join).
-define(SW_MSG_LEAVE, leave).
-define(SW_MSG_DOWN, down).
-define(SW_MSG_JOIN_REQ, join_req).
-define(SW_MSG_LEAVE_REQ, leave_req).
-define(SW_MSG_TRANSFER, transfer).
-define(SW_MSG_BATCH, batch).
-define(SW_MSG_RING, ring).
-define(SW_MSG_SYNCED, synced).
-define(SW_MSG_LINKS, links).
-define(SW_MSG_START, start).
-define(SW_MSG_DIE, die).
-define(SW_MSG_END_HANDOFF, end_handoff).
-define(SW_MSG_RESOLVE, resolve).
-define(SW_MSG_MFA, mfa).
-define(SW_MSG_GBATCH, gbatch).
-define(SW_MSG_GSYNCED, gsynced).
-define(SW_MSG_MON, mon).
-define(SW_MSG_AGENT_HELLO, agent_hello).
-define(SW_MSG_AGENT_CNODE_UP, agent_cnode_up).
-define(SW_MSG_AGENT_BYE, agent_bye).
-define(SW_MSG_RAW, raw).
-define(SW_MSG_RETRY, retry).
-define(SW_MSG_CONFIRM, confirm).
-define(SW_MSG_CHECK, check).
-define(SW_MSG_REGISTER, register).
-define(SW_MSG_WHEREIS_OR_REGISTER, whereis_or_register).
-define(SW_MSG_RESTART, restart).
-define(SW_MSG_IGNORE, ignore).
-define(SW_MSG_RESUME, resume).
-define(SW_MSG_YES, yes).
-define(SW_MSG_NO, no).
-define(SW_MSG_OK, ok).
-define(SW_MSG_ALREADY_REGISTERED, already_registered).
-define(SW_MSG_UNDEFINED, undefined).
-define(SW_MSG_NONE, none).
-define(SW_MSG_REDIRECT, redirect).
-define(SW_MSG_PONG, pong).
-define(SW_MSG_HOME_UNREACHABLE, home_unreachable).
-define(SW_MSG_NO_NODE_AVAILABLE, no_node_available).
-define(SW_MSG_OUT_OF_MEMORY, out_of_memory).
-define(SW_MSG_HOST, host).
-define(SW_MSG_MEMBERS, members).
-define(SW_MSG_LEAVING, leaving).
-define(SW_MSG_STOP, stop).
-define(SW_MSG_REJOIN, rejoin).
-define(SW_MSG_CRASH, crash).
-define(SW_MSG_MOVE, move).
-define(SW_MSG_NOT_FOUND, not_found).
-define(SW_MSG_ORPHAN, orphan).
-define(SW_MSG_REG_OPT, reg_opt).
-define(SW_MSG_DROP, drop).
-define(SW_MSG_RESOLVE_STATE, resolve_state).
-define(SW_MSG_RESOLVE_FOLLOW, resolve_follow).
-define(SW_MSG_RESOLVE_CAST, resolve_cast).
-define(SW_MSG_HOSTS, hosts).
