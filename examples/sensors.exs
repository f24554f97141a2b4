# sensors.exs - Elixir code calling the C workers of examples/sensor_host.c.
#
# Run it on a BEAM node of its own that joins the cluster (it starts the
# swarm application, so it reads names from its own replica):
#
#   elixir --name client@127.0.0.1 --erl "-setcookie $(cat ~/.erlang.cookie)" \
#          -pa _build/default/lib/swarm/ebin examples/sensors.exs a@127.0.0.1 [N]
#
# a@127.0.0.1: a BEAM node of the cluster the sensor host joined; N: how
# many sensors it hosts (default 3).

defmodule SensorsDemo do
  def main([peer | rest]) do
    n = case rest do
      [count | _] -> String.to_integer(count)
      [] -> 3
    end
    true = Node.connect(String.to_atom(peer))
    {:ok, _} = Application.ensure_all_started(:swarm)
    wait_visible(n, 100)
    Enum.each(1..n, &read_set_read/1)
    slow_and_fast()
    IO.puts("compute 1..1_000_000 on the thread pool: " <>
              inspect(GenServer.call(via(1), {:compute, 1_000_000})))
    IO.puts("Swarm.members(:sensors): #{length(Swarm.members(:sensors))} members")
    IO.puts("Swarm.multi_call(:sensors, :read): " <>
              inspect(Enum.sort(Swarm.multi_call(:sensors, :read))))
    stop_one(n)
  end

  defp via(i), do: {:via, :swarm, {:sensor, i}}

  # The sensors' names reach this node's replica once its C node synced.
  defp wait_visible(n, 0), do: raise("#{n} sensors not visible from #{node()}")
  defp wait_visible(n, left) do
    if Enum.all?(1..n, &(Swarm.whereis_name({:sensor, &1}) != :undefined)) do
      :ok
    else
      Process.sleep(100)
      wait_visible(n, left - 1)
    end
  end

  defp read_set_read(i) do
    pid = Swarm.whereis_name({:sensor, i})
    {^i, before} = GenServer.call(via(i), :read)
    GenServer.cast(via(i), {:set, i * 100})
    {^i, now} = GenServer.call(via(i), :read)
    IO.puts("{:sensor, #{i}} is #{inspect(pid)} on #{node(pid)}: #{inspect(before)} -> #{inspect(now)}")
  end

  # Slow calls are answered from a timer: they do not hold up the others.
  defp slow_and_fast do
    slow = Task.async(fn -> GenServer.call(via(1), {:slow, 500}) end)
    {t, {1, _}} = :timer.tc(fn -> GenServer.call(via(1), :read) end)
    IO.puts("a read during a 500 ms slow call took #{div(t, 1000)} ms; " <>
              "the slow call: #{inspect(Task.await(slow))}")
  end

  # A worker that stops: monitors see its reason, later calls exit :noproc.
  defp stop_one(n) do
    pid = Swarm.whereis_name({:sensor, n})
    ref = Process.monitor(pid)
    :ok = GenServer.call(via(n), {:stop, :maintenance})
    reason = receive_down(ref)
    IO.puts("{:sensor, #{n}} stopped: #{inspect(reason)}")
    why = try do
      GenServer.call(pid, :read, 1000)
    catch
      :exit, {reason, _} -> reason
    end
    IO.puts("a call to the stopped sensor exits #{inspect(why)}")
  end

  defp receive_down(ref) do
    receive do
      {:DOWN, ^ref, :process, _, reason} -> reason
    after
      5000 -> raise "no DOWN"
    end
  end
end

SensorsDemo.main(System.argv())
