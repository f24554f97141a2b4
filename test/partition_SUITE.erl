%% @doc What swarm promises when the network partitions and heals, on real
%% partitions: three BEAM nodes (each with its C node) in network
%% namespaces of their own (swarm_netns), links cut with blackhole routes,
%% so ticks time out and connects hang as on a broken network.
%%
%% The nodes run with net_ticktime 2 (a cut link is seen in ~2 s; the C
%% nodes tick at the same pace) and without OTP's overlapping-partition
%% prevention. The test drives them over stdio (peer:call), with no
%% distribution link of its own to them. Heal = routes removed, then the
%% nodes connect again (as a cluster manager such as libcluster would).
%%
%% Workers are swarm_test_server instances started by register_name/4
%% with {handoff, resume, Name}: asked {swarm, begin_handoff}, they answer
%% {resume, {state_of, Name, self()}}; their log (swarm_test_server:log/0)
%% tells which process was started for which name, which got
%% {swarm, resolve_conflict, State} and which got {swarm, die}.
%%
%% Needs root (network namespaces); skipped otherwise.
-module(partition_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2,
         end_per_testcase/2]).
-export([ring_split_heal/1, ring_overlap_heal/1, quorum_split_heal/1, repeated_split_heal/1]).
%% Run on the cluster's nodes.
-export([live_copies/0, spawn_idle/0]).

%% Every node agrees on one pid per name within this many ms of the
%% moment all nodes see each other again.
-define(HEAL_MS, 1000).
-define(NODE_ARGS, ["-kernel", "net_ticktime", "2",
                    "-kernel", "prevent_overlapping_partitions", "false",
                    "-swarm", "cnode_log", "warning"]).
-define(NMFA, 30).
%% The registry is settled after a heal when it did not change for this
%% long (handoffs to a node that comes back start 1-1.5 s after the ring
%% grows).
-define(SETTLE_MS, 2500).

suite() ->
    [{timetrap, {seconds, 120}}].

all() ->
    [ring_split_heal, ring_overlap_heal, quorum_split_heal, repeated_split_heal].

init_per_suite(Config) ->
    case swarm_netns:available() of
        ok -> Config;
        {error, Why} -> {skip, "network namespaces not available: " ++ Why}
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Net = swarm_netns:setup(3),
    try
        Peers = [swarm_netns:start_node(Net, I, ?NODE_ARGS) || I <- [1, 2, 3]],
        [ok = swarm_netns:call(P, swarm_test_server, log_open, []) || P <- Peers],
        [ok = swarm_netns:call(P, swarm_netns, watch_nodes, []) || P <- Peers],
        [{net, Net}, {peers, Peers} | Config]
    catch C:E:St ->
        swarm_netns:teardown(Net),
        erlang:raise(C, E, St)
    end.

end_per_testcase(_Case, Config) ->
    [swarm_netns:stop_node(P) || P <- ?config(peers, Config)],
    swarm_netns:teardown(?config(net, Config)).

%% ---------------------------------------------------------------------------

%% @doc Ring, split {A,B} | {C}. During the split each side runs a copy of
%% every register_name/4 name whose process lived on the other side, and
%% each side's lookups answer its own copy; names registered on either
%% side during the split are kept after the heal. Within ?HEAL_MS of the
%% nodes seeing each other again every node agrees on one pid per name;
%% for each conflict the survivor got the loser's state as
%% {swarm, resolve_conflict, State} and the loser got {swarm, die} and
%% stopped; exactly one process runs per name.
ring_split_heal(Config) ->
    Net = ?config(net, Config),
    Peers = [PA, _PB, PC] = ?config(peers, Config),
    [A, B, C] = Nodes = swarm_netns:nodes_of(Peers),
    {Mfa, Plain, Before} = populate(PA, Peers),
    OnC = [Nm || Nm <- Mfa, node(pid_of(Nm, Before)) =:= C],
    ?assert(OnC =/= [] andalso OnC =/= Mfa),

    ok = swarm_netns:cut(Net, [1, 2], [3]),
    wait_split(Peers, [{A, [B]}, {B, [A]}, {C, []}]),
    %% Each side runs every name, on its own side; a name that lived there
    %% is still the same process.
    wait_sides(Peers, Mfa, [{[A, B], Before}, {[C], Before}]),
    %% Plain names of the other side's processes are gone.
    PlainOnC = [{N, P} || {N, P} <- Plain, node(P) =:= C],
    wait_until(fun() -> [N || {N, _} <- PlainOnC, whereis(PA, N) =/= undefined] =:= [] end, 5000),
    %% Registrations on both sides during the split: new names on each
    %% side, and names registered on both (conflicts).
    NewAB = [{split_ab, I} || I <- lists:seq(1, 5)],
    NewC = [{split_c, I} || I <- lists:seq(1, 5)],
    Dups = [{dup, I} || I <- lists:seq(1, 5)],
    [{ok, _} = register_mfa(PA, Nm) || Nm <- NewAB ++ Dups],
    [{ok, _} = register_mfa(PC, Nm) || Nm <- NewC ++ Dups],
    PlainSplit = register_plain(Peers, during, 2),
    Split = lists:usort(registry(PA) ++ registry(PC)),

    heal_and_check(Net, Peers, Nodes, Mfa ++ NewAB ++ NewC ++ Dups, names(Plain ++ PlainSplit)),
    Final = registry(PA),
    %% What was registered without conflict is kept: with its process, or
    %% the one it was handed off to (the name's owner).
    kept(Peers, NewAB ++ NewC, Split, Final),
    [?assertEqual(P, pid_of(N, Final)) || {N, P} <- Plain ++ PlainSplit].

%% Starts swarm (Ring) and registers ?NMFA register_name/4 names from PA
%% and 5 plain names per node; returns them with the converged registry.
populate(PA, Peers) ->
    start_swarm(Peers, []),
    Mfa = [{mfa, I} || I <- lists:seq(1, ?NMFA)],
    [{ok, _} = register_mfa(PA, Nm) || Nm <- Mfa],
    Plain = register_plain(Peers, before, 5),
    {Mfa, Plain, converged(Peers, Mfa ++ names(Plain), 10000)}.

%% @doc Ring, A and B cut apart, both still see C: A restarts the names of
%% B that it owns without B, and B those of A; C sees both copies. After
%% the heal, the same checks as ring_split_heal.
ring_overlap_heal(Config) ->
    Net = ?config(net, Config),
    Peers = [PA, PB, _PC] = ?config(peers, Config),
    [A, B, C] = Nodes = swarm_netns:nodes_of(Peers),
    {Mfa, Plain, Before} = populate(PA, Peers),
    %% Names that lived on B and that A owns without B, and the reverse:
    %% each is restarted on the other side of the cut.
    ToA = [Nm || Nm <- Mfa, node(pid_of(Nm, Before)) =:= B, owner([A, C], Nm) =:= A],
    ToB = [Nm || Nm <- Mfa, node(pid_of(Nm, Before)) =:= A, owner([B, C], Nm) =:= B],
    ?assert(ToA =/= [] andalso ToB =/= []),

    ok = swarm_netns:cut(Net, [1], [2]),
    wait_split(Peers, [{A, [C]}, {B, [C]}, {C, [A, B]}]),
    %% A and B each run a copy of the other's names they own now.
    wait_until(fun() ->
                       lists:all(fun({P, Nm, N}) ->
                                         Pid = whereis(P, Nm),
                                         is_pid(Pid) andalso node(Pid) =:= N
                                 end, [{PA, Nm, A} || Nm <- ToA] ++ [{PB, Nm, B} || Nm <- ToB])
               end, 10000),
    NewA = [{split_a, I} || I <- lists:seq(1, 5)],
    NewB = [{split_b, I} || I <- lists:seq(1, 5)],
    [{ok, _} = register_mfa(PA, Nm) || Nm <- NewA],
    [{ok, _} = register_mfa(PB, Nm) || Nm <- NewB],
    Split = lists:usort(registry(PA) ++ registry(PB)),

    heal_and_check(Net, Peers, Nodes, Mfa ++ NewA ++ NewB, names(Plain)),
    Final = registry(PA),
    kept(Peers, NewA ++ NewB, Split, Final),
    [?assertEqual(P, pid_of(N, Final)) || {N, P} <- Plain],
    %% The restarted copies were really started (two processes per name
    %% existed).
    Copies = copies(logs(Peers)),
    [?assert(length(maps:get(Nm, Copies)) >= 2) || Nm <- ToA ++ ToB].

%% @doc StaticQuorumRing (quorum 2), split {A,B} | {C}: only {A,B} runs
%% the names. C, below the quorum, sends {swarm, die} to its own
%% register_name/4 processes and drops their names, and answers
%% {error, no_node_available} to register_name/4; A and B restart C's
%% names. After the heal: exactly one process per name, none ran twice
%% at the end.
quorum_split_heal(Config) ->
    Net = ?config(net, Config),
    Peers = [PA, _PB, PC] = ?config(peers, Config),
    [A, B, C] = Nodes = swarm_netns:nodes_of(Peers),
    start_swarm(Peers, [{distribution_strategy, static_quorum_ring}, {static_quorum_size, 2}]),
    Mfa = [{mfa, I} || I <- lists:seq(1, ?NMFA)],
    [{ok, _} = register_mfa(PA, Nm) || Nm <- Mfa],
    Before = converged(Peers, Mfa, 10000),
    OnC = [{Nm, P} || Nm <- Mfa, P <- [pid_of(Nm, Before)], node(P) =:= C],
    ?assert(OnC =/= []),

    ok = swarm_netns:cut(Net, [1, 2], [3]),
    wait_split(Peers, [{A, [B]}, {B, [A]}, {C, []}]),
    %% {A,B} runs every name on its side.
    wait_until(fun() ->
                       lists:all(fun(Nm) ->
                                         Pa = whereis(PA, Nm),
                                         is_pid(Pa) andalso lists:member(node(Pa), [A, B])
                                 end, Mfa)
               end, 10000),
    %% C told its own processes to die, and lists none of the names.
    wait_until(fun() ->
                       Log = swarm_netns:call(PC, swarm_test_server, log, []),
                       Died = [P || {P, die} <- Log],
                       NotTold = [P || {_, P} <- OnC] -- Died,
                       Listed = [Nm || Nm <- Mfa, whereis(PC, Nm) =/= undefined],
                       {NotTold, Listed} =:= {[], []} orelse
                           {below_quorum, #{not_told_to_die => NotTold, still_listed => Listed}}
               end, 10000),
    [?assertNot(swarm_netns:call(PC, erlang, is_process_alive, [P])) || {_, P} <- OnC],
    ?assertEqual({error, no_node_available}, register_mfa(PC, {below_quorum, 1})),

    %% C's processes ended below the quorum: no conflict left for them.
    %% (The heal time is reported, not bounded: C joins with no name.)
    heal_and_check(Net, Peers, Nodes, Mfa, [], settled(Peers), infinity).

%% @doc Three rounds of split and heal on the ring, a different node cut
%% off each round: every round, within ?HEAL_MS of the reconnection every
%% node agrees on one pid per name, and one process runs per name.
repeated_split_heal(Config) ->
    Net = ?config(net, Config),
    Peers = [PA | _] = ?config(peers, Config),
    Nodes = swarm_netns:nodes_of(Peers),
    start_swarm(Peers, []),
    Mfa = [{mfa, I} || I <- lists:seq(1, ?NMFA)],
    [{ok, _} = register_mfa(PA, Nm) || Nm <- Mfa],
    _ = converged(Peers, Mfa, 10000),
    Times = [begin
                 Alone = lists:nth(I, Nodes),
                 Rest = Nodes -- [Alone],
                 Settled = settled(Peers),
                 ok = swarm_netns:cut(Net, [1, 2, 3] -- [I], [I]),
                 wait_split(Peers, [{Alone, []} | [{N, Rest -- [N]} || N <- Rest]]),
                 %% Both sides run every name before the heal.
                 wait_sides(Peers, Mfa, [{[Alone], none}, {Rest, none}]),
                 heal_and_check(Net, Peers, Nodes, Mfa, [], Settled, ?HEAL_MS)
             end || I <- [3, 1, 2]],
    ct:comment("heal times (ms): ~p", [Times]).

%% ---------------------------------------------------------------------------

%% Heals every cut, connects the nodes again, and checks:
%%   - within Limit ms (?HEAL_MS) of the moment every node sees the
%%     others, every node holds the same registry, with every name of Mfa
%%     and Plain;
%%   - the conflicts: of the copies of a register_name/4 name of Mfa
%%     started before the heal (and not in Settled: processes that ended
%%     earlier), one survives; each other one got {swarm, die}, stopped,
%%     and its state reached the survivor as resolve_conflict;
%%   - then, once the ring's growth has moved processes to their new
%%     owners (handoffs) and the registry stays the same for ?SETTLE_MS,
%%     every node agrees, each name of Mfa has exactly one live process,
%%     the registered one; every copy started since the heal got the
%%     state of the one it replaced (end_handoff), and every other copy
%%     got {swarm, die} and stopped.
%% Returns the heal time in ms.
heal_and_check(Net, Peers, Nodes, Mfa, Plain) ->
    heal_and_check(Net, Peers, Nodes, Mfa, Plain, [], ?HEAL_MS).

heal_and_check(Net, Peers, Nodes, Mfa, Plain, Settled, Limit) ->
    Pre = maps:map(fun(_, Ps) -> Ps -- Settled end, copies(logs(Peers))),
    ok = swarm_netns:heal(Net),
    ok = swarm_netns:connect_all(Peers),
    Names = lists:usort(Mfa ++ Plain),
    wait_until(fun() ->
                       [R | Rs] = [registry(P) || P <- Peers],
                       lists:all(fun(X) -> X =:= R end, Rs) andalso
                           [N || {N, _} <- R, lists:member(N, Names)] =:= Names
               end, 15000, 5),
    %% From the last nodeup that made the cluster whole (each node's own
    %% record, on the machine's monotonic clock) to the poll that saw
    %% every registry agree (an upper bound of the convergence).
    Agreed = os:perf_counter(nanosecond),
    Up = lists:max([swarm_netns:call(P, swarm_netns, all_up_at, [Nodes]) || P <- Peers]),
    HealMs = (Agreed - Up) div 1000000,
    ct:pal("every node agrees ~p ms after the reconnection", [HealMs]),
    ?assert(HealMs =< Limit, {heal_ms, HealMs}),
    %% (The die and the cast come from one helper, but reach different
    %% nodes: the cast may come later.)
    wait_until(fun() ->
                       U = unresolved(logs(Peers), Mfa, Pre),
                       U =:= [] orelse {unresolved, U}
               end, 10000),
    wait_settled(Peers, Mfa),
    Log = logs(Peers),
    Reg = registry(hd(Peers)),
    Moved = [{Nm, P} || {Nm, Ps} <- maps:to_list(copies(Log)), lists:member(Nm, Mfa),
                        P <- Ps -- maps:get(Nm, Pre, []), not lists:member(P, Settled),
                        not got_state_of_dead(P, Nm, Log)],
    ?assertEqual([], Moved),
    NotDied = [{Nm, P} || {Nm, Ps} <- maps:to_list(copies(Log)), lists:member(Nm, Mfa),
                          P <- Ps -- [pid_of(Nm, Reg) | Settled], not lists:member({P, die}, Log)],
    ?assertEqual([], NotDied),
    HealMs.

%% The names of Mfa whose copies in Pre (Name => [Pid]) did not settle:
%% there must be one survivor S, and every other copy L got {swarm, die}
%% while S (or a later copy S's state was handed down to) got
%% {swarm, resolve_conflict, {state_of, Name, L}} (S was handed off to its
%% owner meanwhile: the process that took its name got it).
unresolved(Log, Mfa, Pre) ->
    [#{name => Nm, copies => [{P, node(P), [E || {Q, E} <- Log, Q =:= P]} || P <- Ps],
       later_copies => [{P, node(P), [E || {Q, E} <- Log, Q =:= P]}
                        || P <- maps:get(Nm, copies(Log), []) -- Ps]}
     || Nm <- Mfa, Ps <- [maps:get(Nm, Pre, [])],
        Later <- [maps:get(Nm, copies(Log), []) -- Ps],
        length([S || S <- Ps,
                     lists:all(fun(L) ->
                                       L =:= S orelse
                                           (lists:member({L, die}, Log) andalso
                                            lists:any(fun(W) ->
                                                              lists:member({W, {resolve_conflict, {state_of, Nm, L}}}, Log)
                                                      end, [S | Later]))
                               end, Ps)]) =/= 1].

%% Waits until every node holds the same registry, unchanged for
%% ?SETTLE_MS (the handoffs that follow the ring's growth are done), in
%% which each name of Mfa has exactly one live process: the registered one.
wait_settled(Peers, Mfa) ->
    Deadline = erlang:monotonic_time(millisecond) + 15000,
    settle_loop(Peers, Mfa, none, Deadline).

settle_loop(Peers, Mfa, Since, Deadline) ->
    Now = erlang:monotonic_time(millisecond),
    [R | Rs] = [registry(P) || P <- Peers],
    Live = live(Peers),
    Bad = [{Nm, P, maps:get(Nm, Live, [])}
           || Nm <- Mfa, P <- [pid_of(Nm, R)], not is_pid(P) orelse maps:get(Nm, Live, []) =/= [P]],
    Ok = lists:all(fun(X) -> X =:= R end, Rs) andalso Bad =:= [],
    case {Ok, Since} of
        {true, {R, T}} when Now - T >= ?SETTLE_MS -> ok;
        {true, {R, _}} -> next_settle(Peers, Mfa, Since, Deadline, Bad);
        {true, _} -> next_settle(Peers, Mfa, {R, Now}, Deadline, Bad);
        {false, _} -> next_settle(Peers, Mfa, none, Deadline, {not_agreed_or_not_one_process, Bad})
    end.

next_settle(Peers, Mfa, Since, Deadline, Last) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> ct:fail({not_settled, Last});
        false -> receive after 50 -> settle_loop(Peers, Mfa, Since, Deadline) end
    end.

%% Each register_name/4 name of Names still has the process it had in
%% registry Before, or the one that process was handed off to.
kept(Peers, Names, Before, After) ->
    Log = logs(Peers),
    Lost = [{Nm, Old, New} || Nm <- Names, Old <- [pid_of(Nm, Before)], New <- [pid_of(Nm, After)],
                              not is_pid(Old) orelse
                                  (New =/= Old andalso
                                   not handed_down(Nm, Old, New, Log, 5))],
    Lost =:= [] orelse
        ct:pal("lost names, their copies' events: ~p",
               [[{Nm, [E || {P, _} = E <- Log, P =:= Old orelse P =:= New]} || {Nm, Old, New} <- Lost]]),
    ?assertEqual([], Lost).

%% Whether New holds Old's state: it got it by end_handoff, or got the
%% state of a copy that did (a name may move twice after a heal, when a
%% node's ring grows by one node at a time: first to the owner among the
%% nodes it sees, then to the owner among all).
handed_down(_Nm, _Old, _New, _Log, 0) ->
    false;
handed_down(Nm, Old, New, Log, Depth) ->
    lists:any(fun({Q, {end_handoff, {state_of, N, From}}}) when Q =:= New, N =:= Nm ->
                      From =:= Old orelse handed_down(Nm, Old, From, Log, Depth - 1);
                 (_) -> false
              end, Log).

%% Whether P got, by end_handoff, the state of a copy of Nm that died.
got_state_of_dead(P, Nm, Log) ->
    lists:any(fun({Q, {end_handoff, {state_of, N, From}}}) when Q =:= P, N =:= Nm ->
                      lists:member({From, die}, Log);
                 (_) -> false
              end, Log).

%% The processes of the logs that are no longer running: the losers of
%% earlier conflicts, which a later heal_and_check leaves out.
settled(Peers) ->
    Live = [P || {_, P} <- lists:append([swarm_netns:call(X, ?MODULE, live_copies, []) || X <- Peers])],
    [P || {P, {started, _}} <- logs(Peers)] -- Live.

start_swarm(Peers, Env) ->
    [ok = swarm_netns:call(P, application, set_env, [swarm, K, V])
     || P <- Peers, {K, V} <- Env],
    Nodes = swarm_netns:nodes_of(Peers),
    ok = swarm_netns:connect_all(Peers),
    [{ok, _} = swarm_netns:call(P, application, ensure_all_started, [swarm]) || P <- Peers],
    wait_until(fun() ->
                       lists:all(fun({P, N}) ->
                                         lists:sort(swarm_netns:call(P, gen_server, call, [swarm_agent, peers]))
                                             =:= lists:sort(Nodes -- [N])
                                             andalso members(P) =:= length(Nodes)
                                 end, Peers)
               end, 15000).

%% Waits until each node sees exactly the nodes listed for it, by
%% distribution and in its C node's ring.
wait_split(Peers, Views) ->
    wait_until(fun() ->
                       lists:all(fun({P, N}) ->
                                         {N, Seen} = lists:keyfind(N, 1, Views),
                                         lists:sort(swarm_netns:call(P, erlang, nodes, [])) =:= lists:sort(Seen)
                                             andalso members(P) =:= length(Seen) + 1
                                 end, Peers)
               end, 15000).

%% Waits until, on each side (a list of nodes), every node of the side
%% answers for every name the same live pid on that side; with a registry
%% from before the split, a name whose process was on the side is still
%% that process, and one that was not is a new process.
wait_sides(Peers, Names, Sides) ->
    wait_until(fun() ->
                       Bad = [{Side, Nm, [whereis(peer_of(N, Peers), Nm) || N <- Side]}
                              || {Side, Before} <- Sides, Nm <- Names,
                                 not side_runs(Peers, Side, Nm, Before)],
                       Bad =:= [] orelse {not_run_on_side, Bad}
               end, 10000).

side_runs(Peers, Side, Nm, Before) ->
    case lists:usort([whereis(peer_of(N, Peers), Nm) || N <- Side]) of
        [P] when is_pid(P) ->
            lists:member(node(P), Side) andalso
                swarm_netns:call(peer_of(node(P), Peers), erlang, is_process_alive, [P]) andalso
                case Before of
                    none -> true;
                    _ ->
                        Old = pid_of(Nm, Before),
                        (P =:= Old) =:= lists:member(node(Old), Side)
                end;
        _ ->
            false
    end.

%% Waits until every node holds the same registry listing every name of
%% Names; returns it.
converged(Peers, Names, Timeout) ->
    wait_until(fun() ->
                       [R | Rs] = [registry(P) || P <- Peers],
                       lists:all(fun(X) -> X =:= R end, Rs) andalso
                           lists:all(fun(N) -> lists:keymember(N, 1, R) end, Names)
               end, Timeout),
    registry(hd(Peers)).

register_mfa(Peer, Name) ->
    swarm_netns:call(Peer, swarm, register_name, [Name, swarm_test_server, start, [{handoff, resume, Name}]]).

%% K idle processes per node, each registered with register_name/2 on its
%% own node under {plain, Tag, Node, I}; returns [{Name, Pid}].
register_plain(Peers, Tag, K) ->
    [begin
         Pid = swarm_netns:call(P, ?MODULE, spawn_idle, []),
         Name = {plain, Tag, N, I},
         yes = swarm_netns:call(P, swarm, register_name, [Name, Pid]),
         {Name, Pid}
     end || {_, N} = P <- Peers, I <- lists:seq(1, K)].

names(Pairs) ->
    [N || {N, _} <- Pairs].

registry(Peer) ->
    lists:sort(swarm_netns:call(Peer, swarm, registered, [])).

whereis(Peer, Name) ->
    swarm_netns:call(Peer, swarm, whereis_name, [Name]).

members(Peer) ->
    proplists:get_value(members, swarm_netns:call(Peer, swarm_agent, stats, [])).

pid_of(Name, Reg) ->
    case lists:keyfind(Name, 1, Reg) of
        {_, P} -> P;
        false -> undefined
    end.

peer_of(Node, Peers) ->
    lists:keyfind(Node, 2, Peers).

%% The ring's owner of Name among Nodes, as libring places it.
owner(Nodes, Name) ->
    swarm_ct:ring_owner(Nodes, Name).

%% Name => the live swarm_test_server processes started for it, on every
%% node.
live(Peers) ->
    lists:foldl(fun({Nm, P}, M) -> maps:update_with(Nm, fun(L) -> lists:sort([P | L]) end, [P], M) end,
                #{}, lists:append([swarm_netns:call(P, ?MODULE, live_copies, []) || P <- Peers])).

%% Name => every process ever started for it, from a log of
%% swarm_test_server (see logs/1).
copies(Log) ->
    lists:foldl(fun({P, {started, {handoff, resume, Nm}}}, M) ->
                        maps:update_with(Nm, fun(L) -> [P | L] end, [P], M);
                   (_, M) -> M
                end, #{}, Log).

%% The swarm_test_server logs of every node, in one list.
logs(Peers) ->
    lists:append([swarm_netns:call(P, swarm_test_server, log, []) || P <- Peers]).

wait_until(F, Timeout) ->
    swarm_ct:wait_until(F, Timeout).

wait_until(F, Timeout, Step) ->
    swarm_ct:wait_until(F, Timeout, Step).

%% On a cluster node: [{Name, Pid}] of the live swarm_test_server
%% processes started (by register_name/4) for Name.
live_copies() ->
    [{Nm, P} || {P, {started, {handoff, resume, Nm}}} <- swarm_test_server:log(), is_process_alive(P)].

%% On a cluster node: an idle process (it waits for `stop').
spawn_idle() ->
    spawn(fun() -> receive stop -> ok end end).
