%% @private
%% @doc Process groups on the BEAM side: the group replica's writer.
%%
%% The C node (c_src/group.c) holds and replicates the memberships; this
%% process owns nothing but the following duties, and never runs user code
%% nor waits on a remote node:
%%
%% - it applies the C node's group change stream to the ETS replica
%%   `swarm_groups' (created by swarm_sup), then delivers the replies that
%%   must follow those changes, so a caller of join/leave reads its own
%%   writes;
%% - it monitors the local pids that are members of a group (the C node says
%%   which) and reports their deaths to the C node;
%% - it says hello to the C node, with the memberships of live local pids
%%   its replica holds, whenever the C node (re)starts (swarm_agent tells it
%%   with `{cnode_ready, CNode}') and when it starts itself.
%%
%% The replica. The members of a group are stored in chunks of up to 64
%% pids, as objects `{GroupBin, K, Version, PidTuple}' of a duplicate_bag
%% keyed by `GroupBin' (the group's encoding, see swarm:encode/1), so
%% members/1 is one ETS lookup. The C node sends whole chunks
%% `{GroupBin, K, PidTuple}' (an empty tuple when chunk K is gone). One batch
%% of chunks is inserted with a single ets:insert/2 (atomic and isolated),
%% stamped with a new version; older versions of those chunks are deleted
%% afterwards. A reader that meets two versions of a chunk keeps the newest,
%% so every lookup sees the group as it was before or after a whole batch.
%%
%% Callers (swarm:join/2, leave/2) send their requests straight to the local
%% C node; the replies come back through this process (request/4).
-module(swarm_groups).
-compile(warn_missing_spec).
-behaviour(gen_server).
-include("swarm_proto.hrl").
-include_lib("kernel/include/logger.hrl").

-export([start_link/0, cnode_ready/1, request/4, members/1, publish/2, multi_call/3,
         transfer/2, stats/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(st, {
    %% local member pid -> monitor
    mons = #{} :: #{pid() => reference()},
    %% After a hello: the chunks ({GroupBin, K}) received since.
    shadow :: ets:tid() | undefined
}).

-type state() :: #st{}.
-type group_bin() :: binary().

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SW_GROUPS}, ?MODULE, [], []).

%% @doc Called by swarm_agent right after it said hello to a (re)started C
%% node: this process then sends its own hello. A no-op while this process
%% is not running (it says hello when it starts).
-spec cnode_ready(node()) -> ok.
cnode_ready(CNode) ->
    case whereis(?SW_GROUPS) of
        undefined -> ok;
        Pid -> Pid ! {cnode_ready, CNode}, ok
    end.

%% @doc A join or leave request (`Op' is `gjoin' or `gleave') sent to the
%% local C node; returns once this node's replica shows the change. `Mfa'
%% names the API call for exit reasons.
-spec request(gjoin | gleave, group_bin(), pid(), {atom(), [term()]}) ->
          ok | {error, home_unreachable | term()}.
request(Op, GroupBin, Pid, {Fun, Args}) ->
    CNode = try persistent_term:get({swarm, cnode})
            catch error:badarg -> exit({noproc, {swarm, Fun, Args}})
            end,
    Ref = erlang:monitor(process, ?SW_GROUPS),
    erlang:send({?SW_SERVER, CNode}, {?SW_TAG, Op, self(), Ref, GroupBin, Pid}),
    Timeout = application:get_env(swarm, call_timeout, 5000),
    receive
        {Ref, ok} ->
            erlang:demonitor(Ref, [flush]),
            ok;
        {Ref, Why} ->
            erlang:demonitor(Ref, [flush]),
            {error, Why};
        {'DOWN', Ref, process, _, Why} ->
            exit({Why, {swarm, Fun, Args}})
    after Timeout ->
        erlang:demonitor(Ref, [flush]),
        exit({timeout, {swarm, Fun, Args}})
    end.

%% @doc The members of the group whose encoding is `GroupBin', from the
%% local replica.
-spec members(group_bin()) -> [pid()].
members(GroupBin) ->
    try ets:lookup(?SW_GROUPS, GroupBin) of
        [] -> [];
        [{_, _, _, T}] -> tuple_to_list(T);
        Chunks -> newest(lists:keysort(2, Chunks), [])
    catch error:badarg -> []
    end.

%% Keeps the newest version of every chunk, drops gone chunks, and
%% concatenates in chunk order.
-spec newest([{group_bin(), non_neg_integer(), integer(), tuple()}], [tuple()]) -> [pid()].
newest([{_, K, V1, _} = A, {_, K, V2, _} = B | Rest], Acc) ->
    newest([case V1 > V2 of true -> A; false -> B end | Rest], Acc);
newest([{_, _, _, T} | Rest], Acc) ->
    newest(Rest, [T | Acc]);
newest([], Acc) ->
    lists:foldl(fun(T, L) -> tuple_to_list(T) ++ L end, [], Acc).

%% @doc Sends `Msg' once to every member (local replica) of the group.
-spec publish(group_bin(), term()) -> ok.
publish(GroupBin, Msg) ->
    lists:foreach(fun(P) -> P ! Msg end, members(GroupBin)).

%% @doc Calls every member concurrently (gen_server call protocol) and
%% returns the replies that arrived within `Timeout' ms, in member order.
%% The calls are made by a helper process: late replies go to it and die
%% with it, so the caller's mailbox gets exactly one message, which this
%% function consumes.
-spec multi_call(group_bin(), term(), timeout()) -> [term()].
multi_call(GroupBin, Msg, Timeout) ->
    Members = members(GroupBin),
    Caller = self(),
    Tag = make_ref(),
    {Helper, Mref} = spawn_monitor(fun() -> collect(Caller, Tag, Members, Msg, Timeout) end),
    receive
        {Tag, Replies} ->
            erlang:demonitor(Mref, [flush]),
            Replies;
        {'DOWN', Mref, process, Helper, Why} ->
            exit({Why, {swarm, multi_call, [GroupBin, Msg, Timeout]}})
    end.

-spec collect(pid(), reference(), [pid()], term(), timeout()) -> ok.
collect(Caller, Tag, Members, Msg, Timeout) ->
    CallerMon = erlang:monitor(process, Caller),
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    {Pending, _} = lists:foldl(
                     fun(P, {Acc, I}) ->
                             M = erlang:monitor(process, P),
                             P ! {'$gen_call', {self(), M}, Msg},
                             {Acc#{M => I}, I + 1}
                     end, {#{}, 0}, Members),
    Got = collect_loop(Pending, #{}, Deadline, CallerMon),
    Caller ! {Tag, [R || {_, R} <- lists:keysort(1, maps:to_list(Got))]},
    ok.

-spec collect_loop(#{reference() => non_neg_integer()}, #{non_neg_integer() => term()},
                   integer() | infinity, reference()) -> #{non_neg_integer() => term()}.
collect_loop(Pending, Got, _Deadline, _CallerMon) when map_size(Pending) =:= 0 ->
    Got;
collect_loop(Pending, Got, Deadline, CallerMon) ->
    Wait = case Deadline of
               infinity -> infinity;
               _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
           end,
    receive
        {M, Reply} when is_map_key(M, Pending) ->
            erlang:demonitor(M, [flush]),
            {I, Rest} = maps:take(M, Pending),
            collect_loop(Rest, Got#{I => Reply}, Deadline, CallerMon);
        {'DOWN', M, process, _, _} when is_map_key(M, Pending) ->
            collect_loop(maps:remove(M, Pending), Got, Deadline, CallerMon);
        {'DOWN', CallerMon, process, _, _} ->
            exit(normal)
    after Wait ->
        Got
    end.

%% @doc The rejoin hook: `NewPid' joins every group `OldPid' is in, or was
%% in when its node went down (the C nodes keep those memberships aside for
%% 30 to 60 s). Asynchronous; call it on any node once the replacement
%% process runs (the C node forwards the request to `NewPid''s home).
-spec transfer(pid(), pid()) -> ok.
transfer(OldPid, NewPid) when is_pid(OldPid), is_pid(NewPid) ->
    erlang:send({?SW_SERVER, persistent_term:get({swarm, cnode})},
                {?SW_TAG, gtransfer, OldPid, NewPid}),
    ok.

%% @doc Counters and sizes of the local C node's group state, as a proplist
%% (`{error, timeout}' if it does not answer within 5 s).
-spec stats() -> [{atom(), non_neg_integer()}] | {error, timeout}.
stats() ->
    Ref = make_ref(),
    erlang:send({?SW_SERVER, persistent_term:get({swarm, cnode})}, {?SW_TAG, gstats, self(), Ref}),
    receive
        {Ref, Stats} -> Stats
    after 5000 -> {error, timeout}
    end.

%% ---------------------------------------------------------------------------

-spec init([]) -> {ok, state()}.
init([]) ->
    St = #st{},
    case persistent_term:get({swarm, cnode}, undefined) of
        undefined -> {ok, St};
        CNode -> {ok, hello(CNode, St)}
    end.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(monitored, _From, St) ->
    {reply, maps:size(St#st.mons), St};
handle_call(_Req, _From, St) ->
    {reply, {error, unknown_call}, St}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({?SW_TAG, gbatch, Chunks, Mons, Replies}, St0) ->
    ok = apply_chunks(Chunks, St0#st.shadow),
    St = St0#st{mons = apply_mons(Mons, St0#st.mons)},
    [Caller ! {Ref, Result} || {Caller, Ref, Result} <- Replies],
    {noreply, St};
handle_info({?SW_TAG, gsynced}, St) ->
    {noreply, end_shadow(St)};
handle_info({'DOWN', Mref, process, Pid, _Why}, #st{mons = Mons} = St) ->
    case Mons of
        #{Pid := Mref} ->
            to_cnode({?SW_TAG, gdown, Pid}),
            {noreply, St#st{mons = maps:remove(Pid, Mons)}};
        _ ->
            {noreply, St}
    end;
handle_info({cnode_ready, CNode}, St) ->
    {noreply, hello(CNode, St)};
handle_info(Other, St) ->
    ?LOG_DEBUG(#{event => unexpected_message, message => Other}),
    {noreply, St}.

%% ---------------------------------------------------------------------------

-spec to_cnode(term()) -> ok.
to_cnode(Msg) ->
    erlang:send({?SW_SERVER, persistent_term:get({swarm, cnode})}, Msg),
    ok.

%% Tells the C node our pid and the memberships of live local pids in the
%% replica. Monitors are rebuilt from the C node's answer; until it reports
%% gsynced, the chunks it sends are noted, then the others are dropped.
-spec hello(node(), state()) -> state().
hello(CNode, St0) ->
    St = begin_shadow(St0),
    Me = node(),
    Local = ets:foldl(
              fun({Bin, _K, _V, T}, Acc) ->
                      case [P || P <- tuple_to_list(T), node(P) =:= Me, is_process_alive(P)] of
                          [] -> Acc;
                          Ps -> [{Bin, Ps} | Acc]
                      end
              end, [], ?SW_GROUPS),
    erlang:send({?SW_SERVER, CNode}, {?SW_TAG, ghello, self(), Local}),
    St.

-spec apply_chunks([{group_bin(), non_neg_integer(), tuple()}], ets:tid() | undefined) -> ok.
apply_chunks([], _Shadow) ->
    ok;
apply_chunks(Chunks, Shadow) ->
    %% Monotonic across restarts of this process, so a new chunk always
    %% outranks what an earlier incarnation wrote.
    V = erlang:unique_integer([monotonic, positive]),
    true = ets:insert(?SW_GROUPS, [{G, K, V, T} || {G, K, T} <- Chunks]),
    lists:foreach(
      fun({G, K, T}) ->
              _ = ets:select_delete(?SW_GROUPS, [{{G, K, '$1', '_'}, [{'<', '$1', V}], [true]}]),
              T =:= {} andalso ets:delete_object(?SW_GROUPS, {G, K, V, {}}),
              Shadow =:= undefined orelse ets:insert(Shadow, {{G, K}})
      end, Chunks).

-spec apply_mons([{mon | demon, pid()}], #{pid() => reference()}) -> #{pid() => reference()}.
apply_mons([], Mons) ->
    Mons;
apply_mons([{mon, P} | Rest], Mons) ->
    case Mons of
        #{P := _} -> apply_mons(Rest, Mons);
        _ -> apply_mons(Rest, Mons#{P => erlang:monitor(process, P)})
    end;
apply_mons([{demon, P} | Rest], Mons) ->
    case maps:take(P, Mons) of
        {M, Mons1} ->
            erlang:demonitor(M, [flush]),
            apply_mons(Rest, Mons1);
        error ->
            apply_mons(Rest, Mons)
    end.

-spec begin_shadow(state()) -> state().
begin_shadow(St0) ->
    St = drop_shadow(St0),
    [erlang:demonitor(M, [flush]) || M <- maps:values(St#st.mons)],
    case ets:info(?SW_GROUPS, size) of
        0 -> St#st{mons = #{}};
        _ -> St#st{mons = #{}, shadow = ets:new(swarm_groups_shadow, [set, private])}
    end.

-spec end_shadow(state()) -> state().
end_shadow(#st{shadow = undefined} = St) ->
    St;
end_shadow(#st{shadow = Sh} = St) ->
    Stale = ets:foldl(fun({G, K, _, _} = O, Acc) ->
                              case ets:member(Sh, {G, K}) of
                                  true -> Acc;
                                  false -> [O | Acc]
                              end
                      end, [], ?SW_GROUPS),
    [ets:delete_object(?SW_GROUPS, O) || O <- Stale],
    drop_shadow(St).

-spec drop_shadow(state()) -> state().
drop_shadow(#st{shadow = undefined} = St) -> St;
drop_shadow(#st{shadow = Sh} = St) -> ets:delete(Sh), St#st{shadow = undefined}.
