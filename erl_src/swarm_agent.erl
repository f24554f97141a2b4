%% @private
%% @doc The agent: swarm's one process per BEAM node, the owner of the
%% node's state on the BEAM side. It routes each event to the module of its
%% concern and ties them together when the link to its C node changes:
%%
%% - swarm_port: the C node as a port program (start, restart, watchdog);
%% - swarm_replica: the ETS replica, the monitors of local named processes,
%%   and the replies that follow the C node's changes;
%% - swarm_helpers: the processes spawned for register_name/4,5 starts,
%%   handoffs and conflicts;
%% - swarm_peers: the agents of other BEAM nodes.
%%
%% What it does itself: the hello to a (re)started C node, the
%% resynchronisation after its distribution link dropped (link_back/1),
%% and the change of transport when the node becomes distributed or stops
%% being so (retransport/1). It never runs user code and never waits on a
%% remote node. See README.md, Internals.
-module(swarm_agent).
-compile(warn_missing_spec).
-behaviour(gen_server).
-include("swarm_proto.hrl").
-include_lib("kernel/include/logger.hrl").

-export([start_link/1, cnode/0, stats/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% The agent's state: a map, so that `sys:get_state(swarm_agent)' reads
%% as one (swarm_port's and swarm_replica's parts stay theirs).
-type state() :: #{
    cnode := node(),
    port := swarm_port:t(),
    replica := swarm_replica:t(),
    peers := swarm_peers:peers(),
    config := swarm_config:config(),
    %% The distribution link to the running C node went down: when it is
    %% back, both sides resynchronise (see link_back/1).
    link_lost := boolean(),
    link_resyncs := non_neg_integer(),
    %% Out of the placement (swarm:handoff/0, a stop): told to every
    %% (re)started C node.
    leaving := none | ?SW_MSG_HANDOFF | ?SW_MSG_STOP,
    %% The ring's members as the C node last reported them.
    ring := [node()],
    %% The timer of the next look at node() (port transport only).
    dist_check := reference() | undefined,
    %% The timer of the next dial of a lost link (pipe transport only).
    redial := reference() | undefined
}.

%% How often a node without distribution looks whether it became
%% distributed (net_kernel:start/1 also sends a nodeup of the node itself,
%% which is seen at once).
-define(DIST_CHECK_MS, 500).
%% The pipe transport's redial of a lost link to the C node (redial/1).
-define(REDIAL_MS, 200).

%% @doc Starts the agent, registered as `swarm_agent' (by swarm_sup); it
%% returns once its C node is ready.
-spec start_link(swarm_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    gen_server:start_link({local, ?SW_AGENT}, ?MODULE, Config, []).

%% @doc The name of this node's C node.
-spec cnode() -> node().
cnode() ->
    swarm_cnode:cnode().

%% @doc Counters of the local C node, as a proplist ({error, timeout} if it
%% does not answer within 5 s).
-spec stats() -> [{atom(), non_neg_integer()}] | {error, timeout}.
stats() ->
    swarm_cnode:ask(?SW_MSG_STATS).

%% ---------------------------------------------------------------------------

%% @doc gen_server callback: starts the C node and waits until it is ready,
%% then greets the agents of the connected nodes. On a node without
%% distribution the C node runs with the port transport (see swarm_cnode).
-spec init(swarm_config:config()) -> {ok, state()} | {stop, term()}.
init(Config) ->
    process_flag(trap_exit, true),
    CNode = swarm_ring:cnode_of(node()),
    persistent_term:put({swarm, cnode}, CNode),
    ok = swarm_cnode:init_epoch(),
    %% Hidden nodes too: the C node is one, and a loss of its link must be
    %% seen (see link_back/1). Without distribution too: the subscription
    %% holds once the node becomes distributed.
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    _ = swarm_port:schedule_watchdog(),
    Port0 = swarm_port:new(CNode, swarm_config:cnode_settings(Config)),
    case swarm_port:open(Port0) of
        {ok, Port1} ->
            case swarm_port:await_ready(Port1, 10000) of
                {ok, Port2} ->
                    St = cnode_ready(new_state(CNode, Port2, Config)),
                    ok = announce(St),
                    {ok, schedule_dist_check(St)};
                {error, Why} ->
                    {stop, Why}
            end;
        {error, Why} ->
            {stop, Why}
    end.

-spec new_state(node(), swarm_port:t(), swarm_config:config()) -> state().
new_state(CNode, Port, Config) ->
    #{cnode => CNode, port => Port, replica => swarm_replica:new(), peers => #{}, config => Config,
      link_lost => false, link_resyncs => 0, leaving => none, ring => [], dist_check => undefined,
      redial => undefined}.

%% @doc gen_server callback: `peers', `restarts', `link_resyncs',
%% `cnode_ready' and `os_pid' (for tests and operators; the C node's OS
%% pid, `undefined' while none runs, e.g. just after it died).
-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(peers, _From, St) ->
    {reply, maps:keys(maps:get(peers, St)), St};
handle_call(restarts, _From, St) ->
    {reply, swarm_port:restarts(maps:get(port, St)), St};
handle_call(link_resyncs, _From, St) ->
    {reply, maps:get(link_resyncs, St), St};
handle_call(cnode_ready, _From, St) ->
    {reply, swarm_port:ready(maps:get(port, St)), St};
handle_call({leave, Mode, Caller, Ref}, _From, St) when Mode =:= ?SW_MSG_HANDOFF; Mode =:= ?SW_MSG_STOP ->
    %% A stop stays a stop (a handoff asked meanwhile does not undo it).
    Leaving = case maps:get(leaving, St) of ?SW_MSG_STOP -> ?SW_MSG_STOP; _ -> Mode end,
    ok = swarm_cnode:send(maps:get(cnode, St), {?SW_TAG, ?SW_MSG_LEAVING, Caller, Ref, Leaving}),
    {reply, ok, St#{leaving := Leaving}};
handle_call(rejoin, _From, #{leaving := ?SW_MSG_STOP} = St) ->
    {reply, {error, stopping}, St};
handle_call(rejoin, _From, St) ->
    ok = swarm_cnode:send(maps:get(cnode, St), {?SW_TAG, ?SW_MSG_REJOIN, self(), make_ref()}),
    {reply, ok, St#{leaving := none}};
handle_call(info, _From, St) ->
    OsPid = swarm_port:os_pid(maps:get(port, St)),
    {reply, #{node => node(), cnode => maps:get(cnode, St), cnode_os_pid => OsPid,
              cnode_ready => swarm_port:ready(maps:get(port, St)), cnode_restarts => swarm_port:restarts(maps:get(port, St)),
              peers => lists:sort(maps:keys(maps:get(peers, St))), ring => maps:get(ring, St),
              placement => case maps:get(leaving, St) of none -> in; Mode -> {out, Mode} end,
              transport => case swarm_cnode:port_transport(maps:get(cnode, St)) of true -> port; false -> dist end,
              pipe => pipe_to(maps:get(cnode, St)),
              link_resyncs => maps:get(link_resyncs, St)}, St};
handle_call(os_pid, _From, St) ->
    {reply, swarm_port:os_pid(maps:get(port, St)), St};
handle_call(_Req, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @doc gen_server callback: nothing is cast to the agent.
-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @doc gen_server callback: the C node's stream, the port's messages, the
%% watchdog, node and monitor events, and other agents' greetings.
-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info(Msg, #{cnode := CNode} = St) when (node() =:= nonode@nohost) =/= (CNode =:= ?SW_UNNAMED_CNODE) ->
    %% The node became distributed, or stopped being so, since the last
    %% message: the C node changes transport first.
    handle_info(Msg, retransport(St));
handle_info(redial, St) ->
    {noreply, redial(St#{redial := undefined})};
handle_info(dist_check, St) ->
    {noreply, schedule_dist_check(St#{dist_check := undefined})};
handle_info({?SW_TAG, ?SW_MSG_BATCH, _, _} = Msg, #{cnode := CNode} = St) ->
    %% The batches already waiting are applied with this one, in order.
    R = lists:foldl(fun({_, ?SW_MSG_BATCH, Ops, Replies}, R0) ->
                            swarm_replica:batch(Ops, Replies, CNode, R0)
                    end, maps:get(replica, St), swarm_cnode:drain(Msg, 64)),
    {noreply, St#{replica := R}};
handle_info({?SW_TAG, ?SW_MSG_STARTED, _, _, _} = Msg, St) ->
    %% Monitored before the C node sees the pids: a process that dies
    %% right after its register returns has its real exit reason (not
    %% noproc), which the `transient' restart policy depends on.
    Pids = swarm_helpers:started(maps:get(cnode, St), Msg),
    {noreply, St#{replica := swarm_replica:prewatch(Pids, maps:get(replica, St))}};
handle_info({?SW_TAG, ?SW_MSG_RING, Members}, St) when is_list(Members) ->
    ok = ring(Members),
    {noreply, St#{ring := lists:sort(Members)}};
handle_info({?SW_TAG, ?SW_MSG_SYNCED}, St) ->
    {noreply, St#{replica := swarm_replica:end_shadow(maps:get(replica, St))}};
handle_info({?SW_TAG, ?SW_MSG_LINKS}, St) ->
    %% A connection of our C node to a peer went or came: requests and
    %% replies in flight on it are lost, and requests that waited for a
    %% home may go through now.
    ok = swarm_cnode:bump_epoch(),
    {noreply, St};
handle_info({'DOWN', Mref, process, Pid, Why}, St0) when node(Pid) =:= node() ->
    case swarm_replica:pid_down(Pid, Mref, maps:get(replica, St0)) of
        {down, R} ->
            St = stopping(Why, St0),
            Down = case crashed(Why) of
                       true -> {?SW_TAG, ?SW_MSG_PID_DOWN, Pid, ?SW_MSG_CRASH};
                       false -> {?SW_TAG, ?SW_MSG_PID_DOWN, Pid}
                   end,
            ok = swarm_cnode:send(maps:get(cnode, St), Down),
            {noreply, St#{replica := R}};
        unknown ->
            {noreply, St0}
    end;
handle_info({'DOWN', Mref, process, _Pid, _Why}, St) ->
    {noreply, St#{peers := swarm_peers:down(Mref, maps:get(cnode, St), maps:get(peers, St))}};
handle_info({?SW_TAG, ?SW_MSG_AGENT_HELLO, Node, Agent, PeerCNode}, St) when is_pid(Agent) ->
    case swarm_config:ignore_node(Node, maps:get(config, St)) of
        true -> {noreply, St};
        false -> {noreply, St#{peers := swarm_peers:hello(Node, Agent, PeerCNode, maps:get(cnode, St), maps:get(peers, St))}}
    end;
handle_info({?SW_TAG, ?SW_MSG_AGENT_CNODE_UP, Node}, St) ->
    ok = swarm_peers:cnode_up(Node, maps:get(cnode, St), maps:get(peers, St)),
    {noreply, St};
handle_info({?SW_TAG, ?SW_MSG_AGENT_BYE, Node}, St) ->
    {noreply, St#{peers := swarm_peers:gone(Node, maps:get(cnode, St), maps:get(peers, St))}};
handle_info({nodeup, CNode, _}, #{cnode := CNode} = St) ->
    {noreply, link_back(St)};
handle_info({nodedown, CNode, _}, #{cnode := CNode} = St) ->
    %% The link to our C node dropped while the C node may live on (a tick
    %% timeout, a forced disconnect): messages in flight either way are
    %% lost. A dead C node is seen through its port instead.
    case swarm_port:running(maps:get(port, St)) of
        false -> {noreply, St};
        true ->
            ?LOG_WARNING(#{event => cnode_link_lost, cnode => CNode}, swarm_log:meta()),
            {noreply, redial(St#{link_lost := true})}
    end;
handle_info({Up, Node, _}, St) when (Up =:= nodeup orelse Up =:= nodedown), Node =:= node() ->
    %% The node itself, as net_kernel:start/1 reports it (the transport
    %% changed above).
    {noreply, St};
handle_info({nodeup, Node, Info}, St) ->
    case proplists:get_value(node_type, Info) of
        visible -> swarm_config:ignore_node(Node, maps:get(config, St)) orelse swarm_peers:announce(Node);
        _ -> ok
    end,
    {noreply, St};
handle_info({nodedown, Node, Info}, St) ->
    case proplists:get_value(node_type, Info) of
        visible -> {noreply, St#{peers := swarm_peers:gone(Node, maps:get(cnode, St), maps:get(peers, St))}};
        _ -> {noreply, St}
    end;
handle_info({Port, _} = Msg, St) when is_port(Port) ->
    port_event(Msg, St);
handle_info({'EXIT', Port, _} = Msg, St) when is_port(Port) ->
    port_event(Msg, St);
handle_info(watchdog, St) ->
    {noreply, St#{port := swarm_port:watchdog(maps:get(port, St))}};
handle_info({Ref, ?SW_MSG_PONG} = Msg, St) when is_reference(Ref) ->
    case swarm_port:pong(Ref, maps:get(port, St)) of
        {ok, P} -> {noreply, St#{port := P}};
        unexpected -> unexpected(Msg, St)
    end;
handle_info({Ref, Answer}, St) when is_reference(Ref), (Answer =:= ok orelse element(1, Answer) =:= ok) ->
    %% The C node's answer to a leave or rejoin the agent sent itself.
    {noreply, St};
handle_info(restart_cnode, St) ->
    {noreply, St#{port := swarm_port:restart(maps:get(port, St))}};
handle_info(Other, St) ->
    unexpected(Other, St).

%% @doc gen_server callback: says goodbye to the peers and closes the port.
-spec terminate(term(), state()) -> ok.
terminate(_Why, St) ->
    swarm_ring:clear(),
    ok = swarm_peers:bye(maps:get(peers, St)),
    swarm_port:close(maps:get(port, St)).

%% A supervisor's exit reasons (and a normal exit) are no crash: only a
%% crash restarts a `transient' process.
-spec crashed(term()) -> boolean().
crashed(normal) -> false;
crashed(shutdown) -> false;
crashed({shutdown, _}) -> false;
crashed(noproc) -> false;
crashed(_) -> true.

%% A local process stopped by a supervisor while the node is stopping
%% (init:stop/0: applications that use swarm stop before swarm does): the
%% node leaves the placement now, so that such processes are started again
%% on their owners among the other nodes as they go, rather than when the
%% node is gone (and nothing is placed here any more).
-spec stopping(term(), state()) -> state().
stopping(_Why, #{leaving := ?SW_MSG_STOP} = St) ->
    St;
stopping(Why, St) when Why =:= shutdown; Why =:= killed; element(1, Why) =:= shutdown ->
    case swarm_config:handoff_on_stop(maps:get(config, St)) andalso init:get_status() of
        {stopping, _} ->
            ?LOG_NOTICE(#{event => node_stopping, action => leave_placement}, swarm_log:meta()),
            ok = swarm_cnode:send(maps:get(cnode, St), {?SW_TAG, ?SW_MSG_LEAVING, self(), make_ref(), ?SW_MSG_STOP}),
            St#{leaving := ?SW_MSG_STOP};
        _ ->
            St
    end;
stopping(_Why, St) ->
    St.

-spec unexpected(term(), state()) -> {noreply, state()}.
unexpected(Msg, St) ->
    ?LOG_DEBUG(#{event => unexpected_message, message => Msg}, swarm_log:meta()),
    {noreply, St}.

%% ---------------------------------------------------------------------------

-spec port_event(term(), state()) -> {noreply, state()}.
port_event(Msg, St) ->
    case swarm_port:event(Msg, maps:get(port, St)) of
        {deliver, To, Delivered} when To =:= self() -> handle_info(Delivered, St);
        {deliver, To, Delivered} -> erlang:send(To, Delivered), {noreply, St};
        {ready, P} -> {noreply, cnode_ready(St#{port := P})};
        {exited, P} -> {noreply, St#{port := P, link_lost := false}};
        {ok, P} -> {noreply, St#{port := P}};
        unexpected -> unexpected(Msg, St)
    end.

%% The C node (re)started and is ready: it learns what this node has
%% (hello/1, while the replica is in its shadow), requests to the one that
%% died are lost, swarm_groups says hello too, and the peers' C nodes dial
%% it now.
-spec cnode_ready(state()) -> state().
cnode_ready(St0) ->
    St = dial_pipe(St0#{link_lost := false, replica := swarm_replica:begin_shadow(maps:get(replica, St0))}),
    ok = hello(St),
    ok = tell_leaving(St),
    ok = swarm_cnode:bump_epoch(),
    ok = swarm_groups:cnode_ready(maps:get(cnode, St)),
    ok = swarm_peers:tell_cnode_up(maps:get(peers, St)),
    St.

%% The node became distributed (net_kernel:start/1), or stopped being so
%% (net_kernel:stop/0): the C node of the old transport is closed and one
%% of the new is started, named after the node's name now. Local pids
%% taken before keep working (they follow the node's name), so the
%% replica's entries stay valid: once the new C node is ready, its hello
%% (cnode_ready/1) gives it this node's names, swarm_groups its
%% memberships, and the peers are greeted as at a start. Requests in
%% flight to the old C node are lost with it; their callers send them
%% again when the epoch changes at the new one's start (see
%% swarm:request/6, which reads the epoch before the C node's name: the
%% name is replaced here before the epoch is bumped). Names of other nodes leave the replica
%% with the resynchronisation after the hello (a node without
%% distribution has none).
-spec retransport(state()) -> state().
retransport(St0) ->
    CNode = swarm_ring:cnode_of(node()),
    ?LOG_NOTICE(#{event => cnode_transport_change, from => maps:get(cnode, St0), to => CNode}, swarm_log:meta()),
    persistent_term:put({swarm, cnode}, CNode),
    swarm_ring:clear(),
    Peers = case swarm_cnode:port_transport(CNode) of
                true -> ok = swarm_peers:bye(maps:get(peers, St0)),
                        maps:foreach(fun(_, {_, Mref, _}) -> erlang:demonitor(Mref, [flush]) end,
                                     maps:get(peers, St0)),
                        #{};
                false -> maps:get(peers, St0)
            end,
    St = St0#{cnode := CNode, port := swarm_port:retarget(maps:get(port, St0), CNode), peers := Peers,
                link_lost := false, ring := []},
    ok = swarm_cnode:bump_epoch(),
    ok = announce(St),
    schedule_dist_check(St).

%% Greets the agents of the connected nodes (none without distribution).
-spec announce(state()) -> ok.
announce(St) ->
    _ = [swarm_peers:announce(N) || N <- nodes(), not swarm_config:ignore_node(N, maps:get(config, St))],
    ok.

%% With the port transport, node() is looked at every ?DIST_CHECK_MS: a
%% node that becomes distributed without any message to the agent joins
%% then.
-spec schedule_dist_check(state()) -> state().
schedule_dist_check(#{cnode := ?SW_UNNAMED_CNODE, dist_check := undefined} = St) ->
    St#{dist_check := erlang:send_after(?DIST_CHECK_MS, self(), dist_check)};
schedule_dist_check(St) ->
    St.

%% The link to the running C node is back after it went down: what either
%% side sent meanwhile may be lost (a batch of adds and the replies behind
%% it, a pid_down, a peer_down). Resynchronise as after a C node restart,
%% except that the C node keeps its state, which is the truth: our hello
%% makes it stream every entry again (then `synced`, when the names it did
%% not stream are dropped here), monitors are rebuilt from that stream (a
%% process that died meanwhile is reported by its monitor at once), and
%% swarm_groups says hello too. Messages sent while the link was down were
%% either carried by the new connection or dropped.
-spec link_back(state()) -> state().
link_back(#{link_lost := false} = St) ->
    St;
link_back(#{link_lost := true} = St0) ->
    case swarm_port:ready(maps:get(port, St0)) of
        false ->
            St0#{link_lost := false};
        true ->
            ?LOG_NOTICE(#{event => cnode_link_back, action => resync}, swarm_log:meta()),
            St = St0#{link_lost := false, link_resyncs := maps:get(link_resyncs, St0) + 1,
                        replica := swarm_replica:begin_shadow(maps:get(replica, St0))},
            ok = hello(St),
            ok = tell_leaving(St),
            ok = swarm_cnode:bump_epoch(),
            ok = swarm_groups:cnode_ready(maps:get(cnode, St)),
            St
    end.

%% With the pipe transport nothing of ours goes to the C node by
%% distribution, so nothing would open the link its messages come back
%% by: it is opened here, when the C node is ready (it listens then, so
%% this is quick). If that fails, the link counts as lost: it is dialled
%% again (redial/1) and its nodeup resynchronises (link_back/1).
-spec dial_pipe(state()) -> state().
dial_pipe(#{cnode := CNode} = St) ->
    case pipe_to(CNode) of
        true ->
            case net_kernel:connect_node(CNode) of
                true -> St;
                _ -> redial(St#{link_lost := true})
            end;
        false ->
            St
    end.

%% While the link to a running C node of the pipe transport is lost, it is
%% dialled every ?REDIAL_MS from a helper process (a dial may take seconds;
%% the agent does not wait), until its nodeup; one timer at a time.
-spec redial(state()) -> state().
redial(#{cnode := CNode, link_lost := true, redial := undefined} = St) ->
    case pipe_to(CNode) andalso swarm_port:running(maps:get(port, St)) of
        true ->
            _ = spawn(fun() -> net_kernel:connect_node(CNode) end),
            St#{redial := erlang:send_after(?REDIAL_MS, self(), redial)};
        false ->
            St
    end;
redial(St) ->
    St.

%% Whether C node `CNode' takes this node's messages on its stdin while
%% its own come by distribution (the pipe transport; not the port
%% transport, which has no distribution).
-spec pipe_to(node()) -> boolean().
pipe_to(CNode) ->
    case persistent_term:get({swarm, pipe}, none) of
        {CNode, _} -> not swarm_cnode:port_transport(CNode);
        _ -> false
    end.

%% Tells the C node who we are, which local processes have names (our
%% replica's view) and which BEAM nodes run swarm.
-spec hello(state()) -> ok.
hello(St) ->
    swarm_cnode:send(maps:get(cnode, St), {?SW_TAG, ?SW_MSG_HELLO, self(), swarm_replica:local_entries(),
                                   swarm_peers:list(maps:get(peers, St))}).

%% A (re)started C node, or one whose link came back, learns that this
%% node is out of the placement.
-spec tell_leaving(state()) -> ok.
tell_leaving(#{leaving := none}) ->
    ok;
tell_leaving(#{leaving := Mode} = St) ->
    swarm_cnode:send(maps:get(cnode, St), {?SW_TAG, ?SW_MSG_LEAVING, self(), make_ref(), Mode}).

%% The C node's ring changed: mirror it for register_name callers
%% (swarm_ring), and connect to the members' C nodes, which they then call
%% directly. Only with direct_to_owner set to true (off by default: under
%% many concurrent callers, requests spread over every C node's connections
%% batch less, and throughput drops, while a lone caller's latency
%% improves).
-spec ring([node()]) -> ok.
ring(Members) ->
    Direct = application:get_env(swarm, direct_to_owner, false) =:= true,
    case Direct andalso swarm_ring:set(Members) of
        false ->
            swarm_ring:clear();
        changed ->
            Me = node(),
            _ = [spawn(fun() -> net_kernel:connect_node(swarm_ring:cnode_of(N)) end)
                 || N <- Members, N =/= Me, not lists:member(swarm_ring:cnode_of(N), nodes(hidden))],
            ok;
        same ->
            ok
    end.
