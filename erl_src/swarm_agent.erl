%% @private
%% @doc The agent: swarm's one process per BEAM node.
%%
%% It starts the node's C node as a port program (and restarts it if it dies
%% alone), applies the C node's change stream to the ETS replica and delivers
%% the replies that must follow those changes, monitors local processes that
%% have names and reports their deaths, and finds the agents of other BEAM
%% nodes (reporting them up and down to the C node). It never runs user code
%% and never waits on a remote node. See README.md, Internals.
-module(swarm_agent).
-compile(warn_missing_spec).
-behaviour(gen_server).
-include("swarm_proto.hrl").
-include_lib("kernel/include/logger.hrl").

-export([start_link/1, cnode/0, stats/0, reply/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(st, {
    port :: port() | undefined,
    cnode :: node(),
    cnode_ready = false :: boolean(),
    %% local pid -> {MonitorRef, NumberOfNames}
    mons = #{} :: #{pid() => {reference(), non_neg_integer()}},
    %% BEAM node -> {AgentPid, MonitorRef, CNode}
    peers = #{} :: #{node() => {pid(), reference(), node()}},
    %% During the first sync after a C node restart: names seen since.
    shadow :: ets:tid() | undefined,
    %% Replies that came during the shadow, newest first: delivered once
    %% the replica is whole (end_shadow/1), so that a caller reads its
    %% write even when the del that preceded its reply was lost with a link
    %% and the stale name is only dropped at `synced'.
    held = [] :: [{pid(), term(), term()}],
    backoff :: pos_integer(),
    config :: swarm_config:config(),
    restart_timer :: reference() | undefined,
    restarts = 0 :: non_neg_integer(),
    %% The watchdog: the ping in flight and how many went unanswered.
    ping :: reference() | undefined,
    missed = 0 :: non_neg_integer(),
    %% The distribution link to the running C node went down: when it is
    %% back, both sides resynchronise (see link_back/1).
    link_lost = false :: boolean(),
    link_resyncs = 0 :: non_neg_integer()
}).

-type state() :: #st{}.

-spec start_link(swarm_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    gen_server:start_link({local, ?SW_AGENT}, ?MODULE, Config, []).

%% @doc The name of this node's C node.
-spec cnode() -> node().
cnode() ->
    persistent_term:get({swarm, cnode}).

%% @doc Counters of the local C node, as a proplist ({error, timeout} if it
%% does not answer within 5 s).
%% @doc Delivers a request's reply: to the caller's alias when `Ref' is
%% `{Alias, Copy}' (swarm:request/6: the alias is dropped once the caller
%% has its answer, so that the reply to another copy of a request sent
%% again never reaches its mailbox), else to the caller's pid.
-spec reply(pid(), term(), term()) -> ok.
reply(_Caller, {Alias, _} = Ref, Result) when is_reference(Alias) ->
    erlang:send(Alias, {Ref, Result}),
    ok;
reply(Caller, Ref, Result) ->
    Caller ! {Ref, Result},
    ok.

-spec stats() -> [{atom(), non_neg_integer()}] | {error, timeout}.
stats() ->
    Ref = make_ref(),
    erlang:send({?SW_SERVER, cnode()}, {?SW_TAG, stats, self(), Ref}),
    receive
        {Ref, Stats} -> Stats
    after 5000 -> {error, timeout}
    end.

%% ---------------------------------------------------------------------------

-spec init(swarm_config:config()) -> {ok, state()} | {stop, term()}.
init(Config) ->
    case node() of
        nonode@nohost ->
            {stop, {not_distributed, "swarm needs a distributed node (-name or -sname)"}};
        Node ->
            process_flag(trap_exit, true),
            CNode = swarm_ring:cnode_of(Node),
            persistent_term:put({swarm, cnode}, CNode),
            %% The link epoch (see swarm:request/6): made once per VM, so
            %% that an agent restart does not touch persistent_term again.
            persistent_term:get({swarm, epoch}, undefined) =:= undefined andalso
                persistent_term:put({swarm, epoch}, atomics:new(1, [{signed, false}])),
            %% Hidden nodes too: the C node is one, and a loss of its link
            %% must be seen (see link_back/1).
            ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
            schedule_watchdog(),
            St0 = #st{cnode = CNode, backoff = backoff0(), config = Config},
            case open_cnode(St0) of
                {ok, St1} ->
                    case await_ready(St1, 10000) of
                        {ok, St2} ->
                            [announce(N) || N <- nodes(), not swarm_config:ignore_node(N, Config)],
                            {ok, St2};
                        {error, Why} ->
                            {stop, Why}
                    end;
                {error, Why} ->
                    {stop, Why}
            end
    end.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(peers, _From, St) ->
    {reply, maps:keys(St#st.peers), St};
handle_call(restarts, _From, St) ->
    {reply, St#st.restarts, St};
handle_call(link_resyncs, _From, St) ->
    {reply, St#st.link_resyncs, St};
handle_call(cnode_ready, _From, St) ->
    {reply, St#st.cnode_ready, St};
handle_call(os_pid, _From, #st{port = Port} = St) when Port =/= undefined ->
    {reply, proplists:get_value(os_pid, erlang:port_info(Port)), St};
handle_call(_Req, _From, St) ->
    {reply, {error, unknown_call}, St}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(_Msg, St) ->
    {noreply, St}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({?SW_TAG, batch, Ops, Replies}, St0) ->
    {noreply, batches(Ops, Replies, St0, 64)};
handle_info({?SW_TAG, started, Id, Pid, Res}, St) ->
    started([{Id, Pid, Res}], 256, St),
    {noreply, St};
handle_info({?SW_TAG, ring, Members}, St) when is_list(Members) ->
    %% The C node's ring changed: mirror it for register_name callers
    %% (swarm_ring), and connect to the members' C nodes, which they then
    %% call directly. Only with direct_to_owner set to true (off by
    %% default: under many concurrent callers, requests spread over every
    %% C node's connections batch less, and throughput drops ~10%, while a
    %% lone caller's latency improves ~15%).
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
    end,
    {noreply, St};
handle_info({?SW_TAG, synced}, St) ->
    {noreply, end_shadow(St)};
handle_info({?SW_TAG, links}, St) ->
    %% A connection of our C node to a peer went or came: requests and
    %% replies in flight on it are lost, and requests that waited for a
    %% home may go through now.
    bump_epoch(),
    {noreply, St};
handle_info({'DOWN', Mref, process, Pid, _Why}, St) when node(Pid) =:= node() ->
    case maps:find(Pid, St#st.mons) of
        {ok, {Mref, _}} ->
            to_cnode(St, {?SW_TAG, pid_down, Pid}),
            {noreply, St#st{mons = maps:remove(Pid, St#st.mons)}};
        _ ->
            {noreply, St}
    end;
handle_info({'DOWN', Mref, process, _Pid, _Why}, St) ->
    Peers = maps:filter(fun(_, {_, M, _}) -> M =/= Mref end, St#st.peers),
    Gone = maps:keys(St#st.peers) -- maps:keys(Peers),
    [to_cnode(St, {?SW_TAG, peer_down, N}) || N <- Gone],
    {noreply, St#st{peers = Peers}};
handle_info({?SW_TAG, agent_hello, Node, Agent, CNode}, St) when is_pid(Agent) ->
    case swarm_config:ignore_node(Node, St#st.config) of
        true -> {noreply, St};
        false -> {noreply, peer_hello(Node, Agent, CNode, St)}
    end;
handle_info({?SW_TAG, agent_cnode_up, Node}, St) ->
    case maps:find(Node, St#st.peers) of
        {ok, {_, _, CNode}} -> to_cnode(St, {?SW_TAG, peer_up, Node, CNode});
        error -> ok
    end,
    {noreply, St};
handle_info({?SW_TAG, agent_bye, Node}, St) ->
    {noreply, peer_gone(Node, St)};
handle_info({nodeup, CNode, _}, #st{cnode = CNode} = St) ->
    {noreply, link_back(St)};
handle_info({nodedown, CNode, _}, #st{cnode = CNode, port = Port} = St) ->
    %% The link to our C node dropped while the C node may live on (a tick
    %% timeout, a forced disconnect): messages in flight either way are
    %% lost. A dead C node is seen through its port instead.
    case Port of
        undefined -> {noreply, St};
        _ ->
            ?LOG_WARNING(#{event => cnode_link_lost, cnode => CNode}),
            {noreply, St#st{link_lost = true}}
    end;
handle_info({nodeup, Node, Info}, St) ->
    case proplists:get_value(node_type, Info) of
        visible -> swarm_config:ignore_node(Node, St#st.config) orelse announce(Node);
        _ -> ok
    end,
    {noreply, St};
handle_info({nodedown, Node, Info}, St) ->
    case proplists:get_value(node_type, Info) of
        visible -> {noreply, peer_gone(Node, St)};
        _ -> {noreply, St}
    end;
handle_info({Port, {exit_status, Status}}, #st{port = Port} = St) ->
    ?LOG_WARNING(#{event => cnode_exited, status => Status, restart_in_ms => St#st.backoff}),
    {noreply, schedule_restart(St#st{port = undefined, cnode_ready = false, link_lost = false})};
handle_info({'EXIT', Port, _}, #st{port = Port} = St) ->
    {noreply, St};
handle_info({Port, {data, Bin}}, #st{port = Port} = St) ->
    {noreply, port_data(Bin, St)};
handle_info(watchdog, St) ->
    schedule_watchdog(),
    {noreply, watchdog(St)};
handle_info({Ref, pong}, #st{ping = Ref} = St) ->
    {noreply, St#st{ping = undefined, missed = 0}};
handle_info(restart_cnode, St0) ->
    St = St0#st{restart_timer = undefined},
    case open_cnode(St) of
        {ok, St1} -> {noreply, St1};
        {error, Why} ->
            ?LOG_ERROR(#{event => cnode_restart_failed, reason => Why}),
            {noreply, schedule_restart(St)}
    end;
handle_info(Other, St) ->
    ?LOG_DEBUG(#{event => unexpected_message, message => Other}),
    {noreply, St}.

-spec terminate(term(), state()) -> ok.
terminate(_Why, St) ->
    swarm_ring:clear(),
    [erlang:send(A, {?SW_TAG, agent_bye, node()}, [noconnect]) || {A, _, _} <- maps:values(St#st.peers)],
    case St#st.port of
        undefined -> ok;
        Port -> catch port_close(Port), ok
    end,
    ok.

%% ---------------------------------------------------------------------------
%% The C node as a port program.

-spec open_cnode(state()) -> {ok, state()} | {error, term()}.
open_cnode(St) ->
    %% cnode_executable / cnode_env: for running the C node under a
    %% sanitizer or a profiler (the test suites do); not needed otherwise.
    Exe = application:get_env(swarm, cnode_executable,
                              filename:join(code:priv_dir(swarm), "swarm_node")),
    case filelib:is_regular(Exe) of
        false ->
            {error, {cnode_missing, Exe}};
        true ->
            [Alive, Host] = string:split(atom_to_list(St#st.cnode), "@"),
            Env = [{"SWARM_LOG", atom_to_list(application:get_env(swarm, cnode_log, info))}
                   | application:get_env(swarm, cnode_env, [])],
            Port = open_port({spawn_executable, Exe},
                             [{packet, 4}, binary, exit_status, use_stdio, hide, {env, Env}]),
            Config = [{beam_node, node()},
                      {alive, list_to_binary(Alive)},
                      {host, list_to_binary(Host)},
                      {cookie, atom_to_binary(erlang:get_cookie(), utf8)},
                      {quorum, swarm_config:quorum(St#st.config)},
                      {otp_release, list_to_integer(erlang:system_info(otp_release))}],
            true = port_command(Port, term_to_binary({?SW_TAG, config, Config})),
            {ok, St#st{port = Port, cnode_ready = false}}
    end.

%% Waits (in init only) for the C node's ready line.
-spec await_ready(state(), timeout()) -> {ok, state()} | {error, term()}.
await_ready(#st{port = Port} = St, Timeout) ->
    receive
        {Port, {data, Bin}} ->
            St1 = port_data(Bin, St),
            case St1#st.cnode_ready of
                true -> {ok, St1};
                false -> {error, cnode_start_failed}
            end;
        {Port, {exit_status, Status}} ->
            {error, {cnode_exited, Status}}
    after Timeout ->
        catch port_close(Port),
        {error, cnode_start_timeout}
    end.

-spec port_data(binary(), state()) -> state().
port_data(Bin, St) ->
    case catch binary_to_term(Bin, [safe]) of
        {?SW_TAG, ready, CNode} when CNode =:= St#st.cnode ->
            St1 = begin_shadow(St#st{cnode_ready = true, backoff = backoff0(), link_lost = false}),
            hello(St1),
            %% A restarted C node: requests to the one that died are lost.
            bump_epoch(),
            swarm_groups:cnode_ready(CNode), %% groups (issue 4): it says hello too
            %% A restarted C node: the peers whose C nodes dial it (the
            %% smaller name dials) do so now, not at their next redial.
            [erlang:send(A, {?SW_TAG, agent_cnode_up, node()}, [noconnect])
             || {A, _, _} <- maps:values(St1#st.peers)],
            St1;
        {?SW_TAG, error, Why} ->
            ?LOG_ERROR(#{event => cnode_error, reason => Why}),
            St;
        Other ->
            ?LOG_WARNING(#{event => cnode_unexpected, message => Other}),
            St
    end.

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
link_back(#st{link_lost = false} = St) ->
    St;
link_back(#st{cnode_ready = false} = St) ->
    St#st{link_lost = false};
link_back(#st{cnode = CNode} = St0) ->
    ?LOG_NOTICE(#{event => cnode_link_back, action => resync}),
    St = begin_shadow(St0#st{link_lost = false, link_resyncs = St0#st.link_resyncs + 1}),
    hello(St),
    bump_epoch(),
    swarm_groups:cnode_ready(CNode),
    St.

%% Callers still waiting for a reply send their request again (see
%% swarm:request/6).
-spec bump_epoch() -> ok.
bump_epoch() ->
    atomics:add(persistent_term:get({swarm, epoch}), 1, 1).

%% Tells the (new) C node who we are, which local processes have names (our
%% replica's view) and which BEAM nodes run swarm.
-spec hello(state()) -> ok.
hello(St) ->
    Me = node(),
    Local = ets:select(?SW_NAMES, [{{'$1', '$2'}, [{'=:=', {node, '$2'}, Me}], [{{'$1', '$2'}}]}]),
    Entries = [case ets:lookup(?SW_MFA, N) of
                   [{_, P, MFABin}] -> {term_to_binary(N, [deterministic]), P, MFABin};
                   _ -> {term_to_binary(N, [deterministic]), P}
               end || {N, P} <- Local, is_process_alive(P)],
    Peers = [{N, C} || {N, {_, _, C}} <- maps:to_list(St#st.peers)],
    to_cnode(St, {?SW_TAG, hello, self(), Entries, Peers}).

%% The watchdog: every `cnode_watchdog_ms' (default 1000) the agent pings
%% its C node over the distribution connection; a C node that leaves
%% `cnode_watchdog_misses' (default 5) pings in a row unanswered
%% is hung (stopped, stuck in a loop): it is killed, and restarted as if it
%% had died. A C node that is only starting, or restarting, is not asked.
-spec schedule_watchdog() -> reference().
schedule_watchdog() ->
    erlang:send_after(application:get_env(swarm, cnode_watchdog_ms, 1000), self(), watchdog).

-spec watchdog(state()) -> state().
watchdog(#st{port = undefined} = St) ->
    St#st{ping = undefined, missed = 0};
watchdog(#st{cnode_ready = false} = St) ->
    St#st{ping = undefined, missed = 0};
watchdog(#st{port = Port, ping = Ping, missed = Missed} = St) ->
    Limit = application:get_env(swarm, cnode_watchdog_misses, 5),
    Missed1 = case Ping of undefined -> 0; _ -> Missed + 1 end,
    case Missed1 >= Limit of
        true ->
            OsPid = proplists:get_value(os_pid, erlang:port_info(Port)),
            ?LOG_ERROR(#{event => cnode_hung, os_pid => OsPid, unanswered => Missed1}),
            is_integer(OsPid) andalso
                spawn(fun() -> os:cmd("kill -KILL " ++ integer_to_list(OsPid)) end),
            %% Its exit_status comes through the port: the restart follows.
            St#st{ping = undefined, missed = 0};
        false ->
            Ref = make_ref(),
            to_cnode(St, {?SW_TAG, ping, self(), Ref}),
            St#st{ping = Ref, missed = Missed1}
    end.

-spec schedule_restart(state()) -> state().
schedule_restart(#st{restart_timer = undefined, backoff = B} = St) ->
    T = erlang:send_after(B, self(), restart_cnode),
    St#st{restart_timer = T, backoff = min(B * 2, 5000), restarts = St#st.restarts + 1};
schedule_restart(St) ->
    St.

-spec backoff0() -> pos_integer().
backoff0() ->
    application:get_env(swarm, restart_backoff, 100).

-spec to_cnode(state(), term()) -> ok.
to_cnode(#st{cnode = CNode}, Msg) ->
    erlang:send({?SW_SERVER, CNode}, Msg),
    ok.

%% ---------------------------------------------------------------------------
%% The replica.

%% Applies a batch, then the batches already waiting behind it (in their
%% order; at most Max more), so that a busy agent pays the gen_server round
%% once per many batches. Each batch's replies go after its own ops.
-type op() :: {add | del, term(), pid()} | {add, term(), pid(), binary()} | {del, term(), pid(), mfa}
            | {start, non_neg_integer(), binary()} | {die, pid()}
            | {handoff, binary(), pid()} | {end_handoff, pid(), binary()} | {resolve, pid(), pid()}.
-spec batches([op()], [{pid(), term(), term()}], state(), non_neg_integer()) -> state().
batches(Ops, Replies, St0, Max) ->
    St1 = apply_ops(Ops, [], St0),
    St = case St1#st.shadow of
             undefined ->
                 _ = [reply(Caller, Ref, Result) || {Caller, Ref, Result} <- Replies],
                 St1;
             _ ->
                 St1#st{held = lists:reverse(Replies, St1#st.held)}
         end,
    receive
        {?SW_TAG, batch, Ops2, Replies2} when Max > 0 -> batches(Ops2, Replies2, St, Max - 1)
    after 0 -> St
    end.

%% Consecutive adds are written with one ets:insert/2 (one table lock); a
%% name appears at most once in such a run, since the C node always deletes
%% a name before adding it again.
-spec apply_ops([op()], [{term(), pid()}], state()) -> state().
apply_ops([{add, Name, Pid, MFABin} | Ops], Adds, St) ->
    %% A local register_name/4,5 process: its MFA is kept for the C node's
    %% next hello (see hello/1).
    true = ets:insert(?SW_MFA, {Name, Pid, MFABin}),
    apply_ops([{add, Name, Pid} | Ops], Adds, St);
apply_ops([{del, Name, Pid, mfa} | Ops], Adds, St) ->
    _ = ets:match_delete(?SW_MFA, {Name, Pid, '_'}),
    apply_ops([{del, Name, Pid} | Ops], Adds, St);
apply_ops([{add, Name, Pid} | Ops], Adds, #st{shadow = Sh} = St) ->
    Sh =:= undefined orelse ets:insert(Sh, {Name}),
    apply_ops(Ops, [{Name, Pid} | Adds], watch(Pid, 1, St));
apply_ops(Ops, [_ | _] = Adds, St) ->
    true = ets:insert(?SW_NAMES, Adds),
    apply_ops(Ops, [], St);
apply_ops([], [], St) ->
    St;
apply_ops([{del, Name, Pid} | Ops], [], #st{shadow = Sh} = St) ->
    true = ets:delete_object(?SW_NAMES, {Name, Pid}),
    Sh =:= undefined orelse ets:delete(Sh, Name),
    apply_ops(Ops, [], watch(Pid, -1, St));
apply_ops([{handoff, NameBin, Pid} | Ops], [], St) ->
    begin_handoff(NameBin, Pid, St#st.cnode),
    apply_ops(Ops, [], St);
apply_ops([{end_handoff, Pid, StateBin} | Ops], [], St) ->
    %% The handed-off state, for the process that replaced the old one.
    gen_server:cast(Pid, {swarm, end_handoff, binary_to_term(StateBin)}),
    apply_ops(Ops, [], St);
apply_ops([{resolve, Loser, Winner} | Ops], [], St) ->
    resolve_conflict(Loser, Winner),
    apply_ops(Ops, [], St);
apply_ops([{die, Pid} | Ops], [], St) ->
    %% A process started by register_name/4,5 lost its name to a duplicate
    %% (started while nodes disagreed on the ring): Swarm's shutdown request.
    Pid ! {swarm, die},
    apply_ops(Ops, [], St);
apply_ops([{start, Id, MFABin} | Ops], [], St) ->
    start_mfa(Id, MFABin),
    apply_ops(Ops, [], St).

%% Asks a process started by register_name/4,5 that the ring now places on
%% another node what to do ({swarm, begin_handoff}, as in Swarm), from a
%% fresh process (never from this loop: the call may take up to
%% `handoff_timeout' ms), and hands the answer to the C node: `restart' or
%% `{resume, State}' move it, `ignore' keeps it here. No answer (not a
%% gen_server, a crash, a timeout) counts as `restart'.
-spec begin_handoff(binary(), pid(), node()) -> pid().
begin_handoff(NameBin, Pid, CNode) ->
    spawn(fun() ->
                  How = case ask_handoff(Pid) of
                            {resume, State} -> {resume, term_to_binary(State)};
                            Other -> Other
                        end,
                  erlang:send({?SW_SERVER, CNode}, {?SW_TAG, handoff, NameBin, Pid, How})
          end).

%% Pid's answer to {swarm, begin_handoff} within `handoff_timeout' ms; no
%% answer, or another one, counts as `restart'. Called from a fresh process.
-spec ask_handoff(pid()) -> restart | ignore | {resume, term()}.
ask_handoff(Pid) ->
    Timeout = application:get_env(swarm, handoff_timeout, 5000),
    try gen_server:call(Pid, {swarm, begin_handoff}, Timeout) of
        ignore -> ignore;
        {resume, State} -> {resume, State};
        _ -> restart
    catch _:_ -> restart
    end.

%% A local process started by register_name/4,5 lost its name to Winner
%% (a duplicate started while nodes disagreed, e.g. across a partition): as
%% in Swarm, from a fresh process, it is asked {swarm, begin_handoff}; on
%% `{resume, State}' the winner is cast {swarm, resolve_conflict, State};
%% then the loser is sent {swarm, die}.
-spec resolve_conflict(pid(), pid()) -> pid().
resolve_conflict(Loser, Winner) ->
    spawn(fun() ->
                  case ask_handoff(Loser) of
                      {resume, State} -> gen_server:cast(Winner, {swarm, resolve_conflict, State});
                      _ -> ok
                  end,
                  Loser ! {swarm, die}
          end).

%% Runs apply(M, F, A) for the C node in a fresh process (never in this
%% loop: the start may take long, crash, or call swarm itself), which tells
%% the agent {'$sw1', started, Id, Pid | undefined, {'$sw1', raw,
%% term_to_binary(Result)}}; the agent passes results on in lists.
-spec start_mfa(non_neg_integer(), binary()) -> pid().
start_mfa(Id, MFABin) ->
    Agent = self(),
    spawn(fun() ->
                  Result = try binary_to_term(MFABin) of
                               {M, F, A} ->
                                   try apply(M, F, A) of
                                       {ok, Started} = Ok when is_pid(Started) -> Ok;
                                       {error, _} = Error -> Error;
                                       Other -> {error, {invalid_return, Other}}
                                   catch Class:Reason -> {error, {Class, Reason}}
                                   end
                           catch error:badarg -> {error, bad_mfa}
                           end,
                  Pid = case Result of {ok, P} -> P; _ -> undefined end,
                  %% The result travels as a binary: it may hold terms (funs)
                  %% that the C node does not decode; the caller unwraps it.
                  Wrapped = {?SW_TAG, raw, term_to_binary(Result)},
                  Agent ! {?SW_TAG, started, Id, Pid, Wrapped}
          end).

%% Gathers the start results waiting in the mailbox (at most Max) into one
%% message to the C node.
-spec started([{non_neg_integer(), pid() | undefined, term()}], non_neg_integer(), state()) -> ok.
started(Acc, Max, St) ->
    receive
        {?SW_TAG, started, Id, Pid, Res} when Max > 0 -> started([{Id, Pid, Res} | Acc], Max - 1, St)
    after 0 ->
        to_cnode(St, {?SW_TAG, started, lists:reverse(Acc)})
    end.

%% Keeps one monitor per local pid that has names.
-spec watch(pid(), 1 | -1, state()) -> state().
watch(Pid, _, St) when node(Pid) =/= node() ->
    St;
watch(Pid, D, #st{mons = Mons} = St) ->
    case maps:find(Pid, Mons) of
        error when D > 0 ->
            St#st{mons = Mons#{Pid => {erlang:monitor(process, Pid), 1}}};
        error ->
            St;
        {ok, {Mref, N}} when N + D =< 0 ->
            erlang:demonitor(Mref, [flush]),
            St#st{mons = maps:remove(Pid, Mons)};
        {ok, {Mref, N}} ->
            St#st{mons = Mons#{Pid := {Mref, N + D}}}
    end.

%% After a C node restart the replica may hold names the new C node will not
%% confirm (they went away while it was down). Until it reports synced, every
%% name it sends is noted; then the names it did not send are dropped.
%% Monitors are rebuilt from the stream.
-spec begin_shadow(state()) -> state().
begin_shadow(St0) ->
    St = drop_shadow(St0),
    [erlang:demonitor(M, [flush]) || {M, _} <- maps:values(St#st.mons)],
    case ets:info(?SW_NAMES, size) of
        0 -> St#st{mons = #{}};
        _ -> St#st{mons = #{}, shadow = ets:new(swarm_shadow, [set, private])}
    end.

-spec end_shadow(state()) -> state().
end_shadow(#st{shadow = undefined} = St) ->
    St;
end_shadow(#st{shadow = Sh} = St) ->
    Stale = ets:foldl(fun({Name, _Pid}, Acc) ->
                              case ets:member(Sh, Name) of
                                  true -> Acc;
                                  false -> [Name | Acc]
                              end
                      end, [], ?SW_NAMES),
    [begin ets:delete(?SW_NAMES, N), ets:delete(?SW_MFA, N) end || N <- Stale],
    drop_shadow(St).

-spec drop_shadow(state()) -> state().
drop_shadow(#st{shadow = undefined} = St) -> St;
drop_shadow(#st{shadow = Sh, held = Held} = St) ->
    ets:delete(Sh),
    _ = [reply(Caller, Ref, Result) || {Caller, Ref, Result} <- lists:reverse(Held)],
    St#st{shadow = undefined, held = []}.

%% ---------------------------------------------------------------------------
%% Other agents.

-spec announce(node()) -> ok.
announce(Node) ->
    erlang:send({?SW_AGENT, Node}, {?SW_TAG, agent_hello, node(), self(), cnode()}, [noconnect]),
    ok.

-spec peer_hello(node(), pid(), node(), state()) -> state().
peer_hello(Node, Agent, CNode, #st{peers = Peers} = St) ->
    case maps:find(Node, Peers) of
        {ok, {Agent, _, _}} ->
            St;
        Found ->
            case Found of
                {ok, {_, OldRef, _}} -> erlang:demonitor(OldRef, [flush]);
                error -> ok
            end,
            Mref = erlang:monitor(process, Agent),
            announce(Node),
            to_cnode(St, {?SW_TAG, peer_up, Node, CNode}),
            St#st{peers = Peers#{Node => {Agent, Mref, CNode}}}
    end.

-spec peer_gone(node(), state()) -> state().
peer_gone(Node, #st{peers = Peers} = St) ->
    case maps:take(Node, Peers) of
        {{_, Mref, _}, Rest} ->
            erlang:demonitor(Mref, [flush]),
            to_cnode(St, {?SW_TAG, peer_down, Node}),
            St#st{peers = Rest};
        error ->
            St
    end.
