%% @doc `Swarm': the Elixir facade of swarm, with Swarm 3.x's function names,
%% so Elixir code written for Swarm runs unchanged:
%% ```
%% {:ok, pid} = GenServer.start_link(MyWorker, [], name: {:via, :swarm, :w1})
%% Swarm.whereis_name(:w1)
%% Swarm.send(:w1, :hello)
%% Swarm.registered()
%% '''
%% Every function forwards to the module `swarm'; see its documentation.
-module('Elixir.Swarm').

-export([register_name/2, unregister_name/1, whereis_name/1, send/2, registered/0]).

%% @doc See {@link swarm:register_name/2}.
-spec register_name(term(), pid()) -> yes | no.
register_name(Name, Pid) -> swarm:register_name(Name, Pid).

%% @doc See {@link swarm:unregister_name/1}.
-spec unregister_name(term()) -> ok.
unregister_name(Name) -> swarm:unregister_name(Name).

%% @doc See {@link swarm:whereis_name/1}.
-spec whereis_name(term()) -> pid() | undefined.
whereis_name(Name) -> swarm:whereis_name(Name).

%% @doc See {@link swarm:send/2}.
-spec send(term(), term()) -> pid().
send(Name, Msg) -> swarm:send(Name, Msg).

%% @doc See {@link swarm:registered/0}.
-spec registered() -> [{term(), pid()}].
registered() -> swarm:registered().
