%% @private
%% @doc The demo run by `make demo' (scripts/demo.sh): starts a cluster of 3
%% BEAM nodes on 127.0.0.1 with OTP's peer, runs swarm on each, registers
%% workers (placed by the ring with register_name/4, and through
%% {via, swarm, Name}), starts a C host (priv/sensor_host, examples/
%% sensor_host.c) whose C workers join the swarm, calls all of them from
%% other nodes, stops a node gracefully (SIGTERM) and shows the placed
%% workers moved with their state, the others of that node gone and the C
%% workers still served. Prints what it does;
%% halts non-zero on any failure.
-module(swarm_demo).
-compile(warn_missing_spec).
-export([main/0]).

-spec main() -> ok.
main() ->
    try run() of
        ok -> io:format("~ndemo: OK~n")
    catch C:E:St ->
        io:format("~ndemo: FAILED ~p:~p~n~p~n", [C, E, St]),
        _ = case get(host) of
                {_, OsPid} -> os:cmd("kill -KILL " ++ integer_to_list(OsPid));
                undefined -> ok
            end,
        halt(1)
    end.

-spec run() -> ok.
run() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Cookie = atom_to_list(erlang:get_cookie()),
    Peers = [begin
                 {ok, Peer, N} = peer:start(#{name => list_to_atom("demo_" ++ S ++ "_" ++ os:getpid()),
                                              host => "127.0.0.1", longnames => true,
                                              args => ["-setcookie", Cookie, "-pa" | Paths]}),
                 {Peer, N}
             end || S <- ["a", "b", "c"]],
    Nodes = [N || {_, N} <- Peers],
    [A, B, C] = Nodes,
    [true = rpc:call(X, net_kernel, connect_node, [Y]) || X <- Nodes, Y <- Nodes, X =/= Y],
    say("started 3 BEAM nodes: ~w", [Nodes]),
    _ = [{ok, _} = rpc:call(N, application, ensure_all_started, [swarm]) || N <- Nodes],
    say("swarm running on each; C nodes: ~w", [[rpc:call(N, swarm_agent, cnode, []) || N <- Nodes]]),
    %% Workers placed by the hash ring (register_name/4): they move when
    %% their node goes away.
    Placed = [{placed, I} || I <- lists:seq(1, 9)],
    [begin
         {ok, Pid} = rpc:call(lists:nth(1 + I rem 3, Nodes), swarm, register_name,
                              [Name, swarm_demo_worker, start_link, [Name]]),
         say("register_name(~w, swarm_demo_worker, start_link, ...) -> ~w on ~w", [Name, Pid, node(Pid)])
     end || {placed, I} = Name <- Placed],
    %% Workers registered where they run ({via, swarm, Name}): they stay put,
    %% and go away with their node.
    Local = [{{local, I}, lists:nth(1 + I rem 3, Nodes)} || I <- lists:seq(1, 3)],
    [begin
         {ok, Pid} = rpc:call(N, gen_server, start, [{via, swarm, Name}, swarm_demo_worker, Name, []]),
         say("gen_server:start({via, swarm, ~w}, ...) on ~w -> ~w", [Name, N, Pid])
     end || {Name, N} <- Local],
    %% A C host joins: 3 C workers named {sensor, I}, hosted by a C program.
    Host = start_host(A),
    Sensors = [{sensor, I} || I <- lists:seq(1, 3)],
    [begin
         wait(fun() -> is_pid(rpc:call(N, swarm, whereis_name, [Name])) end),
         Pid = rpc:call(N, swarm, whereis_name, [Name]),
         ok = rpc:call(N, gen_server, cast, [{via, swarm, Name}, {set, {from, N}}]),
         wait(fun() -> rpc:call(N, gen_server, call, [{via, swarm, Name}, read]) =:= {I, {from, N}} end),
         say("from ~w: ~w is ~w on the C host ~w; cast {set, ...}, then call read -> ~w",
             [N, Name, Pid, node(Pid), rpc:call(N, gen_server, call, [{via, swarm, Name}, read])])
     end || {N, {sensor, I} = Name} <- lists:zip(Nodes, Sensors)],
    say("from ~w: swarm:multi_call(sensors, read) -> ~w",
        [C, lists:sort(rpc:call(C, swarm, multi_call, [sensors, read]))]),
    All = Placed ++ [Name || {Name, _} <- Local] ++ Sensors,
    wait(fun() -> length(rpc:call(C, swarm, registered, [])) =:= length(All) end),
    [begin
         Reply = rpc:call(B, gen_server, call, [{via, swarm, Name}, ask(Name)]),
         say("from ~w: gen_server:call({via, swarm, ~w}, ~w) -> ~w", [B, Name, ask(Name), Reply])
     end || Name <- All],
    %% Stop the node that runs the most placed workers (not the one we ask).
    Count = fun(N) -> length([x || P <- Placed, node(rpc:call(A, swarm, whereis_name, [P])) =:= N]) end,
    Victim = hd(lists:reverse(lists:sort(fun(X, Y) -> Count(X) =< Count(Y) end, [A, C]))),
    OnVictim = [Name || Name <- All, node(rpc:call(A, swarm, whereis_name, [Name])) =:= Victim],
    say("stopping ~w gracefully (SIGTERM to its VM), which runs ~w", [Victim, OnVictim]),
    VictimOs = rpc:call(Victim, os, getpid, []),
    _ = os:cmd("kill -TERM " ++ VictimOs),
    wait(fun() -> net_adm:ping(Victim) =:= pang end),
    catch peer:stop(element(1, lists:keyfind(Victim, 2, Peers))),
    Expected = length(All) - length([x || {local, _} <- OnVictim]),
    Ask = hd([A, C] -- [Victim]),
    wait(fun() -> length(rpc:call(Ask, swarm, registered, [])) =:= Expected
                      andalso lists:all(fun({placed, _} = Nm) -> is_pid(rpc:call(Ask, swarm, whereis_name, [Nm]));
                                           (_) -> true end, Placed) end),
    [begin
         Where = rpc:call(B, swarm, whereis_name, [Name]),
         Reply = case Where of
                     undefined -> gone;
                     _ -> rpc:call(B, gen_server, call, [{via, swarm, Name}, ask(Name)])
                 end,
         say("after the stop, from ~w: ~w -> ~w", [B, Name, Reply])
     end || Name <- All],
    say("placed workers moved to the survivors with their state (their call counts go on); "
        "via-registered ones of ~w are gone; the C workers stayed", [Victim]),
    ok = stop_host(Host),
    wait(fun() -> rpc:call(Ask, swarm, whereis_name, [{sensor, 1}]) =:= undefined end),
    say("C host stopped (SIGTERM): its names left the cluster"),
    [peer:stop(P) || {P, N} <- Peers, N =/= Victim],
    ok.

%% Starts priv/sensor_host with 3 sensors, told about BEAM node Beam (it
%% finds the others through it); the cookie goes through a file only it
%% can read. Waits for its ready line.
-spec start_host(node()) -> {port(), integer()}.
start_host(Beam) ->
    Exe = filename:join(code:priv_dir(swarm), "sensor_host"),
    Name = "demo_sensors_" ++ os:getpid() ++ "@127.0.0.1",
    CookieFile = filename:join(os:getenv("TMPDIR", "/tmp"), Name ++ ".cookie"),
    ok = file:write_file(CookieFile, atom_to_list(erlang:get_cookie())),
    ok = file:change_mode(CookieFile, 8#600),
    Port = open_port({spawn_executable, Exe},
                     [{args, ["--name", Name, "--cookie-file", CookieFile,
                              "--connect", atom_to_list(Beam), "--sensors", "3"]},
                      exit_status, {line, 1024}, use_stdio]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    put(host, {Port, OsPid}),
    Line = receive {Port, {data, {eol, L}}} -> L;
                   {Port, {exit_status, S}} -> error({sensor_host_exited, S})
           after 20000 -> error(sensor_host_not_ready)
           end,
    _ = file:delete(CookieFile),
    say("C host started: ~s", [Line]),
    {Port, OsPid}.

-spec stop_host({port(), integer()}) -> ok.
stop_host({Port, OsPid}) ->
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    erase(host),
    receive {Port, {exit_status, 0}} -> ok;
            {Port, {exit_status, S}} -> error({sensor_host_exit_status, S})
    after 20000 -> error(sensor_host_did_not_stop)
    end.

%% What the demo asks a worker: the C sensors answer `read'.
-spec ask(term()) -> hello | read.
ask({sensor, _}) -> read;
ask(_) -> hello.

-spec say(string()) -> ok.
say(F) -> say(F, []).

-spec say(string(), [term()]) -> ok.
say(F, A) -> io:format("demo: " ++ F ++ "~n", A).

-spec wait(fun(() -> boolean())) -> ok.
wait(F) -> wait(F, 200).

-spec wait(fun(() -> boolean()), non_neg_integer()) -> ok.
wait(_F, 0) -> error(timeout);
wait(F, K) ->
    case catch F() of
        true -> ok;
        _ -> receive after 50 -> wait(F, K - 1) end
    end.

