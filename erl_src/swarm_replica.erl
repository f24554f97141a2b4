%% @private
%% @doc The agent's replica of the registry: applying the C node's change
%% stream to the ETS tables `swarm_names' and `swarm_mfa' (created by
%% swarm_sup), delivering the replies that follow those changes, keeping
%% one monitor per local process that has names, and the resynchronisation
%% after a C node restart or a dropped link (the shadow, and the replies
%% held until the replica is whole).
%%
%% What it is not: a process. Its functions run in the agent, which owns
%% the state (`t()'), the monitors and the shadow table; the agent reports
%% the deaths to the C node.
-module(swarm_replica).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").

-export([new/0, batch/4, prewatch/2, begin_shadow/1, end_shadow/1, pid_down/3, local_entries/0]).

-record(replica, {
    %% local pid -> {MonitorRef, NumberOfNames}
    mons = #{} :: #{pid() => {reference(), non_neg_integer()}},
    %% During a resynchronisation: the names the C node sent since.
    shadow :: swarm_cnode:shadow(),
    %% Replies that came during the shadow, newest first: delivered once
    %% the replica is whole (drop_shadow/1), so that a caller reads its
    %% write even when the del that preceded its reply was lost with a link
    %% and the stale name is only dropped at `synced'.
    held = [] :: [{pid(), term(), term()}]
}).

-opaque t() :: #replica{}.
-export_type([t/0]).

-type op() :: {?SW_MSG_ADD | ?SW_MSG_DEL, term(), pid()}
            | {?SW_MSG_ADD, term(), pid(), binary()}
            | {?SW_MSG_DEL, term(), pid(), ?SW_MSG_MFA}
            | {?SW_MSG_START, non_neg_integer(), binary()}
            | {?SW_MSG_DIE, pid()}
            | {?SW_MSG_DROP, term(), pid()}
            | {?SW_MSG_HANDOFF, binary(), pid()}
            | {?SW_MSG_END_HANDOFF, pid(), binary()}
            | {?SW_MSG_RESOLVE, pid(), pid(), binary()}
            | {?SW_MSG_RESOLVE_CAST, pid(), binary()}.
-type reply() :: {pid(), term(), term()}.

%% @doc An empty replica state: no monitors, no shadow.
-spec new() -> t().
new() ->
    #replica{}.

%% @doc Applies one batch of the C node `CNode': its ops, in order, then
%% its replies (held while a shadow lasts).
-spec batch([op()], [reply()], node(), t()) -> t().
batch(Ops, Replies, CNode, R0) ->
    R = apply_ops(Ops, [], CNode, R0),
    case R#replica.shadow of
        undefined ->
            _ = [swarm_cnode:reply(Caller, Ref, Result) || {Caller, Ref, Result} <- Replies],
            R;
        _ ->
            R#replica{held = lists:reverse(Replies, R#replica.held)}
    end.

%% Consecutive adds are written with one ets:insert/2 (one table lock); a
%% name appears at most once in such a run, since the C node always deletes
%% a name before adding it again.
-spec apply_ops([op()], [{term(), pid()}], node(), t()) -> t().
apply_ops([{?SW_MSG_ADD, Name, Pid, MFABin} | Ops], Adds, CNode, R) ->
    %% A local register_name/4,5 process: its MFA is kept for the C node's
    %% next hello (see local_entries/0).
    true = ets:insert(?SW_MFA, {Name, Pid, MFABin}),
    apply_ops([{?SW_MSG_ADD, Name, Pid} | Ops], Adds, CNode, R);
apply_ops([{?SW_MSG_DEL, Name, Pid, ?SW_MSG_MFA} | Ops], Adds, CNode, R) ->
    _ = ets:match_delete(?SW_MFA, {Name, Pid, '_'}),
    apply_ops([{?SW_MSG_DEL, Name, Pid} | Ops], Adds, CNode, R);
apply_ops([{?SW_MSG_ADD, Name, Pid} | Ops], Adds, CNode, R) ->
    ok = swarm_cnode:shadow_note(R#replica.shadow, [Name]),
    apply_ops(Ops, [{Name, Pid} | Adds], CNode, watch(Pid, 1, R));
apply_ops(Ops, [_ | _] = Adds, CNode, R) ->
    true = ets:insert(?SW_NAMES, Adds),
    apply_ops(Ops, [], CNode, R);
apply_ops([], [], _CNode, R) ->
    R;
apply_ops([{?SW_MSG_DEL, Name, Pid} | Ops], [], CNode, R) ->
    true = ets:delete_object(?SW_NAMES, {Name, Pid}),
    ok = swarm_cnode:shadow_forget(R#replica.shadow, Name),
    apply_ops(Ops, [], CNode, watch(Pid, -1, R));
apply_ops([{?SW_MSG_DROP, Name, Pid} | Ops], [], CNode, R) ->
    %% A row a caller wrote (optimistic register_name/2) that the C node
    %% refused: never an entry, never monitored.
    true = ets:delete_object(?SW_NAMES, {Name, Pid}),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_HANDOFF, NameBin, Pid} | Ops], [], CNode, R) ->
    _ = swarm_helpers:begin_handoff(NameBin, Pid, CNode),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_END_HANDOFF, Pid, StateBin} | Ops], [], CNode, R) ->
    ok = swarm_helpers:end_handoff(Pid, StateBin),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_RESOLVE, Loser, Winner, NameBin} | Ops], [], CNode, R) ->
    _ = swarm_helpers:resolve_conflict(Loser, Winner, NameBin),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_RESOLVE_CAST, Pid, StateBin} | Ops], [], CNode, R) ->
    ok = swarm_helpers:resolved(Pid, StateBin),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_DIE, Pid} | Ops], [], CNode, R) ->
    ok = swarm_helpers:die(Pid),
    apply_ops(Ops, [], CNode, R);
apply_ops([{?SW_MSG_START, Id, MFABin} | Ops], [], CNode, R) ->
    _ = swarm_helpers:start_mfa(Id, MFABin),
    apply_ops(Ops, [], CNode, R).

%% Keeps one monitor per local pid that has names.
-spec watch(pid(), 1 | -1, t()) -> t().
watch(Pid, _, R) when node(Pid) =/= node() ->
    R;
watch(Pid, D, #replica{mons = Mons} = R) ->
    case maps:find(Pid, Mons) of
        error when D > 0 ->
            R#replica{mons = Mons#{Pid => {erlang:monitor(process, Pid), 1}}};
        error ->
            R;
        {ok, {Mref, N}} when N + D =< 0 ->
            erlang:demonitor(Mref, [flush]),
            R#replica{mons = maps:remove(Pid, Mons)};
        {ok, {Mref, N}} ->
            R#replica{mons = Mons#{Pid := {Mref, N + D}}}
    end.

%% @doc Monitors local processes that register_name/4,5 just started,
%% before their names arrive: a monitor with no name yet (count 0), which
%% their add takes over. A process whose start the C node refused is told
%% to die: its monitor ends with it (the death is reported, and ignored by
%% the C node, which knows no name of it); a resynchronisation drops these
%% monitors with the others.
-spec prewatch([pid()], t()) -> t().
prewatch(Pids, #replica{mons = Mons0} = R) ->
    Mons = lists:foldl(fun(Pid, M) when node(Pid) =:= node(), not is_map_key(Pid, M) ->
                               M#{Pid => {erlang:monitor(process, Pid), 0}};
                          (_, M) -> M
                       end, Mons0, Pids),
    R#replica{mons = Mons}.

%% @doc A monitor fired for local process `Pid': `{down, R}' if it is the
%% replica's monitor `Mref' of it (the caller reports the death to the C
%% node), else `unknown'.
-spec pid_down(pid(), reference(), t()) -> {down, t()} | unknown.
pid_down(Pid, Mref, #replica{mons = Mons} = R) ->
    case maps:find(Pid, Mons) of
        {ok, {Mref, _}} -> {down, R#replica{mons = maps:remove(Pid, Mons)}};
        _ -> unknown
    end.

%% @doc Starts a resynchronisation (the caller then says hello to the C
%% node). The replica may hold names the C node will not confirm (they
%% went away while it was down, or their del was lost with a link): until
%% it reports synced (end_shadow/1), every name it sends is noted, then
%% the names it did not send are dropped. Monitors are rebuilt from the
%% stream. Replies held for an earlier shadow are delivered first.
-spec begin_shadow(t()) -> t().
begin_shadow(R0) ->
    R = drop_shadow(R0),
    [erlang:demonitor(M, [flush]) || {M, _} <- maps:values(R#replica.mons)],
    R#replica{mons = #{}, shadow = swarm_cnode:shadow_new(?SW_NAMES, swarm_shadow)}.

%% @doc The C node reported synced: drops the names it did not send since
%% begin_shadow/1, then delivers the held replies.
-spec end_shadow(t()) -> t().
end_shadow(#replica{shadow = Sh} = R) ->
    [begin ets:delete(?SW_NAMES, N), ets:delete(?SW_MFA, N) end
     || N <- swarm_cnode:shadow_stale(Sh, ?SW_NAMES)],
    drop_shadow(R).

-spec drop_shadow(t()) -> t().
drop_shadow(#replica{shadow = undefined} = R) ->
    R;
drop_shadow(#replica{shadow = Sh, held = Held} = R) ->
    undefined = swarm_cnode:shadow_drop(Sh),
    _ = [swarm_cnode:reply(Caller, Ref, Result) || {Caller, Ref, Result} <- lists:reverse(Held)],
    R#replica{shadow = undefined, held = []}.

%% @doc The names of live local processes in the replica, for the hello
%% that tells a (re)started C node what this node has:
%% `{NameBin, Pid}', or `{NameBin, Pid, MFABin}' for a register_name/4,5
%% process.
-spec local_entries() -> [{binary(), pid()} | {binary(), pid(), binary()}].
local_entries() ->
    Me = node(),
    Local = ets:select(?SW_NAMES, [{{'$1', '$2'}, [{'=:=', {node, '$2'}, Me}], [{{'$1', '$2'}}]}]),
    [case ets:lookup(?SW_MFA, N) of
         [{_, P, MFABin}] -> {term_to_binary(N, [deterministic]), P, MFABin};
         _ -> {term_to_binary(N, [deterministic]), P}
     end || {N, P} <- Local, is_process_alive(P)].
