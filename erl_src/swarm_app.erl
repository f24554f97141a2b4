%% @private
%% @doc The swarm application: validates the settings, starts swarm_sup;
%% and, unless `handoff_on_stop' is false, hands this node's
%% register_name/4,5 processes off before it stops: in prep_stop/1 (an
%% application stop, init:stop/0, System.stop/0) and, first of all, when
%% the VM gets SIGTERM (swarm_signal, in place of OTP's default handler,
%% which calls init:stop/0 at once).
-module(swarm_app).
-compile(warn_missing_spec).
-behaviour(application).
-export([start/2, prep_stop/1, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case swarm_config:load() of
        {ok, #{members_cache := Cache} = Config} ->
            ok = swarm_log:install_filter(),
            %% Read by swarm_groups (no change: no global GC).
            persistent_term:put({swarm, groups_members_cache}, Cache),
            %% Read by swarm:register_name/2 (no change: no global GC).
            persistent_term:put({swarm, optimistic}, swarm_config:optimistic(Config)),
            case swarm_sup:start_link(Config) of
                {ok, Pid} ->
                    swarm_config:handoff_on_stop(Config) andalso swarm_signal:install(),
                    {ok, Pid};
                Error ->
                    Error
            end;
        {error, _} = Error -> Error
    end.

%% @doc Before the supervision tree stops: the node leaves the placement
%% and its register_name/4,5 processes move to their owners among the
%% other nodes (bounded by `handoff_timeout' plus 5 s); its register_name/2
%% names are removed.
-spec prep_stop(term()) -> term().
prep_stop(State) ->
    case application:get_env(swarm, handoff_on_stop, true) =:= true andalso
         whereis(swarm_agent) =/= undefined of
        true -> _ = catch swarm:leave_placement(stop);
        false -> ok
    end,
    State.

-spec stop(term()) -> ok.
stop(_State) ->
    swarm_signal:uninstall().
