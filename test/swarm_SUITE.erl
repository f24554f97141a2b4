%% @doc The registry end to end: real BEAM nodes (OTP's peer), each running
%% the swarm application with its real C node, on 127.0.0.1.
-module(swarm_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, end_per_testcase/2]).
-export([direct_to_owner/1, doc_chunks/1, confirm_barrier/1]).
-export([barrier_burst/2]).
-export([via_call_across_nodes/1, any_term_as_name/1, unregister_one_name/1,
         read_your_writes/1, whereis_miss_is_local/1, send_unknown_name/1,
         race_one_winner/1, process_death/1, elixir_facade/1, elixir_genserver/1,
         garbage_to_cnode/1, wrong_cookie_raw_tcp/1, huge_name/1,
         node_stop/1, late_join/1, simultaneous_start/1, cnode_killed/1, cnode_hung/1,
         app_stop_start/1, link_drops/1]).

suite() -> [{timetrap, {minutes, 5}}].

all() ->
    [{group, cluster3}, node_stop, late_join, simultaneous_start, cnode_killed, cnode_hung,
     app_stop_start, link_drops, doc_chunks].

groups() ->
    [{cluster3, [],
      [via_call_across_nodes, any_term_as_name, unregister_one_name, read_your_writes,
       whereis_miss_is_local, send_unknown_name, race_one_winner, process_death,
       elixir_facade, elixir_genserver, garbage_to_cnode, wrong_cookie_raw_tcp, huge_name,
       direct_to_owner, confirm_barrier]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

init_per_group(cluster3, Config) ->
    Peers = swarm_ct:start_nodes(3, "c3"),
    Nodes = [N || {_, N} <- Peers],
    %% This group runs with callers sending registrations straight to the
    %% owner's C node (off by default); the other suites cover the default.
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, direct_to_owner, true]) || N <- Nodes],
    ok = swarm_ct:start_swarm(Nodes),
    [{peers, Peers}, {nodes, Nodes} | Config].

end_per_group(cluster3, Config) ->
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

%% ---------------------------------------------------------------------------

%% @doc A gen_server started through {via, swarm, Name} on one node is called
%% and cast to from the others.
via_call_across_nodes(Config) ->
    [A, B, C] = ?config(nodes, Config),
    Name = {via_test, 1},
    {ok, Pid} = swarm_ct:spawn_server(A, Name, x),
    ?assertEqual(A, node(Pid)),
    ?assertEqual(Pid, swarm_ct:rpc(A, swarm, whereis_name, [Name])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [Name]) =:= Pid
                                     andalso swarm_ct:rpc(C, swarm, whereis_name, [Name]) =:= Pid
                        end, 5000),
    ?assertEqual({pong, A, Pid}, swarm_ct:rpc(B, gen_server, call, [{via, swarm, Name}, ping])),
    ?assertEqual({pong, A, Pid}, swarm_ct:rpc(C, gen_server, call, [{via, swarm, Name}, ping])),
    ok = swarm_ct:rpc(C, gen_server, cast, [{via, swarm, Name}, hello_from_c]),
    swarm_ct:wait_until(fun() -> gen_server:call(Pid, casts) =:= [hello_from_c] end, 5000),
    %% A second start under the same name fails with already_started.
    ?assertEqual({error, {already_started, Pid}}, swarm_ct:spawn_server(B, Name, y)).

%% @doc Any term can be a name; every node sees the same pid for it.
any_term_as_name(Config) ->
    [A, B, C] = ?config(nodes, Config),
    Names = [atom_name, 'ünïcödé_åtom', <<"binary">>, <<>>, "a string", [1, [2], 3 | improper],
             {tuple, 1, 2.5}, -0.0, 3.14, 1 bsl 200, -(1 bsl 70), 0, -1, #{a => 1, "b" => [2]},
             maps:from_list([{I, I} || I <- lists:seq(1, 40)]), self(), make_ref(),
             <<1:3>>, {nested, {deep, [#{k => {v}}]}}, list_to_tuple(lists:seq(1, 300))],
    Regs = [{Name, register_idle(Node, Name)}
            || {Name, Node} <- lists:zip(Names, lists:sublist(lists:append(lists:duplicate(7, [A, B, C])),
                                                             length(Names)))],
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [Name]) =:= Pid end, 5000)
     || {Name, Pid} <- Regs, N <- [A, B, C]],
    %% Names compare with =:= : 1 and 1.0 differ; -0.0 and 0.0 are one name
    %% before OTP 27 (they are =:=), and the C node must agree with ETS.
    ?assertEqual(undefined, swarm_ct:rpc(B, swarm, whereis_name, [1.0])),
    {_, NegZeroPid} = lists:keyfind(-0.0, 1, Regs),
    ?assertEqual(NegZeroPid, swarm_ct:rpc(B, swarm, whereis_name, [0.0])),
    ?assertEqual(yes, swarm_ct:rpc(C, swarm, register_name, [{0.0, [#{k => 0.0}]}, NegZeroPid])),
    ?assertEqual(no, swarm_ct:rpc(A, swarm, register_name, [{-0.0, [#{k => -0.0}]}, NegZeroPid])),
    ok = swarm_ct:rpc(A, swarm, unregister_name, [{-0.0, [#{k => -0.0}]}]),
    [begin ok = swarm_ct:rpc(A, swarm, unregister_name, [Name]), Pid ! stop end || {Name, Pid} <- Regs],
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [Name]) =:= undefined end, 5000)
     || {Name, _} <- Regs, N <- [A, B, C]].

%% @doc unregister_name/1 removes that one name, as global does.
unregister_one_name(Config) ->
    [A, B, C] = ?config(nodes, Config),
    Pid = swarm_ct:spawn_idle(B),
    yes = swarm_ct:rpc(B, swarm, register_name, [{two, 1}, Pid]),
    yes = swarm_ct:rpc(B, swarm, register_name, [{two, 2}, Pid]),
    ok = swarm_ct:rpc(C, swarm, unregister_name, [{two, 1}]),
    ?assertEqual(undefined, swarm_ct:rpc(C, swarm, whereis_name, [{two, 1}])),
    swarm_ct:wait_until(fun() ->
                                [swarm_ct:rpc(N, swarm, whereis_name, [{two, 1}]) || N <- [A, B, C]]
                                    =:= [undefined, undefined, undefined]
                        end, 5000),
    [?assertEqual(Pid, swarm_ct:rpc(N, swarm, whereis_name, [{two, 2}])) || N <- [A, B, C]],
    ?assertEqual(ok, swarm_ct:rpc(A, swarm, unregister_name, [{never, registered}])),
    Pid ! stop.

%% @doc A node reads its own writes: whereis right after yes, and undefined
%% right after unregister, on the calling node.
read_your_writes(Config) ->
    [A, B, _] = ?config(nodes, Config),
    Res = swarm_ct:rpc(B, erlang, apply, [fun() ->
        [begin
             P = spawn(fun() -> receive stop -> ok end end),
             yes = swarm:register_name({ryw, I}, P),
             P = swarm:whereis_name({ryw, I}),
             ok = swarm:unregister_name({ryw, I}),
             undefined = swarm:whereis_name({ryw, I}),
             P ! stop,
             ok
         end || I <- lists:seq(1, 300)]
    end, []]),
    ?assertEqual(lists:duplicate(300, ok), Res),
    %% Also when the pid lives on another node than the caller.
    P = swarm_ct:spawn_idle(A),
    ?assertEqual(yes, swarm_ct:rpc(B, swarm, register_name, [remote_pid_name, P])),
    ?assertEqual(P, swarm_ct:rpc(B, swarm, whereis_name, [remote_pid_name])),
    P ! stop.

%% @doc whereis_name of an unknown name sends nothing to the C node.
whereis_miss_is_local(Config) ->
    [A | _] = ?config(nodes, Config),
    Before = proplists:get_value(msgs_in, swarm_ct:rpc(A, swarm_agent, stats, [])),
    undefined = swarm_ct:rpc(A, erlang, apply, [fun() ->
        lists:foldl(fun(I, _) -> swarm:whereis_name({missing, I}) end, x, lists:seq(1, 5000))
    end, []]),
    After = proplists:get_value(msgs_in, swarm_ct:rpc(A, swarm_agent, stats, [])),
    %% 5000 misses that asked the C node would count 5000; what may be
    %% counted meanwhile is the second stats request, the agent's watchdog
    %% ping (once a second) and the odd peer message.
    ?assert(After - Before =< 10).

%% @doc send/2 to an unknown name exits {badarg, {Name, Msg}}, like global.
send_unknown_name(Config) ->
    [A | _] = ?config(nodes, Config),
    R = swarm_ct:rpc(A, erlang, apply, [fun() ->
        try swarm:send(no_such_name, msg) catch exit:E -> {exit, E} end
    end, []]),
    ?assertEqual({exit, {badarg, {no_such_name, msg}}}, R),
    P = swarm_ct:spawn_idle(A),
    yes = swarm_ct:rpc(A, swarm, register_name, [send_target, P]),
    ?assertEqual(P, swarm_ct:rpc(A, swarm, send, [send_target, stop])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, swarm, whereis_name, [send_target]) =:= undefined end,
                        5000).

%% @doc Hundreds of names registered at once from all nodes with different
%% pids: exactly one yes per name, and every node agrees on the winner.
race_one_winner(Config) ->
    Nodes = ?config(nodes, Config),
    N = 400,
    Self = self(),
    Go = make_ref(),
    Racers = [spawn_link(fun() ->
        Res = swarm_ct:rpc(Node, erlang, apply, [fun() ->
            receive_go(),
            [begin
                 P = spawn(fun() -> receive stop -> ok end end),
                 {I, P, swarm:register_name({race, I}, P)}
             end || I <- lists:seq(1, N)]
        end, []]),
        Self ! {self(), Node, Res}
    end) || Node <- Nodes],
    %% The rpc'd funs each wait for a go message sent to every node at once.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(Node) -> swarm_ct:rpc(Node, erlang, whereis, [race_go]) =/= undefined end, Nodes)
    end, 10000),
    [erlang:send({race_go, Node}, Go) || Node <- Nodes],
    Results = lists:append([receive {R, _Node, Res} -> Res end || R <- Racers]),
    Winners = [{I, P} || {I, P, yes} <- Results],
    ?assertEqual(N, length(Winners)),
    ?assertEqual(lists:seq(1, N), lists:sort([I || {I, _} <- Winners])),
    Expected = lists:sort([{{race, I}, P} || {I, P} <- Winners]),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(Node) ->
            [E || {{race, _}, _} = E <- swarm_ct:registry(Node)] =:= Expected
        end, Nodes)
    end, 10000),
    [P ! stop || {_, P, _} <- Results],
    swarm_ct:wait_until(fun() ->
        lists:all(fun(Node) -> [E || {{race, _}, _} = E <- swarm_ct:registry(Node)] =:= [] end, Nodes)
    end, 10000).

receive_go() ->
    true = register(race_go, self()),
    receive _ -> unregister(race_go), ok end.

%% @doc When a registered process dies, its names disappear everywhere.
process_death(Config) ->
    [A, B, C] = ?config(nodes, Config),
    {ok, Pid} = swarm_ct:spawn_server(C, doomed, x),
    yes = swarm_ct:rpc(C, swarm, register_name, [doomed_alias, Pid]),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, swarm, whereis_name, [doomed_alias]) =:= Pid end, 5000),
    exit(Pid, kill),
    swarm_ct:wait_until(fun() ->
        [swarm_ct:rpc(N, swarm, whereis_name, [X]) || N <- [A, B, C], X <- [doomed, doomed_alias]]
            =:= lists:duplicate(6, undefined)
    end, 5000).

%% @doc The Elixir facade 'Elixir.Swarm' offers the same functions.
elixir_facade(Config) ->
    [A, B, _] = ?config(nodes, Config),
    P = swarm_ct:spawn_idle(A),
    yes = swarm_ct:rpc(A, 'Elixir.Swarm', register_name, [ex_name, P]),
    no = swarm_ct:rpc(B, 'Elixir.Swarm', register_name, [ex_name, self()]),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, 'Elixir.Swarm', whereis_name, [ex_name]) =:= P end, 5000),
    ?assert(lists:member({ex_name, P}, swarm_ct:rpc(B, 'Elixir.Swarm', registered, []))),
    ok = swarm_ct:rpc(B, 'Elixir.Swarm', unregister_name, [ex_name]),
    ?assertEqual(undefined, swarm_ct:rpc(B, 'Elixir.Swarm', whereis_name, [ex_name])),
    P ! stop.

%% @doc Elixir code using GenServer with {:via, :swarm, name} works unchanged.
elixir_genserver(Config) ->
    [A, B, _] = ?config(nodes, Config),
    case code:lib_dir(elixir) of
        {error, _} -> add_elixir_path([A, B]);
        _ -> add_elixir_path([A, B])
    end,
    Def = "defmodule SwarmExWorker do\n"
          "  use GenServer\n"
          "  def init(arg), do: {:ok, arg}\n"
          "  def handle_call(:ping, _from, s), do: {:reply, {:pong, s}, s}\n"
          "  def handle_cast({:set, v}, _s), do: {:noreply, v}\n"
          "end\n",
    [{ok, _} = swarm_ct:rpc(N, application, ensure_all_started, [elixir]) || N <- [A, B]],
    [_ = swarm_ct:rpc(N, 'Elixir.Code', eval_string, [list_to_binary(Def)]) || N <- [A, B]],
    Start = "{:ok, pid} = GenServer.start(SwarmExWorker, :hi, name: {:via, :swarm, {:ex_worker, 1}}); pid",
    {Pid, _} = swarm_ct:rpc(A, 'Elixir.Code', eval_string, [list_to_binary(Start)]),
    ?assert(is_pid(Pid)),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [{ex_worker, 1}]) =:= Pid end, 5000),
    Call = "GenServer.cast({:via, :swarm, {:ex_worker, 1}}, {:set, :there}); "
           "GenServer.call({:via, :swarm, {:ex_worker, 1}}, :ping)",
    ?assertMatch({{pong, there}, _}, swarm_ct:rpc(B, 'Elixir.Code', eval_string, [list_to_binary(Call)])),
    ?assertMatch({Pid, _}, swarm_ct:rpc(B, 'Elixir.Code', eval_string,
                                         [<<"Swarm.whereis_name({:ex_worker, 1})">>])),
    exit(Pid, kill).

add_elixir_path(Nodes) ->
    Ebin = case code:lib_dir(elixir) of
               {error, _} -> "/usr/lib/elixir/lib/elixir/ebin";
               Dir -> filename:join(Dir, "ebin")
           end,
    [true = swarm_ct:rpc(N, code, add_patha, [Ebin]) || N <- Nodes],
    ok.

%% @doc Garbage sent to the C node's swarm server and to unknown names is
%% counted and dropped; the registry keeps working.
garbage_to_cnode(Config) ->
    [A, B, _] = ?config(nodes, Config),
    CNode = swarm_ct:rpc(A, swarm_agent, cnode, []),
    Before = proplists:get_value(unknown_msgs, swarm_ct:rpc(A, swarm_agent, stats, [])),
    Garbage = [hello, {'$sw1'}, {'$sw1', reg}, {'$sw1', reg, self(), 1, <<"notaterm">>, self()},
               {'$sw1', reg, self(), 1, <<131, 109, 255, 255, 255, 255>>, self()},
               {'$sw1', ops, [garbage]}, {'$sw1', unknown_tag, 1}, <<0:80000>>,
               {'$sw1', hello, self(), not_a_list, []}, {'$sw1', pid_down, not_a_pid},
               lists:seq(1, 1000), #{a => b}, {'$sw2', reg},
               {'$sw1', ping}, {'$sw1', ping, not_a_pid, 1}, {'$sw1', ping, self(), 1, extra}],
    swarm_ct:rpc(A, erlang, apply, [fun() ->
        [erlang:send({swarm, CNode}, G) || G <- Garbage],
        [erlang:send({no_such_process, CNode}, G) || G <- Garbage],
        ok
    end, []]),
    swarm_ct:wait_until(fun() ->
        proplists:get_value(unknown_msgs, swarm_ct:rpc(A, swarm_agent, stats, [])) >= Before + length(Garbage)
    end, 5000),
    %% A well-formed ping is answered.
    ?assertEqual(pong, swarm_ct:rpc(A, erlang, apply, [fun() ->
        Ref = make_ref(),
        erlang:send({swarm, CNode}, {'$sw1', ping, self(), Ref}),
        receive {Ref, Pong} -> Pong after 5000 -> timeout end
    end, []])),
    P = swarm_ct:spawn_idle(A),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [after_garbage, P])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [after_garbage]) =:= P end, 5000),
    P ! stop.

%% @doc Raw TCP garbage, a wrong cookie and peers that vanish mid-handshake
%% or mid-frame do not disturb the C node.
wrong_cookie_raw_tcp(Config) ->
    [A, B, _] = ?config(nodes, Config),
    CNode = swarm_ct:rpc(A, swarm_agent, cnode, []),
    [Alive, _] = string:split(atom_to_list(CNode), "@"),
    {port, Port, _} = erl_epmd:port_please(Alive, "127.0.0.1"),
    Send = fun(Bytes) ->
                   {ok, S} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
                   ok = gen_tcp:send(S, Bytes),
                   _ = gen_tcp:recv(S, 0, 200),
                   gen_tcp:close(S)
           end,
    Send(crypto:strong_rand_bytes(3000)),
    Send(<<0, 200, $N>>),                               % send_name cut short
    Send(<<255, 255>>),                                 % huge handshake length, then gone
    Send(<<0, 3, 1, 2, 3>>),                            % nonsense message
    %% A node with the wrong cookie is refused.
    {ok, Peer, Bad} = peer:start_link(#{name => swarm_ct:unique("badcookie"), host => "127.0.0.1",
                                         longnames => true, connection => standard_io,
                                         args => ["-setcookie", "wrong_cookie"]}),
    ?assertEqual(pang, peer:call(Peer, net_adm, ping, [CNode])),
    peer:stop(Peer),
    _ = Bad,
    ?assert(proplists:get_value(auth_failed, swarm_ct:rpc(A, swarm_agent, stats, [])) >= 1),
    P = swarm_ct:spawn_idle(A),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [after_tcp_garbage, P])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [after_tcp_garbage]) =:= P end, 5000),
    P ! stop.

%% @doc A name larger than 64 KiB is refused with a clear error; one just
%% below works.
huge_name(Config) ->
    [A, B, _] = ?config(nodes, Config),
    P = swarm_ct:spawn_idle(A),
    Big = binary:copy(<<"x">>, 70000),
    ?assertMatch({error, {name_too_large, _}},
                 swarm_ct:rpc(A, erlang, apply, [fun() ->
                     try swarm:register_name(Big, P) catch error:E -> {error, E} end
                 end, []])),
    Ok = binary:copy(<<"y">>, 60000),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [Ok, P])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [Ok]) =:= P end, 5000),
    P ! stop.

%% ---------------------------------------------------------------------------

%% @doc When a node stops, its names disappear from the others.
node_stop(_Config) ->
    Peers = swarm_ct:start_nodes(3, "ns"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    Regs = [{{ns, I}, register_idle(N, {ns, I})} || {I, N} <- lists:zip(lists:seq(1, 60),
                                                                          lists:append(lists:duplicate(20, Nodes)))],
    _ = swarm_ct:wait_converged(Nodes, 10000),
    swarm_ct:stop_node(lists:keyfind(C, 2, Peers)),
    Expected = lists:sort([{Name, P} || {Name, P} <- Regs, node(P) =/= C]),
    swarm_ct:wait_until(fun() ->
        swarm_ct:registry(A) =:= Expected andalso swarm_ct:registry(B) =:= Expected
    end, 10000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc A node that joins later receives the whole registry, answering
%% lookups meanwhile.
late_join(_Config) ->
    Peers = swarm_ct:start_nodes(2, "lj"),
    Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    [register_idle(N, {lj, I}) || {I, N} <- lists:zip(lists:seq(1, 2000), lists:append(lists:duplicate(1000, Nodes)))],
    Reg = swarm_ct:wait_converged(Nodes, 10000),
    ?assertEqual(2000, length(Reg)),
    {_, D} = Late = swarm_ct:start_node(swarm_ct:unique("lj_late")),
    ok = swarm_ct:connect_all([D | Nodes]),
    {ok, _} = swarm_ct:rpc(D, application, ensure_all_started, [swarm]),
    %% Lookups answer (hit or miss) while the sync runs.
    _ = swarm_ct:rpc(D, swarm, whereis_name, [{lj, 1}]),
    swarm_ct:wait_until(fun() -> swarm_ct:registry(D) =:= Reg end, 10000),
    P = swarm_ct:spawn_idle(D),
    yes = swarm_ct:rpc(D, swarm, register_name, [late_name, P]),
    swarm_ct:wait_until(fun() -> lists:all(fun(N) -> swarm_ct:rpc(N, swarm, whereis_name, [late_name]) =:= P end, Nodes) end, 5000),
    [swarm_ct:stop_node(X) || X <- [Late | Peers]].

%% @doc Starting swarm on all nodes at the same moment, nodes already
%% connected, gives a working cluster, every time.
simultaneous_start(_Config) ->
    [begin
         Peers = swarm_ct:start_nodes(3, "ss" ++ integer_to_list(Round)),
         Nodes = [N || {_, N} <- Peers],
         ok = swarm_ct:start_swarm_parallel(Nodes),
         Regs = [{{ss, Round, I}, register_idle(N, {ss, Round, I})}
                 || {I, N} <- lists:zip(lists:seq(1, 30), lists:append(lists:duplicate(10, Nodes)))],
         ?assertEqual(30, length([x || {_, P} <- Regs, is_pid(P)])),
         ?assertEqual(lists:sort(Regs), swarm_ct:wait_converged(Nodes, 10000)),
         [swarm_ct:stop_node(P) || P <- Peers]
     end || Round <- lists:seq(1, 5)],
    ok.

%% @doc A C node killed with SIGKILL is restarted; the registry is refilled
%% from its peers, and names of processes that died meanwhile go away.
cnode_killed(_Config) ->
    Peers = swarm_ct:start_nodes(3, "ck"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    %% The pipe transport: requests are writes on the C node's port.
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, cnode_pipe, true]) || N <- Nodes],
    ok = swarm_ct:start_swarm(Nodes),
    Regs = [{{ck, I}, register_idle(N, {ck, I})} || {I, N} <- lists:zip(lists:seq(1, 90),
                                                                          lists:append(lists:duplicate(30, Nodes)))],
    _ = swarm_ct:wait_converged(Nodes, 10000),
    OsPid = swarm_ct:cnode_os_pid(A),
    %% Stop the C node, kill one of A's processes while it is down, kill it.
    os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    {_, Victim} = hd([R || {_, P} = R <- Regs, node(P) =:= A]),
    exit(Victim, kill),
    Agent = swarm_ct:rpc(A, erlang, whereis, [swarm_agent]),
    %% Asked for the C node's OS pid and for swarm:info/0 all through its
    %% death and restart (the port closes before the agent sees the exit):
    %% answers, `undefined' while none runs, and the agent never crashes.
    %% Meanwhile four processes write to it as callers do (the pipe: the
    %% first write after its death closes the port with `epipe' and no
    %% exit status, which is a death all the same).
    Asked = swarm_ct:rpc(A, erlang, apply,
                         [fun() ->
                                  T = erlang:monotonic_time(millisecond) + 500,
                                  Writers = [spawn_link(fun() -> write_until(T, 0) end)
                                             || _ <- lists:seq(1, 4)],
                                  os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
                                  Got = ask_os_pid_until(T, []),
                                  [unlink(W) || W <- Writers],
                                  Got
                          end, []]),
    ?assert(lists:all(fun(X) -> X =:= undefined orelse is_integer(X) end, Asked)),
    ?assertEqual(Agent, swarm_ct:rpc(A, erlang, whereis, [swarm_agent])),
    swarm_ct:wait_cnode_replaced(A, OsPid, 10000),
    ?assertEqual(Agent, swarm_ct:rpc(A, erlang, whereis, [swarm_agent])),
    Expected = lists:sort([R || {_, P} = R <- Regs, P =/= Victim]),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> swarm_ct:registry(N) =:= Expected end, [A, B, C])
    end, 15000),
    %% Registration works again from the restarted node.
    P = swarm_ct:spawn_idle(A),
    yes = swarm_ct:rpc(A, swarm, register_name, [after_restart, P]),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(C, swarm, whereis_name, [after_restart]) =:= P end, 5000),
    [swarm_ct:stop_node(X) || X <- Peers].

%% On a node: pings to the local C node, written as requests are, until
%% T (at most 20,000 each).
write_until(T, N) ->
    case erlang:monotonic_time(millisecond) > T orelse N > 20000 of
        true -> ok;
        false ->
            ok = swarm_cnode:send({'$sw1', ping, self(), make_ref()}),
            receive after 0 -> ok end,
            write_until(T, N + 1)
    end.

%% On a node: the agent's os_pid answers (and swarm:info/0's) until T.
ask_os_pid_until(T, Acc) ->
    case erlang:monotonic_time(millisecond) > T of
        true -> Acc;
        false ->
            #{cnode_os_pid := P} = swarm:info(),
            ask_os_pid_until(T, [P, gen_server:call(swarm_agent, os_pid) | Acc])
    end.

%% @doc A C node that hangs (SIGSTOP: alive, silent) is found by the agent's
%% watchdog (its pings go unanswered), killed and restarted; the
%% registry is whole again and works, with no help from the test.
cnode_hung(_Config) ->
    Peers = swarm_ct:start_nodes(3, "ch"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
     || N <- Nodes, {K, V} <- [{cnode_watchdog_ms, 200}, {cnode_watchdog_misses, 3}]],
    ok = swarm_ct:start_swarm(Nodes),
    Regs = [{{ch, I}, register_idle(N, {ch, I})} || {I, N} <- lists:zip(lists:seq(1, 30),
                                                                          lists:append(lists:duplicate(10, Nodes)))],
    Expected = lists:sort(Regs),
    _ = swarm_ct:wait_converged(Nodes, 10000),
    OsPid = swarm_ct:cnode_os_pid(B),
    os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    swarm_ct:wait_cnode_replaced(B, OsPid, 15000),
    %% The stopped one was killed, not left behind.
    swarm_ct:wait_until(fun() -> os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>&1") =/= "" end, 5000),
    ?assertEqual(1, swarm_ct:rpc(B, gen_server, call, [swarm_agent, restarts])),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> swarm_ct:registry(N) =:= Expected end, Nodes)
    end, 15000),
    P = swarm_ct:spawn_idle(B),
    yes = swarm_ct:rpc(B, swarm, register_name, [after_hang, P]),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(C, swarm, whereis_name, [after_hang]) =:= P end, 5000),
    _ = A,
    [swarm_ct:stop_node(X) || X <- Peers].

%% @doc The distribution link between a BEAM node and its own C node is cut
%% (erlang:disconnect_node/1) 30 times while 4 callers register 2,400 names
%% there and some registered processes die: whatever was in flight either
%% way is lost, and both sides resynchronise when the link is back. Then
%% every name whose register_name said yes and whose process lives is
%% visible on every node, no name of a dead process is left anywhere, and
%% every call answered (callers send a copy when the link is back; a
%% timeout exit is counted, and allowed five times).
link_drops(_Config) ->
    Peers = swarm_ct:start_nodes(3, "ld"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    %% Loaded first: loading resets the settings the .app file names.
    [ok = swarm_ct:rpc(N, application, load, [swarm]) || N <- Nodes],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, call_timeout, 2000]) || N <- Nodes],
    ok = swarm_ct:start_swarm(Nodes),
    CNodeA = swarm_ct:rpc(A, swarm_agent, cnode, []),
    Self = self(),
    Callers = [spawn_link(A, fun() -> Self ! {done, self(), link_drops_caller(K, Nodes, CNodeA)} end)
               || K <- lists:seq(1, 4)],
    Results = lists:append([receive {done, P, R} -> R after 120000 -> ct:fail(caller_hung) end
                            || P <- Callers]),
    Yes = [{Name, Pid} || {Name, Pid, yes} <- Results],
    Timeouts = length([x || {_, _, timeout} <- Results]),
    ct:pal("~p calls: ~p yes, ~p timeouts, ~p resyncs", [length(Results), length(Yes), Timeouts,
                                                        swarm_ct:rpc(A, gen_server, call, [swarm_agent, link_resyncs])]),
    ?assertEqual(2400, length(Results)),
    ?assert(Timeouts =< 5),
    ?assert(swarm_ct:rpc(A, gen_server, call, [swarm_agent, link_resyncs]) >= 1),
    Alive = lists:sort([{N, P} || {N, P} <- Yes, swarm_ct:rpc(node(P), erlang, is_process_alive, [P])]),
    ?assert(length(Alive) > 1000),
    %% The registries hold exactly the live registered processes: nothing
    %% committed is missing, nothing dead is left.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) ->
            Reg = swarm_ct:registry(N),
            Reg =:= lists:sort([X || {_, P} = X <- Reg,
                                     swarm_ct:rpc(node(P), erlang, is_process_alive, [P])])
            andalso (Alive -- Reg) =:= []
        end, Nodes)
    end, 20000),
    _ = swarm_ct:wait_converged(Nodes, 10000),
    [swarm_ct:stop_node(X) || X <- Peers],
    _ = {B, C},
    ok.

%% 600 registrations of fresh idle processes (spread over Nodes) from one
%% caller on the C node's BEAM node; it cuts the link to its C node every
%% 80 calls and kills every 25th process it registered.
link_drops_caller(K, Nodes, CNode) ->
    lists:map(fun(I) ->
                      Node = lists:nth(1 + I rem length(Nodes), Nodes),
                      P = spawn(Node, fun() -> receive stop -> ok end end),
                      Name = {ld, K, I},
                      R = try swarm:register_name(Name, P) catch exit:{timeout, _} -> timeout end,
                      I rem 80 =:= 0 andalso erlang:disconnect_node(CNode),
                      I rem 25 =:= 0 andalso exit(P, kill),
                      {Name, P, R}
              end, lists:seq(1, 600)).

%% @doc Stopping the application stops its C node and removes the node's
%% names elsewhere; starting it again works.
app_stop_start(_Config) ->
    Peers = swarm_ct:start_nodes(2, "as"),
    [A, B] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    PA = register_idle(A, as_a),
    _PB = register_idle(B, as_b),
    OsPid = swarm_ct:cnode_os_pid(A),
    ok = swarm_ct:rpc(A, application, stop, [swarm]),
    swarm_ct:wait_until(fun() -> os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>&1") =/= "" end, 5000),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [as_a]) =:= undefined end, 5000),
    ok = swarm_ct:start_swarm(Nodes),
    ?assertEqual(yes, swarm_ct:rpc(A, swarm, register_name, [as_a2, PA])),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [as_a2]) =:= PA end, 5000),
    ?assertNotEqual(undefined, swarm_ct:rpc(A, swarm, whereis_name, [as_b])),
    [swarm_ct:stop_node(X) || X <- Peers].

%% ---------------------------------------------------------------------------

%% Registers an idle process on Node under Name; returns its pid.
%% @doc register_name/2 goes straight to the owner's C node (by the ring
%% mirror swarm_ring keeps on every node): no redirect when the mirror is
%% right. With a wrong mirror (every name sent to B's C node), B sends the
%% callers of names it does not own to their own C node. Either way every
%% call gets `yes' and reads its own write, every node ends up with all the
%% names, and register_name/4 starts each process on its owner.
direct_to_owner(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    Redirects = fun() ->
                        lists:sum([proplists:get_value(redirects, swarm_ct:rpc(N, swarm_agent, stats, []))
                                   || N <- Nodes])
                end,
    Run = fun(Tag) ->
                  swarm_ct:rpc(A, erlang, apply, [fun() ->
                      [begin
                           P = spawn(fun() -> receive stop -> ok end end),
                           {swarm:register_name({Tag, I}, P), swarm:whereis_name({Tag, I}) =:= P}
                       end || I <- lists:seq(1, 150)]
                  end, []])
          end,
    R0 = Redirects(),
    ?assertEqual(lists:duplicate(150, {yes, true}), Run(direct)),
    ?assertEqual(R0, Redirects()),
    %% A wrong mirror on A: every name to B's C node.
    changed = swarm_ct:rpc(A, swarm_ring, set, [[B]]),
    ?assertEqual(lists:duplicate(150, {yes, true}), Run(redirected)),
    Owned = length([I || I <- lists:seq(1, 150), swarm_ct:ring_owner(Nodes, {redirected, I}) =:= B]),
    ?assertEqual(150 - Owned, Redirects() - R0),
    %% register_name/4 takes the same way: started on the owner either way.
    R1 = Redirects(),
    Mfa = [{{mfa_direct, I}, swarm_ct:rpc(A, swarm, register_name,
                                         [{mfa_direct, I}, swarm_test_server, start, [I]])}
           || I <- lists:seq(1, 60)],
    ?assertEqual(60, length([ok || {_, {ok, _}} <- Mfa])),
    [?assertEqual(swarm_ct:ring_owner(Nodes, Nm), node(P)) || {Nm, {ok, P}} <- Mfa],
    ?assertEqual(length([x || {Nm, _} <- Mfa, swarm_ct:ring_owner(Nodes, Nm) =/= B]), Redirects() - R1),
    changed = swarm_ct:rpc(A, swarm_ring, set, [Nodes]),
    R2 = Redirects(),
    Mfa2 = [swarm_ct:rpc(A, swarm, register_name, [{mfa_direct2, I}, swarm_test_server, start, [I]])
            || I <- lists:seq(1, 60)],
    ?assertEqual(60, length([ok || {ok, _} <- Mfa2])),
    ?assertEqual(R2, Redirects()),
    Reg = swarm_ct:wait_converged(Nodes, 10000),
    ?assertEqual(300, length([x || {{T, _}, _} <- Reg, T =:= direct orelse T =:= redirected])).

register_idle(Node, Name) ->
    P = swarm_ct:spawn_idle(Node),
    yes = swarm_ct:rpc(Node, swarm, register_name, [Name, P]),
    P.

%% @doc The modules carry EEP-48 doc chunks (written after every compile):
%% code:get_doc/1, and so `h Swarm.register_name` in iex, show the @doc
%% texts, of the Erlang API and of the Elixir facade.
doc_chunks(_Config) ->
    Doc = fun(M, F, A) ->
                  {ok, {docs_v1, _, _, _, _, _, Fs}} = code:get_doc(M),
                  [D] = [D || {{function, F1, A1}, _, _, D, _} <- Fs, F1 =:= F, A1 =:= A],
                  D
          end,
    #{<<"en">> := En} = Doc(swarm, register_name, 2),
    ?assertMatch({match, _}, re:run(io_lib:format("~p", [En]), "cluster-wide")),
    ?assertMatch(#{<<"en">> := _}, Doc('Elixir.Swarm', register_name, 5)),
    ?assertMatch(#{<<"en">> := _}, Doc('Elixir.Swarm.Tracker', handoff, 2)).

%% @doc swarm_confirm: a barrier to a connected node is `ok', one to a node
%% that cannot be reached is `noconnection'; 200 processes asking at once
%% all get `ok' (one round trip serves many).
confirm_barrier(Config) ->
    [A, B | _] = ?config(nodes, Config),
    ?assertEqual(ok, swarm_ct:rpc(A, swarm_confirm, barrier, [B, 5000])),
    ?assertEqual(noconnection, swarm_ct:rpc(A, swarm_confirm, barrier, ['nobody@127.0.0.1', 5000])),
    Results = swarm_ct:rpc(A, ?MODULE, barrier_burst, [B, 200]),
    ?assertEqual(lists:duplicate(200, ok), Results).

%% On a cluster node: N processes ask for a barrier to Node at once.
barrier_burst(Node, N) ->
    Self = self(),
    Ps = [spawn(fun() -> Self ! {self(), swarm_confirm:barrier(Node, 10000)} end) || _ <- lists:seq(1, N)],
    [receive {P, R} -> R after 15000 -> no_answer end || P <- Ps].
