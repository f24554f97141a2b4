%% @doc The `registration' setting `optimistic': register_name/2 decided by
%% the caller's node alone, as Swarm does, on a real 3-node cluster with
%% its C nodes. What stays as in exact mode (reads, via calls, removal on
%% exit, unregister), and what changes: two nodes registering one name at
%% once may both get `yes'; within ?CONVERGE_MS one registration survives
%% on every node and the other process is sent `{swarm, die}'.
-module(optimistic_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1, init_per_group/2,
         end_per_group/2, end_per_testcase/2]).
-export([via_and_reads/1, exit_and_unregister/1, conflicts_one_survives/1, remote_pid_is_exact/1,
         bad_setting/1]).
%% Run on the cluster's nodes.
-export([contender/2]).

%% The issue's bound: one registration per name everywhere within 1 s.
-define(CONVERGE_MS, 1000).
-define(ROUNDS, 20).

suite() -> [{timetrap, {minutes, 3}}].

all() ->
    [{group, cluster3}, bad_setting].

groups() ->
    [{cluster3, [], [via_and_reads, exit_and_unregister, conflicts_one_survives, remote_pid_is_exact]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_group(cluster3, Config) ->
    Peers = swarm_ct:start_nodes(3, "opt"),
    Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, registration, optimistic]) || N <- Nodes],
    ok = swarm_ct:start_swarm(Nodes),
    [{peers, Peers}, {nodes, Nodes} | Config].

end_per_group(cluster3, Config) ->
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

%% ---------------------------------------------------------------------------

%% @doc A gen_server started through the via tuple answers calls from every
%% node; the caller's node shows the name at once (its own write), the
%% others once replicated; a second registration of the name is `no'.
via_and_reads(Config) ->
    [A, B, C] = ?config(nodes, Config),
    Name = {opt_via, 1},
    {ok, Pid} = swarm_ct:spawn_server(A, Name, x),
    ?assertEqual(Pid, swarm_ct:rpc(A, swarm, whereis_name, [Name])),
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [Name]) =:= Pid end, 5000)
     || N <- [B, C]],
    [?assertEqual(N, swarm_ct:rpc(N, gen_server, call, [{via, swarm, Name}, {echo, N}])) || N <- [A, B, C]],
    Other = swarm_ct:spawn_idle(B),
    ?assertEqual(no, swarm_ct:rpc(B, swarm, register_name, [Name, Other])),
    ?assertEqual(no, swarm_ct:rpc(A, swarm, register_name, [Name, Other])),
    ok = gen_server:stop(Pid),
    Other ! stop,
    _ = swarm_ct:wait_converged([A, B, C], 5000),
    %% The C nodes committed it (one optimistic registration each time).
    Stats = swarm_ct:rpc(A, swarm_agent, stats, []),
    ?assert(proplists:get_value(opt_commits, Stats, 0) >= 1, Stats).

%% @doc A name goes everywhere when its process exits, and with
%% unregister_name/1; it can be registered again afterwards.
exit_and_unregister(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    P1 = swarm_ct:spawn_idle(A),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [{opt_exit, 1}, P1])),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [{opt_exit, 2}, P1])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(C, swarm, whereis_name, [{opt_exit, 2}]) =:= P1 end, 5000),
    ok = swarm_ct:rpc(B, swarm, unregister_name, [{opt_exit, 1}]),
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [{opt_exit, 1}]) =:= undefined end, 5000)
     || N <- Nodes],
    P1 ! stop,
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [{opt_exit, 2}]) =:= undefined end, 5000)
     || N <- Nodes],
    P2 = swarm_ct:spawn_idle(C),
    ?assertEqual(yes, swarm_ct:rpc(C, swarm, register_name, [{opt_exit, 1}, P2])),
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [{opt_exit, 1}]) =:= P2 end, 5000)
     || N <- Nodes],
    P2 ! stop,
    _ = swarm_ct:wait_converged(Nodes, 5000).

%% @doc ?ROUNDS names, each registered at the same moment by a process on A
%% and one on B. Both may get `yes' (the point of the mode: at least one
%% round must show it, or the conflict path was not exercised); within
%% ?CONVERGE_MS of the last answer every node names the same one of them,
%% and every other process that got `yes' is sent `{swarm, die}' (a
%% process that got `no' is not).
conflicts_one_survives(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    Self = self(),
    Rounds =
        [begin
             Name = {opt_race, I},
             Ps = [spawn(N, ?MODULE, contender, [Self, Name]) || N <- [A, B]],
             [P ! go || P <- Ps],
             Results = [receive {P, result, R} -> {P, R} after 10000 -> ct:fail({no_result, P}) end
                        || P <- Ps],
             {Name, Results}
         end || I <- lists:seq(1, ?ROUNDS)],
    Doubles = length([R || {_, R} <- Rounds, [yes, yes] =:= [Y || {_, Y} <- R]]),
    ct:comment("~p of ~p rounds: both callers got yes", [Doubles, ?ROUNDS]),
    ?assert(Doubles >= 1, {no_double_yes, Rounds}),
    swarm_ct:wait_until(
      fun() ->
              lists:all(fun({Name, Results}) ->
                                Yes = [P || {P, yes} <- Results],
                                Seen = [swarm_ct:rpc(N, swarm, whereis_name, [Name]) || N <- Nodes],
                                [W | _] = Seen,
                                lists:all(fun(S) -> S =:= W end, Seen) andalso lists:member(W, Yes)
                        end, Rounds)
      end, ?CONVERGE_MS, 5),
    %% Every loser that got yes is told; no winner, no `no' is.
    Told = fun(P) -> receive {P, got, {swarm, die}} -> true after 0 -> false end end,
    swarm_ct:wait_until(
      fun() ->
              lists:all(fun({Name, Results}) ->
                                W = swarm_ct:rpc(C, swarm, whereis_name, [Name]),
                                lists:all(fun({P, yes}) when P =/= W -> told_once(P);
                                             (_) -> true
                                          end, Results)
                        end, Rounds)
      end, 5000),
    [begin
         W = swarm_ct:rpc(C, swarm, whereis_name, [Name]),
         [?assertNot(Told(P), {told, P, R}) || {P, R} <- Results, P =:= W orelse R =:= no]
     end || {Name, Results} <- Rounds],
    [P ! stop || {_, Results} <- Rounds, {P, _} <- Results],
    _ = swarm_ct:wait_converged(Nodes, 5000),
    ok.

%% Whether P reported {swarm, die} (kept in this process's dictionary, so
%% that a later poll still knows).
told_once(P) ->
    case get({told, P}) of
        true -> true;
        _ ->
            receive
                {P, got, {swarm, die}} -> put({told, P}, true), true
            after 0 -> false
            end
    end.

%% @doc A pid of another node takes the exact path (its home decides): the
%% name is registered, and a second registration elsewhere is `no'.
remote_pid_is_exact(Config) ->
    [A, B, C] = ?config(nodes, Config),
    P = swarm_ct:spawn_idle(B),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [{opt_remote, 1}, P])),
    ?assertEqual(P, swarm_ct:rpc(B, swarm, whereis_name, [{opt_remote, 1}])),
    Q = swarm_ct:spawn_idle(C),
    ?assertEqual(no, swarm_ct:rpc(A, swarm, register_name, [{opt_remote, 1}, Q])),
    P ! stop,
    Q ! stop,
    _ = swarm_ct:wait_converged(?config(nodes, Config), 5000).

%% @doc Any other value of `registration' stops the application from
%% starting, with a clear error.
bad_setting(_Config) ->
    {_, N} = Peer = swarm_ct:start_node(swarm_ct:unique("optbad")),
    try
        ok = swarm_ct:rpc(N, application, set_env, [swarm, registration, fast]),
        {error, Why} = swarm_ct:rpc(N, application, ensure_all_started, [swarm]),
        %% (The start error's shape differs between OTP releases.)
        ?assertNotEqual(nomatch, string:find(io_lib:format("~p", [Why]), "{bad_config,registration,fast}"), Why)
    after
        swarm_ct:stop_node(Peer)
    end.

%% ---------------------------------------------------------------------------

%% A process that registers Name for itself on `go', tells Test the result,
%% then reports every message it gets until `stop'.
contender(Test, Name) ->
    receive go -> ok end,
    Test ! {self(), result, swarm:register_name(Name, self())},
    contender_loop(Test).

contender_loop(Test) ->
    receive
        stop -> ok;
        Msg -> Test ! {self(), got, Msg}, contender_loop(Test)
    end.
