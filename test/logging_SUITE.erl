%% @doc swarm's logs go through logger: the C node's records reach its
%% BEAM node's logger (domain [swarm], cnode and event metadata, their
%% level) and nothing reaches the C node's stderr once it is up; logger's
%% level silences them; the topology events (ring joins and leaves,
%% handoffs, restarts after a node went down, restarts by the policy, the
%% quorum reached) are logged once at info, the quorum lost at warning;
%% `debug: true' turns on swarm's debug records.
%%
%% Each peer gets a logger handler (this module: log/2) that forwards
%% every event to the test process, and its C node runs through a wrapper
%% that appends its stderr to a file.
-module(logging_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1, end_per_testcase/2]).
-export([topology_events/1, quorum_and_restart/1, debug_true/1, record_text/1]).
-export([log/2]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [record_text, topology_events, quorum_and_restart, debug_true].

init_per_suite(Config) ->
    ok = swarm_ct:ensure_dist(),
    Dir = ?config(priv_dir, Config),
    Wrapper = filename:join(Dir, "cnode_wrapper.sh"),
    ok = file:write_file(Wrapper, "#!/bin/sh\nexec \"$SWARM_LOGT_BIN\" 2>>\"$SWARM_LOGT_FILE\"\n"),
    ok = file:change_mode(Wrapper, 8#755),
    [{wrapper, Wrapper} | Config].

end_per_suite(_Config) ->
    ok.

end_per_testcase(_Case, Config) ->
    swarm_ct:end_per_testcase(Config).

%% The logger handler on the peers: every event to the test process.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{to := To}}) ->
    To ! {logged, node(), Level, Msg, Meta},
    ok.

%% ---------------------------------------------------------------------------

%% @doc A record's text becomes a report (integers, words joined to their value, the name to the end) that prints as a sentence or as key=value pairs.
record_text(_Config) ->
    R = swarm_log:report(name_conflict, <<"winner=<1.2> on a@h loser=<3.4> on b@h name={x, \"a b=c\"}">>),
    ?assertEqual(#{event => name_conflict, winner => <<"<1.2> on a@h">>, loser => <<"<3.4> on b@h">>,
                   name => <<"{x, \"a b=c\"}">>}, R),
    ?assertEqual(#{event => e, count => 12, to => <<"b@h,c@h">>}, swarm_log:report(e, <<"count=12 to=b@h,c@h">>)),
    ?assertEqual(#{event => e}, swarm_log:report(e, <<>>)),
    Text = fun(Rep) -> {F, A} = swarm_log:format(Rep), lists:flatten(io_lib:format(F, A)) end,
    ?assertEqual("swarm: name conflict after a partition on {x, \"a b=c\"}: <1.2> on a@h keeps it, "
                 "<3.4> on b@h is told to stop", Text(R)),
    ?assertEqual("swarm: handing off 12 processes to b@h,c@h (the ring changed)",
                 Text(swarm_log:report(handoff, <<"count=12 to=b@h,c@h">>))),
    %% Unknown events, and known ones with missing or odd fields: pairs.
    ?assertEqual("swarm: conn_up dir=in peer=a@h", Text(swarm_log:report(conn_up, <<"peer=a@h dir=in">>))),
    ?assertEqual("swarm: handoff count=x", Text(swarm_log:report(handoff, <<"count=x">>))),
    ?assertEqual("swarm: ring_join node=a@h", Text(swarm_log:report(ring_join, <<"node=a@h">>))).

%% @doc Ring joins, handoffs, a level that silences, a node down and its restarts: each logged once, at info, through logger; the C nodes' stderr stays empty.
topology_events(Config) ->
    Peers = swarm_ct:start_nodes(2, "logt"),
    [A, B] = Base = [N || {_, N} <- Peers],
    {CPeer, C} = swarm_ct:start_node(swarm_ct:unique("logt_c")),
    try
        [prepare(N, Config, info) || N <- [A, B, C]],
        ok = swarm_ct:start_swarm(Base),
        %% A sees B join its ring, from its C node, at info.
        #{meta := MetaJ} = wait_event(A, ring_join, fun(R) -> maps:get(node, R) =:= atom_to_binary(B) end),
        ?assertEqual([swarm], maps:get(domain, MetaJ)),
        ?assertEqual(list_to_atom("swarm_" ++ atom_to_list(A)), maps:get(cnode, MetaJ)),
        %% register_name/4 processes; then C joins: those its ring gives
        %% to C are handed off, counted in the info lines of A and B.
        Names = [{logt, I} || I <- lists:seq(1, 40)],
        [{ok, _} = swarm_ct:rpc(A, swarm, register_name, [N, swarm_test_server, start, [N]]) || N <- Names],
        ok = swarm_ct:rpc(C, application, set_env, [swarm, handoff_on_stop, false]),
        [true = swarm_ct:rpc(C, net_kernel, connect_node, [N]) || N <- Base],
        {ok, _} = swarm_ct:rpc(C, application, ensure_all_started, [swarm]),
        ok = swarm_ct:wait_peers([A, B, C]),
        ToC = [N || N <- Names, swarm_ct:ring_owner([A, B, C], N) =:= C],
        ?assert(length(ToC) > 0),
        Handed = count_events(Base, handoff, length(ToC)),
        ?assertEqual(length(ToC), Handed),
        swarm_ct:wait_until(fun() ->
            lists:all(fun(N) -> node(swarm_ct:rpc(A, swarm, whereis_name, [N])) =:= C end, ToC)
        end, 20000),
        %% A's logger at level error: A's info records go nowhere (its
        %% handler sees none), B's still come.
        ok = swarm_ct:rpc(A, logger, set_primary_config, [level, error]),
        flush(),
        %% C goes down without handing off: its processes are restarted
        %% by their owners among A and B, one info line per node each (B's
        %% is checked: A's logger is silenced).
        swarm_ct:stop_node({CPeer, C}),
        _ = wait_event(B, ring_leave, fun(R) -> maps:get(node, R) =:= atom_to_binary(C) end),
        ToB = [N || N <- ToC, swarm_ct:ring_owner(Base, N) =:= B],
        Restarted = count_events([B], node_restarts, length(ToB)),
        ?assertEqual(length(ToB), Restarted),
        ?assertEqual([], [E || {logged, N, L, _, _} = E <- drain(), N =:= A, L =/= error]),
        %% Nothing on the stderr of the C nodes that are up (the records
        %% went to logger; C's may write there once its BEAM node is gone).
        [?assertEqual({N, <<>>}, {N, stderr_of(N, Config)}) || N <- Base]
    after
        [swarm_ct:stop_node(P) || P <- [{CPeer, C} | Peers]]
    end.

%% @doc With a quorum of 2: the quorum reached (info), a restart by the `permanent' policy (info, with the name), the quorum lost (warning).
quorum_and_restart(Config) ->
    Peers = swarm_ct:start_nodes(2, "logq"),
    [A, B] = Nodes = [N || {_, N} <- Peers],
    try
        [begin
             prepare(N, Config, info),
             [ok = swarm_ct:rpc(N, application, set_env, [swarm, K, V])
              || {K, V} <- [{distribution_strategy, static_quorum_ring}, {static_quorum_size, 2},
                            {restart, permanent}]]
         end || N <- Nodes],
        ok = swarm_ct:start_swarm(Nodes),
        _ = wait_event(A, quorum_reached, fun(R) -> maps:get(nodes, R) =:= 2 end),
        {ok, P} = swarm_ct:rpc(A, swarm, register_name, [{logq, 1}, swarm_test_server, start, [x]]),
        exit(P, kill),
        #{report := R} = wait_event(node(P), restart, fun(_) -> true end),
        ?assertMatch(#{reason := <<"crashed">>, name := <<"{logq, 1}">>}, R),
        flush(),
        [{BPeer, B}] = [X || {_, N} = X <- Peers, N =:= B],
        swarm_ct:stop_node({BPeer, B}),
        _ = wait_event(A, quorum_lost, warning, fun(R1) -> maps:get(quorum, R1) =:= 2 end)
    after
        [swarm_ct:stop_node(X) || X <- Peers]
    end.

%% @doc `debug: true' makes the C node's debug records and swarm's debug events reach logger.
debug_true(Config) ->
    Peers = swarm_ct:start_nodes(2, "logd"),
    [A, B] = Nodes = [N || {_, N} <- Peers],
    try
        prepare(A, Config, info),
        prepare(B, Config, info),
        ok = swarm_ct:rpc(A, application, set_env, [swarm, debug, true]),
        ok = swarm_ct:start_swarm(Nodes),
        %% The connections of A's C node are logged at debug (B's are not).
        #{meta := Meta} = wait_level(A, debug, 10000),
        ?assertMatch(#{domain := [swarm], cnode := _, event := _}, Meta),
        %% Every record was understood (events new to the BEAM included).
        ?assertEqual([], [E || {logged, _, _, {report, #{event := cnode_unexpected}}, _} = E <- drain()]),
        %% Erlang's default handler lets domain [swarm] through.
        {ok, #{filters := Filters}} = swarm_ct:rpc(A, logger, get_handler_config, [default]),
        ?assert(lists:keymember(swarm_domain, 1, Filters)),
        ?assertEqual([], [E || {logged, N, debug, _, #{domain := [swarm]}} = E <- drain(), N =:= B])
    after
        [swarm_ct:stop_node(P) || P <- Peers]
    end.

%% ---------------------------------------------------------------------------

%% Node's logger at Level with the forwarding handler; its C node through
%% the wrapper (stderr to a file).
prepare(Node, Config, Level) ->
    ok = swarm_ct:rpc(Node, logger, set_primary_config, [level, Level]),
    ok = swarm_ct:rpc(Node, logger, add_handler,
                      [logt, ?MODULE, #{config => #{to => self()}, level => all, filter_default => log}]),
    Bin = filename:join(swarm_ct:rpc(Node, code, priv_dir, [swarm]), "swarm_node"),
    ok = swarm_ct:rpc(Node, application, set_env, [swarm, cnode_executable, ?config(wrapper, Config)]),
    ok = swarm_ct:rpc(Node, application, set_env,
                      [swarm, cnode_env, [{"SWARM_LOGT_BIN", Bin}, {"SWARM_LOGT_FILE", stderr_file(Node, Config)}]]).

stderr_file(Node, Config) ->
    filename:join(?config(priv_dir, Config), atom_to_list(Node) ++ ".stderr").

stderr_of(Node, Config) ->
    case file:read_file(stderr_file(Node, Config)) of
        {ok, B} -> B;
        {error, enoent} -> <<>>
    end.

%% The first C node record of Event logged on Node at Level (info unless
%% given) whose report passes Pred, within 20 s: #{report, meta}.
wait_event(Node, Event, Pred) ->
    wait_event(Node, Event, info, Pred).

wait_event(Node, Event, Level, Pred) ->
    Deadline = erlang:monotonic_time(millisecond) + 20000,
    wait_event(Node, Event, Level, Pred, Deadline).

wait_event(Node, Event, Level, Pred, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {logged, Node, Level, {report, #{event := Event} = R}, #{event := Event} = Meta} ->
            case Pred(R) of
                true -> #{report => R, meta => Meta};
                false -> wait_event(Node, Event, Level, Pred, Deadline)
            end
    after Left ->
        ct:fail("no ~p logged at ~p on ~p within 20 s", [Event, Level, Node])
    end.

%% Waits up to 20 s until the info records of Event on Nodes count (their
%% `count' fields summed) Want; returns the sum.
count_events(Nodes, Event, Want) ->
    Deadline = erlang:monotonic_time(millisecond) + 20000,
    count_events(Nodes, Event, Want, 0, Deadline).

count_events(_Nodes, _Event, Want, Sum, _Deadline) when Sum >= Want ->
    Sum;
count_events(Nodes, Event, Want, Sum, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {logged, N, info, {report, #{event := Event, count := K}}, #{domain := [swarm]}} ->
            true = lists:member(N, Nodes),
            count_events(Nodes, Event, Want, Sum + K, Deadline)
    after Left ->
        ct:fail("~p logged for ~p processes, ~p expected", [Event, Sum, Want])
    end.

wait_level(Node, Level, Timeout) ->
    receive
        {logged, Node, Level, {report, _}, #{domain := [swarm], cnode := _} = Meta} -> #{meta => Meta}
    after Timeout ->
        ct:fail("no ~p record of a C node logged on ~p", [Level, Node])
    end.

flush() ->
    _ = drain(),
    ok.

drain() ->
    receive {logged, _, _, _, _} = E -> [E | drain()]
    after 0 -> []
    end.
