%% @doc `Swarm.Tracker': the part of Swarm 3.x's tracker API that
%% applications call, `Swarm.Tracker.handoff/2'.
%% ```
%% # in a worker that traps exits, as Swarm's users do on shutdown:
%% def terminate(_reason, state), do: Swarm.Tracker.handoff(state.name, state)
%% '''
%% It forwards to the module `swarm'; see its documentation.
-module('Elixir.Swarm.Tracker').
-compile(warn_missing_spec).

-export([handoff/2]).

%% @doc See {@link swarm:handoff/2}: the local `register_name/4,5' process
%% `Name' moves to the name's owner among the other nodes, which casts it
%% `{swarm, end_handoff, State}'.
-spec handoff(term(), term()) -> ok | {error, not_found | no_node_available}.
handoff(Name, State) -> swarm:handoff(Name, State).
