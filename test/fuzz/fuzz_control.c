/* fuzz_control.c - libFuzzer harness of the control channel's configuration
 * parser (server_config.h): the first message the BEAM node writes to its
 * C node's stdin, {'$sw1', config, [{Key, Value}]}.
 *
 * Input: the message body (131 version byte first).
 *
 * Properties: the parser reads only its input (ASan; every ei call after
 * the validator stays in bounds); on success the four strings are
 * non-empty and NUL-terminated within their fields, and the integers are
 * non-negative; no leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "server_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fuzz_log_setup();
        init = 1;
    }
    sw__server_config_t cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    if (sw__server_parse_config((const char *)data, size, &cfg) != 0) return 0;
    FUZZ_CHECK(memchr(cfg.beam, 0, sizeof cfg.beam) && cfg.beam[0]);
    FUZZ_CHECK(memchr(cfg.alive, 0, sizeof cfg.alive) && cfg.alive[0]);
    FUZZ_CHECK(memchr(cfg.host, 0, sizeof cfg.host) && cfg.host[0]);
    FUZZ_CHECK(memchr(cfg.cookie, 0, sizeof cfg.cookie) && cfg.cookie[0]);
    FUZZ_CHECK(cfg.tick_ms >= 0 && cfg.quorum >= 0 && cfg.otp_release >= 0);
    return 0;
}
