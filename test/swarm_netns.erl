%% @doc Real network partitions for the test suites and the benchmark:
%% each BEAM node (and so its C node) runs in a network namespace of its
%% own, and links between namespaces are cut and healed with blackhole
%% routes, so a partition is what the kernel makes of it (ticks time out,
%% connects hang), not a cookie trick.
%%
%% Layout of one run (`OsPid' is this node's OS pid, so concurrent runs
%% never share a name or an address):
%%   swns<OsPid>_0         holds the bridge `br0' and one port `v<I>' per node
%%   swns<OsPid>_<I>       node I: `lo', and `eth0' (the other end of v<I>)
%%                         with 10.77.<R>.<I>/24; its own epmd; the BEAM node
%%                         `n<I>@10.77.<R>.<I>' and its C node
%%                         `swarm_n<I>@10.77.<R>.<I>'
%% Nothing is created in the root namespace. The nodes are started with
%% OTP's `peer' over stdio (`connection => standard_io'): the test drives
%% them with peer:call/4,5 and has no distribution link to them, so the only
%% links between nodes are the ones the namespaces allow.
%%
%% What it is not: the test's logic. It makes, cuts, heals and removes the
%% network, and starts nodes in it; what a partition must do to swarm is
%% the suite's business.
-module(swarm_netns).

-export([available/0, setup/1, teardown/1, start_node/3, stop_node/1, nodes_of/1,
         cut/3, heal/1, connect_all/1, ip/2, call/4, call/5]).
%% Run on the nodes of the namespaces.
-export([watch_nodes/0, all_up_at/1, connect_missing/1]).

-type net() :: #{run := string(), subnet := string(), n := pos_integer(),
                 ns := [string()], bridge := string()}.
-export_type([net/0]).

-define(CALL_TMO, 30000).

%% @doc `ok' if this process may create network namespaces (it runs as
%% root and `ip netns add' works), else `{error, Why}'.
-spec available() -> ok | {error, string()}.
available() ->
    case {os:find_executable("ip"), os:cmd("id -u")} of
        {false, _} ->
            {error, "no ip command (iproute2)"};
        {_, "0\n"} ->
            Probe = prefix() ++ "probe",
            case cmd(["ip netns add ", Probe]) of
                {0, _} ->
                    _ = cmd(["ip netns del ", Probe]),
                    ok;
                {_, Out} ->
                    {error, "ip netns add failed: " ++ string:trim(Out)}
            end;
        {_, Uid} ->
            {error, "not root (uid " ++ string:trim(Uid) ++ ")"}
    end.

%% @doc Creates the bridge namespace and N node namespaces, wires them and
%% starts an epmd in each node namespace. Removes first what an earlier
%% setup of this same run may have left.
-spec setup(pos_integer()) -> net().
setup(N) when N >= 1, N =< 200 ->
    remove_leftovers(),
    Run = os:getpid(),
    Net = #{run => Run, subnet => subnet(), n => N,
            bridge => prefix() ++ "0",
            ns => [prefix() ++ integer_to_list(I) || I <- lists:seq(1, N)]},
    Br = maps:get(bridge, Net),
    ok = sh(["ip netns add ", Br]),
    ok = sh(["ip -n ", Br, " link set lo up"]),
    ok = sh(["ip -n ", Br, " link add br0 type bridge"]),
    ok = sh(["ip -n ", Br, " link set br0 up"]),
    [begin
         Ns = ns(Net, I),
         V = "v" ++ integer_to_list(I),
         ok = sh(["ip netns add ", Ns]),
         ok = sh(["ip -n ", Ns, " link set lo up"]),
         ok = sh(["ip -n ", Br, " link add ", V, " type veth peer name eth0 netns ", Ns]),
         ok = sh(["ip -n ", Br, " link set ", V, " master br0 up"]),
         ok = sh(["ip -n ", Ns, " addr add ", ip(Net, I), "/24 dev eth0"]),
         ok = sh(["ip -n ", Ns, " link set eth0 up"]),
         ok = sh(["ip netns exec ", Ns, " epmd -daemon"]),
         ok = wait_epmd(Ns)
     end || I <- lists:seq(1, N)],
    Net.

%% @doc Kills every process still running in the run's namespaces (peers
%% that did not stop, their C nodes, the epmds), then deletes the
%% namespaces (which deletes their links and the bridge).
-spec teardown(net()) -> ok.
teardown(#{ns := Nss, bridge := Br}) ->
    [kill_all(Ns) || Ns <- Nss],
    [_ = cmd(["ip netns del ", Ns]) || Ns <- Nss ++ [Br]],
    ok.

%% @doc Starts BEAM node I in its namespace with this node's code path and
%% cookie, the emulator arguments `Extra' (e.g. `-kernel net_ticktime 2')
%% added; returns the peer and the node name.
-spec start_node(net(), pos_integer(), [string()]) -> {pid(), node()}.
start_node(Net, I, Extra) ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning" | Extra] ++ ["-pa" | Paths],
    {ok, Peer, Node} = peer:start(#{name => "n" ++ integer_to_list(I), host => ip(Net, I),
                                    longnames => true, connection => standard_io,
                                    exec => {os:find_executable("ip"),
                                             ["netns", "exec", ns(Net, I), os:find_executable("erl")]},
                                    args => Args, wait_boot => 30000}),
    {Peer, Node}.

%% @doc Stops a peer started by start_node/3 (its C node exits with it).
-spec stop_node({pid(), node()}) -> ok.
stop_node({Peer, _}) ->
    catch peer:stop(Peer),
    ok.

%% @doc The node names of a list of peers.
-spec nodes_of([{pid(), node()}]) -> [node()].
nodes_of(Peers) ->
    [N || {_, N} <- Peers].

%% @doc Cuts every link between a node of `As' and a node of `Bs' (node
%% numbers), both ways: a blackhole route to the other's address in each
%% namespace. Packets are dropped without an error, as on a broken network.
-spec cut(net(), [pos_integer()], [pos_integer()]) -> ok.
cut(Net, As, Bs) ->
    [ok = sh(["ip -n ", ns(Net, X), " route add blackhole ", ip(Net, Y), "/32"])
     || A <- As, B <- Bs, A =/= B, {X, Y} <- [{A, B}, {B, A}]],
    ok.

%% @doc Heals every cut: removes the blackhole routes of every namespace.
-spec heal(net()) -> ok.
heal(#{n := N} = Net) ->
    [begin
         Ns = ns(Net, I),
         {0, Routes} = cmd(["ip -n ", Ns, " route show type blackhole"]),
         [ok = sh(["ip -n ", Ns, " route del ", R])
          || R <- string:lexemes(Routes, "\n"), string:trim(R) =/= ""]
     end || I <- lists:seq(1, N)],
    ok.

%% @doc Connects every pair of the peers' nodes that is not connected (as
%% a cluster manager such as libcluster would after a heal), until all are
%% (at most 30 s).
-spec connect_all([{pid(), node()}]) -> ok | {error, timeout}.
connect_all(Peers) ->
    Nodes = nodes_of(Peers),
    wait(fun() -> lists:all(fun(P) -> call(P, ?MODULE, connect_missing, [Nodes]) end, Peers) end,
         30000).

%% @doc On a node of the namespaces: starts connecting to the nodes of
%% Nodes it is not connected to; true if there was none.
-spec connect_missing([node()]) -> boolean().
connect_missing(Nodes) ->
    Missing = Nodes -- [node() | nodes()],
    _ = [spawn(net_kernel, connect_node, [N]) || N <- Missing],
    Missing =:= [].

%% @doc The address of node I.
-spec ip(net(), pos_integer()) -> string().
ip(#{subnet := S}, I) ->
    S ++ "." ++ integer_to_list(I).

%% @doc peer:call/5 with a 30 s timeout.
-spec call({pid(), node()} | pid(), module(), atom(), [term()]) -> term().
call(Peer, M, F, A) ->
    call(Peer, M, F, A, ?CALL_TMO).

%% @doc Runs M:F(A) on the peer's node (over its stdio link).
-spec call({pid(), node()} | pid(), module(), atom(), [term()], timeout()) -> term().
call({Peer, _}, M, F, A, Tmo) ->
    peer:call(Peer, M, F, A, Tmo);
call(Peer, M, F, A, Tmo) when is_pid(Peer) ->
    peer:call(Peer, M, F, A, Tmo).

%% @doc On a node of the namespaces: starts a process that records when
%% (os:perf_counter(nanosecond): CLOCK_MONOTONIC, one clock for every
%% process of the machine) each other node last came up.
-spec watch_nodes() -> ok.
watch_nodes() ->
    Self = self(),
    spawn(fun() ->
                  ok = net_kernel:monitor_nodes(true),
                  ets:new(swarm_netns_nodeups, [named_table, public, set]),
                  Self ! {swarm_netns_nodeups, ready},
                  watch_loop()
          end),
    receive {swarm_netns_nodeups, ready} -> ok end.

watch_loop() ->
    receive
        {nodeup, N} -> ets:insert(swarm_netns_nodeups, {N, os:perf_counter(nanosecond)});
        _ -> ok
    end,
    watch_loop().

%% @doc On a node that runs watch_nodes/0 and is connected to every other
%% node of Nodes: when the last of them came up (perf_counter, ns).
-spec all_up_at([node()]) -> integer().
all_up_at(Nodes) ->
    lists:max([ets:lookup_element(swarm_netns_nodeups, N, 2) || N <- Nodes, N =/= node()]).

%% ---------------------------------------------------------------------------

prefix() ->
    "swns" ++ os:getpid() ++ "_".

ns(#{ns := Nss}, I) ->
    lists:nth(I, Nss).

%% 10.77.R with R from the OS pid; a /24 already on an interface of the
%% root namespace is skipped (the namespaces do not see it, but a reader of
%% the addresses should not be confused).
subnet() ->
    {0, Addrs} = cmd(["ip -4 -o addr show"]),
    Base = list_to_integer(os:getpid()) rem 250,
    [S | _] = [S || K <- lists:seq(0, 249),
                    S <- ["10.77." ++ integer_to_list((Base + K) rem 250 + 1)],
                    string:find(Addrs, " " ++ S ++ ".") =:= nomatch],
    S.

remove_leftovers() ->
    {0, List} = cmd(["ip netns list"]),
    Mine = [Ns || Line <- string:lexemes(List, "\n"),
                  Ns <- [hd(string:lexemes(Line, " "))],
                  lists:prefix(prefix(), Ns)],
    [kill_all(Ns) || Ns <- Mine],
    [_ = cmd(["ip netns del ", Ns]) || Ns <- Mine],
    ok.

%% SIGKILLs the processes of a namespace, then waits (bounded) until none
%% is left.
kill_all(Ns) ->
    Pids = fun() ->
                   case cmd(["ip netns pids ", Ns]) of
                       {0, Out} -> string:lexemes(Out, "\n");
                       _ -> []
                   end
           end,
    [_ = cmd(["kill -KILL ", P]) || P <- Pids()],
    wait(fun() -> Pids() =:= [] end, 5000).

wait_epmd(Ns) ->
    wait(fun() -> element(1, cmd(["ip netns exec ", Ns, " epmd -names"])) =:= 0 end, 5000).

wait(F, Timeout) ->
    wait_loop(F, erlang:monotonic_time(millisecond) + Timeout).

wait_loop(F, Deadline) ->
    case F() of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> {error, timeout};
                false -> receive after 20 -> wait_loop(F, Deadline) end
            end
    end.

sh(Cmd) ->
    case cmd(Cmd) of
        {0, _} -> ok;
        {Status, Out} -> error({command_failed, lists:flatten(Cmd), Status, Out})
    end.

%% Runs a shell command; returns its exit status and output (stdout and
%% stderr).
cmd(Cmd) ->
    Port = open_port({spawn, lists:flatten(Cmd) ++ " 2>&1"}, [exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [D | Acc]);
        {Port, {exit_status, S}} -> {S, binary_to_list(iolist_to_binary(lists:reverse(Acc)))}
    after 60000 ->
        catch port_close(Port),
        {timeout, binary_to_list(iolist_to_binary(lists:reverse(Acc)))}
    end.
