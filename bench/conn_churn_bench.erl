%% @doc Connection churn: the resident memory of a C node before and after
%% many distinct nodes connect to it, ask once and leave (remote shells, rpc
%% scripts, probes: nodes that are not swarm peers). Target: back within 5%.
%%
%% One BEAM node (its C node holding SWARM_CHURN_NAMES names, 10,000 by
%% default) on 127.0.0.1; then SWARM_CHURN_N (1,000) clients, one after the
%% other, each with its own node name: the distribution handshake with the
%% cookie, one request the C node answers at once (swarm_rawdist:swarm_echo/2,
%% a register request answered `redirect' to any node that is not a peer),
%% close. The clients are test/swarm_rawdist.erl, a hand-written
%% distribution client: a BEAM node per connection would measure the BEAM.
%% Run by bench/run.sh; the report is appended to SWARM_BENCH_OUT.
-module(conn_churn_bench).

-export([main/0]).

-define(HOST, "127.0.0.1").

-spec main() -> no_return().
main() ->
    Out = case os:getenv("SWARM_BENCH_OUT") of false -> "bench/results/latest.txt"; O -> O end,
    put(report, []),
    Res = try run() of
              R -> R
          catch C:E:St ->
              say("~nconnection churn bench FAILED: ~p:~p~n~p", [C, E, St]),
              error
          end,
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, ["\n" | lists:reverse(get(report))], [append]),
    io:format("(report appended to ~s)~n", [Out]),
    [catch peer:stop(P) || P <- case get(peers) of undefined -> []; Ps -> Ps end],
    halt(case Res of ok -> 0; _ -> 1 end).

-spec run() -> ok.
run() ->
    N = bench_lib:envint("SWARM_CHURN_N", 1000),
    Names = bench_lib:envint("SWARM_CHURN_NAMES", 10000),
    say("~n######## connection churn benchmark ########", []),
    say("conn churn  ~s  OTP ~s, ~p cores, host ~s",
        [calendar:system_time_to_rfc3339(erlang:system_time(second)),
         erlang:system_info(otp_release), erlang:system_info(logical_processors_available), ?HOST]),
    A = start_node(),
    CNode = bench_lib:rpc(A, swarm_agent, cnode, []),
    OsPid = bench_lib:rpc(A, gen_server, call, [swarm_agent, os_pid]),
    fill(A, Names),
    %% What a first connection allocates once (buffers, tables grown to
    %% their working size) is not churn: one client before the baseline.
    {ok, _} = client(CNode, 0),
    settle(OsPid),
    Before = bench_lib:vmrss(OsPid),
    T0 = erlang:monotonic_time(millisecond),
    {Peak, Bytes} = lists:foldl(fun(K, {Pk, Bs}) ->
                                        {ok, B} = client(CNode, K),
                                        Pk1 = case K rem 50 of
                                                  0 -> max(Pk, bench_lib:vmrss(OsPid));
                                                  _ -> Pk
                                              end,
                                        {Pk1, [B | Bs]}
                                end, {Before, []}, lists:seq(1, N)),
    Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
    %% Memory a C node frees may take a moment to be seen (the connections'
    %% closes are read after the last answer): up to 10 s for it to come
    %% back, then the figure as it is.
    Target = Before * 1.05,
    _ = catch bench_lib:wait_until(fun() -> bench_lib:vmrss(OsPid) =< Target end, 10000, 200),
    After = bench_lib:vmrss(OsPid),
    Ratio = After / Before,
    section(io_lib:format("~p distinct nodes connect, ask once, leave (C node holds ~p names)", [N, Names])),
    say("clients: ~p in ~.1f s (~p/s); bytes received per client: max ~p, mean ~p",
        [N, Secs, round(N / max(Secs, 0.001)), lists:max(Bytes), round(lists:sum(Bytes) / N)]),
    say("C node RSS before ~.1f MB, peak ~.1f MB, after ~.1f MB: ratio ~.3f  target <= 1.05: ~s",
        [mb(Before), mb(Peak), mb(After), Ratio, case Ratio =< 1.05 of true -> "PASS"; false -> "FAIL" end]),
    ok.

%% One client: connect as a fresh node, one answered request, close.
%% {ok, BytesReceived}.
client(CNode, K) ->
    Name = iolist_to_binary(["churn", integer_to_list(K), "_", os:getpid(), "@", ?HOST]),
    {ok, C} = swarm_rawdist:connect(CNode, #{name => Name, cookie => atom_to_binary(erlang:get_cookie())}),
    R = swarm_rawdist:swarm_echo(C, 10000),
    swarm_rawdist:close(C),
    case R of
        {ok, B} -> {ok, B};
        {error, Why, _} -> error({echo, K, Why})
    end.

%% Waits until the C node's RSS is the same in two readings 200 ms apart
%% (at most 5 s).
settle(OsPid) ->
    _ = catch bench_lib:wait_until(fun() ->
        R0 = bench_lib:vmrss(OsPid),
        receive after 200 -> ok end,
        bench_lib:vmrss(OsPid) =:= R0
    end, 5000, 10),
    ok.

%% Registers N names on Node (20 holder processes, 8 callers).
fill(Node, N) ->
    ok = bench_lib:rpc(Node, erlang, apply, [fun() ->
        HT = list_to_tuple([spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 20)]),
        Self = self(),
        Ws = [spawn_link(fun() ->
                  [yes = swarm:register_name({churn, I}, element(I rem 20 + 1, HT))
                   || I <- lists:seq(K, N, 8)],
                  Self ! {filled, self()}
              end) || K <- lists:seq(1, 8)],
        [receive {filled, W} -> ok end || W <- Ws],
        ok
    end, []]).

%% One BEAM node running swarm (C node log level warning).
start_node() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning", "-swarm", "cnode_log", "warning", "-pa" | Paths],
    {ok, Peer, Node} = peer:start_link(#{name => list_to_atom("churn_a_" ++ os:getpid()), host => ?HOST,
                                         longnames => true, args => Args, connection => standard_io}),
    put(peers, [Peer]),
    true = net_kernel:connect_node(Node),
    {ok, _} = bench_lib:rpc(Node, application, ensure_all_started, [swarm]),
    bench_lib:wait_until(fun() -> bench_lib:rpc(Node, gen_server, call, [swarm_agent, cnode_ready]) end, 10000),
    Node.

mb(Bytes) -> Bytes / 1048576.

say(Fmt, Args) ->
    S = io_lib:format(Fmt ++ "~n", Args),
    io:put_chars(S),
    put(report, [S | get(report)]).

section(Title) ->
    say("~n== ~s ==", [Title]).
