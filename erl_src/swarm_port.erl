%% @private
%% @doc The C node as a port program, for the agent that owns it: opening
%% it (priv/swarm_node) with its configuration, reading its ready line and
%% then its log records (handed to logger by swarm_log),
%% restarting it with a doubling backoff when it dies alone, and the
%% watchdog that kills it when it hangs.
%%
%% What it is not: a process. The agent holds the state (`t()') and hands
%% it the port's messages, its timers' messages and the watchdog's pongs;
%% what a ready or a dead C node means for the replica and the peers is
%% the agent's business.
-module(swarm_port).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").
-include_lib("kernel/include/logger.hrl").

-export([new/2, open/1, await_ready/2, event/2, restart/1, watchdog/1, schedule_watchdog/0,
         pong/2, close/1, retarget/2]).
-export([cnode/1]).
-export([running/1, ready/1, restarts/1, os_pid/1]).

-record(cport, {
    cnode :: node(),
    settings :: [{atom(), non_neg_integer()}],
    port :: port() | undefined,
    %% The cookie the running C node was given.
    cookie :: atom(),
    ready = false :: boolean(),
    backoff :: pos_integer(),
    restart_timer :: reference() | undefined,
    restarts = 0 :: non_neg_integer(),
    %% The watchdog: the ping in flight and how many went unanswered.
    ping :: reference() | undefined,
    missed = 0 :: non_neg_integer()
}).

-opaque t() :: #cport{}.
-export_type([t/0]).

%% @doc The state for C node `CNode', not started; `Settings' (integers:
%% `quorum', `restart', `restart_intensity', `restart_period_ms') are
%% passed on in its configuration (see swarm_config).
-spec new(node(), [{atom(), non_neg_integer()}]) -> t().
new(CNode, Settings) ->
    #cport{cnode = CNode, settings = Settings, backoff = backoff0()}.

%% @doc Starts the C node and sends it its configuration; it is ready
%% when its ready line comes (event/2, await_ready/2).
-spec open(t()) -> {ok, t()} | {error, term()}.
open(#cport{cnode = CNode} = P) ->
    %% cnode_executable / cnode_env: for running the C node under a
    %% sanitizer or a profiler (the test suites do); not needed otherwise.
    Exe = application:get_env(swarm, cnode_executable,
                              filename:join(code:priv_dir(swarm), "swarm_node")),
    case filelib:is_regular(Exe) of
        false ->
            {error, {cnode_missing, Exe}};
        true ->
            [Alive, Host] = string:split(atom_to_list(CNode), "@"),
            Env = [{"SWARM_LOG", atom_to_list(swarm_log:cnode_level())}
                   | application:get_env(swarm, cnode_env, [])],
            Port = open_port({spawn_executable, Exe},
                             [{packet, 4}, binary, exit_status, use_stdio, hide, {env, Env}]),
            %% The port transport for a node without distribution: the C
            %% node then takes every message on stdin, after this one, and
            %% sends its own on stdout. The pipe transport (`cnode_pipe'):
            %% this node's messages on stdin, the rest by distribution. By
            %% default in the exact mode only: an optimistic register is a
            %% message without an answer, which distribution coalesces with
            %% the others where a port write is a write each (8 callers:
            %% 143k/s by distribution, 80k/s on the pipe).
            Optimistic = lists:member({optimistic, 1}, P#cport.settings),
            Transport = case swarm_cnode:port_transport(CNode) of
                            true -> port;
                            false ->
                                case application:get_env(swarm, cnode_pipe, not Optimistic) of
                                    false -> dist;
                                    _ -> pipe
                                end
                        end,
            Cookie = erlang:get_cookie(),
            Config = [{beam_node, node()},
                      {alive, list_to_binary(Alive)},
                      {host, list_to_binary(Host)},
                      {cookie, atom_to_binary(Cookie, utf8)},
                      {tick_ms, tick_ms()},
                      {otp_release, list_to_integer(erlang:system_info(otp_release))},
                      {transport, Transport}
                      | P#cport.settings],
            true = port_command(Port, term_to_binary({?SW_TAG, ?SW_MSG_CONFIG, Config})),
            ok = swarm_cnode:set_pipe(case Transport of dist -> none; _ -> {CNode, Port} end),
            {ok, P#cport{port = Port, cookie = Cookie, ready = false}}
    end.

%% The C node ticks its connections every quarter of this node's
%% net_ticktime and declares a silent peer down after a whole one, as the
%% BEAM does: a BEAM with a low net_ticktime does not drop its C node for
%% silence, and a cut link between C nodes is seen as soon as between their
%% BEAM nodes (60 s by default, 15 s ticks).
-spec tick_ms() -> pos_integer().
tick_ms() ->
    Seconds = case net_kernel:get_net_ticktime() of
                  {ongoing_change_to, T} -> T;
                  T when is_integer(T) -> T;
                  ignored -> 60
              end,
    max(1, Seconds * 1000 div 4).

%% @doc Waits up to `Timeout' ms for the ready line of the C node just
%% opened (the agent's init only); closes the port on a timeout.
-spec await_ready(t(), timeout()) -> {ok, t()} | {error, term()}.
await_ready(#cport{port = Port} = P, Timeout) ->
    receive
        {Port, {data, Bin}} ->
            case data(Bin, P) of
                {ready, P1} -> {ok, P1};
                {ok, _} -> {error, cnode_start_failed}
            end;
        {Port, {exit_status, Status}} ->
            {error, {cnode_exited, Status}}
    after Timeout ->
        catch port_close(Port),
        {error, cnode_start_timeout}
    end.

%% @doc A message from a port or about one (`{Port, _}', `{'EXIT', Port,
%% _}'): `{ready, P}' when the C node reports ready, `{exited, P}' when it
%% died (its restart is scheduled), `{deliver, Pid, Msg}' when the C node
%% of the port transport sends `Msg' to local process `Pid' (what
%% distribution would carry), `{ok, P}' for anything else from the current
%% port, `unexpected' for a port that is not the current one.
-spec event(term(), t()) -> {ready | exited | ok, t()} | {deliver, pid(), term()} | unexpected.
event({Port, {data, Bin}}, #cport{port = Port} = P) ->
    %% Decoded as a message from the C node over distribution would be.
    case catch binary_to_term(Bin) of
        {?SW_TAG, ?SW_MSG_DELIVER, To, Msg} when is_pid(To) -> {deliver, To, Msg};
        _ -> data(Bin, P)
    end;
event({Port, {exit_status, Status}}, #cport{port = Port} = P) ->
    ?LOG_WARNING(#{event => cnode_exited, status => Status, restart_in_ms => P#cport.backoff},
                 swarm_log:meta()),
    {exited, schedule_restart(P#cport{port = undefined, ready = false})};
event({'EXIT', Port, Reason}, #cport{port = Port} = P) ->
    %% Closed without its exit status: a write found the C node gone
    %% (`epipe': processes write requests on the port), so no exit_status
    %% follows. A dead C node all the same; it exits on its own when its
    %% stdin closes, had it survived.
    ?LOG_WARNING(#{event => cnode_exited, reason => Reason, restart_in_ms => P#cport.backoff},
                 swarm_log:meta()),
    {exited, schedule_restart(P#cport{port = undefined, ready = false})};
event(_Msg, _P) ->
    unexpected.

-spec data(binary(), t()) -> {ready | ok, t()}.
data(Bin, #cport{cnode = CNode} = P) ->
    case catch binary_to_term(Bin, [safe]) of
        {?SW_TAG, ?SW_MSG_READY, CNode} ->
            {ready, P#cport{ready = true, backoff = backoff0()}};
        {?SW_TAG, ?SW_MSG_LOG, Level, Event, Text} when is_binary(Event), is_binary(Text) ->
            ok = swarm_log:cnode_record(Level, Event, Text, CNode),
            {ok, P};
        {?SW_TAG, ?SW_MSG_ERROR, Why} ->
            ?LOG_ERROR(#{event => cnode_error, reason => Why}, swarm_log:meta()),
            {ok, P};
        Other ->
            ?LOG_WARNING(#{event => cnode_unexpected, message => Other}, swarm_log:meta()),
            {ok, P}
    end.

%% @doc The backoff timer fired: starts the C node again (or schedules the
%% next try if it cannot be started).
-spec restart(t()) -> t().
restart(P0) ->
    P = P0#cport{restart_timer = undefined},
    case open(P) of
        {ok, P1} -> P1;
        {error, Why} ->
            ?LOG_ERROR(#{event => cnode_restart_failed, reason => Why}, swarm_log:meta()),
            schedule_restart(P)
    end.

-spec schedule_restart(t()) -> t().
schedule_restart(#cport{restart_timer = undefined, backoff = B} = P) ->
    T = erlang:send_after(B, self(), restart_cnode),
    P#cport{restart_timer = T, backoff = min(B * 2, 5000), restarts = P#cport.restarts + 1};
schedule_restart(P) ->
    P.

-spec backoff0() -> pos_integer().
backoff0() ->
    application:get_env(swarm, restart_backoff, 100).

%% The watchdog: every `cnode_watchdog_ms' (default 1000) the agent pings
%% its C node (on its stdin, or by distribution without `cnode_pipe'; the
%% pong comes by distribution); a C node that leaves
%% `cnode_watchdog_misses' (default 5) pings in a row unanswered is hung
%% (stopped, stuck in a loop): it is killed, and restarted as if it had
%% died. A C node that is only starting, or restarting, is not asked.

%% @doc Sends the caller `watchdog' after `cnode_watchdog_ms'.
-spec schedule_watchdog() -> reference().
schedule_watchdog() ->
    erlang:send_after(application:get_env(swarm, cnode_watchdog_ms, 1000), self(), watchdog).

%% @doc The watchdog's tick (the caller got `watchdog'): schedules the
%% next one, then pings the C node, or kills it if too many pings went
%% unanswered. A distributed C node whose BEAM node's cookie changed since
%% its start (erlang:set_cookie/1, as often right after net_kernel:start/2
%% or Node.start/2, which may also be what made it start) could no longer
%% talk to its BEAM node nor its peers: it is started again with the new
%% one (its ready line comes as after a restart).
-spec watchdog(t()) -> t().
watchdog(#cport{cnode = CNode, port = Port, cookie = Cookie} = P) ->
    schedule_watchdog(),
    case Port =/= undefined andalso not swarm_cnode:port_transport(CNode) andalso
        erlang:get_cookie() =/= Cookie of
        true ->
            ?LOG_NOTICE(#{event => cnode_cookie_changed, action => restart}, swarm_log:meta()),
            retarget(P, CNode);
        false ->
            tick(P)
    end.

-spec tick(t()) -> t().
tick(#cport{port = undefined} = P) ->
    P#cport{ping = undefined, missed = 0};
tick(#cport{ready = false} = P) ->
    P#cport{ping = undefined, missed = 0};
tick(#cport{ping = Ping, missed = Missed} = P) ->
    Limit = application:get_env(swarm, cnode_watchdog_misses, 5),
    Missed1 = case Ping of undefined -> 0; _ -> Missed + 1 end,
    case Missed1 >= Limit of
        true ->
            OsPid = os_pid(P),
            ?LOG_ERROR(#{event => cnode_hung, os_pid => OsPid, unanswered => Missed1}, swarm_log:meta()),
            is_integer(OsPid) andalso
                spawn(fun() -> os:cmd("kill -KILL " ++ integer_to_list(OsPid)) end),
            %% Its exit_status comes through the port: the restart follows.
            P#cport{ping = undefined, missed = 0};
        false ->
            Ref = make_ref(),
            swarm_cnode:send(P#cport.cnode, {?SW_TAG, ?SW_MSG_PING, self(), Ref}),
            P#cport{ping = Ref, missed = Missed1}
    end.

%% @doc The C node answered ping `Ref': `{ok, P}' if it is the one in
%% flight, else `unexpected'.
-spec pong(reference(), t()) -> {ok, t()} | unexpected.
pong(Ref, #cport{ping = Ref} = P) ->
    {ok, P#cport{ping = undefined, missed = 0}};
pong(_Ref, _P) ->
    unexpected.

%% @doc Closes the port if it is open (the agent terminates).
-spec close(t()) -> ok.
close(#cport{port = undefined}) ->
    ok;
close(#cport{port = Port}) ->
    catch port_close(Port),
    ok.

%% @doc Closes the C node and starts one named `CNode' instead (the node
%% became distributed, or stopped being so); if it cannot start, its start
%% is tried again as after a death. Its restarts are counted on.
-spec retarget(t(), node()) -> t().
retarget(#cport{restart_timer = T} = P0, CNode) ->
    ok = close(P0),
    T =:= undefined orelse erlang:cancel_timer(T),
    P = P0#cport{cnode = CNode, port = undefined, ready = false, restart_timer = undefined,
                 ping = undefined, missed = 0, backoff = backoff0()},
    case open(P) of
        {ok, P1} -> P1;
        {error, Why} ->
            ?LOG_ERROR(#{event => cnode_restart_failed, reason => Why}, swarm_log:meta()),
            schedule_restart(P)
    end.

%% @doc The name of the C node (running or to be started).
-spec cnode(t()) -> node().
cnode(#cport{cnode = CNode}) ->
    CNode.

%% @doc Whether the port program runs (it may not be ready yet).
-spec running(t()) -> boolean().
running(#cport{port = Port}) ->
    Port =/= undefined.

%% @doc Whether the C node reported ready since it was last started.
-spec ready(t()) -> boolean().
ready(#cport{ready = Ready}) ->
    Ready.

%% @doc How many times the C node was restarted (or a restart scheduled).
-spec restarts(t()) -> non_neg_integer().
restarts(#cport{restarts = N}) ->
    N.

%% @doc The OS pid of the running C node, `undefined' when none runs (also
%% when its port has just closed and the exit is not handled yet: a C node
%% killed a moment ago; erlang:port_info/2 then gives `undefined').
-spec os_pid(t()) -> non_neg_integer() | undefined.
os_pid(#cport{port = undefined}) ->
    undefined;
os_pid(#cport{port = Port}) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} -> OsPid;
        undefined -> undefined
    end.
