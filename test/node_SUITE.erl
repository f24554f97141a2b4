%% @doc Common Test suite of the C node's network layer (c_src/node.c,
%% conn.c, handshake.c, epmd.c, frame.c) against real BEAM nodes.
%%
%% The C node under test is build/progs/sw_echo (test/c/progs/sw_echo.c): it
%% publishes itself in the real epmd, answers net_kernel's is_auth (so
%% net_adm:ping/1 works), echoes `{From, Term}' as `From ! Term', reports its
%% counters on `{From, '$sw_stats'}' and relays `{From, {'$sw_relay', Node,
%% T}}' through another C node. Its cookie is written on its stdin; it exits
%% when stdin closes (the port is closed).
%%
%% Everything runs on 127.0.0.1 with long names. The binary is found through
%% $SW_ECHO, else $SWARM_ROOT/build/progs/sw_echo, else by walking up from
%% this module's directory to the directory holding the Makefile. Run with
%% `rebar3 ct --suite test/node_SUITE' (scripts/ct.sh) or ct_run directly.
-module(node_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([ping_from_ct/1, ping_from_peer/1, echo_terms/1, echo_many/1,
         wrong_cookie_cnode/1, wrong_cookie_ct/1, garbage/1, raw_frames/1,
         raw_oversized/1, raw_tick_timeout/1, c_to_c/1, simultaneous_connect/1,
         c_connects_to_beam/1, c_to_beam_wrong_cookie/1, stdin_eof/1]).
-export([peer_echo/2]).

-define(HOST, "127.0.0.1").
-define(IP, {127, 0, 0, 1}).
%% OTP 25 mandatory distribution flags (dist.hrl MANDATORY_DFLAGS_25).
-define(MANDATORY, (16#4 bor 16#10 bor 16#100 bor 16#80 bor 16#200 bor 16#400 bor
                    16#800 bor 16#10000 bor 16#20000 bor 16#40000 bor 16#1000000)).

-spec all() -> [atom()].
all() ->
    [ping_from_ct, ping_from_peer, echo_terms, echo_many, wrong_cookie_cnode,
     wrong_cookie_ct, garbage, raw_frames, raw_oversized, raw_tick_timeout, c_to_c,
     simultaneous_connect, c_connects_to_beam, c_to_beam_wrong_cookie, stdin_eof].

-spec suite() -> list().
suite() -> [{timetrap, {seconds, 120}}].

-spec init_per_suite(list()) -> list().
init_per_suite(Config) ->
    _ = os:cmd("epmd -daemon"),
    ok = ensure_dist(),
    Bin = echo_bin(),
    case filelib:is_regular(Bin) of
        true -> ok;
        false -> ct:fail({missing_binary, Bin, "run `make c` first"})
    end,
    [{bin, Bin}, {cookie, atom_to_list(erlang:get_cookie())} | Config].

-spec end_per_suite(list()) -> ok.
end_per_suite(_Config) -> ok.

%%% ---------------------------------------------------------------------------
%%% Cases
%%% ---------------------------------------------------------------------------

%% @doc net_adm:ping of the C node from the CT node says pong; the C node is
%% a hidden node.
-spec ping_from_ct(list()) -> ok.
ping_from_ct(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assert(lists:member(Node, nodes(hidden))),
    ?assertNot(lists:member(Node, nodes())),
    #{handshake_ok := 1, conns := [Me]} = stats(Node),
    ?assertEqual(node(), Me),
    stop_cnode(C).

%% @doc A BEAM node started with `peer' pings the C node and echoes through it.
-spec ping_from_peer(list()) -> ok.
ping_from_peer(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    {ok, Peer, PeerNode} =
        peer:start_link(#{name => unique("node_suite_peer"), host => ?HOST,
                          longnames => true,
                          args => ["-setcookie", ?config(cookie, Config),
                                   "-pa", filename:dirname(code:which(?MODULE))]}),
    try
        %% peer:call/4 needs peer's alternative connection; over the
        %% default (distribution) one, erpc does the same.
        ?assertEqual(pong, erpc:call(PeerNode, net_adm, ping, [Node])),
        ?assertEqual({ok, {from_peer, [1, 2, 3]}},
                     erpc:call(PeerNode, ?MODULE, peer_echo, [Node, {from_peer, [1, 2, 3]}])),
        #{conns := Conns} = stats(Node),
        ?assert(lists:member(PeerNode, Conns))
    after
        peer:stop(Peer)
    end,
    stop_cnode(C).

%% @private Runs on the peer: one echo through the C node.
-spec peer_echo(node(), term()) -> {ok, term()} | timeout.
peer_echo(Node, Term) ->
    {sw_echo, Node} ! {self(), Term},
    receive Term -> {ok, Term} after 10000 -> timeout end.

%% @doc Terms of every kind round-trip unchanged, a 10 MB binary included.
-spec echo_terms(list()) -> ok.
echo_terms(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    LongAtom = list_to_atom(lists:duplicate(255, $x)),
    Deep = lists:foldl(fun(I, Acc) -> [I, Acc] end, [], lists:seq(1, 2000)),
    BigMap = maps:from_list([{I, integer_to_binary(I)} || I <- lists:seq(1, 200)]),
    Local = fun(X) -> X + 1 end,
    Terms = [a, '', 'ünïcødé_atom', LongAtom, 0, -1, 255, 256, 1 bsl 31, 1 bsl 64,
             -(1 bsl 200), 3.14, -0.0, 1.0e300, <<>>, <<1:3>>, <<"binary">>,
             crypto:strong_rand_bytes(10 * 1024 * 1024), "string", [1 | improper],
             {}, {a, {b, {c, []}}}, #{}, #{k => v, "s" => [1]}, BigMap, self(),
             make_ref(), hd(erlang:ports()), fun erlang:abs/1, Local, Deep,
             {node(), [self(), make_ref()], #{nested => #{deeper => {1, 2}}}}],
    [?assertEqual(T, echo(Node, T)) || T <- Terms],
    ?assertEqual(2, (echo(Node, Local))(1)),
    stop_cnode(C).

%% @doc Many messages in a row arrive all, in order; reports the rate.
-spec echo_many(list()) -> ok.
echo_many(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    pong = net_adm:ping(Node),
    N = 50000,
    T0 = erlang:monotonic_time(microsecond),
    [{sw_echo, Node} ! {self(), {seq, I}} || I <- lists:seq(1, N)],
    ok = receive_seq(1, N),
    Us = max(1, erlang:monotonic_time(microsecond) - T0),
    ct:pal("echo_many: ~b round trips in ~b ms: ~b messages/s each way",
           [N, Us div 1000, N * 1000000 div Us]),
    #{bad_frames := 0, frames_in := In} = stats(Node),
    ?assert(In >= N),
    stop_cnode(C).

-spec receive_seq(pos_integer(), pos_integer()) -> ok.
receive_seq(I, N) when I > N -> ok;
receive_seq(I, N) ->
    receive
        {seq, I} -> receive_seq(I + 1, N);
        {seq, J} -> ct:fail({out_of_order, expected, I, got, J})
    after 10000 -> ct:fail({missing, I})
    end.

%% @doc A C node started with another cookie: ping says pang, the C node
%% counts it and keeps running; with its cookie set for that node, ping says
%% pong.
-spec wrong_cookie_cnode(list()) -> ok.
wrong_cookie_cnode(Config) ->
    Other = "other_cookie_" ++ integer_to_list(erlang:unique_integer([positive])),
    C = start_cnode(Config, #{cookie => Other}),
    Node = node_of(C),
    ?assertEqual(pang, net_adm:ping(Node)),
    ?assertEqual(pang, net_adm:ping(Node)),
    ?assert(os_alive(C)),
    true = erlang:set_cookie(Node, list_to_atom(Other)),
    ?assertEqual(pong, net_adm:ping(Node)),
    #{auth_failed := 2, handshake_ok := 1} = stats(Node),
    stop_cnode(C).

%% @doc The CT node calls a good C node with a wrong cookie (pang), then with
%% the right one (pong).
-spec wrong_cookie_ct(list()) -> ok.
wrong_cookie_ct(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    true = erlang:set_cookie(Node, wrong_cookie),
    ?assertEqual(pang, net_adm:ping(Node)),
    true = erlang:set_cookie(Node, list_to_atom(?config(cookie, Config))),
    ?assertEqual(pong, net_adm:ping(Node)),
    #{auth_failed := 1} = stats(Node),
    stop_cnode(C).

%% @doc Garbage, a half handshake and a wrong message on raw TCP sockets are
%% refused (socket closed); the node still answers ping afterwards.
-spec garbage(list()) -> ok.
garbage(Config) ->
    C = start_cnode(Config),
    Port = cnode_port(C),
    Closed = fun(Bytes) ->
                     {ok, S} = gen_tcp:connect(?IP, Port, [binary, {active, false}]),
                     ok = gen_tcp:send(S, Bytes),
                     R = drain_until_closed(S, 10000),
                     gen_tcp:close(S),
                     R
             end,
    ?assertEqual(closed, Closed(crypto:strong_rand_bytes(4000))),
    ?assertEqual(closed, Closed(<<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>)),
    ?assertEqual(closed, Closed(<<0, 3, "xyz">>)),
    ?assertEqual(closed, Closed(<<0, 0>>)),
    %% A send_name whose flags miss the mandatory ones.
    Name = <<"raw_garbage@127.0.0.1">>,
    ?assertEqual(closed, Closed(hs_msg(<<$N, 4:64, 1:32, (byte_size(Name)):16, Name/binary>>))),
    %% Half a send_name, then the client leaves.
    {ok, S1} = gen_tcp:connect(?IP, Port, [binary, {active, false}]),
    Full = hs_msg(<<$N, ?MANDATORY:64, 1:32, (byte_size(Name)):16, Name/binary>>),
    ok = gen_tcp:send(S1, binary:part(Full, 0, 9)),
    ok = gen_tcp:close(S1),
    %% A client that leaves after the challenge, before replying.
    {ok, S2} = gen_tcp:connect(?IP, Port, [binary, {active, false}, {packet, 2}]),
    ok = gen_tcp:send(S2, binary:part(Full, 2, byte_size(Full) - 2)),
    {ok, <<"sok">>} = gen_tcp:recv(S2, 0, 5000),
    {ok, <<$N, _/binary>>} = gen_tcp:recv(S2, 0, 5000),
    ok = gen_tcp:close(S2),
    Node = node_of(C),
    ?assertEqual(pong, net_adm:ping(Node)),
    wait_until(fun() -> maps:get(handshake_failed, stats(Node)) >= 7 end, 5000),
    stop_cnode(C).

%% @doc On a connection authenticated by hand: a frame whose first byte is
%% not 112 is counted and dropped without closing, a real REG_SEND is
%% answered, a half frame followed by a disconnect only ends that connection.
-spec raw_frames(list()) -> ok.
raw_frames(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    {S, RawPid} = raw_connect(C, ?config(cookie, Config)),
    ok = gen_tcp:send(S, <<3:32, 7, 1, 2>>),
    ok = gen_tcp:send(S, <<0:32>>), % a tick
    ok = raw_send(S, {6, RawPid, '', sw_echo}, {RawPid, hello_raw}),
    {{2, '', RawPid}, hello_raw} = raw_recv(S, 5000),
    #{bad_frames := 1, ticks_in := TicksIn} = stats(Node),
    ?assert(TicksIn >= 1),
    ok = gen_tcp:send(S, <<100:32, 112, 131>>),
    ok = gen_tcp:close(S),
    ?assertEqual(pong, net_adm:ping(Node)),
    wait_until(fun() -> not lists:member(raw_node_name(C), maps:get(conns, stats(Node))) end,
               5000),
    stop_cnode(C).

%% @doc A frame length above the limit closes the connection (counted).
-spec raw_oversized(list()) -> ok.
raw_oversized(Config) ->
    C = start_cnode(Config),
    {S, _} = raw_connect(C, ?config(cookie, Config)),
    ok = gen_tcp:send(S, <<16#FFFFFFFF:32, 112>>),
    ?assertEqual(closed, drain_until_closed(S, 5000)),
    gen_tcp:close(S),
    #{conns_dropped := 1} = stats(node_of(C)),
    stop_cnode(C).

%% @doc With short tick settings the C node ticks a silent peer, then declares
%% it down and closes after the timeout.
-spec raw_tick_timeout(list()) -> ok.
raw_tick_timeout(Config) ->
    C = start_cnode(Config, #{env => [{"SW_TICK_MS", "100"}, {"SW_TIMEOUT_MS", "600"}]}),
    {S, _} = raw_connect(C, ?config(cookie, Config)),
    T0 = erlang:monotonic_time(millisecond),
    {closed, Ticks} = count_ticks(S, 0, 5000),
    Waited = erlang:monotonic_time(millisecond) - T0,
    ct:pal("silent peer: ~b ticks, closed after ~b ms", [Ticks, Waited]),
    ?assert(Ticks >= 3),
    ?assert(Waited >= 500 andalso Waited < 3000),
    gen_tcp:close(S),
    stop_cnode(C).

%% @doc Two C nodes talk to each other: A connects to B and relays a term
%% through B's echo, both ways.
-spec c_to_c(list()) -> ok.
c_to_c(Config) ->
    A = start_cnode(Config),
    B = start_cnode(Config),
    NA = node_of(A),
    NB = node_of(B),
    Big = crypto:strong_rand_bytes(1000000),
    ?assertEqual({sw_relayed, NB, {hi, Big}}, relay(NA, NB, {hi, Big})),
    ?assertEqual({sw_relayed, NA, back}, relay(NB, NA, back)),
    ?assert(lists:member(NB, maps:get(conns, stats(NA)))),
    ?assert(lists:member(NA, maps:get(conns, stats(NB)))),
    %% Unknown node: reported, not fatal.
    Missing = list_to_atom("nobody_" ++ os:getpid() ++ "@" ++ ?HOST),
    {sw_relay_failed, Missing, 'ENOENT'} = relay(NA, Missing, x),
    stop_cnode(A),
    stop_cnode(B).

%% @doc Pairs of C nodes told to connect to each other at the same moment end
%% with exactly one connection between them, which carries both relays.
-spec simultaneous_connect(list()) -> ok.
simultaneous_connect(Config) ->
    Rounds = 15,
    Raced = lists:sum([simultaneous_round(Config) || _ <- lists:seq(1, Rounds)]),
    ct:pal("simultaneous connects resolved by the name rule: ~b of ~b rounds",
           [Raced, Rounds]).

-spec simultaneous_round(list()) -> 0 | 1.
simultaneous_round(Config) ->
    A = start_cnode(Config),
    B = start_cnode(Config),
    NA = node_of(A),
    NB = node_of(B),
    pong = net_adm:ping(NA),
    pong = net_adm:ping(NB),
    {sw_echo, NA} ! {self(), {'$sw_relay', NB, from_a}},
    {sw_echo, NB} ! {self(), {'$sw_relay', NA, from_b}},
    Got = lists:sort([receive {sw_relayed, _, _} = M -> M after 10000 -> timeout end,
                      receive {sw_relayed, _, _} = M -> M after 10000 -> timeout end]),
    ?assertEqual(lists:sort([{sw_relayed, NB, from_a}, {sw_relayed, NA, from_b}]), Got),
    SA = stats(NA),
    SB = stats(NB),
    %% One handshake with the CT node, one between A and B: a second A-B
    %% connection would show as a third handshake (or a replaced one).
    ?assertEqual({2, 2}, {maps:get(handshake_ok, SA), maps:get(handshake_ok, SB)}),
    ?assertEqual(1, length([N || N <- maps:get(conns, SA), N =:= NB])),
    ?assertEqual(1, length([N || N <- maps:get(conns, SB), N =:= NA])),
    stop_cnode(A),
    stop_cnode(B),
    case maps:get(simultaneous, SA) + maps:get(simultaneous, SB) of
        0 -> 0;
        _ -> 1
    end.

%% @doc The C node connects on its own to a BEAM node it has never talked to
%% (a relay reply addressed to a pid of a node it is not connected to).
-spec c_connects_to_beam(list()) -> ok.
c_connects_to_beam(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    {ok, Peer, PeerNode} =
        peer:start_link(#{name => unique("node_suite_target"), host => ?HOST,
                          longnames => true,
                          args => ["-setcookie", ?config(cookie, Config),
                                   "-pa", filename:dirname(code:which(?MODULE))]}),
    try
        Self = self(),
        Pid = erlang:spawn(PeerNode, fun() -> receive M -> Self ! {forwarded, M} end end),
        %% The C node receives {Pid, T} from us and answers T to Pid, on
        %% PeerNode, which it has no connection to yet.
        ?assertNot(lists:member(PeerNode, maps:get(conns, stats(Node)))),
        {sw_echo, Node} ! {Pid, to_the_peer},
        receive {forwarded, to_the_peer} -> ok after 10000 -> ct:fail(not_forwarded) end,
        ?assert(lists:member(PeerNode, maps:get(conns, stats(Node))))
    after
        peer:stop(Peer)
    end,
    stop_cnode(C).

%% @doc A C node whose cookie the BEAM peer does not share: its connection
%% attempt is refused by the peer (counted as a failed handshake), nothing
%% is delivered, and the C node goes on serving the CT node.
-spec c_to_beam_wrong_cookie(list()) -> ok.
c_to_beam_wrong_cookie(Config) ->
    Other = "c_cookie_" ++ integer_to_list(erlang:unique_integer([positive])),
    C = start_cnode(Config, #{cookie => Other}),
    Node = node_of(C),
    true = erlang:set_cookie(Node, list_to_atom(Other)),
    {ok, Peer, PeerNode} =
        peer:start_link(#{name => unique("node_suite_strict"), host => ?HOST,
                          longnames => true,
                          args => ["-setcookie", ?config(cookie, Config),
                                   "-pa", filename:dirname(code:which(?MODULE))]}),
    try
        Self = self(),
        Pid = erlang:spawn(PeerNode, fun() -> receive M -> Self ! {forwarded, M} end end),
        {sw_echo, Node} ! {Pid, must_not_arrive},
        wait_until(fun() -> maps:get(handshake_failed, stats(Node)) >= 1 end, 10000),
        receive {forwarded, _} = F -> ct:fail({delivered, F}) after 200 -> ok end,
        #{conns := Conns, handshake_ok := 1} = stats(Node),
        ?assertNot(lists:member(PeerNode, Conns)),
        ?assertEqual(hello_again, echo(Node, hello_again))
    after
        peer:stop(Peer)
    end,
    stop_cnode(C).

%% @doc Closing the C node's stdin makes it exit on its own: the process is
%% gone, its name leaves epmd and the CT node sees it down.
-spec stdin_eof(list()) -> ok.
stdin_eof(Config) ->
    C = start_cnode(Config),
    Node = node_of(C),
    pong = net_adm:ping(Node),
    true = erlang:monitor_node(Node, true),
    ?assertEqual(exited, stop_cnode_report(C)),
    receive {nodedown, Node} -> ok after 10000 -> ct:fail(no_nodedown) end,
    wait_until(fun() -> erl_epmd:port_please(alive_of(C), ?IP) =:= noport end, 5000).

%%% ---------------------------------------------------------------------------
%%% C nodes
%%% ---------------------------------------------------------------------------

-type cnode() :: #{owner := pid(), node := node(), os_pid := integer(), alive := string()}.

-spec start_cnode(list()) -> cnode().
start_cnode(Config) -> start_cnode(Config, #{}).

-spec start_cnode(list(), map()) -> cnode().
start_cnode(Config, Opts) ->
    Alive = "swarm_echo_" ++ integer_to_list(erlang:unique_integer([positive])) ++ "_" ++
        os:getpid(),
    Cookie = maps:get(cookie, Opts, ?config(cookie, Config)),
    Env = maps:get(env, Opts, []),
    Bin = ?config(bin, Config),
    Self = self(),
    Owner = spawn_link(fun() -> port_owner(Self, Bin, Alive, Cookie, Env) end),
    receive
        {Owner, ready, Node, OsPid} ->
            #{owner => Owner, node => Node, os_pid => OsPid, alive => Alive}
    after 10000 ->
            ct:fail({cnode_not_ready, Alive})
    end.

-spec node_of(cnode()) -> node().
node_of(#{node := N}) -> N.
-spec alive_of(cnode()) -> string().
alive_of(#{alive := A}) -> A.

%% Stops a C node and fails the case unless it exited by itself on stdin's
%% EOF (a crash, a sanitizer abort or a hang would show here).
-spec stop_cnode(cnode()) -> ok.
stop_cnode(C) ->
    case stop_cnode_report(C) of
        exited -> ok;
        Other -> ct:fail({cnode_did_not_exit_cleanly, node_of(C), Other})
    end.

%% Closes the C node's stdin and waits for the process to leave; kills it
%% (by its own OS pid) only if it does not. Returns exited | killed.
-spec stop_cnode_report(cnode()) -> exited | killed | died_before.
stop_cnode_report(#{owner := Owner}) ->
    Owner ! {self(), stop},
    receive {Owner, stopped, How} -> How after 15000 -> ct:fail(cnode_stop_timeout) end.

%% The port owner: starts sw_echo, writes the cookie, collects its output,
%% reports "ready", and on stop closes stdin and waits for the exit.
-spec port_owner(pid(), string(), string(), string(), [{string(), string()}]) -> ok.
port_owner(Parent, Bin, Alive, Cookie, Env) ->
    Port = open_port({spawn_executable, Bin},
                     [{args, [Alive, ?HOST]}, {env, Env}, {line, 4096}, binary,
                      exit_status, use_stdio, stderr_to_stdout]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    true = port_command(Port, [Cookie, "\n"]),
    port_loop(Parent, Port, OsPid, []).

-spec port_loop(pid(), port(), integer(), [binary()]) -> ok.
port_loop(Parent, Port, OsPid, Log) ->
    receive
        {Port, {data, {eol, <<"ready ", Name/binary>>}}} ->
            Parent ! {self(), ready, binary_to_atom(Name), OsPid},
            port_loop(Parent, Port, OsPid, Log);
        {Port, {data, {_, Line}}} ->
            port_loop(Parent, Port, OsPid, [Line | lists:sublist(Log, 300)]);
        {Port, {exit_status, St}} ->
            ct:pal("sw_echo ~p exited with status ~p; last output:~n~s",
                   [OsPid, St, lists:join("\n", lists:reverse(Log))]),
            exit_loop(Parent);
        {From, stop} ->
            port_close(Port),
            How = case wait_os_exit(OsPid, 5000) of
                      true -> exited;
                      false -> _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)), killed
                  end,
            From ! {self(), stopped, How},
            ok
    end.

%% The C node died on its own: wait for the stop request, report it.
-spec exit_loop(pid()) -> ok.
exit_loop(_Parent) ->
    receive {From, stop} -> From ! {self(), stopped, died_before}, ok end.

-spec wait_os_exit(integer(), timeout()) -> boolean().
wait_os_exit(OsPid, Timeout) ->
    Alive = fun() -> os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>/dev/null && echo y")
                         =:= "y\n" end,
    try wait_until(fun() -> not Alive() end, Timeout), true
    catch _:_ -> false
    end.

-spec os_alive(cnode()) -> boolean().
os_alive(#{os_pid := OsPid}) ->
    os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>/dev/null && echo y") =:= "y\n".

-spec cnode_port(cnode()) -> inet:port_number().
cnode_port(C) ->
    {port, Port, _Version} = erl_epmd:port_please(alive_of(C), ?IP),
    Port.

-spec echo(node(), T) -> T.
echo(Node, Term) ->
    {sw_echo, Node} ! {self(), Term},
    receive Term -> Term after 20000 -> ct:fail({no_echo, Node}) end.

-spec stats(node()) -> map().
stats(Node) ->
    {sw_echo, Node} ! {self(), '$sw_stats'},
    receive {sw_stats, S} -> maps:from_list(S) after 10000 -> ct:fail({no_stats, Node}) end.

-spec relay(node(), node(), term()) -> tuple().
relay(From, To, Term) ->
    {sw_echo, From} ! {self(), {'$sw_relay', To, Term}},
    receive
        {sw_relayed, To, _} = M -> M;
        {sw_relay_failed, To, _} = M -> M
    after 10000 -> ct:fail({no_relay, From, To})
    end.

%%% ---------------------------------------------------------------------------
%%% A distribution peer written by hand (initiator side), to send what a BEAM
%%% never would.
%%% ---------------------------------------------------------------------------

-spec hs_msg(binary()) -> binary().
hs_msg(Body) -> <<(byte_size(Body)):16, Body/binary>>.

-spec raw_node_name(cnode()) -> node().
raw_node_name(C) -> list_to_atom("raw_" ++ alive_of(C) ++ "@" ++ ?HOST).

%% Connects and authenticates as raw_<alive>@127.0.0.1; returns the socket
%% (raw mode, passive) and a pid of the raw node for the C node to answer to.
-spec raw_connect(cnode(), string()) -> {gen_tcp:socket(), pid()}.
raw_connect(C, Cookie) ->
    {ok, S} = gen_tcp:connect(?IP, cnode_port(C), [binary, {active, false}, {packet, 2}]),
    Name = atom_to_binary(raw_node_name(C)),
    Creation = 4242,
    ok = gen_tcp:send(S, <<$N, ?MANDATORY:64, Creation:32, (byte_size(Name)):16, Name/binary>>),
    {ok, <<"sok">>} = gen_tcp:recv(S, 0, 5000),
    {ok, <<$N, Flags:64, Challenge:32, _PeerCreation:32, NL:16, PeerName:NL/binary, _/binary>>} =
        gen_tcp:recv(S, 0, 5000),
    ?assertEqual(atom_to_binary(node_of(C)), PeerName),
    ?assertEqual(0, Flags band 1), % not published: hidden
    ?assertEqual(?MANDATORY, Flags band ?MANDATORY),
    Mine = rand:uniform(16#FFFFFFFF),
    ok = gen_tcp:send(S, <<$r, Mine:32, (digest(Cookie, Challenge))/binary>>),
    {ok, <<$a, Ack:16/binary>>} = gen_tcp:recv(S, 0, 5000),
    ?assertEqual(digest(Cookie, Mine), Ack),
    ok = inet:setopts(S, [{packet, raw}]),
    RawPid = binary_to_term(<<131, 88, 118, (byte_size(Name)):16, Name/binary, 1:32, 0:32,
                              Creation:32>>),
    {S, RawPid}.

-spec digest(string(), non_neg_integer()) -> binary().
digest(Cookie, Challenge) -> erlang:md5([Cookie, integer_to_list(Challenge)]).

-spec raw_send(gen_tcp:socket(), tuple(), term()) -> ok | {error, term()}.
raw_send(S, Ctrl, Msg) ->
    Body = <<112, (term_to_binary(Ctrl))/binary, (term_to_binary(Msg))/binary>>,
    gen_tcp:send(S, <<(byte_size(Body)):32, Body/binary>>).

%% The next non-tick frame, decoded as {Ctrl, Msg}.
-spec raw_recv(gen_tcp:socket(), timeout()) -> {tuple(), term()}.
raw_recv(S, Timeout) ->
    case read_frame(S, Timeout) of
        <<>> -> raw_recv(S, Timeout);
        <<112, Rest/binary>> ->
            {Ctrl, Used} = binary_to_term(Rest, [used]),
            <<_:Used/binary, MsgBin/binary>> = Rest,
            {Ctrl, binary_to_term(MsgBin)}
    end.

-spec read_frame(gen_tcp:socket(), timeout()) -> binary().
read_frame(S, Timeout) ->
    {ok, <<Len:32>>} = gen_tcp:recv(S, 4, Timeout),
    case Len of
        0 -> <<>>;
        _ -> {ok, B} = gen_tcp:recv(S, Len, Timeout), B
    end.

-spec count_ticks(gen_tcp:socket(), non_neg_integer(), timeout()) -> {atom(), non_neg_integer()}.
count_ticks(S, N, Timeout) ->
    case gen_tcp:recv(S, 4, Timeout) of
        {ok, <<0:32>>} -> count_ticks(S, N + 1, Timeout);
        {ok, <<Len:32>>} -> {ok, _} = gen_tcp:recv(S, Len, Timeout), count_ticks(S, N, Timeout);
        {error, closed} -> {closed, N};
        {error, Other} -> {Other, N}
    end.

-spec drain_until_closed(gen_tcp:socket(), timeout()) -> closed | atom().
drain_until_closed(S, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, _} -> drain_until_closed(S, Timeout);
        {error, closed} -> closed;
        {error, econnreset} -> closed;
        {error, Other} -> Other
    end.

%%% ---------------------------------------------------------------------------
%%% Environment
%%% ---------------------------------------------------------------------------

-spec ensure_dist() -> ok.
ensure_dist() ->
    case node() of
        nonode@nohost ->
            {ok, _} = net_kernel:start(list_to_atom("ct_node_" ++ os:getpid() ++ "@" ++ ?HOST),
                                       #{name_domain => longnames}),
            ok;
        _ ->
            ok
    end.

-spec unique(string()) -> atom().
unique(Prefix) ->
    list_to_atom(Prefix ++ "_" ++ integer_to_list(erlang:unique_integer([positive])) ++ "_" ++
                     os:getpid()).

-spec echo_bin() -> string().
echo_bin() ->
    case os:getenv("SW_ECHO") of
        false -> filename:join([root(), "build", "progs", "sw_echo"]);
        Bin -> Bin
    end.

-spec root() -> string().
root() ->
    case os:getenv("SWARM_ROOT") of
        false -> find_root(filename:dirname(filename:absname(code:which(?MODULE))));
        Root -> Root
    end.

-spec find_root(string()) -> string().
find_root("/") -> ct:fail(no_project_root);
find_root(Dir) ->
    case filelib:is_regular(filename:join(Dir, "Makefile")) andalso
        filelib:is_regular(filename:join([Dir, "c_src", "node.h"])) of
        true -> Dir;
        false -> find_root(filename:dirname(Dir))
    end.

%% Polls F every 20 ms until it returns true; fails after Timeout ms.
-spec wait_until(fun(() -> boolean()), timeout()) -> ok.
wait_until(F, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_loop(F, Deadline).

-spec wait_loop(fun(() -> boolean()), integer()) -> ok.
wait_loop(F, Deadline) ->
    case F() of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> ct:fail(wait_until_timeout);
                false -> receive after 20 -> wait_loop(F, Deadline) end
            end
    end.
