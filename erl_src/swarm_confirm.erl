%% @private
%% @doc Confirms, for many processes at once, that what they sent to
%% another node arrived: a process that sent messages to `Node' calls
%% barrier/2; it returns `ok' once a round trip on the connection to
%% `Node', started after the call came, was answered (the connection
%% carries messages in order, so whatever the caller sent before is there),
%% `noconnection' if that connection dropped meanwhile (what was sent may
%% be lost: send it again), or `timeout' if no answer came in time (the
%% connection is up but slow: nothing is known to be lost). One round trip serves every caller waiting
%% for that node when it starts: a partition's heal settles thousands of
%% conflicts, each of whose helpers (swarm_helpers:resolve_conflict/2)
%% confirms its cast, at the price of one remote call per burst rather than
%% one each.
%%
%% It is also where the helpers of other nodes send the states of the
%% conflicts' losers for winners on this node ({'$sw1', resolve_state,
%% ...}): it passes them to the C node at once. (Not through the agent: a
%% heal sends thousands at once, and a mailbox that long would slow every
%% selective receive of the agent.)
%%
%% What it is not: a delivery guarantee to the receiving process (a process
%% that died meanwhile drops what it got), nor a retry loop (the caller
%% decides what to send again).
-module(swarm_confirm).
-compile(warn_missing_spec).
-behaviour(gen_server).
-include("swarm_proto.hrl").

-export([start_link/0, barrier/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% Node => #{req := erpc:request_id() | none, inflight := [From], waiting := [From]}
-type state() :: #{node() => #{req := term(), inflight := [gen_server:from()],
                               waiting := [gen_server:from()]}}.

%% @doc Starts the confirmer, registered as `swarm_confirm'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Waits (at most `Timeout' ms) until everything this process sent
%% to `Node' before the call is known to have arrived there: `ok'; the
%% connection to `Node' dropped or is not up: `noconnection'; no answer in
%% time: `timeout'. Falls back to a round trip of its own when the
%% confirmer is not running.
-spec barrier(node(), timeout()) -> ok | noconnection | timeout.
barrier(Node, Timeout) ->
    try gen_server:call(?MODULE, {barrier, Node}, Timeout)
    catch
        exit:{noproc, _} -> own_round_trip(Node, Timeout);
        exit:{timeout, _} -> timeout
    end.

-spec own_round_trip(node(), timeout()) -> ok | noconnection | timeout.
own_round_trip(Node, Timeout) ->
    try erpc:call(Node, erlang, node, [], Timeout) of
        _ -> ok
    catch
        error:{erpc, noconnection} -> noconnection;
        _:_ -> timeout
    end.

-spec init([]) -> {ok, state()}.
init([]) ->
    {ok, #{}}.

-spec handle_call({barrier, node()}, gen_server:from(), state()) -> {noreply, state()}.
handle_call({barrier, Node}, From, St) ->
    B = maps:get(Node, St, #{req => none, inflight => [], waiting => []}),
    {noreply, St#{Node => start(Node, B#{waiting := [From | maps:get(waiting, B)]})}}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({?SW_TAG, ?SW_MSG_RESOLVE_STATE, _, _, _} = Msg, St) ->
    _ = try swarm_cnode:send(swarm_cnode:cnode(), Msg)
        catch error:badarg -> ok  % no C node (swarm stopping): dropped
        end,
    {noreply, St};
handle_info(Msg, St) ->
    {noreply, maps:fold(fun(Node, B, Acc) ->
                                case answer(Node, Msg, B) of
                                    #{req := none, waiting := []} -> Acc;
                                    B1 -> Acc#{Node => B1}
                                end
                        end, #{}, St)}.

%% Starts a round trip for the waiting callers unless one is in flight.
start(_Node, #{req := Req} = B) when Req =/= none ->
    B;
start(_Node, #{waiting := []} = B) ->
    B;
start(Node, #{waiting := Waiting} = B) ->
    B#{req := erpc:send_request(Node, erlang, node, []), inflight := Waiting, waiting := []}.

%% Msg may answer Node's round trip: tell its callers, then start the next.
answer(_Node, _Msg, #{req := none} = B) ->
    B;
answer(Node, Msg, #{req := Req, inflight := Inflight} = B) ->
    Result = try erpc:check_response(Msg, Req) of
                 no_response -> pending;
                 {response, _} -> ok
             catch
                 error:{erpc, noconnection} -> noconnection;
                 _:_ -> timeout
             end,
    case Result of
        pending ->
            B;
        _ ->
            [gen_server:reply(From, Result) || From <- Inflight],
            start(Node, B#{req := none, inflight := []})
    end.
