%% @doc Process groups end to end: real BEAM nodes (OTP's peer),
%% each running swarm with its real C node, on 127.0.0.1.
-module(groups_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, end_per_testcase/2]).
-export([joins_converge/1, read_your_writes/1, idempotent/1, death_leaves/1, big_group/1,
         publish_once/1, multi_call_filters/1, elixir_facade/1, unreachable_home/1,
         garbage/1, members_cache/1, groups_proc_restart/1, monitored_once/1,
         caller_sees_exit/1, pending_overlay/1,
         no_members_cache/1, node_stop/1, cnode_killed/1, transfer_after_node_down/1, restart_rejoins/1,
         groups_under_asan/1]).
%% Run on the cluster's nodes.
-export([member/2]).

suite() -> [{timetrap, {minutes, 5}}].

all() ->
    [{group, cluster3}, no_members_cache, node_stop, cnode_killed, transfer_after_node_down, restart_rejoins,
     groups_under_asan].

groups() ->
    [{cluster3, [],
      [joins_converge, read_your_writes, idempotent, death_leaves, big_group, publish_once,
       multi_call_filters, elixir_facade, unreachable_home, garbage, members_cache,
       groups_proc_restart, monitored_once, caller_sees_exit, pending_overlay]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

init_per_group(cluster3, Config) ->
    {Peers, Nodes} = start_cluster(3, "g3"),
    [{peers, Peers}, {nodes, Nodes} | Config].

end_per_group(cluster3, Config) ->
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

%% ---------------------------------------------------------------------------

%% @doc Joins made from every node, for pids of every node (mostly remote to
%% the caller), concurrently: every node ends up listing the same members.
joins_converge(Config) ->
    Nodes = ?config(nodes, Config),
    G = {conv, 1},
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 40)],
    Self = self(),
    Joiners = [spawn_link(fun() ->
                   Res = swarm_ct:rpc(J, erlang, apply,
                                      [fun() -> [swarm:join(G, P) || P <- Ps] end, []]),
                   Self ! {self(), Res}
               end) || {J, Ps} <- deal(Pids, Nodes)],
    [receive {J, Res} -> ?assert(lists:all(fun(R) -> R =:= ok end, Res)) end || J <- Joiners],
    Expected = lists:sort(Pids),
    wait_members(Nodes, G, Expected),
    [P ! stop || P <- Pids],
    wait_members(Nodes, G, []).

%% @doc join/leave return once the caller's node shows the change, also
%% when the pid lives on another node.
read_your_writes(Config) ->
    [A, B, _] = ?config(nodes, Config),
    P = spawn_member(A, good),
    Res = swarm_ct:rpc(B, erlang, apply, [fun() ->
        [begin
             ok = swarm:join({ryw, I}, P),
             [P] = swarm:members({ryw, I}),
             ok = swarm:leave({ryw, I}, P),
             [] = swarm:members({ryw, I}),
             ok
         end || I <- lists:seq(1, 200)]
    end, []]),
    ?assertEqual(lists:duplicate(200, ok), Res),
    Local = spawn_member(B, good),
    ?assertEqual(ok, swarm_ct:rpc(B, swarm, join, [ryw_local, Local])),
    ?assertEqual([Local], swarm_ct:rpc(B, swarm, members, [ryw_local])),
    P ! stop,
    Local ! stop.

%% @doc Joining twice is joining once, leaving twice is leaving once, leaving
%% a group one is not in is ok; a pid can be in many groups.
idempotent(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    P = spawn_member(B, good),
    ok = swarm_ct:rpc(A, swarm, join, [idem, P]),
    ok = swarm_ct:rpc(C, swarm, join, [idem, P]),
    ok = swarm_ct:rpc(B, swarm, join, [idem, P]),
    ok = swarm_ct:rpc(A, swarm, join, [idem2, P]),
    wait_members(Nodes, idem, [P]),
    wait_members(Nodes, idem2, [P]),
    ok = swarm_ct:rpc(C, swarm, leave, [idem, P]),
    ok = swarm_ct:rpc(A, swarm, leave, [idem, P]),
    ok = swarm_ct:rpc(A, swarm, leave, [never_joined, P]),
    wait_members(Nodes, idem, []),
    wait_members(Nodes, idem2, [P]),
    ?assertEqual([], swarm_ct:rpc(A, swarm, members, [never_joined])),
    P ! stop,
    wait_members(Nodes, idem2, []),
    %% Every C node agrees there is nothing left of it.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> proplists:get_value(memberships, gstats(N)) =:= 0 end, Nodes)
    end, 5000).

%% @doc A member that exits leaves all its groups, on every node.
death_leaves(Config) ->
    Nodes = ?config(nodes, Config),
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 5)],
    [ok = swarm_ct:rpc(node(P), swarm, join, [G, P]) || P <- Pids, G <- [death_a, death_b]],
    wait_members(Nodes, death_a, lists:sort(Pids)),
    Victims = [lists:nth(2, Pids), lists:nth(7, Pids), lists:nth(13, Pids)],
    [exit(V, kill) || V <- Victims],
    Left = lists:sort(Pids -- Victims),
    wait_members(Nodes, death_a, Left),
    wait_members(Nodes, death_b, Left),
    [P ! stop || P <- Left],
    wait_members(Nodes, death_a, []).

%% @doc A group of several chunks (300 members): leaves from the middle,
%% made from every node, keep every replica equal to the expected set.
big_group(Config) ->
    Nodes = ?config(nodes, Config),
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 100)],
    [ok = swarm_ct:rpc(J, erlang, apply, [fun() -> [ok = swarm:join(big, P) || P <- Ps], ok end, []])
     || {J, Ps} <- deal(Pids, Nodes)],
    wait_members(Nodes, big, lists:sort(Pids)),
    Leaving = [P || {I, P} <- lists:zip(lists:seq(1, length(Pids)), Pids), I rem 3 =/= 0],
    [ok = swarm_ct:rpc(J, erlang, apply, [fun() -> [ok = swarm:leave(big, P) || P <- Ps], ok end, []])
     || {J, Ps} <- deal(Leaving, lists:reverse(Nodes))],
    Left = lists:sort(Pids -- Leaving),
    wait_members(Nodes, big, Left),
    ?assertEqual(100, length(Left)),
    [P ! stop || P <- Pids],
    wait_members(Nodes, big, []).

%% @doc publish/2 delivers each message exactly once to each member.
publish_once(Config) ->
    [A, _, C] = Nodes = ?config(nodes, Config),
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 20)],
    [ok = swarm_ct:rpc(node(P), swarm, join, [pub, P]) || P <- Pids],
    wait_members(Nodes, pub, lists:sort(Pids)),
    [ok = swarm_ct:rpc(A, swarm, publish, [pub, {msg, I}]) || I <- lists:seq(1, 5)],
    [ok = swarm_ct:rpc(C, swarm, publish, [pub, {msg, I}]) || I <- lists:seq(6, 10)],
    swarm_ct:wait_until(fun() -> lists:all(fun(P) -> count(P) =:= 10 end, Pids) end, 5000),
    timer:sleep(300),
    ?assertEqual(lists:duplicate(length(Pids), 10), [count(P) || P <- Pids]),
    ?assertEqual(ok, swarm_ct:rpc(A, swarm, publish, [no_such_group, x])),
    [P ! stop || P <- Pids].

%% @doc multi_call returns the replies of the members that answer in time;
%% a slow member and a crashing one are left out, and nothing arrives in the
%% caller's mailbox afterwards.
multi_call_filters(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    Good = [spawn_member(N, good) || N <- Nodes],
    Slow = spawn_member(B, slow),
    Crash = spawn_member(C, crash),
    Silent = spawn_member(A, silent),
    All = Good ++ [Slow, Crash, Silent],
    [ok = swarm_ct:rpc(A, swarm, join, [mc, P]) || P <- All],
    wait_members(Nodes, mc, lists:sort(All)),
    {Replies, Queue} = swarm_ct:rpc(A, erlang, apply, [fun() ->
        true = register(mc_observer, self()),
        R = swarm:multi_call(mc, hello, 500),
        %% The slow member tells us once its late reply is sent (same
        %% connection, so after it): then nothing more may be waiting.
        receive late_sent -> ok after 10000 -> error(no_late_reply) end,
        unregister(mc_observer),
        {R, erlang:process_info(self(), message_queue_len)}
    end, []]),
    ?assertEqual(lists:sort([{reply, node(P), P, hello} || P <- Good]), lists:sort(Replies)),
    ?assertEqual({message_queue_len, 0}, Queue),
    %% The crashed member left the group; the default timeout lets the slow
    %% one answer.
    wait_members(Nodes, mc, lists:sort(All -- [Crash])),
    Replies2 = swarm_ct:rpc(C, swarm, multi_call, [mc, again]),
    ?assertEqual(lists:sort([late | [{reply, node(P), P, again} || P <- Good]]),
                 lists:sort(Replies2)),
    ?assertEqual([], swarm_ct:rpc(C, swarm, multi_call, [no_such_group, x, 100])),
    [P ! stop || P <- All].

%% @doc The Elixir facade has the same group functions.
elixir_facade(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    P = spawn_member(B, good),
    ok = swarm_ct:rpc(A, 'Elixir.Swarm', join, [ex_group, P]),
    ?assertEqual([P], swarm_ct:rpc(A, 'Elixir.Swarm', members, [ex_group])),
    ok = swarm_ct:rpc(A, 'Elixir.Swarm', publish, [ex_group, ping]),
    swarm_ct:wait_until(fun() -> count(P) =:= 1 end, 5000),
    ?assertEqual([{reply, B, P, hi}], swarm_ct:rpc(A, 'Elixir.Swarm', multi_call, [ex_group, hi])),
    ?assertEqual([{reply, B, P, ho}], swarm_ct:rpc(A, 'Elixir.Swarm', multi_call, [ex_group, ho, 1000])),
    ok = swarm_ct:rpc(B, 'Elixir.Swarm', leave, [ex_group, P]),
    wait_members(Nodes, ex_group, []),
    P ! stop.

%% @doc A pid whose node does not run swarm cannot join: the answer says so
%% at once.
unreachable_home(Config) ->
    [A | _] = ?config(nodes, Config),
    Me = self(),
    ?assertEqual({error, home_unreachable}, swarm_ct:rpc(A, swarm, join, [unreach, Me])),
    ?assertEqual({error, home_unreachable}, swarm_ct:rpc(A, swarm, leave, [unreach, Me])),
    ?assertEqual([], swarm_ct:rpc(A, swarm, members, [unreach])).

%% @doc Malformed group messages to a C node are counted and dropped; groups
%% keep working.
garbage(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    CNode = swarm_ct:rpc(A, swarm_agent, cnode, []),
    Before = proplists:get_value(bad_msgs, gstats(A)),
    Garbage = [{'$sw1', gjoin}, {'$sw1', gjoin, self(), 1, <<"notaterm">>, self()},
               {'$sw1', gleave, self(), make_ref(), <<131, 100>>, self()},
               {'$sw1', ghello, self(), not_a_list}, {'$sw1', ghello, self(), [{<<131, 106>>, [x]}]},
               {'$sw1', gdown, not_a_pid}, {'$sw1', gops, [garbage]}, {'$sw1', gtransfer, a, b},
               {'$sw1', gunknown, 1}, {'$sw1', gstats, self()}],
    swarm_ct:rpc(A, erlang, apply, [fun() -> [erlang:send({swarm, CNode}, M) || M <- Garbage], ok end, []]),
    swarm_ct:wait_until(fun() ->
        proplists:get_value(bad_msgs, gstats(A)) >= Before + length(Garbage)
    end, 5000),
    P = spawn_member(B, good),
    ok = swarm_ct:rpc(A, swarm, join, [after_garbage, P]),
    wait_members(Nodes, after_garbage, [P]),
    P ! stop.

%% @doc members/1 of a large group (10k members; its list is cached, see
%% swarm_groups.erl) is right on every node, and stays right while the group
%% changes: every join and leave made on a node is in that node's next
%% read, the members that stay are listed exactly once by every read made
%% meanwhile (also reads racing the changes), and a group that empties
%% leaves nothing behind in the cache.
members_cache(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    G = cache,
    Stay = swarm_ct:rpc(A, erlang, apply, [fun() ->
        Ps = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 10000)],
        [ok = swarm:join(G, P) || P <- Ps],
        Ps
    end, []]),
    StaySorted = lists:sort(Stay),
    wait_members(Nodes, G, StaySorted),
    %% On B (the members are remote) and on A (local): a reader racing
    %% joins and leaves of other pids; then read-your-writes, step by step.
    [?assertEqual(ok, swarm_ct:rpc(X, erlang, apply, [fun() ->
        Self = self(),
        Reader = spawn_link(fun() -> cache_reader(G, StaySorted, Self, 0) end),
        Extra = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 30)],
        [begin
             ok = swarm:join(G, P),
             %% On A the join is pending (the overlay) until swarm_groups
             %% applies the C node's answer, which drops the cache: the
             %% check of the cache waits for it.
             settle_pending(),
             %% The cache holds this group's list once a read built it.
             L1 = swarm:members(G),
             [_] = ets:lookup(swarm_groups_cache, {c, gkey(G)}),
             true = lists:member(P, L1),
             10001 = length(L1),
             ok = swarm:leave(G, P),
             L2 = swarm:members(G),
             false = lists:member(P, L2),
             StaySorted = lists:sort(L2)
         end || P <- Extra],
        Reader ! {stop, Self},
        receive {reads, Reader, N} when N > 0 -> ok end,
        [P ! stop || P <- Extra],
        ok
    end, []])) || X <- [B, A]],
    %% Members that die leave every node's list (the cache is dropped).
    {Dead, Alive} = lists:split(100, Stay),
    [exit(P, kill) || P <- Dead],
    wait_members(Nodes, G, lists:sort(Alive)),
    [P ! stop || P <- Alive],
    wait_members(Nodes, G, []),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) ->
                          swarm_ct:rpc(N, ets, lookup, [swarm_groups_cache, {v, gkey(G)}]) =:= [] andalso
                              swarm_ct:rpc(N, ets, lookup, [swarm_groups_cache, {c, gkey(G)}]) =:= []
                  end, [A, B, C])
    end, 5000).

%% On a node: waits (up to 5 s) until its pending overlay is empty.
settle_pending() ->
    settle_pending(erlang:monotonic_time(millisecond) + 5000).

settle_pending(Deadline) ->
    case ets:info(swarm_groups_pending, size) of
        0 -> ok;
        _ ->
            erlang:monotonic_time(millisecond) < Deadline orelse error(pending_not_settled),
            receive after 1 -> ok end,
            settle_pending(Deadline)
    end.

%% The key of group G in swarm_groups' tables (swarm encodes names so).
gkey(G) ->
    term_to_binary(G, [deterministic]).

%% Reads G until told to stop: each read must list every member of Stay
%% (sorted) exactly once, and at most one other pid (the test joins one
%% extra at a time). Reports the number of reads.
cache_reader(G, Stay, Parent, N) ->
    StayMap = maps:from_keys(Stay, true),
    cache_reader(G, Stay, StayMap, Parent, N).

cache_reader(G, Stay, StayMap, Parent, N) ->
    receive
        {stop, Parent} -> Parent ! {reads, self(), N}
    after 0 ->
        L = swarm:members(G),
        Kept = lists:sort([P || P <- L, is_map_key(P, StayMap)]),
        case Kept =:= Stay andalso length(L) - length(Kept) =< 1 of
            true -> ok;
            false -> exit({bad_read, length(L), length(Kept)})
        end,
        cache_reader(G, Stay, StayMap, Parent, N + 1)
    end.

%% @doc The swarm_groups process restarting alone rebuilds its monitors from
%% the C node: deaths are still seen, joins still work.
groups_proc_restart(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    Ps0 = [spawn_member(A, good) || _ <- lists:seq(1, 5)],
    [ok = swarm_ct:rpc(A, swarm, join, [gpr, P]) || P <- Ps0],
    wait_pending_empty([A]),
    Old = swarm_ct:rpc(A, erlang, whereis, [swarm_groups]),
    %% Joins whose answers die with it (it is suspended: they wait in its
    %% mailbox): their overlay rows stay, and the new one's hello sends
    %% them again.
    ok = swarm_ct:rpc(A, sys, suspend, [Old]),
    Ps1 = [spawn_member(A, good) || _ <- lists:seq(1, 5)],
    [ok = swarm_ct:rpc(A, swarm, join, [gpr, P]) || P <- Ps1],
    ?assertEqual(5, swarm_ct:rpc(A, ets, info, [swarm_groups_pending, size])),
    Ps = Ps0 ++ Ps1,
    exit(Old, kill),
    swarm_ct:wait_until(fun() ->
        case swarm_ct:rpc(A, erlang, whereis, [swarm_groups]) of
            New when is_pid(New), New =/= Old ->
                swarm_ct:rpc(A, gen_server, call, [swarm_groups, monitored]) =:= 10;
            _ -> false
        end
    end, 10000),
    wait_members(Nodes, gpr, lists:sort(Ps)),
    wait_pending_empty(Nodes),
    exit(hd(Ps), kill),
    wait_members(Nodes, gpr, lists:sort(tl(Ps))),
    P = spawn_member(B, good),
    ok = swarm_ct:rpc(A, swarm, join, [gpr, P]),
    wait_members(Nodes, gpr, lists:sort([P | tl(Ps)])),
    [X ! stop || X <- [P | Ps]],
    %% Gone everywhere before the next case (which counts A's pids).
    wait_members(Nodes, gpr, []).

%% ---------------------------------------------------------------------------

%% @doc When a node stops, its members leave every group on the others.
node_stop(_Config) ->
    {Peers, [A, B, C] = Nodes} = start_cluster(3, "gns"),
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 30)],
    [ok = swarm_ct:rpc(J, erlang, apply, [fun() -> [ok = swarm:join(G, P) || P <- Ps, G <- [ns1, ns2]], ok end, []])
     || {J, Ps} <- deal(Pids, Nodes)],
    wait_members(Nodes, ns1, lists:sort(Pids)),
    swarm_ct:stop_node(lists:keyfind(C, 2, Peers)),
    Left = lists:sort([P || P <- Pids, node(P) =/= C]),
    wait_members([A, B], ns1, Left),
    wait_members([A, B], ns2, Left),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc A C node killed with SIGKILL is restarted: its node's members are
%% still members everywhere afterwards, and a member that died while the C
%% node was down is gone everywhere.
cnode_killed(_Config) ->
    {Peers, [A, B, C] = Nodes} = start_cluster(3, "gck"),
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 20)],
    [ok = swarm_ct:rpc(node(P), swarm, join, [ck, P]) || P <- Pids],
    [ok = swarm_ct:rpc(B, swarm, join, [ck2, P]) || P <- Pids],
    wait_members(Nodes, ck, lists:sort(Pids)),
    wait_members(Nodes, ck2, lists:sort(Pids)),
    OsPid = swarm_ct:cnode_os_pid(A),
    os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    Victim = hd([P || P <- Pids, node(P) =:= A]),
    exit(Victim, kill),
    %% Joins and leaves of A's pids while its C node is stopped return at
    %% once (the pending overlay), and reach every node after the restart.
    New = [spawn_member(A, good) || _ <- lists:seq(1, 5)],
    Left = lists:nth(2, [P || P <- Pids, node(P) =:= A]),
    ok = swarm_ct:rpc(A, erlang, apply, [fun() ->
        [ok = swarm:join(ck3, P) || P <- New],
        ok = swarm:leave(ck3, hd(New)),
        ok = swarm:leave(ck2, Left)
    end, []]),
    ?assertEqual(lists:sort(tl(New)), lists:sort(swarm_ct:rpc(A, swarm, members, [ck3]))),
    os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    swarm_ct:wait_cnode_replaced(A, OsPid, 10000),
    wait_members(Nodes, ck3, lists:sort(tl(New))),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, ets, info, [swarm_groups_pending, size]) =:= 0 end,
                        10000),
    ok = swarm_ct:rpc(A, erlang, apply, [fun() -> [ok = swarm:leave(ck3, P) || P <- New], ok end, []]),
    wait_members(Nodes, ck3, []),
    [P ! stop || P <- New],
    wait_members(Nodes, ck2, lists:sort(Pids -- [Victim, Left])),
    ok = swarm_ct:rpc(A, swarm, join, [ck2, Left]),
    Expected = lists:sort(Pids -- [Victim]),
    wait_members(Nodes, ck, Expected),
    wait_members(Nodes, ck2, Expected),
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> proplists:get_value(memberships, gstats(N)) =:= 2 * length(Expected) end, Nodes)
    end, 10000),
    %% A's members are monitored again, each once.
    swarm_ct:wait_until(fun() ->
        swarm_ct:rpc(A, gen_server, call, [swarm_groups, monitored]) =:=
            length([P || P <- Expected, node(P) =:= A])
    end, 10000),
    %% Deaths are seen again, and joins work from the restarted node.
    Second = hd([P || P <- Expected, node(P) =:= A]),
    exit(Second, kill),
    wait_members(Nodes, ck, Expected -- [Second]),
    P = spawn_member(C, good),
    ok = swarm_ct:rpc(A, swarm, join, [ck, P]),
    wait_members(Nodes, ck, lists:sort([P | Expected -- [Second]])),
    [swarm_ct:stop_node(X) || X <- Peers].

%% @doc A caller whose reply is late watches the process that is to send it:
%% if swarm_groups exits meanwhile, the caller exits with its reason at once
%% (here the wait is set to 60 s: a timeout would fail the test).
caller_sees_exit(Config) ->
    [A | _] = Nodes = ?config(nodes, Config),
    Old = swarm_ct:rpc(A, erlang, whereis, [swarm_groups]),
    ok = swarm_ct:rpc(A, application, set_env, [swarm, call_timeout, 60000]),
    ok = swarm_ct:rpc(A, sys, suspend, [Old]),
    Self = self(),
    %% A pid of another node: a pid of A is joined without waiting (the
    %% pending overlay, see pending_overlay).
    Remote = spawn_member(lists:nth(2, Nodes), good),
    Caller = spawn(A, fun() -> Self ! {res, self(), catch swarm:join(gexit, Remote)} end),
    %% Past its first 100 ms, the caller monitors swarm_groups.
    swarm_ct:wait_until(fun() ->
        {monitors, Ms} = swarm_ct:rpc(A, erlang, process_info, [Caller, monitors]),
        %% (a monitor by registered name shows as {process, {Name, Node}})
        lists:member({process, {swarm_groups, A}}, Ms)
    end, 5000),
    exit(Old, kill),
    Res = receive {res, Caller, R} -> R after 10000 -> no_answer end,
    ok = swarm_ct:rpc(A, application, set_env, [swarm, call_timeout, 5000]),
    ?assertMatch({'EXIT', {killed, {swarm, join, [gexit, Remote]}}}, Res),
    Remote ! stop,
    %% swarm_groups is back and works.
    swarm_ct:wait_until(fun() ->
        case swarm_ct:rpc(A, erlang, whereis, [swarm_groups]) of
            New when is_pid(New), New =/= Old -> true;
            _ -> false
        end
    end, 10000),
    P = spawn_member(A, good),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, swarm, join, [gexit, P]) =:= ok end, 10000),
    wait_members(Nodes, gexit, [P]),
    P ! stop,
    wait_members(Nodes, gexit, []).

%% @doc Joins and leaves of local pids return before the C node answers
%% (the pending overlay): with swarm_groups suspended, so that no answer
%% of the C node is applied, a joined pid is listed, published to and
%% called at once and a left one is not; resumed, the overlay empties and
%% every node agrees. Then 8 processes join and leave 10 pids each, 100
%% times, reading their own writes after every call; each pair ends as
%% its last call left it, on every node, and the overlay is empty.
pending_overlay(Config) ->
    [A | _] = Nodes = ?config(nodes, Config),
    Gp = swarm_ct:rpc(A, erlang, whereis, [swarm_groups]),
    [P1, P2, P3] = [spawn_member(A, good) || _ <- lists:seq(1, 3)],
    ok = swarm_ct:rpc(A, swarm, join, [pov, P1]),
    wait_members(Nodes, pov, [P1]),
    ok = swarm_ct:rpc(A, sys, suspend, [Gp]),
    Res = swarm_ct:rpc(A, erlang, apply, [fun() ->
        ok = swarm:join(pov, P2),
        ok = swarm:join(pov, P3),
        ok = swarm:leave(pov, P1),
        M1 = lists:sort(swarm:members(pov)),
        ok = swarm:publish(pov, hello),
        Calls = lists:sort([R || {reply, _, R, _} <- swarm:multi_call(pov, ping, 2000)]),
        ok = swarm:leave(pov, P3),
        M2 = swarm:members(pov),
        {M1, Calls, M2, maps:get(group_pending, swarm:info())}
    end, []]),
    ?assertEqual({lists:sort([P2, P3]), lists:sort([P2, P3]), [P2], 3}, Res),
    ok = swarm_ct:rpc(A, sys, resume, [Gp]),
    wait_members(Nodes, pov, [P2]),
    wait_pending_empty(Nodes),
    ?assertEqual([0, 1, 1], [count(P) || P <- [P1, P2, P3]]),
    [P ! stop || P <- [P1, P2, P3]],
    wait_members(Nodes, pov, []),
    %% The storm.
    Owned = [[spawn_member(A, good) || _ <- lists:seq(1, 10)] || _ <- lists:seq(1, 8)],
    Self = self(),
    Workers = [spawn_link(fun() ->
                   R = swarm_ct:rpc(A, erlang, apply, [fun() -> storm(Ps, 100, #{}) end, []]),
                   Self ! {self(), R}
               end) || Ps <- Owned],
    Finals = [receive {W, R} -> R after 60000 -> error(storm_timeout) end || W <- Workers],
    ?assert(lists:all(fun is_map/1, Finals)),
    Expected = lists:sort([P || F <- Finals, {P, true} <- maps:to_list(F)]),
    wait_members(Nodes, pov_storm, Expected),
    wait_pending_empty(Nodes),
    [P ! stop || P <- lists:append(Owned)],
    wait_members(Nodes, pov_storm, []).

%% On a node: random joins and leaves of Ps to pov_storm, N of them, each
%% checked against members/1 at once; returns #{Pid => member}, or the
%% first mismatch.
storm(_Ps, 0, In) ->
    In;
storm(Ps, N, In) ->
    P = lists:nth(rand:uniform(length(Ps)), Ps),
    Join = rand:uniform(2) =:= 1,
    ok = case Join of
             true -> swarm:join(pov_storm, P);
             false -> swarm:leave(pov_storm, P)
         end,
    case lists:member(P, swarm:members(pov_storm)) of
        Join -> storm(Ps, N - 1, In#{P => Join});
        _ -> {mismatch, P, Join}
    end.

wait_pending_empty(Nodes) ->
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> swarm_ct:rpc(N, ets, info, [swarm_groups_pending, size]) =:= 0 end, Nodes)
    end, 15000).

%% @doc A local member is monitored once, from its first join until it dies:
%% joins from any node, leaving every group and joining again add no second
%% monitor; its death empties its groups everywhere and its monitor and its
%% record in the C node are gone.
monitored_once(Config) ->
    [A, B, _] = Nodes = ?config(nodes, Config),
    Holder = swarm_ct:rpc(A, gen_server, call, [swarm_groups, holder]),
    Pids0 = proplists:get_value(pids, gstats(A)),
    P = spawn_member(A, good),
    MonsOfP = fun() ->
                      {monitors, Ms} = swarm_ct:rpc(A, erlang, process_info, [Holder, monitors]),
                      length([X || {process, X} <- Ms, X =:= P])
              end,
    ok = swarm_ct:rpc(B, swarm, join, [mo1, P]),
    ok = swarm_ct:rpc(A, swarm, join, [mo2, P]),
    swarm_ct:wait_until(fun() -> MonsOfP() =:= 1 end, 5000),
    ok = swarm_ct:rpc(A, swarm, leave, [mo1, P]),
    ok = swarm_ct:rpc(B, swarm, leave, [mo2, P]),
    wait_members(Nodes, mo1, []),
    wait_members(Nodes, mo2, []),
    ?assertEqual(Pids0 + 1, proplists:get_value(pids, gstats(A))),
    ok = swarm_ct:rpc(B, swarm, join, [mo3, P]),
    ok = swarm_ct:rpc(A, swarm, join, [mo1, P]),
    wait_members(Nodes, mo3, [P]),
    %% A join returns after swarm_groups passed the batch's monitor requests
    %% to the holder: once the holder's queue is empty it has them all.
    swarm_ct:wait_until(fun() ->
        swarm_ct:rpc(A, erlang, process_info, [Holder, message_queue_len]) =:= {message_queue_len, 0}
    end, 5000),
    ?assertEqual(1, MonsOfP()),
    exit(P, kill),
    wait_members(Nodes, mo3, []),
    wait_members(Nodes, mo1, []),
    swarm_ct:wait_until(fun() -> MonsOfP() =:= 0 end, 5000),
    swarm_ct:wait_until(fun() -> proplists:get_value(pids, gstats(A)) =:= Pids0 end, 5000).

%% @doc With `groups_members_cache' false, members/1 of a large group reads
%% the chunks every time and nothing is cached; reads stay exact.
no_members_cache(_Config) ->
    Peers = swarm_ct:start_nodes(2, "gnc"),
    [A, B] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, groups_members_cache, false]) || N <- Nodes],
    ok = swarm_ct:start_swarm(Nodes),
    Ps = swarm_ct:rpc(A, erlang, apply, [fun() ->
        Pids = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 600)],
        [ok = swarm:join(nc, P) || P <- Pids],
        Pids
    end, []]),
    wait_members(Nodes, nc, lists:sort(Ps)),
    [?assertEqual(lists:sort(Ps), lists:sort(swarm_ct:rpc(N, swarm, members, [nc]))) || N <- Nodes, _ <- [1, 2]],
    [?assertEqual(0, swarm_ct:rpc(N, ets, info, [swarm_groups_cache, size])) || N <- Nodes],
    {Gone, Stay} = lists:split(300, Ps),
    [exit(P, kill) || P <- Gone],
    wait_members([A, B], nc, lists:sort(Stay)),
    [swarm_ct:stop_node(P) || P <- Peers].

%% @doc The rejoin hook: after a node went down, swarm_groups:transfer(Old,
%% New) gives New the groups Old had (called on New's node or elsewhere).
transfer_after_node_down(_Config) ->
    {Peers, [A, B, C] = Nodes} = start_cluster(3, "gtr"),
    Old1 = spawn_member(C, good),
    Old2 = spawn_member(C, good),
    Stay = spawn_member(B, good),
    [ok = swarm_ct:rpc(A, swarm, join, [G, P]) || G <- [tr1, tr2], P <- [Old1, Stay]],
    ok = swarm_ct:rpc(A, swarm, join, [tr3, Old2]),
    wait_members(Nodes, tr1, lists:sort([Old1, Stay])),
    wait_members(Nodes, tr3, [Old2]),
    swarm_ct:stop_node(lists:keyfind(C, 2, Peers)),
    wait_members([A, B], tr1, [Stay]),
    wait_members([A, B], tr3, []),
    New1 = spawn_member(A, good),
    New2 = spawn_member(A, good),
    ok = swarm_ct:rpc(A, swarm_groups, transfer, [Old1, New1]),
    ok = swarm_ct:rpc(B, swarm_groups, transfer, [Old2, New2]),   % forwarded to A
    wait_members([A, B], tr1, lists:sort([New1, Stay])),
    wait_members([A, B], tr2, lists:sort([New1, Stay])),
    wait_members([A, B], tr3, [New2]),
    %% A live process's groups can be given too (handoff); it keeps its own.
    New3 = spawn_member(B, good),
    ok = swarm_ct:rpc(A, swarm_groups, transfer, [Stay, New3]),
    wait_members([A, B], tr2, lists:sort([New1, Stay, New3])),
    [swarm_ct:stop_node(X) || X <- Peers].

%% @doc A process that swarm restarts after its node went down
%% (register_name/4) is a member of the groups its predecessor was in.
restart_rejoins(_Config) ->
    {Peers, Nodes} = start_cluster(3, "grr"),
    [A | _] = Nodes,
    Names = [{rr, I} || I <- lists:seq(1, 12)],
    Old = [begin
               {ok, P} = swarm_ct:rpc(A, swarm, register_name, [N, swarm_test_server, start, [x]]),
               P
           end || N <- Names],
    [ok = swarm_ct:rpc(A, swarm, join, [G, P]) || P <- Old, G <- [rr1, rr2]],
    Plain = spawn_member(A, good),   % not restartable: just leaves
    ok = swarm_ct:rpc(A, swarm, join, [rr1, Plain]),
    wait_members(Nodes, rr2, lists:sort(Old)),
    Victim = node(hd(Old)),
    Survivors = Nodes -- [Victim],
    swarm_ct:stop_node(lists:keyfind(Victim, 2, Peers)),
    [S | _] = Survivors,
    %% Every name has a live pid again, on a survivor.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) ->
                          case swarm_ct:rpc(S, swarm, whereis_name, [N]) of
                              P when is_pid(P) -> node(P) =/= Victim;
                              _ -> false
                          end
                  end, Names)
    end, 20000),
    New = [swarm_ct:rpc(S, swarm, whereis_name, [N]) || N <- Names],
    ?assert(length([P || P <- Old, node(P) =:= Victim]) > 0),
    Expected2 = lists:sort(New),
    Expected1 = lists:sort([Plain || node(Plain) =/= Victim] ++ New),
    wait_members(Survivors, rr2, Expected2),
    wait_members(Survivors, rr1, Expected1),
    [swarm_ct:stop_node(X) || X <- Peers].

%% @doc Group traffic of every kind against C nodes built with ASan, UBSan
%% and LSan (build-asan/swarm_node, `make asan'); afterwards no sanitizer
%% report may exist.
groups_under_asan(Config) ->
    Exe = filename:join([swarm_ct:root(), "build-asan", "swarm_node"]),
    case filelib:is_regular(Exe) of
        false -> {skip, "build-asan/swarm_node missing: run make asan"};
        true -> groups_under_asan(Config, Exe)
    end.

groups_under_asan(Config, Exe) ->
    Dir = filename:join(?config(priv_dir, Config), "groups_asan"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Log = filename:join(Dir, "report"),
    Env = [{"ASAN_OPTIONS", "log_path=" ++ Log ++ ":detect_leaks=1:abort_on_error=1"},
           {"UBSAN_OPTIONS", "log_path=" ++ Log ++ ":print_stacktrace=1:halt_on_error=1"}],
    Peers = swarm_ct:start_nodes(3, "gasan"),
    [A, B, C] = Nodes = [N || {_, N} <- Peers],
    [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
     || N <- Nodes, {K, V} <- [{cnode_executable, Exe}, {cnode_env, Env}]],
    {_, _} = start_cluster_on(Peers, Nodes),
    %% Joins of the same pids from every node at once, many groups.
    Pids = [spawn_member(N, good) || N <- Nodes, _ <- lists:seq(1, 100)],
    Self = self(),
    [spawn_link(fun() ->
        Self ! {done, swarm_ct:rpc(J, erlang, apply, [fun() ->
            [ok = swarm:join({asan, I rem 7}, P) || {I, P} <- lists:zip(lists:seq(1, length(Pids)), Pids)],
            ok
        end, []])}
     end) || J <- Nodes],
    [receive {done, ok} -> ok end || _ <- Nodes],
    [wait_members(Nodes, {asan, G}, lists:sort([P || {I, P} <- lists:zip(lists:seq(1, length(Pids)), Pids),
                                                      I rem 7 =:= G]))
     || G <- lists:seq(0, 6)],
    %% Leaves, deaths, publish, multi_call, garbage, stats.
    [ok = swarm_ct:rpc(B, swarm, leave, [{asan, I rem 7}, P])
     || {I, P} <- lists:zip(lists:seq(1, 60), lists:sublist(Pids, 60))],
    [exit(P, kill) || P <- lists:sublist(Pids, 61, 40)],
    ok = swarm_ct:rpc(C, swarm, publish, [{asan, 3}, hello]),
    _ = swarm_ct:rpc(A, swarm, multi_call, [{asan, 4}, ping, 2000]),
    CNode = swarm_ct:rpc(A, swarm_agent, cnode, []),
    swarm_ct:rpc(A, erlang, apply, [fun() ->
        [erlang:send({swarm, CNode}, G) || G <- [{'$sw1', gjoin, self(), 1, <<131, 109, 0, 0, 0, 9>>, self()},
                                                {'$sw1', ghello, self(), [{<<131>>, [x]}]},
                                                {'$sw1', gops, [{join, 1, 2}]}, {'$sw1', gdown, 1}]],
        ok
    end, []]),
    _ = gstats(A),
    %% A C node killed (restarted, still under ASan), then a node stopped with
    %% a restarted MFA process that rejoins.
    Left = fun() -> lists:sort([P || {I, P} <- lists:zip(lists:seq(1, length(Pids)), Pids),
                                     I > 100, I rem 7 =:= 5]) end,
    wait_members(Nodes, {asan, 5}, Left()),
    ok = swarm_ct:kill_cnode(B),
    wait_members(Nodes, {asan, 5}, Left()),
    %% The restarted C node is back in the mesh: all nodes agree on the ring
    %% again (the worker below must be restarted exactly once).
    swarm_ct:wait_peers(Nodes),
    {ok, W} = swarm_ct:rpc(A, swarm, register_name, [asan_worker, swarm_test_server, start, [x]]),
    ok = swarm_ct:rpc(A, swarm, join, [asan_w, W]),
    wait_members(Nodes, asan_w, [W]),
    Victim = case node(W) of A -> C; N0 -> N0 end,
    Stay = Nodes -- [Victim],
    OsPids = [swarm_ct:cnode_os_pid(N) || N <- Nodes],
    swarm_ct:stop_node(lists:keyfind(Victim, 2, Peers)),
    case node(W) of
        Victim ->
            swarm_ct:wait_until(fun() ->
                case swarm_ct:rpc(hd(Stay), swarm, whereis_name, [asan_worker]) of
                    W2 when is_pid(W2), W2 =/= W ->
                        lists:all(fun(N) -> swarm_ct:rpc(N, swarm, members, [asan_w]) =:= [W2] end, Stay);
                    _ -> false
                end
            end, 20000);
        _ ->
            wait_members(Stay, asan_w, [W])
    end,
    [swarm_ct:stop_node(P) || P <- Peers],
    %% Every C node exits at stdin EOF, running LeakSanitizer; then no report.
    swarm_ct:wait_until(fun() ->
        lists:all(fun(P) -> os:cmd("kill -0 " ++ integer_to_list(P) ++ " 2>&1") =/= "" end, OsPids)
    end, 15000),
    ?assertEqual([], [{F, file:read_file(filename:join(Dir, F))} || F <- element(2, file:list_dir(Dir))]).

%% ---------------------------------------------------------------------------

%% A group member: counts the plain messages it gets; answers gen_server
%% calls according to Mode: good (replies at once), slow (after 1 s), crash
%% (exits), silent (never).
member(Mode, Count) ->
    receive
        stop -> ok;
        {'$gen_call', From, get_count} ->
            gen_server:reply(From, Count),
            member(Mode, Count);
        {'$gen_call', From, Msg} ->
            case Mode of
                good -> gen_server:reply(From, {reply, node(), self(), Msg});
                slow ->
                    %% A deliberately slow responder (not a wait for a
                    %% condition): it answers after the 500 ms timeout.
                    receive after 1000 -> ok end,
                    gen_server:reply(From, late),
                    {Caller, _} = From,
                    erlang:send({mc_observer, node(Caller)}, late_sent);
                crash -> exit(crash_requested);
                silent -> ok
            end,
            member(Mode, Count);
        _ ->
            member(Mode, Count + 1)
    end.

spawn_member(Node, Mode) ->
    spawn(Node, ?MODULE, member, [Mode, 0]).

count(P) ->
    gen_server:call(P, get_count).

gstats(Node) ->
    swarm_ct:rpc(Node, swarm_groups, stats, []).

%% Starts N nodes running swarm and waits until every C node can reach every
%% other for groups (a join of a remote pid succeeds).
start_cluster(N, Prefix) ->
    Peers = swarm_ct:start_nodes(N, Prefix),
    start_cluster_on(Peers, [Node || {_, Node} <- Peers]).

start_cluster_on(Peers, Nodes) ->
    ok = swarm_ct:start_swarm(Nodes),
    [begin
         P = swarm_ct:spawn_idle(M),
         swarm_ct:wait_until(fun() -> swarm_ct:rpc(J, swarm, join, [probe, P]) =:= ok end, 15000),
         ok = swarm_ct:rpc(J, swarm, leave, [probe, P]),
         P ! stop
     end || J <- Nodes, M <- Nodes, J =/= M],
    {Peers, Nodes}.

%% Waits until every node lists exactly Expected (sorted) as members of G.
wait_members(Nodes, G, Expected) ->
    swarm_ct:wait_until(fun() ->
        lists:all(fun(N) -> lists:sort(swarm_ct:rpc(N, swarm, members, [G])) =:= Expected end, Nodes)
    end, 15000).

%% Splits Items round robin over Nodes: [{Node, [Item]}], each item going to
%% the node after its own when items are pids (so most joins are remote).
deal(Items, Nodes) ->
    N = length(Nodes),
    Indexed = lists:zip(lists:seq(0, length(Items) - 1), Items),
    [{Node, [X || {I, X} <- Indexed, I rem N =:= K]}
     || {K, Node} <- lists:zip(lists:seq(0, N - 1), Nodes)].
