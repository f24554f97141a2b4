#!/usr/bin/env escript
%%! -sname swarm_fuzz_gen
%% gen_corpus.escript - writes the seed corpora of the libFuzzer targets
%% (test/fuzz/corpus/<target>/) from a real BEAM: terms are encoded by
%% term_to_binary/2 (as the agent and the distribution do), pids and refs
%% of the nodes of fuzz_world.h are built from their external format,
%% handshake digests by erlang:md5/1, and the epmd answers are epmd's own
%% when an epmd runs (start one with `epmd -daemon`).
%%
%% Usage: test/fuzz/gen_corpus.escript [OutDir]   (default test/fuzz/corpus)
%% Existing seeds of the same names are overwritten; nothing else is
%% touched. Each seed is small (a few hundred bytes): the fuzzer grows them.
-mode(compile).

-define(OUR_BEAM, 'a@127.0.0.1').
-define(CNODE, 'swarm_a@127.0.0.1').
-define(PEER_BEAM, 'b@127.0.0.1').
-define(PEER, 'swarm_b@127.0.0.1').
%% fuzz_hs.h
-define(COOKIE, "fuzzcookie").
-define(OUR_NAME, <<"swarm_a@127.0.0.1">>).
-define(HS_PEER, <<"b@127.0.0.1">>).
-define(OUR_CHALLENGE, 2654435769).

main(Args) ->
    Dir = case Args of [D] -> D; [] -> "test/fuzz/corpus" end,
    Targets = [{frame, frame()}, {handshake_acceptor, acceptor()},
               {handshake_initiator, initiator()}, {epmd, epmd()},
               {control, control()}, {dist, dist()}, {peer_ops, peer_ops()},
               {canon, canon()}, {host, host()}],
    lists:foreach(
      fun({T, Seeds}) ->
              TDir = filename:join(Dir, atom_to_list(T)),
              ok = filelib:ensure_dir(filename:join(TDir, "x")),
              [ok = file:write_file(filename:join(TDir, N), B) || {N, B} <- Seeds],
              io:format("~s: ~b seeds~n", [T, length(Seeds)])
      end, Targets).

%% ---- terms -------------------------------------------------------------

pid(Node, Num) ->
    N = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, Num:32, 0:32, 1:32>>).

ref(Node, Id) ->
    N = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(N)), N/binary, 1:32, Id:32, 0:32, 0:32>>).

t2b(T) -> term_to_binary(T, [{minor_version, 2}]).

name(I) -> term_to_binary({worker, I}, [deterministic]).
group(I) -> term_to_binary({group, I}, [deterministic]).
mfa() -> term_to_binary({my_worker, start_link, [arg]}).

%% A frame body after the 112 byte: control and message, as the BEAM sends.
reg_send(From, To, Msg) -> <<(t2b({6, From, '', To}))/binary, (t2b(Msg))/binary>>.
send(To, Msg) -> <<(t2b({2, '', To}))/binary, (t2b(Msg))/binary>>.

agent() -> pid(?OUR_BEAM, 999).
caller() -> pid(?OUR_BEAM, 1000).
local(I) -> pid(?OUR_BEAM, I).
remote(I) -> pid(?PEER_BEAM, I).
peer_srv() -> pid(?PEER, 1).

%% ---- handshake ---------------------------------------------------------

-define(MANDATORY, (16#4 bor 16#10 bor 16#100 bor 16#80 bor 16#200 bor 16#400 bor
                    16#800 bor 16#10000 bor 16#20000 bor 16#40000 bor 16#1000000)).
%% Flags of an OTP 25 node: the mandatory ones, published, atom cache,
%% monitors, send_sender, fragments, unlink_id, the 25 digest, spawn, alias.
otp_flags() ->
    ?MANDATORY bor 16#1 bor 16#2 bor 16#8 bor 16#20 bor 16#80000 bor 16#800000 bor
        16#2000000 bor 16#4000000 bor 16#100000000 bor 16#800000000.

digest(Challenge) -> erlang:md5([?COOKIE, integer_to_list(Challenge)]).

msg(Body) -> <<(byte_size(Body)):16, Body/binary>>.

name_n(Name) -> <<"N", (otp_flags()):64, 16#55667788:32, (byte_size(Name)):16, Name/binary>>.
name_v5(Name) -> <<"n", 5:16, (otp_flags() band 16#ffffffff):32, Name/binary>>.
complement() -> <<"c", (otp_flags() bsr 32):32, 16#55667788:32>>.
reply(Challenge) -> <<"r", Challenge:32, (digest(?OUR_CHALLENGE))/binary>>.
status(S) -> <<"s", S/binary>>.
challenge(Name, Ch) ->
    <<"N", (otp_flags()):64, Ch:32, 16#0a0b0c0d:32, (byte_size(Name)):16, Name/binary>>.
challenge_v5(Name, Ch) -> <<"n", 5:16, (otp_flags() band 16#ffffffff):32, Ch:32, Name/binary>>.
ack() -> <<"a", (digest(?OUR_CHALLENGE))/binary>>.

acceptor() ->
    N = <<"b@127.0.0.1">>,
    S = fun(Status, Msgs) -> <<Status, (<< <<(msg(M))/binary>> || M <- Msgs >>)/binary>> end,
    [{"ok-v6", S(0, [name_n(N), reply(123456)])},
     {"ok-simultaneous", S(1, [name_n(N), reply(7)])},
     {"nok", S(2, [name_n(N)])},
     {"not-allowed", S(3, [name_n(N)])},
     {"alive-true", S(4, [name_n(N), status(<<"true">>), reply(99)])},
     {"alive-false", S(4, [name_n(N), status(<<"false">>)])},
     {"ok-v5-complement", S(0, [name_v5(N), complement(), reply(42)])},
     {"wrong-digest", S(0, [name_n(N), <<"r", 1:32, 0:128>>])},
     {"no-flags", S(0, [<<"N", 0:64, 1:32, 3:16, "a@b">>])},
     {"bad-name", S(0, [name_n(<<"nohost">>)])},
     {"after-done", S(0, [name_n(N), reply(5), reply(5)])},
     {"long-name", S(0, [name_n(<<"b@", (binary:copy(<<"h">>, 300))/binary>>)])}].

initiator() ->
    P = ?HS_PEER,
    S = fun(V, Msgs) -> <<V, (<< <<(msg(M))/binary>> || M <- Msgs >>)/binary>> end,
    [{"ok-v6", S(0, [status(<<"ok">>), challenge(P, 31337), ack()])},
     {"ok-v5", S(1, [status(<<"ok">>), challenge(P, 31337), ack()])},
     {"ok-simultaneous", S(0, [status(<<"ok_simultaneous">>), challenge(P, 1), ack()])},
     {"alive", S(0, [status(<<"alive">>), challenge(P, 4000000000), ack()])},
     {"nok", S(0, [status(<<"nok">>)])},
     {"not-allowed", S(0, [status(<<"not_allowed">>)])},
     {"named", S(0, [status(<<"named:">>)])},
     {"challenge-v5", S(0, [status(<<"ok">>), challenge_v5(P, 77)])},
     {"other-name", S(0, [status(<<"ok">>), challenge(<<"c@127.0.0.1">>, 77)])},
     {"wrong-ack", S(0, [status(<<"ok">>), challenge(P, 5), <<"a", 0:128>>])},
     {"no-flags", S(0, [status(<<"ok">>), <<"N", 0:64, 1:32, 1:32, (byte_size(P)):16, P/binary>>])},
     {"after-done", S(0, [status(<<"ok">>), challenge(P, 5), ack(), status(<<"ok">>)])}].

%% ---- frame -------------------------------------------------------------

frame() ->
    Hs = << <<(msg(M))/binary>> || M <- [name_n(<<"b@127.0.0.1">>), status(<<"ok">>), reply(9)] >>,
    Body = <<112, (reg_send(agent(), swarm, {'$sw1', ping, agent(), ref(?OUR_BEAM, 5)}))/binary>>,
    F = <<(byte_size(Body)):32, Body/binary>>,
    Tick = <<0:32>>,
    Bad = <<5:32, 1, 2, 3, 4, 5>>,
    Conn = <<F/binary, Tick/binary, F/binary, Bad/binary, F/binary>>,
    [{"hs3-then-frames", <<3, 16#00, 0, 1, Hs/binary, Conn/binary>>},
     {"hs3-bytewise", <<3, 16#00, 1, 2, Hs/binary, Conn/binary>>},
     {"hs3-small-reads", <<3, 16#00, 2, 3, Hs/binary, Conn/binary>>},
     {"connected-only", <<0, 16#00, 3, 4, Conn/binary>>},
     {"connected-random", <<0, 16#00, 4, 5, Conn/binary>>},
     {"connected-alternating", <<0, 16#00, 5, 6, Conn/binary>>},
     {"hs-too-big", <<3, 16#02, 1, 7, Hs/binary>>},
     {"conn-too-big", <<0, 16#40, 2, 8, Conn/binary>>},
     {"hs-empty-msg", <<1, 16#00, 1, 9, 0, 0, Conn/binary>>},
     {"partial-tail", <<0, 16#00, 2, 10, F/binary, 0, 0, 1>>},
     {"big-announced", <<0, 16#70, 4, 11, 0, 16#7f, 0, 0, 112, 131>>}].

%% ---- epmd --------------------------------------------------------------

%% fuzz_canon.c: [Utf8Atoms], then a term in the BEAM's encoding or in
%% other valid ones (UTF-8 atom tags, lists of integers, chained lists,
%% old forms, padded bignums), and terms that must be refused.
canon() ->
    A = <<100, 6:16, "a@host">>,
    Name = {sensor, [1, 2, 3], "é", '日本', -1, 1 bsl 40, 3.5, <<1, 2>>, <<1:3>>, [a | b]},
    Ids = [pid(?OUR_BEAM, 7), ref(?OUR_BEAM, 9), hd(erlang:ports())],
    [{"name-otp25", <<0, (term_to_binary(Name, [deterministic]))/binary>>},
     {"name-otp26", <<1, (term_to_binary(Name, [deterministic, {minor_version, 2}]))/binary>>},
     {"ids", <<0, (term_to_binary(Ids))/binary>>},
     {"ei-style", <<0, 131, 104, 3, 119, 6, "sensor", 108, 3:32, 97, 1, 98, 2:32,
                    110, 2, 0, 3, 0, 106, 118, 0, 2, 195, 169>>},
     {"chained-list", <<1, 131, 108, 1:32, 97, 1, 108, 0:32, 108, 1:32, 97, 2, 107, 2:16, 3, 4>>},
     {"old-forms", <<0, 131, 104, 4, 103, A/binary, 1:32, 2:32, 3, 102, A/binary, 1:32, 3,
                     114, 1:16, A/binary, 3, 5:32, 99, "1.5", 0:(28 * 8)>>},
     {"bignums", <<0, 131, 108, 2:32, 111, 5:32, 1, 1, 0, 0, 0, 0, 110, 9, 0, 1:72, 106>>},
     {"map", <<0, (term_to_binary({x, #{a => 1}}))/binary>>},
     {"fun", <<0, (term_to_binary([fun lists:map/2, fun() -> ok end]))/binary>>}].

epmd() ->
    Real = real_epmd(),
    [{"alive2-x-ok", <<0, 118, 0, 16#12345678:32>>},
     {"alive2-x-fail", <<0, 118, 1, 0:32>>},
     {"alive2-old", <<0, 121, 0, 3:16>>},
     {"alive2-trailing", <<0, 118, 0, 1:32, 9, 9, 9>>},
     {"alive2-garbage", <<0, 200, 1, 2>>},
     {"port2-ok", <<1, 119, 0, 4370:16, 72, 0, 6:16, 5:16, 7:16, "swarm_b", 0:16>>},
     {"port2-extra", <<1, 119, 0, 4370:16, 77, 0, 6:16, 5:16, 1:16, "b", 3:16, "xyz">>},
     {"port2-notfound", <<1, 119, 1>>},
     {"port2-longname", <<1, 119, 0, 1:16, 77, 0, 6:16, 5:16, 300:16>>},
     {"enc-name", <<2, "swarm_a">>},
     {"enc-at", <<2, "a@b">>},
     {"enc-255", <<2, (binary:copy(<<"a">>, 255))/binary>>},
     {"enc-256", <<2, (binary:copy(<<"a">>, 256))/binary>>}] ++ Real.

%% ALIVE2 and PORT_PLEASE2 answers of the local epmd, if one runs.
real_epmd() ->
    Alive = <<"swarm_fuzz_probe">>,
    Req = <<120, 4999:16, 72, 0, 6:16, 5:16, (byte_size(Alive)):16, Alive/binary, 0:16>>,
    A = case epmd_ask(<<(byte_size(Req)):16, Req/binary>>, 6) of
            {ok, R1} -> [{"alive2-real-epmd", <<0, R1/binary>>}];
            _ -> []
        end,
    Me = list_to_binary(hd(string:split(atom_to_list(node()), "@"))),
    P = case epmd_ask(<<(byte_size(Me) + 1):16, 122, Me/binary>>, all) of
            {ok, R2} -> [{"port2-real-epmd", <<1, R2/binary>>}];
            _ -> []
        end,
    A ++ P.

epmd_ask(Req, Want) ->
    case gen_tcp:connect({127, 0, 0, 1}, 4369, [binary, {active, false}], 2000) of
        {ok, S} ->
            ok = gen_tcp:send(S, Req),
            R = case Want of
                    all -> recv_all(S, <<>>);
                    N -> gen_tcp:recv(S, N, 2000)
                end,
            gen_tcp:close(S),
            R;
        E -> E
    end.

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 2000) of
        {ok, B} -> recv_all(S, <<Acc/binary, B/binary>>);
        {error, closed} when Acc =/= <<>> -> {ok, Acc};
        E -> E
    end.

%% ---- control -----------------------------------------------------------

control() ->
    Base = [{beam_node, ?OUR_BEAM}, {alive, <<"swarm_a">>}, {host, <<"127.0.0.1">>},
            {cookie, <<"secretcookie">>}, {quorum, 0}, {otp_release, 25}],
    C = fun(L) -> term_to_binary({'$sw1', config, L}) end,
    [{"agent", C(Base)},
     {"agent-utf8", term_to_binary({'$sw1', config, Base}, [{minor_version, 2}])},
     {"tick-quorum", C(Base ++ [{tick_ms, 250}, {quorum, 3}])},
     {"unknown-keys", C([{future, {nested, [1, 2.5, "x", #{k => v}]}} | Base])},
     {"strings", C([{beam_node, ?OUR_BEAM}, {alive, "swarm_a"}, {host, "127.0.0.1"},
                    {cookie, 'COOKIE'}])},
     {"missing-cookie", C(lists:keydelete(cookie, 1, Base))},
     {"negative", C(Base ++ [{tick_ms, -1}])},
     {"bigint", C(Base ++ [{quorum, 1 bsl 70}])},
     {"long-host", C(lists:keystore(host, 1, Base, {host, binary:copy(<<"h">>, 300)}))},
     {"bad-tag", term_to_binary({'$sw2', config, Base})},
     {"not-a-list", C(improper)}].

%% ---- dist --------------------------------------------------------------

%% One message from our BEAM node to the server "swarm".
local_msg(M) -> reg_send(caller(), swarm, M).

dist() ->
    R = ref(?OUR_BEAM, 1),
    L = fun(N, M) -> {N, <<0, (local_msg(M))/binary>>} end,
    P = fun(N, M) -> {N, <<1, (reg_send(peer_srv(), swarm, M))/binary>>} end,
    [L("reg", {'$sw1', reg, caller(), R, name(20), local(5)}),
     L("reg-taken", {'$sw1', reg, caller(), R, name(0), local(6)}),
     L("reg-remote-pid", {'$sw1', reg, caller(), R, name(21), remote(3)}),
     L("reg-mfa", {'$sw1', reg_mfa, caller(), R, name(22), mfa(), register}),
     L("reg-mfa-whereis", {'$sw1', reg_mfa, caller(), R, name(0), mfa(), whereis_or_register}),
     L("unreg", {'$sw1', unreg, caller(), R, name(1)}),
     L("unreg-remote", {'$sw1', unreg, caller(), R, name(10)}),
     L("pid-down", {'$sw1', pid_down, local(1)}),
     L("pid-down-crash", {'$sw1', pid_down, local(1), crash}),
     L("leaving-handoff", {'$sw1', leaving, caller(), R, handoff}),
     L("leaving-stop", {'$sw1', leaving, caller(), R, stop}),
     L("rejoin", {'$sw1', rejoin, caller(), R}),
     L("move", {'$sw1', move, caller(), R, name(30), term_to_binary(state)}),
     L("peer-up", {'$sw1', peer_up, 'd@127.0.0.1', 'swarm_d@127.0.0.1'}),
     L("peer-down", {'$sw1', peer_down, ?PEER_BEAM}),
     L("hello", {'$sw1', hello, agent(), [{name(0), local(1)}, {name(30), local(7), mfa()}],
                 [{?PEER_BEAM, ?PEER}]}),
     L("ping", {'$sw1', ping, caller(), R}),
     L("stats", {'$sw1', stats, caller(), R}),
     L("started", {'$sw1', started, [{1, local(8), {'$sw1', raw, term_to_binary({ok, local(8)})}},
                                      {2, undefined, {'$sw1', raw, term_to_binary(error)}}]}),
     L("handoff-restart", {'$sw1', handoff, name(0), local(1), restart}),
     L("handoff-resume", {'$sw1', handoff, name(0), local(1), {resume, term_to_binary(state)}}),
     L("gjoin", {'$sw1', gjoin, caller(), R, group(5), local(3)}),
     L("gjoin-remote", {'$sw1', gjoin, caller(), R, group(0), remote(1)}),
     L("gleave", {'$sw1', gleave, caller(), R, group(0), local(1)}),
     L("gdown", {'$sw1', gdown, local(2)}),
     L("ghello", {'$sw1', ghello, pid(?OUR_BEAM, 998), [{group(1), [local(3), local(4)]}],
                  pid(?OUR_BEAM, 996)}),
     L("gtransfer", {'$sw1', gtransfer, remote(1), local(9)}),
     L("gstats", {'$sw1', gstats, caller(), R}),
     L("unknown", {hello, world}),
     {"is-auth", <<0, (reg_send(caller(), net_kernel,
                                {'$gen_call', {caller(), R}, {is_auth, ?OUR_BEAM}}))/binary>>},
     {"send-to-pid", <<0, (send(pid(?CNODE, 1), {'$sw1', ping, caller(), R}))/binary>>},
     {"send-tt", <<0, (t2b({12, '', pid(?CNODE, 1), token}))/binary,
                   (t2b({'$sw1', ping, caller(), R}))/binary>>},
     {"reg-send-tt", <<0, (t2b({16, caller(), '', swarm, token}))/binary,
                       (t2b({'$sw1', ping, caller(), R}))/binary>>},
     {"link", <<0, (t2b({1, caller(), pid(?CNODE, 1)}))/binary>>},
     {"monitor", <<0, (t2b({19, caller(), swarm, R}))/binary>>},
     {"unknown-op", <<0, (t2b({99, x}))/binary>>},
     {"direct-reg", <<2, (reg_send(remote(1000), swarm,
                                   {'$sw1', reg, remote(1000), R, name(40), remote(4)}))/binary>>},
     P("peer-ops", {'$sw1', ops, registry_ops()}),
     P("peer-gops", {'$sw1', gops, group_ops()}),
     {"stranger-ops", <<3, (reg_send(peer_srv(), swarm, {'$sw1', ops, registry_ops()}))/binary>>}]
    ++ conversations().

%% Sequences of frames (settings bit 6): <<From:8, Len:16, Body>>, From 0
%% our BEAM node, 1 the peer C node, 2 the peer's BEAM node.
conversations() ->
    R = ref(?OUR_BEAM, 7),
    Fr = fun(0, M) -> <<0, (frame_len(local_msg(M)))/binary>>;
            (1, M) -> <<1, (frame_len(reg_send(peer_srv(), swarm, M)))/binary>>;
            (2, M) -> <<2, (frame_len(reg_send(remote(1000), swarm, M)))/binary>>
         end,
    Seq = fun(Flags, Frames) -> << (64 bor Flags), (<< <<(Fr(W, M))/binary>> || {W, M} <- Frames >>)/binary >> end,
    Started = [{Id, local(20 + Id), {'$sw1', raw, term_to_binary({ok, local(20 + Id)})}}
               || Id <- lists:seq(1, 12)],
    Failed = [{Id, undefined, {'$sw1', raw, term_to_binary({error, boom})}} || Id <- lists:seq(1, 12)],
    [{"seq-reg-mfa-started",
      Seq(0, [{0, {'$sw1', reg_mfa, caller(), R, name(22), mfa(), register}},
              {0, {'$sw1', reg_mfa, caller(), R, name(22), mfa(), whereis_or_register}},
              {0, {'$sw1', started, Started}}])},
     {"seq-reg-mfa-failed",
      Seq(0, [{0, {'$sw1', reg_mfa, caller(), R, name(23), mfa(), register}},
              {0, {'$sw1', started, Failed}}])},
     {"seq-claim-remote-home",
      Seq(0, [{0, {'$sw1', reg, caller(), R, name(24), remote(3)}},
              {1, {'$sw1', ops, [{add, name(24), remote(3), 20, ?OUR_BEAM},
                                 {claim_nack, name(24), 20, ?OUR_BEAM}]}}])},
     {"seq-claim-expires",
      Seq(32, [{0, {'$sw1', reg, caller(), R, name(25), remote(4)}}])},
     {"seq-peer-down-restart",
      Seq(0, [{1, {'$sw1', ops, [{add, name(26), remote(5), 21, ?PEER_BEAM, mfa()}]}},
              {0, {'$sw1', peer_down, ?PEER_BEAM}},
              {0, {'$sw1', started, Started}}])},
     {"seq-new-member-handoff",
      Seq(0, [{0, {'$sw1', reg_mfa, caller(), R, name(27), mfa(), register}},
              {0, {'$sw1', started, Started}},
              {0, {'$sw1', peer_up, 'd@127.0.0.1', 'swarm_d@127.0.0.1'}},
              {0, {'$sw1', handoff, name(27), local(27), {resume, term_to_binary(st)}}},
              {1, {'$sw1', ops, [{handoff_failed, name(27), local(27)}]}}])},
     {"seq-direct-reg",
      Seq(0, [{2, {'$sw1', reg, remote(1000), R, name(28), remote(6)}},
              {2, {'$sw1', reg_mfa, remote(1000), R, name(29), mfa(), register}}])},
     {"seq-group-remote",
      Seq(0, [{0, {'$sw1', gjoin, caller(), R, group(3), remote(2)}},
              {1, {'$sw1', gops, [{join, group(3), remote(2)}, {reply, caller(), R, ok}]}},
              {0, {'$sw1', gleave, caller(), R, group(3), remote(2)}},
              {1, {'$sw1', gops, [{down, remote(2)}]}}])},
     {"seq-unreg-pid-down",
      Seq(0, [{0, {'$sw1', unreg, caller(), R, name(0)}},
              {0, {'$sw1', pid_down, local(2)}},
              {0, {'$sw1', gdown, local(2)}},
              {0, {'$sw1', hello, agent(), [{name(3), local(4)}], [{?PEER_BEAM, ?PEER}]}}])}].

frame_len(B) -> <<(byte_size(B)):16, B/binary>>.

%% ---- peer ops ----------------------------------------------------------

stamp(C) -> [C, ?PEER_BEAM].

registry_ops() ->
    R = ref(?OUR_BEAM, 2),
    [{add, name(12), remote(3), 10, ?PEER_BEAM},
     {add, name(13), remote(4), 11, ?PEER_BEAM, mfa()},
     list_to_tuple([del, name(10), remote(1) | stamp(5)]),
     {reg_req, name(50), local(1), remote(1000), R},
     {reg_req, name(51), remote(2), remote(1000), R},
     {claim, name(52), local(2), 12, ?PEER_BEAM, ?PEER_BEAM, remote(1000), R, yes, no, <<>>},
     {claim, name(0), local(1), 13, ?PEER_BEAM, ?PEER_BEAM, remote(1000), R, yes, no, mfa()},
     {claim_nack, name(50), 1, ?OUR_BEAM},
     {reply, caller(), R, yes},
     {unreg_req, name(2), remote(1000), R},
     {reg_mfa_req, name(53), mfa(), register, remote(1000), R},
     {lost, name(0), local(1), 1, ?OUR_BEAM, remote(1)},
     {handoff_start, name(54), remote(2), 14, ?PEER_BEAM, mfa(), none},
     {handoff_start, name(11), remote(2), 15, ?PEER_BEAM, mfa(), term_to_binary(st)},
     {handoff_failed, name(0), local(1)},
     {orphan, name(55), pid('c@127.0.0.1', 7), 17, 'c@127.0.0.1', mfa()},
     {leaving, yes},
     {leaving, no},
     {hosts, ['h1@127.0.0.1', 'h2@127.0.0.1']},
     {hosts, [?OUR_BEAM, 'c@127.0.0.1']},
     {hosts, []},
     {sync, [{name(10), remote(1), 5, ?PEER_BEAM}, {name(14), remote(5), 16, ?PEER_BEAM}]}].

group_ops() ->
    R = ref(?OUR_BEAM, 3),
    [{join, group(0), remote(3)},
     {join, group(7), remote(4)},
     {leave, group(0), remote(1)},
     {down, remote(2)},
     {join_req, group(1), local(4), remote(1000), R},
     {leave_req, group(0), local(1), remote(1000), R},
     {join_req, group(1), remote(4), remote(1000), R},
     {reply, caller(), R, ok},
     {transfer, remote(1), local(9)},
     {hosts, ['h1@127.0.0.1']},
     {sync, [{group(0), [remote(1), remote(6)]}, {group(9), [remote(7)]}]}].

peer_ops() ->
    Hello = {hello, ?PEER_BEAM},
    Reg = registry_ops(),
    Grp = group_ops(),
    Op = fun(Flags, N, Ops) -> {N, <<Flags, (t2b(Ops))/binary>>} end,
    [Op(0, "registry-all", Reg),
     Op(4, "registry-all-hello", Reg),
     Op(16 + 4, "registry-fresh-conn", [Hello | Reg]),
     Op(8, "registry-no-agent", Reg),
     Op(32, "registry-tick", Reg),
     Op(0, "registry-empty", []),
     Op(0, "registry-hello-self", [{hello, ?OUR_BEAM}]),
     Op(0, "registry-hello-other", [{hello, 'c@127.0.0.1'}])] ++
    [Op(0, "registry-" ++ atom_to_list(element(1, O)) ++ "-" ++ integer_to_list(I), [O])
     || {I, O} <- lists:zip(lists:seq(1, length(Reg)), Reg)] ++
    [Op(1, "groups-all", Grp),
     Op(1 + 4, "groups-all-hello", Grp),
     Op(1 + 16, "groups-fresh-conn", [Hello | Grp]),
     Op(1 + 8, "groups-no-agent", Grp),
     Op(1 + 32, "groups-tick", Grp),
     Op(2, "both-all", Reg ++ Grp)] ++
    [Op(1, "groups-" ++ atom_to_list(element(1, O)) ++ "-" ++ integer_to_list(I), [O])
     || {I, O} <- lists:zip(lists:seq(1, length(Grp)), Grp)].

%% ---- host ----------------------------------------------------------------

-define(HOST, 'h@127.0.0.1').

%% fuzz_host.c: the unstarted host's pids and refs have creation 0; worker
%% I has Num I, Serial 0; the host mints refs 1, 2, ... in order.
hpid(I) ->
    N = atom_to_binary(?HOST, utf8),
    binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, I:32, 0:32, 0:32>>).

href(Id) ->
    N = atom_to_binary(?HOST, utf8),
    binary_to_term(<<131, 90, 3:16, 119, (byte_size(N)), N/binary, 0:32, Id:32, 0:32, 0:32>>).

%% One frame of a fuzz_host input: From (0: a BEAM node, 1: a C node),
%% then the body.
hframe(From, Body) -> <<From, (byte_size(Body)):16, Body/binary>>.

ctrl(C) -> t2b(C).

gen_call(To, Tag, Msg) -> send(To, {'$gen_call', {caller(), Tag}, Msg}).

host() ->
    R = ref(?OUR_BEAM, 7),
    W = fun(N, Frames) -> {N, iolist_to_binary(Frames)} end,
    [W("call-echo", [hframe(0, gen_call(hpid(1), 1, hello))]),
     W("call-keep", [hframe(0, gen_call(hpid(2), 1, first)),
                     hframe(0, gen_call(hpid(2), 2, second))]),
     W("call-back", [hframe(0, gen_call(hpid(4), 1, back))]),
     W("cast-call", [hframe(0, send(hpid(1), {'$gen_cast', ping})),
                     hframe(0, send(hpid(1), {href(1), pong}))]),
     W("cast-name", [hframe(0, send(hpid(2), {'$gen_cast', t2b({worker, 1})}))]),
     W("info-join", [hframe(0, send(hpid(1), {group, 1})),
                     hframe(0, send(hpid(3), {group, 1}))]),
     W("info-stop", [hframe(0, send(hpid(2), because))]),
     W("monitor", [hframe(0, ctrl({19, caller(), hpid(1), R})),
                   hframe(0, ctrl({20, caller(), hpid(1), R})),
                   hframe(0, ctrl({19, caller(), hpid(2), R})),
                   hframe(0, send(hpid(2), bye))]),
     W("link", [hframe(0, ctrl({1, caller(), hpid(3)})),
                hframe(0, ctrl({1, caller(), hpid(1)})),
                hframe(0, ctrl({35, 1, caller(), hpid(3)})),
                hframe(0, ctrl({3, caller(), hpid(1), killed}))]),
     W("link-down", [hframe(0, ctrl({1, caller(), hpid(2)})),
                     hframe(8, ctrl({1, caller(), hpid(3)}))]),
     W("exit2", [hframe(0, ctrl({8, caller(), hpid(3), kill}))]),
     W("reply", [hframe(0, send(hpid(1), {href(1), late}))]),
     W("reg-send", [hframe(1, reg_send(pid('swarm_b@127.0.0.1', 1), swarm,
                                       {'$sw1', hello, pid('swarm_b@127.0.0.1', 1), [], []}))]),
     W("agent-cnode-up", [hframe(0, reg_send(caller(), swarm_agent,
                                             {'$sw1', agent_cnode_up, ?OUR_BEAM}))]),
     W("net-kernel", [hframe(0, reg_send(caller(), net_kernel,
                                         {'$gen_call', {caller(), R}, {is_auth, ?OUR_BEAM}}))])].
