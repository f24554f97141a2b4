%% @doc The peers benchmark (`make bench-peers', bench/peers_run.sh): swarm
%% in C (registration `exact', and `optimistic'), Elixir's Swarm 3.4 and
%% syn 3 measured in one run, each on a fresh cluster of 3 BEAM nodes
%% started with OTP's `peer' on 127.0.0.1, driven from this hidden
%% coordinator node. The four clusters run side by side (idle while another
%% is measured), so that the throughput rounds can be interleaved: a burst
%% of noise from other processes on the machine hits every system alike.
%%
%% What it is not: a build of the other systems. Swarm 3.4 and syn 3 come
%% from their public sources, built beforehand by the user into
%% SWARM_PEERS_DIR (layout below); nothing of them is part of this
%% repository.
%%
%% SWARM_PEERS_DIR holds one directory per application, each with its
%% ebin/ (the .beam files and the .app file): swarm/ (Swarm 3.4, whose
%% application is also called `swarm', hence separate clusters with their own
%% code paths), libring/, gen_state_machine/, elixir/ and logger/ (Elixir's
%% own, e.g. links to them), syn/.
%%
%% Figures, each system: register_name/2 and unregister per second with 8
%% callers (3+3+2 over the 3 nodes) and with 1 caller, N fresh names and
%% idle processes (made before the clock starts), best of Reps interleaved
%% rounds; replication latency (sequential registers on a, until b's
%% registry process inserts the name into its table, seen by call tracing of
%% that one process; unpaced, where an asynchronous registry queues them,
%% and paced, 1 ms apart; the target compares the paced figures);
%% join/2 per second with 8 callers (3+3+2) into one group of JoinN
%% members. Swarm 3.4's groups are metadata of registered processes: its
%% members are registered first (untimed), then joined.
%%
%% Knobs (environment): SWARM_PEERS_DIR (required), SWARM_PEERS_N (names,
%% default 20000), SWARM_PEERS_REPS (rounds, default 3),
%% SWARM_PEERS_REPL_N (sequential registers, default 2000),
%% SWARM_PEERS_JOIN_N (group members, default 10000), SWARM_PEERS_OUT
%% (report file), SWARM_PEERS_OURS_EBIN (this repository's ebin; set by
%% bench/peers_run.sh). For quicker, partial runs (no summary nor
%% targets): SWARM_PEERS_SYSTEMS (e.g. "exact,swarm34"; also `exact2', a
%% second exact cluster whose nodes get the extra erl arguments in
%% SWARM_PEERS_EXACT2_ARGS, e.g. "-swarm some_setting value", to compare
%% a lever with the default in one run; `exact_owner', the exact mode
%% with the setting direct_to_owner; `exact_dist', the exact mode with
%% cnode_pipe false: requests by distribution), SWARM_PEERS_PARTS (of
%% throughput, replication, join), SWARM_PEERS_ONE_CALLER=0 (no 1-caller
%% rounds). Every throughput figure also prints the CPU per operation the
%% clusters' BEAM nodes and C nodes used while it ran.
-module(peers_bench).

%% The systems that are swarm in C (this repository), in some setting.
-define(OURS(S), (S =:= exact orelse S =:= optimistic orelse S =:= exact2 orelse
                  S =:= exact_owner orelse S =:= exact_dist)).

-export([main/0]).
-export([holder_start/1, taken_worker/4]).
-import(bench_lib, [envint/2, rpc/4, wait_until/2, pct/2, median/1, rate/1, us/1, ping_rate/1,
                    owner_ping_rate/2,
                    proc_cpu_ms/1, busy_ms/0]).
%% Run on the clusters' nodes.
-export([idle/0, worker_start/5, seq_register/4, repl_watch_start/2, join_worker/4, count/1,
         member_count/2, probe/2, unreg/2, tracker_state/0, cpu_ms/1, cpu_pair/1]).

-define(HOST, "127.0.0.1").
-define(RPC_TMO, 300000).
-define(SYN_SCOPE, bench).
-define(ALL_SYSTEMS, [exact, optimistic, swarm34, syn3]).
-define(SYSTEMS, systems()).

%% ===========================================================================
%% Entry point (coordinator)

main() ->
    T0 = erlang:monotonic_time(millisecond),
    Out = case os:getenv("SWARM_PEERS_OUT") of
              false -> "bench/results/peers-latest.txt";
              O -> O
          end,
    put(report, []),
    process_flag(trap_exit, true),
    Res = try run() of
              ok -> ok
          catch C:E:St ->
              say("~npeers bench FAILED: ~p:~p~n~p", [C, E, St]),
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

section(Title) -> say("~n== ~s ==", [Title]).

label(exact) -> "swarm in C (exact)";
label(exact2) -> "swarm in C (exact, SWARM_PEERS_EXACT2_ARGS)";
label(exact_owner) -> "swarm in C (exact, direct_to_owner)";
label(exact_dist) -> "swarm in C (exact, cnode_pipe false)";
label(optimistic) -> "swarm in C (optimistic)";
label(swarm34) -> "Swarm 3.4";
label(syn3) -> "syn 3".

run() ->
    N = envint("SWARM_PEERS_N", 20000),
    Reps = envint("SWARM_PEERS_REPS", 3),
    ReplN = envint("SWARM_PEERS_REPL_N", 2000),
    JoinN = envint("SWARM_PEERS_JOIN_N", 10000),
    Paths = paths(),
    say("peers benchmark  ~s  OTP ~s, ~p cores, host ~s",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available), ?HOST]),
    say("load average at start: ~s", [loadavg()]),
    say("names ~p, rounds ~p, sequential registers ~p, group members ~p", [N, Reps, ReplN, JoinN]),
    {Busy0, Wall0} = {busy_ms(), erlang:monotonic_time(millisecond)},
    Clusters = [{Sys, start_cluster(Sys, maps:get(Sys, Paths))} || Sys <- ?SYSTEMS],
    [say("~-24s ~p", [label(Sys), Nodes]) || {Sys, Nodes} <- Clusters],
    Nodes = fun(Sys) -> proplists:get_value(Sys, Clusters) end,
    Spread8 = fun(Sys, Total) -> spread(Nodes(Sys), 8, Total) end,

    HasExact = lists:member(exact, ?SYSTEMS),
    Tp = case part(throughput) of
             false -> [];
             true -> throughput_part(N, Reps, Nodes, Spread8, HasExact)
         end,
    Floors = case part(throughput) andalso HasExact of
                 true ->
                     {P8, P1} = {ping_rate(Spread8(exact, N)), ping_rate([{hd(Nodes(exact)), N div 2}])},
                     say("floor of the exact mode: round trips BEAM -> own C node -> BEAM (ping),"
                         " 8 callers (3+3+2): ~s/s; 1 caller: ~s/s", [rate(P8), rate(P1)]),
                     Of1 = fun(F1) ->
                                   case proplists:is_defined({exact, 1}, Tp) of
                                       true -> io_lib:format("~.2f", [best(Tp, {exact, 1}, reg) / F1]);
                                       false -> "-"
                                   end
                           end,
                     say("  register/ping (exact): 8 callers ~.2f, 1 caller ~s",
                         [best(Tp, {exact, 8}, reg) / P8, Of1(P1)]),
                     CNodes = [rpc(X, swarm_cnode, cnode, []) || X <- Nodes(exact)],
                     {D8, D1} = {owner_ping_rate(Spread8(exact, N), CNodes),
                                 owner_ping_rate([{hd(Nodes(exact)), N div 2}], CNodes)},
                     say("ceiling of any design that asks the owner's C node: round trips BEAM -> the"
                         " C nodes in turn (1 in 3 its own) -> BEAM (ping, answered at once; no commit,"
                         " no replication), 8 callers: ~s/s; 1 caller: ~s/s", [rate(D8), rate(D1)]),
                     {O8, O1} = owner_floor(Nodes(exact), Spread8(exact, N div 2), N div 4),
                     say("floor with the owner's round trip: register_name/2 of a taken name, answered no by"
                         " its owner (caller -> own C node [-> owner's C node -> own C node] -> agent ->"
                         " caller; no commit, no replication), 8 callers: ~s/s; 1 caller: ~s/s",
                         [rate(O8), rate(O1)]),
                     say("  register/owner floor (exact): 8 callers ~.2f, 1 caller ~s",
                         [best(Tp, {exact, 8}, reg) / O8, Of1(O1)]),
                     #{ping8 => P8, ping1 => P1, owner8 => O8, owner1 => O1, direct8 => D8, direct1 => D1};
                 false ->
                     #{ping8 => 0, ping1 => 0, owner8 => 0, owner1 => 0, direct8 => 0, direct1 => 0}
             end,

    Repl = case part(replication) of
               false -> [];
               true ->
                   section("Replication latency (register on a, sequential; until b's registry inserts the name)"),
                   R = [{{Sys, Pace}, replication(Sys, Nodes(Sys), Count, Pace)}
                        || Sys <- ?SYSTEMS,
                           {Pace, Count} <- [{none, ReplN}, {paced, ReplN div 2}]],
                   [say("~-24s ~-8s call start -> visible on b: p50 ~s us, p99 ~s us; after a's call returned:"
                        " p50 ~s us, p99 ~s us (~p names)",
                        [label(Sys), pace_label(Pace), us(P50), us(P99), us(P50r), us(P99r), Cnt])
                    || {{Sys, Pace}, #{p50 := P50, p99 := P99, p50r := P50r, p99r := P99r, n := Cnt}} <- R],
                   say("(unpaced: each register right after the previous one returned, so an asynchronous"
                       " registry queues them; paced: 1 ms apart, each on an idle pipeline)"),
                   R
           end,

    Jn = case part(join) of
             false -> [];
             true ->
                 section(io_lib:format("join/2, 8 callers (3+3+2), one group of ~p members"
                                       " (best of ~p interleaved rounds)", [JoinN, Reps])),
                 J = interleaved(
                       Reps,
                       [{Sys, fun(R) -> joins(Sys, {grp, R}, Spread8(Sys, JoinN), Nodes(Sys)) end}
                        || Sys <- ?SYSTEMS]),
                 [say("~-24s join ~s/s (~s), all members listed on every node ~s/s; ~s",
                      [label(Sys), rate(best(J, Sys, join)), rate(med(J, Sys, join)),
                       rate(best(J, Sys, visible)), cpu_label(J, Sys)])
                  || Sys <- ?SYSTEMS],
                 HasExact andalso
                     begin
                         JPing8 = ping_rate(Spread8(exact, JoinN)),
                         say("  join/ping (swarm in C): ~.2f (ping ~s/s)",
                             [best(J, exact, join) / JPing8, rate(JPing8)])
                     end,
                 J
         end,

    case lists:all(fun(X) -> lists:member(X, ?SYSTEMS) end, ?ALL_SYSTEMS)
        andalso lists:all(fun part/1, [throughput, replication, join]) of
        true -> summary(Tp, Repl, Jn, Floors);
        false -> say("~n(a partial run: no summary nor targets)", [])
    end,
    say("load average at end: ~s", [loadavg()]),
    %% Every process of the benchmark started during the run: their CPU
    %% time so far is what the run used.
    Ours = proc_cpu_ms(list_to_integer(os:getpid()))
        + lists:sum([rpc(X, ?MODULE, cpu_ms, [Sys]) || {Sys, Ns} <- Clusters, X <- Ns]),
    WallS = (erlang:monotonic_time(millisecond) - Wall0) / 1000,
    Busy = busy_ms() - Busy0,
    say("machine CPU use during the run: ~.2f cores busy on average, of which this benchmark ~.2f"
        " (other processes: ~.2f cores)", [Busy / 1000 / WallS, Ours / 1000 / WallS,
                                           max(0, Busy - Ours) / 1000 / WallS]),
    ok.

throughput_part(N, Reps, Nodes, Spread8, _HasExact) ->
    section(io_lib:format("register_name/2 and unregister, ~p names (best of ~p interleaved rounds,"
                          " median in brackets)", [N, Reps])),
    Callers = [C || C <- [8, 1], C =/= 1 orelse os:getenv("SWARM_PEERS_ONE_CALLER", "1") =/= "0"],
    Tp = interleaved(
           Reps,
           [{{Sys, Cl},
             fun(R) ->
                     Spec = case Cl of
                                8 -> Spread8(Sys, N);
                                1 -> [{hd(Nodes(Sys)), N}]
                            end,
                     throughput(Sys, {t, Cl, R}, Spec, Nodes(Sys))
             end} || Cl <- Callers, Sys <- ?SYSTEMS]),
    [say("~-24s ~p caller(s): register ~s/s (~s), all visible on every node ~s/s; unregister ~s/s (~s); ~s",
         [label(Sys), Cl, rate(best(Tp, {Sys, Cl}, reg)), rate(med(Tp, {Sys, Cl}, reg)),
          rate(best(Tp, {Sys, Cl}, visible)),
          rate(best(Tp, {Sys, Cl}, unreg)), rate(med(Tp, {Sys, Cl}, unreg)), cpu_label(Tp, {Sys, Cl})])
     || Cl <- Callers, Sys <- ?SYSTEMS],
    Tp.

%% The median CPU per operation (µs) of a figure's rounds, all processes
%% of the cluster.
cpu_total(Res, Key) ->
    median([B + C || #{cpu := {B, C}} <- proplists:get_value(Key, Res)]).

%% The median CPU per operation of a figure's rounds, BEAM nodes and C
%% nodes apart.
cpu_label(Res, Key) ->
    Ms = [maps:get(cpu, M) || M <- proplists:get_value(Key, Res)],
    {B, C} = {median([X || {X, _} <- Ms]), median([Y || {_, Y} <- Ms])},
    io_lib:format("CPU per op ~.1f us (BEAMs ~.1f, C nodes ~.1f)", [B + C, B, C]).

pace_label(none) -> "unpaced";
pace_label(paced) -> "paced".

loadavg() -> string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg")).

%% ===========================================================================
%% Summary and targets

summary(Tp, Repl, Jn, #{ping8 := Ping8, ping1 := Ping1, owner8 := Own8, owner1 := Own1,
                         direct8 := Dir8, direct1 := Dir1}) ->
    section("Summary"),
    Rate = fun(Key, What) -> fun(Sys) -> best(Tp, {Sys, Key}, What) end end,
    Rows = [{"register/s, 8 callers", Rate(8, reg), rate},
            {"register/s, 1 caller", Rate(1, reg), rate},
            {"unregister/s, 8 callers", Rate(8, unreg), rate},
            {"unregister/s, 1 caller", Rate(1, unreg), rate},
            {"replication p50 (us)", fun(Sys) -> maps:get(p50, repl(Repl, Sys, none)) end, lat},
            {"replication p99 (us)", fun(Sys) -> maps:get(p99, repl(Repl, Sys, none)) end, lat},
            {"replication paced p50 (us)", fun(Sys) -> maps:get(p50, repl(Repl, Sys, paced)) end, lat},
            {"replication paced p99 (us)", fun(Sys) -> maps:get(p99, repl(Repl, Sys, paced)) end, lat},
            {"  after the ack: p50 (us)", fun(Sys) -> maps:get(p50r, repl(Repl, Sys, paced)) end, lat},
            {"  after the ack: p99 (us)", fun(Sys) -> maps:get(p99r, repl(Repl, Sys, paced)) end, lat},
            {"join/s, 8 callers", fun(Sys) -> best(Jn, Sys, join) end, rate},
            {"CPU us per register, 8 c.", fun(Sys) -> 1000 * cpu_total(Tp, {Sys, 8}) end, lat},
            {"CPU us per register, 1 c.", fun(Sys) -> 1000 * cpu_total(Tp, {Sys, 1}) end, lat},
            {"CPU us per join, 8 callers", fun(Sys) -> 1000 * cpu_total(Jn, Sys) end, lat}],
    Fmt = "~-28s ~12s ~12s ~12s ~12s  ~-15s ~-15s",
    say(Fmt, ["", "C exact", "C optimistic", "Swarm 3.4", "syn 3", "ours/Swarm", "ours/syn"]),
    [begin
         Cell = fun(Sys) -> cell(F(Sys), Kind) end,
         say(Fmt, [L, Cell(exact), Cell(optimistic), Cell(swarm34), Cell(syn3),
                   ratios(F(exact), F(optimistic), F(swarm34), Kind),
                   ratios(F(exact), F(optimistic), F(syn3), Kind)])
     end || {L, F, Kind} <- Rows],
    say("(ratios: exact / optimistic; rates ours/theirs, latencies theirs/ours: > 1 means ours is better)"),
    say("floor of the exact mode (bare round trip BEAM -> own C node): 8 callers ~s/s, 1 caller ~s/s",
        [rate(Ping8), rate(Ping1)]),
    say("floor with the owner's round trip (a taken name's no): 8 callers ~s/s, 1 caller ~s/s",
        [rate(Own8), rate(Own1)]),
    say("ceiling of a round trip to the owner's C node alone (ping, 1 in 3 the own): 8 callers ~s/s,"
        " 1 caller ~s/s", [rate(Dir8), rate(Dir1)]),

    section("Targets"),
    T = fun(Ok, Fmt2, Args) ->
                say("~s  " ++ Fmt2, [case Ok of true -> "PASS"; false -> "FAIL" end | Args])
        end,
    {E8, S8} = {best(Tp, {exact, 8}, reg), best(Tp, {swarm34, 8}, reg)},
    T(E8 >= S8, "register 8 callers, exact: ~s/s vs Swarm 3.4 ~s/s = ~.2fx (>= 1.0x)", [rate(E8), rate(S8), E8 / S8]),
    E1 = best(Tp, {exact, 1}, reg),
    T(E1 >= 0.8 * Own1, "register 1 caller, exact: ~s/s vs the owner-round-trip floor ~s/s = ~.2f (>= 0.8)",
      [rate(E1), rate(Own1), E1 / Own1]),
    {O1, S1} = {best(Tp, {optimistic, 1}, reg), best(Tp, {swarm34, 1}, reg)},
    T(O1 >= 0.8 * S1, "register 1 caller, optimistic: ~s/s vs Swarm 3.4 ~s/s = ~.2fx (>= 0.8x)",
      [rate(O1), rate(S1), O1 / S1]),
    P99 = fun(Sys, Pace) -> maps:get(p99, repl(Repl, Sys, Pace)) end,
    P99r = fun(Sys, Pace) -> maps:get(p99r, repl(Repl, Sys, Pace)) end,
    %% The issue's measure: visible on another node after the ack (the
    %% register returned); and from the call's start, which adds the exact
    %% mode's decision (the owner's round trip) to it.
    T(P99r(exact, paced) =< P99r(swarm34, paced),
      "replication p99 after the ack, exact: ~s us vs Swarm 3.4 ~s us (<=; both paced; unpaced:"
      " ~s us vs ~s us)",
      [us(P99r(exact, paced)), us(P99r(swarm34, paced)), us(P99r(exact, none)), us(P99r(swarm34, none))]),
    T(P99(exact, paced) =< P99(swarm34, paced),
      "replication p99 from the call's start, exact: ~s us vs Swarm 3.4 ~s us (<=; both paced;"
      " unpaced: ~s us vs ~s us)",
      [us(P99(exact, paced)), us(P99(swarm34, paced)), us(P99(exact, none)), us(P99(swarm34, none))]),
    {JE, JS} = {best(Jn, exact, join), best(Jn, syn3, join)},
    T(JE >= JS, "join/2 8 callers: ~s/s vs syn 3 ~s/s = ~.2fx (>= 1.0x)", [rate(JE), rate(JS), JE / JS]),
    ok.

repl(Repl, Sys, Pace) -> proplists:get_value({Sys, Pace}, Repl).

cell(V, rate) -> lists:flatten(rate(V));
cell(V, lat) -> lists:flatten(us(V)).

ratios(Ours1, Ours2, Theirs, Kind) ->
    lists:flatten(io_lib:format("~s / ~s", [ratio(Ours1, Theirs, Kind), ratio(Ours2, Theirs, Kind)])).

ratio(Ours, Theirs, rate) when Theirs > 0 -> io_lib:format("~.2fx", [Ours / Theirs]);
ratio(Ours, Theirs, lat) when Ours > 0 -> io_lib:format("~.2fx", [Theirs / Ours]);
ratio(_, _, _) -> "-".

%% Runs every variant once (warm-up, discarded), then Reps rounds of all
%% variants in turn; returns [{Key, [Result]}], one map per round.
interleaved(Reps, Variants) ->
    [_ = F(0) || {_, F} <- Variants],
    Rounds = [[{K, F(R)} || {K, F} <- Variants] || R <- lists:seq(1, Reps)],
    [{K, [M || Round <- Rounds, {K2, M} <- Round, K2 =:= K]} || {K, _} <- Variants].

%% The best (largest: noise only slows a loop down) and the median of a
%% rate over the rounds.
best(Res, Key, What) -> lists:max([maps:get(What, M) || M <- proplists:get_value(Key, Res)]).
med(Res, Key, What) -> median([maps:get(What, M) || M <- proplists:get_value(Key, Res)]).

%% ===========================================================================
%% The systems, on a node: one adapter per operation

reg(Sys, Name, Pid) when ?OURS(Sys) -> swarm:register_name(Name, Pid) =:= yes;
reg(swarm34, Name, Pid) -> 'Elixir.Swarm':register_name(Name, Pid) =:= yes;
reg(syn3, Name, Pid) -> syn:register(?SYN_SCOPE, Name, Pid) =:= ok.

unreg(Sys, Name) when ?OURS(Sys) -> swarm:unregister_name(Name);
unreg(swarm34, Name) -> 'Elixir.Swarm':unregister_name(Name);
unreg(syn3, Name) -> syn:unregister(?SYN_SCOPE, Name).

join(Sys, G, Pid) when ?OURS(Sys) -> swarm:join(G, Pid) =:= ok;
join(swarm34, G, Pid) -> 'Elixir.Swarm':join(G, Pid) =:= ok;
join(syn3, G, Pid) -> syn:join(?SYN_SCOPE, G, Pid) =:= ok.

lookup(Sys, Name) when ?OURS(Sys) -> swarm:whereis_name(Name);
lookup(swarm34, Name) -> 'Elixir.Swarm':whereis_name(Name);
lookup(syn3, Name) -> syn:whereis_name({?SYN_SCOPE, Name}).

%% @doc On a node: the names this node's replica of Sys holds.
count(Sys) when ?OURS(Sys) -> ets:info(swarm_names, size);
count(swarm34) -> ets:info(swarm_registry, size);
count(syn3) -> syn:registry_count(?SYN_SCOPE).

%% @doc On a node: the members of G this node's replica of Sys lists.
member_count(Sys, G) when ?OURS(Sys) -> length(swarm:members(G));
member_count(swarm34, G) -> length('Elixir.Swarm':members(G));
member_count(syn3, G) -> syn:member_count(?SYN_SCOPE, G).

%% On a node: the table b's registry writes, the process writing it, and
%% where a name is in its rows.
replica(Sys) when ?OURS(Sys) -> {swarm_names, whereis(swarm_agent), 1};
replica(swarm34) -> {swarm_registry, whereis('Elixir.Swarm.Tracker'), 2};
replica(syn3) ->
    {syn_backbone:get_table_name(syn_registry_by_name, ?SYN_SCOPE),
     whereis(syn_backbone:get_process_name({syn_registry, ?SYN_SCOPE})), 1}.

%% ===========================================================================
%% The exact mode's floor with the owner's round trip

%% Registers Taken names {taken, I} for an idle process of the first node,
%% then times register_name/2 of those names for other pids by Spec's
%% callers (8 spread, then 1): each is answered `no' by the name's owner
%% (the caller's own C node when it is the owner, else a round trip
%% between the two C nodes, the reply through the agent: the path of a
%% register without the home's commit and the replication). Returns
%% {Rate8, Rate1}, each the best of 3 runs; the names go with their process.
owner_floor([A | _], Spec, Taken) ->
    Holder = rpc(A, ?MODULE, holder_start, [Taken]),
    try
        Total = lists:sum([C || {_, C} <- Spec]),
        Best = fun(S) -> lists:max([taken_rate(S, Taken) || _ <- lists:seq(1, 3)]) end,
        {Best(Spec), Best([{A, Total}])}
    after
        rpc(A, erlang, exit, [Holder, kill])
    end.

%% On a node: an idle process holding names {taken, 1..Taken}.
holder_start(Taken) ->
    Holder = spawn(fun() -> receive stop -> ok end end),
    [yes = swarm:register_name({taken, I}, Holder) || I <- lists:seq(1, Taken)],
    Holder.

taken_rate(Spec, Taken) ->
    Self = self(),
    Workers = [spawn_link(Node, ?MODULE, taken_worker, [Self, Count, Taken, I])
               || {I, {Node, Count}} <- lists:zip(lists:seq(1, length(Spec)), Spec)],
    [receive {ready, W} -> ok after ?RPC_TMO -> error({timeout, ready}) end || W <- Workers],
    T0 = erlang:monotonic_time(nanosecond),
    [W ! go || W <- Workers],
    [receive {done, W, 0} -> ok; {done, W, Yes} -> error({taken_name_registered, Yes})
     after ?RPC_TMO -> error({timeout, taken}) end || W <- Workers],
    T1 = erlang:monotonic_time(nanosecond),
    lists:sum([C || {_, C} <- Spec]) * 1.0e9 / (T1 - T0).

%% On a node: Count registers of taken names (a stride of its own), for
%% itself; reports how many were not answered `no' (none expected).
taken_worker(Parent, Count, Taken, Start) ->
    Parent ! {ready, self()},
    receive go -> ok end,
    Yes = taken_loop(Count, Taken, Start * 7919, 0),
    Parent ! {done, self(), Yes}.

taken_loop(0, _Taken, _I, Yes) -> Yes;
taken_loop(K, Taken, I, Yes) ->
    case swarm:register_name({taken, 1 + I rem Taken}, self()) of
        no -> taken_loop(K - 1, Taken, I + 1, Yes);
        _ -> taken_loop(K - 1, Taken, I + 1, Yes + 1)
    end.

%% ===========================================================================
%% Register / unregister throughput

%% Callers spread over the nodes round-robin (8 over 3: 3+3+2), names split
%% evenly: [{Node, NumberOfNames}].
spread(Nodes, Callers, Total) ->
    L = length(Nodes),
    [{lists:nth(1 + (I rem L), Nodes), Total div Callers + (case I < Total rem Callers of true -> 1; false -> 0 end)}
     || I <- lists:seq(0, Callers - 1)].

%% Spec's callers register their names (timed), until every node shows them
%% all, then unregister them (timed) until no node shows any.
throughput(Sys, Tag, Spec, Nodes) ->
    Self = self(),
    {Workers, _} = lists:mapfoldl(
                     fun({Node, Count}, From) ->
                             W = spawn_link(Node, ?MODULE, worker_start, [Self, Sys, Tag, From, Count]),
                             {W, From + Count}
                     end, 1, Spec),
    [receive
         {ready, W} -> ok;
         {'EXIT', W, Why} -> error({worker_died, Why})
     after ?RPC_TMO -> error({timeout, ready})
     end || W <- Workers],
    Total = lists:sum([Cn || {_, Cn} <- Spec]),
    T0 = erlang:monotonic_time(nanosecond),
    Cpu0 = cpu_split(Sys, Nodes),
    Reg = timed(Workers, {reg, Sys}, Total),
    Cpu1 = cpu_split(Sys, Nodes),
    wait_counts(Sys, Nodes, Total),
    Visible = Total * 1.0e9 / (erlang:monotonic_time(nanosecond) - T0),
    Unreg = timed(Workers, {unreg, Sys}, Total),
    wait_counts(Sys, Nodes, 0),
    [W ! stop || W <- Workers],
    [receive {stopped, W} -> ok after ?RPC_TMO -> error({timeout, stop}) end || W <- Workers],
    #{reg => Reg, unreg => Unreg, visible => Visible, cpu => cpu_per_op(Cpu0, Cpu1, Total)}.

timed(Workers, Op, Total) ->
    T0 = erlang:monotonic_time(nanosecond),
    [W ! {go, element(1, Op)} || W <- Workers],
    Bad = lists:sum([receive
                         {done, W, B} -> B;
                         {'EXIT', W, Why} -> error({worker_died, Why})
                     after ?RPC_TMO -> error({timeout, Op})
                     end || W <- Workers]),
    T1 = erlang:monotonic_time(nanosecond),
    Bad =:= 0 orelse error({failed_ops, Op, Bad}),
    Total * 1.0e9 / (T1 - T0).

wait_counts(Sys, Nodes, Size) ->
    Want = fun(X) -> Size + get_stale(Sys, X) end,
    Settled = fun() -> lists:all(fun(X) -> rpc(X, ?MODULE, count, [Sys]) =:= Want(X) end, Nodes) end,
    try
        wait_until(Settled, case ?OURS(Sys) of true -> 120000; false -> 30000 end)
    catch error:wait_timeout ->
        Counts = [{X, rpc(X, ?MODULE, count, [Sys])} || X <- Nodes],
        case ?OURS(Sys) of
            true ->
                error({names_not_settled, label(Sys), {expected, Size}, Counts});
            false ->
                %% Another registry's replicas that stay apart are its
                %% result, reported; the names left over are counted on
                %% from now on, so that the run goes on.
                say("warning: ~s: replicas did not settle in 30 s: ~p names expected on each node,"
                    " counts ~p (left as they are; later rounds count from them)",
                    [label(Sys), Size, [C || {_, C} <- Counts]]),
                [put({stale, Sys, X}, C - Size) || {X, C} <- Counts],
                ok
        end
    end.

get_stale(Sys, X) ->
    case get({stale, Sys, X}) of
        undefined -> 0;
        N -> N
    end.

%% @doc A caller, on its node: its names and their fresh idle processes are
%% made before it says ready; it then registers or unregisters them on
%% command.
worker_start(Parent, Sys, Tag, From, Count) ->
    Pairs = [{{Tag, I}, spawn(?MODULE, idle, [])} || I <- lists:seq(From, From + Count - 1)],
    true = erlang:garbage_collect(),
    Parent ! {ready, self()},
    worker_loop(Parent, Sys, Pairs).

worker_loop(Parent, Sys, Pairs) ->
    receive
        {go, reg} ->
            Bad = [{N, P} || {N, P} <- Pairs, not reg(Sys, N, P)],
            Parent ! {done, self(), length(Bad)},
            worker_loop(Parent, Sys, Pairs);
        {go, unreg} ->
            [_ = unreg(Sys, N) || {N, _} <- Pairs],
            Parent ! {done, self(), 0},
            worker_loop(Parent, Sys, Pairs);
        stop ->
            [exit(P, kill) || {_, P} <- Pairs],
            Parent ! {stopped, self()}
    end.

%% @doc An idle process: a name's or a group's member.
idle() ->
    receive stop -> ok end.

%% ===========================================================================
%% Replication latency

%% Count sequential registers on a, each name's first insert into b's table
%% by b's registry process; latencies from the call's start and from its
%% return, in ns of os:perf_counter (CLOCK_MONOTONIC, one clock for all
%% nodes of this machine).
replication(Sys, [A, B | _] = Nodes, Count, Pace) ->
    Tag = {repl, Pace},
    W = rpc(B, ?MODULE, repl_watch_start, [Sys, Tag]),
    #{stamps := Stamps} = rpc(A, ?MODULE, seq_register, [Sys, Tag, Count, Pace]),
    wait_counts(Sys, Nodes, 0),
    W ! {dump, self()},
    {Seen, Off} = receive {seen, W, S, O} -> {S, O} after 60000 -> error(no_dump) end,
    Ls = [{Ts + Off - T0, Ts + Off - T1} || {Nm, T0, T1} <- Stamps, {ok, Ts} <- [maps:find(Nm, Seen)]],
    length(Ls) =:= Count orelse say("warning: ~s: b saw ~p of ~p names", [label(Sys), length(Ls), Count]),
    Lat = [L || {L, _} <- Ls],
    LatR = [L || {_, L} <- Ls],
    #{p50 => pct(Lat, 50), p99 => pct(Lat, 99), p50r => pct(LatR, 50), p99r => pct(LatR, 99),
      n => length(Ls)}.

%% @doc On node a: Count fresh idle processes registered one after the other
%% (1 ms apart when Pace is `paced'), each call timed, then unregistered.
seq_register(Sys, Tag, Count, Pace) ->
    Pairs = [{{Tag, I}, spawn(?MODULE, idle, [])} || I <- lists:seq(1, Count)],
    true = erlang:garbage_collect(),
    Stamps = [begin
                  T0 = os:perf_counter(nanosecond),
                  true = reg(Sys, N, P),
                  T1 = os:perf_counter(nanosecond),
                  Pace =:= paced andalso timer:sleep(1),
                  {N, T0, T1}
              end || {N, P} <- Pairs],
    [_ = unreg(Sys, N) || {N, _} <- Pairs],
    [exit(P, kill) || {_, P} <- Pairs],
    #{stamps => Stamps}.

%% @doc On node b: a process tracing the ets:insert/2 and ets:insert_new/2
%% calls of Sys's registry process on its name table, noting the first
%% insert of each name {Tag, _} (in os:perf_counter nanoseconds).
repl_watch_start(Sys, Tag) ->
    Self = self(),
    W = spawn(fun() ->
                      {Tab, WPid, KeyPos} = replica(Sys),
                      [1 = erlang:trace_pattern({ets, F, 2}, [{[Tab, '_'], [], []}], [global])
                       || F <- [insert, insert_new]],
                      1 = erlang:trace(WPid, true, [call, {tracer, self()}, monotonic_timestamp]),
                      Self ! {tracing, self()},
                      repl_watch_loop(#{writer => WPid, key => KeyPos, tag => Tag, seen => #{}})
              end),
    receive {tracing, W} -> W after 10000 -> error(trace_start) end.

repl_watch_loop(#{seen := Seen, key := K, tag := Tag} = St) ->
    receive
        {trace_ts, _, call, {ets, _, [_, Obj]}, Ts} ->
            %% One row or a list of them.
            Objs = case is_list(Obj) of true -> Obj; false -> [Obj] end,
            Seen2 = lists:foldl(
                      fun(O, Acc) when is_tuple(O), tuple_size(O) >= K ->
                              case element(K, O) of
                                  {Tag, _} = Name when not is_map_key(Name, Acc) -> Acc#{Name => Ts};
                                  _ -> Acc
                              end;
                         (_, Acc) -> Acc
                      end, Seen, Objs),
            repl_watch_loop(St#{seen := Seen2});
        {dump, From} ->
            %% Trace messages may lag behind the table under load: the
            %% marker comes after all of them.
            WPid = maps:get(writer, St),
            erlang:trace(WPid, false, [call]),
            Ref = erlang:trace_delivered(WPid),
            repl_watch_loop(St#{dump => {From, Ref}});
        {trace_delivered, _, Ref} when element(2, map_get(dump, St)) =:= Ref ->
            {From, Ref} = maps:get(dump, St),
            [erlang:trace_pattern({ets, F, 2}, false, [global]) || F <- [insert, insert_new]],
            Ns = maps:map(fun(_, Ts) -> erlang:convert_time_unit(Ts, native, nanosecond) end, Seen),
            From ! {seen, self(), Ns, mono_perf_offset()};
        _ ->
            repl_watch_loop(St)
    end.

%% os:perf_counter(nanosecond) - erlang:monotonic_time(nanosecond) on
%% this node, from the tightest of a few paired readings.
mono_perf_offset() ->
    Ss = [begin
              P1 = os:perf_counter(nanosecond),
              M = erlang:monotonic_time(nanosecond),
              P2 = os:perf_counter(nanosecond),
              {P2 - P1, (P1 + P2) div 2 - M}
          end || _ <- lists:seq(1, 20)],
    element(2, lists:min(Ss)).

%% ===========================================================================
%% Joins

%% Spec's callers each join their own fresh idle processes to group G
%% (timed), until every node lists all members; then the members exit and
%% every node is waited for to list none.
joins(Sys, G, Spec, Nodes) ->
    Self = self(),
    {Workers, _} = lists:mapfoldl(
                     fun({Node, Count}, From) ->
                             W = spawn_link(Node, ?MODULE, join_worker, [Self, Sys, G, {From, Count}]),
                             {W, From + Count}
                     end, 1, Spec),
    [receive {ready, W} -> ok; {'EXIT', W, Why} -> error({worker_died, Why})
     after ?RPC_TMO -> error({timeout, ready}) end || W <- Workers],
    Total = lists:sum([Cn || {_, Cn} <- Spec]),
    T0 = erlang:monotonic_time(nanosecond),
    Cpu0 = cpu_split(Sys, Nodes),
    Join = timed(Workers, {join, Sys}, Total),
    Cpu1 = cpu_split(Sys, Nodes),
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, ?MODULE, member_count, [Sys, G]) =:= Total end, Nodes) end,
               120000),
    Visible = Total * 1.0e9 / (erlang:monotonic_time(nanosecond) - T0),
    [W ! stop || W <- Workers],
    [receive {stopped, W} -> ok after ?RPC_TMO -> error({timeout, stop}) end || W <- Workers],
    wait_until(fun() -> lists:all(fun(X) -> rpc(X, ?MODULE, member_count, [Sys, G]) =:= 0 end, Nodes) end,
               120000),
    wait_counts(Sys, Nodes, 0),
    #{join => Join, visible => Visible, cpu => cpu_per_op(Cpu0, Cpu1, Total)}.

%% @doc A joining caller, on its node: fresh idle members (for Swarm 3.4,
%% whose groups are metadata of registered processes, registered first),
%% joined to G on command.
join_worker(Parent, Sys, G, {From, Count}) ->
    Ps = [spawn(?MODULE, idle, []) || _ <- lists:seq(1, Count)],
    Sys =:= swarm34 andalso
        lists:foreach(fun({I, P}) -> true = reg(Sys, {G, I}, P) end,
                      lists:zip(lists:seq(From, From + Count - 1), Ps)),
    true = erlang:garbage_collect(),
    Parent ! {ready, self()},
    receive {go, join} -> ok end,
    Parent ! {done, self(), length([P || P <- Ps, not join(Sys, G, P)])},
    receive stop -> ok end,
    [exit(P, kill) || P <- Ps],
    Parent ! {stopped, self()}.

%% ===========================================================================
%% Clusters

%% Code paths of each system's nodes: this benchmark's own directory (bench_lib,
%% peers_bench) plus the system's applications.
paths() ->
    Own = filename:dirname(code:which(?MODULE)),
    Dir = case os:getenv("SWARM_PEERS_DIR") of
              false -> fail("SWARM_PEERS_DIR is not set (see bench/peers_run.sh)");
              "" -> fail("SWARM_PEERS_DIR is not set (see bench/peers_run.sh)");
              D -> D
          end,
    Ours = case os:getenv("SWARM_PEERS_OURS_EBIN") of
               false -> fail("SWARM_PEERS_OURS_EBIN is not set (run through bench/peers_run.sh)");
               E -> E
           end,
    Ebin = fun(App) ->
                   P = filename:join([Dir, App, "ebin"]),
                   filelib:is_file(filename:join(P, App ++ ".app"))
                       orelse fail(io_lib:format("~s: no ~s.app (expected layout: see bench/peers_bench.erl)",
                                                 [P, App])),
                   P
           end,
    SwarmPaths = [Ebin(A) || A <- ["swarm", "libring", "gen_state_machine", "elixir", "logger"]],
    #{exact => [Own, Ours], exact2 => [Own, Ours], exact_owner => [Own, Ours], exact_dist => [Own, Ours], optimistic => [Own, Ours], swarm34 => [Own | SwarmPaths],
      syn3 => [Own, Ebin("syn")]}.

fail(Msg) ->
    io:format(standard_error, "bench-peers: ~s~n", [Msg]),
    halt(2).

start_cluster(Sys, Paths) ->
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning" | app_args(Sys)] ++ ["-pa" | Paths],
    Peers = [begin
                 Name = list_to_atom(lists:concat(["pb_", Sys, "_", S, "_", os:getpid()])),
                 {ok, Peer, Node} = peer:start_link(#{name => Name, host => ?HOST, longnames => true,
                                                      args => Args, connection => standard_io}),
                 true = net_kernel:connect_node(Node),
                 {Peer, Node}
             end || S <- ["a", "b", "c"]],
    put(peers, [P || {P, _} <- Peers] ++ get_peers()),
    Nodes = [N || {_, N} <- Peers],
    start_apps(Sys, Nodes),
    %% Ready: a probe name registered on each node shows everywhere, and a
    %% probe member of each node joins a group.
    Probes = [{X, rpc(X, erlang, spawn, [?MODULE, idle, []])} || X <- Nodes],
    [wait_until(fun() -> rpc(X, ?MODULE, probe, [Sys, P]) end, 30000) || {X, P} <- Probes],
    wait_counts(Sys, Nodes, 3),
    [begin _ = rpc(X, ?MODULE, unreg, [Sys, {probe, P}]), P ! stop end || {X, P} <- Probes],
    wait_counts(Sys, Nodes, 0),
    Nodes.

%% The application settings on the command line: before the applications start.
app_args(optimistic) -> ["-swarm", "cnode_log", "warning", "-swarm", "registration", "optimistic"];
app_args(exact) -> ["-swarm", "cnode_log", "warning"];
app_args(exact_owner) -> app_args(exact) ++ ["-swarm", "direct_to_owner", "true"];
app_args(exact_dist) -> app_args(exact) ++ ["-swarm", "cnode_pipe", "false"];
app_args(exact2) -> app_args(exact) ++ string:lexemes(os:getenv("SWARM_PEERS_EXACT2_ARGS", ""), " ");
app_args(swarm34) ->
    %% Swarm 3.4 takes every connected node for a member, hidden ones
    %% included: this coordinator is excluded.
    ["-swarm", "node_blacklist", "[<<\"^peers_bench_.*$\">>]", "-swarm", "sync_nodes_timeout", "1000",
     "-logger", "level", "warning"];
app_args(syn3) -> [].

start_apps(Sys, Nodes) when ?OURS(Sys) ->
    connect_all(Nodes),
    [{ok, _} = rpc(X, application, ensure_all_started, [swarm]) || X <- Nodes],
    wait_until(fun() ->
                       lists:all(fun(X) ->
                                         lists:sort(rpc(X, gen_server, call, [swarm_agent, peers]))
                                             =:= lists:sort(Nodes -- [X])
                                 end, Nodes)
               end, 30000);
start_apps(swarm34, Nodes) ->
    %% One node after the other, as in a rolling start: each tracker waits
    %% sync_nodes_timeout, then syncs with one of the nodes it is connected
    %% to. Started together, three trackers can each wait for another's
    %% sync in a circle, for good.
    lists:foldl(fun(X, Up) ->
                        [true = rpc(X, net_kernel, connect_node, [Y]) || Y <- Up],
                        {ok, _} = rpc(X, application, ensure_all_started, [swarm]),
                        wait_until(fun() -> rpc(X, ?MODULE, tracker_state, []) =:= tracking end, 30000),
                        [X | Up]
                end, [], Nodes),
    ok;
start_apps(syn3, Nodes) ->
    connect_all(Nodes),
    [{ok, _} = rpc(X, application, ensure_all_started, [syn]) || X <- Nodes],
    [ok = rpc(X, syn, add_node_to_scopes, [[?SYN_SCOPE]]) || X <- Nodes],
    wait_until(fun() ->
                       lists:all(fun(X) ->
                                         lists:sort(rpc(X, syn, subcluster_nodes, [registry, ?SYN_SCOPE]))
                                             =:= lists:sort(Nodes -- [X])
                                             andalso length(rpc(X, syn, subcluster_nodes, [pg, ?SYN_SCOPE]))
                                             =:= length(Nodes) - 1
                                 end, Nodes)
               end, 30000).

connect_all(Nodes) ->
    [true = rpc(X, net_kernel, connect_node, [Y]) || X <- Nodes, Y <- Nodes, X =/= Y],
    ok.

%% The CPU time (ms) of the cluster's BEAM nodes and of their C nodes (0
%% for the others), summed.
cpu_split(Sys, Nodes) ->
    Ps = [rpc(X, ?MODULE, cpu_pair, [Sys]) || X <- Nodes],
    {lists:sum([B || {B, _} <- Ps]), lists:sum([C || {_, C} <- Ps])}.

%% CPU microseconds per operation between two cpu_split/2 samples: BEAM
%% nodes and C nodes (10 ms ticks: meaningful over seconds of work).
cpu_per_op({B0, C0}, {B1, C1}, Ops) ->
    {(B1 - B0) * 1000 / Ops, (C1 - C0) * 1000 / Ops}.

%% @doc On a node: {CPU ms of this BEAM, CPU ms of its C node (0 if none)}.
cpu_pair(Sys) when ?OURS(Sys) ->
    {proc_cpu_ms(list_to_integer(os:getpid())), proc_cpu_ms(gen_server:call(swarm_agent, os_pid))};
cpu_pair(_) ->
    {proc_cpu_ms(list_to_integer(os:getpid())), 0}.

%% The systems measured: SWARM_PEERS_SYSTEMS (comma-separated, of exact,
%% exact2, exact_owner, exact_dist, optimistic, swarm34, syn3), default
%% all but exact2.
systems() ->
    case os:getenv("SWARM_PEERS_SYSTEMS", "") of
        "" -> [exact, exact_owner, exact_dist, optimistic, swarm34, syn3];
        S -> [list_to_existing_atom(X) || X <- string:lexemes(S, ",")]
    end.

%% Whether part Part (throughput, replication, join) is measured:
%% SWARM_PEERS_PARTS (comma-separated), default all.
part(Part) ->
    case os:getenv("SWARM_PEERS_PARTS", "") of
        "" -> true;
        S -> lists:member(atom_to_list(Part), string:lexemes(S, ","))
    end.

%% @doc On a node: CPU time (ms) of this BEAM and, for swarm in C, of its
%% C node.
cpu_ms(Sys) when ?OURS(Sys) ->
    proc_cpu_ms(list_to_integer(os:getpid())) + proc_cpu_ms(gen_server:call(swarm_agent, os_pid));
cpu_ms(_) ->
    proc_cpu_ms(list_to_integer(os:getpid())).

%% @doc On a node: the state Swarm 3.4's tracker is in (`tracking' once
%% synced with the cluster).
tracker_state() ->
    element(1, sys:get_state('Elixir.Swarm.Tracker')).

%% @doc On a node: P registered as {probe, P} (if not yet) and joined to
%% group probe (its membership ends with it).
probe(Sys, P) ->
    (lookup(Sys, {probe, P}) =:= P orelse reg(Sys, {probe, P}, P)) andalso join(Sys, probe, P).
