import Config

# swarm's application environment, under the keys of Swarm 3.x where it has
# them (see the Configuration section of swarm's README). The C node's log
# lines go to stderr: only warnings and errors here.
config :swarm, cnode_log: :warning
