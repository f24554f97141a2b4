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
%% Process groups (issue 4): ETS replica of the memberships (chunks of
%% pids, see swarm_groups.erl) and the registered name of its writer.
-define(SW_GROUPS, swarm_groups).
%% Member lists of large groups as members/1 last built them, with the
%% version of the group they were built at (see swarm_groups.erl).
-define(SW_GROUPS_CACHE, swarm_groups_cache).
