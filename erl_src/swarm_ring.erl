%% @private
%% @doc The local C node's ring, mirrored on the BEAM for callers of
%% register_name/2,4,5: they send their request straight to the C node of the
%% name's owner (one hop less than through their own C node), which
%% decides and answers through the caller's own C node, after the entry
%% (so the caller reads its own write). When the mirror is stale the owner
%% answers `redirect' and the caller asks its own C node, whose decision is
%% authoritative anyway.
%%
%% The ring is libring's, as c_src/ring.c builds it: the members in sorted
%% order, 128 points each at erlang:phash2({Node, I}, 4294967295) for I in
%% 1..128 (a point already taken keeps its first node); a key hashes to
%% phash2(Key, 4294967295), an atom key to phash2(term_to_binary(Key), ...);
%% its owner has the first point at or above the hash, wrapping around.
%% Kept in persistent_term (written by swarm_agent only when the members
%% change, and only with the `direct_to_owner' setting).
-module(swarm_ring).
-include("swarm_proto.hrl").
-compile(warn_missing_spec).

-export([set/1, clear/0, owner_cnode/1, cnode_of/1]).

-define(KEY, {swarm, ring}).
-define(POINTS, 128).
-define(RANGE, 4294967295).

%% @doc Mirrors a ring of these BEAM nodes (the C node's members). Returns
%% `changed' if it differs from the one kept.
-spec set([node()]) -> changed | same.
set(Members) ->
    Sorted = lists:usort(Members),
    case persistent_term:get(?KEY, undefined) of
        {Sorted, _, _} ->
            same;
        _ ->
            Points = lists:foldl(fun(Node, Acc) ->
                                         C = cnode_of(Node),
                                         lists:foldl(fun(I, A) ->
                                                             H = erlang:phash2({Node, I}, ?RANGE),
                                                             case maps:is_key(H, A) of
                                                                 true -> A;
                                                                 false -> A#{H => C}
                                                             end
                                                     end, Acc, lists:seq(1, ?POINTS))
                                 end, #{}, Sorted),
            List = lists:sort(maps:to_list(Points)),
            Hashes = list_to_tuple([H || {H, _} <- List]),
            CNodes = list_to_tuple([C || {_, C} <- List]),
            persistent_term:put(?KEY, {Sorted, Hashes, CNodes}),
            changed
    end.

%% @doc Forgets the mirror (callers then go through their own C node).
-spec clear() -> ok.
clear() ->
    _ = persistent_term:erase(?KEY),
    ok.

%% @doc The C node of the owner of `Name' by the mirror, or `local' when
%% that is this node's own, the mirror is empty, or the owner's C node is not
%% connected to this node (the request then goes through the local C node).
-spec owner_cnode(term()) -> node() | local.
owner_cnode(Name) ->
    case persistent_term:get(?KEY, undefined) of
        {_, Hashes, CNodes} when tuple_size(Hashes) > 0 ->
            H = case is_atom(Name) of
                    true -> erlang:phash2(term_to_binary(Name), ?RANGE);
                    false -> erlang:phash2(Name, ?RANGE)
                end,
            N = tuple_size(Hashes),
            I = case first_at_or_above(Hashes, H, 1, N) of
                    I0 when I0 > N -> 1;
                    I0 -> I0
                end,
            CNode = element(I, CNodes),
            case CNode =:= persistent_term:get({swarm, cnode}, undefined) of
                true -> local;
                false ->
                    case lists:member(CNode, nodes(hidden)) of
                        true -> CNode;
                        false -> local
                    end
            end;
        _ ->
            local
    end.

%% @doc The name of the C node beside BEAM node `Node' (swarm_ + its name).
-spec cnode_of(node()) -> node().
cnode_of(Node) ->
    list_to_atom(?SW_CNODE_PREFIX ++ atom_to_list(Node)).

%% Index of the first hash >= H in Hashes[Lo..Hi] (Hi + 1 if none).
-spec first_at_or_above(tuple(), non_neg_integer(), pos_integer(), non_neg_integer()) -> pos_integer().
first_at_or_above(_Hashes, _H, Lo, Hi) when Lo > Hi ->
    Lo;
first_at_or_above(Hashes, H, Lo, Hi) ->
    Mid = (Lo + Hi) div 2,
    case element(Mid, Hashes) >= H of
        true -> first_at_or_above(Hashes, H, Lo, Mid - 1);
        false -> first_at_or_above(Hashes, H, Mid + 1, Hi)
    end.
