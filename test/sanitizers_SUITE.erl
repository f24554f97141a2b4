%% @doc The real C node built with AddressSanitizer, UBSan and LeakSanitizer
%% (build-asan/swarm_node, made by `make asan'), in a real cluster: races,
%% garbage, process deaths, a C node restart and node stops, then no
%% sanitizer report may exist and no C node may have died unexpectedly.
-module(sanitizers_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([cluster_under_asan/1]).

suite() -> [{timetrap, {minutes, 5}}].

all() -> [cluster_under_asan].

init_per_suite(Config) ->
    Exe = filename:join([swarm_ct:root(), "build-asan", "swarm_node"]),
    case filelib:is_regular(Exe) of
        false -> {skip, "build-asan/swarm_node missing: run make asan"};
        true ->
            ok = swarm_ct:ensure_dist(),
            [{exe, Exe} | Config]
    end.

end_per_suite(_Config) ->
    ok.

%% @doc Registry traffic of every kind against ASan/UBSan/LSan C nodes.
cluster_under_asan(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "asan"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Log = filename:join(Dir, "report"),
    Env = [{"ASAN_OPTIONS", "log_path=" ++ Log ++ ":detect_leaks=1:abort_on_error=1"},
           {"UBSAN_OPTIONS", "log_path=" ++ Log ++ ":print_stacktrace=1:halt_on_error=1"}],
    Peers = swarm_ct:start_nodes(3, "asan"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
     || N <- Nodes, {K, V} <- [{cnode_executable, ?config(exe, Config)}, {cnode_env, Env}]],
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
    Reg = swarm_ct:wait_converged(Nodes, 15000),
    ?assertEqual(150 + 50, length(Reg)),
    %% A node stops: its MFA names restart elsewhere.
    swarm_ct:stop_node(lists:keyfind(C, 2, Peers)),
    swarm_ct:wait_until(fun() ->
        length([x || {{asan_mfa, _}, _} <- swarm_ct:registry(A)]) =:= 50
    end, 15000),
    ?assertEqual([0, 0], [swarm_ct:rpc(N, gen_server, call, [swarm_agent, restarts]) || N <- [A, B]]),
    [swarm_ct:stop_node(P) || P <- Peers],
    %% Every C node exits at stdin EOF, running LeakSanitizer; then no report.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(P) -> os:cmd("kill -0 " ++ integer_to_list(P) ++ " 2>&1") =/= "" end, OsPids)
    end, 15000),
    ?assertEqual([], [{F, file:read_file(filename:join(Dir, F))} || F <- element(2, file:list_dir(Dir))]).
