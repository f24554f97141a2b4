%% phash2_SUITE: the BEAM is the oracle for the C phash2 (c_src/phash2.c)
%% and for the canonical encoding of names (c_src/canon.c).
%%
%% Terms are generated here with a seeded generator, hashed with
%% erlang:phash2/1,2 and written as records
%% <<Len:32, TermBinary:Len/binary, Hash27:32, Hash32:32>> to a file that the
%% C program build/progs/phash2_check reads; it must find zero mismatches.
%% The same terms, in many encodings, go to build/progs/canon_check with the
%% bytes term_to_binary(T, [deterministic]) gives (the registry's NameBin).
%% The seed is printed; rerun with PHASH2_SEED=<seed> to reproduce a run.
%%
%% The C checkers are found through $SWARM_ROOT, else by walking up from
%% this module's directory to the project root (Makefile and c_src/); they
%% are built with `make progs` if missing.
-module(phash2_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([edge_terms/0, edge_terms/1,
         random_terms/0, random_terms/1,
         alt_encodings/0, alt_encodings/1,
         canon_terms/0, canon_terms/1]).

-define(RANGE, 4294967295).
-define(RANDOM_TERMS, 20000).
-define(ALT_TERMS, 10000).
-define(CANON_TERMS, 20000).

-spec suite() -> list().
suite() -> [{timetrap, {minutes, 10}}].

-spec all() -> [atom()].
all() -> [edge_terms, random_terms, alt_encodings, canon_terms].

-spec init_per_suite(list()) -> list().
init_per_suite(Config) ->
    Root = find_root(),
    [Checker, Canon] = [prog(Root, P) || P <- ["phash2_check", "canon_check"]],
    [{checker, Checker}, {canon_checker, Canon} | Config].

prog(Root, Name) ->
    Exe = filename:join([Root, "build", "progs", Name]),
    case filelib:is_regular(Exe) of
        true -> ok;
        false -> os:cmd("make -C '" ++ Root ++ "' build/progs/" ++ Name)
    end,
    ?assert(filelib:is_regular(Exe), "build/progs/" ++ Name ++ " is missing: run `make progs`"),
    Exe.

-spec end_per_suite(list()) -> ok.
end_per_suite(_Config) -> ok.

%% ---------------------------------------------------------------------------
%% Cases
%% ---------------------------------------------------------------------------

-spec edge_terms() -> list().
edge_terms() -> [{doc, "Hand-picked boundary terms hash in C exactly as in the BEAM."}].
-spec edge_terms(list()) -> ok.
edge_terms(Config) ->
    seed(),
    Terms = edge_cases(),
    check(Config, "edge", [{T, term_to_binary(T)} || T <- Terms]).

-spec random_terms() -> list().
random_terms() -> [{doc, "20,000 random nested terms of every type hash in C as in the BEAM."}].
-spec random_terms(list()) -> ok.
random_terms(Config) ->
    seed(),
    Terms = [gen_term(rand:uniform(6) - 1) || _ <- lists:seq(1, ?RANDOM_TERMS)],
    check(Config, "random", [{T, term_to_binary(T)} || T <- Terms]).

-spec alt_encodings() -> list().
alt_encodings() ->
    [{doc, "Non-canonical encodings of random terms (old tags, padded bignums, "
           "split lists, shuffled maps) hash as the term they decode to."}].
-spec alt_encodings(list()) -> ok.
alt_encodings(Config) ->
    seed(),
    %% The hashes are computed from binary_to_term(Alt), so an encoding only
    %% has to decode; one that does not (a bug in enc/1) falls back to
    %% term_to_binary and is counted.
    Tagged = lists:map(
               fun(_) ->
                       T = gen_term(rand:uniform(5) - 1),
                       Alt = iolist_to_binary([131, enc(T)]),
                       case catch binary_to_term(Alt) of
                           {'EXIT', _} -> {fallback, {T, term_to_binary(T)}};
                           _ -> {alt, {T, Alt}}
                       end
               end, lists:seq(1, ?ALT_TERMS)),
    Pairs = [P || {_, P} <- Tagged],
    Fallbacks = length([x || {fallback, _} <- Tagged]),
    ct:pal("~p of ~p alternative encodings did not decode and fell back to term_to_binary",
           [Fallbacks, ?ALT_TERMS]),
    check(Config, "alt", Pairs).

-spec canon_terms() -> list().
canon_terms() ->
    [{doc, "The edge terms and 20,000 random terms, in the BEAM's encoding or another "
           "valid one, and again as ei re-encodes them, are made canonical in C exactly "
           "as term_to_binary(T, [deterministic]) (OTP 25 atoms, and OTP 26 atoms as "
           "minor_version 2); terms holding maps or funs are refused."}].
-spec canon_terms(list()) -> ok.
canon_terms(Config) ->
    seed(),
    %% Nested at most 3 deep (deeper terms take the generator a minute).
    Random = [gen_term(rand:uniform(4) - 1) || _ <- lists:seq(1, ?CANON_TERMS)],
    Records = [canon_record(T) || T <- edge_cases() ++ Random],
    Names = length([x || {0, _} <- Records]),
    ct:pal("~b names, ~b terms with maps or funs", [Names, length(Records) - Names]),
    ?assert(Names >= ?CANON_TERMS div 2),
    File = filename:join(?config(priv_dir, Config), "canon.bin"),
    ok = file:write_file(File, [R || {_, R} <- Records]),
    {Status, Out} = run(?config(canon_checker, Config), [File]),
    ct:pal("canon: ~ts", [Out]),
    Expect = io_lib:format("checked ~b terms, 0 mismatches", [length(Records)]),
    ?assertEqual(0, Status, Out),
    ?assertNotEqual(nomatch, string:find(Out, lists:flatten(Expect)), Out),
    ok.

%% {Expect, Record}: Expect 0 with the canonical bytes for a name, 2 for a
%% term the C side must refuse. The input is term_to_binary(T) or one of
%% enc/1's alternative encodings; the atom mode is picked at random.
canon_record(T) ->
    Utf8 = rand:uniform(2) - 1,
    In = case rand:uniform(2) of
             1 -> term_to_binary(T);
             2 -> Alt = iolist_to_binary([131, enc(T)]),
                  case catch binary_to_term(Alt) of
                      {'EXIT', _} -> term_to_binary(T);
                      _ -> Alt
                  end
         end,
    {Expect, Want} = case has_map_or_fun(T) of
                         true -> {2, <<>>};
                         false -> {0, term_to_binary(zero_floats(T),
                                                     [deterministic, {minor_version, 1 + Utf8}])}
                     end,
    {Expect, [<<(byte_size(In)):32>>, In, Utf8, Expect, <<(byte_size(Want)):32>>, Want]}.

has_map_or_fun(M) when is_map(M) -> true;
has_map_or_fun(F) when is_function(F) -> true;
has_map_or_fun(T) when is_tuple(T) -> has_map_or_fun(tuple_to_list(T));
has_map_or_fun([H | T]) -> has_map_or_fun(H) orelse has_map_or_fun(T);
has_map_or_fun(_) -> false.

%% As swarm:encode/1: -0.0 is written as 0.0.
zero_floats(F) when is_float(F), F == 0 -> 0.0;
zero_floats(T) when is_tuple(T) -> list_to_tuple(zero_floats(tuple_to_list(T)));
zero_floats([H | T]) -> [zero_floats(H) | zero_floats(T)];
zero_floats(X) -> X.

%% ---------------------------------------------------------------------------
%% Running the checker
%% ---------------------------------------------------------------------------

check(Config, Name, Pairs) ->
    File = filename:join(?config(priv_dir, Config), "phash2_" ++ Name ++ ".bin"),
    Records = [begin
                   T2 = binary_to_term(Bin),
                   [<<(byte_size(Bin)):32>>, Bin,
                    <<(erlang:phash2(T2)):32, (erlang:phash2(T2, ?RANGE)):32>>]
               end || {_T, Bin} <- Pairs],
    ok = file:write_file(File, Records),
    {Status, Out} = run(?config(checker, Config), [File]),
    ct:pal("~s: ~s", [Name, Out]),
    Expect = io_lib:format("checked ~b terms, 0 mismatches", [length(Pairs)]),
    ?assertEqual(0, Status, Out),
    ?assertNotEqual(nomatch, string:find(Out, lists:flatten(Expect)), Out),
    ok.

run(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, unicode:characters_to_list(iolist_to_binary(Acc))}
    after 300000 -> error(checker_timeout)
    end.

%% The project root: $SWARM_ROOT, else the first ancestor of this module's
%% directory holding a Makefile and c_src/.
-spec find_root() -> string().
find_root() ->
    case os:getenv("SWARM_ROOT") of
        Root when is_list(Root), Root =/= "" -> Root;
        _ -> walk_up(filename:dirname(filename:absname(code:which(?MODULE))))
    end.

walk_up(Dir) ->
    case filelib:is_regular(filename:join(Dir, "Makefile")) andalso
        filelib:is_dir(filename:join(Dir, "c_src")) of
        true -> Dir;
        false ->
            case filename:dirname(Dir) of
                Dir -> error({project_root_not_found, "set SWARM_ROOT"});
                Up -> walk_up(Up)
            end
    end.

%% Seeds the process's generator from $PHASH2_SEED or the clock; prints it.
-spec seed() -> integer().
seed() ->
    Seed = case os:getenv("PHASH2_SEED") of
               S when is_list(S), S =/= "" -> list_to_integer(S);
               _ -> erlang:system_time(microsecond)
           end,
    _ = rand:seed(exsss, {Seed, Seed bxor 16#5eed, 7}),
    put(atom_pool, list_to_tuple([make_atom() || _ <- lists:seq(1, 3000)])),
    put(export_pool, list_to_tuple([erlang:make_fun(gen_atom(), gen_atom(), rand:uniform(256) - 1)
                                    || _ <- lists:seq(1, 200)])),
    ct:pal("seed: ~b (rerun with PHASH2_SEED=~b)", [Seed, Seed]),
    io:format("phash2 seed: ~b~n", [Seed]),
    Seed.

%% ---------------------------------------------------------------------------
%% Edge cases
%% ---------------------------------------------------------------------------

edge_cases() ->
    Ints = lists:append(
             [[S * ((1 bsl B) + D) || S <- [1, -1], D <- [-2, -1, 0, 1]]
              || B <- [7, 8, 15, 16, 26, 27, 28, 31, 32, 33, 58, 59, 60, 63, 64, 65,
                       127, 128, 1000]]),
    NegZero = binary_to_term(<<131, 70, 128, 0:56>>),
    Floats = [0.0, NegZero, 1.0, -1.0, 0.5, 5.0e-324, -5.0e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, -1.7976931348623157e308, 3.141592653589793,
              {NegZero}, [NegZero], #{NegZero => NegZero}],
    Atoms = ['', a, foo, 'Foo', 'héllo', 'ÿ', '日本語', 'a@b', 'n1@127.0.0.1',
             list_to_atom(lists:duplicate(255, $x)),
             list_to_atom(lists:duplicate(255, 16#e9)),
             list_to_atom(lists:duplicate(255, 16#10348)),
             list_to_atom([16#c2, 16#80, 16#c3]), list_to_atom([0])],
    Bins = [<<>>, <<0>>, <<"a">>, <<"abcdefghijk">>, <<"abcdefghijkl">>,
            <<"abcdefghijklm">>, binary:copy(<<"x">>, 1000), binary:copy(<<255>>, 70000)]
        ++ [<<B:N>> || N <- lists:seq(1, 15), B <- [0, 1, (1 bsl N) - 1]]
        ++ [begin <<_:3, R/bits>> = <<"hello world">>, R end],
    Lists = [[], [[]], [[], []], "a", "ab", "abc", "abcd", "abcde", [1, 2, 3, 4, 5, 6, 7, 8, 9],
             [256], [255, 256, 255], [-1, 0, 1], [a | b], [1 | 2], [1, 2 | 3], [[] | []],
             [a, 1, 2, b, 3, 4, 5, 6, c], lists:seq(0, 255), lists:duplicate(70000, 7),
             lists:seq(1, 70000), [[1, 2], [3, 4]], "日本", [1.0, 2.0], [{}, #{}]],
    Tuples = [{}, {a}, {[]}, {{}}, {a, b}, list_to_tuple(lists:seq(1, 255)),
              list_to_tuple(lists:seq(1, 256)), list_to_tuple(lists:seq(1, 1000))],
    Maps = [#{}, #{a => 1}, #{1 => a}, #{[] => []}, #{a => #{b => #{c => []}}},
            maps:from_list([{I, I} || I <- lists:seq(1, 32)]),
            maps:from_list([{I, I} || I <- lists:seq(1, 33)]),
            maps:from_list([{I, {I}} || I <- lists:seq(1, 1000)]),
            maps:from_list([{integer_to_binary(I), #{I => [I]}} || I <- lists:seq(1, 100)])],
    Ids = [self(), make_ref(), hd(erlang:ports()), list_to_pid("<0.32767.8191>"),
           remote_pid('fake@host', 0, 0, 0), remote_pid('fake@host', 16#ffffffff, 0, 1),
           remote_pid('日本@host', 12345, 16#ffffffff, 16#ffffffff),
           remote_ref('fake@host', 1, [0]), remote_ref('fake@host', 1, [16#ffffffff]),
           remote_ref('fake@host', 7, [1, 2, 3, 4, 5]),
           remote_port('fake@host', 16#ffffffff, 3), remote_port4('fake@host', 1 bsl 40, 3),
           remote_port4('fake@host', 16#ffffffffffffffff, 3)],
    X = [1, 2, 3],
    Funs = [fun lists:map/2, erlang:make_fun(m, f, 0), erlang:make_fun('日本', 'é', 255),
            fun() -> ok end, fun() -> X end, fun(A) -> {A, X, Ids} end],
    Ints ++ Floats ++ Atoms ++ Bins ++ Lists ++ Tuples ++ Maps ++ Ids ++ Funs
        ++ [list_to_tuple(Ints), Floats, Atoms, Bins, {Lists}, Tuples, Maps, Ids, {Funs}].

%% ---------------------------------------------------------------------------
%% Random terms
%% ---------------------------------------------------------------------------

%% A random term nested at most D deep.
-spec gen_term(non_neg_integer()) -> term().
gen_term(D) when D =< 0 -> scalar();
gen_term(D) ->
    case rand:uniform(100) of
        N when N =< 40 -> scalar();
        N when N =< 55 -> gen_list(D);
        N when N =< 67 -> gen_tuple(D);
        N when N =< 77 -> gen_map(D);
        N when N =< 82 -> gen_improper(D);
        N when N =< 88 -> gen_string();
        N when N =< 92 -> gen_fun(D);
        _ when D >= 2 -> gen_large(D);
        _ -> gen_tuple(D)
    end.

scalar() ->
    case rand:uniform(14) of
        1 -> gen_int();
        2 -> gen_int();
        3 -> gen_int();
        4 -> gen_float();
        5 -> gen_atom();
        6 -> gen_atom();
        7 -> gen_binary();
        8 -> gen_bitstring();
        9 -> [];
        10 -> gen_pid();
        11 -> gen_ref();
        12 -> gen_port();
        13 -> gen_export();
        14 -> {}
    end.

sign() -> case rand:uniform(2) of 1 -> 1; 2 -> -1 end.

pick(L) -> lists:nth(rand:uniform(length(L)), L).

gen_int() ->
    case rand:uniform(9) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(2001) - 1001;
        3 -> sign() * ((1 bsl pick([27, 28, 31, 32, 59, 60, 63, 64, 128, 1000]))
                       + rand:uniform(7) - 4);
        4 -> sign() * rand:uniform(1 bsl 28);
        5 -> sign() * rand:uniform(1 bsl 32);
        6 -> sign() * rand:uniform(1 bsl 64);
        7 -> sign() * binary:decode_unsigned(rand:bytes(rand:uniform(140)));
        8 -> sign() * ((1 bsl 1000) + rand:uniform(1000) - 500);
        9 -> sign() * rand:uniform(1 bsl 60)
    end.

gen_float() ->
    case rand:uniform(8) of
        1 -> 0.0;
        2 -> binary_to_term(<<131, 70, 128, 0:56>>); % -0.0
        3 -> rand:uniform();
        4 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(600) - 300);
        5 -> float(rand:uniform(1000001) - 500001);
        6 -> pick([5.0e-324, -5.0e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   -1.7976931348623157e308]);
        7 -> <<F:64/float>> = <<(rand:uniform(2) - 1):1, (rand:uniform(2047) - 1):11,
                                (rand:uniform(1 bsl 52) - 1):52>>,
             F;
        8 -> -rand:uniform() * 1.0e10
    end.

gen_char(ascii) -> rand:uniform(128) - 1;
gen_char(latin1) -> rand:uniform(256) - 1;
gen_char(bmp) ->
    C = rand:uniform(16#FFFF),
    if C >= 16#D800, C =< 16#DFFF -> C - 16#1000; true -> C end;
gen_char(any) ->
    case rand:uniform(3) of
        1 -> gen_char(latin1);
        2 -> gen_char(bmp);
        3 -> 16#10000 + rand:uniform(16#FFFFF) - 1
    end.

%% Atoms come from a pool made once per seed: the atom table is finite
%% (and never collected), and 20,000 terms would otherwise fill it.
gen_atom() ->
    Pool = get(atom_pool),
    element(rand:uniform(tuple_size(Pool)), Pool).

make_atom() ->
    Len = case rand:uniform(10) of
              1 -> 0;
              2 -> 255;
              3 -> rand:uniform(255);
              _ -> rand:uniform(12)
          end,
    Kind = pick([ascii, ascii, latin1, bmp, any]),
    list_to_atom([gen_char(Kind) || _ <- lists:seq(1, Len)]).

gen_binary() ->
    Len = case rand:uniform(10) of
              1 -> 0;
              N when N =< 5 -> rand:uniform(16);
              N when N =< 8 -> rand:uniform(100);
              9 -> 100 + rand:uniform(2000);
              10 -> 11 + rand:uniform(2)
          end,
    Bin = rand:bytes(Len),
    case rand:uniform(4) of
        1 when Len > 2 -> binary:part(Bin, 1, Len - 2); % a sub-binary
        _ -> Bin
    end.

gen_bitstring() ->
    Bits = rand:uniform(7),
    Bin = rand:bytes(rand:uniform(30) - 1),
    B = <<Bin/binary, (rand:uniform(1 bsl Bits) - 1):Bits>>,
    case rand:uniform(3) of
        1 -> K = rand:uniform(7),
             <<_:K, R/bits>> = <<(rand:uniform(256) - 1), B/bits>>,
             R; % unaligned
        _ -> B
    end.

%% Sizes are kept small where nesting continues, so that terms stay small
%% on average; long lists and large containers hold shallow terms only.
gen_list(D) ->
    case rand:uniform(10) of
        10 -> [case rand:uniform(3) of
                   1 -> rand:uniform(256) - 1;
                   _ -> gen_term(0)
               end || _ <- lists:seq(1, rand:uniform(300))];
        _ -> [case rand:uniform(3) of
                  1 -> rand:uniform(256) - 1; % runs of bytes
                  _ -> gen_term(D - 1)
              end || _ <- lists:seq(1, rand:uniform(7) - 1)]
    end.

gen_string() ->
    case rand:uniform(4) of
        1 -> [gen_char(any) || _ <- lists:seq(1, rand:uniform(20))];
        _ -> [gen_char(latin1) || _ <- lists:seq(1, rand:uniform(60) - 1)]
    end.

gen_improper(D) ->
    Elems = gen_list(D),
    Tail = case scalar() of
               T when is_list(T) -> foo;
               T -> T
           end,
    lists:foldr(fun(E, Acc) -> [E | Acc] end, Tail, [gen_term(D - 1) | Elems]).

gen_tuple(D) ->
    list_to_tuple([gen_term(D - 1) || _ <- lists:seq(1, rand:uniform(7) - 1)]).

gen_map(D) ->
    maps:from_list([{gen_term(D - 1), gen_term(D - 1)}
                    || _ <- lists:seq(1, rand:uniform(9) - 1)]).

gen_large(_D) ->
    case rand:uniform(4) of
        1 -> list_to_tuple([gen_term(0) || _ <- lists:seq(1, 255 + rand:uniform(100))]);
        2 -> maps:from_list([{gen_key(), gen_term(0)} || _ <- lists:seq(1, 32 + rand:uniform(80))]);
        3 -> maps:from_list([{gen_key(), gen_map(1)} || _ <- lists:seq(1, rand:uniform(40))]);
        4 -> [gen_term(0) || _ <- lists:seq(1, rand:uniform(500))]
    end.

gen_key() ->
    case rand:uniform(5) of
        1 -> rand:uniform(1000);
        2 -> gen_atom();
        3 -> gen_binary();
        4 -> {rand:uniform(10), gen_atom()};
        5 -> gen_term(0)
    end.

gen_fun(D) ->
    X = gen_term(D - 1),
    Y = gen_term(D - 1),
    case rand:uniform(5) of
        1 -> fun() -> X end;
        2 -> fun(A) -> {A, X, Y} end;
        3 -> fun() -> ok end;
        4 -> fun(A, B) -> [A, B, Y] end;
        5 -> gen_export()
    end.

%% Exports come from a pool too: every new M:F/A takes a permanent entry in
%% the export table.
gen_export() ->
    case rand:uniform(3) of
        1 -> fun lists:map/2;
        _ -> Pool = get(export_pool),
             element(rand:uniform(tuple_size(Pool)), Pool)
    end.

gen_node() ->
    list_to_atom(pick(["fake", "n1", "swarm_x", "日本"]) ++ "_"
                 ++ integer_to_list(rand:uniform(50)) ++ "@" ++ pick(["host", "127.0.0.1"])).

gen_pid() ->
    case rand:uniform(6) of
        1 -> self();
        2 -> list_to_pid("<0." ++ integer_to_list(rand:uniform(32768) - 1) ++ "."
                         ++ integer_to_list(rand:uniform(8192) - 1) ++ ">");
        _ -> remote_pid(gen_node(), rand:uniform(1 bsl 32) - 1, rand:uniform(1 bsl 32) - 1,
                        rand:uniform(1 bsl 32) - 1)
    end.

gen_ref() ->
    case rand:uniform(4) of
        1 -> make_ref();
        _ -> remote_ref(gen_node(), rand:uniform(1 bsl 32) - 1,
                        [rand:uniform(1 bsl 32) - 1 || _ <- lists:seq(1, rand:uniform(5))])
    end.

gen_port() ->
    case rand:uniform(5) of
        1 -> hd(erlang:ports());
        2 -> remote_port4(gen_node(), rand:uniform(1 bsl 64) - 1, rand:uniform(1 bsl 32) - 1);
        _ -> remote_port(gen_node(), rand:uniform(1 bsl 32) - 1, rand:uniform(1 bsl 32) - 1)
    end.

atom_ext(A) ->
    B = atom_to_binary(A, utf8),
    <<119, (byte_size(B)):8, B/binary>>.

remote_pid(Node, Id, Serial, Creation) ->
    binary_to_term(<<131, 88, (atom_ext(Node))/binary, Id:32, Serial:32, Creation:32>>).

remote_ref(Node, Creation, Words) ->
    binary_to_term(<<131, 90, (length(Words)):16, (atom_ext(Node))/binary, Creation:32,
                     << <<W:32>> || W <- Words >>/binary>>).

remote_port(Node, Id, Creation) ->
    binary_to_term(<<131, 89, (atom_ext(Node))/binary, Id:32, Creation:32>>).

remote_port4(Node, Id, Creation) ->
    binary_to_term(<<131, 120, (atom_ext(Node))/binary, Id:64, Creation:32>>).

%% ---------------------------------------------------------------------------
%% Alternative (valid, non-canonical) encodings; iodata without the 131.
%% ---------------------------------------------------------------------------

enc(I) when is_integer(I) -> enc_int(I);
enc(F) when is_float(F) ->
    case rand:uniform(3) of
        1 -> S = iolist_to_binary(io_lib:format("~.20e", [F])),
             <<99, S/binary, 0:((31 - byte_size(S)) * 8)>>;
        _ -> <<70, F:64/float>>
    end;
enc(A) when is_atom(A) -> enc_atom(A);
enc(L) when is_list(L) -> enc_list(L);
enc(T) when is_tuple(T) ->
    N = tuple_size(T),
    Hdr = case N < 256 andalso rand:uniform(2) =:= 1 of
              true -> <<104, N>>;
              false -> <<105, N:32>>
          end,
    [Hdr | [enc(E) || E <- tuple_to_list(T)]];
enc(M) when is_map(M) ->
    Pairs = [P || {_, P} <- lists:sort([{rand:uniform(), P} || P <- maps:to_list(M)])],
    [<<116, (map_size(M)):32>> | [[enc(K), enc(V)] || {K, V} <- Pairs]];
enc(B) when is_binary(B) ->
    case byte_size(B) > 0 andalso rand:uniform(2) =:= 1 of
        true -> <<77, (byte_size(B)):32, 8, B/binary>>;
        false -> <<109, (byte_size(B)):32, B/binary>>
    end;
enc(B) when is_bitstring(B) ->
    Bits = bit_size(B) rem 8,
    Pad = 8 - Bits,
    <<77, (byte_size(B)):32, Bits, B/bits, (rand:uniform(1 bsl Pad) - 1):Pad>>;
enc(P) when is_pid(P) ->
    <<131, 88, Rest/binary>> = term_to_binary(P),
    {Node, <<Id:32, Ser:32, Cr:32>>} = split_atom(Rest),
    case Cr < 4 andalso rand:uniform(2) =:= 1 of
        true -> [<<103>>, enc_atom(Node), <<Id:32, Ser:32, Cr:8>>];
        false -> [<<88>>, enc_atom(Node), <<Id:32, Ser:32, Cr:32>>]
    end;
enc(P) when is_port(P) ->
    case term_to_binary(P) of
        <<131, 89, Rest/binary>> ->
            {Node, <<Id:32, Cr:32>>} = split_atom(Rest),
            case rand:uniform(3) of
                1 when Cr < 4 -> [<<102>>, enc_atom(Node), <<Id:32, Cr:8>>];
                2 -> [<<120>>, enc_atom(Node), <<Id:64, Cr:32>>];
                _ -> [<<89>>, enc_atom(Node), <<Id:32, Cr:32>>]
            end;
        <<131, Rest/binary>> -> Rest
    end;
enc(R) when is_reference(R) ->
    case term_to_binary(R) of
        <<131, 90, Len:16, Rest/binary>> ->
            {Node, <<Cr:32, Words/binary>>} = split_atom(Rest),
            case Cr < 4 andalso rand:uniform(2) =:= 1 of
                true -> [<<114, Len:16>>, enc_atom(Node), <<Cr:8>>, Words];
                false -> [<<90, Len:16>>, enc_atom(Node), <<Cr:32>>, Words]
            end;
        <<131, Rest/binary>> -> Rest
    end;
enc(F) when is_function(F) ->
    <<131, Rest/binary>> = term_to_binary(F),
    Rest.

enc_int(I) when I >= 0, I =< 255 ->
    case rand:uniform(3) of
        1 -> <<97, I>>;
        2 -> <<98, I:32>>;
        3 -> enc_big(I)
    end;
enc_int(I) when I >= -(1 bsl 31), I < (1 bsl 31) ->
    case rand:uniform(2) of
        1 -> <<98, I:32/signed>>;
        2 -> enc_big(I)
    end;
enc_int(I) -> enc_big(I).

enc_big(I) ->
    Sign = if I < 0 -> 1; I =:= 0 -> rand:uniform(2) - 1; true -> 0 end,
    Mag = binary:encode_unsigned(abs(I), little),
    Digits = <<Mag/binary, 0:((rand:uniform(4) - 1) * 8)>>,
    N = byte_size(Digits),
    case N =< 255 andalso rand:uniform(2) =:= 1 of
        true -> <<110, N, Sign, Digits/binary>>;
        false -> <<111, N:32, Sign, Digits/binary>>
    end.

enc_atom(A) ->
    Chars = atom_to_list(A),
    Utf8 = atom_to_binary(A, utf8),
    U = byte_size(Utf8),
    Latin1 = lists:all(fun(C) -> C < 256 end, Chars),
    Opts = [<<118, U:16, Utf8/binary>>]
        ++ [<<119, U, Utf8/binary>> || U < 256]
        ++ [<<100, (length(Chars)):16, (list_to_binary(Chars))/binary>> || Latin1]
        ++ [<<115, (length(Chars)), (list_to_binary(Chars))/binary>> || Latin1],
    pick(Opts).

%% Splits the atom encoding at the head of Bin off the rest.
split_atom(<<100, L:16, A:L/binary, Rest/binary>>) -> {binary_to_atom(A, latin1), Rest};
split_atom(<<115, L, A:L/binary, Rest/binary>>) -> {binary_to_atom(A, latin1), Rest};
split_atom(<<118, L:16, A:L/binary, Rest/binary>>) -> {binary_to_atom(A, utf8), Rest};
split_atom(<<119, L, A:L/binary, Rest/binary>>) -> {binary_to_atom(A, utf8), Rest}.

enc_list(L) ->
    {Elems, Tail} = split_list(L, []),
    enc_cells(Elems, Tail).

split_list([H | T], Acc) -> split_list(T, [H | Acc]);
split_list(Tail, Acc) -> {lists:reverse(Acc), Tail}.

%% A list as LIST_EXT pieces chained through their tails (a STRING_EXT or a
%% LIST_EXT may continue the list), sometimes with empty LIST_EXTs.
enc_cells([], []) ->
    case rand:uniform(4) of
        1 -> <<107, 0:16>>;
        2 -> [<<108, 0:32>>, <<106>>];
        _ -> <<106>>
    end;
enc_cells([], Tail) -> enc(Tail);
enc_cells(Elems, Tail) ->
    Bytes = lists:all(fun(E) -> is_integer(E) andalso E >= 0 andalso E =< 255 end, Elems),
    case Tail =:= [] andalso Bytes andalso length(Elems) < 65536 andalso rand:uniform(2) =:= 1 of
        true -> [<<107, (length(Elems)):16>>, list_to_binary(Elems)];
        false ->
            K = rand:uniform(length(Elems)),
            {Chunk, Rest} = lists:split(K, Elems),
            Empty = case rand:uniform(8) of 1 -> <<108, 0:32>>; _ -> <<>> end,
            [Empty, <<108, K:32>>, [enc(E) || E <- Chunk], enc_cells(Rest, Tail)]
    end.
