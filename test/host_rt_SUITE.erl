%% @doc The C host runtime against real BEAM nodes: a test host
%% (build/progs/host_rt, test/c/progs/host_rt.c) joins a cluster of two
%% BEAM nodes running swarm, connected to the first one only, and runs
%% workers that BEAM code calls, monitors, links to and finds by name. At
%% the end of the cluster group the host is told to shut down and must exit
%% with status 0: run with HOST_RT=build-asan/progs/host_rt (built with the
%% asan target's flags) for the same cases under ASan and LeakSanitizer.
-module(host_rt_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, end_per_testcase/2]).
-export([calls_by_name_and_pid/1, monitors_and_noproc/1, links_and_exits/1, names_taken/1,
         c_calls_beam/1, groups_both_ways/1, unregister_and_stats/1, cnode_restart/1,
         host_death/1]).

-define(HOST, "127.0.0.1").

suite() -> [{timetrap, {minutes, 3}}].

all() -> [{group, cluster2}, host_death].

groups() ->
    [{cluster2, [],
      [calls_by_name_and_pid, monitors_and_noproc, links_and_exits, names_taken, c_calls_beam,
       groups_both_ways, unregister_and_stats, cnode_restart]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Config.

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

init_per_group(cluster2, Config) ->
    {Peers, Nodes, Host} = start_cluster("hrt"),
    [{peers, Peers}, {nodes, Nodes}, {host, Host} | Config].

end_per_group(cluster2, Config) ->
    [A | _] = ?config(nodes, Config),
    ok = ctl(A, shutdown),
    %% 0: the host stopped cleanly (under ASan, also without leaks).
    ?assertEqual(0, wait_host_exit(?config(host, Config))),
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

start_cluster(Prefix) ->
    Peers = swarm_ct:start_nodes(2, Prefix),
    Nodes = [N || {_, N} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    Host = start_host(Prefix, [hd(Nodes)]),
    %% The host learns the second node from the first one's C node.
    [B] = tl(Nodes),
    swarm_ct:wait_until(fun() -> proplists:get_value(members, ctl(B, stats)) =:= 2 end, 15000),
    {Peers, Nodes, Host}.

%% ---------------------------------------------------------------------------

%% @doc A worker registered by the host is found on every node and answers
%% GenServer.call by name and by pid; casts and plain messages reach it.
calls_by_name_and_pid(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, W} = ctl(A, {new, {hrt, 1}}),
    wait_whereis([A, B], {hrt, 1}, W),
    ?assertEqual({echo, hi}, swarm_ct:rpc(B, gen_server, call, [{via, swarm, {hrt, 1}}, hi])),
    ?assertEqual({echo, {x, 1}}, swarm_ct:rpc(A, gen_server, call, [W, {x, 1}])),
    ok = swarm_ct:rpc(B, gen_server, cast, [{via, swarm, {hrt, 1}}, a_cast]),
    swarm_ct:rpc(A, erlang, send, [W, plain]),
    wait_events(A, [{W, cast, a_cast}, {W, info, plain}]).

%% @doc A monitor on a worker fires with its exit reason; a call to the
%% dead worker exits noproc at once, and so does a monitor on it.
monitors_and_noproc(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, W} = ctl(A, {new, {hrt, 2}}),
    Res = swarm_ct:rpc(B, erlang, apply, [fun() ->
        Ref = erlang:monitor(process, W),
        ok = gen_server:call(W, stop),
        Down = receive {'DOWN', Ref, process, W, Why} -> Why after 5000 -> timeout end,
        T0 = erlang:monotonic_time(millisecond),
        Dead = (catch gen_server:call(W, hi, 4000)),
        Ms = erlang:monotonic_time(millisecond) - T0,
        Ref2 = erlang:monitor(process, W),
        Down2 = receive {'DOWN', Ref2, process, W, Why2} -> Why2 after 2000 -> timeout end,
        {Down, element(1, element(2, Dead)), Ms < 2000, Down2}
    end, []]),
    ?assertEqual({normal, noproc, true, noproc}, Res),
    wait_whereis([A, B], {hrt, 2}, undefined),
    %% A monitor by name on the host's node: noproc.
    Host = node(W),
    ?assertEqual(noproc, swarm_ct:rpc(A, erlang, apply, [fun() ->
        Ref = erlang:monitor(process, {nobody, Host}),
        receive {'DOWN', Ref, process, _, Why} -> Why after 5000 -> timeout end
    end, []])),
    wait_events(A, [{W, terminate, normal}]).

%% @doc Links: a linked BEAM process's exit stops a worker (or reaches it
%% as a message when it traps exits); exit/2 kill kills even a trapping
%% worker; a worker's stop reason reaches a linked BEAM process.
links_and_exits(Config) ->
    [A, _B] = ?config(nodes, Config),
    {ok, W1} = ctl(A, {new, none}),
    {ok, W2} = ctl(A, {new, none}),
    ok = ctl(A, {trap, W2, true}),
    Linker = fun(W) -> swarm_ct:rpc(A, erlang, spawn, [fun() -> link(W), receive go -> exit(boom) end end]) end,
    P1 = Linker(W1),
    P2 = Linker(W2),
    swarm_ct:wait_until(fun() -> proplists:get_value(links, ctl(A, stats)) =:= 2 end, 5000),
    P1 ! go,
    P2 ! go,
    wait_events(A, [{W1, terminate, boom}, {W2, info, {'EXIT', P2, boom}}]),
    swarm_ct:rpc(A, erlang, exit, [W2, kill]),
    wait_events(A, [{W2, terminate, killed}]),
    %% The worker's own stop reaches a linked, trapping BEAM process.
    {ok, W3} = ctl(A, {new, none}),
    Self = self(),
    _ = swarm_ct:rpc(A, erlang, spawn, [fun() ->
        process_flag(trap_exit, true),
        link(W3),
        Self ! linked,
        receive {'EXIT', W3, Why} -> Self ! {exit_seen, Why} after 10000 -> Self ! no_exit end
    end]),
    receive linked -> ok after 5000 -> ct:fail(not_linked) end,
    swarm_ct:wait_until(fun() -> proplists:get_value(links, ctl(A, stats)) =:= 1 end, 5000),
    ok = ctl(A, {stop, W3, {my, reason}}),
    receive {exit_seen, R} -> ?assertEqual({my, reason}, R); no_exit -> ct:fail(no_exit) end,
    %% Link then unlink: nothing left.
    {ok, W4} = ctl(A, {new, none}),
    ok = swarm_ct:rpc(A, erlang, apply, [fun() -> link(W4), unlink(W4), ok end, []]),
    swarm_ct:wait_until(fun() -> proplists:get_value(links, ctl(A, stats)) =:= 0 end, 5000),
    ok = ctl(A, {stop, W4, normal}),
    _ = ctl(A, events).

%% @doc Registration has the registry's semantics: a name a BEAM process
%% holds is refused with its holder, and the other way round.
names_taken(Config) ->
    [A, B] = ?config(nodes, Config),
    P = swarm_ct:spawn_idle(B),
    yes = swarm_ct:rpc(B, swarm, register_name, [{hrt, taken}, P]),
    ?assertEqual({taken, P}, ctl(A, {new, {hrt, taken}})),
    {ok, W} = ctl(A, {new, {hrt, mine}}),
    wait_whereis([A, B], {hrt, mine}, W),
    ?assertEqual(no, swarm_ct:rpc(B, swarm, register_name, [{hrt, mine}, P])),
    %% A second name for the same worker.
    {ok, W2} = ctl(A, {new, {hrt, other}}),
    ?assertEqual({error, estate}, ctl(A, {register, W2, {hrt, other}})),
    ?assertEqual({ok, W2}, ctl(A, {register, W2, {hrt, other2}})),
    wait_whereis([A, B], {hrt, other2}, W2),
    ok = ctl(A, {stop, W, normal}),
    ok = ctl(A, {stop, W2, normal}),
    wait_whereis([A, B], {hrt, mine}, undefined),
    P ! stop,
    _ = ctl(A, events).

%% @doc A worker calls BEAM processes and other workers: the reply, the
%% callee's absence, its silence and its crash each end the call.
c_calls_beam(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, Srv} = swarm_ct:spawn_server(B, {hrt, srv}, x),
    wait_whereis([A, B], {hrt, srv}, Srv),
    {ok, W} = ctl(A, {new, none}),
    {ok, W2} = ctl(A, {new, none}),
    ?assertEqual({ok, 42}, ctl(A, {call, W, {name, {hrt, srv}}, {echo, 42}, 2000})),
    ?assertEqual({ok, {echo, hi}}, ctl(A, {call, W, W2, hi, 2000})),
    ?assertEqual({enotfound, none}, ctl(A, {call, W, {name, {hrt, nobody}}, hi, 2000})),
    Idle = swarm_ct:spawn_idle(B),
    ?assertEqual({etimedout, none}, ctl(A, {call, W, Idle, hi, 300})),
    Idle ! stop,
    swarm_ct:wait_until(fun() -> not swarm_ct:rpc(B, erlang, is_process_alive, [Idle]) end, 5000),
    ?assertEqual({enotfound, none}, ctl(A, {call, W, Idle, hi, 2000})),
    {eexit, {Why, _}} = ctl(A, {call, W, Srv, crash, 2000}),
    ?assertEqual(crash_requested, Why),
    swarm_ct:wait_until(fun() -> proplists:get_value(calls_out, ctl(A, stats)) =:= 0 end, 5000),
    ok = ctl(A, {stop, W, normal}),
    ok = ctl(A, {stop, W2, normal}),
    _ = ctl(A, events).

%% @doc Groups both ways: a worker's membership is seen by the BEAM nodes,
%% a BEAM process's by the host; publish reaches both.
groups_both_ways(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, W} = ctl(A, {new, none}),
    ok = ctl(A, {join, W, {hrt, g}}),
    Self = self(),
    P = swarm_ct:rpc(B, erlang, spawn, [fun() -> Fwd = fun F() -> receive M -> Self ! {fwd, M}, F() end end, Fwd() end]),
    ok = swarm_ct:rpc(B, swarm, join, [{hrt, g}, P]),
    Both = lists:sort([W, P]),
    [swarm_ct:wait_until(fun() -> lists:sort(swarm_ct:rpc(N, swarm, members, [{hrt, g}])) =:= Both end, 10000)
     || N <- [A, B]],
    swarm_ct:wait_until(fun() -> lists:sort(ctl(A, {members, {hrt, g}})) =:= Both end, 10000),
    swarm_ct:rpc(B, swarm, publish, [{hrt, g}, from_beam]),
    receive {fwd, from_beam} -> ok after 5000 -> ct:fail(no_publish) end,
    ?assertEqual(2, ctl(A, {publish, {hrt, g}, from_host})),
    receive {fwd, from_host} -> ok after 5000 -> ct:fail(no_host_publish) end,
    wait_events(A, [{W, info, from_beam}, {W, info, from_host}]),
    ok = ctl(A, {leave, W, {hrt, g}}),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, members, [{hrt, g}]) =:= [P] end, 10000),
    ok = ctl(A, {join, W, {hrt, g}}),
    swarm_ct:wait_until(fun() -> length(swarm_ct:rpc(B, swarm, members, [{hrt, g}])) =:= 2 end, 10000),
    ok = ctl(A, {stop, W, normal}),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, members, [{hrt, g}]) =:= [P] end, 10000),
    exit(P, kill),
    _ = ctl(A, events).

%% @doc Unregister removes a name everywhere; stats count what they say.
unregister_and_stats(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, W} = ctl(A, {new, {hrt, unreg}}),
    wait_whereis([A, B], {hrt, unreg}, W),
    ?assertEqual(W, ctl(A, {whereis, {hrt, unreg}})),
    S0 = ctl(A, stats),
    ?assert(proplists:get_value(local_names, S0) >= 2), %% ctl's and this one
    ok = ctl(A, {unregister, W, {hrt, unreg}}),
    ?assertEqual({error, enotfound}, ctl(A, {unregister, W, {hrt, unreg}})),
    ?assertEqual(undefined, ctl(A, {whereis, {hrt, unreg}})),
    wait_whereis([A, B], {hrt, unreg}, undefined),
    S1 = ctl(A, stats),
    ?assertEqual(proplists:get_value(local_names, S0) - 1, proplists:get_value(local_names, S1)),
    ?assertEqual(2, proplists:get_value(members, S1)),
    ?assert(proplists:get_value(names, S1) >= 1),
    %% Garbage to a worker's pid is dropped and counted; the worker lives.
    D0 = proplists:get_value(dropped, S1),
    Dead = swarm_ct:rpc(A, erlang, apply, [fun() -> {ok, W9} = gen_server:call({via, swarm, {host_rt, ctl}}, {new, none}), gen_server:call({via, swarm, {host_rt, ctl}}, {stop, W9, normal}), W9 end, []]),
    swarm_ct:rpc(A, erlang, send, [Dead, to_the_dead]),
    swarm_ct:wait_until(fun() -> proplists:get_value(dropped, ctl(A, stats)) > D0 end, 5000),
    ?assertEqual({echo, alive}, swarm_ct:rpc(A, gen_server, call, [W, alive])),
    ok = ctl(A, {stop, W, normal}),
    _ = ctl(A, events).

%% @doc A C node killed and restarted by its BEAM node: the host connects
%% to the new one, which gets the host's names and groups again; the host
%% keeps working meanwhile (calls by pid need no C node).
cnode_restart(Config) ->
    [A, B] = ?config(nodes, Config),
    {ok, W} = ctl(B, {new, {hrt, survivor}}),
    ok = ctl(B, {join, W, {hrt, sg}}),
    wait_whereis([A, B], {hrt, survivor}, W),
    S0 = ctl(B, stats),
    R0 = proplists:get_value(reconnects, S0),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, swarm, members, [{hrt, sg}]) =:= [W] end, 15000),
    %% A's replica keeps the host's name and membership throughout: the
    %% new C node's initial sync waits for the host's (B's C node lists
    %% the host), and the agent drops nothing until then.
    Watch = watch(A, {hrt, survivor}, W, {hrt, sg}),
    swarm_ct:kill_cnode(A),
    swarm_ct:wait_until(fun() -> cnode_synced(A) end, 15000),
    wait_whereis([A, B], {hrt, survivor}, W),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(A, swarm, members, [{hrt, sg}]) =:= [W] end, 15000),
    {Misses, Rounds} = watched(Watch),
    ?assertEqual([], Misses),
    ?assert(Rounds > 0),
    ?assertEqual({echo, still}, swarm_ct:rpc(A, gen_server, call, [{via, swarm, {hrt, survivor}}, still])),
    swarm_ct:wait_until(fun() -> proplists:get_value(reconnects, ctl(B, stats)) > R0 end, 15000),
    swarm_ct:wait_until(fun() -> proplists:get_value(members, ctl(B, stats)) =:= 2 end, 15000),
    %% The host dropped nothing: A's agent_cnode_up went on to its runtime,
    %% which dialled the new C node at once (it was once dropped as a
    %% message for a worker, and the host waited for its redial tick).
    ?assertEqual(proplists:get_value(dropped, S0), proplists:get_value(dropped, ctl(B, stats))),
    %% New registrations go through the restarted C node too.
    {ok, W2} = ctl(A, {new, {hrt, after_restart}}),
    wait_whereis([A, B], {hrt, after_restart}, W2),
    ok = ctl(A, {stop, W, normal}),
    ok = ctl(A, {stop, W2, normal}),
    _ = ctl(A, events).

%% Both syncs of node A's C node (registry and groups) are complete.
cnode_synced(A) ->
    #{counters := C, group_counters := G} = swarm_ct:rpc(A, swarm, info, []),
    is_list(C) andalso is_list(G) andalso
        proplists:get_value(synced, C) =:= 1 andalso proplists:get_value(synced, G) =:= 1.

%% Starts a process on node Node that checks, every 2 ms (for at most 60 s),
%% that Name resolves to Pid and that Pid is a member of Group there.
watch(Node, Name, Pid, Group) ->
    Check = fun() ->
        {swarm:whereis_name(Name) =:= Pid, lists:member(Pid, swarm:members(Group))}
    end,
    swarm_ct:rpc(Node, erlang, spawn, [fun() -> watch_loop(Check, [], 0, 30000) end]).

watch_loop(Check, Misses, Rounds, Left) ->
    receive
        {stop, From} -> From ! {watched, self(), lists:reverse(Misses), Rounds}
    after 2 ->
        M = case Check() of
                {true, true} -> Misses;
                Seen -> [{erlang:monotonic_time(millisecond), Seen} | Misses]
            end,
        case Left of
            0 ->
                receive {stop, From} -> From ! {watched, self(), lists:reverse(M), Rounds + 1}
                after 60000 -> ok
                end;
            _ -> watch_loop(Check, M, Rounds + 1, Left - 1)
        end
    end.

%% The watcher's misses ([{Ms, {NameSeen, MemberSeen}}]) and rounds, once
%% stopped.
watched(Watch) ->
    Watch ! {stop, self()},
    receive {watched, Watch, Misses, Rounds} -> {Misses, Rounds}
    after 10000 -> error(watcher_silent)
    end.

%% @doc A host that dies (SIGKILL) takes its names and groups with it, on
%% every node.
host_death(_Config) ->
    {Peers, [A, B] = Nodes, Host} = start_cluster("hrtd"),
    {ok, W} = ctl(A, {new, {hrtd, 1}}),
    ok = ctl(A, {join, W, {hrtd, g}}),
    wait_whereis(Nodes, {hrtd, 1}, W),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, members, [{hrtd, g}]) =:= [W] end, 10000),
    kill_host(Host),
    wait_whereis(Nodes, {hrtd, 1}, undefined),
    wait_whereis(Nodes, {host_rt, ctl}, undefined),
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, members, [{hrtd, g}]) =:= [] end, 10000)
     || N <- Nodes],
    [swarm_ct:stop_node(P) || P <- Peers],
    ok.

%% ---------------------------------------------------------------------------

ctl(Node, Cmd) ->
    swarm_ct:rpc(Node, gen_server, call, [{via, swarm, {host_rt, ctl}}, Cmd, 15000]).

wait_whereis(Nodes, Name, Expected) ->
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [Name]) =:= Expected end, 10000)
     || N <- Nodes],
    ok.

%% Waits until the host's event log, read (and emptied) repeatedly, has
%% shown every expected event.
wait_events(Node, Expected) ->
    Seen = ets:new(seen, [bag]),
    swarm_ct:wait_until(fun() ->
                                ets:insert(Seen, [{E} || E <- ctl(Node, events)]),
                                lists:all(fun(E) -> ets:member(Seen, E) end, Expected)
                        end, 10000),
    ets:delete(Seen),
    ok.

start_host(Prefix, Beams) ->
    Name = Prefix ++ "_host_" ++ integer_to_list(erlang:unique_integer([positive])) ++ "@" ++ ?HOST,
    Parent = self(),
    Owner = spawn(fun() -> port_owner(Parent, Name, Beams) end),
    receive
        {Owner, ready, OsPid} -> {Owner, OsPid}
    after 30000 -> ct:fail(host_not_ready)
    end.

%% The host's exit status, once it exited by itself.
wait_host_exit({Owner, _OsPid}) ->
    Owner ! {self(), exit_status},
    receive {Owner, exited, St} -> St after 15000 -> ct:fail(host_exit_timeout) end.

kill_host({Owner, OsPid}) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    Owner ! {self(), stop},
    receive {Owner, stopped} -> ok after 15000 -> ct:fail(host_stop_timeout) end.

%% The program: $HOST_RT (e.g. an ASan build), else build/progs/host_rt.
port_owner(Parent, Name, Beams) ->
    Bin = case os:getenv("HOST_RT") of
              false -> filename:join([swarm_ct:root(), "build", "progs", "host_rt"]);
              B -> B
          end,
    Env = [{"SWARM_COOKIE", atom_to_list(erlang:get_cookie())}],
    Port = open_port({spawn_executable, Bin},
                     [{args, [Name | [atom_to_list(B) || B <- Beams]]}, {env, Env},
                      {line, 4096}, binary, exit_status, use_stdio, stderr_to_stdout]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    port_loop(Parent, Port, OsPid, []).

port_loop(Parent, Port, OsPid, Log) ->
    receive
        {Port, {data, {eol, <<"ready ", _/binary>>}}} ->
            Parent ! {self(), ready, OsPid},
            port_loop(Parent, Port, OsPid, Log);
        {Port, {data, {_, Line}}} ->
            port_loop(Parent, Port, OsPid, [Line | lists:sublist(Log, 300)]);
        {Port, {exit_status, St}} ->
            ct:pal("host_rt ~p exited with status ~p; last output:~n~s",
                   [OsPid, St, lists:join("\n", lists:reverse(Log))]),
            receive
                {From, stop} -> From ! {self(), stopped};
                {From, exit_status} -> From ! {self(), exited, St}
            end;
        {From, stop} ->
            port_close(Port),
            wait_exit(OsPid, 100),
            From ! {self(), stopped}
    end.

wait_exit(_OsPid, 0) -> ok;
wait_exit(OsPid, N) ->
    case os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>/dev/null && echo alive") of
        "alive\n" -> receive after 50 -> wait_exit(OsPid, N - 1) end;
        _ -> ok
    end.
