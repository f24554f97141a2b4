%% @private
%% @doc The swarm application: validates the settings, starts swarm_sup.
-module(swarm_app).
-compile(warn_missing_spec).
-behaviour(application).
-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case swarm_config:load() of
        {ok, #{members_cache := Cache} = Config} ->
            %% Read by swarm_groups (no change: no global GC).
            persistent_term:put({swarm, groups_members_cache}, Cache),
            swarm_sup:start_link(Config);
        {error, _} = Error -> Error
    end.

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
