%% @doc C hosts: a C program (examples/sensor_host.c, built as
%% priv/sensor_host) joins a cluster of 3 real BEAM nodes running swarm
%% and hosts workers named {sensor, I}, which BEAM code calls through
%% {via, swarm, Name}, monitors, links to, and races for names.
-module(host_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, end_per_testcase/2]).
-export([calls_from_every_node/1, names_visible_everywhere/1, deferred_replies/1,
         slow_calls_do_not_block/1, race_one_yes/1, stopped_worker/1, link_exit/1,
         worker_calls_beam/1, groups/1, garbage/1,
         host_killed/1, beam_node_restart/1, host_sigterm/1, elixir_script/1,
         host_under_asan/1, host_under_valgrind/1]).
%% Run on the cluster's nodes.
-export([racer/3, linker/2]).

-define(SENSORS, 20).

suite() -> [{timetrap, {minutes, 5}}].

all() ->
    [{group, cluster3}, host_killed, beam_node_restart, host_sigterm, elixir_script,
     host_under_asan, host_under_valgrind].

groups() ->
    [{cluster3, [],
      [calls_from_every_node, names_visible_everywhere, deferred_replies,
       slow_calls_do_not_block, race_one_yes, worker_calls_beam, groups, link_exit,
       garbage, stopped_worker]}].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    case filelib:is_regular(host_exe()) of
        true -> Config;
        false -> {skip, "priv/sensor_host missing: run make"}
    end.

end_per_suite(_Config) ->
    ok.

init_per_group(cluster3, Config) ->
    {Peers, Nodes} = start_cluster(3, "h3"),
    Host = {_, _, HostNode} = start_host(Config, Nodes, ?SENSORS),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= ?SENSORS end, 10000) || N <- Nodes],
    [{peers, Peers}, {nodes, Nodes}, {host, Host} | Config].

end_per_group(cluster3, Config) ->
    stop_host(?config(host, Config)),
    [swarm_ct:stop_node(P) || P <- ?config(peers, Config)],
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

%% ---------------------------------------------------------------------------

%% @doc Every BEAM node calls and casts every sensor through the via tuple.
calls_from_every_node(Config) ->
    Nodes = ?config(nodes, Config),
    [begin
         {I, _} = call(N, {sensor, I}, read),
         ok = swarm_ct:rpc(N, gen_server, cast, [{via, swarm, {sensor, I}}, {set, {N, I}}]),
         swarm_ct:wait_until(fun() -> call(N, {sensor, I}, read) =:= {I, {N, I}} end, 5000)
     end || N <- Nodes, I <- lists:seq(1, ?SENSORS)],
    ok.

%% @doc The host's names are in every node's replica, with pids of the
%% host's node; whereis_name agrees everywhere.
names_visible_everywhere(Config) ->
    Nodes = ?config(nodes, Config),
    {_, _, HostNode} = ?config(host, Config),
    Pids = [begin
                Ps = [swarm_ct:rpc(N, swarm, whereis_name, [{sensor, I}]) || N <- Nodes],
                [P] = lists:usort(Ps),
                ?assertEqual(HostNode, node(P)),
                P
            end || I <- lists:seq(1, ?SENSORS)],
    ?assertEqual(?SENSORS, length(lists:usort(Pids))),
    [?assert(lists:member({{sensor, 1}, hd(Pids)}, swarm_ct:registry(N))) || N <- Nodes],
    ok.

%% @doc Replies kept for later: from a timer ({slow, Ms}) and from the
%% thread pool's completion ({compute, N}).
deferred_replies(Config) ->
    [N | _] = ?config(nodes, Config),
    done = call(N, {sensor, 2}, {slow, 200}),
    {sum, 500000500000} = call(N, {sensor, 2}, {compute, 1000000}),
    {sum, 0} = call(N, {sensor, 3}, {compute, 0}),
    {error, unknown_call} = call(N, {sensor, 3}, {no, such, call}),
    ok.

%% @doc 1,000 concurrent slow calls (3 s each, spread over the sensors)
%% do not hold up fast ones: every read made while they wait is answered
%% before any slow call is.
slow_calls_do_not_block(Config) ->
    [A, B | _] = ?config(nodes, Config),
    Self = self(),
    Slow = [spawn_link(fun() ->
                               R = swarm_ct:rpc(A, gen_server, call,
                                                [{via, swarm, {sensor, 1 + I rem ?SENSORS}},
                                                 {slow, 3000}, 30000]),
                               Self ! {slow, self(), R}
                       end) || I <- lists:seq(1, 1000)],
    %% Reads from another node while the slow calls wait.
    Reads = [call(B, {sensor, 1 + I rem ?SENSORS}, read) || I <- lists:seq(1, 100)],
    ?assertEqual(100, length([ok || {_, _} <- Reads])),
    %% No slow call was answered before the reads were all done.
    receive {slow, _, _} = Early -> ct:fail({slow_call_answered_early, Early})
    after 0 -> ok
    end,
    [receive {slow, P, R} -> ?assertEqual(done, R) after 30000 -> ct:fail(slow_call_lost) end
     || P <- Slow],
    ok.

%% @doc A BEAM process and a C worker race for each of 40 names, from
%% several nodes at once: exactly one `yes' per name, and every node
%% agrees on the winner.
race_one_yes(Config) ->
    Nodes = ?config(nodes, Config),
    Names = [{race, I, erlang:unique_integer()} || I <- lists:seq(1, 40)],
    Self = self(),
    Results =
        [begin
             Racer = lists:nth(1 + I rem length(Nodes), Nodes),
             Caller = lists:nth(1 + (I + 1) rem length(Nodes), Nodes),
             Go = make_ref(),
             P1 = spawn_link(fun() ->
                                     receive Go -> ok end,
                                     Self ! {self(), beam, swarm_ct:rpc(Racer, ?MODULE, racer, [Name, Self, 30000])}
                             end),
             P2 = spawn_link(fun() ->
                                     receive Go -> ok end,
                                     Self ! {self(), c, call(Caller, {sensor, 1 + I rem ?SENSORS}, {register, Name})}
                             end),
             P1 ! Go,
             P2 ! Go,
             {Name, [receive {P1, beam, R1} -> R1 after 20000 -> ct:fail(no_racer) end,
                     receive {P2, c, R2} -> R2 after 20000 -> ct:fail(no_worker) end]}
         end || {I, Name} <- lists:zip(lists:seq(1, length(Names)), Names)],
    [?assertEqual({Name, 1}, {Name, length([R || R <- Rs, R =:= yes])}) || {Name, Rs} <- Results],
    %% Every node shows the winner: the racer's pid if it said yes, else the
    %% sensor's.
    [begin
         Ps = [swarm_ct:rpc(N, swarm, whereis_name, [Name]) || N <- Nodes],
         swarm_ct:wait_until(fun() ->
                                     length(lists:usort([swarm_ct:rpc(N, swarm, whereis_name, [Name]) || N <- Nodes])) =:= 1
                             end, 5000),
         ?assertNotEqual(undefined, hd(Ps))
     end || {Name, _} <- Results],
    ok.

%% @doc Runs on a cluster node: a process that registers Name for itself
%% and stays alive Ms ms; returns its register_name result.
-spec racer(term(), pid(), pos_integer()) -> yes | no.
racer(Name, _Test, Ms) ->
    Self = self(),
    P = spawn(fun() ->
                      Self ! {self(), swarm:register_name(Name, self())},
                      receive stop -> ok after Ms -> ok end
              end),
    receive {P, R} -> R end.

%% @doc A C worker calls BEAM GenServers by name (and a name nobody has).
worker_calls_beam(Config) ->
    [A, B | _] = ?config(nodes, Config),
    {ok, Echo} = swarm_ct:spawn_server(A, echo_for_sensors, echo),
    ?assert(is_pid(Echo)),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [echo_for_sensors]) =:= Echo end, 5000),
    ?assertEqual({ok, hello}, call(B, {sensor, 4}, {call, echo_for_sensors, {echo, hello}})),
    {error, noproc} = call(B, {sensor, 4}, {call, nobody_has_this_name, x}),
    ok.

%% @doc Sensors joined group `sensors': members/1 everywhere lists them,
%% multi_call reaches each, publish is taken without harm.
groups(Config) ->
    Nodes = ?config(nodes, Config),
    {_, _, HostNode} = ?config(host, Config),
    [swarm_ct:wait_until(fun() ->
                                 Ms = swarm_ct:rpc(N, swarm, members, [sensors]),
                                 length([P || P <- Ms, node(P) =:= HostNode]) >= ?SENSORS - 1
                         end, 5000) || N <- Nodes],
    Replies = swarm_ct:rpc(hd(Nodes), swarm, multi_call, [sensors, read, 5000]),
    ?assert(length(Replies) >= ?SENSORS - 1),
    ok = swarm_ct:rpc(hd(Nodes), swarm, publish, [sensors, hello_from_beam]),
    {1, _} = call(hd(Nodes), {sensor, 1}, read),
    ok.

%% @doc A BEAM process linked to a worker that stops with a reason gets
%% that reason as an exit signal.
link_exit(Config) ->
    [A | _] = ?config(nodes, Config),
    Pid = swarm_ct:rpc(A, swarm, whereis_name, [{sensor, ?SENSORS}]),
    Got = swarm_ct:rpc(A, ?MODULE, linker, [Pid, {stop, {gone, fishing}}]),
    ?assertEqual({'EXIT', Pid, {gone, fishing}}, Got),
    ok.

%% @doc Runs on a cluster node: links to Pid (trapping exits), makes it
%% stop with a call, returns the exit signal received.
-spec linker(pid(), term()) -> term().
linker(Pid, Stop) ->
    Self = self(),
    P = spawn(fun() ->
                      process_flag(trap_exit, true),
                      link(Pid),
                      ok = gen_server:call(Pid, Stop),
                      receive {'EXIT', Pid, _} = E -> Self ! {self(), E}
                      after 10000 -> Self ! {self(), no_exit}
                      end
              end),
    receive {P, R} -> R after 15000 -> no_answer end.

%% @doc Garbage sent to a worker's pid and to the host's registered
%% names, and malformed frames and controls from a raw distribution
%% client: dropped; the host keeps serving.
garbage(Config) ->
    [A | _] = ?config(nodes, Config),
    {_, _, HostNode} = ?config(host, Config),
    Pid = swarm_ct:rpc(A, swarm, whereis_name, [{sensor, 5}]),
    Junk = [junk, {'$gen_call', not_a_from, read}, {'$gen_call', {self(), make_ref()}},
            {'$gen_cast'}, {'$gen_call', {x, y}, read}, <<0:8000>>, lists:seq(1, 500),
            {'$sw1', bogus}, make_ref(), fun() -> ok end],
    [swarm_ct:rpc(A, erlang, send, [Pid, J]) || J <- Junk],
    [swarm_ct:rpc(A, erlang, send, [{Reg, HostNode}, J]) || Reg <- [swarm, nobody, net_kernel], J <- Junk],
    {ok, C} = swarm_rawdist:connect(HostNode, #{name => <<(atom_to_binary(swarm_ct:unique("raw")))/binary, "@127.0.0.1">>,
                                                cookie => atom_to_binary(erlang:get_cookie())}),
    Me = swarm_rawdist:pid(C, 1),
    Frames = [{{2, '', Pid}, {ext, <<131, 104, 3, 97>>}},          % truncated message
              {{2, '', Pid}, {ext, <<131, 255, 0>>}},              % unknown tag
              {{2, '', Pid}, {'$gen_call', {Me, make_ref()}}},     % call of arity 2
              {{19, Me, Pid}, {ext, <<>>}},                        % MONITOR_P of arity 3
              {{19, Me, Pid, not_a_ref}, {ext, <<>>}},
              {{1, not_a_pid, Pid}, {ext, <<>>}},                  % LINK from no pid
              {{3, Me, Pid}, {ext, <<>>}},                         % EXIT of arity 3
              {{99, Me, Pid}, junk},                               % unknown control
              {{ext, <<131, 104>>}, junk}],                        % truncated control
    [ok = swarm_rawdist:send_frame(C, Ctrl, Msg) || {Ctrl, Msg} <- Frames],
    _ = swarm_rawdist:send_bytes(C, <<113, 1, 2, 3>>),             % not a pass-through
    swarm_rawdist:close(C),
    {5, _} = call(A, {sensor, 5}, read),
    {6, _} = call(A, {sensor, 6}, read),
    ?assertEqual(Pid, swarm_ct:rpc(A, swarm, whereis_name, [{sensor, 5}])),
    ok.

%% @doc A worker that stops: its monitors get its reason, a call to it
%% exits noproc at once (not after its timeout), its name leaves every
%% node.
stopped_worker(Config) ->
    Nodes = [A | _] = ?config(nodes, Config),
    Name = {sensor, 7},
    Pid = swarm_ct:rpc(A, swarm, whereis_name, [Name]),
    Self = self(),
    Watcher = spawn(A, fun() ->
                               Ref = erlang:monitor(process, Pid),
                               Self ! {watching, self()},
                               receive {'DOWN', Ref, process, Pid, Why} -> Self ! {down, Why}
                               after 10000 -> Self ! {down, none}
                               end
                       end),
    receive {watching, Watcher} -> ok after 5000 -> ct:fail(no_watcher) end,
    ok = call(A, Name, {stop, maintenance}),
    receive {down, W} -> ?assertEqual(maintenance, W) after 15000 -> ct:fail(no_down) end,
    [swarm_ct:wait_until(fun() -> swarm_ct:rpc(N, swarm, whereis_name, [Name]) =:= undefined end, 5000)
     || N <- Nodes],
    %% With a 60 s timeout, the exit must be noproc (the host answers the
    %% call's monitor), well before the timetrap.
    Res = swarm_ct:rpc(A, erlang, apply,
                       [fun() -> try gen_server:call(Pid, read, 60000)
                                 catch exit:{R, _} -> {exit, R}
                                 end
                        end, []]),
    ?assertEqual({exit, noproc}, Res),
    %% A monitor set on the dead pid fires at once, with noproc.
    Down = swarm_ct:rpc(A, erlang, apply,
                        [fun() -> Ref = erlang:monitor(process, Pid),
                                  receive {'DOWN', Ref, process, _, Why} -> Why after 10000 -> none end
                         end, []]),
    ?assertEqual(noproc, Down),
    ok.

%% @doc kill -9 of the host: its names leave every node.
host_killed(Config) ->
    {Peers, Nodes} = start_cluster(3, "hk"),
    {_, OsPid, HostNode} = start_host(Config, Nodes, 10),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 10 end, 10000) || N <- Nodes],
    os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 0 end, 10000) || N <- Nodes],
    [undefined = swarm_ct:rpc(N, swarm, whereis_name, [{sensor, 1}]) || N <- Nodes],
    [swarm_ct:stop_node(P) || P <- Peers],
    ok.

%% @doc A BEAM node of the cluster stops and comes back under the same
%% name: the host reconnects to it and its C node, and the sensors are
%% visible and callable from it again.
beam_node_restart(Config) ->
    {Peers, Nodes} = start_cluster(3, "hr"),
    [P1, P2, P3] = Peers,
    [N1, N2, N3] = Nodes,
    Host = {_, _, HostNode} = start_host(Config, [N1], 5),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 5 end, 10000) || N <- Nodes],
    swarm_ct:stop_node(P3),
    swarm_ct:wait_until(fun() -> not lists:member(N3, swarm_ct:rpc(N1, erlang, nodes, [])) end, 10000),
    {1, _} = call(N2, {sensor, 1}, read),
    {Name3, _} = split(N3),
    NewP3 = swarm_ct:start_node(list_to_atom(Name3)),
    ok = swarm_ct:connect_all([N1, N2, N3]),
    {ok, _} = swarm_ct:rpc(N3, application, ensure_all_started, [swarm]),
    ok = swarm_ct:wait_peers(Nodes),
    swarm_ct:wait_until(fun() -> host_names(N3, HostNode) =:= 5 end, 15000),
    {2, _} = call(N3, {sensor, 2}, read),
    %% The host's registrations after the restart reach the new node too.
    yes = call(N3, {sensor, 3}, {register, after_restart}),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(N1, swarm, whereis_name, [after_restart]) =/= undefined end, 5000),
    stop_host(Host),
    [swarm_ct:stop_node(P) || P <- [P1, P2, NewP3]],
    ok.

%% @doc SIGTERM: the host exits 0 and its names leave every node.
host_sigterm(Config) ->
    {Peers, Nodes} = start_cluster(2, "ht"),
    Host = {_, _, HostNode} = start_host(Config, Nodes, 5),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 5 end, 10000) || N <- Nodes],
    0 = stop_host(Host),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 0 end, 10000) || N <- Nodes],
    [swarm_ct:stop_node(P) || P <- Peers],
    ok.

%% @doc examples/sensors.exs, run by `elixir' on a node of its own that
%% joins the cluster, calls the sensors through the via tuple and
%% finishes (exit status 0).
elixir_script(Config) ->
    case os:find_executable("elixir") of
        false -> {skip, "elixir missing"};
        Elixir ->
            {Peers, Nodes = [A | _]} = start_cluster(2, "hx"),
            Host = {_, _, HostNode} = start_host(Config, Nodes, 3),
            [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 3 end, 10000) || N <- Nodes],
            Root = swarm_ct:root(),
            Client = atom_to_list(swarm_ct:unique("exs")) ++ "@127.0.0.1",
            Port = open_port({spawn_executable, Elixir},
                             [{args, ["--name", Client, "--erl", "-setcookie " ++ atom_to_list(erlang:get_cookie()),
                                      "-pa", filename:join(Root, "_build/default/lib/swarm/ebin"),
                                      filename:join(Root, "examples/sensors.exs"), atom_to_list(A), "3"]},
                              exit_status, {line, 4096}, stderr_to_stdout]),
            {Status, Lines} = collect(Port, []),
            ct:log("~s", [[[L, $\n] || L <- Lines]]),
            ?assertEqual(0, Status),
            ?assert(lists:any(fun(L) -> string:find(L, "stopped: :maintenance") =/= nomatch end, Lines)),
            ?assert(lists:any(fun(L) -> string:find(L, "exits :noproc") =/= nomatch end, Lines)),
            stop_host(Host),
            [swarm_ct:stop_node(P) || P <- Peers],
            ok
    end.

collect(Port, Acc) ->
    receive
        {Port, {data, {_, L}}} -> collect(Port, [L | Acc]);
        {Port, {exit_status, S}} -> {S, lists:reverse(Acc)}
    after 60000 -> ct:fail(elixir_script_hangs)
    end.

%% @doc The host under AddressSanitizer + UBSan + LeakSanitizer
%% (build-asan/sensor_host, made by `make asan'): a workload, then SIGTERM;
%% no report.
host_under_asan(Config) ->
    Exe = filename:join([swarm_ct:root(), "build-asan", "sensor_host"]),
    case filelib:is_regular(Exe) of
        false -> {skip, "build-asan/sensor_host missing: run make asan"};
        true ->
            Dir = filename:join(?config(priv_dir, Config), "asan"),
            ok = filelib:ensure_dir(filename:join(Dir, "x")),
            Log = filename:join(Dir, "report"),
            Env = [{"ASAN_OPTIONS", "log_path=" ++ Log ++ ":detect_leaks=1"},
                   {"UBSAN_OPTIONS", "log_path=" ++ Log ++ ":print_stacktrace=1"}],
            workload(Config, "ha", Exe, [], Env),
            ?assertEqual([], reports(Dir))
    end.

%% @doc The host under valgrind (memcheck; definite leaks at exit count).
host_under_valgrind(Config) ->
    case os:find_executable("valgrind") of
        false -> {skip, "valgrind missing"};
        Valgrind ->
            Dir = filename:join(?config(priv_dir, Config), "valgrind"),
            ok = filelib:ensure_dir(filename:join(Dir, "x")),
            Args = ["-q", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--log-file=" ++ Dir ++ "/report.%p",
                    host_exe()],
            workload(Config, "hv", Valgrind, Args, []),
            ?assertEqual([], reports(Dir))
    end.

%% ---------------------------------------------------------------------------

%% Calls, casts, a race, a stop with monitors and links, a C->BEAM call,
%% garbage, then SIGTERM: the host must exit 0.
workload(Config, Prefix, Exe, PreArgs, Env) ->
    {Peers, Nodes = [A, B]} = start_cluster(2, Prefix),
    Host = {_, _, HostNode} = start_host(Config, Nodes, 5, Exe, PreArgs, Env, 60000),
    [swarm_ct:wait_until(fun() -> host_names(N, HostNode) =:= 5 end, 30000) || N <- Nodes],
    [{I, _} = call(N, {sensor, I}, read) || N <- Nodes, I <- lists:seq(1, 5)],
    ok = swarm_ct:rpc(A, gen_server, cast, [{via, swarm, {sensor, 1}}, {set, 42}]),
    swarm_ct:wait_until(fun() -> call(B, {sensor, 1}, read) =:= {1, 42} end, 10000),
    done = call(A, {sensor, 2}, {slow, 50}),
    {sum, 55} = call(A, {sensor, 2}, {compute, 10}),
    {ok, _} = swarm_ct:spawn_server(A, vg_echo, echo),
    swarm_ct:wait_until(fun() -> swarm_ct:rpc(B, swarm, whereis_name, [vg_echo]) =/= undefined end, 10000),
    {ok, _} = call(B, {sensor, 3}, {call, vg_echo, {echo, 1}}),
    _ = call(A, {sensor, 3}, {register, vg_race}),
    Pid4 = swarm_ct:rpc(A, swarm, whereis_name, [{sensor, 4}]),
    [swarm_ct:rpc(A, erlang, send, [Pid4, J]) || J <- [junk, {'$gen_call', x, y}, <<1, 2, 3>>]],
    {'EXIT', Pid4, bye} = swarm_ct:rpc(A, ?MODULE, linker, [Pid4, {stop, bye}]),
    noproc = swarm_ct:rpc(A, erlang, apply,
                          [fun() -> try gen_server:call(Pid4, read, 30000) catch exit:{R, _} -> R end end, []]),
    0 = stop_host(Host),
    [swarm_ct:stop_node(P) || P <- Peers],
    ok.

reports(Dir) ->
    [F || F <- filelib:wildcard(filename:join(Dir, "report*")), filelib:file_size(F) > 0].

start_cluster(N, Prefix) ->
    Peers = swarm_ct:start_nodes(N, Prefix),
    Nodes = [Node || {_, Node} <- Peers],
    ok = swarm_ct:start_swarm(Nodes),
    {Peers, Nodes}.

host_exe() ->
    filename:join([swarm_ct:root(), "priv", "sensor_host"]).

%% Starts priv/sensor_host with N sensors, told about Nodes; waits for its
%% ready line. Returns {Keeper, OsPid, HostNode}: Keeper owns the port (a
%% process of its own, since init_per_group and end_per_group run in
%% different processes, and a port's messages go to its owner).
start_host(Config, Nodes, N) ->
    start_host(Config, Nodes, N, host_exe(), [], [], 20000).

start_host(Config, Nodes, N, Exe, PreArgs, Env, Timeout) ->
    HostNode = swarm_ct:unique("sensors"),
    HostName = atom_to_list(HostNode) ++ "@127.0.0.1",
    CookieFile = filename:join(?config(priv_dir, Config), HostName ++ ".cookie"),
    ok = file:write_file(CookieFile, atom_to_list(erlang:get_cookie())),
    ok = file:change_mode(CookieFile, 8#600),
    Args = PreArgs ++ ["--name", HostName, "--cookie-file", CookieFile, "--sensors", integer_to_list(N)]
        ++ lists:append([["--connect", atom_to_list(B)] || B <- Nodes]),
    Self = self(),
    Keeper = spawn(fun() -> keeper(Self, Exe, Args, Env, Timeout) end),
    receive
        {ready, Keeper, OsPid} -> {Keeper, OsPid, list_to_atom(HostName)};
        {failed, Keeper, Why} -> ct:fail(Why)
    after Timeout + 5000 -> ct:fail(host_not_ready)
    end.

keeper(Parent, Exe, Args, Env, Timeout) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {env, Env}, exit_status, {line, 4096}, use_stdio]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    case wait_ready(Port, Timeout) of
        ok ->
            Parent ! {ready, self(), OsPid},
            keeper_loop(Port, OsPid);
        Why ->
            Parent ! {failed, self(), Why}
    end.

wait_ready(Port, Timeout) ->
    receive
        {Port, {data, {eol, "sensor_host ready" ++ _}}} -> ok;
        {Port, {data, _}} -> wait_ready(Port, Timeout);
        {Port, {exit_status, S}} -> {host_exited, S}
    after Timeout -> host_not_ready
    end.

keeper_loop(Port, OsPid) ->
    receive
        {stop, From} ->
            os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
            From ! {stopped, self(), wait_exit(Port)};
        {Port, {data, _}} ->
            keeper_loop(Port, OsPid);
        {Port, {exit_status, S}} ->
            receive {stop, From} -> From ! {stopped, self(), {exited, S}} end
    end.

wait_exit(Port) ->
    receive
        {Port, {exit_status, S}} -> S;
        {Port, {data, _}} -> wait_exit(Port)
    after 30000 -> host_did_not_exit
    end.

%% SIGTERM; returns the exit status (or fails).
stop_host({Keeper, _, _}) ->
    Keeper ! {stop, self()},
    receive
        {stopped, Keeper, S} when is_integer(S) -> S;
        {stopped, Keeper, Other} -> ct:fail(Other)
    after 40000 -> ct:fail(host_keeper_lost)
    end.

call(Node, Name, Msg) ->
    swarm_ct:rpc(Node, gen_server, call, [{via, swarm, Name}, Msg, 20000]).

%% How many names Node's replica gives to pids of HostNode.
host_names(Node, HostNode) ->
    length([x || {_, P} <- swarm_ct:registry(Node), node(P) =:= HostNode]).

split(Node) ->
    [A, H] = string:split(atom_to_list(Node), "@"),
    {A, H}.
