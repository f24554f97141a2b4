# swarm_example: an Elixir application on swarm, built with mix against this
# checkout (a path dependency, no Hex): workers started under a
# DynamicSupervisor on the node swarm's hash ring picks for their name,
# found and called by name from any node, handed off with their state when
# the cluster changes, and gathered in a process group.
#
#   mix local.rebar rebar3 /usr/bin/rebar3 --force   # once per machine
#   mix test                                          # or, from the root: make examples-test
defmodule SwarmExample.MixProject do
  use Mix.Project

  def project do
    [
      app: :swarm_example,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps()
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {SwarmExample.Application, []}]
  end

  # swarm is a rebar3 project (its C node is built by rebar3's pre_hooks):
  # manager: :rebar3 has mix run rebar3 for it rather than look for a mix.exs.
  defp deps do
    [{:swarm, path: "../..", manager: :rebar3}]
  end
end
