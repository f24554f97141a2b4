%% @doc The real C node under AddressSanitizer, UBSan and LeakSanitizer
%% (build-asan/swarm_node, made by `make asan') and under valgrind (the
%% plain priv/swarm_node, run by a wrapper script), each in a real cluster:
%% races, garbage, process deaths, groups, node stops (no C node may be
%% restarted meanwhile); then no
%% report may exist and no C node may have died unexpectedly.
-module(sanitizers_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([cluster_under_asan/1, cluster_under_valgrind/1]).

suite() -> [{timetrap, {minutes, 8}}].

all() -> [cluster_under_asan, cluster_under_valgrind].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

%% @doc Registry traffic of every kind against ASan/UBSan/LSan C nodes.
cluster_under_asan(Config) ->
    Exe = filename:join([swarm_ct:root(), "build-asan", "swarm_node"]),
    case filelib:is_regular(Exe) of
        false -> {skip, "build-asan/swarm_node missing: run make asan"};
        true ->
            Dir = filename:join(?config(priv_dir, Config), "asan"),
            ok = filelib:ensure_dir(filename:join(Dir, "x")),
            Log = filename:join(Dir, "report"),
            Env = [{"ASAN_OPTIONS", "log_path=" ++ Log ++ ":detect_leaks=1:abort_on_error=1"},
                   {"UBSAN_OPTIONS", "log_path=" ++ Log ++ ":print_stacktrace=1:halt_on_error=1"}],
            workload("asan", Exe, Env),
            ?assertEqual([], reports(Dir))
    end.

%% @doc The same traffic against C nodes run by valgrind (memcheck: invalid
%% reads and writes, uninitialised values, definite leaks at exit).
cluster_under_valgrind(Config) ->
    case os:find_executable("valgrind") of
        false -> {skip, "valgrind missing"};
        Valgrind ->
            Dir = filename:join(?config(priv_dir, Config), "valgrind"),
            ok = filelib:ensure_dir(filename:join(Dir, "x")),
            Node = filename:join([swarm_ct:root(), "priv", "swarm_node"]),
            Wrapper = filename:join(Dir, "swarm_node_vg"),
            ok = file:write_file(Wrapper, [
                "#!/bin/sh\n",
                "exec ", Valgrind, " -q --error-exitcode=99 --leak-check=full",
                " --errors-for-leak-kinds=definite --log-file=", Dir, "/report.%p ", Node, "\n"]),
            ok = file:change_mode(Wrapper, 8#755),
            workload("vg", Wrapper, []),
            ?assertEqual([], reports(Dir))
    end.

%% The report files in Dir that are not empty (valgrind -q writes nothing
%% when there is nothing to say; the sanitizers write only on errors).
reports(Dir) ->
    {ok, Files} = file:list_dir(Dir),
    [{F, B} || F <- Files, lists:prefix("report", F),
               {ok, B} <- [file:read_file(filename:join(Dir, F))], B =/= <<>>].

%% Registry and group traffic of every kind on a 3-node cluster whose C
%% nodes run as Exe with Env; returns once every C node has exited.
workload(Prefix, Exe, Env) ->
    Peers = swarm_ct:start_nodes(3, Prefix),
    try run_workload(Peers, Exe, Env)
    after
        %% Also when it failed: nodes left behind would join the next
        %% suite's clusters.
        [swarm_ct:stop_node(P) || P <- Peers]
    end.

run_workload(Peers, Exe, Env) ->
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
     || N <- Nodes, {K, V} <- [{cnode_executable, Exe}, {cnode_env, Env}]],
    ok = swarm_ct:start_swarm(Nodes),
    OsPids = [swarm_ct:cnode_os_pid(N) || N <- Nodes],
    %% Concurrent registrations of the same names from every node.
    Self = self(),
    [spawn_link(fun() ->
        Self ! {done, swarm_ct:rpc(N, erlang, apply, [fun() ->
            [swarm:register_name({asan, I}, spawn(fun() -> receive stop -> ok end end))
             || I <- lists:seq(1, 300)]
        end, []])}
     end) || N <- Nodes],
    Results = lists:append([receive {done, R} -> R end || _ <- Nodes]),
    %% (If this fails, the counters tell how: conflicts settled, claims that
    %% expired, membership.)
    length([yes || yes <- Results]) =:= 300 orelse
        ct:pal("race: ~p yes; stats ~p",
               [length([yes || yes <- Results]),
                [{N, [KV || {K, _} = KV <- swarm_ct:rpc(N, swarm_agent, stats, []),
                            lists:member(K, [conflicts, expired, members, reserved, names])]}
                 || N <- Nodes]]),
    ?assertEqual(300, length([yes || yes <- Results])),
    %% MFA starts, unregistrations, deaths.
    [{ok, _} = swarm_ct:rpc(A, swarm, register_name, [{asan_mfa, I}, swarm_test_server, start, [I]])
     || I <- lists:seq(1, 50)],
    [ok = swarm_ct:rpc(B, swarm, unregister_name, [{asan, I}]) || I <- lists:seq(1, 100)],
    [exit(swarm_ct:rpc(C, swarm, whereis_name, [{asan, I}]), kill) || I <- lists:seq(101, 150)],
    %% Garbage to the server.
    CNode = swarm_ct:rpc(A, swarm_agent, cnode, []),
    swarm_ct:rpc(A, erlang, apply, [fun() ->
        [erlang:send({swarm, CNode}, G) || G <- [x, {'$sw1', reg, self(), 1, <<131, 109, 0, 0, 0, 9>>, self()},
                                                {'$sw1', ops, [{add, 1, 2, 3, 4}]}, {'$sw1'}, <<1:9000>>]],
        ok
    end, []]),
    %% Every node ends with the 150 names left and the 50 MFA ones (equal
    %% registries alone are not the end: a slow C node may still be
    %% applying the deaths everywhere alike).
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> length(swarm_ct:registry(N)) =:= 150 + 50 end, Nodes)
    end, 30000),
    _ = swarm_ct:wait_converged(Nodes, 15000),
    %% Groups: joins from every node, a leave, a death, publish, multi_call.
    Members = [swarm_ct:spawn_idle(N) || N <- Nodes, _ <- [1, 2, 3]],
    [ok = swarm_ct:rpc(N, swarm, join, [{san_g, I rem 2}, P])
     || N <- Nodes, {I, P} <- lists:zip(lists:seq(1, length(Members)), Members)],
    ok = swarm_ct:rpc(A, swarm, leave, [{san_g, 0}, hd(Members)]),
    exit(lists:last(Members), kill),
    ok = swarm_ct:rpc(B, swarm, publish, [{san_g, 1}, hello]),
    _ = swarm_ct:rpc(C, swarm, multi_call, [{san_g, 1}, ping, 500]),
    Expected = lists:sort([P || {I, P} <- lists:zip(lists:seq(1, length(Members)), Members),
                                I rem 2 =:= 1, P =/= lists:last(Members)]),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> lists:sort(swarm_ct:rpc(N, swarm, members, [{san_g, 1}])) =:= Expected end, Nodes)
    end, 15000),
    %% A node stops: its MFA names restart elsewhere.
    swarm_ct:stop_node(lists:keyfind(C, 2, Peers)),
    swarm_ct:wait_until(fun() ->
        length([x || {{asan_mfa, _}, _} <- swarm_ct:registry(A)]) =:= 50
    end, 15000),
    ?assertEqual([0, 0], [swarm_ct:rpc(N, gen_server, call, [swarm_agent, restarts]) || N <- [A, B]]),
    [swarm_ct:stop_node(P) || P <- Peers],
    %% Every C node exits at stdin EOF (running its leak check).
    swarm_ct:wait_until(fun() ->
        lists:all(fun(P) -> os:cmd("kill -0 " ++ integer_to_list(P) ++ " 2>&1") =/= "" end, OsPids)
    end, 30000).
