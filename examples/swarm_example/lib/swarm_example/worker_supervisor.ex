defmodule SwarmExample.WorkerSupervisor do
  @moduledoc """
  The DynamicSupervisor of this node's workers. Its children are
  `:temporary`: when a worker's node goes down or the ring gives its name to
  another node, swarm starts it again there (its own restart would leave two
  processes for one name).
  """
  use DynamicSupervisor

  @group :workers
  @await_ms 5_000

  def start_link(arg), do: DynamicSupervisor.start_link(__MODULE__, arg, name: __MODULE__)

  @impl true
  def init(_arg), do: DynamicSupervisor.init(strategy: :one_for_one)

  @doc """
  The MFA given to `Swarm.register_name/5`: swarm calls it on the node that
  owns `name`. Starts the worker under this node's supervisor and makes it a
  member of the group `#{inspect(@group)}`; returns `{:ok, pid}` as swarm
  requires, or the error (and no worker runs).
  """
  def start_worker(name) do
    with :ok <- await_started(System.monotonic_time(:millisecond) + @await_ms),
         {:ok, pid} <- DynamicSupervisor.start_child(__MODULE__, {SwarmExample.Worker, name}) do
      case Swarm.join(@group, pid) do
        :ok ->
          {:ok, pid}

        {:error, _} = error ->
          :ok = DynamicSupervisor.terminate_child(__MODULE__, pid)
          error
      end
    end
  end

  @doc "The group every worker joins."
  def group, do: @group

  # swarm's application starts before this one (a dependency), and a node
  # enters swarm's ring as soon as swarm runs: the other nodes may hand
  # workers over to it (or start ones the ring gives it) while this
  # application is still starting. A start waits for this supervisor, up to
  # @await_ms; a handoff that fails would be tried again only seconds later.
  defp await_started(deadline) do
    cond do
      Process.whereis(__MODULE__) ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        {:error, :worker_supervisor_not_started}

      true ->
        Process.sleep(10)
        await_started(deadline)
    end
  end
end
