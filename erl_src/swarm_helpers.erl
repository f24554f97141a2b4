%% @private
%% @doc What the registry asks of the processes that register_name/4,5
%% starts, each from a fresh process so that the agent's loop never runs
%% user code nor waits: their start (apply of the MFA), their handoff when
%% the ring places them on another node, the resolution of a conflict
%% between two of them, and the answers about handed-off state and
%% shutdown.
%%
%% What it is not: the replica (swarm_replica decides when to call these)
%% or a process of its own.
-module(swarm_helpers).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").

-export([start_mfa/2, started/2, begin_handoff/3, end_handoff/2, resolve_conflict/3, resolved/2,
         die/1]).

%% How long the state of a conflict's loser may wait for the link to the
%% winner's node (resolve_conflict/2).
-define(RESOLVE_WAIT_MS, 300000).

%% @doc Runs apply(M, F, A) for the C node (`MFABin' is the MFA's
%% encoding) in a fresh process, which tells the calling agent
%% `{'$sw1', started, Id, Pid | undefined, {'$sw1', raw,
%% term_to_binary(Result)}}'; the agent passes results on with started/2.
-spec start_mfa(non_neg_integer(), binary()) -> pid().
start_mfa(Id, MFABin) ->
    Agent = self(),
    spawn(fun() ->
                  Result = try binary_to_term(MFABin) of
                               {M, F, A} ->
                                   try apply(M, F, A) of
                                       {ok, Started} = Ok when is_pid(Started) -> Ok;
                                       {error, _} = Error -> Error;
                                       Other -> {error, {invalid_return, Other}}
                                   catch Class:Reason -> {error, {Class, Reason}}
                                   end
                           catch error:badarg -> {error, bad_mfa}
                           end,
                  Pid = case Result of {ok, P} -> P; _ -> ?SW_MSG_UNDEFINED end,
                  %% The result travels as a binary: it may hold terms (funs)
                  %% that the C node does not decode; the caller unwraps it.
                  Wrapped = {?SW_TAG, ?SW_MSG_RAW, term_to_binary(Result)},
                  Agent ! {?SW_TAG, ?SW_MSG_STARTED, Id, Pid, Wrapped}
          end).

%% @doc Passes the start results to C node `CNode' in one message: the
%% `started' message `Msg' just received and those waiting behind it (at
%% most 256). Returns the pids started, for the caller to monitor before
%% the C node answers the register (see swarm_replica:prewatch/2).
-spec started(node(), tuple()) -> [pid()].
started(CNode, Msg) ->
    Results = [{Id, Pid, Res} || {_, ?SW_MSG_STARTED, Id, Pid, Res} <- swarm_cnode:drain(Msg, 256)],
    ok = swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_STARTED, Results}),
    [Pid || {_, Pid, _} <- Results, is_pid(Pid)].

%% @doc Asks a process started by register_name/4,5 that the ring now
%% places on another node what to do ({swarm, begin_handoff}, as in
%% Swarm), from a fresh process (the call may take up to `handoff_timeout'
%% ms), and hands the answer to C node `CNode': `restart' or `{resume,
%% State}' move it, `ignore' keeps it here. No answer (not a gen_server, a
%% crash, a timeout) counts as `restart'.
-spec begin_handoff(binary(), pid(), node()) -> pid().
begin_handoff(NameBin, Pid, CNode) ->
    spawn(fun() ->
                  %% The answer in Swarm's terms, as the C node's handoff answer.
                  How = case ask_handoff(Pid) of
                            {resume, State} -> {?SW_MSG_RESUME, term_to_binary(State)};
                            restart -> ?SW_MSG_RESTART;
                            ignore -> ?SW_MSG_IGNORE
                        end,
                  swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_HANDOFF, NameBin, Pid, How})
          end).

%% @doc Gives the process that replaced a handed-off one the state
%% (`StateBin', encoded) the old one handed off.
-spec end_handoff(pid(), binary()) -> ok.
end_handoff(Pid, StateBin) ->
    gen_server:cast(Pid, {swarm, end_handoff, binary_to_term(StateBin)}).

%% Pid's answer to {swarm, begin_handoff} within `handoff_timeout' ms; no
%% answer, or another one, counts as `restart'. Called from a fresh process.
-spec ask_handoff(pid()) -> restart | ignore | {resume, term()}.
ask_handoff(Pid) ->
    Timeout = application:get_env(swarm, handoff_timeout, 5000),
    try gen_server:call(Pid, {swarm, begin_handoff}, Timeout) of
        ignore -> ignore;
        {resume, State} -> {resume, State};
        _ -> restart
    catch _:_ -> restart
    end.

%% @doc A local process started by register_name/4,5 lost its name
%% (`NameBin', encoded) to `Winner' (a duplicate started while nodes
%% disagreed, e.g. across a partition): as in Swarm, from a fresh process,
%% it is asked {swarm, begin_handoff}; on `{resume, State}' the state goes
%% to the winner's node ({resolve_state, ...} to its swarm_confirm, for its C node,
%% which casts {swarm, resolve_conflict, State} to the winner, or to the
%% process that takes the winner's name if the winner is being handed off:
%% see resolved/2); then the loser is sent {swarm, die}.
%% The winner's node may be behind a link that is down, or down and not
%% yet known to be (an overlapping partition: a third node that sees both
%% sides settled the conflict): the send is confirmed by a round trip over
%% the same connection, and made again once the node is connected, until
%% it is confirmed or ?RESOLVE_WAIT_MS have passed.
-spec resolve_conflict(pid(), pid(), binary()) -> pid().
resolve_conflict(Loser, Winner, NameBin) ->
    spawn(fun() ->
                  case ask_handoff(Loser) of
                      {resume, State} ->
                          Node = node(Winner),
                          Msg = {?SW_TAG, ?SW_MSG_RESOLVE_STATE, NameBin, Winner, term_to_binary(State)},
                          Send = fun() -> _ = erlang:send({swarm_confirm, Node}, Msg), ok end,
                          Deadline = erlang:monotonic_time(millisecond) + ?RESOLVE_WAIT_MS,
                          case Node =:= node() orelse lists:member(Node, nodes()) of
                              true ->
                                  ok = Send(),
                                  Loser ! {swarm, die},
                                  confirm(Node, Send, Deadline);
                              false ->
                                  Loser ! {swarm, die},
                                  deliver(Node, Send, Deadline)
                          end;
                      _ ->
                          Loser ! {swarm, die}
                  end
          end).

%% @doc Casts {swarm, resolve_conflict, State} to local process `Pid' (the
%% winner of a conflict, or the process that took its name by a handoff):
%% `StateBin' is the loser's state, encoded.
-spec resolved(pid(), binary()) -> ok.
resolved(Pid, StateBin) ->
    gen_server:cast(Pid, {swarm, resolve_conflict, binary_to_term(StateBin)}).

%% Runs Send once Node is connected, then confirms it.
-spec deliver(node(), fun(() -> ok), integer()) -> ok.
deliver(Node, Send, Deadline) ->
    case wait_connected(Node, Deadline) of
        true ->
            ok = Send(),
            confirm(Node, Send, Deadline);
        false ->
            ok
    end.

%% A round trip to Node after the send travels on the same connection
%% (swarm_confirm, shared by the helpers of a burst): its answer means the
%% message arrived; a connection lost meanwhile means it may not have, and
%% it is sent again (this node: nothing to confirm).
-spec confirm(node(), fun(() -> ok), integer()) -> ok.
confirm(Node, _Send, _Deadline) when Node =:= node() ->
    ok;
confirm(Node, Send, Deadline) ->
    Left = Deadline - erlang:monotonic_time(millisecond),
    case swarm_confirm:barrier(Node, max(Left, 1)) of
        noconnection when Left > 0 -> deliver(Node, Send, Deadline);
        _ -> ok
    end.

%% Whether Node is connected, waiting for its nodeup until Deadline and
%% trying to connect every 2 s meanwhile (nothing else may).
-spec wait_connected(node(), integer()) -> boolean().
wait_connected(Node, Deadline) ->
    ok = net_kernel:monitor_nodes(true),
    Up = wait_nodeup(Node, Deadline),
    ok = net_kernel:monitor_nodes(false),
    Up.

-spec wait_nodeup(node(), integer()) -> boolean().
wait_nodeup(Node, Deadline) ->
    Left = Deadline - erlang:monotonic_time(millisecond),
    case lists:member(Node, nodes()) of
        true -> true;
        false when Left =< 0 -> false;
        false ->
            _ = spawn(fun() -> net_kernel:connect_node(Node) end),
            receive
                {nodeup, Node} -> true
            after min(Left, 2000) ->
                wait_nodeup(Node, Deadline)
            end
    end.

%% @doc A process started by register_name/4,5 lost its name to a
%% duplicate (started while nodes disagreed on the ring): Swarm's shutdown
%% request, {swarm, die}.
-spec die(pid()) -> ok.
die(Pid) ->
    Pid ! {swarm, die},
    ok.
