#!/usr/bin/env escript
%% doc_chunks.escript - writes the EEP-48 documentation chunks of swarm's
%% modules (doc/chunks/<Module>.chunk next to ebin), so that `h Swarm.info`
%% in iex and code:get_doc/1 show the @doc texts. Run by `make doc-chunks`
%% (rebar.config's pre_hooks) when a source changed; skips modules whose
%% chunk is newer than their source.
%% Usage: scripts/doc_chunks.escript [LibDir]  (default: $REBAR_BUILD_DIR/lib/swarm,
%% else _build/default/lib/swarm)
main(Args) ->
    Lib = case Args of
              [D] -> D;
              [] -> filename:join(os:getenv("REBAR_BUILD_DIR", "_build/default"), "lib/swarm")
          end,
    Out = filename:join(Lib, "doc"),
    Chunks = filename:join(Out, "chunks"),
    ok = filelib:ensure_dir(filename:join(Chunks, "x")),
    Srcs = [S || S <- filelib:wildcard("erl_src/*.erl"),
                 filelib:last_modified(S) > filelib:last_modified(
                     filename:join(Chunks, filename:basename(S, ".erl") ++ ".chunk"))],
    case Srcs of
        [] -> ok;
        _ ->
            ok = edoc:files(Srcs, [{doclet, edoc_doclet_chunks}, {layout, edoc_layout_chunks},
                                   {dir, Out}, {preprocess, true}, {includes, ["include"]},
                                   {private, true}])
    end.
