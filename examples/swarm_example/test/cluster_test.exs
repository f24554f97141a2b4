# The example on a cluster: this node and three peers (OTP's :peer) on
# 127.0.0.1, each running the application. Distribution is started here if
# the test node has no name.
defmodule SwarmExample.ClusterTest do
  use ExUnit.Case, async: false

  import SwarmExample.Eventually

  @moduletag timeout: 120_000
  @peers 3
  @workers 24

  setup_all do
    ensure_distributed()
    :ok
  end

  setup do
    peers = Enum.map(1..@peers, &start_peer/1)
    tag = System.unique_integer([:positive])

    on_exit(fn ->
      kill_workers(tag)
      Enum.each(peers, fn {pid, _node} -> stop_peer(pid) end)
    end)

    nodes = [node() | Enum.map(peers, &elem(&1, 1))]

    eventually("every node's ring to hold the #{length(nodes)} nodes", fn ->
      Enum.all?(nodes, &(Enum.sort(rpc(&1, Swarm, :info, []).ring) == Enum.sort(nodes)))
    end)

    {:ok, peers: peers, nodes: nodes, tag: tag}
  end

  test "workers spread over the nodes; every node finds and calls each", ctx do
    names = start_workers(ctx.tag, ctx.nodes)
    where = for name <- names, into: %{}, do: {name, node(Swarm.whereis_name(name))}
    assert map_size(where) == @workers
    assert where |> Map.values() |> Enum.uniq() |> length() >= 2

    for n <- ctx.nodes, name <- names do
      assert rpc(n, SwarmExample, :node_of, [name]) == where[name]
      assert rpc(n, Swarm, :whereis_name, [name]) == Swarm.whereis_name(name)
    end

    for {n, name} <- Enum.zip(Stream.cycle(ctx.nodes), names) do
      assert rpc(n, SwarmExample, :incr, [name]) == 1
    end

    # Each worker runs under the supervisor of its node.
    for {name, n} <- where do
      children = rpc(n, DynamicSupervisor, :which_children, [SwarmExample.WorkerSupervisor])
      assert Enum.any?(children, fn {_, pid, _, _} -> pid == Swarm.whereis_name(name) end)
    end
  end

  test "a peer stopped gracefully hands its workers off, with their counts", ctx do
    names = start_workers(ctx.tag, ctx.nodes)

    counts =
      for {name, i} <- Enum.with_index(names, 1), into: %{} do
        for _ <- 1..i, do: SwarmExample.incr(name)
        {name, i}
      end

    {pid, gone} = busiest_peer(ctx.peers, names)
    moved = for name <- names, node(Swarm.whereis_name(name)) == gone, do: name
    assert moved != []
    stop_peer(pid)
    refute gone in Node.list()
    survivors = ctx.nodes -- [gone]

    for name <- moved do
      eventually("#{inspect(name)} to run on a survivor", fn ->
        pid = Swarm.whereis_name(name)
        is_pid(pid) and node(pid) in survivors
      end)
    end

    # The count reaches a moved worker in a cast ({:swarm, :end_handoff, count})
    # that our calls may overtake.
    for name <- names do
      eventually("#{inspect(name)} to have its count", fn ->
        SwarmExample.count(name) == counts[name]
      end)

      assert SwarmExample.node_of(name) in survivors
    end
  end

  test "a node that joins takes over its names' workers, with their counts", ctx do
    # 48 names: the joining node owns none of them with odds 0.8^48.
    names = start_workers(ctx.tag, ctx.nodes, 48)

    counts =
      for {name, i} <- Enum.with_index(names, 1), into: %{} do
        n = rem(i, 5) + 1
        for _ <- 1..n, do: SwarmExample.incr(name)
        {name, n}
      end

    failed_before = handoffs_failed(ctx.nodes)
    {pid, new} = start_peer(@peers + 1)

    on_exit(fn ->
      kill_workers(ctx.tag)
      stop_peer(pid)
    end)

    nodes = [new | ctx.nodes]

    eventually("every node's ring to hold #{new}", fn ->
      Enum.all?(nodes, &(new in rpc(&1, Swarm, :info, []).ring))
    end)

    eventually("workers to run on #{new}", fn ->
      Enum.any?(names, &(node(Swarm.whereis_name(&1)) == new))
    end)

    for name <- names do
      eventually("#{inspect(name)} to have its count where it runs", fn ->
        SwarmExample.count(name) == counts[name] and
          SwarmExample.node_of(name) == node(Swarm.whereis_name(name))
      end)
    end

    # Every move started on the new node (its supervisor was there in time).
    assert handoffs_failed(ctx.nodes) == failed_before
  end

  test "a peer that halts: its workers start afresh on the others", ctx do
    names = start_workers(ctx.tag, ctx.nodes)
    for name <- names, do: SwarmExample.incr(name)
    {_pid, gone} = busiest_peer(ctx.peers, names)
    moved = for name <- names, node(Swarm.whereis_name(name)) == gone, do: name
    assert moved != []
    # No handoff: the node is gone at once (as a crash or a cut cable).
    rpc_cast(gone, :erlang, :halt, [])
    eventually("#{gone} to go down", fn -> gone not in Node.list() end)
    survivors = ctx.nodes -- [gone]

    for name <- moved do
      eventually("#{inspect(name)} to restart on a survivor", fn ->
        pid = Swarm.whereis_name(name)
        is_pid(pid) and node(pid) in survivors
      end)

      assert SwarmExample.count(name) == 0
    end

    for name <- names -- moved, do: assert(SwarmExample.count(name) == 1)
  end

  test "the group spans the nodes: members, publish and multi_call from any node", ctx do
    names = start_workers(ctx.tag, ctx.nodes)
    group = SwarmExample.WorkerSupervisor.group()
    pids = Enum.map(names, &Swarm.whereis_name/1)

    for n <- ctx.nodes do
      eventually("#{n} to list every worker in the group", fn ->
        members = rpc(n, Swarm, :members, [group])
        Enum.all?(pids, &(&1 in members))
      end)
    end

    [_, from | _] = ctx.nodes
    assert rpc(from, SwarmExample, :publish, [{:hello, ctx.tag}]) == :ok

    for name <- names do
      eventually("#{inspect(name)} to get the publish", fn ->
        {:hello, ctx.tag} in GenServer.call(SwarmExample.via(name), :notes)
      end)
    end

    replies = rpc(List.last(ctx.nodes), SwarmExample, :roll_call, [])
    for name <- names, do: assert({name, node(Swarm.whereis_name(name))} in replies)
  end

  # Starts the workers from the nodes in turn; each runs where the ring says.
  defp start_workers(tag, nodes, count \\ @workers) do
    names = for i <- 1..count, do: {:cluster, tag, i}

    for {n, name} <- Enum.zip(Stream.cycle(nodes), names) do
      assert {:ok, pid} = rpc(n, SwarmExample, :start_worker, [name])
      assert is_pid(pid)
    end

    for n <- nodes, name <- names do
      eventually("#{n} to see #{inspect(name)}", fn ->
        is_pid(rpc(n, Swarm, :whereis_name, [name]))
      end)
    end

    names
  end

  # Handoffs whose start failed at the new owner, counted at the old home.
  defp handoffs_failed(nodes) do
    Enum.sum(for n <- nodes, do: rpc(n, Swarm, :info, []).counters[:handoffs_failed])
  end

  # The peer running the most of the workers.
  defp busiest_peer(peers, names) do
    Enum.max_by(peers, fn {_pid, n} ->
      Enum.count(names, &(node(Swarm.whereis_name(&1)) == n))
    end)
  end

  # The test's workers go before the peers, so stopping a peer hands
  # nothing off.
  defp kill_workers(tag) do
    pids = for {{:cluster, ^tag, _}, pid} <- Swarm.registered(), do: pid
    Enum.each(pids, &Process.exit(&1, :kill))

    eventually("the test's workers to go", fn ->
      not Enum.any?(Swarm.registered(), &match?({{:cluster, ^tag, _}, _}, &1))
    end)
  end

  defp ensure_distributed do
    unless Node.alive?() do
      {_, 0} = System.cmd("epmd", ["-daemon"])
      {:ok, _} = Node.start(:"swarm_example_test_#{System.pid()}@127.0.0.1", :longnames)
    end
  end

  # A peer on this node's host with this node's cookie and code paths (the
  # example's and its deps' ebin, Elixir's), running the application. Its
  # log: warnings and errors. Without OTP's guard against overlapping
  # partitions: the tests stop nodes on purpose, and the guard would cut
  # survivors that see the node go at different moments from each other.
  defp start_peer(i) do
    [_, host] = node() |> Atom.to_string() |> String.split("@")
    otp = :code.lib_dir()
    paths = for p <- :code.get_path(), not List.starts_with?(p, otp), do: p

    args = [
      ~c"-setcookie",
      Atom.to_charlist(Node.get_cookie()),
      ~c"-kernel",
      ~c"logger_level",
      ~c"warning",
      ~c"-kernel",
      ~c"prevent_overlapping_partitions",
      ~c"false",
      ~c"-pa" | paths
    ]

    name = :"swarm_example_#{i}_#{System.unique_integer([:positive])}"
    # shutdown: :peer.stop/1 calls init:stop() there and waits up to 30 s.
    {:ok, pid, node} =
      :peer.start(%{name: name, host: String.to_charlist(host), args: args, shutdown: 30_000})

    {:ok, _} = rpc(node, Application, :ensure_all_started, [:swarm_example])
    {pid, node}
  end

  defp stop_peer(pid) do
    if Process.alive?(pid), do: :peer.stop(pid)
  end

  defp rpc(node, m, f, a), do: :erpc.call(node, m, f, a, 30_000)
  defp rpc_cast(node, m, f, a), do: :erpc.cast(node, m, f, a)
end
