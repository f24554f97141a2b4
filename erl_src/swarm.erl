%% @doc swarm: a global, distributed process registry whose registry runs in a
%% C node beside every BEAM node. This module is the Erlang API and the
%% `{via, swarm, Name}' callback module; `Swarm' (module 'Elixir.Swarm') is
%% the same API under Elixir's names.
%%
%% Erlang:
%% ```
%% {ok, Pid} = gen_server:start_link({via, swarm, {worker, 42}}, my_worker, [], []),
%% Reply = gen_server:call({via, swarm, {worker, 42}}, ping),
%% Pid = swarm:whereis_name({worker, 42}).
%% '''
%% Elixir:
%% ```
%% {:ok, pid} = GenServer.start_link(MyWorker, [], name: {:via, :swarm, {:worker, 42}})
%% GenServer.call({:via, :swarm, {:worker, 42}}, :ping)
%% Swarm.whereis_name({:worker, 42})
%% '''
%%
%% Reads (`whereis_name/1', `send/2', `registered/0', and so every call
%% through the via tuple) are local ETS reads. Writes go to the local C node,
%% which has the name's owner decide and replicates the result; they return
%% once this node's replica shows the change.
-module(swarm).
-include("swarm_proto.hrl").

-export([register_name/2, unregister_name/1, whereis_name/1, send/2, registered/0]).

%% @doc Registers `Name' for `Pid' cluster-wide. Returns `yes', or `no' if
%% the name is taken (also when concurrent calls race for it: in a connected
%% cluster exactly one of them gets `yes', and every node agrees on it). The
%% name is removed when `Pid' exits or its node goes down; it is never moved
%% to another node. Any term can be a name, up to 64 KiB encoded (larger
%% names raise `error({name_too_large, Bytes})'). Exits with
%% `{timeout, {swarm, register_name, [Name, Pid]}}' if the local C node does
%% not answer within the `call_timeout' setting (it is restarting).
-spec register_name(term(), pid()) -> yes | no.
register_name(Name, Pid) when is_pid(Pid) ->
    call(reg, Name, [encode(Name), Pid], {register_name, [Name, Pid]}).

%% @doc Removes the registration of `Name' (this one name only, as `global'
%% does; Swarm 3.x removes every name of the same pid). Always `ok', also for
%% an unknown name.
-spec unregister_name(term()) -> ok.
unregister_name(Name) ->
    call(unreg, Name, [encode(Name)], {unregister_name, [Name]}).

%% @doc The pid registered as `Name', or `undefined'. A local read: no
%% message is sent, hit or miss.
-spec whereis_name(term()) -> pid() | undefined.
whereis_name(Name) ->
    try ets:lookup_element(?SW_NAMES, Name, 2)
    catch error:badarg -> undefined
    end.

%% @doc Sends `Msg' to the process registered as `Name' and returns its pid.
%% Exits with `{badarg, {Name, Msg}}' if the name is not registered, like
%% `global:send/2'.
-spec send(term(), term()) -> pid().
send(Name, Msg) ->
    case whereis_name(Name) of
        undefined -> exit({badarg, {Name, Msg}});
        Pid -> Pid ! Msg, Pid
    end.

%% @doc Every registered name with its pid, from the local replica.
-spec registered() -> [{term(), pid()}].
registered() ->
    ets:tab2list(?SW_NAMES).

%% ---------------------------------------------------------------------------

-spec encode(term()) -> binary().
encode(Name) ->
    Bin = term_to_binary(Name, [deterministic]),
    case byte_size(Bin) of
        N when N > ?SW_MAX_NAME_BYTES -> error({name_too_large, N});
        _ -> Bin
    end.

-spec call(reg | unreg, term(), [term()], {atom(), [term()]}) -> term().
call(Op, _Name, Args, {Fun, FunArgs}) ->
    CNode = try persistent_term:get({swarm, cnode})
            catch error:badarg -> exit({noproc, {swarm, Fun, FunArgs}})
            end,
    Ref = erlang:monitor(process, ?SW_AGENT),
    erlang:send({?SW_SERVER, CNode}, list_to_tuple([?SW_TAG, Op, self(), Ref | Args])),
    Timeout = application:get_env(swarm, call_timeout, 5000),
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, process, _, Why} ->
            exit({Why, {swarm, Fun, FunArgs}})
    after Timeout ->
        erlang:demonitor(Ref, [flush]),
        exit({timeout, {swarm, Fun, FunArgs}})
    end.
