/* fuzz.h - helpers shared by the libFuzzer harnesses in test/fuzz/.
 *
 * What it is: a check macro that aborts with a message (libFuzzer then
 * saves the input as a crash), a splitmix64 PRNG for choices derived from
 * the input (chunk sizes), and the log setup every harness makes.
 * What it is not: a test framework; each harness is one
 * LLVMFuzzerTestOneInput and states its own properties at its top. */
#ifndef SW_FUZZ_H
#define SW_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* A property of the code under test: when it does not hold, the input is a
 * finding (abort, so libFuzzer records it with a stack). */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* The next value of the splitmix64 sequence whose state is *s. */
static inline uint64_t fuzz_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Every log line is formatted (debug level) so that formatting of hostile
 * data is exercised; make fuzz runs with -close_fd_mask=2, which sends them
 * to /dev/null while sanitizer reports still reach the terminal. */
static inline void fuzz_log_setup(void) { sw_log_set_level(SW_LOG_DEBUG); }

#endif
