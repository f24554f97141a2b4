%% @doc An application that uses swarm, for the suites: its supervisor
%% runs swarm_test_server processes that register_name/4 starts through
%% start_child/1, so that init:stop/0 stops them (this application stops
%% before swarm) as an application's own workers would be stopped.
-module(swarm_test_app).
-behaviour(application).
-behaviour(supervisor).
-export([load_and_start/0, start_child/1]).
-export([start/2, stop/1, init/1]).

%% Loads the application from an inline spec (no .app file) and starts it.
load_and_start() ->
    Spec = {application, ?MODULE, [{description, "swarm test app"}, {vsn, "1"}, {modules, [?MODULE]},
                                  {registered, [swarm_test_app_sup]},
                                  {applications, [kernel, stdlib, swarm]},
                                  {mod, {?MODULE, []}}]},
    case application:load(Spec) of
        ok -> ok;
        {error, {already_loaded, _}} -> ok
    end,
    ok = application:start(?MODULE).

start_child(Arg) ->
    supervisor:start_child(swarm_test_app_sup, [Arg]).

start(_Type, _Args) ->
    supervisor:start_link({local, swarm_test_app_sup}, ?MODULE, []).

stop(_State) ->
    ok.

init([]) ->
    Child = #{id => worker, start => {swarm_test_server, start_link, []},
              restart => temporary, shutdown => 1000},
    {ok, {#{strategy => simple_one_for_one}, [Child]}}.
