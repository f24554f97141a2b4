defmodule SwarmExample.Application do
  @moduledoc """
  Starts the supervisor of this node's workers. Every node running the
  application has one: swarm starts a worker on the node its name hashes to,
  through `SwarmExample.WorkerSupervisor.start_worker/1` there.
  """
  use Application

  @impl true
  def start(_type, _args) do
    # Started again on a running node (after prep_stop/1 took the node out
    # of the placement): workers are placed here again.
    if Swarm.info().placement != :in, do: :ok = Swarm.rejoin()
    children = [SwarmExample.WorkerSupervisor]
    Supervisor.start_link(children, strategy: :one_for_one, name: SwarmExample.Supervisor)
  end

  # Applications stop in reverse start order: this one, with its workers,
  # before swarm. Handing the workers off first moves each to its new owner
  # with its state ({:swarm, :begin_handoff}); without it, the supervisor
  # would stop them and the other nodes would start them afresh.
  @impl true
  def prep_stop(state) do
    _ = Swarm.handoff()
    state
  end
end
