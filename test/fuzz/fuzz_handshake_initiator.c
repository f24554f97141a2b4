/* fuzz_handshake_initiator.c - libFuzzer harness of the initiator side of
 * the distribution handshake (handshake.h): we dial HS_PEER_NAME.
 *
 * Input: [0] bit 0: the peer's epmd entry says version 5 (we send the 'n'
 * name and later a complement) rather than 6; then the peer's messages as
 * <<Len:16, Body>> (fuzz_hs.h).
 *
 * Properties (fuzz_hs.h): every result is consistent with the state; done
 * only after a challenge_ack carrying the digest of our challenge, from
 * the node we called; what we queue is well-formed and ours to send (a
 * reply with the digest of the peer's challenge); input after the end is
 * refused; no read past a message (ASan). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_hs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fuzz_log_setup();
        init = 1;
    }
    if (size < 1) return 0;
    sw__hs_t hs;
    sw__hs_init(&hs, 1, HS_OUR_NAME, HS_COOKIE, SW_DFLAGS_OURS, HS_OUR_CREATION, HS_OUR_CHALLENGE,
                NULL, NULL);
    FUZZ_CHECK(sw__hs_start(&hs, HS_PEER_NAME, (data[0] & 1) ? 5 : 6) == 0);
    FUZZ_CHECK(hs.state == SW_HS_ST_I_STATUS);
    hs_check_out(&hs);
    hs.outlen = 0;
    hs_run(&hs, data + 1, size - 1);
    return 0;
}
