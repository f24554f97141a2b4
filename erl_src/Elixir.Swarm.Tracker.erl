%% @doc `Swarm.Tracker': the part of Swarm 3.x's tracker that applications
%% and operators use. `Swarm.Tracker.handoff/2', and a process registered
%% as `Swarm.Tracker' (started by swarm's supervisor) whose state, as
%% `:sys.get_state(Swarm.Tracker)' or `:sys.get_status(Swarm.Tracker)'
%% show it, is what swarm knows on this node (swarm:info/0).
%% ```
%% # in a worker that traps exits, as Swarm's users do on shutdown:
%% def terminate(_reason, state), do: Swarm.Tracker.handoff(state.name, state)
%% :sys.get_state(Swarm.Tracker)
%% '''
%% The registry itself runs in the C node; this process holds nothing.
-module('Elixir.Swarm.Tracker').
-compile(warn_missing_spec).

-export([handoff/2]).
-export([start_link/0, init/1, system_continue/3, system_terminate/4, system_get_state/1,
         system_replace_state/2, system_code_change/4, format_status/2]).

%% @doc See {@link swarm:handoff/2}: the local `register_name/4,5' process
%% `Name' moves to the name's owner among the other nodes, which casts it
%% `{swarm, end_handoff, State}'.
-spec handoff(term(), term()) -> ok | {error, not_found | no_node_available}.
handoff(Name, State) -> swarm:handoff(Name, State).

%% @private
%% @doc Starts the process registered as `Swarm.Tracker' (by swarm_sup).
-spec start_link() -> {ok, pid()}.
start_link() ->
    proc_lib:start_link(?MODULE, init, [self()]).

%% @private
-spec init(pid()) -> no_return().
init(Parent) ->
    true = register(?MODULE, self()),
    proc_lib:init_ack(Parent, {ok, self()}),
    loop(Parent, sys:debug_options([])).

-spec loop(pid(), [sys:dbg_opt()]) -> no_return().
loop(Parent, Debug) ->
    receive
        {system, From, Req} ->
            sys:handle_system_msg(Req, From, Parent, ?MODULE, Debug, []);
        {'EXIT', Parent, Reason} ->
            exit(Reason);
        _ ->
            loop(Parent, Debug)
    end.

%% @private
-spec system_continue(pid(), [sys:dbg_opt()], term()) -> no_return().
system_continue(Parent, Debug, _Misc) ->
    loop(Parent, Debug).

%% @private
-spec system_terminate(term(), pid(), [sys:dbg_opt()], term()) -> no_return().
system_terminate(Reason, _Parent, _Debug, _Misc) ->
    exit(Reason).

%% @private
%% @doc The state shown: swarm:info/0, taken now.
-spec system_get_state(term()) -> {ok, map()}.
system_get_state(_Misc) ->
    {ok, swarm:info()}.

%% @private
-spec system_replace_state(fun(), term()) -> {ok, map(), term()}.
system_replace_state(_Fun, Misc) ->
    {ok, swarm:info(), Misc}.

%% @private
-spec system_code_change(term(), module(), term(), term()) -> {ok, term()}.
system_code_change(Misc, _Module, _OldVsn, _Extra) ->
    {ok, Misc}.

%% @private
%% @doc What `:sys.get_status/1' shows of it.
-spec format_status(normal | terminate, list()) -> list().
format_status(_Opt, [_PDict, SysState, Parent, _Debug, _Misc]) ->
    [{header, "Swarm.Tracker (swarm's registry runs in its C node)"},
     {data, [{"Status", SysState}, {"Parent", Parent}, {"State", swarm:info()}]}].
