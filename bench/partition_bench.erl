%% @doc The partition benchmark (bench/run.sh, after the others): how long
%% a cluster takes to agree again after a real network partition heals.
%%
%% Three BEAM nodes (each with its C node) run in network namespaces of
%% their own (test/swarm_netns.erl; needs root, else the benchmark says so
%% and is skipped), with net_ticktime 2, strategy Ring. N names (default
%% 10k) are registered with register_name/4 (the MFA is this module's
%% gen_server: it answers {swarm, begin_handoff} with {resume, Name} and
%% stops on {swarm, die}). Then the links between {a, b} and {c} are cut
%% (blackhole routes): each side restarts the other side's names, so after
%% the heal every name that existed before has one copy on each side, a
%% conflict. The routes are removed and the nodes connect again.
%%
%% Figures, from the moment the cluster is whole again (the last nodeup,
%% as each node records it):
%%   1. agreement: the first moment every node's replica holds N names, all
%%      replicas are equal, and N workers are alive in the cluster (one
%%      process per name: every conflict's loser was told to die);
%%   2. settled: the last change of any replica (the ring's growth then
%%      moves processes to their owners: handoffs), and the same state.
%% Each node samples its own replica (a sum of phash2 over its entries,
%% its size) and its live workers every SWARM_PARTITION_POLL_MS (25) ms with
%% os:perf_counter/1 (CLOCK_MONOTONIC, one clock for the whole machine);
%% a figure is a sample time, so it is late by at most one period.
%% SWARM_PARTITION_REPS rounds (default 3), a different node cut off each
%% round. No peer is measured in the same run: OTP's global has no
%% register_name/4 and no conflict hand-over of state to compare with.
%%
%% Target (PASS/FAIL line): agreement within 1000 ms (worst round).
%%
%% Knobs (environment): SWARM_PARTITION_N (10000), SWARM_PARTITION_REPS (3),
%% SWARM_PARTITION_POLL_MS (25), SWARM_BENCH_OUT (report file: appended).
-module(partition_bench).
-behaviour(gen_server).

-export([main/0]).
%% The MFA and its gen_server.
-export([start/1, init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
%% Run on the cluster's nodes.
-export([workers_open/0, register_all/1, sample_loop/3, state/0, side_runs/1]).

-import(bench_lib, [envint/2, median/1]).

-define(TARGET_MS, 1000).
%% How long each node samples after a heal (ms).
-define(WINDOW_MS, 10000).
-define(WORKERS, partition_bench_workers).

%% ===========================================================================
%% The MFA: a gen_server that hands its name over as its state.

start(Name) ->
    gen_server:start(?MODULE, Name, []).

init(Name) ->
    catch ets:update_counter(?WORKERS, live, 1),
    {ok, Name}.

handle_call({swarm, begin_handoff}, _From, Name) -> {reply, {resume, Name}, Name};
handle_call(_, _From, Name) -> {reply, ok, Name}.

handle_cast(_, Name) -> {noreply, Name}.

handle_info({swarm, die}, Name) -> {stop, shutdown, Name};
handle_info(_, Name) -> {noreply, Name}.

terminate(_, _) ->
    catch ets:update_counter(?WORKERS, live, -1),
    ok.

%% ===========================================================================
%% Entry point (coordinator)

main() ->
    T0 = erlang:monotonic_time(millisecond),
    Out = case os:getenv("SWARM_BENCH_OUT") of false -> "bench/results/latest.txt"; O -> O end,
    put(report, []),
    say("~n######## partition benchmark ########", []),
    Res = case swarm_netns:available() of
              ok ->
                  Net = swarm_netns:setup(3),
                  try run(Net)
                  catch C:E:St ->
                      say("~npartition bench FAILED: ~p:~p~n~p", [C, E, St]),
                      error
                  after
                      [swarm_netns:stop_node(P) || P <- get_peers()],
                      swarm_netns:teardown(Net)
                  end;
              {error, Why} ->
                  say("partition benchmark skipped: network namespaces not available: ~s", [Why]),
                  ok
          end,
    say("~ntotal partition bench time: ~.1f s", [(erlang:monotonic_time(millisecond) - T0) / 1000]),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, ["\n" | lists:reverse(get(report))], [append]),
    io:format("(report appended to ~s)~n", [Out]),
    halt(case Res of ok -> 0; error -> 1 end).

get_peers() -> case get(peers) of undefined -> []; Ps -> Ps end.

say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

run(Net) ->
    N = envint("SWARM_PARTITION_N", 10000),
    Reps = envint("SWARM_PARTITION_REPS", 3),
    PollMs = envint("SWARM_PARTITION_POLL_MS", 25),
    say("partition benchmark  ~s  OTP ~s, ~p cores; ~p names, ~p rounds, samples every ~p ms",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available),
         N, Reps, PollMs]),
    say("load average at start: ~s", [loadavg()]),
    Peers = [swarm_netns:start_node(Net, I, ["-kernel", "net_ticktime", "2",
                                             "-kernel", "prevent_overlapping_partitions", "false",
                                             "-swarm", "cnode_log", "warning"])
             || I <- [1, 2, 3]],
    put(peers, Peers),
    Nodes = swarm_netns:nodes_of(Peers),
    say("cluster: ~p, in network namespaces (this node is outside them)", [Nodes]),
    [ok = swarm_netns:call(P, M, F, []) || P <- Peers, {M, F} <- [{swarm_netns, watch_nodes},
                                                                     {?MODULE, workers_open}]],
    ok = swarm_netns:connect_all(Peers),
    [{ok, _} = swarm_netns:call(P, application, ensure_all_started, [swarm]) || P <- Peers],
    wait(fun() -> lists:all(fun(P) -> members(P) =:= 3 end, Peers) end, 30000),
    T1 = erlang:monotonic_time(millisecond),
    Names = [{pb, I} || I <- lists:seq(1, N)],
    _ = par([{P, ?MODULE, register_all, [Chunk]} || {P, Chunk} <- lists:zip(Peers, split3(Names))]),
    wait(fun() -> agreed(Peers, N) end, 60000),
    say("~p names registered with register_name/4 and replicated in ~p ms",
        [N, erlang:monotonic_time(millisecond) - T1]),
    SampleUs = lists:min([element(1, swarm_netns:call(hd(Peers), timer, tc, [?MODULE, state, []]))
                          || _ <- [1, 2, 3]]),
    say("one sample of a node's replica costs ~p us (every ~p ms on each node during a heal)",
        [SampleUs, PollMs]),
    Rounds = [round(Net, Peers, Nodes, N, PollMs, I) || I <- lists:sublist([3, 1, 2, 3, 1, 2], Reps)],
    Repl = [R || {R, _, _} <- Rounds],
    Agree = [A || {_, A, _} <- Rounds],
    Settle = [S || {_, _, S} <- Rounds],
    say("replicas equal after the reconnection (ms): ~w; median ~p, worst ~p",
        [Repl, median(Repl), lists:max(Repl)]),
    say("... and one live process per name (ms): ~w; median ~p, worst ~p",
        [Agree, median(Agree), lists:max(Agree)]),
    say("settled (handoffs to the owners done) (ms): ~w; median ~p, worst ~p",
        [Settle, median(Settle), lists:max(Settle)]),
    say("~s: every node agrees on one process per name within ~p ms of the reconnection (worst ~p ms)",
        [case lists:max(Agree) =< ?TARGET_MS of true -> "PASS"; false -> "FAIL" end,
         ?TARGET_MS, lists:max(Agree)]),
    say("load average at end: ~s", [loadavg()]),
    ok.

%% One round: node I cut off from the two others, each side running
%% every name, then the heal; returns {AgreementMs, SettledMs}.
round(Net, Peers, Nodes, N, PollMs, I) ->
    Alone = lists:nth(I, Nodes),
    Rest = Nodes -- [Alone],
    ok = swarm_netns:cut(Net, [1, 2, 3] -- [I], [I]),
    T0 = erlang:monotonic_time(millisecond),
    wait(fun() ->
                 lists:all(fun({P, Nd}) ->
                                   Seen = case Nd of Alone -> []; _ -> Rest -- [Nd] end,
                                   lists:sort(swarm_netns:call(P, erlang, nodes, [])) =:= lists:sort(Seen)
                                       andalso members(P) =:= length(Seen) + 1
                           end, Peers)
         end, 30000),
    TSplit = erlang:monotonic_time(millisecond) - T0,
    %% Each side restarts the other's names; wait until both sides stop
    %% changing (no sample differs for 1 s).
    wait(fun() -> stable(Peers, 1000) end, 60000),
    Runs = [{S, swarm_netns:call(P, ?MODULE, side_runs, [S])} || S <- [[Alone], Rest],
                                                                P <- [lists:keyfind(hd(S), 2, Peers)]],
    say("round ~p: ~s cut off; split seen after ~p ms; names running on each side: ~s",
        [I, short(Alone), TSplit,
         string:join([io_lib:format("~s ~p", [string:join([short(X) || X <- S], "+"), R]) || {S, R} <- Runs],
                     ", ")]),
    [say("  (the {~s} side runs only ~p of ~p names)", [string:join([short(X) || X <- S], ","), R, N])
     || {S, R} <- Runs, R =/= N],
    %% Samplers on every node, started before the heal, for ?WINDOW_MS.
    Self = self(),
    Until = os:perf_counter(nanosecond) + ?WINDOW_MS * 1000000,
    Samplers = [spawn_link(fun() ->
                                   Self ! {self(), swarm_netns:call(P, ?MODULE, sample_loop, [Until, PollMs, []],
                                                                    60000)}
                           end) || P <- Peers],
    timer:sleep(50),
    ok = swarm_netns:heal(Net),
    ok = swarm_netns:connect_all(Peers),
    Up = lists:max([swarm_netns:call(P, swarm_netns, all_up_at, [Nodes]) || P <- Peers]),
    Timelines = [receive {S, L} -> lists:reverse(L) end || S <- Samplers],
    wait(fun() -> agreed(Peers, N) end, 30000),
    Replicas = first_agreement(Timelines, N, Up, replicas),
    Agree = first_agreement(Timelines, N, Up, one_process),
    Last = lists:max([T || L <- Timelines, {T, _, _, _} <- L]),
    Settled = (Last - Up) div 1000000,
    say("  heal: replicas equal (N names each) ~p ms after the reconnection; and one live process"
        " per name ~p ms; last change ~p ms", [Replicas, Agree, Settled]),
    {Replicas, Agree, Settled}.

%% The first sample time (ms after Up) at which, taking each node's latest
%% sample, every replica holds N entries and all digests are equal
%% (replicas), and also N workers live in the cluster (one_process).
first_agreement(Timelines, N, Up, What) ->
    Times = lists:usort([T || L <- Timelines, {T, _, _, _} <- L, T >= Up]),
    case [T || T <- Times, agree_at(Timelines, T, N, What)] of
        [T | _] -> (T - Up) div 1000000;
        [] -> ?WINDOW_MS  % not within the samples: reported as the window (a lower bound)
    end.

agree_at(Timelines, T, N, What) ->
    Now = [case [S || {Ts, _, _, _} = S <- L, Ts =< T] of
               [] -> none;
               Ss -> lists:last(Ss)
           end || L <- Timelines],
    case lists:member(none, Now) of
        true -> false;
        false ->
            States = [{D, Sz, Lv} || {_, D, Sz, Lv} <- Now],
            case What of
                one_process -> one_copy(States, N);
                replicas -> length(lists:usort([{D, Sz} || {D, Sz, _} <- States])) =:= 1
                                andalso element(2, hd(States)) =:= N
            end
    end.

%% The nodes' {Digest, Size, LiveWorkers}: equal replicas of N names, and
%% N workers alive in all.
one_copy(States, N) ->
    case lists:usort([{D, Sz} || {D, Sz, _} <- States]) of
        [{_, N}] -> lists:sum([Lv || {_, _, Lv} <- States]) =:= N;
        _ -> false
    end.

%% ===========================================================================
%% On the cluster's nodes

%% Creates the counter of this node's live workers, in a table owned by a
%% process of its own.
workers_open() ->
    Self = self(),
    spawn(fun() ->
                  ets:new(?WORKERS, [named_table, public]),
                  ets:insert(?WORKERS, {live, 0}),
                  Self ! {?WORKERS, ready},
                  receive never -> ok end
          end),
    receive {?WORKERS, ready} -> ok end.

%% Registers Names with register_name/4 from 4 callers of this node.
register_all(Names) ->
    Parent = self(),
    Parts = [[Nm || {K, Nm} <- lists:zip(lists:seq(1, length(Names)), Names), K rem 4 =:= R]
             || R <- [0, 1, 2, 3]],
    Pids = [spawn_link(fun() ->
                               [{ok, _} = swarm:register_name(Nm, ?MODULE, start, [Nm]) || Nm <- Part],
                               Parent ! {self(), done}
                       end) || Part <- Parts],
    [receive {P, done} -> ok end || P <- Pids],
    ok.

%% Samples this node's replica and live workers every PollMs until Until
%% (perf_counter, ns); returns the samples that differ from the one before,
%% newest first: {Time, Digest, Size, LiveWorkers}.
sample_loop(Until, PollMs, Acc) ->
    T = os:perf_counter(nanosecond),
    case T > Until of
        true -> Acc;
        false ->
            {D, Sz, Lv} = state(),
            Acc1 = case Acc of
                       [{_, D, Sz, Lv} | _] -> Acc;
                       _ -> [{T, D, Sz, Lv} | Acc]
                   end,
            timer:sleep(PollMs),
            sample_loop(Until, PollMs, Acc1)
    end.

%% This node's replica (a sum of phash2 over its entries, its size) and
%% its live workers.
state() ->
    Entries = ets:tab2list(swarm_names),
    {digest(Entries, 0), length(Entries), ets:lookup_element(?WORKERS, live, 2)}.

digest([E | Es], Sum) -> digest(Es, Sum + erlang:phash2(E));
digest([], Sum) -> Sum.

%% How many names this node's replica lists with a pid on one of Side.
side_runs(Side) ->
    ets:foldl(fun({_, P}, K) when is_pid(P) -> case lists:member(node(P), Side) of
                                                   true -> K + 1;
                                                   false -> K
                                               end;
                 (_, K) -> K
              end, 0, swarm_names).

%% ===========================================================================
%% Helpers (coordinator)

members(P) ->
    proplists:get_value(members, swarm_netns:call(P, swarm_agent, stats, [])).

%% Every replica holds N names, all equal, and N workers live.
agreed(Peers, N) ->
    one_copy([swarm_netns:call(P, ?MODULE, state, []) || P <- Peers], N).

%% No node's replica or live workers changed for Ms.
stable(Peers, Ms) ->
    Until = os:perf_counter(nanosecond) + Ms * 1000000,
    Ls = par([{P, ?MODULE, sample_loop, [Until, 20, []]} || P <- Peers]),
    lists:all(fun(L) -> length(L) =:= 1 end, Ls).

%% Runs the calls on the peers at the same time; their results in order.
par(Calls) ->
    Self = self(),
    Ps = [spawn_link(fun() -> Self ! {self(), swarm_netns:call(P, M, F, A, 600000)} end)
          || {P, M, F, A} <- Calls],
    [receive {P, R} -> R end || P <- Ps].

split3(L) ->
    [[X || {K, X} <- lists:zip(lists:seq(1, length(L)), L), K rem 3 =:= R] || R <- [0, 1, 2]].

wait(F, Timeout) ->
    bench_lib:wait_until(F, Timeout, 20).

short(Node) -> bench_lib:short(Node).

loadavg() -> string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg")).
