defmodule SwarmExample.Eventually do
  @moduledoc """
  Bounded polling for the tests: what swarm does on another node (or after
  a process exits) becomes visible here a little later.
  """

  @doc """
  Calls `fun` every 20 ms until it returns a truthy value (returned) or
  `timeout_ms` passed (then fails the test with `what`).
  """
  def eventually(what, fun, timeout_ms \\ 10_000) do
    deadline = System.monotonic_time(:millisecond) + timeout_ms
    poll(what, fun, deadline)
  end

  defp poll(what, fun, deadline) do
    cond do
      result = fun.() ->
        result

      System.monotonic_time(:millisecond) > deadline ->
        ExUnit.Assertions.flunk("timed out waiting for #{what}")

      true ->
        Process.sleep(20)
        poll(what, fun, deadline)
    end
  end
end

ExUnit.start()
