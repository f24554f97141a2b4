%% @doc swarm: a global, distributed process registry whose registry runs in a
%% C node beside every BEAM node. This module is the Erlang API and the
%% `{via, swarm, Name}' callback module; `Swarm' (module 'Elixir.Swarm') is
%% the same API under Elixir's names.
%%
%% Erlang:
%% ```
%% {ok, Pid} = gen_server:start_link({via, swarm, {worker, 42}}, my_worker, [], []),
%% Reply = gen_server:call({via, swarm, {worker, 42}}, ping),
%% Pid = swarm:whereis_name({worker, 42}).
%% '''
%% Elixir:
%% ```
%% {:ok, pid} = GenServer.start_link(MyWorker, [], name: {:via, :swarm, {:worker, 42}})
%% GenServer.call({:via, :swarm, {:worker, 42}}, :ping)
%% Swarm.whereis_name({:worker, 42})
%% '''
%%
%% Reads (`whereis_name/1', `send/2', `registered/0', and so every call
%% through the via tuple) are local ETS reads. Writes go to the local C node,
%% which has the name's owner decide and replicates the result; they return
%% once this node's replica shows the change.
-module(swarm).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").

-export([register_name/2, unregister_name/1, whereis_name/1, send/2, registered/0]).
-export([register_name/4, register_name/5, whereis_or_register_name/4,
         whereis_or_register_name/5]).
%% Handoff on demand, and the node's place in the ring.
-export([handoff/0, handoff/2, rejoin/0, leave_placement/1]).
%% Introspection.
-export([info/0]).
%% Process groups: see the section at the end of this file.
-export([join/2, leave/2, members/1, publish/2, multi_call/2, multi_call/3]).
%% For swarm_groups.
-export([request/6, epoch/0]).

%% A request's message, given its Ref and whether it is sent again.
-type build() :: fun((ref(), boolean()) -> tuple()).
%% What a request carries as Ref: the caller's alias and the copy's number.
-type ref() :: {reference(), non_neg_integer()}.
%% Whether a reply can be taken, given whether it answers the latest copy
%% of the request and whether the request was sent again (see request/6).
-type trust() :: fun((term(), boolean(), boolean()) -> boolean()).

-type start_error() :: {already_registered, pid()} | no_node_available
                     | {invalid_return, term()} | term().
-export_type([start_error/0]).

%% Default wait of register_name/4 and whereis_or_register_name/4.
-define(START_TIMEOUT, 30000).

%% How long a caller waits for its reply before it monitors the process
%% that is to send it (see request/6).
-define(UNWATCHED_MS, 100).

%% How often a caller whose reply is late looks whether a link changed.
-define(RESEND_CHECK_MS, 50).

%% @doc Registers `Name' for `Pid' cluster-wide. Returns `yes', or `no' if
%% the name is taken (also when concurrent calls race for it: in a connected
%% cluster exactly one of them gets `yes', and every node agrees on it). The
%% name is removed when `Pid' exits or its node goes down; it is never moved
%% to another node. Any term can be a name, up to 64 KiB encoded (larger
%% names raise `error({name_too_large, Bytes})'). Exits with
%% `{timeout, {swarm, register_name, [Name, Pid]}}' if the local C node does
%% not answer within the `call_timeout' setting (it is restarting).
%%
%% With the `registration' setting `optimistic' (default `exact') and a
%% pid of this node, the caller decides alone, as Swarm does: `yes' if this
%% node's replica does not show the name, written into it at once; its C
%% node hears of it afterwards. Two nodes may then both answer `yes' for one
%% name: the registrations meet as after a partition, the larger stamp wins
%% everywhere within a round trip, and the losing process is sent
%% `{swarm, die}' (a name this node's C node knew taken before the
%% caller's replica showed it: the caller's registration loses).
-spec register_name(term(), pid()) -> yes | no.
register_name(Name, Pid) when is_pid(Pid) ->
    NameBin = encode(Name),
    case node(Pid) =:= node() andalso persistent_term:get({swarm, optimistic}, false) of
        true -> register_optimistic(Name, NameBin, Pid);
        false -> register_exact(Name, NameBin, Pid)
    end.

%% The replica row first, then the C node's word (one message, no reply):
%% the C node's answer to a refusal (a drop of this row) always comes after
%% the row.
-spec register_optimistic(term(), binary(), pid()) -> yes | no.
register_optimistic(Name, NameBin, Pid) ->
    CNode = try swarm_cnode:cnode()
            catch error:badarg -> exit({noproc, {swarm, register_name, [Name, Pid]}})
            end,
    case ets:insert_new(?SW_NAMES, {Name, Pid}) of
        true ->
            ok = swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_REG_OPT, NameBin, Pid}),
            yes;
        false ->
            no
    end.

-spec register_exact(term(), binary(), pid()) -> yes | no.
register_exact(Name, NameBin, Pid) ->
    %% Sent again (after a link dropped), it says `retry': the name already
    %% held by this very pid then answers yes (the first request got it).
    Build = fun(Ref, false) -> {?SW_TAG, ?SW_MSG_REG, self(), Ref, NameBin, Pid};
               (Ref, true) -> {?SW_TAG, ?SW_MSG_REG, self(), Ref, NameBin, Pid, ?SW_MSG_RETRY}
            end,
    call_owner(Name, Build, fun(?SW_MSG_YES, _, _) -> true; (_, Latest, _) -> Latest end,
               application:get_env(swarm, call_timeout, 5000),
               {register_name, [Name, Pid]}).

%% @doc Starts a process with `apply(M, F, A)' on the node the hash ring
%% assigns to `Name' (the node Swarm's libring would pick), registers it there
%% as `Name', and returns `{ok, Pid}'. The MFA must return `{ok, Pid}'. If that
%% node goes down, the process is started again, once, on the name's new
%% owner. Same as `register_name(Name, M, F, A, 30000)'.
%%
%% Errors: `{error, {already_registered, Pid}}' if the name is taken,
%% `{error, no_node_available}' when a StaticQuorumRing has fewer nodes than
%% its quorum, `{error, {invalid_return, Other}}' when the MFA returns
%% something else, or the MFA's own `{error, Reason}' (a crash of the MFA
%% gives `{error, {Class, Reason}}'). The start runs in a fresh process, so it
%% may itself call swarm; it never blocks other registrations or lookups.
%%
%% If nodes that disagreed about the cluster (a partition, a node joining)
%% both started `Name', the copy that loses the conflict is asked
%% `{swarm, begin_handoff}'; if it answers `{resume, State}' the winner is
%% cast `{swarm, resolve_conflict, State}'. The loser is then sent
%% `{swarm, die}' and should stop, as in Swarm:
%% `handle_info({swarm, die}, S) -> {stop, shutdown, S}'.
%%
%% Handoff, as in Swarm: when a node joins and the ring makes it the owner
%% of `Name', the process is called `{swarm, begin_handoff}' (within the
%% `handoff_timeout' setting, 5 s by default) and may answer `restart'
%% (started anew there), `{resume, State}' (the same, then the new process
%% is cast `{swarm, end_handoff, State}') or `ignore' (it stays). No answer
%% counts as `restart'. The old process is then sent `{swarm, die}'; the new
%% one joins the old one's groups.
-spec register_name(term(), module(), atom(), [term()]) -> {ok, pid()} | {error, start_error()}.
register_name(Name, M, F, A) ->
    register_name(Name, M, F, A, ?START_TIMEOUT).

%% @doc As {@link register_name/4}, waiting at most `Timeout' ms for the
%% start; then exits `{timeout, {swarm, register_name, [Name, M, F, A, Timeout]}}'
%% (the start itself goes on and may still register the name).
-spec register_name(term(), module(), atom(), [term()], timeout()) ->
          {ok, pid()} | {error, start_error()}.
register_name(Name, M, F, A, Timeout) when is_atom(M), is_atom(F), is_list(A) ->
    start_call(?SW_MSG_REGISTER, Name, {M, F, A}, Timeout,
               {register_name, [Name, M, F, A, Timeout]}).

%% @doc As {@link register_name/4}, but a name that is already registered
%% gives `{ok, Pid}' of the registered process instead of an error.
-spec whereis_or_register_name(term(), module(), atom(), [term()]) ->
          {ok, pid()} | {error, start_error()}.
whereis_or_register_name(Name, M, F, A) ->
    whereis_or_register_name(Name, M, F, A, ?START_TIMEOUT).

%% @doc As {@link whereis_or_register_name/4} with a timeout in ms.
-spec whereis_or_register_name(term(), module(), atom(), [term()], timeout()) ->
          {ok, pid()} | {error, start_error()}.
whereis_or_register_name(Name, M, F, A, Timeout) when is_atom(M), is_atom(F), is_list(A) ->
    case whereis_name(Name) of
        Pid when is_pid(Pid) -> {ok, Pid};
        undefined ->
            start_call(?SW_MSG_WHEREIS_OR_REGISTER, Name, {M, F, A}, Timeout,
                       {whereis_or_register_name, [Name, M, F, A, Timeout]})
    end.

%% @doc Removes the registration of `Name' (this one name only, as `global'
%% does; Swarm 3.x removes every name of the same pid). Always `ok', also for
%% an unknown name.
-spec unregister_name(term()) -> ok.
unregister_name(Name) ->
    NameBin = encode(Name),
    call(fun(Ref, _) -> {?SW_TAG, ?SW_MSG_UNREG, self(), Ref, NameBin} end, fun(_, _, _) -> true end,
         application:get_env(swarm, call_timeout, 5000), {unregister_name, [Name]}).

%% @doc The pid registered as `Name', or `undefined'. A local read: no
%% message is sent, hit or miss.
-spec whereis_name(term()) -> pid() | undefined.
whereis_name(Name) ->
    %% lookup, not lookup_element: a miss must not cost an exception.
    case ets:lookup(?SW_NAMES, Name) of
        [{_, Pid}] -> Pid;
        [] -> undefined
    end.

%% @doc Sends `Msg' to the process registered as `Name' and returns its pid.
%% Exits with `{badarg, {Name, Msg}}' if the name is not registered, like
%% `global:send/2'.
-spec send(term(), term()) -> pid().
send(Name, Msg) ->
    case whereis_name(Name) of
        undefined -> exit({badarg, {Name, Msg}});
        Pid -> Pid ! Msg, Pid
    end.

%% @doc Every registered name with its pid, from the local replica.
-spec registered() -> [{term(), pid()}].
registered() ->
    ets:tab2list(?SW_NAMES).

%% @doc Takes this node out of the placement and hands its
%% `register_name/4,5' processes off to the other nodes, as Swarm does when
%% a node joins: each is called `{swarm, begin_handoff}' (within the
%% `handoff_timeout' setting) and moved to the name's owner among the other
%% nodes (`restart', `{resume, State}', no answer), or stays (`ignore').
%% Nothing is placed on this node until {@link rejoin/0} (or a restart of
%% swarm); its `register_name/2' names and lookups are unchanged. Returns
%% `{ok, Remaining}' once every move has settled (`Remaining': the local
%% processes still here, those that answered `ignore' or that no other
%% node can take), or `{error, timeout}' after `handoff_timeout' plus 5 s
%% (moves still under way go on).
-spec handoff() -> {ok, non_neg_integer()} | {error, timeout}.
handoff() ->
    leave_placement(?SW_MSG_HANDOFF).

%% @doc Puts this node back into the placement after {@link handoff/0}:
%% names the ring gives it again move back here (as when a node joins).
%% `{error, stopping}' while the node stops.
-spec rejoin() -> ok | {error, stopping}.
rejoin() ->
    gen_server:call(?SW_AGENT, rejoin).

%% @doc Swarm's `Swarm.Tracker.handoff/2': moves the local
%% `register_name/4,5' process `Name' to the name's owner among the other
%% nodes, started there with its MFA and cast `{swarm, end_handoff, State}';
%% the old process is sent `{swarm, die}' once the new one holds the name.
%% The process itself may call it (e.g. in `terminate/2'), since it is not
%% asked anything. Returns `ok' once the move is under way,
%% `{error, not_found}' if no local `register_name/4,5' process has that
%% name, `{error, no_node_available}' if no other node is there.
-spec handoff(term(), term()) -> ok | {error, not_found | no_node_available}.
handoff(Name, State) ->
    NameBin = encode(Name),
    StateBin = term_to_binary(State),
    call(fun(Ref, _) -> {?SW_TAG, ?SW_MSG_MOVE, self(), Ref, NameBin, StateBin} end,
         fun(_, _, _) -> true end, application:get_env(swarm, call_timeout, 5000),
         {handoff, [Name, State]}).

%% @doc What swarm knows on this node, for operators and tests: this node
%% and its C node (OS pid, ready, restarts), the peers running swarm, the
%% ring's members, whether this node is in the placement, the replica's
%% sizes (names, groups' chunks, and `group_pending': the joins and leaves
%% of local pids whose C node has not answered yet) and the C node's
%% counters (names, conflicts, handoffs, restarts, quorum stops, dropped
%% and malformed messages, ...; `{error, timeout}' if it does not answer
%% within 5 s).
-spec info() -> map().
info() ->
    Agent = gen_server:call(?SW_AGENT, info),
    Agent#{names => ets:info(?SW_NAMES, size),
           group_rows => ets:info(?SW_GROUPS, size),
           group_pending => ets:info(?SW_GROUPS_PENDING, size),
           counters => swarm_agent:stats(),
           group_counters => swarm_cnode:ask(?SW_MSG_GSTATS)}.

%% @private
%% @doc The node leaves the placement, in `Mode' (`handoff' or `stop'),
%% and waits until its processes' moves have settled (see handoff/0).
-spec leave_placement(?SW_MSG_HANDOFF | ?SW_MSG_STOP) -> {ok, non_neg_integer()} | {error, timeout}.
leave_placement(Mode) ->
    Ref = make_ref(),
    ok = gen_server:call(?SW_AGENT, {leave, Mode, self(), Ref}),
    Timeout = application:get_env(swarm, handoff_timeout, 5000) + 5000,
    receive
        {Ref, {ok, N}} -> {ok, N}
    after Timeout ->
        {error, timeout}
    end.

%% ---------------------------------------------------------------------------

%% The C node compares names by their encoding, so the encoding must be one
%% per term: deterministic (maps sorted) and with -0.0 written as 0.0, since
%% the two are the same term (=:=) before OTP 27 but encode differently.
-spec encode(term()) -> binary().
encode(Name) ->
    Bin0 = term_to_binary(Name, [deterministic]),
    Bin = case binary:match(Bin0, <<70, 128, 0, 0, 0, 0, 0, 0, 0>>) of
              nomatch -> Bin0;
              _ -> term_to_binary(zero_floats(Name), [deterministic])
          end,
    case byte_size(Bin) of
        N when N > ?SW_MAX_NAME_BYTES -> error({name_too_large, N});
        _ -> Bin
    end.

-spec zero_floats(term()) -> term().
zero_floats(F) when is_float(F), F == 0 -> 0.0;
zero_floats(T) when is_tuple(T) -> list_to_tuple(zero_floats(tuple_to_list(T)));
zero_floats([H | T]) -> [zero_floats(H) | zero_floats(T)];
zero_floats(M) when is_map(M) -> maps:from_list(zero_floats(maps:to_list(M)));
zero_floats(X) -> X.

-spec start_call(?SW_MSG_REGISTER | ?SW_MSG_WHEREIS_OR_REGISTER, term(),
                 mfa() | {module(), atom(), [term()]},
                 timeout(), {atom(), [term()]}) -> {ok, pid()} | {error, start_error()}.
start_call(Mode, Name, MFA, Timeout, Where) ->
    %% Sent again (after a link dropped), it asks whereis_or_register: the
    %% first request may have started and registered the process already.
    Build = fun(Ref, Retry) ->
                    M = case Retry of true -> ?SW_MSG_WHEREIS_OR_REGISTER; false -> Mode end,
                    {?SW_TAG, ?SW_MSG_REG_MFA, self(), Ref, encode(Name), term_to_binary(MFA), M}
            end,
    Trust = fun({?SW_MSG_OK, _}, _, _) -> true; (_, Latest, _) -> Latest end,
    case call_owner(Name, Build, Trust, Timeout, Where) of
        {?SW_TAG, ?SW_MSG_RAW, Bin} -> binary_to_term(Bin);
        Reply -> Reply
    end.

%% A registration request: straight to the C node of Name's owner when the
%% ring mirror (swarm_ring, kept only with direct_to_owner) names another
%% one, which answers through ours or says `redirect'; then, or else, to ours.
-spec call_owner(term(), build(), trust(), timeout(), {atom(), [term()]}) -> term().
call_owner(Name, Build, Trust, Timeout, Where) ->
    case swarm_ring:owner_cnode(Name) of
        local ->
            call(Build, Trust, Timeout, Where);
        CNode ->
            case request(CNode, Build, Trust, ?SW_AGENT, Timeout, Where) of
                ?SW_MSG_REDIRECT -> call(Build, Trust, Timeout, Where);
                Reply -> Reply
            end
    end.

%% A request to our own C node; the reply comes through our agent.
-spec call(build(), trust(), timeout(), {atom(), [term()]}) -> term().
call(Build, Trust, Timeout, Where) ->
    request(local, Build, Trust, ?SW_AGENT, Timeout, Where).

%% @private
%% @doc Sends `Build(Ref, false)' to the registry server of C node `CNode'
%% (`local': this node's, whichever it is when the request starts; exits
%% `{noproc, {swarm, Fun, Args}}' while swarm is not running) and waits for `{Ref, Reply}', which the local process registered as
%% `Server' (the agent, or swarm_groups) is to send; returns `Reply'. Exits
%% with `{timeout, {swarm, Fun, Args}}' after `Timeout' ms, or
%% `{Why, {swarm, Fun, Args}}' if `Server' is not running or exits
%% meanwhile.
%%
%% A link may drop with the request or the reply on it (between this node
%% and its C node, or between two C nodes): the agent then bumps the link
%% epoch (epoch/0), and a caller still waiting sends a new copy,
%% `Build(Ref2, true)', to its own C node, each time the epoch changes
%% before its reply comes; the copy says what a repeat must answer (see
%% register_name/2). `Ref' is `{Alias, N}': the caller's alias (dropped
%% once it has its answer, so later replies never reach its mailbox) and
%% the copy's number. A reply is taken if `Trust(Reply, Latest, Resent)':
%% whether it answers the latest copy, and whether copies were sent. A
%% success is always taken; otherwise an earlier copy may have found the
%% name already taken by a later one for the same pid and answer `no', and
%% a copy may find a home unreachable while an earlier one went through.
%% `Server' is monitored only after ?UNWATCHED_MS: a monitor per call costs
%% two signals to the busiest process of the registry (many callers monitor
%% the same one), and a reply almost always comes sooner.
-spec request(node() | local, build(), trust(), atom(), timeout(), {atom(), [term()]}) -> term().
request(Target, Build, Trust, Server, Timeout, {Fun, FunArgs} = Where) ->
    %% The epoch before the C node: a change of the local C node (a
    %% restart, a change of transport) between the two reads bumps it, and
    %% the request is then sent again to the new one.
    Epoch = epoch(),
    CNode = case Target of
                local ->
                    try swarm_cnode:cnode()
                    catch error:badarg -> exit({noproc, {swarm, Fun, FunArgs}})
                    end;
                _ ->
                    Target
            end,
    Alias = erlang:alias(),
    ok = swarm_cnode:send(CNode, Build({Alias, 0}, false)),
    First = case Timeout of
                infinity -> ?UNWATCHED_MS;
                _ -> min(Timeout, ?UNWATCHED_MS)
            end,
    try
        receive
            {{Alias, 0}, Reply} -> Reply
        after First ->
            Deadline = case Timeout of
                           infinity -> infinity;
                           _ -> now_ms() + Timeout - First
                       end,
            Mref = erlang:monitor(process, Server),
            await(#{alias => Alias, copy => 0, mref => Mref, deadline => Deadline, where => Where,
                    build => Build, trust => Trust}, Epoch)
        end
    after
        erlang:unalias(Alias)
    end.

-spec await(map(), non_neg_integer()) -> term().
await(#{alias := Alias, copy := Copy, mref := Mref, deadline := Deadline,
        where := {Fun, FunArgs}, trust := Trust} = W, Epoch) ->
    Wait = case Deadline of
               infinity -> ?RESEND_CHECK_MS;
               _ -> max(0, min(?RESEND_CHECK_MS, Deadline - now_ms()))
           end,
    receive
        {{Alias, N}, Reply} ->
            case Trust(Reply, N =:= Copy, Copy > 0) of
                true ->
                    erlang:demonitor(Mref, [flush]),
                    Reply;
                false ->
                    await(W, Epoch)
            end;
        {'DOWN', Mref, process, _, Why} ->
            exit({Why, {swarm, Fun, FunArgs}})
    after Wait ->
        case Deadline =/= infinity andalso now_ms() >= Deadline of
            true ->
                erlang:demonitor(Mref, [flush]),
                exit({timeout, {swarm, Fun, FunArgs}});
            false ->
                case epoch() of
                    Epoch ->
                        await(W, Epoch);
                    New ->
                        resend((maps:get(build, W))({Alias, Copy + 1}, true)),
                        await(W#{copy := Copy + 1}, New)
                end
        end
    end.

-spec resend(tuple()) -> ok.
resend(Msg) ->
    case persistent_term:get({swarm, cnode}, undefined) of
        undefined -> ok;
        CNode -> swarm_cnode:send(CNode, Msg)
    end.

%% @private
%% @doc The link epoch: a counter the agent bumps whenever a link that
%% requests travel on went down or came back (0 when swarm is not running).
-spec epoch() -> non_neg_integer().
epoch() ->
    swarm_cnode:epoch().

-spec now_ms() -> integer().
now_ms() ->
    erlang:monotonic_time(millisecond).

%% ===========================================================================
%% Process groups. Memberships are replicated by the C nodes
%% (c_src/group.c); reads come from this node's ETS replica, written by
%% swarm_groups (erl_src/swarm_groups.erl). See README.md, Internals.

%% @doc Makes `Pid' a member of `Group' (any term, up to 64 KiB encoded, as
%% for names). Any pid may join, registered or not; joining twice is the same
%% as once. The membership ends when `Pid' leaves, exits, or its node goes
%% down. Returns `ok' once this node's replica shows the membership, or
%% `{error, home_unreachable}' if `Pid''s node does not run swarm or its C
%% node is not connected (it is restarting). Exits with
%% `{timeout, {swarm, join, [Group, Pid]}}' after `call_timeout'. For a
%% pid of this node, the caller writes this node's replica itself and its
%% C node hears of it afterwards, with no wait and no error (a C node that
%% is restarting gets it from the replica); the other nodes see it once
%% that C node has replicated it, as for any join.
%% ```
%% ok = swarm:join(workers, self()),
%% [_ | _] = swarm:members(workers).
%% '''
%% Elixir: `Swarm.join(:workers, self())'.
-spec join(term(), pid()) -> ok | {error, home_unreachable}.
join(Group, Pid) when is_pid(Pid) ->
    group_op(?SW_MSG_GJOIN, Group, Pid, join).

%% @doc Removes `Pid' from `Group'; `ok' also if it was not a member. Returns
%% once this node's replica shows the change (errors as for join/2).
-spec leave(term(), pid()) -> ok | {error, home_unreachable}.
leave(Group, Pid) when is_pid(Pid) ->
    group_op(?SW_MSG_GLEAVE, Group, Pid, leave).

%% A pid of this node: this node's replica is written by the caller and the
%% C node told without waiting (the pending overlay, swarm_groups); the
%% other nodes' replicas change as the C node replicates it. A pid of
%% another node: through the C nodes to its home and back.
-spec group_op(?SW_MSG_GJOIN | ?SW_MSG_GLEAVE, term(), pid(), join | leave) ->
          ok | {error, home_unreachable}.
group_op(Op, Group, Pid, Fun) when node(Pid) =:= node() ->
    swarm_groups:local(Op, encode(Group), Pid, {Fun, [Group, Pid]});
group_op(Op, Group, Pid, Fun) ->
    swarm_groups:request(Op, encode(Group), Pid, {Fun, [Group, Pid]}).

%% @doc The members of `Group' (`[]' for an unknown group). A local read of
%% this node's replica: no message is sent.
-spec members(term()) -> [pid()].
members(Group) ->
    swarm_groups:members(encode(Group)).

%% @doc Sends `Msg' once to every member of `Group' (as listed by
%% members/1 on this node) and returns `ok'.
-spec publish(term(), term()) -> ok.
publish(Group, Msg) ->
    swarm_groups:publish(encode(Group), Msg).

%% @doc multi_call(Group, Msg, 5000).
-spec multi_call(term(), term()) -> [term()].
multi_call(Group, Msg) ->
    multi_call(Group, Msg, 5000).

%% @doc Calls every member of `Group' concurrently with the gen_server call
%% protocol (`{'$gen_call', From, Msg}') and returns the replies received
%% within `Timeout' ms, in member order. Members that exit, are unreachable
%% or do not answer in time are left out. Late replies never reach the
%% caller's mailbox (a helper process makes the calls).
%% ```
%% Replies = swarm:multi_call(workers, status, 1000).
%% '''
%% Elixir: `Swarm.multi_call(:workers, :status)'.
-spec multi_call(term(), term(), timeout()) -> [term()].
multi_call(Group, Msg, Timeout) ->
    swarm_groups:multi_call(encode(Group), Msg, Timeout).
