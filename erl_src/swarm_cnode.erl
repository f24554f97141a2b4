%% @private
%% @doc The BEAM side's link to its local C node, shared by swarm_agent and
%% swarm_groups: sending to the C node's registry server, delivering the
%% replies that come back through them, draining the batches queued behind
%% one, the shadow table of a resynchronisation, and the link epoch.
%%
%% The transport: a C node beside a distributed BEAM node is reached over
%% distribution (`{swarm, CNode}'); the C node of a node without
%% distribution (nonode@nohost), named `swarm_nonode@nohost', is reached
%% through its port (the port transport, see swarm_port): send/2 writes
%% the message on the port, which any process may do.
%%
%% What it is not: a process. Every function runs in its caller (the shadow
%% table belongs to the process that made it).
-module(swarm_cnode).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").

-export([cnode/0, send/1, send/2, ask/1, reply/3, drain/2]).
-export([port_transport/1, set_pipe/1]).
-export([init_epoch/0, bump_epoch/0, epoch/0]).
-export([shadow_new/2, shadow_note/2, shadow_forget/2, shadow_stale/2, shadow_drop/1]).

-type shadow() :: ets:tid() | undefined.
-export_type([shadow/0]).

%% @doc The name of this node's C node (set by swarm_agent at its start).
%% Raises `badarg' while swarm has not started.
-spec cnode() -> node().
cnode() ->
    persistent_term:get({swarm, cnode}).

%% @doc Sends `Msg' to the registry server of this node's C node.
-spec send(term()) -> ok.
send(Msg) ->
    send(cnode(), Msg).

%% @doc Sends `Msg' to the registry server of C node `CNode': written on
%% its port if it is this node's C node and takes this node's messages on
%% stdin (the port transport, or the pipe transport: set_pipe/1), else by
%% distribution. A message to a C node that is gone (or whose port
%% closed) is lost, as any message to a node that is gone.
-spec send(node(), term()) -> ok.
send(CNode, Msg) ->
    case persistent_term:get({swarm, pipe}, none) of
        {CNode, Port} ->
            try erlang:port_command(Port, term_to_binary(Msg)) of
                true -> ok
            catch
                error:badarg -> ok
            end;
        _ when CNode =:= ?SW_UNNAMED_CNODE ->
            %% The port C node is not running yet: lost, as above.
            ok;
        _ ->
            erlang:send({?SW_SERVER, CNode}, Msg),
            ok
    end.

%% @doc Whether C node `CNode' is reached through its port (it is the C
%% node of a BEAM node without distribution).
-spec port_transport(node()) -> boolean().
port_transport(CNode) ->
    CNode =:= ?SW_UNNAMED_CNODE.

%% @doc This node's messages to C node `CNode' are written on `Port' (the
%% port and pipe transports; set by swarm_port at each start), or go by
%% distribution (`none').
-spec set_pipe({node(), port()} | none) -> ok.
set_pipe(Pipe) ->
    case persistent_term:get({swarm, pipe}, none) of
        Pipe -> ok;
        _ -> persistent_term:put({swarm, pipe}, Pipe)
    end.

%% @doc Asks the local C node `{'$sw1', Tag, self(), Ref}' and returns its
%% answer (`stats' and `gstats': counters as a proplist), or
%% `{error, timeout}' if it does not answer within 5 s.
-spec ask(?SW_MSG_STATS | ?SW_MSG_GSTATS) -> [{atom(), non_neg_integer()}] | {error, timeout}.
ask(Tag) ->
    Ref = make_ref(),
    send({?SW_TAG, Tag, self(), Ref}),
    receive
        {Ref, Answer} -> Answer
    after 5000 -> {error, timeout}
    end.

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

%% @doc `Msg', a `{'$sw1', Tag, ...}' tuple just received, followed by the
%% messages of the same tag and size already waiting in the mailbox (at
%% most `Max' of them), in their order: a busy process pays its loop once
%% per many batches.
-spec drain(tuple(), non_neg_integer()) -> [tuple()].
drain(Msg, Max) ->
    drain(?SW_TAG, element(2, Msg), tuple_size(Msg), Max, [Msg]).

-spec drain(atom(), atom(), pos_integer(), non_neg_integer(), [tuple()]) -> [tuple()].
drain(_Sw, _Tag, _Size, 0, Acc) ->
    lists:reverse(Acc);
drain(Sw, Tag, Size, Max, Acc) ->
    receive
        Msg when tuple_size(Msg) =:= Size, element(1, Msg) =:= Sw, element(2, Msg) =:= Tag ->
            drain(Sw, Tag, Size, Max - 1, [Msg | Acc])
    after 0 ->
        lists:reverse(Acc)
    end.

%% @doc Makes the link epoch (see swarm:request/6) unless it exists: once
%% per VM, so that an agent restart does not write persistent_term again.
-spec init_epoch() -> ok.
init_epoch() ->
    persistent_term:get({swarm, epoch}, undefined) =:= undefined andalso
        persistent_term:put({swarm, epoch}, atomics:new(1, [{signed, false}])),
    ok.

%% @doc A link that requests and replies travel on went down or came back,
%% or the C node restarted: callers still waiting for a reply send their
%% request again (see swarm:request/6).
-spec bump_epoch() -> ok.
bump_epoch() ->
    atomics:add(persistent_term:get({swarm, epoch}), 1, 1).

%% @doc The link epoch: a counter bumped whenever a link that requests
%% travel on went down or came back (0 when swarm is not running).
-spec epoch() -> non_neg_integer().
epoch() ->
    case persistent_term:get({swarm, epoch}, undefined) of
        undefined -> 0;
        A -> atomics:get(A, 1)
    end.

%% The shadow of a resynchronisation. After a hello the C node streams its
%% whole state again; until it says it is done, the keys it writes are
%% noted in the shadow, then the replica's keys it did not write are
%% stale. No shadow is needed when the replica is empty.

%% @doc A new shadow for the replica `Table' (a private set named `Name'
%% owned by the caller), or `undefined' if `Table' is empty.
-spec shadow_new(ets:table(), atom()) -> shadow().
shadow_new(Table, Name) ->
    case ets:info(Table, size) of
        0 -> undefined;
        _ -> ets:new(Name, [set, private])
    end.

%% @doc Notes that the C node wrote `Keys'.
-spec shadow_note(shadow(), [term()]) -> ok.
shadow_note(undefined, _Keys) ->
    ok;
shadow_note(Sh, Keys) ->
    true = ets:insert(Sh, [{K} || K <- Keys]),
    ok.

%% @doc Notes that the C node deleted `Key'.
-spec shadow_forget(shadow(), term()) -> ok.
shadow_forget(undefined, _Key) ->
    ok;
shadow_forget(Sh, Key) ->
    true = ets:delete(Sh, Key),
    ok.

%% @doc The keys of `Table' the C node did not write since the shadow was
%% made (none without a shadow).
-spec shadow_stale(shadow(), ets:table()) -> [term()].
shadow_stale(undefined, _Table) ->
    [];
shadow_stale(Sh, Table) ->
    ets:foldl(fun(O, Acc) ->
                      Key = element(1, O),
                      case ets:member(Sh, Key) of
                          true -> Acc;
                          false -> [Key | Acc]
                      end
              end, [], Table).

%% @doc Deletes the shadow; returns `undefined', the state without one.
-spec shadow_drop(shadow()) -> undefined.
shadow_drop(undefined) ->
    undefined;
shadow_drop(Sh) ->
    true = ets:delete(Sh),
    undefined.
