%% @doc What happens to register_name/4,5 processes when their node or the
%% cluster changes: a node that stops gracefully (SIGTERM, init:stop/0,
%% application:stop/1) hands them off first; swarm:handoff/0 and
%% Swarm.Tracker.handoff/2 move them on demand; a node below its quorum
%% stops them; the `restart' setting starts crashed ones again.
-module(lifecycle_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1, end_per_testcase/2]).
-export([graceful_sigterm/1, graceful_init_stop/1, graceful_app_stop/1,
         graceful_supervised/1, graceful_off/1, handoff_rejoin/1, tracker_handoff/1,
         quorum_loss/1, restart_transient/1, restart_permanent/1, restart_intensity/1,
         restart_temporary/1]).
-export([test_servers/0]).

%% Rounds of each graceful stop: every one must hand every process off.
-define(ROUNDS, 10).
%% Names placed on the stopping node in each round.
-define(PER_ROUND, 12).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [graceful_sigterm, graceful_init_stop, graceful_app_stop, graceful_supervised, graceful_off,
     handoff_rejoin, tracker_handoff, quorum_loss, restart_transient, restart_permanent,
     restart_intensity, restart_temporary].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

%% ---------------------------------------------------------------------------

%% @doc SIGTERM to a node's VM, ten rounds: every register_name/4 process
%% it ran is handed off, with its state, to its owner among the others.
graceful_sigterm(_Config) ->
    rounds("gs", fun(D) -> os:cmd("kill -TERM " ++ swarm_ct:rpc(D, os, getpid, [])) end).

%% @doc init:stop/0 (Elixir's System.stop/0), ten rounds: the same.
graceful_init_stop(_Config) ->
    rounds("gi", fun(D) -> erpc:cast(D, init, stop, []) end).

%% @doc application:stop(swarm) on a node, ten rounds: the same (the node
%% stays up without swarm).
graceful_app_stop(_Config) ->
    rounds("ga", fun(D) -> swarm_ct:rpc(D, application, stop, [swarm]) end, running).

%% @doc Processes that the application using swarm supervises stop before
%% swarm does (init:stop/0 stops applications in reverse start order): they
%% cannot hand their state over, and are started afresh on their owners
%% among the other nodes as they go, not lost.
graceful_supervised(_Config) ->
    {Peers, [A | _] = Base} = base_cluster("gv", []),
    %% The MFA starts the process under the application's supervisor, which
    %% every node runs.
    [ok = swarm_ct:rpc(N, swarm_test_app, load_and_start, []) || N <- Base],
    lists:foreach(fun(Round) ->
        {DPeer, D} = join_node("gv" ++ integer_to_list(Round), Base),
        ok = swarm_ct:rpc(D, swarm_test_app, load_and_start, []),
        Names = names_on(D, Base ++ [D], {gv, Round}, ?PER_ROUND),
        Old = [begin
                   {ok, P} = swarm_ct:rpc(A, swarm, register_name,
                                          [N, swarm_test_app, start_child, [{handoff, resume, N}]]),
                   ?assertEqual(D, node(P)),
                   {N, P}
               end || N <- Names],
        erpc:cast(D, init, stop, []),
        wait_gone(DPeer, D),
        New = wait_moved(Base, Old, D),
        %% Mostly started afresh (no state); one still running when swarm
        %% began to leave may have handed its state over.
        [?assert(lists:member(gen_server:call(P, handed_off), [none, {state_of, N, P0}]))
         || {{N, P0}, {N, P}} <- lists:zip(Old, New)]
    end, lists:seq(1, 3)),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc handoff_on_stop set to false: a stopping node hands nothing off;
%% its processes are started again when the others see it go (as after a
%% crash), without their state.
graceful_off(_Config) ->
    {Peers, [A | _] = Base} = base_cluster("go", []),
    {DPeer, D} = join_node("go_d", Base, [{handoff_on_stop, false}]),
    Names = names_on(D, Base ++ [D], go, ?PER_ROUND),
    Old = [{N, start(A, N)} || N <- Names],
    [?assertEqual(D, node(P)) || {_, P} <- Old],
    erpc:cast(D, init, stop, []),
    wait_gone(DPeer, D),
    New = wait_moved(Base, Old, D),
    [?assertEqual(none, gen_server:call(P, handed_off)) || {_, P} <- New],
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc swarm:handoff/0 moves a node's processes (with their state) to the
%% others and keeps it out of the placement: new names never land there;
%% swarm:rejoin/0 brings it back, and the names the ring gives it move back.
handoff_rejoin(_Config) ->
    {Peers, [A, _B, C] = Nodes} = base_cluster("hr", []),
    Names = names_on(C, Nodes, hr, ?PER_ROUND),
    Old = [{N, start(A, N)} || N <- Names],
    {ok, 0} = swarm_ct:rpc(C, swarm, handoff, []),
    New = wait_moved(Nodes -- [C], Old, C),
    %% swarm:info/0 tells: C out of the placement, and out of every ring.
    #{placement := {out, handoff}, peers := Peers2, counters := Counters} = swarm_ct:rpc(C, swarm, info, []),
    ?assertEqual(lists:sort(Nodes -- [C]), Peers2),
    ?assert(proplists:get_value(handoffs, Counters) >= length(Old)),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> maps:get(ring, swarm_ct:rpc(N, swarm, info, [])) =:= lists:sort(Nodes -- [C]) end,
                  Nodes)
    end, 5000),
    [?assertEqual({state_of, N, P0}, gen_server:call(P, handed_off))
     || {{N, P0}, {N, P}} <- lists:zip(Old, New)],
    %% Out of the placement: names that C would own start elsewhere.
    More = names_on(C, Nodes, hr_more, 5),
    [?assertNotEqual(C, node(start(A, N))) || N <- More],
    [?assertNotEqual(C, node(start(C, N))) || N <- names_on(C, Nodes, hr_local, 5)],
    %% The same, as Swarm's users look at it: :sys.get_state(Swarm.Tracker).
    ?assertMatch(#{node := C, placement := {out, handoff}}, sys:get_state({'Elixir.Swarm.Tracker', C})),
    {status, _, _, _} = sys:get_status({'Elixir.Swarm.Tracker', C}),
    %% The agent's own state reads as a map too.
    ?assertMatch(#{cnode := _, leaving := handoff, ring := [_ | _]}, sys:get_state({swarm_agent, C})),
    ok = swarm_ct:rpc(C, swarm, rejoin, []),
    #{placement := in} = swarm_ct:rpc(C, swarm, info, []),
    %% Back in: the ring gives C its names again, and they move there.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> on_node(Nodes, N, C) end, Names ++ More)
    end, 15000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc Swarm.Tracker.handoff(Name, State), asked by another process and by
%% the process itself (from terminate/2, as Swarm's users do): the process
%% restarts on the name's owner among the other nodes with that state.
tracker_handoff(_Config) ->
    {Peers, [A, B, C] = Nodes} = base_cluster("th", []),
    [N1, N2] = names_on(C, Nodes, th, 2),
    P1 = start(A, N1),
    ok = swarm_ct:rpc(C, 'Elixir.Swarm.Tracker', handoff, [N1, {given, N1}]),
    [{N1, Q1}] = wait_moved([A, B], [{N1, P1}], C),
    ?assertEqual({given, N1}, gen_server:call(Q1, handed_off)),
    ?assertEqual({error, not_found}, swarm_ct:rpc(A, swarm, handoff, [{th, none}, x])),
    %% The process asks for its own handoff, then stops.
    P2 = start(A, N2),
    %% Not a local process of the node asked.
    ?assertEqual({error, not_found}, swarm_ct:rpc(node(Q1), swarm, handoff, [N2, x])),
    ok = gen_server:call(P2, {handoff_self, N2, {own, N2}}),
    [{N2, Q2}] = wait_moved([A, B], [{N2, P2}], C),
    ?assertEqual({own, N2}, gen_server:call(Q2, handed_off)),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc StaticQuorumRing with quorum 2 of 3, C cut off: C, below its
%% quorum, stops its register_name/4 processes ({swarm, die}), removes
%% their names and refuses starts; A and B start C's names again. After the
%% heal every node lists one live process per name.
quorum_loss(_Config) ->
    Env = [{distribution_strategy, static_quorum_ring}, {static_quorum_size, 2}],
    {Peers, [A, B, C] = Nodes} = base_cluster("ql", Env,
                                              ["-kernel", "prevent_overlapping_partitions", "false"]),
    Names = [{ql, I} || I <- lists:seq(1, 30)],
    Old = [{N, start(A, N)} || N <- Names],
    OnC = [{N, P} || {N, P} <- Old, node(P) =:= C],
    ?assert(length(OnC) > 0),
    %% C loses A and B at once (cookies first, then the connections).
    Cookie = swarm_ct:rpc(C, erlang, get_cookie, []),
    [true = swarm_ct:rpc(C, erlang, set_cookie, [X, partition_cut]) || X <- [A, B]],
    [true = swarm_ct:rpc(C, erlang, disconnect_node, [X]) || X <- [A, B]],
    %% C stops its processes and forgets every name.
    swarm_ct:wait_until(fun() ->
        swarm_ct:rpc(C, ?MODULE, test_servers, []) =:= [] andalso
            lists:all(fun(N) -> swarm_ct:rpc(C, swarm, whereis_name, [N]) =:= undefined end, Names)
    end, 15000),
    ?assertEqual({error, no_node_available},
                 swarm_ct:rpc(C, swarm, register_name, [{ql, new}, swarm_test_server, start, [x]])),
    Stats = swarm_ct:rpc(C, swarm_agent, stats, []),
    %% (It also stops what it restarted for A in the moment it still saw B.)
    ?assert(proplists:get_value(quorum_stops, Stats) > 0),
    %% A and B run every name, C's on A or B.
    wait_agree([A, B], Names, fun(P) -> is_pid(P) andalso node(P) =/= C end),
    heal(C, A, Cookie),
    heal(C, B, Cookie),
    swarm_ct:wait_peers(Nodes),
    wait_agree(Nodes, Names, fun erlang:is_pid/1),
    %% One process per name: no other swarm_test_server runs anywhere.
    Running = lists:append([swarm_ct:rpc(N, ?MODULE, test_servers, []) || N <- Nodes]),
    ?assertEqual(lists:sort([swarm_ct:rpc(A, swarm, whereis_name, [N]) || N <- Names]),
                 lists:sort(Running)),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc restart transient: a crashed process starts again under its name;
%% one that stops normally does not.
restart_transient(_Config) ->
    {Peers, [A | _] = Nodes} = base_cluster("rt", [{restart, transient}]),
    P1 = start(A, rt1),
    catch gen_server:call(P1, crash),
    P2 = wait_new(Nodes, rt1, P1),
    ?assertEqual(pong, element(1, gen_server:call(P2, ping))),
    ok = gen_server:call(P2, stop),
    wait_agree(Nodes, [rt1], fun gone/1),
    %% Killed the instant its register returns (from here, before the
    %% name's add may have reached the agent of the process's node): still
    %% a crash, so restarted. (Before the agent monitored started processes
    %% at once, some of these were seen as noproc, "exited", and stayed
    %% dead.)
    B = lists:nth(2, Nodes),
    Fast = [N || N <- [{rtk, I} || I <- lists:seq(1, 300)], swarm_ct:ring_owner(Nodes, N) =:= B],
    ?assert(length(Fast) >= 5),
    Killed = [{N, begin P = start(A, N), exit(P, kill), P end} || N <- Fast],
    [?assertEqual(B, node(P)) || {_, P} <- Killed],
    [wait_new(Nodes, N, P) || {N, P} <- Killed],
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc restart permanent: even a normal stop starts the process again.
restart_permanent(_Config) ->
    {Peers, [A | _] = Nodes} = base_cluster("rp", [{restart, permanent}]),
    P1 = start(A, rp1),
    ok = gen_server:call(P1, stop),
    P2 = wait_new(Nodes, rp1, P1),
    ?assertEqual(pong, element(1, gen_server:call(P2, ping))),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc Beyond restart_intensity restarts within restart_period, the name
%% is given up (removed), as a supervisor gives up a child.
restart_intensity(_Config) ->
    Env = [{restart, transient}, {restart_intensity, 2}, {restart_period, 60}],
    {Peers, [A | _] = Nodes} = base_cluster("ri", Env),
    P1 = start(A, ri1),
    Crash = fun(P) -> catch gen_server:call(P, crash), wait_new(Nodes, ri1, P) end,
    P2 = Crash(P1),
    P3 = Crash(P2),
    catch gen_server:call(P3, crash),
    wait_agree(Nodes, [ri1], fun gone/1),
    Home = node(P3),
    ?assertEqual(1, proplists:get_value(restarts_given_up, swarm_ct:rpc(Home, swarm_agent, stats, []))),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc restart temporary (the default, as Swarm): a crash removes the name.
restart_temporary(_Config) ->
    {Peers, [A | _] = Nodes} = base_cluster("rm", []),
    P1 = start(A, rm1),
    catch gen_server:call(P1, crash),
    wait_agree(Nodes, [rm1], fun gone/1),
    [swarm_ct:stop_node(P) || P <- Peers].

%% ---------------------------------------------------------------------------

%% ?ROUNDS rounds on a cluster of three: a fourth node joins, processes are
%% placed on it, it is stopped with Stop; every one of them must run on its
%% owner among the three, with the state it handed over. Until: `gone' (the
%% node stops) or `running' (only swarm does).
rounds(Prefix, Stop) ->
    rounds(Prefix, Stop, gone).

rounds(Prefix, Stop, Until) ->
    {Peers, [A | _] = Base} = base_cluster(Prefix, []),
    lists:foreach(fun(Round) ->
        {DPeer, D} = join_node(Prefix ++ integer_to_list(Round), Base),
        Names = names_on(D, Base ++ [D], {list_to_atom(Prefix), Round}, ?PER_ROUND),
        Old = [{N, start(A, N)} || N <- Names],
        [?assertEqual(D, node(P)) || {_, P} <- Old],
        Stop(D),
        case Until of
            gone -> wait_gone(DPeer, D);
            running -> ok
        end,
        New = wait_moved(Base, Old, D),
        [?assertEqual({state_of, N, P0}, gen_server:call(P, handed_off))
         || {{N, P0}, {N, P}} <- lists:zip(Old, New)],
        Until =:= running andalso swarm_ct:stop_node({DPeer, D})
    end, lists:seq(1, ?ROUNDS)),
    [swarm_ct:stop_node(P) || P <- Peers].

%% Three nodes running swarm with the settings Env.
base_cluster(Prefix, Env) ->
    base_cluster(Prefix, Env, []).

base_cluster(Prefix, Env, Args) ->
    Peers = swarm_ct:start_nodes(3, Prefix, Args),
    Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V]) || N <- Nodes, {K, V} <- Env],
    ok = swarm_ct:start_swarm(Nodes),
    {Peers, Nodes}.

join_node(Name, Base) ->
    join_node(Name, Base, []).

join_node(Name, Base, Env) ->
    {Peer, D} = swarm_ct:start_node(swarm_ct:unique(Name)),
    [true = swarm_ct:rpc(D, net_kernel, connect_node, [N]) || N <- Base],
    [ok = swarm_ct:rpc(D, application, set_env, [swarm, K, V]) || {K, V} <- Env],
    {ok, _} = swarm_ct:rpc(D, application, ensure_all_started, [swarm]),
    ok = swarm_ct:wait_peers(Base ++ [D]),
    {Peer, D}.

%% Count names {Tag, I} that the ring of Nodes gives to Node.
names_on(Node, Nodes, Tag, Count) ->
    lists:sublist([{Tag, I} || I <- lists:seq(1, 100 * Count),
                               swarm_ct:ring_owner(Nodes, {Tag, I}) =:= Node], Count).

start(Node, Name) ->
    {ok, P} = swarm_ct:rpc(Node, swarm, register_name,
                           [Name, swarm_test_server, start, [{handoff, resume, Name}]]),
    P.

wait_gone(Peer, Node) ->
    swarm_ct:wait_until(fun() -> not is_process_alive(Peer) orelse net_adm:ping(Node) =:= pang end,
                        30000),
    catch peer:stop(Peer),
    ok.

%% Waits until every node of Nodes lists, for each {Name, OldPid} of Old, a
%% live process other than OldPid and not on Gone; returns [{Name, NewPid}].
wait_moved(Nodes, Old, Gone) ->
    Names = [N || {N, _} <- Old],
    wait_agree(Nodes, Names, fun(P) -> is_pid(P) andalso node(P) =/= Gone andalso
                                           rpc:call(node(P), erlang, is_process_alive, [P]) =:= true
                             end),
    [{N, swarm_ct:rpc(hd(Nodes), swarm, whereis_name, [N])} || N <- Names].

%% Waits until the nodes agree on a live pid for Name other than Old.
wait_new(Nodes, Name, Old) ->
    wait_agree(Nodes, [Name], fun(P) -> is_pid(P) andalso P =/= Old andalso
                                            rpc:call(node(P), erlang, is_process_alive, [P]) =:= true
                              end),
    swarm_ct:rpc(hd(Nodes), swarm, whereis_name, [Name]).

%% Waits until every node of Nodes lists the same value (pid or undefined)
%% for each name, and Pred holds for it.
wait_agree(Nodes, Names, Pred) ->
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) ->
                          case lists:usort([swarm_ct:rpc(X, swarm, whereis_name, [N]) || X <- Nodes]) of
                              [V] -> Pred(V);
                              _ -> false
                          end
                  end, Names)
    end, 20000).

gone(V) -> V =:= undefined.

%% Whether the nodes agree that Name runs on Node.
on_node(Nodes, Name, Node) ->
    case lists:usort([swarm_ct:rpc(X, swarm, whereis_name, [Name]) || X <- Nodes]) of
        [P] when is_pid(P) -> node(P) =:= Node;
        _ -> false
    end.

%% The swarm_test_server processes running on this node.
test_servers() ->
    [P || P <- processes(),
          {'$initial_call', {swarm_test_server, init, 1}} <-
              [lists:keyfind('$initial_call', 1, element(2, process_info(P, dictionary)))]].

heal(A, B, Cookie) ->
    true = swarm_ct:rpc(A, erlang, set_cookie, [B, Cookie]),
    true = swarm_ct:rpc(A, net_kernel, connect_node, [B]).
