%% @private
%% @doc Reads and validates swarm's settings (application environment of
%% `swarm', the same keys as Swarm 3.x): `distribution_strategy',
%% `static_quorum_size', `node_whitelist', `node_blacklist'; and its own
%% `groups_members_cache' (a boolean), `restart' (`temporary', `transient'
%% or `permanent'), `restart_intensity' and `restart_period' (seconds),
%% `handoff_on_stop' (a boolean), `registration' (`exact' or `optimistic'),
%% the timeouts and the C node's log level;
%% Swarm's `debug', `sync_nodes_timeout' and `anti_entropy_interval'. A bad
%% value is a clear error when the application starts, never a crash
%% later.
-module(swarm_config).
-compile(warn_missing_spec).

-export([load/0, ignore_node/2, quorum/1, cnode_settings/1, handoff_on_stop/1, optimistic/1]).

-type pattern() :: {re, term(), binary()}.
-type config() :: #{strategy := ring | static_quorum_ring,
                    quorum := non_neg_integer(),
                    whitelist := [pattern()],
                    blacklist := [pattern()],
                    members_cache := boolean(),
                    restart := {temporary | transient | permanent, non_neg_integer(), pos_integer()},
                    handoff_on_stop := boolean(),
                    registration := exact | optimistic}.
-export_type([config/0]).

%% Swarm's default blacklist: remote shells and release upgrade/maintenance
%% nodes.
-define(DEFAULT_BLACKLIST, [<<"^remsh.*$">>, <<"^.+_upgrader_.+$">>, <<"^.+_maint_.+$">>]).

%% @doc The validated settings, or `{error, {bad_config, Key, Value}}'.
-spec load() -> {ok, config()} | {error, {bad_config, atom(), term()}}.
load() ->
    try
        Strategy = strategy(application:get_env(swarm, distribution_strategy, ring)),
        Quorum = case Strategy of
                     static_quorum_ring -> quorum_size(application:get_env(swarm, static_quorum_size, undefined));
                     ring -> 0
                 end,
        White = patterns(node_whitelist, application:get_env(swarm, node_whitelist, [])),
        Black = patterns(node_blacklist, application:get_env(swarm, node_blacklist, ?DEFAULT_BLACKLIST)),
        Cache = bool(groups_members_cache, true),
        ok = check_scalars(),
        Restart = {restart_type(application:get_env(swarm, restart, temporary)),
                   intensity(application:get_env(swarm, restart_intensity, 3)),
                   pos(restart_period, application:get_env(swarm, restart_period, 5))},
        OnStop = bool(handoff_on_stop, true),
        Registration = case application:get_env(swarm, registration, exact) of
                           R when R =:= exact; R =:= optimistic -> R;
                           R -> throw({bad_config, registration, R})
                       end,
        {ok, #{strategy => Strategy, quorum => Quorum, whitelist => White, blacklist => Black,
               members_cache => Cache, restart => Restart, handoff_on_stop => OnStop,
               registration => Registration}}
    catch
        throw:{bad_config, _, _} = E -> {error, E}
    end.

%% @doc The quorum size (0 for the plain ring).
-spec quorum(config()) -> non_neg_integer().
quorum(#{quorum := Q}) -> Q.

%% @doc The settings the C node is given: the quorum, and the restart
%% policy of register_name/4,5 processes (the type, as a supervisor
%% child's, 0 for temporary, 1 transient, 2 permanent; at most
%% `restart_intensity' restarts of one name within `restart_period_ms'),
%% and whether register_name/2 is optimistic (1) or exact (0).
-spec cnode_settings(config()) -> [{atom(), non_neg_integer()}].
cnode_settings(#{quorum := Q, restart := {Type, Intensity, Period}} = Config) ->
    T = case Type of temporary -> 0; transient -> 1; permanent -> 2 end,
    O = case optimistic(Config) of true -> 1; false -> 0 end,
    [{quorum, Q}, {restart, T}, {restart_intensity, Intensity}, {restart_period_ms, Period * 1000},
     {optimistic, O}].

%% @doc Whether register_name/2 is optimistic: the caller's node decides
%% alone (see swarm:register_name/2).
-spec optimistic(config()) -> boolean().
optimistic(#{registration := R}) -> R =:= optimistic.

%% @doc Whether a stopping node hands its register_name/4,5 processes off
%% first (application stop, init:stop/0, SIGTERM).
-spec handoff_on_stop(config()) -> boolean().
handoff_on_stop(#{handoff_on_stop := H}) -> H.

%% @doc True if `Node' is left out of the ring (and of swarm's traffic), as
%% Swarm decides it: with a whitelist, only whitelisted nodes are kept (even
%% if they are also blacklisted); otherwise blacklisted nodes are left out.
-spec ignore_node(node(), config()) -> boolean().
ignore_node(Node, #{whitelist := W, blacklist := B}) ->
    Name = atom_to_binary(Node, utf8),
    case W of
        [] -> matches(Name, B);
        _ -> not matches(Name, W)
    end.

%% ---------------------------------------------------------------------------

-spec strategy(term()) -> ring | static_quorum_ring.
strategy(ring) -> ring;
strategy('Elixir.Swarm.Distribution.Ring') -> ring;
strategy(static_quorum_ring) -> static_quorum_ring;
strategy('Elixir.Swarm.Distribution.StaticQuorumRing') -> static_quorum_ring;
strategy(Other) -> throw({bad_config, distribution_strategy, Other}).

%% The settings read where they are used (the caller's wait, the C node's
%% log level, ...): only checked here. Swarm 3.x's `debug' turns on debug
%% logging (swarm's modules and its C node); its `sync_nodes_timeout' and
%% `anti_entropy_interval' are accepted and have no effect (a node that
%% joins is synced at once; a dropped link is resynchronised at once).
-spec check_scalars() -> ok.
check_scalars() ->
    [_ = pos(K, application:get_env(swarm, K, D))
     || {K, D} <- [{call_timeout, 5000}, {handoff_timeout, 5000}, {restart_backoff, 100},
                   {cnode_watchdog_ms, 1000}, {cnode_watchdog_misses, 5},
                   {anti_entropy_interval, 300000}]],
    _ = non_neg(sync_nodes_timeout, application:get_env(swarm, sync_nodes_timeout, 0)),
    _ = bool(direct_to_owner, false),
    case application:get_env(swarm, cnode_log, info) of
        L when L =:= debug; L =:= info; L =:= warning; L =:= error -> ok;
        L -> throw({bad_config, cnode_log, L})
    end,
    case bool(debug, false) of
        true ->
            %% The C node's level follows (swarm_log:cnode_level/0).
            _ = logger:set_application_level(swarm, debug),
            ok;
        false ->
            ok
    end.

-spec bool(atom(), boolean()) -> boolean().
bool(Key, Default) ->
    case application:get_env(swarm, Key, Default) of
        B when is_boolean(B) -> B;
        B -> throw({bad_config, Key, B})
    end.

-spec restart_type(term()) -> temporary | transient | permanent.
restart_type(T) when T =:= temporary; T =:= transient; T =:= permanent -> T;
restart_type(Other) -> throw({bad_config, restart, Other}).

%% (At most 1000: the C node keeps that many restart times per name.)
-spec intensity(term()) -> non_neg_integer().
intensity(N) when is_integer(N), N >= 0, N =< 1000 -> N;
intensity(Other) -> throw({bad_config, restart_intensity, Other}).

-spec non_neg(atom(), term()) -> non_neg_integer().
non_neg(_Key, N) when is_integer(N), N >= 0, N =< 1000000 -> N;
non_neg(Key, Other) -> throw({bad_config, Key, Other}).

-spec pos(atom(), term()) -> pos_integer().
pos(_Key, N) when is_integer(N), N > 0, N =< 1000000 -> N;
pos(Key, Other) -> throw({bad_config, Key, Other}).

-spec quorum_size(term()) -> pos_integer().
quorum_size(N) when is_integer(N), N > 0 -> N;
quorum_size(S) when is_binary(S) -> quorum_size(binary_to_list(S));
quorum_size(S) when is_list(S) ->
    try list_to_integer(string:trim(S)) of
        N when N > 0 -> N;
        _ -> throw({bad_config, static_quorum_size, S})
    catch error:badarg -> throw({bad_config, static_quorum_size, S})
    end;
quorum_size(Other) -> throw({bad_config, static_quorum_size, Other}).

-spec patterns(atom(), term()) -> [pattern()].
patterns(Key, L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) andalso L =/= [] of
        true -> throw({bad_config, Key, L}); % a bare string, not a list of patterns
        false -> [pattern(Key, P) || P <- L]
    end;
patterns(Key, Other) -> throw({bad_config, Key, Other}).

%% Strings (binaries or charlists) and Elixir Regex structs; all are regular
%% expressions, as in Swarm.
-spec pattern(atom(), term()) -> pattern().
pattern(Key, #{'__struct__' := 'Elixir.Regex', source := Src}) -> pattern(Key, Src);
pattern(Key, P) when is_list(P) -> pattern(Key, unicode:characters_to_binary(P));
pattern(Key, P) when is_binary(P) ->
    case re:compile(P, [unicode]) of
        {ok, Re} -> {re, Re, P};
        {error, _} -> throw({bad_config, Key, P})
    end;
pattern(Key, P) -> throw({bad_config, Key, P}).

-spec matches(binary(), [pattern()]) -> boolean().
matches(Name, Patterns) ->
    lists:any(fun({re, Re, _}) -> re:run(Name, Re, [{capture, none}]) =:= match end, Patterns).
