%% @private
%% @doc The worker of the demo: answers calls with its name, its node and
%% how many calls it has answered; hands that count over when swarm moves
%% it ({swarm, begin_handoff} -> {resume, Count}), and stops when told
%% ({swarm, die}).
-module(swarm_demo_worker).
-compile(warn_missing_spec).
-behaviour(gen_server).
-export([start_link/1, init/1, handle_call/3, handle_cast/2, handle_info/2]).

-type state() :: #{name := term(), calls := non_neg_integer()}.

%% @doc Starts a worker (for register_name/4).
-spec start_link(term()) -> {ok, pid()}.
start_link(Name) -> gen_server:start_link(?MODULE, Name, []).

-spec init(term()) -> {ok, state()}.
init(Name) -> {ok, #{name => Name, calls => 0}}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call({swarm, begin_handoff}, _From, #{calls := N} = S) ->
    {reply, {resume, N}, S};
handle_call(Msg, _From, #{name := Name, calls := N} = S) ->
    {reply, {Name, node(), Msg, {calls, N + 1}}, S#{calls := N + 1}}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({swarm, end_handoff, N}, S) when is_integer(N) -> {noreply, S#{calls := N}};
handle_cast(_Msg, S) -> {noreply, S}.

-spec handle_info(term(), state()) -> {noreply, state()} | {stop, shutdown, state()}.
handle_info({swarm, die}, S) -> {stop, shutdown, S};
handle_info(_Msg, S) -> {noreply, S}.
