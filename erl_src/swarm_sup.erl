%% @private
%% @doc Top supervisor. It owns the ETS replica (created in init/1, so the
%% table survives restarts of the agent) and supervises the agent, the
%% groups' writer, the confirmer of the helpers' casts (swarm_confirm) and
%% the Swarm.Tracker facade.
-module(swarm_sup).
-compile(warn_missing_spec).
-behaviour(supervisor).
-include("swarm_proto.hrl").
-export([start_link/1, init/1]).

-spec start_link(swarm_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    supervisor:start_link({local, swarm_sup}, ?MODULE, Config).

-spec init(swarm_config:config()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(Config) ->
    _ = ets:new(?SW_NAMES, [named_table, public, set, {read_concurrency, true}]),
    _ = ets:new(?SW_MFA, [named_table, public, set]),
    _ = ets:new(?SW_GROUPS, [named_table, public, ordered_set, {read_concurrency, true}]),
    _ = ets:new(?SW_GROUPS_CACHE, [named_table, public, set, {read_concurrency, true}]),
    %% No concurrency options: every members/1 looks at it (ets:next/2:
    %% 25 ns plain, 85 with read_concurrency, 170 with write_concurrency
    %% too), and its rows are short-lived.
    _ = ets:new(?SW_GROUPS_PENDING, [named_table, public, ordered_set]),
    %% Before the agent, whose helpers confirm their casts through it.
    Confirm = #{id => swarm_confirm, start => {swarm_confirm, start_link, []},
                restart => permanent, shutdown => 1000, type => worker, modules => [swarm_confirm]},
    Agent = #{id => swarm_agent,
              start => {swarm_agent, start_link, [Config]},
              restart => permanent,
              shutdown => 5000,
              type => worker,
              modules => [swarm_agent]},
    Groups = #{id => swarm_groups, start => {swarm_groups, start_link, []},
               restart => permanent, shutdown => 5000, type => worker, modules => [swarm_groups]},
    %% Swarm.Tracker: what Swarm's users look at with :sys.get_state/1.
    Tracker = #{id => 'Elixir.Swarm.Tracker', start => {'Elixir.Swarm.Tracker', start_link, []},
                restart => permanent, shutdown => 1000, type => worker,
                modules => ['Elixir.Swarm.Tracker']},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, [Confirm, Agent, Groups, Tracker]}}.
