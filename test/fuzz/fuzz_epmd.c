/* fuzz_epmd.c - libFuzzer harness of the epmd codecs (epmd.h).
 *
 * Input: [0] what to do (value % 3: decode as an ALIVE2 answer, as a
 * PORT2 answer, or encode both requests for the rest taken as a name and
 * read them back), then the bytes.
 *
 * Properties: a decoder reads only its input (ASan); over the prefixes of
 * an input it answers "need more" (0) until some length, then either
 * "malformed" (-1) for every longer prefix, or the same used length and
 * the same fields for every longer prefix; what it uses is within what it
 * was given; a decoded name is NUL-terminated. The encoders refuse exactly
 * the names epmd cannot take (empty, over 255 bytes, with '@') and write
 * the length-prefixed layout of epmd.h. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "epmd.h"
#include "fuzz.h"

/* Prefixes checked one by one (longer inputs: only some of them). */
#define ALL_PREFIXES 1024

static void dec_alive2(const uint8_t *in, size_t n) {
    int first = 0, first_result = 0;
    uint32_t first_creation = 0;
    for (size_t k = 0; k <= n; k++) {
        if (k > ALL_PREFIXES && k != n) continue;
        int result = -7;
        uint32_t creation = 0xdeadbeef;
        int r = sw__epmd_dec_alive2(in, k, &result, &creation);
        FUZZ_CHECK(r >= -1 && (r < 0 || (size_t)r <= k));
        if (!first) {
            if (r == 0) continue;
            first = r;
            first_result = result;
            first_creation = creation;
            if (r > 0) FUZZ_CHECK(result >= 0 && result <= 255);
            continue;
        }
        FUZZ_CHECK(r == first);
        if (r > 0) FUZZ_CHECK(result == first_result && creation == first_creation);
    }
}

static void dec_port2(const uint8_t *in, size_t n) {
    int first = 0;
    sw__epmd_port_t f;
    memset(&f, 0, sizeof f);
    for (size_t k = 0; k <= n; k++) {
        if (k > ALL_PREFIXES && k != n) continue;
        sw__epmd_port_t o;
        memset(&o, 0xa5, sizeof o);
        int r = sw__epmd_dec_port2(in, k, &o);
        FUZZ_CHECK(r >= -1 && (r < 0 || (size_t)r <= k));
        if (r > 0) {
            FUZZ_CHECK(o.result >= 0 && o.result <= 255);
            if (o.result == 0) FUZZ_CHECK(memchr(o.name, 0, sizeof o.name) != NULL);
            else FUZZ_CHECK(r == 2);
        }
        if (!first) {
            if (r == 0) continue;
            first = r;
            f = o;
            continue;
        }
        FUZZ_CHECK(r == first);
        if (r > 0) {
            FUZZ_CHECK(o.result == f.result);
            if (o.result == 0)
                FUZZ_CHECK(o.port == f.port && o.node_type == f.node_type &&
                           o.protocol == f.protocol && o.high == f.high && o.low == f.low &&
                           strcmp(o.name, f.name) == 0);
        }
    }
}

static void encode(const uint8_t *in, size_t n) {
    char alive[400];
    if (n >= sizeof alive) n = sizeof alive - 1;
    memcpy(alive, in, n);
    alive[n] = 0;
    size_t nl = strlen(alive);
    int valid = nl >= 1 && nl <= 255 && !memchr(alive, '@', nl);
    uint8_t out[SW_EPMD_REQ_MAX];
    uint16_t port = (uint16_t)(n * 257u);
    int w = sw__epmd_enc_alive2(out, port, SW_EPMD_NODE_HIDDEN, alive);
    if (!valid) {
        FUZZ_CHECK(w == -1);
    } else {
        FUZZ_CHECK(w == (int)(15 + nl) && w <= SW_EPMD_REQ_MAX);
        FUZZ_CHECK(((size_t)out[0] << 8 | out[1]) == (size_t)w - 2);
        FUZZ_CHECK(out[2] == 120 && ((unsigned)out[3] << 8 | out[4]) == port);
        FUZZ_CHECK(out[5] == SW_EPMD_NODE_HIDDEN);
        FUZZ_CHECK(((size_t)out[11] << 8 | out[12]) == nl && memcmp(out + 13, alive, nl) == 0);
        FUZZ_CHECK(out[13 + nl] == 0 && out[14 + nl] == 0);
    }
    w = sw__epmd_enc_port2(out, alive);
    if (!valid) {
        FUZZ_CHECK(w == -1);
    } else {
        FUZZ_CHECK(w == (int)(3 + nl) && ((size_t)out[0] << 8 | out[1]) == nl + 1);
        FUZZ_CHECK(out[2] == 122 && memcmp(out + 3, alive, nl) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: dec_alive2(data + 1, size - 1); break;
    case 1: dec_port2(data + 1, size - 1); break;
    default: encode(data + 1, size - 1); break;
    }
    return 0;
}
