/* fuzz_handshake_acceptor.c - libFuzzer harness of the acceptor side of the
 * distribution handshake (handshake.h): a peer dials us.
 *
 * Input: [0] the status our owner decides when the peer's name is known
 * (value % 5: ok, ok_simultaneous, nok, not_allowed, alive), then the
 * peer's messages as <<Len:16, Body>> (fuzz_hs.h).
 *
 * Properties (fuzz_hs.h): every result is consistent with the state; done
 * only after a challenge_reply carrying the digest of our challenge, from a
 * valid name with the mandatory flags; what we queue is well-formed and
 * ours to send (an ack with the digest of the peer's challenge); input
 * after the end is refused; the decide callback runs at most once, only
 * with a valid peer name; no read past a message (ASan). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_hs.h"

typedef struct {
    sw__hs_status_t status;
    int calls;
} decide_t;

static sw__hs_status_t decide(sw__hs_t *hs, void *ud) {
    decide_t *d = ud;
    d->calls++;
    FUZZ_CHECK(d->calls == 1);
    FUZZ_CHECK(sw__hs_valid_name(hs->peer_name, strlen(hs->peer_name)));
    return d->status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        fuzz_log_setup();
        init = 1;
    }
    if (size < 1) return 0;
    decide_t d = {(sw__hs_status_t)(data[0] % 5), 0};
    sw__hs_t hs;
    sw__hs_init(&hs, 0, HS_OUR_NAME, HS_COOKIE, SW_DFLAGS_OURS, HS_OUR_CREATION, HS_OUR_CHALLENGE,
                decide, &d);
    hs_run(&hs, data + 1, size - 1);
    return 0;
}
