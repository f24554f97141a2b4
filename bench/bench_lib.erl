%% @doc Helpers shared by the benchmarks (bench/*_bench.erl): environment
%% knobs, RPC that fails loudly, polling with a deadline, and the figures'
%% formatting. Compiled by bench/run.sh next to the benchmarks; the
%% cluster's nodes load it from the same directory.
-module(bench_lib).

-export([envint/2, rpc/4, wait_until/2, wait_until/3, pct/2, median/1, rate/1, us/1,
         ping_rate/1, ping_worker/3, owner_ping_rate/2, vmrss/1, proc_cpu_ms/1, busy_ms/0, short/1, ms/1]).

-define(RPC_TMO, 600000).

%% @doc The integer in environment variable Var, or Def if it is unset or empty.
-spec envint(string(), integer()) -> integer().
envint(Var, Def) ->
    case os:getenv(Var) of
        false -> Def;
        "" -> Def;
        S -> list_to_integer(S)
    end.

%% @doc apply(M, F, A) on Node; a failed call raises {badrpc, Node, M, F, Reason}.
-spec rpc(node(), module(), atom(), [term()]) -> term().
rpc(Node, M, F, A) ->
    case rpc:call(Node, M, F, A, ?RPC_TMO) of
        {badrpc, R} -> error({badrpc, Node, M, F, R});
        V -> V
    end.

%% @doc Polls F every 10 ms until it returns true; raises wait_timeout after
%% Timeout ms.
-spec wait_until(fun(() -> term()), non_neg_integer()) -> ok.
wait_until(F, Timeout) ->
    wait_until(F, Timeout, 10).

%% @doc As wait_until/2, polling every Step ms.
-spec wait_until(fun(() -> term()), non_neg_integer(), pos_integer()) -> ok.
wait_until(F, Timeout, Step) ->
    wait_loop(F, erlang:monotonic_time(millisecond) + Timeout, Step).

wait_loop(F, Deadline, Step) ->
    case F() of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error(wait_timeout);
                false -> timer:sleep(Step), wait_loop(F, Deadline, Step)
            end
    end.

%% @doc The machine's ceiling for anything that must reach a C node: round
%% trips per second from callers to their own C node (a `ping', answered at
%% once), with Spec's callers ({Node, Count} each, all started together).
-spec ping_rate([{node(), pos_integer()}]) -> float().
ping_rate(Spec) ->
    ping_rate(Spec, own).

%% @doc The ceiling of a register that only the name's owner would handle:
%% as ping_rate/1, but each caller pings the C nodes CNodes in turn (its
%% own as ping_rate/1's; the others' by distribution, to their registered
%% name `swarm'): with 3 nodes, the owner of 1 name in 3 is the caller's
%% own node, as for register requests. No commit, no replication: a design
%% that asks only the owner's C node cannot be faster.
-spec owner_ping_rate([{node(), pos_integer()}], [node()]) -> float().
owner_ping_rate(Spec, CNodes) ->
    ping_rate(Spec, CNodes).

ping_rate(Spec, Targets) ->
    Self = self(),
    Workers = [spawn_link(Node, ?MODULE, ping_worker, [Self, Count, Targets]) || {Node, Count} <- Spec],
    [receive {ready, W} -> ok after ?RPC_TMO -> error({timeout, ready}) end || W <- Workers],
    T0 = erlang:monotonic_time(nanosecond),
    [W ! go || W <- Workers],
    [receive {done, W} -> ok after ?RPC_TMO -> error({timeout, ping}) end || W <- Workers],
    T1 = erlang:monotonic_time(nanosecond),
    lists:sum([Cn || {_, Cn} <- Spec]) * 1.0e9 / (T1 - T0).

%% @doc On a node: one caller of ping_rate/1 (Targets `own') or
%% owner_ping_rate/2 (Targets: the C nodes to ping in turn; it connects to
%% each before it reports ready).
-spec ping_worker(pid(), non_neg_integer(), own | [node()]) -> ok.
ping_worker(Parent, Count, Targets) ->
    %% The way requests go to the own C node (on its stdin with cnode_pipe,
    %% else by distribution), so that the floor is that of the requests.
    Own = swarm_cnode:cnode(),
    Ts = list_to_tuple(case Targets of own -> [Own]; _ -> Targets end),
    [ping(Own, C) || C <- tuple_to_list(Ts)],
    Parent ! {ready, self()},
    receive go -> ok end,
    ping_loop(Own, Ts, Count),
    Parent ! {done, self()},
    ok.

ping_loop(_Own, _Ts, 0) -> ok;
ping_loop(Own, Ts, K) ->
    ping(Own, element(1 + K rem tuple_size(Ts), Ts)),
    ping_loop(Own, Ts, K - 1).

ping(Own, C) ->
    Ref = make_ref(),
    Msg = {'$sw1', ping, self(), Ref},
    ok = case C of
             Own -> swarm_cnode:send(C, Msg);
             _ -> erlang:send({swarm, C}, Msg), ok
         end,
    receive {Ref, pong} -> ok after ?RPC_TMO -> error({timeout, {ping, C}}) end.

%% @doc The P-th percentile of List (0 for an empty list).
-spec pct([number()], number()) -> number().
pct([], _) -> 0;
pct(List, P) ->
    S = lists:sort(List),
    L = length(S),
    lists:nth(max(1, min(L, ceil(P * L / 100))), S).

%% @doc The median of a non-empty list.
-spec median([number()]) -> number().
median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).

%% @doc A rate per second, short: 1.23M, 45.6k, 7.89k, 12.3.
-spec rate(number()) -> iolist().
rate(R) when R >= 1.0e6 -> io_lib:format("~.2fM", [R / 1.0e6]);
rate(R) when R >= 1.0e4 -> io_lib:format("~.1fk", [R / 1.0e3]);
rate(R) when R >= 1000 -> io_lib:format("~.2fk", [R / 1.0e3]);
rate(R) -> io_lib:format("~.1f", [R / 1]).

%% @doc Nanoseconds as microseconds with one decimal.
-spec us(number()) -> iolist().
us(Ns) -> io_lib:format("~.1f", [Ns / 1000]).

%% @doc Resident memory of OS process OsPid, in bytes (VmRSS).
-spec vmrss(pos_integer()) -> non_neg_integer().
vmrss(OsPid) ->
    {ok, Bin} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- binary:split(Bin, <<"\n">>, [global]), binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb | _] = string:lexemes(binary_to_list(Line), " \t"),
    list_to_integer(Kb) * 1024.

%% @doc CPU time (user + system) of OS process OsPid so far, in ms (clock
%% ticks of 10 ms: USER_HZ = 100 on Linux).
-spec proc_cpu_ms(pos_integer()) -> non_neg_integer().
proc_cpu_ms(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat"),
    [_, Rest] = binary:split(B, <<") ">>),
    F = string:lexemes(binary_to_list(Rest), " "),
    (list_to_integer(lists:nth(12, F)) + list_to_integer(lists:nth(13, F))) * 10.

%% @doc Busy time of the whole machine so far (all CPUs, ms), from /proc/stat.
-spec busy_ms() -> non_neg_integer().
busy_ms() ->
    {ok, B} = file:read_file("/proc/stat"),
    [Cpu | _] = binary:split(B, <<"\n">>),
    [_ | Vals] = string:lexemes(binary_to_list(Cpu), " "),
    [User, Nice, Sys, _Idle, _Iowait, Irq, Soft, Steal | _] = [list_to_integer(V) || V <- Vals],
    (User + Nice + Sys + Irq + Soft + Steal) * 10.

%% @doc A node's name without its host.
-spec short(node()) -> string().
short(Node) -> hd(string:split(atom_to_list(Node), "@")).

%% @doc Nanoseconds as milliseconds, one decimal.
-spec ms(number()) -> iolist().
ms(Ns) -> io_lib:format("~.1f", [Ns / 1.0e6]).
