%% @private
%% @doc SIGTERM hands this node's register_name/4,5 processes off before
%% the VM stops: a gen_event handler of `erl_signal_server' that takes the
%% place of OTP's default one (erl_signal_handler) while swarm runs. On
%% SIGTERM it has swarm leave the placement, waits for the moves to settle
%% (bounded, see swarm:leave_placement/1), then calls init:stop/0, as the
%% default handler does at once. SIGUSR1 and SIGQUIT keep their default
%% meaning (halt, with a crash dump for SIGUSR1).
%%
%% What it is not: a way to delay the stop beyond `handoff_timeout' plus
%% 5 s, or anything done when the default handler was replaced by someone
%% else (then swarm leaves SIGTERM alone).
-module(swarm_signal).
-compile(warn_missing_spec).
-behaviour(gen_event).
-export([install/0, uninstall/0]).
-export([init/1, handle_event/2, handle_call/2]).

%% @doc Takes the place of OTP's default signal handler, if it is there.
-spec install() -> boolean().
install() ->
    Installed = gen_event:which_handlers(erl_signal_server),
    lists:member(erl_signal_handler, Installed) andalso
        gen_event:swap_handler(erl_signal_server, {erl_signal_handler, swap}, {?MODULE, []}) =:= ok.

%% @doc Gives the place back to OTP's default handler, if ours is there.
-spec uninstall() -> ok.
uninstall() ->
    case catch gen_event:which_handlers(erl_signal_server) of
        L when is_list(L) ->
            lists:member(?MODULE, L) andalso
                gen_event:swap_handler(erl_signal_server, {?MODULE, swap}, {erl_signal_handler, []}),
            ok;
        _ ->
            ok
    end.

%% @doc gen_event callback.
-spec init(term()) -> {ok, stopping | idle}.
init(_) ->
    {ok, idle}.

%% @doc gen_event callback: SIGTERM once starts the handoff and the stop;
%% again, the stop is already under way.
-spec handle_event(term(), stopping | idle) -> {ok, stopping | idle}.
handle_event(sigterm, idle) ->
    _ = spawn(fun() ->
                  _ = catch swarm:leave_placement(stop),
                  init:stop()
              end),
    {ok, stopping};
handle_event(sigusr1, S) ->
    erlang:halt("Received SIGUSR1"),
    {ok, S};
handle_event(sigquit, S) ->
    erlang:halt(),
    {ok, S};
handle_event(_Signal, S) ->
    {ok, S}.

%% @doc gen_event callback: no calls.
-spec handle_call(term(), stopping | idle) -> {ok, {error, unknown_call}, stopping | idle}.
handle_call(_Req, S) ->
    {ok, {error, unknown_call}, S}.
