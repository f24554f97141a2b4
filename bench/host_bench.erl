%% @doc The C host benchmark (bench/run.sh, after the others): via calls to
%% C workers of a C host (priv/sensor_host, examples/sensor_host.c) against
%% the same calls to GenServers on another BEAM node, in the same run, on a
%% local cluster of 3 BEAM nodes (each with its C node) started with OTP's
%% `peer' on 127.0.0.1, driven from this hidden coordinator node; and the
%% memory of an idle C worker against an idle GenServer.
%%
%% Calls: GenServer.call({via, swarm, Name}, read) to 8 C workers
%% {sensor, I} (the host's) and to 8 GenServers {gsensor, I} on node a
%% (so both kinds cross a distribution connection); 1 caller and 8 callers
%% (one name each) on node b, then 8 callers split over nodes b and c (so
%% that neither one callers' node nor its one connection bounds the rate);
%% the kinds alternate, several rounds, median reported. Latency per call
%% with os:perf_counter. CPU per call (/proc, 10 ms ticks) of the callers'
%% nodes, of the workers' side (the host's process, or node a's BEAM) and
%% of the whole machine, medians of the rounds: which process bounds the
%% rate. The host runs with its default loop (polling 100 us after work),
%% then sleeping as soon as it is idle (--spin-us -1).
%%
%% Memory: the host's RSS with M idle workers (no name, no callbacks)
%% against one with none, per worker; then with min(M, 10000) named workers in a group
%% (the sensors: a registry entry and a membership each); an idle GenServer
%% is erlang:memory(processes) over M of them on node a.
%%
%% Knobs (environment): SWARM_HOST_BENCH_CALLS (calls per round and kind,
%% default 40000), SWARM_HOST_BENCH_ROUNDS (default 3), SWARM_HOST_BENCH_MEM_N
%% (M, default 100000), SWARM_HOST_BENCH_CALLERS (caller counts measured,
%% default "1,8"), SWARM_HOST_BENCH_SPINS (more host loop settings to
%% measure, e.g. "20,50": --spin-us values),
%% SWARM_HOST_BENCH_OUT (report file; without it the
%% report is appended to SWARM_BENCH_OUT, run.sh's report, if set).
-module(host_bench).

-export([main/0]).
-import(bench_lib, [envint/2, rpc/4, wait_until/2, pct/2, median/1, us/1, vmrss/1, proc_cpu_ms/1,
                    busy_ms/0]).
%% Run on the cluster's nodes.
-export([caller/4, start_gservers/1, idle_gservers/1]).
%% The GenServer compared with.
-export([init/1, handle_call/3, handle_cast/2]).

-define(HOST, "127.0.0.1").

%% ===========================================================================
%% Entry point (coordinator)

main() ->
    T0 = erlang:monotonic_time(millisecond),
    {Out, Modes} = case {os:getenv("SWARM_HOST_BENCH_OUT"), os:getenv("SWARM_BENCH_OUT")} of
                       {false, false} -> {"bench/results/host_latest.txt", []};
                       {false, Run} -> {Run, [append]};
                       {O, _} -> {O, []}
                   end,
    put(report, []),
    put(hosts, []),
    Res = try run() of
              ok -> ok
          catch C:E:St ->
              say("~nhost bench FAILED: ~p:~p~n~p", [C, E, St]),
              error
          end,
    [catch stop_host(H) || H <- get(hosts)],
    say("~ntotal host bench time: ~.1f s", [(erlang:monotonic_time(millisecond) - T0) / 1000]),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, lists:reverse(get(report)), Modes),
    io:format("(report written to ~s)~n", [Out]),
    [catch peer:stop(P) || P <- case get(peers) of undefined -> []; Ps -> Ps end],
    halt(case Res of ok -> 0; error -> 1 end).

run() ->
    Calls = envint("SWARM_HOST_BENCH_CALLS", 40000),
    Rounds = envint("SWARM_HOST_BENCH_ROUNDS", 3),
    MemN = envint("SWARM_HOST_BENCH_MEM_N", 100000),
    CallerCounts = [list_to_integer(C) || C <- string:lexemes(os:getenv("SWARM_HOST_BENCH_CALLERS", "1,8"), ",")],
    say("swarm C host benchmark  ~s  OTP ~s, ~p cores, host ~s",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available), ?HOST]),
    say("load average at start: ~s", [string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg"))]),
    Nodes = [A, B, C3] = start_cluster(),
    OsPid = maps:from_list([{X, list_to_integer(rpc(X, os, getpid, []))} || X <- Nodes]),
    AOs = maps:get(A, OsPid),
    say("cluster: ~p", [Nodes]),
    ok = rpc(A, ?MODULE, start_gservers, [8]),
    wait_until(fun() -> lists:all(fun(I) -> is_pid(rpc(B, swarm, whereis_name, [{gsensor, I}])) end,
                                  lists:seq(1, 8)) end, 20000),
    section(io_lib:format("Via calls from node b (and c): C workers of a C host against GenServers on"
                          " node a; ~p calls per round and kind, ~p rounds, median", [Calls, Rounds])),
    %% Caller placements: N callers on node b for each count; with more than
    %% one, also the same number split over nodes b and c, where no single
    %% callers' node (nor its one connection to the workers' node) bounds
    %% the rate.
    Specs = [{integer_to_list(N) ++ " caller(s)", [{B, N}]} || N <- CallerCounts]
        ++ [{integer_to_list(N) ++ " caller(s) on b and c", [{B, N - N div 2}, {C3, N div 2}]}
            || N <- CallerCounts, N > 1],
    %% The host as configured by default (spin_us 100: its loop polls for
    %% 100 us after work before it sleeps), then one that sleeps as soon as
    %% it is idle (--spin-us -1), the lever measured alone, with every
    %% placement; then any SWARM_HOST_BENCH_SPINS, with several callers.
    [begin
         Host = {_, HostOs} = start_host(Nodes, ["--sensors", "8" | SpinArgs]),
         [wait_until(fun() -> lists:all(fun(I) -> is_pid(rpc(X, swarm, whereis_name, [{sensor, I}]))
                                        end, lists:seq(1, 8)) end, 20000) || X <- [B, C3]],
         %% Warm-up.
         _ = calls(sensor, [{B, 4}, {C3, 4}], 2000),
         _ = calls(gsensor, [{B, 4}, {C3, 4}], 2000),
         Rows = [begin
                     CallersOs = [maps:get(X, OsPid) || {X, _} <- Spec],
                     Rs = [{cpu_calls(CallersOs, HostOs, sensor, Spec, Calls),
                            cpu_calls(CallersOs, AOs, gsensor, Spec, Calls)}
                           || _ <- lists:seq(1, Rounds)],
                     {What, summary([R || {R, _} <- Rs]), summary([R || {_, R} <- Rs])}
                 end || {What, Spec} <- Specs, lists:member(length(Spec), Placements),
                        lists:sum([N || {_, N} <- Spec]) > 1 orelse not MultiOnly],
         say("host loop: ~s", [Label]),
         [begin
              say("~s: C worker  ~8s calls/s, p50 ~s us, p99 ~s us", [What, rate(CR), us(CP50), us(CP99)]),
              say("~s: GenServer ~8s calls/s, p50 ~s us, p99 ~s us", [What, rate(GR), us(GP50), us(GP99)]),
              say("~s: C worker / GenServer: rate ~.2fx, p50 ~.2fx, p99 ~.2fx~s",
                  [What, CR / GR, CP50 / GP50, CP99 / GP99, Target]),
              say("~s: CPU per call, C worker: callers' node(s) ~.1f us, host ~.1f us, machine ~.1f us;"
                  " GenServer: callers' node(s) ~.1f us, node a ~.1f us, machine ~.1f us",
                  [What, CB, CW, CM, GB, GW, GM])
          end || {What, {CR, CP50, CP99, [CB, CW], CM}, {GR, GP50, GP99, [GB, GW], GM}} <- Rows],
         stop_host(Host),
         %% Its names gone before the next host registers them.
         wait_until(fun() -> lists:all(fun(I) -> rpc(B, swarm, whereis_name, [{sensor, I}]) =:= undefined end,
                                       lists:seq(1, 8)) end, 20000)
     end || {Label, SpinArgs, Placements, MultiOnly, Target} <-
                [{"default (polls 100 us after work)", [], [1, 2], false, " (target: rate >= 1)"},
                 {"--spin-us -1 (sleeps at once when idle)", ["--spin-us", "-1"], [1, 2], false, ""}]
                 ++ [{"--spin-us " ++ S, ["--spin-us", S], [1, 2], true, ""}
                     || S <- string:lexemes(os:getenv("SWARM_HOST_BENCH_SPINS", ""), ",")]],

    section(io_lib:format("Memory: ~p workers on a C host, against ~p idle GenServers", [MemN, MemN])),
    Bare = start_host(Nodes, ["--sensors", "0"]),
    Idle = start_host(Nodes, ["--sensors", "0", "--idle", integer_to_list(MemN)]),
    %% Named workers: fewer (registrations from one host are answered one
    %% by one; see the README's limits).
    NamedN = min(MemN, 10000),
    Named = start_host(Nodes, ["--sensors", integer_to_list(NamedN)]),
    wait_until(fun() -> is_pid(rpc(B, swarm, whereis_name, [{sensor, NamedN}])) end, 120000),
    [RBare, RIdle, RNamed] = [settled_rss(H) || H <- [Bare, Idle, Named]],
    PerIdle = (RIdle - RBare) / MemN,
    PerNamed = (RNamed - RBare) / NamedN,
    GenServer = rpc(A, ?MODULE, idle_gservers, [MemN]),
    say("host RSS: bare ~.1f MiB, with ~p idle workers ~.1f MiB, with ~p named workers in a group ~.1f MiB",
        [RBare / 1048576, MemN, RIdle / 1048576, NamedN, RNamed / 1048576]),
    say("idle C worker: ~w bytes (target <= 256); named and in a group: ~w bytes (with its registry"
        " entry and membership in the host's replica, and the example's own record)",
        [round(PerIdle), round(PerNamed)]),
    say("idle GenServer on a BEAM node: ~w bytes; idle C worker / GenServer: ~.3f",
        [round(GenServer), PerIdle / GenServer]),
    [stop_host(H) || H <- [Bare, Idle, Named]],
    ok.

%% {Rate, P50 ns, P99 ns, [CPU us per call of each OS process], machine CPU
%% us per call}: the medians of the rounds.
summary(Rs) ->
    Cpu = [median([lists:nth(I, C) || #{cpu := C} <- Rs]) || I <- lists:seq(1, length(maps:get(cpu, hd(Rs))))],
    {median([R || #{rate := R} <- Rs]), median([P || #{p50 := P} <- Rs]), median([P || #{p99 := P} <- Rs]),
     Cpu, median([M || #{machine := M} <- Rs])}.

%% calls/3, with the CPU time that the callers' nodes (CallersOs, summed),
%% the workers' process (WorkerOs) and the whole machine spent meanwhile,
%% per call (us): keys cpu ([callers, worker]) and machine.
cpu_calls(CallersOs, WorkerOs, Kind, Spec, Calls) ->
    Cpu = fun() -> [lists:sum([proc_cpu_ms(P) || P <- CallersOs]), proc_cpu_ms(WorkerOs)] end,
    {C0, M0} = {Cpu(), busy_ms()},
    R = #{n := N} = calls(Kind, Spec, Calls),
    {C1, M1} = {Cpu(), busy_ms()},
    R#{cpu => [(X1 - X0) * 1000 / N || {X0, X1} <- lists:zip(C0, C1)], machine => (M1 - M0) * 1000 / N}.

%% Spec's callers ({Node, Count} each; caller I calls {Kind, I}), all
%% started together, Calls div their number calls each; returns #{rate, p50,
%% p99, n} (n: the calls made).
calls(Kind, Spec, Calls) ->
    Self = self(),
    Total = lists:sum([N || {_, N} <- Spec]),
    Per = max(1, Calls div Total),
    Nodes = lists:append([lists:duplicate(N, Node) || {Node, N} <- Spec]),
    Ps = [spawn_link(Node, ?MODULE, caller, [Self, {Kind, I}, Per, []])
          || {I, Node} <- lists:zip(lists:seq(1, Total), Nodes)],
    [receive {ready, P} -> ok after 60000 -> error({timeout, ready}) end || P <- Ps],
    T0 = erlang:monotonic_time(nanosecond),
    [P ! go || P <- Ps],
    Lats = lists:append([receive {done, P, L} -> L after 600000 -> error({timeout, calls}) end || P <- Ps]),
    T1 = erlang:monotonic_time(nanosecond),
    Sorted = lists:sort(Lats),
    #{rate => length(Lats) * 1.0e9 / (T1 - T0), p50 => pct(Sorted, 50), p99 => pct(Sorted, 99),
      n => length(Lats)}.

%% ===========================================================================
%% On a callers' node: one caller of calls/3, calling Name Per times.

caller(Parent, Name, Per, _) ->
    Parent ! {ready, self()},
    receive go -> ok end,
    Parent ! {done, self(), call_loop({via, swarm, Name}, Per, [])}.

call_loop(_, 0, Acc) -> Acc;
call_loop(Via, K, Acc) ->
    T0 = os:perf_counter(nanosecond),
    _ = gen_server:call(Via, read, 10000),
    T1 = os:perf_counter(nanosecond),
    call_loop(Via, K - 1, [T1 - T0 | Acc]).

%% ===========================================================================
%% On node a: the GenServers compared with.

start_gservers(N) ->
    [{ok, _} = gen_server:start({via, swarm, {gsensor, I}}, ?MODULE, I, []) || I <- lists:seq(1, N)],
    ok.

%% Bytes per idle GenServer (no name), over N of them.
idle_gservers(N) ->
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    Ps = [begin {ok, P} = gen_server:start(?MODULE, idle, []), P end || _ <- lists:seq(1, N)],
    M1 = erlang:memory(processes),
    [gen_server:stop(P) || P <- Ps],
    (M1 - M0) / N.

init(Arg) -> {ok, Arg}.
handle_call(read, _From, I) -> {reply, {I, 0}, I}.
handle_cast(_, S) -> {noreply, S}.

%% ===========================================================================
%% Coordinator helpers

start_cluster() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning",
            "-swarm", "cnode_log", "warning"] ++ ["-pa" | Paths],
    Peers = [begin
                 Name = list_to_atom("hbench_" ++ S ++ "_" ++ os:getpid()),
                 {ok, Peer, Node} = peer:start_link(#{name => Name, host => ?HOST, longnames => true,
                                                      args => Args, connection => standard_io}),
                 true = net_kernel:connect_node(Node),
                 {Peer, Node}
             end || S <- ["a", "b", "c"]],
    put(peers, [P || {P, _} <- Peers]),
    Nodes = [N || {_, N} <- Peers],
    [true = rpc(X, net_kernel, connect_node, [Y]) || X <- Nodes, Y <- Nodes, X =/= Y],
    [{ok, _} = rpc(X, application, ensure_all_started, [swarm]) || X <- Nodes],
    Nodes.

%% Starts priv/sensor_host with Args, told about Nodes; waits for its ready
%% line. Returns {Port, OsPid}.
start_host(Nodes, Args) ->
    Exe = filename:join(code:priv_dir(swarm), "sensor_host"),
    Name = "hbench_host_" ++ integer_to_list(erlang:unique_integer([positive])) ++ "_" ++ os:getpid()
        ++ "@" ++ ?HOST,
    CookieFile = filename:join(os:getenv("TMPDIR", "/tmp"), Name ++ ".cookie"),
    ok = file:write_file(CookieFile, atom_to_list(erlang:get_cookie())),
    ok = file:change_mode(CookieFile, 8#600),
    Port = open_port({spawn_executable, Exe},
                     [{args, ["--name", Name, "--cookie-file", CookieFile
                              | lists:append([["--connect", atom_to_list(N)] || N <- Nodes])] ++ Args},
                      exit_status, {line, 1024}, use_stdio]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    put(hosts, [{Port, OsPid} | get(hosts)]),
    receive {Port, {data, {eol, "sensor_host ready" ++ _}}} -> ok;
            {Port, {exit_status, S}} -> error({sensor_host_exited, S})
    after 300000 -> error(sensor_host_not_ready)
    end,
    _ = file:delete(CookieFile),
    {Port, OsPid}.

stop_host({Port, OsPid} = H) ->
    put(hosts, get(hosts) -- [H]),
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive {Port, {exit_status, _}} -> ok after 30000 -> ok end.

%% The host's RSS once it stops changing (two reads 200 ms apart within 1%).
settled_rss({_, OsPid}) -> settled_rss(OsPid, vmrss(OsPid), 50).

settled_rss(_, R, 0) -> R;
settled_rss(OsPid, R, K) ->
    timer:sleep(200),
    R2 = vmrss(OsPid),
    case abs(R2 - R) =< R div 100 of
        true -> R2;
        false -> settled_rss(OsPid, R2, K - 1)
    end.

say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

section(Title) ->
    say("~n== ~s", [Title]).

rate(R) -> integer_to_list(round(R)).

