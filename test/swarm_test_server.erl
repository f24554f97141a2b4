%% @doc A gen_server used by the suites: answers ping, echoes, counts casts,
%% and can be told to stop or to crash.
-module(swarm_test_server).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-spec init(term()) -> {ok, map()}.
init(Arg) ->
    {ok, #{arg => Arg, casts => []}}.

-spec handle_call(term(), gen_server:from(), map()) -> {reply, term(), map()} | {stop, normal, ok, map()}.
handle_call(ping, _From, S) -> {reply, {pong, node(), self()}, S};
handle_call(casts, _From, S = #{casts := C}) -> {reply, lists:reverse(C), S};
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call(stop, _From, S) -> {stop, normal, ok, S};
handle_call(crash, _From, _S) -> error(crash_requested).

-spec handle_cast(term(), map()) -> {noreply, map()}.
handle_cast(M, S = #{casts := C}) -> {noreply, S#{casts := [M | C]}}.

-spec handle_info(term(), map()) -> {noreply, map()}.
handle_info(_M, S) -> {noreply, S}.
