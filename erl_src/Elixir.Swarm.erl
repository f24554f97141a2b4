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
-compile(warn_missing_spec).

-export([register_name/2, unregister_name/1, whereis_name/1, send/2, registered/0]).
-export([register_name/4, register_name/5, whereis_or_register_name/4,
         whereis_or_register_name/5]).
%% Handoff on demand (Swarm.Tracker.handoff/2 is in 'Elixir.Swarm.Tracker').
-export([handoff/0, rejoin/0, info/0]).
%% Process groups: see the end of this file.
-export([join/2, leave/2, members/1, publish/2, multi_call/2, multi_call/3]).

%% @doc See {@link swarm:handoff/0}: `Swarm.handoff()' moves this node's
%% processes to the others before maintenance.
-spec handoff() -> {ok, non_neg_integer()} | {error, timeout}.
handoff() -> swarm:handoff().

%% @doc See {@link swarm:info/0}.
-spec info() -> map().
info() -> swarm:info().

%% @doc See {@link swarm:rejoin/0}.
-spec rejoin() -> ok | {error, stopping}.
rejoin() -> swarm:rejoin().

%% @doc See {@link swarm:register_name/2}.
-spec register_name(term(), pid()) -> yes | no.
register_name(Name, Pid) -> swarm:register_name(Name, Pid).

%% @doc See {@link swarm:register_name/4}.
-spec register_name(term(), module(), atom(), [term()]) -> {ok, pid()} | {error, swarm:start_error()}.
register_name(Name, M, F, A) -> swarm:register_name(Name, M, F, A).

%% @doc See {@link swarm:register_name/5}.
-spec register_name(term(), module(), atom(), [term()], timeout()) ->
          {ok, pid()} | {error, swarm:start_error()}.
register_name(Name, M, F, A, Timeout) -> swarm:register_name(Name, M, F, A, Timeout).

%% @doc See {@link swarm:whereis_or_register_name/4}.
-spec whereis_or_register_name(term(), module(), atom(), [term()]) ->
          {ok, pid()} | {error, swarm:start_error()}.
whereis_or_register_name(Name, M, F, A) -> swarm:whereis_or_register_name(Name, M, F, A).

%% @doc See {@link swarm:whereis_or_register_name/5}.
-spec whereis_or_register_name(term(), module(), atom(), [term()], timeout()) ->
          {ok, pid()} | {error, swarm:start_error()}.
whereis_or_register_name(Name, M, F, A, Timeout) ->
    swarm:whereis_or_register_name(Name, M, F, A, Timeout).

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

%% ---------------------------------------------------------------------------
%% Process groups.

%% @doc See {@link swarm:join/2}.
-spec join(term(), pid()) -> ok | {error, home_unreachable}.
join(Group, Pid) -> swarm:join(Group, Pid).

%% @doc See {@link swarm:leave/2}.
-spec leave(term(), pid()) -> ok | {error, home_unreachable}.
leave(Group, Pid) -> swarm:leave(Group, Pid).

%% @doc See {@link swarm:members/1}.
-spec members(term()) -> [pid()].
members(Group) -> swarm:members(Group).

%% @doc See {@link swarm:publish/2}.
-spec publish(term(), term()) -> ok.
publish(Group, Msg) -> swarm:publish(Group, Msg).

%% @doc See {@link swarm:multi_call/2}.
-spec multi_call(term(), term()) -> [term()].
multi_call(Group, Msg) -> swarm:multi_call(Group, Msg).

%% @doc See {@link swarm:multi_call/3}.
-spec multi_call(term(), term(), timeout()) -> [term()].
multi_call(Group, Msg, Timeout) -> swarm:multi_call(Group, Msg, Timeout).
