%% @doc The topology-change benchmark (bench/run.sh, after the placement
%% benchmark): how fast register_name/4 processes, with their state, end up
%% on their owners when a node joins or stops gracefully. A local cluster
%% of BEAM nodes (each with its C node) started with OTP's `peer' on
%% 127.0.0.1, driven from this hidden coordinator node.
%%
%% Figures (N names, default 10k, started with register_name/4 over a, b
%% and c; each process answers {swarm, begin_handoff} with
%% {resume, {state, Name}} and counts the {swarm, end_handoff, State} it
%% gets in a counter of its node):
%%   1. join: a fourth node d starts swarm; from the call that starts it
%%      until every name the four-node ring gives d runs on d, as every
%%      node's replica shows it, and d's processes got their state;
%%   2. graceful stop of d (SIGTERM to its VM), then of c: from the signal
%%      until every name the stopped node ran runs on a survivor, as every
%%      survivor's replica shows it, and the new processes got their state.
%% Swarm 3.x on the same kind of cluster (figures of the issue tracker,
%% not measured here: no hex packages on this machine): a joining node's
%% share moved in ~5.3 s; a stopped node's names back in ~3 s (not
%% graceful: they restart without state).
%%
%% Targets (PASS/FAIL lines): join ≤ 0.5 s; graceful stop of a node
%% holding ~1/3 of the names ≤ 0.5 s.
%%
%% Knobs (environment): SWARM_LIFECYCLE_N (names, default 10000),
%% SWARM_BENCH_OUT (report file: the report is appended to it).
-module(lifecycle_bench).

-export([main/0]).
%% What runs on the cluster's nodes.
-export([start/1, worker/1, init_counter/0, handed/0, register_slice/2, poll/4]).

-define(HOST, "127.0.0.1").
-define(WAIT_MS, 30000).

%% ===========================================================================
%% The MFA and its process

%% register_name(Name, lifecycle_bench, start, [Name])
start(Name) ->
    {ok, spawn(?MODULE, worker, [Name])}.

worker(Name) ->
    receive
        {'$gen_call', From, {swarm, begin_handoff}} ->
            gen:reply(From, {resume, {state, Name}}),
            worker(Name);
        {'$gen_cast', {swarm, end_handoff, {state, _}}} ->
            counters:add(persistent_term:get({?MODULE, handed}), 1, 1),
            worker(Name);
        {swarm, die} ->
            ok;
        _ ->
            worker(Name)
    end.

init_counter() ->
    persistent_term:put({?MODULE, handed}, counters:new(1, [])).

handed() ->
    counters:get(persistent_term:get({?MODULE, handed}), 1).

register_slice(Names, Parent) ->
    [{ok, _} = swarm:register_name(Nm, ?MODULE, start, [Nm]) || Nm <- Names],
    Parent ! {registered, self()}.

%% On a node: polls its replica (1 ms sleeps, bounded) until every one of
%% Names runs on a node of Where (a list) and this node's processes got
%% Handed end_handoffs in all; sends the time it saw that.
poll(Parent, Names, Where, Handed) ->
    Deadline = os:perf_counter(millisecond) + ?WAIT_MS,
    Parent ! {polled, node(), poll_loop(Names, Where, Handed, Deadline)}.

poll_loop(Names, Where, Handed, Deadline) ->
    %% Cheap while the first name left is not placed (the poller must not
    %% eat the CPU it measures): the whole list is filtered only then.
    Left = case Names of
               [First | _] -> case placed(First, Where) of
                                  true -> [Nm || Nm <- Names, not placed(Nm, Where)];
                                  false -> Names
                              end;
               [] -> []
           end,
    Done = Left =:= [] andalso (Handed =:= any orelse handed() >= Handed),
    Now = os:perf_counter(nanosecond),
    if
        Done -> {ok, Now};
        Now div 1000000 > Deadline -> {timeout, length(Left)};
        true -> receive after 1 -> ok end, poll_loop(Left, Where, Handed, Deadline)
    end.

placed(Nm, Where) ->
    case ets:lookup(swarm_names, Nm) of
        [{_, P}] -> lists:member(node(P), Where);
        [] -> false
    end.

%% ===========================================================================
%% Coordinator

main() ->
    Out = case os:getenv("SWARM_BENCH_OUT") of false -> "bench/results/latest.txt"; O -> O end,
    put(report, []),
    process_flag(trap_exit, true),
    Res = try run() catch C:E:St -> say("~nlifecycle bench FAILED: ~p:~p~n~p", [C, E, St]), error end,
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, ["\n" | lists:reverse(get(report))], [append]),
    io:format("(report appended to ~s)~n", [Out]),
    [catch peer:stop(P) || {P, _} <- peers()],
    halt(case Res of ok -> 0; error -> 1 end).

peers() -> case get(peers) of undefined -> []; Ps -> Ps end.

say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

run() ->
    N = bench_lib:envint("SWARM_LIFECYCLE_N", 10000),
    say("~n######## topology changes: join and graceful stop ########", []),
    say("lifecycle benchmark  ~s  OTP ~s, ~p cores",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available)]),
    [A, B, C] = Base = placement_bench:start_cluster(["a", "b", "c"]),
    [ok = bench_lib:rpc(X, ?MODULE, init_counter, []) || X <- Base],
    Names = [{lb, I} || I <- lists:seq(1, N)],
    Self = self(),
    Slices = slices(Names, length(Base)),
    Regs = [spawn(X, ?MODULE, register_slice, [S, Self]) || {X, S} <- lists:zip(Base, Slices)],
    [receive {registered, R} -> ok after 300000 -> error(register_timeout) end || R <- Regs],
    wait_size(Base, N),
    say("cluster a, b, c; ~p names started with register_name/4", [N]),

    %% 1. Join.
    {DPeer, D} = new_node("d"),
    [true = bench_lib:rpc(D, net_kernel, connect_node, [X]) || X <- Base],
    ok = bench_lib:rpc(D, ?MODULE, init_counter, []),
    All = Base ++ [D],
    Ring4 = placement_bench:ring(All),
    ToD = [Nm || Nm <- Names, placement_bench:owner(Nm, Ring4) =:= D],
    %% CPU time of every BEAM node and C node during the join.
    OsPids = [{X, list_to_integer(bench_lib:rpc(X, os, getpid, [])),
               bench_lib:rpc(X, gen_server, call, [swarm_agent, os_pid])} || X <- Base],
    Cpu = fun() -> [{bench_lib:proc_cpu_ms(Bp), bench_lib:proc_cpu_ms(Cn)} || {_, Bp, Cn} <- OsPids] end,
    DOs = list_to_integer(bench_lib:rpc(D, os, getpid, [])),
    %% (Only d's processes get state: the old nodes' pollers wait for the
    %% names alone.)
    Pollers = [spawn(X, ?MODULE, poll, [Self, ToD, [D], any]) || X <- Base],
    Cpu0 = Cpu(),
    DCpu0 = bench_lib:proc_cpu_ms(DOs),
    T0 = os:perf_counter(nanosecond),
    {ok, _} = bench_lib:rpc(D, application, ensure_all_started, [swarm]),
    TUp = os:perf_counter(nanosecond),
    PD = spawn(D, ?MODULE, poll, [Self, ToD, [D], length(ToD)]),
    TJoin = collect([PD | Pollers]),
    say("join of d: ~p of ~p names move to d; swarm started on d in ~s ms; every node shows them on d, "
        "with their state, ~s ms after the start (~s ms after swarm was up on d)",
        [length(ToD), N, bench_lib:ms(TUp - T0), bench_lib:ms(TJoin - T0), bench_lib:ms(TJoin - TUp)]),
    verdict(TJoin - T0, 500, "join of a 4th node, 10k names"),
    Cpu1 = Cpu(),
    DCn = bench_lib:rpc(D, gen_server, call, [swarm_agent, os_pid]),
    say("  CPU during the join (ms, 10 ms ticks): BEAM / C node of a, b, c: ~s; of d: ~p / ~p "
        "(from its start)",
        [string:join([io_lib:format("~p / ~p", [B1 - B0, C1 - C0])
                      || {{B0, C0}, {B1, C1}} <- lists:zip(Cpu0, Cpu1)], ", "),
         bench_lib:proc_cpu_ms(DOs) - DCpu0, bench_lib:proc_cpu_ms(DCn)]),

    %% 2. Graceful stops: d (about a quarter), then c (about a third).
    stop_round(DPeer, D, All, Names),
    CPeer = element(1, lists:keyfind(C, 2, peers())),
    stop_round(CPeer, C, [A, B, C], Names),
    ok.

%% SIGTERM to Victim's VM; times until its names run on the others.
stop_round(Peer, Victim, Nodes, Names) ->
    Self = self(),
    Survivors = Nodes -- [Victim],
    OnVictim = [Nm || Nm <- Names, placed_on(hd(Survivors), Nm, Victim)],
    H0 = [{S, bench_lib:rpc(S, ?MODULE, handed, [])} || S <- Survivors],
    Pollers = [spawn(S, ?MODULE, poll, [Self, OnVictim, Survivors, any]) || S <- Survivors],
    OsPid = bench_lib:rpc(Victim, os, getpid, []),
    T0 = os:perf_counter(nanosecond),
    _ = os:cmd("kill -TERM " ++ OsPid),
    TMoved = collect(Pollers),
    %% Every moved process got its state: the survivors' counters.
    ok = bench_lib:wait_until(fun() ->
             lists:sum([bench_lib:rpc(S, ?MODULE, handed, []) - H || {S, H} <- H0]) >= length(OnVictim)
         end, ?WAIT_MS),
    TState = os:perf_counter(nanosecond),
    bench_lib:wait_until(fun() -> net_adm:ping(Victim) =:= pang end, ?WAIT_MS),
    TGone = os:perf_counter(nanosecond),
    catch peer:stop(Peer),
    put(peers, lists:keydelete(Victim, 2, peers())),
    say("graceful stop of ~s (SIGTERM): ~p of ~p names; every survivor shows them on a survivor ~s ms "
        "after the signal, with their state by ~s ms; the node was gone at ~s ms",
        [bench_lib:short(Victim), length(OnVictim), length(Names), bench_lib:ms(TMoved - T0),
         bench_lib:ms(max(TMoved, TState) - T0), bench_lib:ms(TGone - T0)]),
    verdict(max(TMoved, TState) - T0, 500,
            io_lib:format("graceful stop, ~p names with state", [length(OnVictim)])),
    ok.

verdict(Ns, LimitMs, What) ->
    say("~s: ~s ms (target <= ~p ms): ~s",
        [What, bench_lib:ms(Ns), LimitMs, case Ns =< LimitMs * 1000000 of true -> "PASS"; false -> "FAIL" end]).

placed_on(Node, Nm, Victim) ->
    case bench_lib:rpc(Node, ets, lookup, [swarm_names, Nm]) of
        [{_, P}] -> node(P) =:= Victim;
        [] -> false
    end.

collect(Pollers) ->
    lists:max([receive
                   {polled, _, {ok, T}} -> T;
                   {polled, X, {timeout, Left}} -> error({not_moved, X, Left})
               after ?WAIT_MS + 5000 -> error(poll_timeout)
               end || _ <- Pollers]).

wait_size(Nodes, Size) ->
    bench_lib:wait_until(fun() ->
        lists:all(fun(X) -> bench_lib:rpc(X, ets, info, [swarm_names, size]) =:= Size end, Nodes)
    end, 60000).

slices(L, K) ->
    Len = (length(L) + K - 1) div K,
    [lists:sublist(L, I, Len) || I <- lists:seq(1, length(L), Len)].

new_node(Letter) ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()), "-kernel", "logger_level", "warning",
            "-swarm", "cnode_log", "warning", "-pa" | Paths],
    Name = list_to_atom("pbench_" ++ Letter ++ "_" ++ os:getpid()),
    {ok, Peer, Node} = peer:start(#{name => Name, host => ?HOST, longnames => true, args => Args,
                                    connection => standard_io}),
    true = net_kernel:connect_node(Node),
    put(peers, peers() ++ [{Peer, Node}]),
    {Peer, Node}.
