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
%% - it has the local pids that are members of a group monitored (the C node
%%   says which, once per pid) and their deaths reported to the C node, by a
%%   linked helper process, the holder, which keeps nothing but the monitors
%%   themselves: a pid stays monitored from its first join until it dies,
%%   even after it left every group (the C node remembers it, so a rejoin
%%   asks for no second monitor), and every hello starts a new holder (the
%%   old one exits, and its monitors go with it);
%% - it says hello to the C node, with the memberships of live local pids
%%   its replica holds, whenever the C node (re)starts (swarm_agent tells it
%%   with `{cnode_ready, CNode}') and when it starts itself.
%%
%% The replica. An ordered_set of chunks `{{GroupBin, K}, PidTuple}' (up to
%% 16 pids each, SW_GROUP_CHUNK in c_src/group.h); `GroupBin' is the
%% group's encoding (see swarm:encode/1).
%% members/1 reads a group's chunks with one ets:select/2 (the key's first
%% element bound: only that group's range is visited). The C node sends the
%% chunks that changed, `{GroupBin, K, PidTuple}' (an empty tuple when chunk
%% K is gone); a batch is written with one ets:insert/2, then the chunks that
%% are gone are deleted. A member never moves between chunks (c_src/group.c),
%% so every change rewrites one chunk and a reader sees each member that
%% stays in the group exactly once, though it reads the chunks one by one.
%%
%% The member list cache (unless the `groups_members_cache' setting is
%% false). Building a large group's member list from its chunks costs
%% more than copying one finished list out of ETS (mostly the garbage
%% collections of the intermediate terms), so members/1 keeps the
%% list of a group of more than ?CACHE_MIN_CHUNKS chunks in the set
%% `swarm_groups_cache', as `{{c, GroupBin}, Version, PidTuple}' (a tuple
%% takes half the words of a list in ETS; tuple_to_list/1 on the copy read
%% out is one allocation, cheap next to the rebuild). This process
%% writes `{{v, GroupBin}, Version}' (a fresh erlang:unique_integer/1) after
%% every batch that changes the group, and deletes the cached list; a reader
%% uses a cached list only if its version is the current one, and caches
%% what it built with the version it read *before* reading the chunks. A
%% list built from chunks that changed meanwhile carries an old version, so
%% it is never served after the change is complete: a caller of join/leave,
%% whose reply follows the version bump, reads its own writes. An empty
%% group has no version (nothing is cached for it).
%%
%% The pending overlay. A join or leave of a pid of this node (local/4)
%% is written by its caller into the public ordered_set
%% `swarm_groups_pending', `{{GroupBin, Pid}, gjoin | gleave, Tag}' (a
%% later call for the same pair overwrites the row), and sent to the local
%% C node without waiting: its `Caller' is this process and its `Ref'
%% `{pend, {GroupBin, Pid}, Op, Tag}' (by distribution even with the
%% pipe transport: a message without an answer, which distribution
%% coalesces with the others where each port write is a `write' of its
%% own; 8 callers on one node: 173k joins/s against 96k/s on the pipe), so
%% the C node's answer comes back here, in the batch that carries the
%% chunks the change rewrote, after them. This process then deletes that
%% exact row (ets:delete_object/2: a newer row for the pair stays until its
%% own answer). Readers (members/1, publish/2) read the overlay first,
%% then the chunks: a pair's row, while there, decides whether Pid is
%% listed; once gone, the chunks already show its change. So the caller
%% reads its own writes without a round trip to the C node. The overlay
%% survives the C node and this process: every hello folds it into the
%% memberships it reports and sends each row again right after it, on the
%% same channel (joins and leaves are idempotent), so a request lost with a
%% C node, or answered to an earlier swarm_groups, is answered again; and
%% at gsynced the rows still there are sent once more (a request that
%% overtook a new swarm_groups' hello was answered to the old one).
%%
%% Callers of join/leave for a pid of another node send their requests
%% straight to the local C node, which forwards them to the pid's home; the
%% replies come back through this process (request/4).
-module(swarm_groups).
-compile(warn_missing_spec).
-behaviour(gen_server).
-include("swarm_proto.hrl").
-include_lib("kernel/include/logger.hrl").

-export([start_link/0, cnode_ready/1, request/4, local/4, members/1, publish/2, multi_call/3,
         transfer/2, stats/0]).
-export([holder_loop/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(st, {
    %% The holder: monitors the local members, reports their deaths.
    holder :: pid() | undefined,
    %% Whether the C node's {hello, Holder} for this holder came: monitor
    %% requests before it were made for an earlier holder.
    holder_ready = false :: boolean(),
    %% After a hello: the chunks ({GroupBin, K}) received since.
    shadow :: swarm_cnode:shadow()
}).

-type state() :: #st{}.
-type group_bin() :: binary().

%% Groups of more chunks than this (16 members each: 256 members) have
%% their member list cached by members/1.
-define(CACHE_MIN_CHUNKS, 16).

%% @doc Starts the process, registered as `swarm_groups' (by swarm_sup).
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
-spec request(?SW_MSG_GJOIN | ?SW_MSG_GLEAVE, group_bin(), pid(), {atom(), [term()]}) ->
          ok | {error, home_unreachable | term()}.
request(Op, GroupBin, Pid, {Fun, Args}) ->
    %% Joining or leaving again is harmless: the same message is resent
    %% after a link dropped (see swarm:request/6).
    Build = fun(Ref, _) -> {?SW_TAG, Op, self(), Ref, GroupBin, Pid} end,
    %% After a copy was sent, `home_unreachable' may come from a copy that
    %% met a dropped link while another one went through: only the latest
    %% copy's answer of a request never sent again is taken as it is.
    Trust = fun(?SW_MSG_OK, _, _) -> true; (_, Latest, Resent) -> Latest andalso not Resent end,
    case swarm:request(local, Build, Trust, ?SW_GROUPS,
                       application:get_env(swarm, call_timeout, 5000), {Fun, Args}) of
        ?SW_MSG_OK -> ok;
        Why -> {error, Why}
    end.

%% @doc A join or leave (`Op': `gjoin' or `gleave') of `Pid', a pid of
%% this node: written into the pending overlay, so this node's replica
%% shows the change when this returns, and sent to the local C node
%% without waiting for its answer (see the module doc). Returns `ok'. While
%% swarm_groups does not run, does as request/4.
-spec local(?SW_MSG_GJOIN | ?SW_MSG_GLEAVE, group_bin(), pid(), {atom(), [term()]}) ->
          ok | {error, home_unreachable | term()}.
local(Op, GroupBin, Pid, Mfa) ->
    case whereis(?SW_GROUPS) of
        undefined ->
            request(Op, GroupBin, Pid, Mfa);
        Proc ->
            Key = {GroupBin, Pid},
            Tag = erlang:unique_integer([positive]),
            true = ets:insert(?SW_GROUPS_PENDING, {Key, Op, Tag}),
            try swarm_cnode:cnode() of
                CNode -> send_pending(CNode, Proc, {Key, Op, Tag})
            catch
                %% No C node yet: the hello sends the row.
                error:badarg -> ok
            end
    end.

%% Sends the request of the overlay's row to the C node: on its port only
%% with the port transport. Its order against this node's other messages
%% to the C node does not matter: a pair's requests are all sent this way,
%% and a lost one is sent again by the next hello (a C node restart, or the
%% link back: swarm_agent's cnode_ready).
-spec send_pending(node(), pid(), {{group_bin(), pid()}, ?SW_MSG_GJOIN | ?SW_MSG_GLEAVE, pos_integer()}) ->
          ok.
send_pending(CNode, Proc, Row) ->
    Msg = pending_request(Proc, Row),
    case swarm_cnode:port_transport(CNode) of
        true -> swarm_cnode:send(CNode, Msg);
        false -> erlang:send({?SW_SERVER, CNode}, Msg), ok
    end.

%% The C node's request for an overlay's row, answered to `Proc'.
-spec pending_request(pid(), {{group_bin(), pid()}, ?SW_MSG_GJOIN | ?SW_MSG_GLEAVE, pos_integer()}) ->
          tuple().
pending_request(Proc, {{GroupBin, Pid} = Key, Op, Tag}) ->
    {?SW_TAG, Op, Proc, {pend, Key, Op, Tag}, GroupBin, Pid}.

%% The overlay's rows of this group, `[{Pid, Op}]' (read before the chunks).
-spec pending(group_bin()) -> [{pid(), ?SW_MSG_GJOIN | ?SW_MSG_GLEAVE}].
pending(GroupBin) ->
    %% A number sorts before every pid: the first key after {GroupBin, 0}
    %% is this group's first row, if it has one.
    try ets:next(?SW_GROUPS_PENDING, {GroupBin, 0}) of
        {GroupBin, _} ->
            ets:select(?SW_GROUPS_PENDING, [{{{GroupBin, '$1'}, '$2', '_'}, [], [{{'$1', '$2'}}]}]);
        _ ->
            []
    catch error:badarg ->
        []
    end.

%% The members read from the chunks, with the overlay's rows applied: a pid
%% with a row is listed if its row is a join.
-spec overlay([{pid(), atom()}, ...], [pid()]) -> [pid()].
overlay(Pend, Pids) ->
    Rows = maps:from_list(Pend),
    [P || P <- Pids, not is_map_key(P, Rows)] ++ [P || {P, ?SW_MSG_GJOIN} <- Pend].

%% @doc The members of the group whose encoding is `GroupBin', from the
%% local replica (its chunks, and the pending overlay).
-spec members(group_bin()) -> [pid()].
members(GroupBin) ->
    case pending(GroupBin) of
        [] -> members_chunks(GroupBin);
        Pend -> overlay(Pend, members_chunks(GroupBin))
    end.

-spec members_chunks(group_bin()) -> [pid()].
members_chunks(GroupBin) ->
    try ets:lookup(?SW_GROUPS_CACHE, {v, GroupBin}) of
        [] ->
            build(chunks(GroupBin));
        [{_, V}] ->
            case ets:select(?SW_GROUPS_CACHE, [{{{c, GroupBin}, V, '$1'}, [], ['$1']}]) of
                [Cached] ->
                    tuple_to_list(Cached);
                [] ->
                    Chunks = chunks(GroupBin),
                    Pids = build(Chunks),
                    %% Not if the group changed meanwhile: that list would
                    %% never be served (a group changing all the time would
                    %% have each reader copy its list into ETS for nothing).
                    length(Chunks) > ?CACHE_MIN_CHUNKS andalso
                        ets:lookup(?SW_GROUPS_CACHE, {v, GroupBin}) =:= [{{v, GroupBin}, V}] andalso
                        ets:insert(?SW_GROUPS_CACHE, {{c, GroupBin}, V, list_to_tuple(Pids)}),
                    Pids
            end
    catch error:badarg ->
        []
    end.

-spec build([tuple()]) -> [pid()].
build(Chunks) ->
    lists:append([tuple_to_list(T) || T <- Chunks]).

-spec chunks(group_bin()) -> [tuple()].
chunks(GroupBin) ->
    try ets:select(?SW_GROUPS, [{{{GroupBin, '_'}, '$1'}, [], ['$1']}])
    catch error:badarg -> []
    end.

%% @doc Sends `Msg' once to every member (local replica) of the group.
-spec publish(group_bin(), term()) -> ok.
publish(GroupBin, Msg) ->
    case pending(GroupBin) of
        [] ->
            lists:foreach(fun(T) -> send_all(T, tuple_size(T), Msg) end, chunks(GroupBin));
        Pend ->
            lists:foreach(fun(P) -> P ! Msg end, overlay(Pend, build(chunks(GroupBin))))
    end.

-spec send_all(tuple(), non_neg_integer(), term()) -> ok.
send_all(_T, 0, _Msg) -> ok;
send_all(T, I, Msg) -> element(I, T) ! Msg, send_all(T, I - 1, Msg).

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
    swarm_cnode:send({?SW_TAG, ?SW_MSG_GTRANSFER, OldPid, NewPid}).

%% @doc Counters and sizes of the local C node's group state, as a proplist
%% (`{error, timeout}' if it does not answer within 5 s).
-spec stats() -> [{atom(), non_neg_integer()}] | {error, timeout}.
stats() ->
    swarm_cnode:ask(?SW_MSG_GSTATS).

%% ---------------------------------------------------------------------------

%% @doc gen_server callback: says hello to the C node if it runs.
-spec init([]) -> {ok, state()}.
init([]) ->
    St = #st{},
    case persistent_term:get({swarm, cnode}, undefined) of
        undefined -> {ok, St};
        CNode -> {ok, hello(CNode, St)}
    end.

%% @doc gen_server callback: `monitored' gives the number of monitored
%% local pids, `holder' the process that monitors them (for tests and
%% benchmarks).
-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(monitored, _From, #st{holder = undefined} = St) ->
    {reply, 0, St};
handle_call(monitored, _From, #st{holder = H} = St) ->
    {monitors, Ms} = process_info(H, monitors),
    {reply, length(Ms), St};
handle_call(holder, _From, St) ->
    {reply, St#st.holder, St};
handle_call(_Req, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @doc gen_server callback: nothing is cast to this process.
-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @doc gen_server callback: the C node's batches and gsynced, and
%% swarm_agent's cnode_ready.
-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({?SW_TAG, ?SW_MSG_GBATCH, _, _, _} = Msg, St0) ->
    %% Batches queued behind this one are applied with it: a chunk written
    %% several times is written once, and the replies still follow the
    %% changes they report.
    {Chunks1, Mons1, Replies1} = merged(swarm_cnode:drain(Msg, 64)),
    ok = apply_chunks(Chunks1, St0#st.shadow),
    {Ready, Pids} = route_mons(Mons1, St0#st.holder, St0#st.holder_ready, []),
    Pids =:= [] orelse (St0#st.holder ! {mon, Pids}),
    Self = self(),
    _ = [deliver(Self, Caller, Ref, Result) || {Caller, Ref, Result} <- Replies1],
    {noreply, St0#st{holder_ready = Ready}};
handle_info({?SW_TAG, ?SW_MSG_GSYNCED}, St) ->
    ok = resend_pending(),
    {noreply, end_shadow(St)};
handle_info({cnode_ready, CNode}, St) ->
    {noreply, hello(CNode, St)};
handle_info(Other, St) ->
    ?LOG_DEBUG(#{event => unexpected_message, message => Other}, swarm_log:meta()),
    {noreply, St}.

%% ---------------------------------------------------------------------------

%% Tells the C node our pid and the memberships of live local pids in the
%% replica. Monitors are rebuilt from the C node's answer, by a new holder;
%% until it reports gsynced, the keys it writes are noted, then the others
%% are dropped.
-spec hello(node(), state()) -> state().
hello(CNode, St0) ->
    St = begin_shadow(St0),
    Me = node(),
    %% The overlay first (as a reader): a pair with a row is reported as
    %% its row says, and every row is sent again after the hello.
    Pend = ets:tab2list(?SW_GROUPS_PENDING),
    Rows = maps:from_list([{K, Op} || {K, Op, _} <- Pend]),
    Local = ets:foldl(
              fun({{Bin, _K}, T}, Acc) ->
                      case [P || P <- tuple_to_list(T), node(P) =:= Me,
                                 not is_map_key({Bin, P}, Rows), is_process_alive(P)] of
                          [] -> Acc;
                          Ps -> [{Bin, Ps} | Acc]
                      end
              end,
              [{Bin, [P]} || {{Bin, P}, ?SW_MSG_GJOIN, _} <- Pend, is_process_alive(P)],
              ?SW_GROUPS),
    ok = swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_GHELLO, self(), Local, St#st.holder}),
    %% After the hello on its channel: answered to this process.
    lists:foreach(fun(Row) -> swarm_cnode:send(CNode, pending_request(self(), Row)) end, Pend),
    St.

%% The C node has this process's hello and every peer's sync: the rows of
%% the overlay still there are sent again (see the module doc).
-spec resend_pending() -> ok.
resend_pending() ->
    try swarm_cnode:cnode() of
        CNode ->
            lists:foreach(fun(Row) -> send_pending(CNode, self(), Row) end,
                          ets:tab2list(?SW_GROUPS_PENDING))
    catch error:badarg ->
        ok
    end.

%% A reply of the C node: to its caller, or, for a request of the pending
%% overlay (its Caller is this process), the end of that row (the chunks
%% of its batch, written just before, show the change).
-spec deliver(pid(), pid(), term(), term()) -> ok.
deliver(Self, Self, {pend, Key, Op, Tag}, Result) ->
    Result =:= ?SW_MSG_OK orelse
        ?LOG_WARNING(#{event => group_request_failed, key => Key, op => Op, result => Result},
                     swarm_log:meta()),
    true = ets:delete_object(?SW_GROUPS_PENDING, {Key, Op, Tag}),
    ok;
deliver(_Self, Caller, Ref, Result) ->
    swarm_cnode:reply(Caller, Ref, Result).

%% The pids to monitor, from the C node's requests: those after its
%% {hello, Holder} for the current holder (and none after a hello for
%% another one).
-spec route_mons([{?SW_MSG_HELLO, pid()} | {?SW_MSG_MON, pid()}], pid() | undefined, boolean(), [pid()]) ->
          {boolean(), [pid()]}.
route_mons([], _H, Ready, Acc) ->
    {Ready, lists:reverse(Acc)};
route_mons([{?SW_MSG_HELLO, H} | T], H, _Ready, _Acc) ->
    route_mons(T, H, true, []);
route_mons([{?SW_MSG_HELLO, _Other} | T], H, _Ready, _Acc) ->
    route_mons(T, H, false, []);
route_mons([{?SW_MSG_MON, P} | T], H, true, Acc) ->
    route_mons(T, H, true, [P | Acc]);
route_mons([_ | T], H, Ready, Acc) ->
    route_mons(T, H, Ready, Acc).

%% The gbatch messages, in their order, as one: the chunks, the monitor
%% requests and the replies.
-spec merged([tuple()]) -> {list(), list(), list()}.
merged([{_, ?SW_MSG_GBATCH, C, M, R}]) ->
    {C, M, R};
merged(Batches) ->
    %% The last version of each chunk wins (maps:from_list keeps the last).
    Last = maps:from_list([{{G, K}, T} || {_, ?SW_MSG_GBATCH, C, _, _} <- Batches, {G, K, T} <- C]),
    {[{G, K, T} || {{G, K}, T} <- maps:to_list(Last)],
     lists:append([M || {_, ?SW_MSG_GBATCH, _, M, _} <- Batches]),
     lists:append([R || {_, ?SW_MSG_GBATCH, _, _, R} <- Batches])}.

-spec apply_chunks([{group_bin(), non_neg_integer(), tuple()}], swarm_cnode:shadow()) -> ok.
apply_chunks([], _Shadow) ->
    ok;
apply_chunks(Chunks, Shadow) ->
    true = ets:insert(?SW_GROUPS, [{{G, K}, T} || {G, K, T} <- Chunks, T =/= {}]),
    _ = [ets:delete(?SW_GROUPS, {G, K}) || {G, K, {}} <- Chunks],
    changed(lists:usort([G || {G, _, _} <- Chunks])),
    swarm_cnode:shadow_note(Shadow, [{G, K} || {G, K, _} <- Chunks]).

%% The chunks of these groups were just rewritten: new versions (none for a
%% group left empty), and their cached member lists are dropped. With the
%% `groups_members_cache' setting false no version is ever written, so
%% members/1 always builds its list from the chunks and caches nothing.
-spec changed([group_bin()]) -> ok.
changed([]) ->
    ok;
changed(Groups) ->
    case persistent_term:get({swarm, groups_members_cache}, true) of
        true -> bump(Groups);
        false -> ok
    end.

-spec bump([group_bin()]) -> ok.
bump(Groups) ->
    V = erlang:unique_integer([monotonic, positive]),
    lists:foreach(
      fun(G) ->
              case ets:next(?SW_GROUPS, {G, -1}) of
                  {G, _} -> true = ets:insert(?SW_GROUPS_CACHE, {{v, G}, V});
                  _ -> true = ets:delete(?SW_GROUPS_CACHE, {v, G})
              end,
              true = ets:delete(?SW_GROUPS_CACHE, {c, G})
      end, Groups).

%% @private
%% @doc The holder's loop: monitors the pids it is sent, reports the death of
%% each to the C node (the C node ignores pids it does not know).
-spec holder_loop() -> no_return().
holder_loop() ->
    receive
        {mon, Pids} ->
            _ = [erlang:monitor(process, P) || P <- Pids],
            ?MODULE:holder_loop();
        {'DOWN', _Mref, process, Pid, _Why} ->
            swarm_cnode:send({?SW_TAG, ?SW_MSG_GDOWN, Pid}),
            ?MODULE:holder_loop();
        _Other ->
            ?MODULE:holder_loop()
    end.

%% A new holder, which monitors nothing yet; the old one exits with its
%% monitors (its link to us is removed first).
-spec new_holder(state()) -> state().
new_holder(#st{holder = Old} = St) ->
    is_pid(Old) andalso begin unlink(Old), exit(Old, kill) end,
    St#st{holder = spawn_link(?MODULE, holder_loop, []), holder_ready = false}.

-spec begin_shadow(state()) -> state().
begin_shadow(#st{shadow = Sh} = St) ->
    _ = swarm_cnode:shadow_drop(Sh),
    (new_holder(St))#st{shadow = swarm_cnode:shadow_new(?SW_GROUPS, swarm_groups_shadow)}.

%% The C node reported gsynced: the chunks it did not write since the
%% hello are dropped.
-spec end_shadow(state()) -> state().
end_shadow(#st{shadow = Sh} = St) ->
    Stale = swarm_cnode:shadow_stale(Sh, ?SW_GROUPS),
    _ = [ets:delete(?SW_GROUPS, K) || K <- Stale],
    changed(lists:usort([G || {G, _} <- Stale])),
    St#st{shadow = swarm_cnode:shadow_drop(Sh)}.
