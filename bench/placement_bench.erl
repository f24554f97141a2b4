%% @doc The placement benchmark (bench/run.sh, after swarm_bench):
%% register_name/4 (the MFA runs on the node the ring assigns to the name)
%% and the restart of a stopped node's names on the survivors, on a local
%% cluster of 3 BEAM nodes (each with its C node) started with OTP's `peer'
%% on 127.0.0.1, driven from this hidden coordinator node (outside both
%% registries).
%%
%% Figures:
%%   1. register_name/4 starts per second, N names (default 10k), 1 caller
%%      on node a and 8 callers spread 3+3+2 over a, b, c; the MFA is
%%      placement_bench:start/1, which spawns an idle process (this module
%%      is on every node's code path: the peers get the coordinator's -pa).
%%   2. Time from a node's stop to all of its names running again on the
%%      survivors: N names registered with register_name/4 over the 3 nodes;
%%      one node is stopped with peer:stop; a poller on each survivor (1 ms
%%      sleeps, bounded) waits until every name that lived on the stopped
%%      node is registered, in its replica, to a pid on a survivor. Measured
%%      from just before peer:stop, and from the nodedown seen by this
%%      coordinator and by each survivor. Done SWARM_PLACEMENT_FAILOVER_REPS
%%      times (a fresh third node joins between rounds).
%%   3. Baselines in the same run: the same N starts as plain spawn +
%%      swarm:register_name/2 on the caller's node, and spawn +
%%      global:register_name/2 for SWARM_PLACEMENT_GLOBAL_N names.
%%
%% Targets (PASS/FAIL lines): >= 40,000 register_name/4 starts/s with 8
%% callers (median of the rounds); every name of the stopped node running
%% on the survivors within 300 ms of the coordinator's nodedown (worst round).
%%
%% Every timed loop runs inside the node it measures; name lists are built
%% before the clock starts (the spawns are part of what is measured: they
%% are what register_name/4 does). Throughput variants run interleaved,
%% SWARM_PLACEMENT_REPS rounds: best and median and the range are reported
%% (the machine is shared; noise only slows a loop down). Cross-node times
%% use os:perf_counter(nanosecond), CLOCK_MONOTONIC, one clock for every
%% node of the machine.
%%
%% Knobs (environment): SWARM_PLACEMENT_N (names, default 10000),
%% SWARM_PLACEMENT_GLOBAL_N (global baseline, default 2000),
%% SWARM_PLACEMENT_REPS (throughput rounds, default 3),
%% SWARM_PLACEMENT_FAILOVER_REPS (node stops, default 2),
%% SWARM_PLACEMENT_PROFILE (set to "eprof": profiles swarm_agent on node a
%% during one extra 8-caller register_name/4 run, and on a survivor during
%% the last node stop; prints the top functions),
%% SWARM_PLACEMENT_ERL_ARGS (extra emulator arguments for the cluster's
%% nodes, e.g. "+JPperf true" for perf), SWARM_BENCH_OUT (report file: the
%% report is appended to it).
-module(placement_bench).

-export([main/0]).
-import(bench_lib, [envint/2, rpc/4, wait_until/2, pct/2, median/1, rate/1, us/1, wait_until/3,
                    ping_rate/1, proc_cpu_ms/1, busy_ms/0, short/1, ms/1]).
%% The MFA started by register_name/4, and what runs on the cluster's nodes.
-export([start/1, idle/0, worker_start/6, poller/4, count_idle/0, names_on/1,
         kill_registered/0, cnode_stats/0, cpu_ms/0, check_alive/1, eprof_start/0,
         eprof_stop/0]).
%% For ad-hoc diagnostics from another module (not used by run.sh).
-export([start_cluster/1, variant/6, spread/3, ring/1, owner/2]).

-define(HOST, "127.0.0.1").
-define(RPC_TMO, 300000).
-define(POLL_TMO_MS, 30000).

%% ===========================================================================
%% The MFA

%% register_name(Name, placement_bench, start, [Name]): a minimal process.
start(_Name) ->
    {ok, spawn(?MODULE, idle, [])}.

idle() ->
    receive stop -> ok end.

%% ===========================================================================
%% Entry point (coordinator)

main() ->
    T0 = erlang:monotonic_time(millisecond),
    Out = case os:getenv("SWARM_BENCH_OUT") of false -> "bench/results/latest.txt"; O -> O end,
    put(report, []),
    process_flag(trap_exit, true),
    Res = try run() of
              ok -> ok
          catch C:E:St ->
              say("~nplacement bench FAILED: ~p:~p~n~p", [C, E, St]),
              error
          end,
    say("~ntotal placement bench time: ~.1f s", [(erlang:monotonic_time(millisecond) - T0) / 1000]),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, ["\n" | lists:reverse(get(report))], [append]),
    io:format("(report appended to ~s)~n", [Out]),
    [catch peer:stop(P) || {P, _} <- get_peers()],
    halt(case Res of ok -> 0; error -> 1 end).

get_peers() -> case get(peers) of undefined -> []; Ps -> Ps end.


say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

say(S) -> say("~s", [S]).

section(Title) ->
    say("~n== ~s ==", [Title]).

run() ->
    N = envint("SWARM_PLACEMENT_N", 10000),
    GN = envint("SWARM_PLACEMENT_GLOBAL_N", 2000),
    Reps = envint("SWARM_PLACEMENT_REPS", 3),
    FReps = envint("SWARM_PLACEMENT_FAILOVER_REPS", 2),
    Profile = os:getenv("SWARM_PLACEMENT_PROFILE", ""),
    say("~n######## placement benchmark ########", []),
    say("placement benchmark  ~s  OTP ~s, ~p cores, ~p schedulers/node, host ~s",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available),
         erlang:system_info(schedulers_online), ?HOST]),
    say("load average at start: ~s", [loadavg()]),
    Busy0 = machine_busy_ms(),
    Wall0 = erlang:monotonic_time(millisecond),
    [A, B, C] = Nodes = start_cluster(["a", "b", "c"]),
    say("cluster: ~p (+ this hidden coordinator)", [Nodes]),
    Ring = ring(Nodes),

    %% --- warm-up ---------------------------------------------------------------
    _ = variant(mfa, warm_m, spread(Nodes, 8, 2000), Nodes, Ring, #{}),
    _ = variant(reg2, warm_r, spread(Nodes, 8, 2000), Nodes, Ring, #{}),
    _ = variant(global, warm_g, spread(Nodes, 8, 200), Nodes, Ring, #{}),
    say("warm-up done (2000 register_name/4, 2000 register_name/2, 200 global; 8 callers)"),

    %% --- throughput --------------------------------------------------------------
    section(io_lib:format("Starts per second, ~p names (~p interleaved rounds)", [N, Reps])),
    Variants = [{{mfa, 8}, spread(Nodes, 8, N)}, {{mfa, 1}, [{A, N}]},
                {{reg2, 8}, spread(Nodes, 8, N)}, {{reg2, 1}, [{A, N}]}],
    Rounds = [[begin
                   Tag = list_to_atom(lists:flatten(io_lib:format("~p~p_~p", [K, Cl, R]))),
                   {{K, Cl}, variant(K, Tag, Spec, Nodes, Ring, #{lat => Cl =:= 1})}
               end || {{K, Cl}, Spec} <- Variants]
              || R <- lists:seq(1, Reps)],
    All = lists:append(Rounds),
    Stat = fun(Key) ->
                   Rs = [Res || {K2, Res} <- All, K2 =:= Key],
                   Rates = lists:sort([maps:get(rate, X) || X <- Rs]),
                   Vis = lists:sort([maps:get(vis_rate, X) || X <- Rs]),
                   #{best => lists:last(Rates), median => median(Rates), worst => hd(Rates),
                     vis_median => median(Vis), runs => Rs}
           end,
    M8 = Stat({mfa, 8}), M1 = Stat({mfa, 1}), R8 = Stat({reg2, 8}), R1 = Stat({reg2, 1}),
    [say("~-46s best ~8s/s  median ~8s/s  worst ~8s/s   (all ~p replicas show all: median ~s/s)",
         [L, rate(maps:get(best, S)), rate(maps:get(median, S)), rate(maps:get(worst, S)), 3,
          rate(maps:get(vis_median, S))])
     || {L, S} <- [{"register_name/4, 8 callers (3+3+2 on a,b,c)", M8},
                   {"register_name/4, 1 caller on a", M1},
                   {"spawn + register_name/2, 8 callers", R8},
                   {"spawn + register_name/2, 1 caller on a", R1}]],
    say("rounds (starts/s, and in brackets the cores other processes of the machine used meanwhile,"
        " from /proc/stat, 10 ms ticks):"),
    say("  ~s",
        [string:join([io_lib:format("~p/~p: ~s", [K, Cl, string:join([io_lib:format("~s (~.1f)", [rate(maps:get(rate, X)), maps:get(others, X)]) || X <- maps:get(runs, S)], " ")])
                      || {{K, Cl}, S} <- [{{mfa, 8}, M8}, {{mfa, 1}, M1}, {{reg2, 8}, R8}, {{reg2, 1}, R1}]], "; ")]),
    Ping8 = ping_rate(spread(Nodes, 8, N)),
    say("ceiling: round trips BEAM -> own C node -> BEAM (ping), same 8 callers: ~s/s;"
        " register_name/4 / ping = ~.2f, spawn + register_name/2 / ping = ~.2f",
        [rate(Ping8), maps:get(median, M8) / Ping8, maps:get(median, R8) / Ping8]),
    #{dist := Dist, misplaced := Mis} = hd(maps:get(runs, M8)),
    say("placement (first 8-caller round): pids per node ~s; not on the ring's owner: ~p",
        [string:join([io_lib:format("~s ~p", [short(X), Cn]) || {X, Cn} <- Dist], ", "), Mis]),
    [say("~s, 1 caller, per call: p50 ~s us, p99 ~s us; owner a (local C node decides) p50 ~s us;"
         " owner b or c p50 ~s us (first round)",
         [L, us(pct(Lat, 50)), us(pct(Lat, 99)), us(pct(LL, 50)), us(pct(LR, 50))])
     || {L, S} <- [{"register_name/4", M1}, {"spawn + register_name/2", R1}],
        #{lat := Lat, lat_local := LL, lat_remote := LR} <- [hd(maps:get(runs, S))]],
    #{cpu := MCpu} = lists:last(maps:get(runs, M8)),
    #{cpu := RCpu} = lists:last(maps:get(runs, R8)),
    say("per start, 8 callers (last round; summed over the 3 nodes):"),
    say("  register_name/4:         ~s", [MCpu]),
    say("  spawn + register_name/2: ~s", [RCpu]),

    %% --- global baseline ------------------------------------------------------
    #{rate := G8} = variant(global, g8, spread(Nodes, 8, GN), Nodes, Ring, #{}),
    #{rate := G1} = variant(global, g1, [{A, GN}], Nodes, Ring, #{}),
    say("spawn + global:register_name, ~p names: 8 callers ~s/s, 1 caller on a ~s/s (one round)",
        [GN, rate(G8), rate(G1)]),

    %% --- optional profile of the agent during register_name/4 ------------------
    case Profile of
        "eprof" ->
            section("eprof: swarm_agent on a during one 8-caller register_name/4 run"),
            ok = rpc(A, ?MODULE, eprof_start, []),
            _ = variant(mfa, prof_m, spread(Nodes, 8, N), Nodes, Ring, #{}),
            say("~s", [rpc(A, ?MODULE, eprof_stop, [])]);
        _ -> ok
    end,

    %% --- failover -----------------------------------------------------------------
    section(io_lib:format("Node stop -> its names running again on the survivors (~p names, ~p rounds)",
                          [N, FReps])),
    {FRes, _} = lists:mapfoldl(
                  fun(I, {Cluster, Letter}) ->
                          Profiling = Profile =:= "eprof" andalso I =:= FReps,
                          F = failover(I, Cluster, N, Profiling),
                          Survivors = maps:get(survivors, F),
                          case I < FReps of
                              true ->
                                  [NewNode] = start_cluster_more([Letter], Survivors),
                                  {F, {Survivors ++ [NewNode], next_letter(Letter)}};
                              false -> {F, {Survivors, Letter}}
                          end
                  end, {[A, B, C], "d"}, lists:seq(1, FReps)),

    %% --- table ----------------------------------------------------------------
    section("Summary"),
    FromStop = [maps:get(all_from_stop, F) || F <- FRes],
    FromCnd = [maps:get(all_from_cnodedown, F) || F <- FRes],
    FromSnd = [maps:get(all_from_snodedown, F) || F <- FRes],
    Moved = [maps:get(moved, F) || F <- FRes],
    Rows = [{"register_name/4 starts/s, 8 callers", rate(maps:get(best, M8)),
             rate(maps:get(median, M8)), range(M8)},
            {"register_name/4 starts/s, 1 caller", rate(maps:get(best, M1)),
             rate(maps:get(median, M1)), range(M1)},
            {"spawn+register_name/2 /s, 8 callers", rate(maps:get(best, R8)),
             rate(maps:get(median, R8)), range(R8)},
            {"spawn+register_name/2 /s, 1 caller", rate(maps:get(best, R1)),
             rate(maps:get(median, R1)), range(R1)},
            {io_lib:format("spawn+global /s, 8 callers [~p]", [GN]), rate(G8), "", ""},
            {io_lib:format("spawn+global /s, 1 caller [~p]", [GN]), rate(G1), "", ""},
            {"node stop -> all restarted (ms; best, worst)", ms(lists:min(FromStop)), ms(lists:max(FromStop)),
             ms_range(FromStop)},
            {"nodedown (coord.) -> all restarted (ms; best, worst)", ms(lists:min(FromCnd)),
             ms(lists:max(FromCnd)), ms_range(FromCnd)},
            {"nodedown (survivor) -> all restarted (ms; best, worst)", ms(lists:min(FromSnd)),
             ms(lists:max(FromSnd)), ms_range(FromSnd)},
            {"names restarted per node stop", integer_to_list(lists:min(Moved)), "",
             io_lib:format("~w", [Moved])}],
    say("~-54s ~10s ~10s   ~s", ["", "best", "median", "all rounds (range, then each)"]),
    [say("~-54s ~10s ~10s   ~s", [L, Bst, Md, Rg]) || {L, Bst, Md, Rg} <- Rows],

    section("Targets"),
    T = fun(Ok, Fmt, Args) ->
                say("~s  " ++ Fmt, [case Ok of true -> "PASS"; false -> "FAIL" end | Args])
        end,
    T(maps:get(median, M8) >= 40000,
      "register_name/4, 8 callers: ~s starts/s (median of ~p rounds; best ~s) (>= 40,000/s;"
      " the bare round trip to the own C node, same callers: ~s/s)",
      [rate(maps:get(median, M8)), Reps, rate(maps:get(best, M8)), rate(Ping8)]),
    Left = lists:sum([maps:get(left, F) || F <- FRes]),
    T(Left =:= 0 andalso lists:max(FromCnd) =< 300.0e6,
      "node stop: all ~w names running on the survivors ~s ms after the coordinator's nodedown"
      " (worst of ~p rounds; ~s ms from peer:stop; names never restarted: ~p) (<= 300 ms)",
      [Moved, ms(lists:max(FromCnd)), FReps, ms(lists:max(FromStop)), Left]),
    say("(informative) register_name/4 vs spawn + register_name/2, 8 callers: ~.2f; 1 caller: ~.2f;"
        " register_name/4 vs global, 8 callers: ~.1fx",
        [maps:get(median, M8) / maps:get(median, R8), maps:get(median, M1) / maps:get(median, R1),
         maps:get(median, M8) / G8]),
    say("load average at end: ~s", [loadavg()]),
    {Busy1, _} = machine_busy_ms(),
    WallS = (erlang:monotonic_time(millisecond) - Wall0) / 1000,
    say("machine CPU use during the run: ~.2f cores busy on average (wall ~.1f s)",
        [(Busy1 - element(1, Busy0)) / 1000 / WallS, WallS]),
    ok.

next_letter([L]) -> [L + 1].

range(S) -> rate(maps:get(worst, S)) ++ " .. " ++ rate(maps:get(best, S)).
ms_range(L) -> ms(lists:min(L)) ++ " .. " ++ ms(lists:max(L)) ++ "  " ++
                   io_lib:format("~s", [string:join([ms(X) || X <- L], ", ")]).

loadavg() -> string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg")).

%% ===========================================================================
%% Throughput variants

%% Kind: mfa (register_name/4), reg2 (spawn + register_name/2 on the
%% caller's node), global (spawn + global:register_name/2). Spec: [{Node,
%% Count}], one caller each. Registers everything, waits until every node's
%% table shows it all, then kills the processes and waits for empty tables.
variant(Kind, Tag, Spec, Nodes, Ring, Opts) ->
    Self = self(),
    {Workers, _} = lists:mapfoldl(
                     fun({Node, Count}, From) ->
                             W = spawn_link(Node, ?MODULE, worker_start,
                                            [Self, Kind, Tag, {From, Count}, Ring, Opts]),
                             {W, From + Count}
                     end, 1, Spec),
    [receive {ready, W} -> ok end || W <- Workers],
    Total = lists:sum([Cn || {_, Cn} <- Spec]),
    Tab = table(Kind),
    Cpu0 = cpu_all(Nodes),
    {Busy0, _} = machine_busy_ms(),
    Me0 = proc_cpu_ms(list_to_integer(os:getpid())),
    T0 = erlang:monotonic_time(nanosecond),
    [W ! go || W <- Workers],
    Bad = lists:sum([receive
                         {done, W, Bd} -> Bd;
                         {'EXIT', W, Why} -> error({worker_died, Why})
                     after ?RPC_TMO -> error({timeout, Kind, Tag})
                     end || W <- Workers]),
    T1 = erlang:monotonic_time(nanosecond),
    {Busy1, _} = machine_busy_ms(),
    Me1 = proc_cpu_ms(list_to_integer(os:getpid())),
    Cpu1 = cpu_all(Nodes),
    Ours = lists:sum([element(1, X1) - element(1, X0) + element(2, X1) - element(2, X0)
                      || {X0, X1} <- lists:zip(Cpu0, Cpu1)]) + (Me1 - Me0),
    Others = max(0, (Busy1 - Busy0) - Ours) * 1.0e6 / (T1 - T0),
    wait_tables(Tab, Nodes, Total, 1),
    T2 = erlang:monotonic_time(nanosecond),
    Results = [receive {info, W, R} -> R after ?RPC_TMO -> error({timeout, info}) end || W <- Workers],
    Bad =:= 0 orelse error({failed_starts, Kind, Tag, Bad, [maps:get(errors, R) || R <- Results]}),
    [W ! stop || W <- Workers],
    [receive {stopped, W} -> ok end || W <- Workers],
    wait_tables(Tab, Nodes, 0, 10),
    Dist = lists:foldl(fun(R, Acc) ->
                               lists:foldl(fun({X, Cn}, A2) -> orddict:update_counter(X, Cn, A2) end,
                                           Acc, maps:get(dist, R))
                       end, orddict:new(), Results),
    Lat = lists:append([maps:get(lat, R) || R <- Results]),
    #{rate => Total * 1.0e9 / (T1 - T0), vis_rate => Total * 1.0e9 / (T2 - T0),
      dist => Dist, misplaced => lists:sum([maps:get(misplaced, R) || R <- Results]),
      lat => [L || {_, L} <- Lat], lat_local => [L || {true, L} <- Lat],
      lat_remote => [L || {false, L} <- Lat], cpu => cpu_per_op(Cpu0, Cpu1, Total),
      others => Others}.

table(global) -> global_names;
table(_) -> swarm_names.

%% A caller, on its node: builds its names, says ready, starts them all on
%% `go', reports, and on `stop' kills what it started (or on `release'
%% leaves it running).
worker_start(Parent, Kind, Tag, {From, Count}, Ring, Opts) ->
    Names = [{Tag, I} || I <- lists:seq(From, From + Count - 1)],
    Lat = maps:get(lat, Opts, false),
    true = erlang:garbage_collect(),
    Parent ! {ready, self()},
    receive go -> ok end,
    {Pids, Bad, Errs, Lats} = run_names(Kind, Names, Lat, [], 0, [], []),
    %% Only this is timed; the details follow in a second message.
    Parent ! {done, self(), Bad},
    Me = node(),
    Dist = lists:foldl(fun({_, P}, D) -> orddict:update_counter(node(P), 1, D) end, orddict:new(), Pids),
    Misplaced = case Kind of
                    mfa -> length([x || {Nm, P} <- Pids, node(P) =/= owner(Nm, Ring)]);
                    _ -> 0
                end,
    LatR = [{owner(Nm, Ring) =:= Me, L} || {Nm, L} <- Lats],
    Parent ! {info, self(), #{bad => Bad, errors => lists:sublist(Errs, 3), dist => Dist,
                              misplaced => Misplaced, lat => LatR, pairs => Pids}},
    receive
        stop ->
            [exit(P, kill) || {_, P} <- Pids],
            Parent ! {stopped, self()};
        release ->
            Parent ! {released, self()}
    end.

run_names(_Kind, [], _Lat, Pids, Bad, Errs, Lats) -> {Pids, Bad, Errs, Lats};
run_names(Kind, [Nm | T], Lat, Pids, Bad, Errs, Lats) ->
    T0 = case Lat of true -> os:perf_counter(nanosecond); false -> 0 end,
    R = start_one(Kind, Nm),
    Lats1 = case Lat of
                true -> [{Nm, os:perf_counter(nanosecond) - T0} | Lats];
                false -> Lats
            end,
    case R of
        {ok, P} -> run_names(Kind, T, Lat, [{Nm, P} | Pids], Bad, Errs, Lats1);
        Other -> run_names(Kind, T, Lat, Pids, Bad + 1, [Other | Errs], Lats1)
    end.

start_one(mfa, Nm) ->
    swarm:register_name(Nm, ?MODULE, start, [Nm]);
start_one(reg2, Nm) ->
    P = spawn(?MODULE, idle, []),
    case swarm:register_name(Nm, P) of
        yes -> {ok, P};
        no -> exit(P, kill), {no, Nm}
    end;
start_one(global, Nm) ->
    P = spawn(?MODULE, idle, []),
    case global:register_name(Nm, P) of
        yes -> {ok, P};
        no -> exit(P, kill), {no, Nm}
    end.

%% ===========================================================================
%% Failover

%% Registers N names with register_name/4 from 8 callers over the 3 nodes of
%% Cluster, stops the last node, and times the restart of its names.
failover(Round, Cluster, N, Profiling) ->
    Victim = lists:last(Cluster),
    Survivors = Cluster -- [Victim],
    Ring = ring(Cluster),
    Tag = list_to_atom("fo" ++ integer_to_list(Round)),
    Self = self(),
    %% Register, keep running.
    Spec = spread(Cluster, 8, N),
    {Workers, _} = lists:mapfoldl(
                     fun({Node, Count}, From) ->
                             W = spawn_link(Node, ?MODULE, worker_start,
                                            [Self, mfa, Tag, {From, Count}, Ring, #{}]),
                             {W, From + Count}
                     end, 1, Spec),
    [receive {ready, W} -> ok end || W <- Workers],
    [W ! go || W <- Workers],
    Pairs = lists:append([receive {info, W, #{bad := 0, pairs := Ps}} -> Ps
                          after ?RPC_TMO -> error(failover_register_timeout)
                          end || W <- Workers]),
    [receive {done, W, 0} -> ok end || W <- Workers],
    [W ! release || W <- Workers],
    [receive {released, W} -> ok end || W <- Workers],
    wait_tables(swarm_names, Cluster, N, 10),
    OnVictim = [Nm || {Nm, P} <- Pairs, node(P) =:= Victim],
    Moved = length(OnVictim),
    %% The survivors' replicas agree that these names live on the victim.
    [Moved = length(rpc(S, ?MODULE, names_on, [Victim])) || S <- Survivors],
    Stats0 = [{S, rpc(S, ?MODULE, cnode_stats, [])} || S <- Survivors],
    %% Pollers on the survivors, a nodedown watcher here.
    Pollers = [spawn_link(S, ?MODULE, poller, [Self, Victim, OnVictim, ?POLL_TMO_MS]) || S <- Survivors],
    [receive {polling, P} -> ok end || P <- Pollers],
    Watcher = spawn_link(fun() ->
                                 ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
                                 Self ! {watching, self()},
                                 receive
                                     {nodedown, Victim, _} -> Self ! {cnodedown, os:perf_counter(nanosecond)}
                                 after 60000 -> Self ! {cnodedown, timeout}
                                 end
                         end),
    receive {watching, Watcher} -> ok end,
    case Profiling of
        true -> ok = rpc(hd(Survivors), ?MODULE, eprof_start, []);
        false -> ok
    end,
    {VPeer, Victim} = lists:keyfind(Victim, 2, get_peers()),
    timer:sleep(100), % let the registration traffic settle
    TStop = os:perf_counter(nanosecond),
    catch peer:stop(VPeer),
    TStopped = os:perf_counter(nanosecond),
    put(peers, lists:keydelete(Victim, 2, get_peers())),
    TCnd = receive {cnodedown, Tc} when is_integer(Tc) -> Tc; {cnodedown, timeout} -> error(no_nodedown) end,
    Polls = [receive {poll_done, P, R} -> R after ?POLL_TMO_MS + 5000 -> error(poller_timeout) end
             || P <- Pollers],
    ProfText = case Profiling of
                   true -> rpc(hd(Survivors), ?MODULE, eprof_stop, []);
                   false -> ""
               end,
    Stats1 = [{S, rpc(S, ?MODULE, cnode_stats, [])} || S <- Survivors],
    %% Check: every moved name on a live pid at its owner in the survivors'
    %% ring, and exactly one process per name.
    timer:sleep(300),
    SRing = ring(Survivors),
    Reg = lists:sort(rpc(hd(Survivors), swarm, registered, [])),
    Misplaced = [Nm || Nm <- OnVictim, {_, P} <- [lists:keyfind(Nm, 1, Reg)], node(P) =/= owner(Nm, SRing)],
    Dead = lists:sum([rpc(S, ?MODULE, check_alive, [[P || {_, P} <- Reg, node(P) =:= S]]) || S <- Survivors]),
    Idle = lists:sum([rpc(S, ?MODULE, count_idle, []) || S <- Survivors]),
    %% Report.
    PollRows = [{S, R} || {S, R} <- lists:zip(Survivors, Polls)],
    Incomplete = [{S, maps:get(left, R)} || {S, R} <- PollRows, maps:get(left, R) =/= 0],
    Incomplete =:= [] orelse
        say("  WARNING: names still not running on a survivor after ~p ms: ~p", [?POLL_TMO_MS, Incomplete]),
    TAll = lists:max([maps:get(t_all, R) || {_, R} <- PollRows]),
    TSnd = lists:min([maps:get(t_nodedown, R) || {_, R} <- PollRows]),
    say("round ~p: stopped ~s (~p of ~p names lived there); survivors ~s",
        [Round, short(Victim), Moved, N, string:join([short(S) || S <- Survivors], ", ")]),
    say("  peer:stop returned after ~s ms; nodedown at the coordinator ~s ms after the stop",
        [ms(TStopped - TStop), ms(TCnd - TStop)]),
    [say("  on ~s: nodedown ~s ms after the stop; first moved name back ~s ms, all ~p back ~s ms"
         " after the stop (~s ms after its nodedown; ~p polls)",
         [short(S), ms(maps:get(t_nodedown, R) - TStop), ms(maps:get(t_first, R) - TStop), Moved,
          ms(maps:get(t_all, R) - TStop), ms(maps:get(t_all, R) - maps:get(t_nodedown, R)),
          maps:get(polls, R)])
     || {S, R} <- PollRows],
    say("  all moved names running and visible on every survivor: ~s ms after the stop,"
        " ~s ms after the coordinator's nodedown, ~s ms after the first survivor's nodedown",
        [ms(TAll - TStop), ms(TAll - TCnd), ms(TAll - TSnd)]),
    say("  check: ~p names registered on the survivors (expected ~p); moved names not on the ring's owner: ~p;"
        " dead pids: ~p; idle processes on the survivors: ~p (expected ~p, i.e. one start per name)",
        [length(Reg), N, length(Misplaced), Dead, Idle, N]),
    (Misplaced =:= [] andalso Dead =:= 0 andalso Idle =:= N) orelse
        say("  WARNING: the check above failed"),
    [say("  C node ~s counters during the stop: ~s", [short(S), stats_delta(proplists:get_value(S, Stats0), S1)])
     || {S, S1} <- Stats1],
    Profiling andalso say("  eprof of swarm_agent on ~s during the stop:~n~s", [short(hd(Survivors)), ProfText]),
    %% Clean up for the next round.
    [rpc(S, ?MODULE, kill_registered, []) || S <- Survivors],
    wait_tables(swarm_names, Survivors, 0, 10),
    #{survivors => Survivors, moved => Moved, left => lists:sum([L || {_, L} <- Incomplete]),
      all_from_stop => TAll - TStop,
      all_from_cnodedown => TAll - TCnd, all_from_snodedown => TAll - TSnd}.

%% On a survivor: waits for the nodedown of Victim, then polls this node's
%% replica (1 ms sleeps, bounded) until every one of Names is registered to
%% a pid that is not on Victim.
poller(Parent, Victim, Names, TimeoutMs) ->
    ok = net_kernel:monitor_nodes(true),
    Parent ! {polling, self()},
    TDown = receive {nodedown, Victim} -> os:perf_counter(nanosecond)
            after TimeoutMs -> error(no_nodedown)
            end,
    Deadline = TDown + TimeoutMs * 1000000,
    R = poll(Names, Victim, Deadline, undefined, 0, length(Names)),
    Parent ! {poll_done, self(), R#{t_nodedown => TDown}}.

poll(Names, Victim, Deadline, TFirst, Polls, Total) ->
    Left = [Nm || Nm <- Names, not moved(Nm, Victim)],
    Now = os:perf_counter(nanosecond),
    TFirst1 = case TFirst =:= undefined andalso length(Left) < Total of
                  true -> Now;
                  false -> TFirst
              end,
    case Left of
        [] -> #{t_all => Now, t_first => TFirst1, polls => Polls + 1, left => 0};
        _ when Now > Deadline -> #{t_all => Now, t_first => TFirst1, polls => Polls + 1,
                                   left => length(Left)};
        _ ->
            receive after 1 -> ok end,
            poll(Left, Victim, Deadline, TFirst1, Polls + 1, Total)
    end.

moved(Nm, Victim) ->
    case ets:lookup(swarm_names, Nm) of
        [{_, P}] -> node(P) =/= Victim;
        [] -> false
    end.

names_on(Node) ->
    ets:select(swarm_names, [{{'$1', '$2'}, [{'=:=', {node, '$2'}, Node}], ['$1']}]).

kill_registered() ->
    Me = node(),
    [exit(P, kill) || {_, P} <- ets:tab2list(swarm_names), node(P) =:= Me],
    ok.

check_alive(Pids) ->
    length([P || P <- Pids, not is_process_alive(P)]).

count_idle() ->
    length([P || P <- processes(),
                 process_info(P, initial_call) =:= {initial_call, {?MODULE, idle, 0}}]).

cnode_stats() ->
    swarm_agent:stats().

stats_delta(S0, S1) when is_list(S0), is_list(S1) ->
    string:join([io_lib:format("~p ~p", [K, V - proplists:get_value(K, S0, 0)])
                 || {K, V} <- S1, lists:member(K, [msgs_in, frames_in, frames_out, names, reserved,
                                                  conflicts, bad_ops, unknown_msgs])], ", ");
stats_delta(S0, S1) -> io_lib:format("~p -> ~p", [S0, S1]).

%% ===========================================================================
%% Profiling (SWARM_PLACEMENT_PROFILE=eprof): on a node.

eprof_start() ->
    {ok, _} = eprof:start(),
    profiling = eprof:start_profiling([whereis(swarm_agent)]),
    ok.

eprof_stop() ->
    profiling_stopped = eprof:stop_profiling(),
    File = "/tmp/placement_bench_eprof_" ++ os:getpid() ++ ".txt",
    ok = eprof:log(File),
    %% analyze/2 also prints to the group leader (this peer's stdout, which
    %% is the coordinator's terminal): send that to a sink.
    Sink = spawn(fun sink/0),
    GL = group_leader(),
    group_leader(Sink, self()),
    _ = eprof:analyze(total, [{sort, time}]),
    group_leader(GL, self()),
    exit(Sink, kill),
    eprof:stop(),
    {ok, Bin} = file:read_file(File),
    file:delete(File),
    %% eprof lists the cheapest first: keep the header and the last rows.
    Lines = [L || L <- string:split(binary_to_list(Bin), "\n", all), L =/= ""],
    {Head, Rows} = lists:split(min(2, length(Lines)), Lines),
    string:join(Head ++ lists:nthtail(max(0, length(Rows) - 22), Rows), "\n").

%% A group leader that accepts and drops all output.
sink() ->
    receive
        {io_request, From, ReplyAs, _} -> From ! {io_reply, ReplyAs, ok}, sink();
        _ -> sink()
    end.

%% ===========================================================================
%% CPU

cpu_all(Nodes) -> [rpc(X, ?MODULE, cpu_ms, []) || X <- Nodes].

%% {BeamCpuMs, CNodeCpuMs, BeamCtxSw, CNodeCtxSw, CNodeFramesIn, CNodeFramesOut}
%% (context switches: voluntary + involuntary, all threads).
cpu_ms() ->
    Beam = list_to_integer(os:getpid()),
    {CNode, Fi, Fo} = case whereis(swarm_agent) of
                          undefined -> {undefined, 0, 0};
                          _ ->
                              St = case swarm_agent:stats() of L when is_list(L) -> L; _ -> [] end,
                              {gen_server:call(swarm_agent, os_pid),
                               proplists:get_value(frames_in, St, 0), proplists:get_value(frames_out, St, 0)}
                      end,
    {proc_cpu_ms(Beam), case CNode of undefined -> 0; _ -> proc_cpu_ms(CNode) end,
     ctxsw(Beam), case CNode of undefined -> 0; _ -> ctxsw(CNode) end, Fi, Fo}.

ctxsw(OsPid) ->
    Dir = "/proc/" ++ integer_to_list(OsPid) ++ "/task/",
    Tasks = case file:list_dir(Dir) of {ok, Ts} -> Ts; _ -> [] end,
    lists:sum([begin
                   case file:read_file(Dir ++ T ++ "/status") of
                       {ok, B} ->
                           lists:sum([binary_to_integer(string:trim(V))
                                      || Line <- binary:split(B, <<"\n">>, [global]),
                                         [K, V] <- [binary:split(Line, <<":">>)],
                                         K =:= <<"voluntary_ctxt_switches">> orelse
                                             K =:= <<"nonvoluntary_ctxt_switches">>]);
                       _ -> 0
                   end
               end || T <- Tasks]).

cpu_per_op(C0, C1, Ops) ->
    D = fun(I) -> lists:sum([element(I, X1) - element(I, X0) || {X0, X1} <- lists:zip(C0, C1)]) end,
    {Bt, Ct} = {D(1), D(2)},
    io_lib:format("BEAMs ~.1f us + C nodes ~.1f us = ~.1f us CPU (summed over the 3 nodes, 10 ms ticks);"
                  " context switches: BEAMs ~.2f, C nodes ~.2f; C node frames in ~.2f, out ~.2f",
                  [Bt * 1000 / Ops, Ct * 1000 / Ops, (Bt + Ct) * 1000 / Ops, D(3) / Ops, D(4) / Ops,
                   D(5) / Ops, D(6) / Ops]).

machine_busy_ms() ->
    {busy_ms(), 0}.

%% ===========================================================================
%% Helpers







%% Callers spread over the nodes round-robin (8 over 3: 3+3+2), names split
%% evenly: [{Node, NumberOfNames}].
spread(Nodes, Callers, Total) ->
    L = length(Nodes),
    [{lists:nth(1 + (I rem L), Nodes),
      Total div Callers + (case I < Total rem Callers of true -> 1; false -> 0 end)}
     || I <- lists:seq(0, Callers - 1)].

%% libring's ring as the C node builds it (see swarm_bench:ring/1): for the
%% placement check only.
ring(Nodes) ->
    lists:ukeysort(1, lists:sort([{erlang:phash2({N, I}, 4294967295), N}
                                  || N <- lists:sort(Nodes), I <- lists:seq(1, 128)])).

owner(Name, Ring) ->
    H = case is_atom(Name) of
            true -> erlang:phash2(term_to_binary(Name), 4294967295);
            false -> erlang:phash2(Name, 4294967295)
        end,
    case lists:dropwhile(fun({P, _}) -> P < H end, Ring) of
        [{_, N} | _] -> N;
        [] -> element(2, hd(Ring))
    end.

%% ===========================================================================
%% Cluster

start_cluster(Letters) ->
    start_cluster_more(Letters, []).

%% Starts one node per letter, connects it to Existing and to each other,
%% starts swarm on it and waits until every C node knows every other one.
start_cluster_more(Letters, Existing) ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning",
            "-swarm", "cnode_log", "warning"]
        %% e.g. "+JPperf true" to let perf name JIT-compiled Erlang functions
        ++ string:lexemes(os:getenv("SWARM_PLACEMENT_ERL_ARGS", ""), " ")
        ++ ["-pa" | Paths],
    New = [begin
               Name = list_to_atom("pbench_" ++ S ++ "_" ++ os:getpid()),
               {ok, Peer, Node} = peer:start_link(#{name => Name, host => ?HOST, longnames => true,
                                                    args => Args, connection => standard_io}),
               true = net_kernel:connect_node(Node),
               put(peers, get_peers() ++ [{Peer, Node}]),
               Node
           end || S <- Letters],
    Nodes = Existing ++ New,
    [true = rpc(X, net_kernel, connect_node, [Y]) || X <- New, Y <- Nodes, X =/= Y],
    [{ok, _} = rpc(X, application, ensure_all_started, [swarm]) || X <- New],
    wait_until(fun() ->
                       lists:all(fun(X) ->
                                         lists:sort(rpc(X, gen_server, call, [swarm_agent, peers]))
                                             =:= lists:sort(Nodes -- [X])
                                 end, Nodes)
               end, 20000),
    %% Every C node connected and synced: a probe name on each node shows
    %% everywhere.
    Probes = [{{probe, X}, spawn(X, ?MODULE, idle, [])} || X <- Nodes],
    [yes = rpc(X, swarm, register_name, [Nm, P]) || {{_, X} = Nm, P} <- Probes],
    wait_tables(swarm_names, Nodes, length(Nodes), 10),
    [begin ok = rpc(X, swarm, unregister_name, [Nm]), P ! stop end || {{_, X} = Nm, P} <- Probes],
    wait_tables(swarm_names, Nodes, 0, 10),
    New.




wait_tables(Tab, Nodes, Size, Step) ->
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, ets, info, [Tab, size]) =:= Size end, Nodes) end,
               60000, Step).
