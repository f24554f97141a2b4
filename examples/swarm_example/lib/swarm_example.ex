defmodule SwarmExample do
  @moduledoc """
  The example's API: workers by name, wherever the cluster runs them.
  """

  alias SwarmExample.WorkerSupervisor

  @doc """
  Starts the worker `name` on the node swarm's ring assigns to it:
  `{:ok, pid}`, or `{:error, {:already_registered, pid}}` if it runs.
  """
  def start_worker(name),
    do: Swarm.register_name(name, WorkerSupervisor, :start_worker, [name])

  @doc "Adds one to the worker's count; returns the new count."
  def incr(name), do: GenServer.call(via(name), :incr)

  @doc "The worker's count."
  def count(name), do: GenServer.call(via(name), :get)

  @doc "The node the worker runs on, as the worker says."
  def node_of(name) do
    {^name, node} = GenServer.call(via(name), :where)
    node
  end

  @doc "Sends `note` to every worker of the group."
  def publish(note), do: Swarm.publish(WorkerSupervisor.group(), {:note, note})

  @doc "`{name, node}` of every worker of the group that answers."
  def roll_call, do: Swarm.multi_call(WorkerSupervisor.group(), :where)

  @doc "The via tuple of a worker: any `GenServer` function takes it."
  def via(name), do: {:via, :swarm, name}
end
