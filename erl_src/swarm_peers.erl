%% @private
%% @doc Discovery of the agents of other BEAM nodes: the agents greet each
%% other (`agent_hello'), monitor each other, and report each peer up and
%% down to their own C node, which connects to the peer's C node.
%%
%% What it is not: a process. Its functions run in the agent, which keeps
%% the peers (`peers()') in its state and hands it the node and monitor
%% events; which nodes to ignore is swarm_config's.
-module(swarm_peers).
-compile(warn_missing_spec).
-include("swarm_proto.hrl").

-export([announce/1, hello/5, gone/3, down/3, cnode_up/3, tell_cnode_up/1, bye/1, list/1]).

%% BEAM node -> {AgentPid, MonitorRef, CNode}
-type peers() :: #{node() => {pid(), reference(), node()}}.
-export_type([peers/0]).

%% @doc Greets the agent of `Node' (if connected), which answers with its
%% own greeting unless it knows us.
-spec announce(node()) -> ok.
announce(Node) ->
    erlang:send({?SW_AGENT, Node}, {?SW_TAG, ?SW_MSG_AGENT_HELLO, node(), self(), swarm_cnode:cnode()},
                [noconnect]),
    ok.

%% @doc The agent `Agent' of `Node', whose C node is `PeerCNode', greeted
%% us: if it is new (or a new incarnation), it is monitored, greeted back
%% and reported up to our C node `CNode'.
-spec hello(node(), pid(), node(), node(), peers()) -> peers().
hello(Node, Agent, PeerCNode, CNode, Peers) ->
    case maps:find(Node, Peers) of
        {ok, {Agent, _, _}} ->
            Peers;
        Found ->
            case Found of
                {ok, {_, OldRef, _}} -> erlang:demonitor(OldRef, [flush]);
                error -> ok
            end,
            Mref = erlang:monitor(process, Agent),
            announce(Node),
            swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_PEER_UP, Node, PeerCNode}),
            Peers#{Node => {Agent, Mref, PeerCNode}}
    end.

%% @doc `Node' went down or its agent said goodbye: reported down to our C
%% node `CNode' if it was a peer.
-spec gone(node(), node(), peers()) -> peers().
gone(Node, CNode, Peers) ->
    case maps:take(Node, Peers) of
        {{_, Mref, _}, Rest} ->
            erlang:demonitor(Mref, [flush]),
            swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_PEER_DOWN, Node}),
            Rest;
        error ->
            Peers
    end.

%% @doc The monitor `Mref' of a remote process fired: if it was a peer's
%% agent, the peer is reported down to our C node `CNode'.
-spec down(reference(), node(), peers()) -> peers().
down(Mref, CNode, Peers) ->
    Left = maps:filter(fun(_, {_, M, _}) -> M =/= Mref end, Peers),
    Gone = maps:keys(Peers) -- maps:keys(Left),
    [swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_PEER_DOWN, N}) || N <- Gone],
    Left.

%% @doc The C node of peer `Node' restarted: reported up to our C node
%% `CNode' again, which then connects to it.
-spec cnode_up(node(), node(), peers()) -> ok.
cnode_up(Node, CNode, Peers) ->
    case maps:find(Node, Peers) of
        {ok, {_, _, PeerCNode}} ->
            swarm_cnode:send(CNode, {?SW_TAG, ?SW_MSG_PEER_UP, Node, PeerCNode});
        error -> ok
    end.

%% @doc Our C node (re)started: the peers whose C nodes dial it (the
%% smaller name dials) do so now, not at their next redial; so do the C
%% hosts connected to this node (hidden nodes whose names are not a C
%% node's: a message to `swarm_agent' on a hidden BEAM node without swarm
%% is dropped there), whose syncs the new C node's initial sync waits for.
-spec tell_cnode_up(peers()) -> ok.
tell_cnode_up(Peers) ->
    Msg = {?SW_TAG, ?SW_MSG_AGENT_CNODE_UP, node()},
    _ = [erlang:send(A, Msg, [noconnect]) || {A, _, _} <- maps:values(Peers)],
    _ = [erlang:send({?SW_AGENT, H}, Msg, [noconnect])
         || H <- nodes(hidden), not lists:prefix(?SW_CNODE_PREFIX, atom_to_list(H))],
    ok.

%% @doc The agent stops: says goodbye to every peer.
-spec bye(peers()) -> ok.
bye(Peers) ->
    _ = [erlang:send(A, {?SW_TAG, ?SW_MSG_AGENT_BYE, node()}, [noconnect])
         || {A, _, _} <- maps:values(Peers)],
    ok.

%% @doc The peers as `{Node, CNode}', for the hello to our C node.
-spec list(peers()) -> [{node(), node()}].
list(Peers) ->
    [{N, C} || {N, {_, _, C}} <- maps:to_list(Peers)].
