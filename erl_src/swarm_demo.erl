%% @private
%% @doc The demo run by `make demo' (scripts/demo.sh): starts a cluster of 3
%% BEAM nodes on 127.0.0.1 with OTP's peer, runs swarm on each, registers
%% workers through {via, swarm, Name}, calls them from other nodes, stops a
%% node and shows its names gone. Prints what it does; halts non-zero on any
%% failure.
-module(swarm_demo).
-compile(warn_missing_spec).
-export([main/0]).

-spec main() -> ok.
main() ->
    try run() of
        ok -> io:format("~ndemo: OK~n")
    catch C:E:St ->
        io:format("~ndemo: FAILED ~p:~p~n~p~n", [C, E, St]),
        halt(1)
    end.

-spec run() -> ok.
run() ->
    Paths = [P || P <- code:get_path(), not lists:prefix(code:lib_dir(), P)],
    Cookie = atom_to_list(erlang:get_cookie()),
    Nodes = [begin
                 {ok, _Peer, N} = peer:start(#{name => list_to_atom("demo_" ++ S ++ "_" ++ os:getpid()),
                                               host => "127.0.0.1", longnames => true,
                                               args => ["-setcookie", Cookie, "-pa" | Paths]}),
                 N
             end || S <- ["a", "b", "c"]],
    [A, B, C] = Nodes,
    [true = rpc:call(X, net_kernel, connect_node, [Y]) || X <- Nodes, Y <- Nodes, X =/= Y],
    say("started 3 BEAM nodes: ~p", [Nodes]),
    [{ok, _} = rpc:call(N, application, ensure_all_started, [swarm]) || N <- Nodes],
    say("swarm running on each, C nodes: ~p", [[rpc:call(N, swarm_agent, cnode, []) || N <- Nodes]]),
    Workers = [{{worker, I}, lists:nth(1 + I rem 3, Nodes)} || I <- lists:seq(1, 9)],
    [begin
         {ok, Pid} = rpc:call(N, gen_server, start, [{via, swarm, Name}, swarm_demo_worker, Name, []]),
         say("registered ~p on ~p as ~p", [Name, N, Pid])
     end || {Name, N} <- Workers],
    wait(fun() -> length(rpc:call(C, swarm, registered, [])) =:= 9 end),
    [begin
         Other = hd(Nodes -- [N]),
         Reply = rpc:call(Other, gen_server, call, [{via, swarm, Name}, hello]),
         say("from ~p: gen_server:call({via, swarm, ~p}, hello) -> ~p", [Other, Name, Reply])
     end || {Name, N} <- Workers],
    say("stopping ~p (it hosts ~p)", [C, [Name || {Name, N} <- Workers, N =:= C]]),
    ok = rpc:call(C, init, stop, []),
    wait(fun() -> not lists:member(C, nodes()) end),
    wait(fun() -> length(rpc:call(A, swarm, registered, [])) =:= 6 end),
    [say("on ~p, whereis_name(~p) -> ~p", [B, Name, rpc:call(B, swarm, whereis_name, [Name])])
     || {Name, _} <- Workers],
    say("names left on ~p: ~p", [A, length(rpc:call(A, swarm, registered, []))]),
    [peer_stop(N) || N <- [A, B]],
    ok.

-spec say(string(), [term()]) -> ok.
say(F, A) -> io:format("demo: " ++ F ++ "~n", A).

-spec peer_stop(node()) -> term().
peer_stop(N) -> rpc:call(N, init, stop, []).

-spec wait(fun(() -> boolean())) -> ok.
wait(F) -> wait(F, 200).

-spec wait(fun(() -> boolean()), non_neg_integer()) -> ok.
wait(_F, 0) -> error(timeout);
wait(F, K) ->
    case catch F() of
        true -> ok;
        _ -> receive after 50 -> wait(F, K - 1) end
    end.

