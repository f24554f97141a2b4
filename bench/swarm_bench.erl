%% @doc The swarm benchmark (`make bench', bench/run.sh): swarm against OTP's
%% `global' through the same interface (register_name/2, unregister_name/1,
%% whereis_name/1, {via, Mod, Name}) on a local cluster of 3 BEAM nodes (each
%% with its C node) started with OTP's `peer' on 127.0.0.1, driven from this
%% (hidden) coordinator node, which is part of neither registry.
%%
%% Every timed loop runs inside the node it measures (never one rpc per
%% operation); idle processes are spawned and name lists built before the
%% clock starts; throughputs use erlang:monotonic_time(nanosecond); per-call
%% latencies and cross-node timings use os:perf_counter(nanosecond), which
%% is the machine's CLOCK_MONOTONIC, the same clock on every node (checked
%% below by a ping-pong skew estimate).
%%
%% The machine is shared: the report says how much CPU other processes used
%% meanwhile. On a small VM a wakeup across CPUs is expensive, so round trips
%% are bimodal (about 13 us, or 50-90 us): reference round trips are taken
%% in the same loop as what they are compared with, and ratios (via call
%% against plain pid) come from one caller process alternating the kinds.
%%
%% Knobs (environment): SWARM_BENCH_N (names, default 100000),
%% SWARM_BENCH_GLOBAL_N (global, 8 callers, default 3000),
%% SWARM_BENCH_GLOBAL_N1 (global, 1 caller, default 2000),
%% SWARM_BENCH_OUT (report file), SWARM_BENCH_REPS (micro-bench repetitions,
%% median reported, default 5), SWARM_BENCH_ERL_ARGS (extra emulator flags
%% for the 3 nodes, e.g. "+sbwt none +sbwtdcpu none +sbwtdio none").
-module(swarm_bench).

-export([main/0]).
-import(bench_lib, [envint/2, rpc/4, wait_until/2, pct/2, median/1, rate/1, us/1, ping_rate/1,
                    vmrss/1, proc_cpu_ms/1, busy_ms/0, short/1]).
%% Run on the cluster's nodes.
-export([worker_start/5, idle/0, mem_snapshot/0, whereis_bench/4, call_mix/3,
         seq_register/3, seq_register/4, echo/0, pingpong/2, cnode_rtt/1, repl_watch_start/2,
         repl_watch_loop/1, trace_insert_ok/0, populate/3, cnode_stats/0, mono_perf_offset/0,
         cpu_ms/0]).
%% The C node's placement, mirrored (for the report; checked against ring.c).
-export([ring/1, owner/2]).
%% The gen_server the via calls go to.
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(HOST, "127.0.0.1").
-define(RPC_TMO, 300000).

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
              say("~nbench FAILED: ~p:~p~n~p", [C, E, St]),
              error
          end,
    say("~ntotal bench time: ~.1f s", [(erlang:monotonic_time(millisecond) - T0) / 1000]),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, lists:reverse(get(report))),
    io:format("(report written to ~s)~n", [Out]),
    [catch peer:stop(P) || P <- get_peers()],
    halt(case Res of ok -> 0; error -> 1 end).

get_peers() -> case get(peers) of undefined -> []; Ps -> Ps end.


say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

say(S) -> say("~s", [S]).

run() ->
    N = envint("SWARM_BENCH_N", 100000),
    GN8 = envint("SWARM_BENCH_GLOBAL_N", 3000),
    GN1 = envint("SWARM_BENCH_GLOBAL_N1", 2000),
    Reps = envint("SWARM_BENCH_REPS", 5),
    say("swarm benchmark  ~s  OTP ~s, ~p cores, ~p schedulers/node, host ~s",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available),
         erlang:system_info(schedulers_online), ?HOST]),
    say("load average at start: ~s", [string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg"))]),
    Busy0 = machine_busy_ms(),
    Wall0 = erlang:monotonic_time(millisecond),
    Nodes = [A, B, _C] = start_cluster(),
    say("cluster: ~p (+ this hidden coordinator, outside both registries)", [Nodes]),
    CNodes = [rpc(X, swarm_agent, cnode, []) || X <- Nodes],
    say("C nodes: ~p (os pids ~p)", [CNodes, [rpc(X, gen_server, call, [swarm_agent, os_pid]) || X <- Nodes]]),
    say("global's cluster: ~p", [lists:sort([A | rpc(A, erlang, nodes, [])])]),
    true = rpc(A, ?MODULE, trace_insert_ok, []),

    %% --- references: loopback round trips, clock skew -------------------------
    section("References: loopback round trips"),
    %% Five fresh echo/pinger pairs: the round trip is bimodal here (about
    %% 14 us, or several times that when the scheduler that receives from
    %% the network must wake another one), depending on where the processes
    %% land; the smallest p50 is the reference.
    PPs = [begin
               EchoB = spawn(B, ?MODULE, echo, []),
               PP = rpc(A, ?MODULE, pingpong, [EchoB, 1000]),
               EchoB ! stop,
               PP
           end || _ <- lists:seq(1, 5)],
    #{rtt_p50 := Rtt50, rtt_p99 := Rtt99, skew := Skew, min_rtt := MinRtt} =
        hd(lists:sort(fun(#{rtt_p50 := X}, #{rtt_p50 := Y}) -> X =< Y end, PPs)),
    RttP50s = lists:sort([X || #{rtt_p50 := X} <- PPs]),
    #{p50 := CRtt50, p99 := CRtt99} = rpc(A, ?MODULE, cnode_rtt, [2000]),
    say("BEAM a <-> BEAM b ping-pong (plain messages): p50 ~s us, p99 ~s us (best of 5 pairs; p50 of each: ~s us)",
        [us(Rtt50), us(Rtt99), string:join([us(X) || X <- RttP50s], ", ")]),
    say("BEAM a <-> its own C node (ping):            p50 ~s us, p99 ~s us", [us(CRtt50), us(CRtt99)]),
    say("clock check: os:perf_counter skew a->b estimated ~s us (min RTT ~s us): one clock for all nodes",
        [us(Skew), us(MinRtt)]),

    %% --- warm-up ----------------------------------------------------------------
    section("Warm-up"),
    Spread8 = fun(Total) -> spread(Nodes, 8, Total) end,
    _ = throughput(swarm, warm, Spread8(4000), Nodes, #{quiet => true}),
    _ = throughput(global, gwarm, Spread8(200), Nodes, #{quiet => true}),
    say("warm-up done (swarm 4000 names, global 200 names; registered and unregistered, 8 callers)"),

    %% --- memory baseline, then register/unregister with 8 callers ------------
    section("Register / unregister throughput"),
    Mem0 = [{X, rpc(X, ?MODULE, mem_snapshot, [])} || X <- Nodes],
    Stats0 = [{X, rpc(X, ?MODULE, cnode_stats, [])} || X <- Nodes],
    #{reg := SR8, unreg := SU8, mem := Mem1} =
        throughput(swarm, s8, Spread8(N), Nodes, #{measure_mem => true}),
    Stats1 = [{X, rpc(X, ?MODULE, cnode_stats, [])} || X <- Nodes],
    say("swarm   8 callers (3+3+2 on a,b,c), ~p names: register ~s/s, unregister ~s/s",
        [N, rate(SR8), rate(SU8)]),
    StatsAfter8 = Stats1,
    #{reg := SR1, unreg := SU1} = throughput(swarm, s1, [{A, N}], Nodes),
    say("swarm   1 caller on a, ~p names:            register ~s/s, unregister ~s/s",
        [N, rate(SR1), rate(SU1)]),
    StatsAfter1 = [{X, rpc(X, ?MODULE, cnode_stats, [])} || X <- Nodes],
    GMem0 = [{X, rpc(X, ?MODULE, mem_snapshot, [])} || X <- Nodes],
    #{reg := GR8, unreg := GU8, mem := GMem1} =
        throughput(global, g8, Spread8(GN8), Nodes, #{measure_mem => true}),
    say("global  8 callers (3+3+2 on a,b,c), ~p names:   register ~s/s, unregister ~s/s",
        [GN8, rate(GR8), rate(GU8)]),
    #{reg := GR1, unreg := GU1} = throughput(global, g1, [{A, GN1}], Nodes),
    say("global  1 caller on a, ~p names:               register ~s/s, unregister ~s/s",
        [GN1, rate(GR1), rate(GU1)]),
    %% The `registration = optimistic' setting (Swarm's trade: the caller's
    %% node decides alone, its C node hears of it afterwards), switched on
    %% at run time on every node for these two runs.
    [rpc(X, persistent_term, put, [{swarm, optimistic}, true]) || X <- Nodes],
    #{reg := OR8, unreg := OU8, visible := OV8} = throughput(swarm, o8, Spread8(N), Nodes),
    #{reg := OR1, unreg := OU1, visible := OV1} = throughput(swarm, o1, [{A, N}], Nodes),
    [rpc(X, persistent_term, put, [{swarm, optimistic}, false]) || X <- Nodes],
    say("swarm optimistic 8 callers, ~p names: register ~s/s (all visible on every node: ~s/s), unregister ~s/s",
        [N, rate(OR8), rate(OV8), rate(OU8)]),
    say("swarm optimistic 1 caller on a:        register ~s/s (all visible on every node: ~s/s), unregister ~s/s",
        [rate(OR1), rate(OV1), rate(OU1)]),
    %% The machine's ceiling for any operation that must reach a C node: the
    %% same callers doing nothing but round trips to their own C node (a
    %% ping, answered at once). A register needs this round trip, plus the
    %% owner's for 2 names in 3, plus the replication to every node.
    Ping8 = ping_rate(Spread8(N)),
    Ping1 = ping_rate([{A, N div 2}]),
    say("ceiling: round trips BEAM -> own C node -> BEAM (ping), 8 callers (3+3+2): ~s/s; 1 caller: ~s/s",
        [rate(Ping8), rate(Ping1)]),
    say("  register/ping: 8 callers ~.2f, 1 caller ~.2f", [SR8 / Ping8, SR1 / Ping1]),
    say("C node frames (distribution frames in/out, all connections) per register+unregister pair:"),
    say("  8 callers: ~s", [frames_per_op(Stats0, Stats1, N)]),
    say("  1 caller:  ~s", [frames_per_op(StatsAfter8, StatsAfter1, N)]),

    %% --- memory -----------------------------------------------------------------
    section(io_lib:format("Memory per name (deltas over the first ~p registrations, 8-caller set, / ~p)", [N, N])),
    MemRows = [begin
                   M0 = proplists:get_value(X, Mem0),
                   M1 = proplists:get_value(X, Mem1),
                   D = fun(K) -> maps:get(K, M1) - maps:get(K, M0) end,
                   {X, D(rss) / N, D(ets) / N, D(agent) / N}
               end || X <- Nodes],
    [say("~-28s C node RSS ~7.1f B + ETS swarm_names ~6.1f B + agent ~6.1f B = ~7.1f B/name",
         [atom_to_list(X), R, E, Ag, R + E + Ag]) || {X, R, E, Ag} <- MemRows],
    GMemRows = [begin
                    M0 = proplists:get_value(X, GMem0),
                    M1 = proplists:get_value(X, GMem1),
                    D = fun(K) -> maps:get(K, M1) - maps:get(K, M0) end,
                    {X, D(gets) / GN8, D(gsrv) / GN8}
                end || X <- Nodes],
    [say("~-28s global: ETS global_* ~6.1f B + global_name_server ~6.1f B = ~6.1f B/name (~p names)",
         [atom_to_list(X), E, S, E + S, GN8]) || {X, E, S} <- GMemRows],

    %% --- register latency --------------------------------------------------------
    section("Register latency (1 caller on a, sequential; pid on a)"),
    EchoL = spawn(B, ?MODULE, echo, []),
    #{lat := SLat, stamps := SStamps, pings := SPings} =
        rpc(A, ?MODULE, seq_register, [swarm, lat, 5000, EchoL]),
    EchoL ! stop,
    IRtt50 = pct(SPings, 50),
    wait_tables(swarm, Nodes, 0),
    #{lat := GLat} = rpc(A, ?MODULE, seq_register, [global, glat, 500]),
    wait_tables(global, Nodes, 0),
    {SL50, SL99} = {pct(SLat, 50), pct(SLat, 99)},
    {GL50, GL99} = {pct(GLat, 50), pct(GLat, 99)},
    say("swarm  register_name: p50 ~s us, p90 ~s us, p99 ~s us (5000 names)",
        [us(SL50), us(pct(SLat, 90)), us(SL99)]),
    say("global register_name: p50 ~s us, p90 ~s us, p99 ~s us (500 names)",
        [us(GL50), us(pct(GLat, 90)), us(GL99)]),
    say("latency histogram swarm (us): ~s", [histo(SLat)]),
    Ring = ring(Nodes),
    ByOwner = [{owner(Nm, Ring) =:= A, T1 - T0} || {Nm, T0, T1} <- SStamps],
    OwnLocal = [L || {true, L} <- ByOwner],
    OwnRemote = [L || {false, L} <- ByOwner],
    say("by owner (the ring of ring.c, mirrored here): owner a (own C node decides): "
        "p50 ~s us, p99 ~s us (~p names); owner b or c: p50 ~s us, p99 ~s us (~p names)",
        [us(pct(OwnLocal, 50)), us(pct(OwnLocal, 99)), length(OwnLocal),
         us(pct(OwnRemote, 50)), us(pct(OwnRemote, 99)), length(OwnRemote)]),
    say("reference measured in the same loop (100 ping-pongs a <-> b after every 100 registers): p50 ~s us, p99 ~s us",
        [us(IRtt50), us(pct(SPings, 99))]),
    say("references: BEAM a <-> BEAM b round trip p50 ~s us (same loop; ~s us best separate pair);"
        " BEAM a <-> own C node p50 ~s us; floor for owner b/c (own C node RTT + RTT to the owner) ~s us",
        [us(IRtt50), us(Rtt50), us(CRtt50), us(IRtt50 + CRtt50)]),

    %% --- replication latency -----------------------------------------------------
    section("Replication latency (register on a, first visible in b's table)"),
    #{p50 := RS50, p99 := RS99, p50r := RS50r, p99r := RS99r, n := RSn} =
        replication(swarm, A, B, 2000),
    #{p50 := RG50, p99 := RG99, p50r := RG50r, p99r := RG99r, n := RGn} =
        replication(global, A, B, 300),
    [rpc(X, persistent_term, put, [{swarm, optimistic}, true]) || X <- Nodes],
    #{p50 := RO50, p99 := RO99, n := ROn} = replication(swarm, A, B, 1000, swarm_repl_opt, paced),
    [rpc(X, persistent_term, put, [{swarm, optimistic}, false]) || X <- Nodes],
    say("swarm optimistic: call start on a -> visible on b: p50 ~s us, p99 ~s us (~p names, 1 ms apart)",
        [us(RO50), us(RO99), ROn]),
    say("swarm : call start on a -> visible on b: p50 ~s us, p99 ~s us; after a's call returned: p50 ~s us, p99 ~s us (~p names)",
        [us(RS50), us(RS99), us(RS50r), us(RS99r), RSn]),
    say("global: call start on a -> visible on b: p50 ~s us, p99 ~s us; after a's call returned: p50 ~s us, p99 ~s us (~p names)",
        [us(RG50), us(RG99), us(RG50r), us(RG99r), RGn]),
    say("(visible = the ets:insert into b's table by b's swarm_agent / global_name_server, seen by call"
        " tracing of that one process; timestamps mapped to os:perf_counter, i.e. CLOCK_MONOTONIC)"),

    %% --- whereis ---------------------------------------------------------------
    section("whereis_name (loops inside node a; 1000 names registered in each registry)"),
    {HitS, HitG, MissS, MissG} = populate_lookup_names(A),
    WRes = interleaved(
             Reps,
             [{{Mod, Kind, Callers},
               fun() -> rpc(A, ?MODULE, whereis_bench, [Mod, Kind, Tup, {Ops, Callers}]) end}
              || {Callers, Ops} <- [{1, 1000000}, {8, 250000}],
                 {Mod, Kind, Tup} <- [{swarm, hit, HitS}, {global, hit, HitG},
                                      {swarm, miss, MissS}, {global, miss, MissG}]]),
    say("(best of ~p interleaved rounds, median in brackets)", [Reps]),
    [say("~p caller(s), ~-4s: swarm ~s/s (~s), global ~s/s (~s), swarm/global ~.2f",
         [Cl, K, rate(w(WRes, swarm, K, Cl)), rate(wm(WRes, swarm, K, Cl)),
          rate(w(WRes, global, K, Cl)), rate(wm(WRes, global, K, Cl)),
          w(WRes, swarm, K, Cl) / w(WRes, global, K, Cl)])
     || Cl <- [1, 8], K <- [hit, miss]],

    %% --- via calls --------------------------------------------------------------
    section("gen_server:call (1 caller on a; server on a = same node, on b = other node)"),
    Srv = [{X, start_server(X)} || X <- [A, B]],
    %% One caller process alternates short blocks of the three kinds of call,
    %% so that where the scheduler put it (and the server) weighs on all three
    %% alike; repeated in Reps fresh caller processes: best and median.
    CallRes = lists:append(
                [begin
                     Targets = [{{X, pid}, proplists:get_value(X, Srv)},
                                {{X, swarm}, {via, swarm, {bench_srv, X}}},
                                {{X, global}, {global, {bench_srv, X}}}],
                     _ = rpc(A, ?MODULE, call_mix, [Targets, Block div 10, 2]), % warm-up
                     Runs = [rpc(A, ?MODULE, call_mix, [Targets, Block, 10]) || _ <- lists:seq(1, Reps)],
                     Pid = fun(Run) -> proplists:get_value({X, pid}, Run) end,
                     [{K, #{median => median([proplists:get_value(K, Run) || Run <- Runs]),
                            min => lists:min([proplists:get_value(K, Run) || Run <- Runs]),
                            max => lists:max([proplists:get_value(K, Run) || Run <- Runs]),
                            ratio => median([proplists:get_value(K, Run) / Pid(Run) || Run <- Runs])}}
                      || {K, _} <- Targets]
                 end || {X, Block} <- [{A, 20000}, {B, 2000}]]),
    say("(~p runs, each in a fresh caller process alternating 10 rounds of the 3 kinds; median run,"
        " [min-max]; ratio to pid = median of the per-run ratios)", [Reps]),
    [say("~-10s pid ~s/s [~s-~s], via swarm ~s/s [~s-~s] (~.2f of pid), via global ~s/s [~s-~s] (~.2f of pid)",
         [Where, rate(c(CallRes, X, pid)), rate(cx(CallRes, X, pid, min)), rate(cx(CallRes, X, pid, max)),
          rate(c(CallRes, X, swarm)), rate(cx(CallRes, X, swarm, min)), rate(cx(CallRes, X, swarm, max)),
          cx(CallRes, X, swarm, ratio),
          rate(c(CallRes, X, global)), rate(cx(CallRes, X, global, min)), rate(cx(CallRes, X, global, max)),
          cx(CallRes, X, global, ratio)])
     || {Where, X} <- [{"same node", A}, {"other node", B}]],

    %% --- summary ---------------------------------------------------------------
    section("Summary"),
    Rows =
        [{"register/s, 1 caller", rate(SR1), fmt_g(GR1, GN1), ratio(SR1, GR1)},
         {"register/s, 1 caller, optimistic", rate(OR1), fmt_g(GR1, GN1), ratio(OR1, GR1)},
         {"register/s, 8 callers, optimistic", rate(OR8), fmt_g(GR8, GN8), ratio(OR8, GR8)},
         {"register/s, 8 callers (cluster)", rate(SR8), fmt_g(GR8, GN8), ratio(SR8, GR8)},
         {"unregister/s, 1 caller", rate(SU1), fmt_g(GU1, GN1), ratio(SU1, GU1)},
         {"unregister/s, 8 callers (cluster)", rate(SU8), fmt_g(GU8, GN8), ratio(SU8, GU8)}]
        ++ [{io_lib:format("whereis ~p/s, ~p caller(s)", [K, Cl]), rate(w(WRes, swarm, K, Cl)),
             rate(w(WRes, global, K, Cl)), ratio(w(WRes, swarm, K, Cl), w(WRes, global, K, Cl))}
            || Cl <- [1, 8], K <- [hit, miss]]
        ++ [{"call/s same node (pid " ++ rate(c(CallRes, A, pid)) ++ ")", rate(c(CallRes, A, swarm)),
             rate(c(CallRes, A, global)), ratio(cx(CallRes, A, swarm, ratio), cx(CallRes, A, global, ratio))},
            {"call/s other node (pid " ++ rate(c(CallRes, B, pid)) ++ ")", rate(c(CallRes, B, swarm)),
             rate(c(CallRes, B, global)), ratio(cx(CallRes, B, swarm, ratio), cx(CallRes, B, global, ratio))},
            {"register latency p50 / p99 (us)", us(SL50) ++ " / " ++ us(SL99),
             us(GL50) ++ " / " ++ us(GL99), ratio(GL50, SL50)},
            {"replication a->b p50 / p99 (us)", us(RS50) ++ " / " ++ us(RS99),
             us(RG50) ++ " / " ++ us(RG99), ratio(RG50, RS50)},
            {"replication, optimistic, p50 / p99 (us)", us(RO50) ++ " / " ++ us(RO99),
             us(RG50) ++ " / " ++ us(RG99), ratio(RG50, RO50)}]
        ++ [{"memory B/name, " ++ short(X), integer_to_list(round(R + E + Ag)),
             integer_to_list(round(element(2, lists:keyfind(X, 1, GMemRows)) +
                                       element(3, lists:keyfind(X, 1, GMemRows)))), ""}
            || {X, R, E, Ag} <- MemRows],
    say("~-40s ~16s ~22s ~10s", ["", "swarm", "global", "ratio"]),
    [say("~-40s ~16s ~22s ~10s", [L, S, G, Ra]) || {L, S, G, Ra} <- Rows],
    say("(ratio: swarm/global for rates, global/swarm for latencies: > 1 means swarm is better;"
        " global's counts are in brackets)"),

    section("Targets"),
    T = fun(Ok, Fmt, Args) ->
                say("~s  " ++ Fmt, [case Ok of true -> "PASS"; false -> "FAIL" end | Args])
        end,
    [T(w(WRes, swarm, K, Cl) >= 0.9 * w(WRes, global, K, Cl),
       "whereis ~p, ~p caller(s): swarm ~s/s vs global ~s/s (>= 90%)",
       [K, Cl, rate(w(WRes, swarm, K, Cl)), rate(w(WRes, global, K, Cl))])
     || Cl <- [1, 8], K <- [hit, miss]],
    [T(cx(CallRes, X, swarm, ratio) >= 0.9,
       "via call ~s: swarm ~.2f of plain pid (>= 0.90; ~s/s vs ~s/s)",
       [Where, cx(CallRes, X, swarm, ratio), rate(c(CallRes, X, swarm)), rate(c(CallRes, X, pid))])
     || {Where, X} <- [{"same node", A}, {"other node", B}]],
    [T(cx(CallRes, X, swarm, ratio) >= 0.9 * cx(CallRes, X, global, ratio),
       "via call ~s: swarm ~.2f vs via global ~.2f of plain pid (>= 90% of global's)",
       [Where, cx(CallRes, X, swarm, ratio), cx(CallRes, X, global, ratio)])
     || {Where, X} <- [{"same node", A}, {"other node", B}]],
    T(SR8 >= 100000, "register, 8 callers: ~s/s cluster-wide (>= 100,000/s; the bare round trip"
      " to the own C node, with the same callers: ~s/s)", [rate(SR8), rate(Ping8)]),
    T(SL50 =< IRtt50, "register p50 ~s us vs one BEAM<->BEAM loopback round trip p50 ~s us, measured in the same loop (<=)",
      [us(SL50), us(IRtt50)]),
    T(SR1 >= 50 * GR1, "register 1 caller: swarm/global = ~.1fx (>= 50x)", [SR1 / GR1]),
    T(SR8 >= 50 * GR8, "register 8 callers: swarm/global = ~.1fx (>= 50x)", [SR8 / GR8]),
    T(SU1 >= 0.9 * SR1, "unregister 1 caller ~s/s vs register ~s/s at ~p names (>= 90%)",
      [rate(SU1), rate(SR1), N]),
    T(SU8 >= 0.9 * SR8, "unregister 8 callers ~s/s vs register ~s/s at ~p names (>= 90%)",
      [rate(SU8), rate(SR8), N]),
    T(RS99 < 1000000, "replication p99 ~s us (< 1000 us)", [us(RS99)]),
    [T(R + E + Ag =< 300, "memory per name on ~s: ~p B (<= 300 B)", [short(X), round(R + E + Ag)])
     || {X, R, E, Ag} <- MemRows],
    say("load average at end: ~s", [string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg"))]),
    {Busy1, _} = machine_busy_ms(),
    Ours = lists:sum([Bm + Cm || {Bm, Cm} <- element(2, cpu_all(Nodes))]) + element(2, machine_busy_ms()),
    WallS = (erlang:monotonic_time(millisecond) - Wall0) / 1000,
    say("machine CPU use during the run: ~.2f cores busy on average, of which this benchmark ~.2f"
        " (noise from other processes: ~.2f cores)",
        [(Busy1 - element(1, Busy0)) / 1000 / WallS, Ours / 1000 / WallS,
         max(0, (Busy1 - element(1, Busy0)) - Ours) / 1000 / WallS]),
    ok.

section(Title) ->
    say("~n== ~s ==", [Title]).


%% best and median rates of the interleaved micro-benchmarks
w(Res, Mod, Kind, Callers) -> maps:get(best, proplists:get_value({Mod, Kind, Callers}, Res)).
wm(Res, Mod, Kind, Callers) -> maps:get(median, proplists:get_value({Mod, Kind, Callers}, Res)).
c(Res, Node, Kind) -> maps:get(median, proplists:get_value({Node, Kind}, Res)).
cx(Res, Node, Kind, Key) -> maps:get(Key, proplists:get_value({Node, Kind}, Res)).


ratio(_, 0) -> "-";
ratio(_, +0.0) -> "-";
ratio(A, B) -> io_lib:format("~.2fx", [A / B]).

fmt_g(Rate, N) -> rate(Rate) ++ io_lib:format(" [~p]", [N]).


%% nanoseconds -> microseconds text


histo(Lat) ->
    Bounds = [50, 100, 200, 300, 500, 1000, 2000, 5000],
    L = length(Lat),
    Counts = [length([X || X <- Lat, X =< B * 1000]) || B <- Bounds],
    string:join([io_lib:format("<=~p:~.1f%", [B, 100 * Cn / L]) || {B, Cn} <- lists:zip(Bounds, Counts)], " ").

%% Runs every variant once (warm-up, discarded), then Reps rounds of all
%% variants in turn, so that a burst of noise from other processes hits
%% every variant alike; returns [{Key, #{best, median}}] (rates: noise only
%% ever slows a CPU-bound loop down, so the best round is the cleanest).
interleaved(Reps, Variants) ->
    [_ = F() || {_, F} <- Variants],
    Rounds = [[{K, F()} || {K, F} <- Variants] || _ <- lists:seq(1, Reps)],
    [{K, begin
             Rs = lists:sort([R || Round <- Rounds, {K2, R} <- Round, K2 =:= K]),
             #{best => lists:last(Rs), median => lists:nth((length(Rs) + 1) div 2, Rs)}
         end} || {K, _} <- Variants].


%% The owner of a name as the C node computes it (tracker.c owner_of over
%% ring.c, libring's ring as Swarm uses it: 128 points per member at
%% erlang:phash2({Node, I}, 4294967295), members added in name order, a
%% contested point kept by the first; a key at phash2(Key, 4294967295),
%% atoms at phash2(term_to_binary(Atom), ...); the first point at or above
%% it wins, wrapping around). Mirrored for the report only, to split register
%% latencies by where the decision is made; if the C side changes its
%% placement this split goes stale (the totals stay right).
ring(Nodes) ->
    lists:ukeysort(1, lists:sort([{erlang:phash2({N, I}, 4294967295), N}
                                  || N <- lists:sort(Nodes), I <- lists:seq(1, 128)])).

owner(Name, Ring) ->
    H = case is_atom(Name) of
            true -> erlang:phash2(term_to_binary(Name), 4294967295);
            false -> erlang:phash2(Name, 4294967295)
        end,
    case [N || {P, N} <- Ring, P >= H] of
        [N | _] -> N;
        [] -> element(2, hd(Ring))
    end.

%% ===========================================================================
%% Cluster

start_cluster() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning",
            "-swarm", "cnode_log", "warning",
            "-pa" | Paths] ++ string:lexemes(os:getenv("SWARM_BENCH_ERL_ARGS", ""), " "),
    Peers = [begin
                 Name = list_to_atom("sbench_" ++ S ++ "_" ++ os:getpid()),
                 {ok, Peer, Node} = peer:start_link(#{name => Name, host => ?HOST, longnames => true,
                                                      args => Args, connection => standard_io}),
                 true = net_kernel:connect_node(Node),
                 {Peer, Node}
             end || S <- ["a", "b", "c"]],
    put(peers, [P || {P, _} <- Peers]),
    Nodes = [N || {_, N} <- Peers],
    [true = rpc(X, net_kernel, connect_node, [Y]) || X <- Nodes, Y <- Nodes, X =/= Y],
    [{ok, _} = rpc(X, application, ensure_all_started, [swarm]) || X <- Nodes],
    wait_until(fun() ->
                       lists:all(fun(X) ->
                                         lists:sort(rpc(X, gen_server, call, [swarm_agent, peers]))
                                             =:= lists:sort(Nodes -- [X])
                                 end, Nodes)
               end, 20000),
    %% Every C node has both peer connections up and synced: a probe name
    %% registered on each node shows everywhere.
    Probes = [{{probe, X}, rpc(X, erlang, spawn, [?MODULE, idle, []])} || X <- Nodes],
    [yes = rpc(X, swarm, register_name, [Nm, P]) || {{_, X} = Nm, P} <- Probes],
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, ets, info, [swarm_names, size]) =:= 3 end, Nodes) end,
               20000),
    [begin ok = rpc(X, swarm, unregister_name, [Nm]), P ! stop end || {{_, X} = Nm, P} <- Probes],
    wait_tables(swarm, Nodes, 0),
    Nodes.



table(swarm) -> swarm_names;
table(global) -> global_names.

wait_tables(Mod, Nodes, Size) ->
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, ets, info, [table(Mod), size]) =:= Size end, Nodes) end,
               60000).

%% Callers spread over the nodes round-robin (8 over 3: 3+3+2), names split
%% evenly: [{Node, NumberOfNames}].
spread(Nodes, Callers, Total) ->
    L = length(Nodes),
    [{lists:nth(1 + (I rem L), Nodes), Total div Callers + (case I < Total rem Callers of true -> 1; false -> 0 end)}
     || I <- lists:seq(0, Callers - 1)].

%% ===========================================================================
%% Register / unregister throughput

throughput(Mod, Tag, Spec, Nodes) ->
    throughput(Mod, Tag, Spec, Nodes, #{}).

throughput(Mod, Tag, Spec, Nodes, Opts) ->
    Self = self(),
    {Workers, _} = lists:mapfoldl(
                     fun({Node, Count}, From) ->
                             W = spawn_link(Node, ?MODULE, worker_start, [Self, Mod, Tag, From, Count]),
                             {W, From + Count}
                     end, 1, Spec),
    [receive
         {ready, W} -> ok;
         {'EXIT', W, Why} -> error({worker_died, Why})  %% e.g. too many processes
     after ?RPC_TMO -> error({timeout, ready})
     end || W <- Workers],
    Total = lists:sum([Cn || {_, Cn} <- Spec]),
    Cpu0 = cpu_all(Nodes),
    T0 = erlang:monotonic_time(nanosecond),
    Reg = timed(Workers, reg, Total),
    wait_tables(Mod, Nodes, Total),
    %% Until every node's table shows every name (polled every 10 ms).
    Visible = Total * 1.0e9 / (erlang:monotonic_time(nanosecond) - T0),
    Cpu1 = cpu_all(Nodes),
    Mem = case maps:get(measure_mem, Opts, false) of
              true -> [{X, rpc(X, ?MODULE, mem_snapshot, [])} || X <- Nodes];
              false -> undefined
          end,
    Cpu2 = cpu_all(Nodes),
    Unreg = timed(Workers, unreg, Total),
    wait_tables(Mod, Nodes, 0),
    Cpu3 = cpu_all(Nodes),
    [W ! stop || W <- Workers],
    [receive {stopped, W} -> ok end || W <- Workers],
    maps:get(quiet, Opts, false) orelse
        say("  ~p, ~p names: CPU per register: ~s~n  ~p, ~p names: CPU per unregister: ~s",
            [Mod, Total, cpu_per_op(Cpu0, Cpu1, Total), Mod, Total, cpu_per_op(Cpu2, Cpu3, Total)]),
    #{reg => Reg, unreg => Unreg, mem => Mem, visible => Visible}.

timed(Workers, Op, Total) ->
    T0 = erlang:monotonic_time(nanosecond),
    [W ! {go, Op} || W <- Workers],
    Bad = lists:sum([receive
                         {done, W, B} -> B;
                         {'EXIT', W, Why} -> error({worker_died, Why})
                     after ?RPC_TMO -> error({timeout, Op})
                     end || W <- Workers]),
    T1 = erlang:monotonic_time(nanosecond),
    Bad =:= 0 orelse error({failed_ops, Op, Bad}),
    Total * 1.0e9 / (T1 - T0).

%% CPU time (ms, user + system) of each node's BEAM and C node processes.
cpu_all(Nodes) -> {machine_busy_ms(), [rpc(X, ?MODULE, cpu_ms, []) || X <- Nodes]}.

%% Busy time of the whole machine (all CPUs, ms) from /proc/stat, and of
%% this coordinator: what the cluster did not use was used by others.
machine_busy_ms() ->
    {busy_ms(), proc_cpu_ms(list_to_integer(os:getpid()))}.

cpu_ms() ->
    CNode = case whereis(swarm_agent) of
                undefined -> 0;
                _ -> proc_cpu_ms(gen_server:call(swarm_agent, os_pid))
            end,
    {proc_cpu_ms(list_to_integer(os:getpid())), CNode}.

%% "BEAMs x us + C nodes y us = z us (summed over the nodes)"
cpu_per_op({{M0, Me0}, C0}, {{M1, Me1}, C1}, Ops) ->
    Bt = lists:sum([B1 - B0 || {{B0, _}, {B1, _}} <- lists:zip(C0, C1)]),
    Ct = lists:sum([X1 - X0 || {{_, X0}, {_, X1}} <- lists:zip(C0, C1)]),
    Others = max(0, (M1 - M0) - Bt - Ct - (Me1 - Me0)),
    io_lib:format("BEAMs ~.1f us + C nodes ~.1f us = ~.1f us (summed over the 3 nodes);"
                  " other processes on the machine meanwhile: ~.1f CPU-s",
                  [Bt * 1000 / Ops, Ct * 1000 / Ops, (Bt + Ct) * 1000 / Ops, Others / 1000]).

%% A caller, on its node: its names and their fresh idle processes are made
%% before it says ready; it then registers or unregisters them on command.
worker_start(Parent, Mod, Tag, From, Count) ->
    Pairs = [{{Tag, I}, spawn(?MODULE, idle, [])} || I <- lists:seq(From, From + Count - 1)],
    true = erlang:garbage_collect(),
    Parent ! {ready, self()},
    worker_loop(Parent, Mod, Pairs).

worker_loop(Parent, Mod, Pairs) ->
    receive
        {go, reg} ->
            Parent ! {done, self(), reg_all(Mod, Pairs, 0)},
            worker_loop(Parent, Mod, Pairs);
        {go, unreg} ->
            unreg_all(Mod, Pairs),
            Parent ! {done, self(), 0},
            worker_loop(Parent, Mod, Pairs);
        stop ->
            [exit(P, kill) || {_, P} <- Pairs],
            Parent ! {stopped, self()}
    end.

reg_all(_Mod, [], Bad) -> Bad;
reg_all(Mod, [{N, P} | T], Bad) ->
    case Mod:register_name(N, P) of
        yes -> reg_all(Mod, T, Bad);
        _ -> reg_all(Mod, T, Bad + 1)
    end.

unreg_all(_Mod, []) -> ok;
unreg_all(Mod, [{N, _} | T]) ->
    _ = Mod:unregister_name(N),
    unreg_all(Mod, T).

idle() ->
    receive stop -> ok end.

%% ===========================================================================
%% Memory and counters (on a node)

mem_snapshot() ->
    W = erlang:system_info(wordsize),
    Agent = whereis(swarm_agent),
    true = erlang:garbage_collect(Agent),
    {memory, AgentMem} = process_info(Agent, memory),
    OsPid = gen_server:call(swarm_agent, os_pid),
    GS = whereis(global_name_server),
    true = erlang:garbage_collect(GS),
    {memory, GSMem} = process_info(GS, memory),
    GTabs = [global_names, global_names_ext, global_pid_names, global_pid_ids, global_locks,
             global_node_resources, global_lost_connections],
    #{rss => vmrss(OsPid),
      ets => ets:info(swarm_names, memory) * W,
      agent => AgentMem,
      gets => lists:sum([ets:info(T, memory) * W || T <- GTabs]),
      gsrv => GSMem}.

cnode_stats() ->
    swarm_agent:stats().

frames_per_op(S0, S1, Ops) ->
    string:join(
      [begin
           P0 = proplists:get_value(X, S0),
           P1 = proplists:get_value(X, S1),
           D = fun(K) -> proplists:get_value(K, P1) - proplists:get_value(K, P0) end,
           io_lib:format("~s in ~.3f out ~.3f", [short(X), D(frames_in) / Ops, D(frames_out) / Ops])
       end || {X, _} <- S0], "; ").

%% ===========================================================================
%% Latencies

%% On a node: Count fresh idle processes, then registers them one after the
%% other (each timed with Clock), then unregisters them.
seq_register(Mod, Tag, Count) ->
    seq_register(Mod, Tag, Count, none).

%% With Echo (a pid of echo/0 on another node), every block of 100
%% registers is followed by 100 timed ping-pongs to it: a reference round
%% trip taken in the same conditions as the registers.
seq_register(Mod, Tag, Count, Echo) ->
    Pairs = [{{Tag, I}, spawn(?MODULE, idle, [])} || I <- lists:seq(1, Count)],
    true = erlang:garbage_collect(),
    {Stamps, Pings} = seq_reg(Mod, Pairs, Echo, [], []),
    unreg_all(Mod, Pairs),
    [exit(P, kill) || {_, P} <- Pairs],
    #{lat => [T1 - T0 || {_, T0, T1} <- Stamps], stamps => Stamps, pings => Pings}.

seq_reg(_Mod, [], _Echo, Acc, Pings) -> {lists:reverse(Acc), Pings};
seq_reg(Mod, [{N, P} | T], Echo, Acc, Pings) ->
    T0 = os:perf_counter(nanosecond),
    yes = Mod:register_name(N, P),
    T1 = os:perf_counter(nanosecond),
    Pings1 = case Echo of
                 paced ->
                     %% An asynchronous register (optimistic) returns before
                     %% its replication: 1 ms apart, each is measured on an
                     %% idle pipeline rather than behind a queue of others.
                     receive after 1 -> Pings end;
                 _ when Echo =/= none, length(Acc) rem 100 =:= 99 -> pings(Echo, 100, Pings);
                 _ -> Pings
             end,
    seq_reg(Mod, T, Echo, [{N, T0, T1} | Acc], Pings1).

pings(_Echo, 0, Acc) -> Acc;
pings(Echo, K, Acc) ->
    T0 = os:perf_counter(nanosecond),
    Echo ! {self(), x},
    receive {pong, _} -> ok end,
    pings(Echo, K - 1, [os:perf_counter(nanosecond) - T0 | Acc]).

echo() ->
    receive
        {From, _} -> From ! {pong, os:perf_counter(nanosecond)}, echo();
        stop -> ok
    end.

%% On a node: round trips to an echo process on another node; also
%% estimates the skew of os:perf_counter between the two (NTP-style, from the
%% sample with the smallest round trip).
pingpong(Echo, Count) ->
    Samples = [begin
                   T1 = os:perf_counter(nanosecond),
                   Echo ! {self(), x},
                   receive {pong, TB} -> ok end,
                   T2 = os:perf_counter(nanosecond),
                   {T2 - T1, TB - (T1 + T2) div 2}
               end || _ <- lists:seq(1, Count)],
    S = lists:nthtail(Count div 10, Samples),
    Rtts = [R || {R, _} <- S],
    {MinRtt, Skew} = lists:min(S),
    #{rtt_p50 => pct(Rtts, 50), rtt_p99 => pct(Rtts, 99), skew => Skew, min_rtt => MinRtt}.

%% On a node: round trips to its own C node (a ping).
cnode_rtt(Count) ->
    CNode = swarm_agent:cnode(),
    L = [begin
             Ref = make_ref(),
             T0 = erlang:monotonic_time(nanosecond),
             erlang:send({swarm, CNode}, {'$sw1', ping, self(), Ref}),
             receive {Ref, _} -> ok end,
             erlang:monotonic_time(nanosecond) - T0
         end || _ <- lists:seq(1, Count)],
    S = lists:nthtail(Count div 10, L),
    #{p50 => pct(S, 50), p99 => pct(S, 99)}.

%% os:perf_counter(nanosecond) - erlang:monotonic_time(nanosecond) on this
%% node, from the tightest of a few paired readings.
mono_perf_offset() ->
    Ss = [begin
              P1 = os:perf_counter(nanosecond),
              M = erlang:monotonic_time(nanosecond),
              P2 = os:perf_counter(nanosecond),
              {P2 - P1, (P1 + P2) div 2 - M}
          end || _ <- lists:seq(1, 20)],
    element(2, lists:min(Ss)).

writer(swarm) -> swarm_agent;
writer(global) -> global_name_server.

replication(Mod, A, B, Count) ->
    replication(Mod, A, B, Count, list_to_atom(atom_to_list(Mod) ++ "_repl"), none).

replication(Mod, A, B, Count, Tag, Pace) ->
    W = rpc(B, ?MODULE, repl_watch_start, [table(Mod), writer(Mod)]),
    #{stamps := Stamps} = rpc(A, ?MODULE, seq_register, [Mod, Tag, Count, Pace]),
    wait_tables(Mod, [A, B], 0),
    W ! {dump, self()},
    {Seen, Off} = receive {seen, W, S, O} -> {S, O} after 30000 -> error(no_dump) end,
    Ls = [{Ts + Off - T0, Ts + Off - T1} || {Nm, T0, T1} <- Stamps, {ok, Ts} <- [maps:find(Nm, Seen)]],
    length(Ls) =:= Count orelse say("warning: b saw ~p of ~p names", [length(Ls), Count]),
    Lat = [L || {L, _} <- Ls],
    LatR = [L || {_, L} <- Ls],
    #{p50 => pct(Lat, 50), p99 => pct(Lat, 99), p50r => pct(LatR, 50), p99r => pct(LatR, 99),
      n => length(Ls)}.

%% On node b: a process tracing the calls of ets:insert(Tab, _) made by the
%% registered process Writer (the one that fills the table), recording the
%% first time each name is inserted.
repl_watch_start(Tab, Writer) ->
    Self = self(),
    W = spawn(fun() ->
                      WPid = whereis(Writer),
                      1 = erlang:trace_pattern({ets, insert, 2}, [{[Tab, '_'], [], []}], [global]),
                      1 = erlang:trace(WPid, true, [call, {tracer, self()}, monotonic_timestamp]),
                      Self ! {tracing, self()},
                      repl_watch_loop(#{writer => WPid, seen => #{}})
              end),
    receive {tracing, W} -> W after 10000 -> error(trace_start) end.

repl_watch_loop(#{seen := Seen} = St) ->
    receive
        {trace_ts, _, call, {ets, insert, [_, Obj]}, Ts} when is_tuple(Obj); is_list(Obj) ->
            %% The agent inserts one object or a list of them (a run of adds).
            Objs = case is_tuple(Obj) of true -> [Obj]; false -> Obj end,
            Seen2 = lists:foldl(fun(O, Acc) when is_tuple(O) ->
                                        Name = element(1, O),
                                        case maps:is_key(Name, Acc) of
                                            true -> Acc;
                                            false -> Acc#{Name => Ts}
                                        end;
                                   (_, Acc) -> Acc
                                end, Seen, Objs),
            repl_watch_loop(St#{seen := Seen2});
        {dump, From} ->
            %% Trace messages may still be on their way (under load they lag
            %% behind the table): wait until all of them are delivered.
            WPid = maps:get(writer, St),
            erlang:trace(WPid, false, [call]),
            Ref = erlang:trace_delivered(WPid),
            repl_watch_loop(St#{dump => {From, Ref}});
        {trace_delivered, _, Ref} when element(2, map_get(dump, St)) =:= Ref ->
            {From, Ref} = maps:get(dump, St),
            erlang:trace_pattern({ets, insert, 2}, false, [global]),
            From ! {seen, self(), Seen, mono_perf_offset()};
        _ ->
            repl_watch_loop(St)
    end.

%% On a node: checks that call tracing of the ets:insert/2 BIF works.
trace_insert_ok() ->
    Tab = ets:new(bench_probe, [public]),
    Self = self(),
    P = spawn(fun() -> receive go -> ets:insert(Tab, {k, v}), Self ! inserted end end),
    1 = erlang:trace_pattern({ets, insert, 2}, true, [global]),
    1 = erlang:trace(P, true, [call, {tracer, self()}, monotonic_timestamp]),
    P ! go,
    receive inserted -> ok end,
    R = receive {trace_ts, P, call, {ets, insert, [Tab, {k, v}]}, _} -> true after 2000 -> false end,
    erlang:trace_pattern({ets, insert, 2}, false, [global]),
    ets:delete(Tab),
    R.

%% ===========================================================================
%% whereis and via calls

populate_lookup_names(A) ->
    Nodes = [A | rpc(A, erlang, nodes, [])],
    Count = 1000,
    Names = rpc(A, ?MODULE, populate, [lk, Count, Nodes]),
    wait_tables(swarm, Nodes, Count),
    wait_tables(global, Nodes, Count),
    Hit = list_to_tuple(Names),
    Miss = list_to_tuple([{lk_miss, I} || I <- lists:seq(1, Count)]),
    {Hit, Hit, Miss, Miss}.

%% On a node: Count idle processes spread over Nodes, each registered in
%% swarm and in global under the same name {Tag, I}.
populate(Tag, Count, Nodes) ->
    L = length(Nodes),
    [begin
         Name = {Tag, I},
         P = spawn(lists:nth(1 + I rem L, Nodes), ?MODULE, idle, []),
         yes = swarm:register_name(Name, P),
         yes = global:register_name(Name, P),
         Name
     end || I <- lists:seq(1, Count)].

%% On a node: Callers processes each looking up Ops names (cycling through
%% the tuple); returns lookups per second (all callers together).
whereis_bench(Mod, Kind, Tup, {Ops, Callers}) ->
    Self = self(),
    Sz = tuple_size(Tup),
    Ps = [spawn_link(fun() ->
                             receive go -> ok end,
                             Hits = lookup_loop(Mod, Tup, Sz, Ops, 0),
                             Self ! {done, self(), Hits}
                     end) || _ <- lists:seq(1, Callers)],
    T0 = erlang:monotonic_time(nanosecond),
    [P ! go || P <- Ps],
    Hits = lists:sum([receive {done, P, H} -> H end || P <- Ps]),
    T1 = erlang:monotonic_time(nanosecond),
    Expect = case Kind of hit -> Ops * Callers; miss -> 0 end,
    Hits =:= Expect orelse error({lookup_mismatch, Mod, Kind, Hits, Expect}),
    Ops * Callers * 1.0e9 / (T1 - T0).

lookup_loop(_Mod, _Tup, _Sz, 0, Hits) -> Hits;
lookup_loop(Mod, Tup, Sz, N, Hits) ->
    case Mod:whereis_name(element(1 + N rem Sz, Tup)) of
        undefined -> lookup_loop(Mod, Tup, Sz, N - 1, Hits);
        _ -> lookup_loop(Mod, Tup, Sz, N - 1, Hits + 1)
    end.

%% On a node: one fresh process making Rounds rounds of Block calls to each
%% target in turn; returns [{Key, calls per second}] over all its rounds.
call_mix(Targets, Block, Rounds) ->
    Self = self(),
    P = spawn_link(fun() ->
                           Times = [[begin
                                         T0 = erlang:monotonic_time(nanosecond),
                                         call_loop(T, Block),
                                         {K, erlang:monotonic_time(nanosecond) - T0}
                                     end || {K, T} <- Targets] || _ <- lists:seq(1, Rounds)],
                           Self ! {mix, self(), lists:append(Times)}
                   end),
    Times = receive {mix, P, Ts} -> Ts end,
    [{K, Block * Rounds * 1.0e9 / lists:sum([Ns || {K2, Ns} <- Times, K2 =:= K])} || {K, _} <- Targets].

call_loop(_Target, 0) -> ok;
call_loop(Target, N) ->
    pong = gen_server:call(Target, ping),
    call_loop(Target, N - 1).

%% Starts the bench gen_server on Node through {via, swarm, {bench_srv, Node}},
%% also registers it in global, and waits until every node sees it.
start_server(Node) ->
    Name = {bench_srv, Node},
    {ok, Pid} = rpc(Node, gen_server, start, [{via, swarm, Name}, ?MODULE, [], []]),
    yes = rpc(Node, global, register_name, [Name, Pid]),
    Nodes = [Node | rpc(Node, erlang, nodes, [])],
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, swarm, whereis_name, [Name]) =:= Pid end, Nodes) end,
               10000),
    Pid.

init([]) -> {ok, #{}}.
handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast(_Msg, S) -> {noreply, S}.
handle_info(_Msg, S) -> {noreply, S}.
