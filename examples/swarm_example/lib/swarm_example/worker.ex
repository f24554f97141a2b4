defmodule SwarmExample.Worker do
  @moduledoc """
  A named counter placed by swarm. Its state is `%{name:, count:, notes:}`:
  `count` is what it hands off when swarm moves it, `notes` what group
  publishes it received (not handed off).
  """
  use GenServer, restart: :temporary

  def start_link(name), do: GenServer.start_link(__MODULE__, name)

  @impl true
  def init(name), do: {:ok, %{name: name, count: 0, notes: []}}

  @impl true
  def handle_call(:incr, _from, s), do: {:reply, s.count + 1, %{s | count: s.count + 1}}
  def handle_call(:get, _from, s), do: {:reply, s.count, s}
  def handle_call(:where, _from, s), do: {:reply, {s.name, node()}, s}
  def handle_call(:notes, _from, s), do: {:reply, Enum.reverse(s.notes), s}

  # Swarm moves this process to another node (one joined, or this one
  # stops): the new process on the name's owner starts fresh and is cast
  # {:swarm, :end_handoff, count}.
  def handle_call({:swarm, :begin_handoff}, _from, s), do: {:reply, {:resume, s.count}, s}

  @impl true
  def handle_cast({:swarm, :end_handoff, count}, s), do: {:noreply, %{s | count: count}}

  # After a partition healed, the copy of this name that stays gets the
  # state of the one that goes: keep the larger count.
  def handle_cast({:swarm, :resolve_conflict, count}, s),
    do: {:noreply, %{s | count: max(count, s.count)}}

  @impl true
  def handle_info({:swarm, :die}, s), do: {:stop, :shutdown, s}
  def handle_info({:note, note}, s), do: {:noreply, %{s | notes: [note | s.notes]}}
end
