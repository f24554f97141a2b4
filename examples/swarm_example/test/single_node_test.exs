# The example on one node: `mix test` on a node with or without a name.
defmodule SwarmExample.SingleNodeTest do
  use ExUnit.Case, async: false

  import SwarmExample.Eventually

  alias SwarmExample.{Worker, WorkerSupervisor}

  setup do
    # Each test's own names: no test sees another's workers.
    tag = System.unique_integer([:positive])
    on_exit(fn -> stop_workers(tag) end)
    {:ok, tag: tag}
  end

  test "a worker registered with register_name/4 runs here, under the supervisor", %{tag: tag} do
    name = {:single, tag, 1}
    assert {:ok, pid} = SwarmExample.start_worker(name)
    assert node(pid) == node()
    assert Swarm.whereis_name(name) == pid
    assert {name, pid} in Swarm.registered()

    assert {:undefined, pid, :worker, [Worker]} in DynamicSupervisor.which_children(
             WorkerSupervisor
           )

    assert SwarmExample.node_of(name) == node()
  end

  test "swarm's modules carry their docs (h Swarm.register_name in iex)" do
    assert {:docs_v1, _, :erlang, _format, %{"en" => moduledoc}, _, docs} = Code.fetch_docs(Swarm)
    assert moduledoc not in ["", []]

    assert [doc] =
             for({{:function, :register_name, 5}, _, _, %{"en" => d}, _} <- docs, do: d)

    assert doc not in ["", []]
  end

  test "calls and casts through {:via, :swarm, name} reach the worker", %{tag: tag} do
    name = {:single, tag, 2}
    {:ok, _pid} = SwarmExample.start_worker(name)
    assert SwarmExample.incr(name) == 1
    assert SwarmExample.incr(name) == 2
    assert SwarmExample.count(name) == 2
    send(Swarm.whereis_name(name), {:note, :direct})
    GenServer.cast(SwarmExample.via(name), {:swarm, :end_handoff, 40})
    assert SwarmExample.incr(name) == 41
    assert GenServer.call(SwarmExample.via(name), :notes) == [:direct]
  end

  test "a name runs once: a second register_name/4 answers the running pid", %{tag: tag} do
    name = {:single, tag, 3}
    {:ok, pid} = SwarmExample.start_worker(name)
    assert SwarmExample.start_worker(name) == {:error, {:already_registered, pid}}

    assert Swarm.whereis_or_register_name(name, WorkerSupervisor, :start_worker, [name]) ==
             {:ok, pid}

    assert length(
             for {:undefined, ^pid, _, _} <- DynamicSupervisor.which_children(WorkerSupervisor),
                 do: pid
           ) == 1
  end

  test "a worker that exits loses its name; registering it again starts a fresh one", %{tag: tag} do
    name = {:single, tag, 4}
    {:ok, pid} = SwarmExample.start_worker(name)
    assert SwarmExample.incr(name) == 1
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    assert_receive {:DOWN, ^ref, :process, ^pid, :killed}, 5_000
    # :temporary in the supervisor and swarm's default restart: :temporary.
    eventually("the name of the killed worker to go", fn ->
      Swarm.whereis_name(name) == :undefined
    end)

    {:ok, pid2} = SwarmExample.start_worker(name)
    assert pid2 != pid
    assert SwarmExample.count(name) == 0
  end

  test "{:swarm, :die} stops a worker and removes its name", %{tag: tag} do
    name = {:single, tag, 5}
    {:ok, pid} = SwarmExample.start_worker(name)
    ref = Process.monitor(pid)
    send(pid, {:swarm, :die})
    assert_receive {:DOWN, ^ref, :process, ^pid, :shutdown}, 5_000

    eventually("the name of the stopped worker to go", fn ->
      Swarm.whereis_name(name) == :undefined
    end)
  end

  test "a GenServer started with a via name is registered (register_name/2) and unregistered", %{
    tag: tag
  } do
    name = {:single, tag, :via}
    {:ok, pid} = GenServer.start(Worker, name, name: SwarmExample.via(name))
    assert Swarm.whereis_name(name) == pid
    assert SwarmExample.incr(name) == 1

    assert GenServer.start(Worker, name, name: SwarmExample.via(name)) ==
             {:error, {:already_started, pid}}

    assert Swarm.unregister_name(name) == :ok
    assert Swarm.whereis_name(name) == :undefined
    assert Process.alive?(pid)
    GenServer.stop(pid)
  end

  test "workers are in the group: publish reaches each, multi_call gathers their replies", %{
    tag: tag
  } do
    names = for i <- 1..3, do: {:single, tag, :group, i}
    pids = for name <- names, do: elem(SwarmExample.start_worker(name), 1)
    members = Swarm.members(WorkerSupervisor.group())
    assert Enum.all?(pids, &(&1 in members))
    assert SwarmExample.publish({:hello, tag}) == :ok

    for name <- names do
      eventually("#{inspect(name)} to get the publish", fn ->
        GenServer.call(SwarmExample.via(name), :notes) == [{:hello, tag}]
      end)
    end

    replies = SwarmExample.roll_call()
    for name <- names, do: assert({name, node()} in replies)
    # A member that leaves gets no more publishes and is not called.
    [first | _] = pids
    assert Swarm.leave(WorkerSupervisor.group(), first) == :ok
    refute first in Swarm.members(WorkerSupervisor.group())
    refute {hd(names), node()} in SwarmExample.roll_call()
  end

  # Stops the workers a test started (their names carry its tag).
  defp stop_workers(tag) do
    for {name, pid} <- Swarm.registered(),
        match?({:single, ^tag, _}, name) or match?({:single, ^tag, _, _}, name),
        do: stop(pid)
  end

  defp stop(pid) do
    ref = Process.monitor(pid)
    Process.exit(pid, :shutdown)

    receive do
      {:DOWN, ^ref, :process, _, _} -> :ok
    after
      5_000 -> raise "#{inspect(pid)} did not stop"
    end
  end
end
