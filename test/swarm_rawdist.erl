%% @doc A raw Erlang distribution client for the adversarial tests and the
%% connection-churn benchmark: it speaks the wire protocol by hand over
%% gen_tcp, so a test can be any node it likes (a name no BEAM runs, a
%% wrong cookie, a peer that never reads, a frame header that lies) without
%% starting a BEAM node per connection.
%%
%% What it is: the initiator side of the version-6 handshake ('N'
%% send_name, status, 'N' challenge, challenge_reply, challenge_ack; digest
%% MD5(Cookie ++ decimal challenge), see c_src/handshake.h), then
%% `<<Len:32, Body>>' frames: ticks (Len = 0) and pass-through messages
%% (`<<112, Control, Message>>', each an external term with its 131).
%% What it is not: an acceptor, a full node (no atom cache, fragments,
%% links or monitors), or anything that talks to other than 127.0.0.1.
%%
%% Terms can be given as Erlang terms (encoded with term_to_binary/1) or
%% as pre-encoded external-format binaries (`{ext, Bin}'), so that a test
%% can send pids and atoms of nodes that never exist in the test's own
%% atom table (enc_* below build them).
-module(swarm_rawdist).

-export([connect/2, close/1, sock/1, name/1, creation/1,
         send_frame/3, send_reg/4, send_bytes/2, send_tick/1,
         recv_frame/2, recv_until/3, recv_raw/2, recv_until_match/3, swarm_echo/2, pid/2,
         enc_atom/1, enc_pid/4, enc_ref/3, enc_binary/1, enc_tuple/1, enc_list/1,
         enc_small_int/1, ext/1, reg_send_ctrl/2, flags/0, digest/2]).

-export_type([conn/0, term_or_ext/0]).

-define(HOST, "127.0.0.1").

%% Distribution flags (erts dist.h): OTP 25's mandatory set, its digest
%% shorthand, no PUBLISHED (a hidden node), no atom cache, no fragments.
-define(DFLAG_EXTENDED_REFERENCES, 16#4).
-define(DFLAG_FUN_TAGS, 16#10).
-define(DFLAG_NEW_FUN_TAGS, 16#80).
-define(DFLAG_EXTENDED_PIDS_PORTS, 16#100).
-define(DFLAG_EXPORT_PTR_TAG, 16#200).
-define(DFLAG_BIT_BINARIES, 16#400).
-define(DFLAG_NEW_FLOATS, 16#800).
-define(DFLAG_UTF8_ATOMS, 16#10000).
-define(DFLAG_MAP_TAG, 16#20000).
-define(DFLAG_BIG_CREATION, 16#40000).
-define(DFLAG_HANDSHAKE_23, 16#1000000).
-define(DFLAG_MANDATORY_25_DIGEST, 16#4000000).

-define(DOP_SEND, 2).
-define(DOP_REG_SEND, 6).

-opaque conn() :: #{sock := gen_tcp:socket(), name := binary(), creation := non_neg_integer(),
                    peer := binary()}.
%% A term to send: any Erlang term, or its external format already made.
-type term_or_ext() :: {ext, binary()} | term().

-type opts() :: #{name := binary(),            % our node name, "alive@127.0.0.1"
                  cookie := binary(),          % the cookie our digest is made with
                  creation => non_neg_integer(),
                  alive_answer => boolean(),   % answer to status "alive" (default true)
                  sockopts => [gen_tcp:connect_option()],
                  timeout => timeout()}.       % per handshake step, ms (default 5000)

%% @doc Our handshake flags: OTP 25's mandatory set plus its digest
%% shorthand; hidden.
-spec flags() -> non_neg_integer().
flags() ->
    ?DFLAG_EXTENDED_REFERENCES bor ?DFLAG_FUN_TAGS bor ?DFLAG_NEW_FUN_TAGS bor
        ?DFLAG_EXTENDED_PIDS_PORTS bor ?DFLAG_EXPORT_PTR_TAG bor ?DFLAG_BIT_BINARIES bor
        ?DFLAG_NEW_FLOATS bor ?DFLAG_UTF8_ATOMS bor ?DFLAG_MAP_TAG bor ?DFLAG_BIG_CREATION bor
        ?DFLAG_HANDSHAKE_23 bor ?DFLAG_MANDATORY_25_DIGEST.

%% @doc The handshake digest: MD5 of the cookie followed by the decimal
%% text of the unsigned 32-bit challenge.
-spec digest(binary(), non_neg_integer()) -> binary().
digest(Cookie, Challenge) ->
    erlang:md5([Cookie, integer_to_list(Challenge)]).

%% @doc Connects to Target (a node on 127.0.0.1, found through epmd) and
%% runs the handshake as Opts say. Returns `{ok, Conn}' once the peer's
%% challenge_ack proved it holds our cookie; otherwise
%% `{error, {Step, Reason, Seen}}', where Step is the step that failed and
%% Seen the handshake messages received until then, oldest first
%% (`{status, Bin}', `{challenge, Flags, Challenge, Creation, Name}'), so
%% a test can tell how far an attack got. The socket is closed on error.
-spec connect(node(), opts()) -> {ok, conn()} | {error, {atom(), term(), list()}}.
connect(Target, Opts) ->
    [Alive, Host] = string:split(atom_to_list(Target), "@"),
    Tmo = maps:get(timeout, Opts, 5000),
    case erl_epmd:port_please(Alive, Host, Tmo) of
        {port, Port, _Version} ->
            SockOpts = [binary, {packet, 2}, {active, false}, {nodelay, true}
                        | maps:get(sockopts, Opts, [])],
            case gen_tcp:connect(?HOST, Port, SockOpts, Tmo) of
                {ok, S} ->
                    case handshake(S, atom_to_binary(Target), Opts, Tmo) of
                        {ok, _} = Ok -> Ok;
                        {error, _} = E -> gen_tcp:close(S), E
                    end;
                {error, R} ->
                    {error, {tcp_connect, R, []}}
            end;
        Other ->
            {error, {epmd, Other, []}}
    end.

handshake(S, Peer, #{name := Name, cookie := Cookie} = Opts, Tmo) ->
    Creation = maps:get(creation, Opts, rand:uniform(16#7fffffff)),
    ok = gen_tcp:send(S, <<$N, (flags()):64, Creation:32, (byte_size(Name)):16, Name/binary>>),
    Fail = fun(Step, Why, Seen) -> {error, {Step, Why, lists:reverse(Seen)}} end,
    case gen_tcp:recv(S, 0, Tmo) of
        {ok, <<$s, Status/binary>>} ->
            Seen0 = [{status, Status}],
            Go = case Status of
                     <<"ok">> -> ok;
                     <<"ok_simultaneous">> -> ok;
                     <<"alive">> ->
                         Answer = case maps:get(alive_answer, Opts, true) of
                                      true -> <<"true">>;
                                      false -> <<"false">>
                                  end,
                         gen_tcp:send(S, <<$s, Answer/binary>>);
                     _ -> {refused, Status}
                 end,
            case Go of
                ok ->
                    challenge(S, Peer, Name, Cookie, Creation, Tmo, Seen0, Fail);
                {refused, St} ->
                    Fail(status, St, Seen0);
                {error, R} ->
                    Fail(status, R, Seen0)
            end;
        {ok, Other} ->
            Fail(status, {unexpected, Other}, []);
        {error, R} ->
            Fail(status, R, [])
    end.

challenge(S, Peer, Name, Cookie, Creation, Tmo, Seen0, Fail) ->
    case gen_tcp:recv(S, 0, Tmo) of
        {ok, <<$N, PFlags:64, Challenge:32, PCreation:32, NLen:16, PName:NLen/binary>>} ->
            Seen = [{challenge, PFlags, Challenge, PCreation, PName} | Seen0],
            Ours = rand:uniform(16#ffffffff) - 1,
            ok = gen_tcp:send(S, <<$r, Ours:32, (digest(Cookie, Challenge))/binary>>),
            case gen_tcp:recv(S, 0, Tmo) of
                {ok, <<$a, Ack:16/binary>>} ->
                    case Ack =:= digest(Cookie, Ours) andalso PName =:= Peer of
                        true ->
                            ok = inet:setopts(S, [{packet, 4}]),
                            {ok, #{sock => S, name => Name, creation => Creation, peer => PName}};
                        false ->
                            Fail(challenge_ack, bad_digest_or_name, Seen)
                    end;
                {ok, Other} ->
                    Fail(challenge_ack, {unexpected, Other}, Seen);
                {error, R} ->
                    Fail(challenge_ack, R, Seen)
            end;
        {ok, Other} ->
            Fail(challenge, {unexpected, Other}, Seen0);
        {error, R} ->
            Fail(challenge, R, Seen0)
    end.

%% @doc Closes the connection.
-spec close(conn()) -> ok.
close(#{sock := S}) ->
    gen_tcp:close(S).

%% @doc The connection's socket (to change its options, or send bytes that
%% are not frames).
-spec sock(conn()) -> gen_tcp:socket().
sock(#{sock := S}) -> S.

%% @doc Our node name on this connection.
-spec name(conn()) -> binary().
name(#{name := N}) -> N.

%% @doc Our creation on this connection.
-spec creation(conn()) -> non_neg_integer().
creation(#{creation := C}) -> C.

%% @doc A pid of our node (number Id), as an Erlang term. Interns our node
%% name as an atom in the calling node.
-spec pid(conn(), non_neg_integer()) -> pid().
pid(#{name := N, creation := C}, Id) ->
    binary_to_term(ext(enc_pid(N, Id, 0, C))).

%% @doc Sends one pass-through frame: `<<112, Control, Message>>'.
-spec send_frame(conn(), term_or_ext(), term_or_ext()) -> ok | {error, term()}.
send_frame(#{sock := S}, Ctrl, Msg) ->
    gen_tcp:send(S, [112, to_ext(Ctrl), to_ext(Msg)]).

%% @doc Sends Msg to the process registered as ToName on the peer, as
%% From (a pid, or its external format without the 131: see enc_pid/4):
%% control `{6, From, '''', ToName}'.
-spec send_reg(conn(), pid() | {ext, binary()}, atom() | binary(), term_or_ext()) ->
          ok | {error, term()}.
send_reg(C, From, ToName, Msg) ->
    send_frame(C, {ext, reg_send_ctrl(From, ToName)}, Msg).

%% @doc Sends Bytes as they are (with {packet, 4} set, the socket prefixes
%% them with their length; set {packet, raw} first to write lying headers).
-spec send_bytes(conn(), iodata()) -> ok | {error, term()}.
send_bytes(#{sock := S}, Bytes) ->
    gen_tcp:send(S, Bytes).

%% @doc Sends a tick (an empty frame).
-spec send_tick(conn()) -> ok | {error, term()}.
send_tick(#{sock := S}) ->
    gen_tcp:send(S, <<>>).

%% @doc Receives one frame within Timeout ms: `{ok, tick}',
%% `{ok, {Ctrl, Msg | none}, Bytes}' (Bytes: the frame's size with its
%% header), `{ok, {other, Body}, Bytes}' for a frame that is not a
%% pass-through message, or `{error, closed | timeout | term()}'. Ticks are
%% answered.
-spec recv_frame(conn(), timeout()) ->
          {ok, tick} | {ok, {term(), term()} | {other, binary()}, pos_integer()} | {error, term()}.
recv_frame(#{sock := S} = C, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, <<>>} ->
            _ = send_tick(C),
            {ok, tick};
        {ok, <<112, Rest/binary>> = B} ->
            {Ctrl, Used} = binary_to_term(Rest, [used]),
            Msg = case Used < byte_size(Rest) of
                      true -> binary_to_term(binary:part(Rest, Used, byte_size(Rest) - Used));
                      false -> none
                  end,
            {ok, {Ctrl, Msg}, byte_size(B) + 4};
        {ok, B} ->
            {ok, {other, B}, byte_size(B) + 4};
        {error, _} = E ->
            E
    end.

%% @doc Reads frames until Pred({Ctrl, Msg}) is true, for at most Timeout
%% ms in all. Returns `{ok, {Ctrl, Msg}, BytesReceived}' (every frame's
%% bytes, ticks and the matching frame included) or
%% `{error, Reason, BytesReceived}'.
-spec recv_until(conn(), fun(({term(), term()}) -> boolean()), timeout()) ->
          {ok, {term(), term()}, non_neg_integer()} | {error, term(), non_neg_integer()}.
recv_until(C, Pred, Timeout) ->
    recv_until(C, Pred, erlang:monotonic_time(millisecond) + Timeout, 0).

recv_until(C, Pred, Deadline, Bytes) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    case recv_frame(C, Left) of
        {ok, tick} ->
            recv_until(C, Pred, Deadline, Bytes + 4);
        {ok, {other, _}, N} ->
            recv_until(C, Pred, Deadline, Bytes + N);
        {ok, F, N} ->
            case Pred(F) of
                true -> {ok, F, Bytes + N};
                false -> recv_until(C, Pred, Deadline, Bytes + N)
            end;
        {error, R} ->
            {error, R, Bytes}
    end.

%% @doc Receives one frame's body within Timeout ms without decoding it
%% (so nothing in it becomes an atom here): `{ok, Body}' (`<<>>' for a
%% tick, which is answered) or `{error, closed | timeout | term()}'.
-spec recv_raw(conn(), timeout()) -> {ok, binary()} | {error, term()}.
recv_raw(#{sock := S} = C, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, <<>>} -> _ = send_tick(C), {ok, <<>>};
        Other -> Other
    end.

%% @doc Reads frames, undecoded, until one contains Pattern, for at most
%% Timeout ms in all. Returns `{ok, BytesReceived}' or
%% `{error, Reason, BytesReceived}' (every frame counted with its 4-byte
%% header, ticks and the matching frame included).
-spec recv_until_match(conn(), binary(), timeout()) ->
          {ok, non_neg_integer()} | {error, term(), non_neg_integer()}.
recv_until_match(C, Pattern, Timeout) ->
    match_loop(C, Pattern, erlang:monotonic_time(millisecond) + Timeout, 0).

match_loop(C, Pattern, Deadline, Bytes) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    case recv_raw(C, Left) of
        {ok, B} ->
            N = Bytes + byte_size(B) + 4,
            case binary:match(B, Pattern) of
                nomatch -> match_loop(C, Pattern, Deadline, N);
                _ -> {ok, N}
            end;
        {error, R} ->
            {error, R, Bytes}
    end.

%% @doc One request that a swarm C node answers at once to any node
%% connected to it: `{'$sw1', reg, Me, Tag, NameBin, Me}' from a node the C
%% node does not know as a peer is answered `{Tag, redirect}' (the
%% direct_to_owner path: ask your own C node). Waits for that answer for at
%% most Timeout ms. Everything is encoded by hand and matched as bytes, so
%% no atom is made here. Returns `{ok, BytesReceived}' (all frames read
%% until the answer, see recv_until_match/3) or `{error, Reason, Bytes}'.
-spec swarm_echo(conn(), timeout()) -> {ok, non_neg_integer()} | {error, term(), non_neg_integer()}.
swarm_echo(#{name := N, creation := Cr} = C, Timeout) ->
    Me = enc_pid(N, 1, 0, Cr),
    Tag = iolist_to_binary(["swarm_echo:", integer_to_list(erlang:unique_integer([positive])), ":",
                            integer_to_list(rand:uniform(1 bsl 40))]),
    Msg = ext(enc_tuple([enc_atom(<<"$sw1">>), enc_atom(<<"reg">>), Me, enc_binary(Tag),
                         enc_binary(term_to_binary(swarm_rawdist_echo)), Me])),
    case send_reg(C, {ext, Me}, <<"swarm">>, {ext, Msg}) of
        ok -> recv_until_match(C, Tag, Timeout);
        {error, R} -> {error, R, 0}
    end.

%% @doc The control term `{6, From, '''', ToName}' in external format.
-spec reg_send_ctrl(pid() | {ext, binary()}, atom() | binary()) -> binary().
reg_send_ctrl({ext, FromExt}, ToName) ->
    ext(enc_tuple([enc_small_int(?DOP_REG_SEND), FromExt, enc_atom(<<>>), enc_atom(name_bin(ToName))]));
reg_send_ctrl(From, ToName) when is_pid(From) ->
    <<131, FromExt/binary>> = term_to_binary(From),
    reg_send_ctrl({ext, FromExt}, ToName).

name_bin(A) when is_atom(A) -> atom_to_binary(A);
name_bin(B) when is_binary(B) -> B.

to_ext({ext, B}) when is_binary(B) -> B;
to_ext(T) -> term_to_binary(T).

%% ---- external-format builders (bodies without the 131 unless ext/1) ----

%% @doc A complete external term (131 prefixed) from a body.
-spec ext(iodata()) -> binary().
ext(Body) -> iolist_to_binary([131, Body]).

%% @doc An atom (SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT over 255 bytes).
-spec enc_atom(binary()) -> binary().
enc_atom(A) when byte_size(A) < 256 -> <<119, (byte_size(A)):8, A/binary>>;
enc_atom(A) -> <<118, (byte_size(A)):16, A/binary>>.

%% @doc A pid of node Node (NEW_PID_EXT).
-spec enc_pid(binary(), non_neg_integer(), non_neg_integer(), non_neg_integer()) -> binary().
enc_pid(Node, Id, Serial, Creation) ->
    <<88, (enc_atom(Node))/binary, Id:32, Serial:32, Creation:32>>.

%% @doc A reference of node Node (NEWER_REFERENCE_EXT) with the given
%% 32-bit words.
-spec enc_ref(binary(), non_neg_integer(), [non_neg_integer()]) -> binary().
enc_ref(Node, Creation, Words) ->
    <<90, (length(Words)):16, (enc_atom(Node))/binary, Creation:32,
      (<< <<W:32>> || W <- Words >>)/binary>>.

%% @doc A binary (BINARY_EXT).
-spec enc_binary(binary()) -> binary().
enc_binary(B) -> <<109, (byte_size(B)):32, B/binary>>.

%% @doc A tuple of encoded elements.
-spec enc_tuple([iodata()]) -> iodata().
enc_tuple(Es) when length(Es) < 256 -> [104, length(Es) | Es];
enc_tuple(Es) -> [<<105, (length(Es)):32>> | Es].

%% @doc A proper list of encoded elements.
-spec enc_list([iodata()]) -> iodata().
enc_list([]) -> [106];
enc_list(Es) -> [<<108, (length(Es)):32>>, Es, 106].

%% @doc An integer 0..255 (SMALL_INTEGER_EXT).
-spec enc_small_int(0..255) -> binary().
enc_small_int(I) -> <<97, I>>.
