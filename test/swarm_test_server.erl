%% @doc A gen_server used by the suites: answers ping, echoes, counts casts,
%% and can be told to stop or to crash. On a node where log_open/0 was
%% called, every instance also records its start, the begin_handoff calls
%% it answers with {resume, _}, the end_handoff and resolve_conflict casts
%% and the {swarm, die} it receives (log/0 reads them back, even
%% after the process exited).
-module(swarm_test_server).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
-export([start/1, start_link/1, start_error/1, start_bad/0, start_crash/0, start_hang/0,
         start_reentrant/1, start_elsewhere/1, start_unless_on/2,
         start_when_ready/1]).
-export([log_open/0, log/0]).

-define(LOG, swarm_test_server_log).

-spec init(term()) -> {ok, map()}.
init({reentrant, N}) ->
    yes = swarm:register_name({reentrant_alias, N}, self()),
    undefined = swarm:whereis_name({reentrant, N}),
    {ok, _} = swarm:register_name({reentrant_child, N}, ?MODULE, start, [child]),
    {ok, #{arg => reentrant, casts => []}};
init(Arg) ->
    record({started, Arg}),
    {ok, #{arg => Arg, casts => []}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()} | {stop, normal, ok, map()}.
handle_call({swarm, begin_handoff}, _From, S = #{arg := {handoff, ignore, _}}) ->
    {reply, ignore, S};
handle_call({swarm, begin_handoff}, _From, S = #{arg := {handoff, resume, Tag}}) ->
    record(begin_handoff),
    {reply, {resume, {state_of, Tag, self()}}, S};
handle_call({swarm, begin_handoff}, _From, S = #{arg := {handoff, slow_resume, Tag, Ms}}) ->
    %% Takes its time to answer: casts sent meanwhile wait in the mailbox.
    record(begin_handoff),
    receive after Ms -> ok end,
    {reply, {resume, {state_of, Tag, self()}}, S};
handle_call({swarm, begin_handoff}, _From, S) ->
    {reply, restart, S};
handle_call(handed_off, _From, S) -> {reply, maps:get(handed_off, S, none), S};
handle_call(resolved, _From, S) -> {reply, maps:get(resolved, S, none), S};
handle_call(ping, _From, S) -> {reply, {pong, node(), self()}, S};
handle_call(casts, _From, S = #{casts := C}) -> {reply, lists:reverse(C), S};
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call(stop, _From, S) -> {stop, normal, ok, S};
handle_call({handoff_self, Name, State}, _From, S) ->
    ok = swarm:handoff(Name, State),
    {stop, normal, ok, S};
handle_call(crash, _From, _S) -> error(crash_requested).

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast({swarm, end_handoff, State}, S) ->
    record({end_handoff, State}),
    {noreply, S#{handed_off => State}};
handle_cast({swarm, resolve_conflict, State}, S) ->
    record({resolve_conflict, State}),
    {noreply, S#{resolved => State}};
handle_cast(M, S = #{casts := C}) -> {noreply, S#{casts := [M | C]}}.

-spec handle_info(term(), map()) -> {noreply, map()} | {stop, shutdown, map()}.
handle_info({swarm, die}, S) ->
    record(die),
    {stop, shutdown, S};
handle_info(_M, S) -> {noreply, S}.

%% Start functions for register_name/4,5 (run in swarm's starter process).

start(Arg) -> gen_server:start(?MODULE, Arg, []).
start_link(Arg) -> gen_server:start_link(?MODULE, Arg, []).
start_error(Reason) -> {error, Reason}.
start_bad() -> not_a_pid.
start_crash() -> error(boom).
start_hang() -> receive never -> ok end.
%% A start whose init itself uses swarm (registers another name, looks up
%% its own, starts another MFA): must not deadlock.
start_reentrant(N) ->
    gen_server:start(?MODULE, {reentrant, N}, []).
%% Starts as start/1 except on node Node, where the start fails.
start_unless_on(Node, _Arg) when Node =:= node() -> {error, refused_here};
start_unless_on(_Node, Arg) -> start(Arg).
%% Refuses to start until this node's env `swarm_test_ready' is true (a
%% node whose application is not started yet).
start_when_ready(Arg) ->
    case application:get_env(kernel, swarm_test_ready, false) of
        true -> start(Arg);
        false -> {error, not_ready}
    end.
%% Starts the process on another node than the one running the MFA.
start_elsewhere(Node) ->
    {ok, spawn(Node, fun() -> receive stop -> ok end end)}.

%% The log of this node's instances: a public table owned by a process of
%% its own, so that it outlives the caller.

%% @doc Creates this node's log (once; later calls keep it).
-spec log_open() -> ok.
log_open() ->
    Self = self(),
    case ets:whereis(?LOG) of
        undefined ->
            spawn(fun() ->
                          ets:new(?LOG, [named_table, public, duplicate_bag]),
                          Self ! {?LOG, ready},
                          receive never -> ok end
                  end),
            receive {?LOG, ready} -> ok end;
        _ ->
            ok
    end.

%% @doc What this node's instances recorded, oldest first per process:
%% `{Pid, {started, Arg}}', `{Pid, begin_handoff}', `{Pid, {end_handoff, State}}',
%% `{Pid, {resolve_conflict, State}}', `{Pid, die}'.
-spec log() -> [{pid(), term()}].
log() ->
    case ets:whereis(?LOG) of
        undefined -> [];
        _ -> ets:tab2list(?LOG)
    end.

record(Event) ->
    case ets:whereis(?LOG) of
        undefined -> ok;
        _ -> catch ets:insert(?LOG, {self(), Event}), ok
    end.
