%% @doc Helpers for the Common Test suites: clusters of real BEAM nodes
%% started with OTP's `peer', each running the swarm application (and so its
%% real C node), all on 127.0.0.1 with long names.
-module(swarm_ct).

-export([ensure_dist/0, start_nodes/2, start_nodes/3, start_node/1, stop_node/1, connect_all/1,
         start_swarm/1, start_swarm_parallel/1, wait_until/2, wait_until/3,
         rpc/4, spawn_server/3, spawn_idle/1, registry/1, wait_converged/2,
         cnode_os_pid/1, unique/1, root/0, names_of/1, ring_owner/2, wait_peers/1, wait_peers/2,
         wait_cnode_replaced/3, kill_cnode/1, end_per_testcase/1]).

-define(HOST, "127.0.0.1").

%% @doc Makes sure epmd runs and this (CT) node is distributed, with long
%% names on 127.0.0.1.
-spec ensure_dist() -> ok.
ensure_dist() ->
    _ = os:cmd("epmd -daemon"),
    case node() of
        nonode@nohost ->
            {ok, _} = net_kernel:start(list_to_atom("ct_" ++ os:getpid() ++ "@" ++ ?HOST),
                                       #{name_domain => longnames}),
            ok;
        _ ->
            ok
    end.

%% @doc A name unique within this test run.
-spec unique(string()) -> atom().
unique(Prefix) ->
    %% The OS pid keeps names apart across concurrent or leftover test runs.
    list_to_atom(Prefix ++ "_" ++ os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive]))).

%% @doc Starts N peer nodes (not yet running swarm), connected to each other.
-spec start_nodes(pos_integer(), string()) -> [{pid(), node()}].
start_nodes(N, Prefix) ->
    start_nodes(N, Prefix, []).

%% @doc As start_nodes/2, with extra emulator arguments for every node.
-spec start_nodes(pos_integer(), string(), [string()]) -> [{pid(), node()}].
start_nodes(N, Prefix, Extra) ->
    Peers = [start_node(unique(Prefix ++ integer_to_list(I)), Extra) || I <- lists:seq(1, N)],
    ok = connect_all([Node || {_, Node} <- Peers]),
    Peers.

%% @doc Starts one peer node with this node's code path and cookie.
-spec start_node(atom()) -> {pid(), node()}.
start_node(Name) ->
    start_node(Name, []).

-spec start_node(atom(), [string()]) -> {pid(), node()}.
start_node(Name, Extra) ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "-kernel", "logger_level", "warning" | Extra] ++ ["-pa" | Paths],
    {ok, Peer, Node} = peer:start(#{name => Name, host => ?HOST, longnames => true,
                                         args => Args, connection => standard_io}),
    %% Peers started over stdio are not connected to us by distribution yet.
    true = net_kernel:connect_node(Node),
    {Peer, Node}.

%% @doc Stops a peer node (its C node exits with it).
-spec stop_node({pid(), node()}) -> ok.
stop_node({Peer, _Node}) ->
    catch peer:stop(Peer),
    ok.

%% @doc Connects every node of the list to every other one.
-spec connect_all([node()]) -> ok.
connect_all(Nodes) ->
    [true = rpc(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A =/= B],
    ok.

%% @doc Starts swarm on each node, one after the other.
-spec start_swarm([node()]) -> ok.
start_swarm(Nodes) ->
    [{ok, _} = rpc(N, application, ensure_all_started, [swarm]) || N <- Nodes],
    wait_peers(Nodes).

%% @doc Starts swarm on all nodes at the same moment.
-spec start_swarm_parallel([node()]) -> ok.
start_swarm_parallel(Nodes) ->
    Self = self(),
    Go = make_ref(),
    Pids = [spawn_link(fun() ->
                               receive Go -> ok end,
                               Self ! {self(), rpc(N, application, ensure_all_started, [swarm])}
                       end) || N <- Nodes],
    [P ! Go || P <- Pids],
    [receive {P, R} -> {ok, _} = R end || P <- Pids],
    wait_peers(Nodes).

%% @doc Waits until every agent knows every other node, and every C node is
%% connected to the others' (so all nodes agree on the ring: "one yes" and
%% "restarted exactly once" hold only then).
-spec wait_peers([node()]) -> ok.
wait_peers(Nodes) ->
    wait_peers(Nodes, 15000).

%% @doc wait_peers/1 with a deadline of `Timeout' ms.
-spec wait_peers([node()], pos_integer()) -> ok.
wait_peers(Nodes, Timeout) ->
    wait_until(fun() ->
                       lists:all(fun(N) ->
                                         Peers = rpc(N, gen_server, call, [swarm_agent, peers]),
                                         lists:sort(Peers) =:= lists:sort(Nodes -- [N])
                                             andalso proplists:get_value(members, rpc(N, swarm_agent, stats, []))
                                                     =:= length(Nodes)
                                 end, Nodes)
               end, Timeout),
    ok.

%% @doc For a suite's end_per_testcase/2: after a test case outside any
%% group (which starts and stops its own nodes), halts the nodes it left
%% running because it failed halfway; left alone, they would join the next
%% cases' clusters (distribution connects transitively) and mix registries.
-spec end_per_testcase(list()) -> ok.
end_per_testcase(Config) ->
    %% tc_group_properties: the case's own group ([] outside any).
    case proplists:get_value(tc_group_properties, Config, []) of
        [] ->
            [catch erpc:call(N, erlang, halt, [], 5000) || N <- nodes()],
            wait_until(fun() -> nodes() =:= [] end, 10000);
        _ ->
            ok
    end.

%% @doc Waits (at most Timeout ms) until Node's agent runs a C node whose
%% OS pid is not OsPid, and that C node is ready.
-spec wait_cnode_replaced(node(), integer(), pos_integer()) -> ok.
wait_cnode_replaced(Node, OsPid, Timeout) ->
    wait_until(fun() ->
                       try cnode_os_pid(Node) =/= OsPid andalso
                               rpc(Node, gen_server, call, [swarm_agent, cnode_ready])
                       catch _:_ -> false
                       end
               end, Timeout).

%% @doc SIGKILLs Node's C node and waits until its agent runs a new one.
-spec kill_cnode(node()) -> ok.
kill_cnode(Node) ->
    %% None runs for a moment after a C node died (its restart is due).
    wait_until(fun() -> is_integer(cnode_os_pid(Node)) end, 15000),
    OsPid = cnode_os_pid(Node),
    os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    wait_cnode_replaced(Node, OsPid, 15000).

%% @doc Polls F until it returns true, every 20 ms, for at most Timeout ms;
%% fails the test with the last value otherwise.
-spec wait_until(fun(() -> term()), pos_integer()) -> ok.
wait_until(F, Timeout) ->
    wait_until(F, Timeout, 20).

-spec wait_until(fun(() -> term()), pos_integer(), pos_integer()) -> ok.
wait_until(F, Timeout, Step) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_loop(F, Deadline, Step).

wait_loop(F, Deadline, Step) ->
    R = try F() catch C:E -> {C, E} end,
    case R of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> ct:fail({wait_until_timeout, R});
                false -> receive after Step -> wait_loop(F, Deadline, Step) end
            end
    end.

%% @doc rpc:call that fails the test on badrpc.
-spec rpc(node(), module(), atom(), [term()]) -> term().
rpc(Node, M, F, A) ->
    case rpc:call(Node, M, F, A, 30000) of
        {badrpc, R} -> ct:fail({badrpc, Node, M, F, R});
        V -> V
    end.

%% @doc Starts, on Node, an unlinked swarm_test_server registered through
%% the via tuple; returns the start result.
-spec spawn_server(node(), term(), term()) -> term().
spawn_server(Node, Name, Arg) ->
    rpc(Node, gen_server, start, [{via, swarm, Name}, swarm_test_server, Arg, []]).

%% @doc Spawns an idle process on Node (it waits for `stop').
-spec spawn_idle(node()) -> pid().
spawn_idle(Node) ->
    spawn(Node, fun() -> receive stop -> ok end end).

%% @doc The registry as seen by Node: a sorted list of {Name, Pid}.
-spec registry(node()) -> [{term(), pid()}].
registry(Node) ->
    lists:sort(rpc(Node, swarm, registered, [])).

%% @doc Waits until every node in Nodes holds the same registry; returns it.
-spec wait_converged([node()], pos_integer()) -> [{term(), pid()}].
wait_converged([N | _] = Nodes, Timeout) ->
    wait_until(fun() ->
                       R = registry(N),
                       lists:all(fun(M) -> registry(M) =:= R end, Nodes)
               end, Timeout),
    registry(N).

%% @doc OS pid of Node's C node (`undefined' while none runs).
-spec cnode_os_pid(node()) -> integer() | undefined.
cnode_os_pid(Node) ->
    rpc(Node, gen_server, call, [swarm_agent, os_pid]).

%% @doc Names registered to Pid in Node's replica.
-spec names_of({node(), pid()}) -> [term()].
names_of({Node, Pid}) ->
    [N || {N, P} <- registry(Node), P =:= Pid].

%% @doc The project's top directory (holds the Makefile).
-spec root() -> string().
root() ->
    case os:getenv("SWARM_ROOT") of
        false -> find_root(filename:dirname(code:which(?MODULE)));
        R -> R
    end.

find_root("/") -> error(no_root);
find_root(D) ->
    case filelib:is_regular(filename:join(D, "Makefile")) andalso
         filelib:is_dir(filename:join(D, "c_src")) of
        true -> D;
        false -> find_root(filename:dirname(D))
    end.

%% @doc Reference placement, written from libring's definition: 128 points
%% per node at phash2({Node, I}, 2^32-1) for I in 1..128 (a colliding point
%% keeps the node added first; nodes are added in sorted order), key hash
%% phash2(Key, 2^32-1) (an atom key: of term_to_binary(Key)), owner = first
%% point at or above the key hash, wrapping to the smallest.
-spec ring_owner([node()], term()) -> node().
ring_owner(Nodes, Key) ->
    Range = 4294967295,
    Points = lists:foldl(fun(Node, T) ->
                                 lists:foldl(fun(I, T2) ->
                                                     H = erlang:phash2({Node, I}, Range),
                                                     case gb_trees:is_defined(H, T2) of
                                                         true -> T2;
                                                         false -> gb_trees:insert(H, Node, T2)
                                                     end
                                             end, T, lists:seq(1, 128))
                         end, gb_trees:empty(), lists:usort(Nodes)),
    KH = case is_atom(Key) of
             true -> erlang:phash2(term_to_binary(Key), Range);
             false -> erlang:phash2(Key, Range)
         end,
    case gb_trees:next(gb_trees:iterator_from(KH, Points)) of
        {_, Node, _} -> Node;
        none -> element(2, gb_trees:smallest(Points))
    end.
