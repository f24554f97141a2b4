/* main.c - the swarm_node program: a C node started by the swarm OTP
 * application as a port program.
 *
 * What it is: the entry point. It takes no arguments; its configuration
 * (cookie included) arrives on stdin, so nothing secret shows in `ps`.
 * What it is not: the node itself, which server.c runs (see server.c for
 * the control channel). */
#include <ei.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "server.h"

int main(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fprintf(stderr,
                "usage: swarm_node\n"
                "  Started by the swarm application; reads {'$sw1', config, Opts} as a\n"
                "  4-byte length-prefixed external term on stdin, stops at EOF.\n"
                "  SWARM_LOG=debug|info|warning|error sets the log level.\n");
        return 0;
    }
    ei_init();
    sw_log_init_from_env();
    return sw_server_run(0, 1);
}
