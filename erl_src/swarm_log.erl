%% @private
%% @doc swarm's logging: the metadata of every swarm log event (`domain =>
%% [swarm]'), the C node's records turned into logger events, their
%% sentences for consoles, the C node's level, and the filter that lets
%% swarm's events through Erlang's default handler.
%%
%% A C node record arrives on the control channel as `{'$sw1', log, Level,
%% EventBin, Text}', Text being `key=value' pairs separated by spaces (a
%% `name' pair comes last: its value, an Erlang term as text, runs to the
%% end). It becomes `logger:log(Level, Report, Meta)' with Report the map
%% of the pairs plus `event', and Meta `#{domain => [swarm], cnode =>
%% CNode, event => Event, report_cb => fun format/1}'.
%%
%% What it is not: a handler or a formatter; the application's handlers
%% and formatters print the events (format/1 gives them a sentence).
-module(swarm_log).
-compile(warn_missing_spec).
-include_lib("kernel/include/logger.hrl").

-export([meta/0, cnode_record/4, report/2, format/1, cnode_level/0, install_filter/0]).

-type level() :: debug | info | warning | error.

%% @doc The metadata of swarm's own log events.
-spec meta() -> logger:metadata().
meta() ->
    #{domain => [swarm]}.

%% @doc Logs record `{Level, Event, Text}' of C node `CNode'. (Events and
%% keys become atoms: they are the C node's literals, a few dozen.)
-spec cnode_record(term(), binary(), binary(), node()) -> ok.
cnode_record(Level0, EventBin, Text, CNode) ->
    Event = binary_to_atom(EventBin, utf8),
    Level = case lists:member(Level0, [debug, info, warning, error]) of
                true -> Level0;
                false -> warning
            end,
    ?LOG(Level, report(Event, Text),
         #{domain => [swarm], cnode => CNode, event => Event, report_cb => fun ?MODULE:format/1}).

%% @doc The report of a C node record: its pairs (values that are decimal
%% integers as integers, others as binaries) and `event'. A word without
%% `=' belongs to the value before it.
-spec report(atom(), binary()) -> #{atom() => term()}.
report(Event, Text) ->
    pairs(string:lexemes(Text, " "), event, #{event => Event}).

-spec pairs([binary()], atom(), map()) -> map().
pairs([], _Last, R) ->
    R;
pairs([W | Ws], Last, R) ->
    case string:split(W, "=") of
        [<<"name">>, _] ->
            %% The name is the rest of the text, spaces included.
            [_, V] = string:split(iolist_to_binary(lists:join(" ", [W | Ws])), "="),
            R#{name => V};
        [K, V] when K =/= <<>> ->
            Key = binary_to_atom(K, utf8),
            pairs(Ws, Key, R#{Key => value(V)});
        _ when Last =/= event ->
            Prev = maps:get(Last, R),
            pairs(Ws, Last, R#{Last := iolist_to_binary([text(Prev), " ", W])});
        _ ->
            pairs(Ws, Last, R)
    end.

-spec value(binary()) -> integer() | binary().
value(V) ->
    try binary_to_integer(V)
    catch error:badarg -> V
    end.

%% @doc The report_cb of C node records: a sentence for the events meant
%% for users, `swarm: Event key=value ...' for the others.
-spec format(map()) -> {io:format(), [term()]}.
format(#{event := E} = R) ->
    try sentence(E, R)
    catch error:_ -> generic(R)
    end.

-spec sentence(atom(), map()) -> {io:format(), [term()]}.
sentence(ring_join, #{node := N, members := M}) ->
    {"swarm: node ~ts joined the ring (~b nodes)", [N, M]};
sentence(ring_leave, #{node := N, members := M}) ->
    {"swarm: node ~ts left the ring (~b nodes)", [N, M]};
sentence(handoff, #{count := C, to := To}) ->
    {"swarm: handing off ~b processes to ~ts (the ring changed)", [C, To]};
sentence(handoff_one, #{to := To, name := Name}) ->
    {"swarm: handing off ~ts to ~ts", [Name, To]};
sentence(node_restarts, #{count := C, node := N}) ->
    {"swarm: restarting ~b processes of ~ts, which went down", [C, N]};
sentence(node_restarts_skipped, #{count := C, node := N}) ->
    {"swarm: not restarting ~b processes of ~ts, which went down: no quorum", [C, N]};
sentence(restart, #{reason := Why, name := Name}) ->
    {"swarm: restarting ~ts (its process exited: ~ts)", [Name, Why]};
sentence(restart_given_up, #{intensity := I, period_ms := P, name := Name}) ->
    {"swarm: not restarting ~ts: it exited more than ~b times in ~b ms", [Name, I, P]};
sentence(name_conflict, #{winner := W, loser := L, name := Name}) ->
    {"swarm: name conflict after a partition on ~ts: ~ts keeps it, ~ts is told to stop",
     [Name, W, L]};
sentence(quorum_lost, #{nodes := N, quorum := Q}) ->
    {"swarm: quorum lost (~b of ~b nodes)", [N, Q]};
sentence(quorum_reached, #{nodes := N, quorum := Q}) ->
    {"swarm: quorum reached (~b of ~b nodes)", [N, Q]};
sentence(quorum_stop, #{count := C}) ->
    {"swarm: stopping ~b processes started here: below the quorum", [C]};
sentence(leaving, #{mode := M}) ->
    {"swarm: this node leaves the placement (~ts): its processes move to other nodes", [M]};
sentence(rejoined, _) ->
    {"swarm: this node is back in the placement", []};
sentence(_, R) ->
    generic(R).

-spec generic(map()) -> {io:format(), [term()]}.
generic(#{event := E} = R) ->
    Pairs = [[" ", atom_to_list(K), "=", io_lib:format("~ts", [text(V)])]
             || {K, V} <- lists:sort(maps:to_list(maps:remove(event, R)))],
    {"swarm: ~ts~ts", [atom_to_list(E), lists:flatten(Pairs)]}.

-spec text(term()) -> iodata().
text(V) when is_binary(V) -> V;
text(V) -> io_lib:format("~tp", [V]).

%% @doc The level the C node runs at (its SWARM_LOG): debug when `debug'
%% is true, else `cnode_log' (default info); raised to the lowest level that
%% logger lets through for swarm's records at this time, so that the C
%% node does not send records that would be dropped. With the stderr
%% opt-out (SWARM_LOG_SINK=stderr in `cnode_env') logger has no say.
-spec cnode_level() -> level().
cnode_level() ->
    Configured = case application:get_env(swarm, debug, false) of
                     true -> debug;
                     _ -> application:get_env(swarm, cnode_log, info)
                 end,
    Env = application:get_env(swarm, cnode_env, []),
    case lists:member({"SWARM_LOG_SINK", "stderr"}, Env) of
        true ->
            Configured;
        false ->
            Levels = lists:dropwhile(fun(L) -> L =/= Configured end, [debug, info, warning, error]),
            case [L || L <- Levels, logger:allow(L, ?MODULE)] of
                [L | _] -> L;
                [] -> error
            end
    end.

%% @doc Lets events of domain [swarm] through Erlang's default handler,
%% whose filters stop every domain but OTP's (Elixir's handlers have no
%% such filter). Does nothing when the handler is absent or has the filter.
-spec install_filter() -> ok.
install_filter() ->
    case logger:get_handler_config(default) of
        {ok, #{filter_default := stop}} ->
            _ = logger:add_handler_filter(default, swarm_domain,
                                          {fun logger_filters:domain/2, {log, sub, [swarm]}}),
            ok;
        _ ->
            ok
    end.
