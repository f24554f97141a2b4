%% @private
%% @doc The worker of the demo: answers calls with its name and node.
-module(swarm_demo_worker).
-compile(warn_missing_spec).
-behaviour(gen_server).
-export([start_link/1, init/1, handle_call/3, handle_cast/2]).

%% @doc Starts a worker (for register_name/4).
-spec start_link(term()) -> {ok, pid()}.
start_link(Name) -> gen_server:start_link(?MODULE, Name, []).

-spec init(term()) -> {ok, term()}.
init(Name) -> {ok, Name}.

-spec handle_call(term(), gen_server:from(), term()) -> {reply, term(), term()}.
handle_call(Msg, _From, Name) -> {reply, {Name, node(), Msg}, Name}.

-spec handle_cast(term(), term()) -> {noreply, term()}.
handle_cast(_Msg, Name) -> {noreply, Name}.
