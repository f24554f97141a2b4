%% @doc Placement: register_name/4,5 start processes where Swarm's libring
%% ring puts them, and restart them when their node goes down. Real BEAM
%% nodes (peer) with their real C nodes, on 127.0.0.1.
-module(placement_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, end_per_testcase/2]).
-export([placement_matches_ring/1, already_registered/1, whereis_or_register/1,
         start_errors/1, start_timeout/1, reentrant_start/1, pid_on_other_node/1,
         restart_on_node_down/1, partition_heal/1, partition_resolve/1, handoff_on_join/1,
         handoff_start_fails/1, handoff_retried/1, resolve_state_routes/1,
         restart_after_cnode_restarts/1,
         static_quorum/1,
         bad_config/1,
         blacklist/1]).

suite() -> [{timetrap, {minutes, 5}}].

all() ->
    [{group, cluster3}, restart_on_node_down, partition_heal, partition_resolve, handoff_on_join,
     handoff_start_fails, handoff_retried, resolve_state_routes, restart_after_cnode_restarts,
     static_quorum,
     bad_config, blacklist].

groups() ->
    [{cluster3, [], [placement_matches_ring, already_registered, whereis_or_register,
                     start_errors, start_timeout, reentrant_start, pid_on_other_node]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

init_per_group(cluster3, Config) ->
    Peers = swarm_ct:start_nodes(3, "pl"),
    Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    [{peers, Peers}, {nodes, Nodes} | Config].

end_per_group(cluster3, Config) ->
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

%% ---------------------------------------------------------------------------

%% @doc 1,000 names of many term types, registered from all nodes, each run
%% on the node the libring reference picks.
placement_matches_ring(Config) ->
    Nodes = ?config(nodes, Config),
    Names = [case I rem 5 of
                 0 -> {pl, I};
                 1 -> list_to_atom("pl_atom_" ++ integer_to_list(I));
                 2 -> <<"pl_bin_", (integer_to_binary(I))/binary>>;
                 3 -> I * 7919;
                 4 -> #{pl => I, s => "x"}
             end || I <- lists:seq(1, 1000)],
    Results = [{Name, swarm_ct:rpc(lists:nth(1 + I rem 3, Nodes), swarm, register_name,
                                   [Name, swarm_test_server, start, [Name]])}
               || {I, Name} <- lists:zip(lists:seq(1, 1000), Names)],
    Wrong = [{Name, node(Pid), swarm_ct:ring_owner(Nodes, Name)}
             || {Name, {ok, Pid}} <- Results, node(Pid) =/= swarm_ct:ring_owner(Nodes, Name)],
    ?assertEqual([], Wrong),
    ?assertEqual(1000, length([ok || {_, {ok, _}} <- Results])),
    %% Spread over all three nodes.
    ?assertEqual(lists:sort(Nodes), lists:usort([node(P) || {_, {ok, P}} <- Results])),
    Reg = swarm_ct:wait_converged(Nodes, 10000),
    [?assertEqual({Name, Pid}, lists:keyfind(Name, 1, Reg)) || {Name, {ok, Pid}} <- Results],
    [exit(P, kill) || {_, {ok, P}} <- Results].

%% @doc A taken name gives {error, {already_registered, Pid}}, also for names
%% registered with register_name/2.
already_registered(Config) ->
    [A, B, C] = ?config(nodes, Config),
    {ok, Pid} = swarm_ct:rpc(A, swarm, register_name, [ar1, swarm_test_server, start, [x]]),
    ?assertEqual({error, {already_registered, Pid}},
                 swarm_ct:rpc(B, swarm, register_name, [ar1, swarm_test_server, start, [y]])),
    P2 = swarm_ct:spawn_idle(C),
    yes = swarm_ct:rpc(C, swarm, register_name, [ar2, P2]),
    ?assertEqual({error, {already_registered, P2}},
                 swarm_ct:rpc(A, swarm, register_name, [ar2, swarm_test_server, start, [y]])),
    %% Elixir names.
    ?assertEqual({error, {already_registered, Pid}},
                 swarm_ct:rpc(C, 'Elixir.Swarm', register_name, [ar1, swarm_test_server, start, [y], 5000])),
    exit(Pid, kill), P2 ! stop.

%% @doc whereis_or_register_name returns the running process or starts one;
%% concurrent callers all get the same pid and one process is started.
whereis_or_register(Config) ->
    Nodes = ?config(nodes, Config),
    Self = self(),
    [spawn_link(fun() ->
                        Self ! {wor, swarm_ct:rpc(N, swarm, whereis_or_register_name,
                                                  [wor1, swarm_test_server, start, [N]])}
                end) || N <- Nodes, _ <- lists:seq(1, 5)],
    Rs = [receive {wor, R} -> R end || _ <- lists:seq(1, 15)],
    [{ok, Pid}] = lists:usort(Rs),
    ?assertEqual(swarm_ct:ring_owner(Nodes, wor1), node(Pid)),
    ?assertEqual({ok, Pid}, swarm_ct:rpc(hd(Nodes), 'Elixir.Swarm', whereis_or_register_name,
                                         [wor1, swarm_test_server, start, [z]])),
    exit(Pid, kill).

%% @doc A failing start returns its error to the caller; nothing stays
%% registered; the name can be used afterwards.
start_errors(Config) ->
    [A | _] = Nodes = ?config(nodes, Config),
    ?assertEqual({error, nope}, swarm_ct:rpc(A, swarm, register_name, [se1, swarm_test_server, start_error, [nope]])),
    ?assertEqual({error, {invalid_return, not_a_pid}},
                 swarm_ct:rpc(A, swarm, register_name, [se2, swarm_test_server, start_bad, []])),
    ?assertMatch({error, {error, boom}}, swarm_ct:rpc(A, swarm, register_name, [se3, swarm_test_server, start_crash, []])),
    ?assertMatch({error, {error, undef}}, swarm_ct:rpc(A, swarm, register_name, [se4, no_such_module, start, []])),
    [?assertEqual(undefined, swarm_ct:rpc(N, swarm, whereis_name, [S])) || N <- Nodes, S <- [se1, se2, se3, se4]],
    {ok, P} = swarm_ct:rpc(A, swarm, register_name, [se1, swarm_test_server, start, [ok]]),
    exit(P, kill).

%% @doc A start that hangs: the caller's timeout is honoured, and other
%% registrations and lookups keep working meanwhile.
start_timeout(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    R = swarm_ct:rpc(A, erlang, apply, [fun() ->
        try swarm:register_name(hang1, swarm_test_server, start_hang, [], 300)
        catch exit:E -> {exit, E} end
    end, []]),
    ?assertMatch({exit, {timeout, {swarm, register_name, _}}}, R),
    {ok, P} = swarm_ct:rpc(B, swarm, register_name, [after_hang, swarm_test_server, start, [x]]),
    ?assertEqual(swarm_ct:ring_owner(Nodes, after_hang), node(P)),
    ?assertEqual(undefined, swarm_ct:rpc(A, swarm, whereis_name, [hang1])),
    exit(P, kill).

%% @doc A start whose init calls swarm (register_name/2, whereis_name,
%% register_name/4 of another name) does not deadlock.
reentrant_start(Config) ->
    [A, B, _] = ?config(nodes, Config),
    {ok, P} = swarm_ct:rpc(A, swarm, register_name, [{reentrant, 1}, swarm_test_server, start_reentrant, [1]]),
    swarm_ct:wait_until(fun() ->
        swarm_ct:rpc(B, swarm, whereis_name, [{reentrant, 1}]) =:= P andalso
            swarm_ct:rpc(B, swarm, whereis_name, [{reentrant_alias, 1}]) =:= P andalso
            is_pid(swarm_ct:rpc(B, swarm, whereis_name, [{reentrant_child, 1}]))
    end, 5000),
    exit(P, kill).

%% @doc An MFA may return a pid living on another node; it is registered
%% under that node.
pid_on_other_node(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    Owner = swarm_ct:ring_owner(Nodes, elsewhere1),
    Target = hd(Nodes -- [Owner]),
    {ok, P} = swarm_ct:rpc(A, swarm, register_name, [elsewhere1, swarm_test_server, start_elsewhere, [Target]]),
    ?assertEqual(Target, node(P)),
    swarm_ct:wait_until(fun() -> [swarm_ct:rpc(N, swarm, whereis_name, [elsewhere1]) || N <- [A, B, C]]
                                     =:= [P, P, P] end, 5000),
    P ! stop,
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [elsewhere1]) =:= undefined end, 5000).

%% ---------------------------------------------------------------------------

%% @doc When a node stops, each MFA name that lived there is started again,
%% exactly once, on its new owner; register_name/2 names of that node go.
restart_on_node_down(_Config) ->
    Peers = swarm_ct:start_nodes(4, "rd"),
    Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    Names = [{rd, I} || I <- lists:seq(1, 400)],
    Started = [{Name, swarm_ct:rpc(lists:nth(1 + erlang:phash2(Name, 4), Nodes), swarm, register_name,
                                   [Name, swarm_test_server, start, [Name]])} || Name <- Names],
    [{ok, _} = R || {_, R} <- Started],
    [Victim | _] = [N || N <- Nodes, lists:any(fun({_, {ok, P}}) -> node(P) =:= N end, Started)],
    Plain = swarm_ct:spawn_idle(Victim),
    yes = swarm_ct:rpc(Victim, swarm, register_name, [rd_plain, Plain]),
    _ = swarm_ct:wait_converged(Nodes, 10000),
    Moved = [Name || {Name, {ok, P}} <- Started, node(P) =:= Victim],
    ?assert(length(Moved) > 50),
    swarm_ct:stop_node(lists:keyfind(Victim, 2, Peers)),
    Survivors = Nodes -- [Victim],
    Reg = swarm_ct:wait_converged(Survivors, 15000),
    swarm_ct:wait_until(fun() -> length(swarm_ct:registry(hd(Survivors))) =:= length(Names) end, 15000),
    Reg2 = swarm_ct:wait_converged(Survivors, 15000),
    _ = Reg,
    ?assertEqual(false, lists:keymember(rd_plain, 1, Reg2)),
    [begin
         {Name, P} = lists:keyfind(Name, 1, Reg2),
         ?assertEqual(swarm_ct:ring_owner(Survivors, Name), node(P)),
         ?assert(swarm_ct:rpc(node(P), erlang, is_process_alive, [P]))
     end || Name <- Moved],
    %% Exactly once: no stray started processes of swarm_test_server beyond
    %% the registered ones.
    Running = lists:append([swarm_ct:rpc(N, erlang, apply, [fun() ->
        [P || P <- processes(),
              {'$initial_call', {swarm_test_server, init, 1}} =:=
                  lists:keyfind('$initial_call', 1, element(2, process_info(P, dictionary)))]
    end, []]) || N <- Survivors]),
    ?assertEqual(length(Names), length(Running)),
    [swarm_ct:stop_node(P) || P <- Peers, element(2, P) =/= Victim].

%% @doc A partition between two BEAM nodes A and B (both still see C): A
%% takes B for down and restarts B's register_name/4 process that it owns
%% without B, while the original runs on. Two processes hold one name while
%% the views differ; C, which sees both, settles on one (the larger stamp),
%% and the loser's home sends the loser {swarm, die}: it exits. Once the
%% partition heals, every node lists the one survivor, for the name and in
%% the groups the original had joined (the restart rejoined them).
partition_heal(_Config) ->
    %% OTP 25's global would cut C off too (overlapping partitions).
    Peers = swarm_ct:start_nodes(3, "ph", ["-kernel", "prevent_overlapping_partitions", "false"]),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    %% A name whose process runs on B, and that A owns once B is gone.
    [Name | _] = [{ph, I} || I <- lists:seq(1, 10000),
                             swarm_ct:ring_owner(Nodes, {ph, I}) =:= B,
                             swarm_ct:ring_owner([A, C], {ph, I}) =:= A],
    {ok, W} = swarm_ct:rpc(C, swarm, register_name, [Name, swarm_test_server, start, [x]]),
    ?assertEqual(B, node(W)),
    ok = swarm_ct:rpc(B, swarm, join, [ph_group, W]),
    wait_whereis(Nodes, Name, fun(P) -> P =:= W end),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> swarm_ct:rpc(N, swarm, members, [ph_group]) =:= [W] end, Nodes)
    end, 10000),
    Cookie = cut(A, B),
    %% A restarts the name on A; C sees both processes and settles: one of
    %% them is told to die and exits.
    W2 = wait_replaced(A, Name, W),
    ?assertEqual(A, node(W2)),
    Alive = fun() -> [P || P <- [W, W2], swarm_ct:rpc(node(P), erlang, is_process_alive, [P])] end,
    swarm_ct:wait_until(fun() -> length(Alive()) =:= 1 end, 15000),
    heal(A, B, Cookie),
    [Winner] = Alive(),
    wait_whereis(Nodes, Name, fun(P) -> P =:= Winner end),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> swarm_ct:rpc(N, swarm, members, [ph_group]) =:= [Winner] end, Nodes)
    end, 15000),
    %% One process was told to die, once, by its home.
    swarm_ct:wait_until(fun() ->
        lists:sum([proplists:get_value(told_to_die, swarm_ct:rpc(N, swarm_agent, stats, []))
                   || N <- Nodes]) =:= 1
    end, 5000),
    ?assertEqual([Winner], Alive()),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc Swarm's conflict resolution when a partition heals, on two nodes:
%% each side takes the other for down, so B's register_name/4 process is
%% restarted on A while the original runs on. When they meet again the
%% larger stamp wins everywhere; the loser is asked {swarm, begin_handoff},
%% its {resume, State} reaches the winner as {swarm, resolve_conflict,
%% State}, and the loser is sent {swarm, die}.
partition_resolve(_Config) ->
    Peers = swarm_ct:start_nodes(2, "pr", ["-kernel", "prevent_overlapping_partitions", "false"]),
    [A, B] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    [Name | _] = [{pr, I} || I <- lists:seq(1, 10000), swarm_ct:ring_owner(Nodes, {pr, I}) =:= B],
    {ok, W} = swarm_ct:rpc(A, swarm, register_name, [Name, swarm_test_server, start, [{handoff, resume, pr}]]),
    ?assertEqual(B, node(W)),
    wait_whereis(Nodes, Name, fun(P) -> P =:= W end),
    Cookie = cut(A, B),
    W2 = wait_replaced(A, Name, W),
    ?assert(swarm_ct:rpc(B, erlang, is_process_alive, [W])),
    heal(A, B, Cookie),
    Alive = fun() -> [P || P <- [W, W2], swarm_ct:rpc(node(P), erlang, is_process_alive, [P])] end,
    swarm_ct:wait_until(fun() -> length(Alive()) =:= 1 end, 15000),
    [Winner] = Alive(),
    [Loser] = [W, W2] -- [Winner],
    wait_whereis(Nodes, Name, fun(P) -> P =:= Winner end),
    %% (The cast and the die come from one helper, but our call is not
    %% ordered with them: wait for the cast.)
    swarm_ct:wait_until(fun() ->
        swarm_ct:rpc(node(Winner), gen_server, call, [Winner, resolved]) =:= {state_of, pr, Loser}
    end, 10000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc The MFA of a register_name/4 process survives its C node's restart
%% (the agent keeps it and hands it to the new C node), so after every C
%% node was killed and restarted, one after the other, the processes of a
%% node that then stops are still restarted on the survivors, once each.
restart_after_cnode_restarts(_Config) ->
    Peers = swarm_ct:start_nodes(3, "rc"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    OnB = [{rc, I} || I <- lists:seq(1, 400), swarm_ct:ring_owner(Nodes, {rc, I}) =:= B],
    [{ok, _} = swarm_ct:rpc(A, swarm, register_name, [Nm, swarm_test_server, start, [Nm]]) || Nm <- OnB],
    ?assert(length(OnB) > 50),
    _ = swarm_ct:wait_converged(Nodes, 10000),
    [begin
         ok = swarm_ct:kill_cnode(N),
         swarm_ct:wait_peers(Nodes),
         _ = swarm_ct:wait_converged(Nodes, 15000)
     end || N <- [B, A, C]],
    swarm_ct:stop_node(lists:keyfind(B, 2, Peers)),
    Survivors = [A, C],
    swarm_ct:wait_until(fun() ->
        Reg = swarm_ct:registry(A),
        lists:all(fun(Nm) -> case lists:keyfind(Nm, 1, Reg) of
                                 {_, P} -> lists:member(node(P), Survivors);
                                 false -> false
                             end
                  end, OnB)
    end, 15000),
    Reg = swarm_ct:wait_converged(Survivors, 15000),
    [?assertEqual(swarm_ct:ring_owner(Survivors, Nm), node(element(2, lists:keyfind(Nm, 1, Reg))))
     || Nm <- OnB],
    [swarm_ct:stop_node(P) || P <- Peers, element(2, P) =/= B].

%% @doc A handoff whose start fails at the new owner (every time it is
%% tried): the process keeps its name where it runs (not told to die), its
%% home counts the failure, and every node agrees on the old pids.
handoff_start_fails(_Config) ->
    {Peers, Nodes, Before, _ToC} =
        failing_handoffs("hf", fun(C, Nm) -> {start_unless_on, [C, {handoff, restart, Nm}]} end),
    Reg = swarm_ct:wait_converged(Nodes, 15000),
    ?assertEqual(lists:sort(Before), lists:sort([E || {{hf, _}, _} = E <- Reg])),
    ?assert(lists:all(fun({_, P}) -> swarm_ct:rpc(node(P), erlang, is_process_alive, [P]) end, Before)),
    ?assertEqual(0, lists:sum([proplists:get_value(told_to_die, swarm_ct:rpc(N, swarm_agent, stats, []))
                               || N <- Nodes])),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc A handoff whose start fails at the new owner only for a while (its
%% application starts after swarm, as on a node that joins) is tried again:
%% once the new owner can start the process, each name the ring gives it
%% runs there, with its state, and no process runs twice.
handoff_retried(_Config) ->
    {Peers, [A, _, C] = Nodes, Before, ToC} =
        failing_handoffs("hr", fun(_, Nm) -> {start_when_ready, [{handoff, resume, Nm}]} end),
    ok = swarm_ct:rpc(C, application, set_env, [kernel, swarm_test_ready, true]),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(Nm) ->
                      case swarm_ct:rpc(A, swarm, whereis_name, [Nm]) of
                          P when is_pid(P) -> node(P) =:= C;
                          _ -> false
                      end
                  end, ToC)
    end, 20000),
    Reg = swarm_ct:wait_converged(Nodes, 15000),
    ?assertEqual(90, length([E || {{hf, _}, _} = E <- Reg])),
    %% The old processes were told to go, the new ones got their state.
    swarm_ct:wait_until(fun() ->
        not lists:any(fun({Nm, P0}) -> lists:member(Nm, ToC) andalso
                                           swarm_ct:rpc(node(P0), erlang, is_process_alive, [P0])
                      end, Before)
    end, 5000),
    Moved = [{Nm, P0} || {Nm, P0} <- Before, lists:member(Nm, ToC)],
    swarm_ct:wait_until(fun() ->
        lists:all(fun({Nm, P0}) ->
                      gen_server:call(swarm_ct:rpc(A, swarm, whereis_name, [Nm]), handed_off) =:= {state_of, Nm, P0}
                  end, Moved)
    end, 5000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% Three nodes; 90 names {hf, I} registered on the first two with
%% swarm_test_server:Fun(Args) (`Mfa(C, Name)' gives {Fun, Args}, C the
%% third node), whose env swarm_test_ready is true there; then swarm on the
%% third, C: waits until each handoff to C has failed once.
failing_handoffs(Tag, Mfa) ->
    Peers = swarm_ct:start_nodes(3, Tag),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [kernel, swarm_test_ready, true]) || N <- [A, B]],
    ok = swarm_ct:start_swarm([A, B]),
    Names = [{hf, I} || I <- lists:seq(1, 90)],
    Before = [{Nm, P} || Nm <- Names,
                         {F, Args} <- [Mfa(C, Nm)],
                         {ok, P} <- [swarm_ct:rpc(A, swarm, register_name, [Nm, swarm_test_server, F, Args])]],
    ?assertEqual(90, length(Before)),
    ok = swarm_ct:start_swarm(Nodes),
    ToC = [Nm || Nm <- Names, swarm_ct:ring_owner(Nodes, Nm) =:= C],
    ?assert(length(ToC) > 10),
    Failed = fun() -> lists:sum([proplists:get_value(handoffs_failed, swarm_ct:rpc(N, swarm_agent, stats, []))
                                 || N <- [A, B]]) end,
    %% (At least: a membership flap while C comes up may ask some twice.)
    swarm_ct:wait_until(fun() -> Failed() >= length(ToC) end, 20000),
    {Peers, Nodes, Before, ToC}.

%% @doc A node joins: each register_name/4 process that the ring now places
%% on it is asked {swarm, begin_handoff}: `restart' and `{resume, State}'
%% move it there (the old process is sent {swarm, die} and exits; a resumed
%% one is cast {swarm, end_handoff, State}), `ignore' keeps it where it is;
%% the other names stay. Every node agrees on every name, each name has one
%% process, and a moved process is in its predecessor's groups.
handoff_on_join(_Config) ->
    Peers = swarm_ct:start_nodes(3, "ho"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm([A, B]),
    Mode = fun({ho, I}) -> lists:nth(1 + I rem 3, [restart, resume, ignore]) end,
    Names = [{ho, I} || I <- lists:seq(1, 150)],
    Before = [{Nm, P} || Nm <- Names,
                         {ok, P} <- [swarm_ct:rpc(A, swarm, register_name,
                                                  [Nm, swarm_test_server, start, [{handoff, Mode(Nm), Nm}]])]],
    ?assertEqual(150, length(Before)),
    [ok = swarm_ct:rpc(node(P), swarm, join, [ho_group, P]) || {_, P} <- Before],
    ok = swarm_ct:start_swarm(Nodes),
    Moving = [Nm || {Nm, _} <- Before, swarm_ct:ring_owner(Nodes, Nm) =:= C, Mode(Nm) =/= ignore],
    Staying = [Nm || {Nm, _} <- Before, not lists:member(Nm, Moving)],
    ?assert(length(Moving) > 10),
    ?assert(length([Nm || Nm <- Staying, swarm_ct:ring_owner(Nodes, Nm) =:= C]) > 5),
    %% Every moved name runs on C, seen so by every node.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) ->
                          Reg = swarm_ct:registry(N),
                          lists:all(fun(Nm) ->
                                            case lists:keyfind(Nm, 1, Reg) of
                                                {_, P} -> node(P) =:= C;
                                                false -> false
                                            end
                                    end, Moving)
                  end, Nodes)
    end, 20000),
    Reg = swarm_ct:wait_converged(Nodes, 15000),
    ?assertEqual(lists:sort(Names), lists:sort([Nm || {{ho, _} = Nm, _} <- Reg])),
    [begin
         {Nm, Old} = lists:keyfind(Nm, 1, Before),
         {Nm, New} = lists:keyfind(Nm, 1, Reg),
         case lists:member(Nm, Moving) of
             true ->
                 %% The old one was told to die; a resumed one got its state.
                 swarm_ct:wait_until(fun() ->
                     not swarm_ct:rpc(node(Old), erlang, is_process_alive, [Old])
                 end, 10000),
                 Expected = case Mode(Nm) of
                                resume -> {state_of, Nm, Old};
                                restart -> none
                            end,
                 swarm_ct:wait_until(fun() ->
                     swarm_ct:rpc(C, gen_server, call, [New, handed_off]) =:= Expected
                 end, 10000);
             false ->
                 ?assertEqual(Old, New)
         end
     end || Nm <- Names],
    %% One process per name, and the moved ones are in the group instead of
    %% their predecessors.
    Running = lists:append([swarm_ct:rpc(N, erlang, apply, [fun() ->
        [P || P <- processes(),
              {'$initial_call', {swarm_test_server, init, 1}} =:=
                  lists:keyfind('$initial_call', 1, element(2, process_info(P, dictionary)))]
    end, []]) || N <- Nodes]),
    ?assertEqual(150, length(Running)),
    Current = lists:sort([P || {{ho, _}, P} <- Reg]),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> lists:sort(swarm_ct:rpc(N, swarm, members, [ho_group])) =:= Current end, Nodes)
    end, 10000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% Cuts A from B: A's cookie for B is made wrong, so neither side can
%% reconnect. Returns A's cookie, for heal/3.
cut(A, B) ->
    Cookie = swarm_ct:rpc(A, erlang, get_cookie, []),
    true = swarm_ct:rpc(A, erlang, set_cookie, [B, partition_cut]),
    true = swarm_ct:rpc(A, erlang, disconnect_node, [B]),
    Cookie.

heal(A, B, Cookie) ->
    true = swarm_ct:rpc(A, erlang, set_cookie, [B, Cookie]),
    true = swarm_ct:rpc(A, net_kernel, connect_node, [B]).

%% Waits until Node's registry names another pid than Old for Name; returns it.
wait_replaced(Node, Name, Old) ->
    Self = self(),
    swarm_ct:wait_until(fun() ->
        case swarm_ct:rpc(Node, swarm, whereis_name, [Name]) of
            New when is_pid(New), New =/= Old -> Self ! {replaced, Name, New}, true;
            _ -> false
        end
    end, 15000),
    receive {replaced, Name, New} -> New end.

wait_whereis(Nodes, Name, Pred) ->
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> Pred(swarm_ct:rpc(N, swarm, whereis_name, [Name])) end, Nodes)
    end, 15000).

%% @doc StaticQuorumRing: below its size register_name/4 answers
%% no_node_available; once enough nodes run swarm, it works.
static_quorum(_Config) ->
    Peers = swarm_ct:start_nodes(3, "sq"),
    [A, B, C] = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
     || N <- [A, B, C], {K, V} <- [{distribution_strategy, 'Elixir.Swarm.Distribution.StaticQuorumRing'},
                                   {static_quorum_size, "3"}]],
    ok = swarm_ct:start_swarm([A, B]),
    ?assertEqual({error, no_node_available},
                 swarm_ct:rpc(A, swarm, register_name, [sq1, swarm_test_server, start, [x]])),
    ok = swarm_ct:start_swarm([A, B, C]),
    swarm_ct:wait_until(fun() ->
        case swarm_ct:rpc(A, swarm, register_name, [sq1, swarm_test_server, start, [x]]) of
            {ok, _} -> true;
            Other -> Other
        end
    end, 10000),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc A bad static_quorum_size, strategy or groups_members_cache is a clear
%% error at start.
bad_config(_Config) ->
    [{_, A} = Peer] = swarm_ct:start_nodes(1, "bc"),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, distribution_strategy, static_quorum_ring]),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, static_quorum_size, "three"]),
    ?assertMatch({error, {swarm, {bad_config, static_quorum_size, "three"}}},
                 strip_start_error(swarm_ct:rpc(A, application, ensure_all_started, [swarm]))),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, distribution_strategy, 'Elixir.NoSuchStrategy']),
    ?assertMatch({error, {swarm, {bad_config, distribution_strategy, 'Elixir.NoSuchStrategy'}}},
                 strip_start_error(swarm_ct:rpc(A, application, ensure_all_started, [swarm]))),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, distribution_strategy, ring]),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, groups_members_cache, maybe]),
    ?assertMatch({error, {swarm, {bad_config, groups_members_cache, maybe}}},
                 strip_start_error(swarm_ct:rpc(A, application, ensure_all_started, [swarm]))),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, groups_members_cache, true]),
    %% Every other setting is checked too: each bad value alone, then all
    %% good (Swarm's debug, sync_nodes_timeout and anti_entropy_interval
    %% are accepted).
    Bad = [{call_timeout, -1}, {cnode_log, verbose}, {debug, yes}, {handoff_timeout, 0},
           {restart, sometimes}, {restart_intensity, -1}, {restart_period, 0},
           {handoff_on_stop, no}, {sync_nodes_timeout, soon}, {direct_to_owner, 1}],
    [begin
         ok = swarm_ct:rpc(A, application, set_env, [swarm, K, V]),
         ?assertMatch({error, {swarm, {bad_config, K, V}}},
                      strip_start_error(swarm_ct:rpc(A, application, ensure_all_started, [swarm]))),
         ok = swarm_ct:rpc(A, application, unset_env, [swarm, K])
     end || {K, V} <- Bad],
    [ok = swarm_ct:rpc(A, application, set_env, [swarm, K, V])
     || {K, V} <- [{debug, false}, {sync_nodes_timeout, 60000}, {anti_entropy_interval, 300000}]],
    ?assertMatch({ok, _}, swarm_ct:rpc(A, application, ensure_all_started, [swarm])),
    swarm_ct:stop_node(Peer).

strip_start_error({error, {swarm, {{bad_config, _, _} = E, _}}}) -> {error, {swarm, E}};
strip_start_error({error, {swarm, {bad_return, {_, {error, E}}}}}) -> {error, {swarm, E}};
strip_start_error(Other) -> Other.

%% @doc A blacklisted node is left out of the ring: nothing is placed on it.
blacklist(_Config) ->
    Peers = swarm_ct:start_nodes(3, "bl"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [Alive, _] = string:split(atom_to_list(C), "@"),
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, node_blacklist, ["^" ++ Alive ++ "@.*$"]]) || N <- Nodes],
    ok = swarm_ct:start_swarm([A, B]),
    {ok, _} = swarm_ct:rpc(C, application, ensure_all_started, [swarm]),
    Rs = [swarm_ct:rpc(A, swarm, register_name, [{bl, I}, swarm_test_server, start, [I]]) || I <- lists:seq(1, 100)],
    ?assertEqual([], [P || {ok, P} <- Rs, node(P) =:= C]),
    [?assertEqual(swarm_ct:ring_owner([A, B], {bl, I}), node(P)) || {I, {ok, P}} <- lists:zip(lists:seq(1, 100), Rs)],
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc A conflict loser's state ({resolve_state, ...} from its helper to
%% the winner's node's swarm_confirm, here sent by the test as a helper
%% would) reaches the process that holds the winner's name: the winner itself when it stays;
%% while the winner is being asked {swarm, begin_handoff} (slowly here),
%% the process that takes its name, after its end_handoff, and not the
%% winner (whose state the handoff has taken already); after the handoff,
%% the new process too (the old home forwards it).
resolve_state_routes(_Config) ->
    Peers = swarm_ct:start_nodes(3, "rs"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm([A, B]),
    Names = [{rs, I} || I <- lists:seq(1, 40)],
    Pids = maps:from_list(
             [{Nm, P} || Nm <- Names,
                         {ok, P} <- [swarm_ct:rpc(A, swarm, register_name,
                                                  [Nm, swarm_test_server, start, [{handoff, slow_resume, Nm, 1500}]])]]),
    ?assertEqual(40, maps:size(Pids)),
    Send = fun(Nm, W, Tag) ->
                   Msg = {'$sw1', resolve_state, term_to_binary(Nm), W, term_to_binary({state_of, Nm, Tag})},
                   swarm_ct:rpc(node(W), erlang, send, [swarm_confirm, Msg])
           end,
    Resolved = fun(Nm) -> gen_server:call(swarm_ct:rpc(A, swarm, whereis_name, [Nm]), resolved) end,
    ToC = [Nm || Nm <- Names, swarm_ct:ring_owner(Nodes, Nm) =:= C],
    [Stay | _] = Names -- ToC,
    [During, After | _] = ToC,
    %% The winner stays: it gets the state.
    Send(Stay, maps:get(Stay, Pids), fake_stay),
    swarm_ct:wait_until(fun() -> Resolved(Stay) =:= {state_of, Stay, fake_stay} end, 5000),
    %% C joins: the names it owns are handed off, each old process asked
    %% slowly; once they are being asked, a state for one of them.
    Asked = fun() -> lists:sum([proplists:get_value(handoffs, swarm_ct:rpc(N, swarm_agent, stats, []))
                                || N <- [A, B]]) end,
    H0 = Asked(),
    ok = swarm_ct:start_swarm(Nodes),
    swarm_ct:wait_until(fun() -> Asked() - H0 >= length(ToC) end, 10000),
    Old = maps:get(During, Pids),
    Send(During, Old, fake_during),
    Moved = fun(Nm) -> case swarm_ct:rpc(A, swarm, whereis_name, [Nm]) of
                           P when is_pid(P) -> node(P) =:= C;
                           _ -> false
                       end
            end,
    swarm_ct:wait_until(fun() -> lists:all(Moved, ToC) end, 20000),
    New = swarm_ct:rpc(A, swarm, whereis_name, [During]),
    swarm_ct:wait_until(fun() -> gen_server:call(New, resolved) =:= {state_of, During, fake_during} end, 5000),
    ?assertEqual({state_of, During, Old}, gen_server:call(New, handed_off)),
    %% After the handoff: sent to the old pid's node, it follows the name.
    Send(After, maps:get(After, Pids), fake_after),
    NewAfter = swarm_ct:rpc(A, swarm, whereis_name, [After]),
    swarm_ct:wait_until(fun() -> gen_server:call(NewAfter, resolved) =:= {state_of, After, fake_after} end, 5000),
    [swarm_ct:stop_node(P) || P <- Peers].
