/* fuzz_hs.h - what the two handshake harnesses (fuzz_handshake_acceptor.c,
 * fuzz_handshake_initiator.c) share: the fixed identity of our side, the
 * cutting of the input into messages, an MD5 digest computed with OpenSSL
 * (not handshake.c's), and the checks that hold after every
 * sw__hs_input().
 *
 * Input after the harness's settings bytes: a sequence of <<Len:16, Body>>
 * as on the wire (so a recorded handshake is a valid input); a last Len
 * longer than what remains takes what remains. */
#ifndef SW_FUZZ_HS_H
#define SW_FUZZ_HS_H

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "handshake.h"

#define HS_COOKIE "fuzzcookie"
#define HS_OUR_NAME "swarm_a@127.0.0.1"
#define HS_PEER_NAME "b@127.0.0.1"
#define HS_OUR_CHALLENGE 2654435769u
#define HS_OUR_CREATION 0x01020304u

/* Cuts the next message off the input (p, n) into (m, len). Returns 0
 * when none is left. */
static inline int hs_next_msg(const uint8_t **p, size_t *n, const uint8_t **m, size_t *len) {
    if (*n == 0) return 0;
    size_t l;
    if (*n < 2) {
        l = *n;
        *m = *p;
        *len = l;
        *p += l;
        *n = 0;
        return 1;
    }
    l = (size_t)(*p)[0] << 8 | (*p)[1];
    *p += 2;
    *n -= 2;
    if (l > *n) l = *n;
    *m = *p;
    *len = l;
    *p += l;
    *n -= l;
    return 1;
}

/* MD5(cookie ++ decimal(challenge)), the distribution digest. */
static inline void hs_md5(uint8_t out[16], uint32_t challenge) {
    char text[64];
    int n = snprintf(text, sizeof text, "%s%u", HS_COOKIE, challenge);
    FUZZ_CHECK(EVP_Digest(text, (size_t)n, out, NULL, EVP_md5(), NULL) == 1);
}

static inline uint32_t hs_get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks what the machine queued in hs->out: whole <<Len:16, Body>>
 * messages filling exactly outlen, each one a message our side may send in
 * the direction it runs, well-formed (our own decoders accept it), and
 * digests that are MD5 of the cookie and the challenge they answer. */
static inline void hs_check_out(const sw__hs_t *hs) {
    FUZZ_CHECK(hs->outlen <= sizeof hs->out);
    size_t off = 0;
    while (off < hs->outlen) {
        FUZZ_CHECK(hs->outlen - off >= 3);
        size_t l = (size_t)hs->out[off] << 8 | hs->out[off + 1];
        FUZZ_CHECK(l >= 1 && l <= hs->outlen - off - 2);
        const uint8_t *m = hs->out + off + 2;
        uint8_t want[16];
        switch (m[0]) {
        case 's': {
            static const char *ok[] = {"ok", "ok_simultaneous", "nok", "not_allowed", "alive", "true"};
            int found = 0;
            for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
                found |= strlen(ok[i]) == l - 1 && memcmp(ok[i], m + 1, l - 1) == 0;
            FUZZ_CHECK(found);
            /* "true" answers "alive": only an initiator says it. */
            FUZZ_CHECK(!(l == 5 && memcmp(m + 1, "true", 4) == 0) || hs->initiator);
            break;
        }
        case 'N':
        case 'n': {
            int v;
            uint64_t f;
            uint32_t ch, cr;
            char name[SW_MAXNODELEN + 1];
            if (hs->initiator) {
                FUZZ_CHECK(sw__hs_dec_name(m, l, &v, &f, &cr, name) == 0);
            } else {
                FUZZ_CHECK(sw__hs_dec_challenge(m, l, &v, &f, &ch, &cr, name) == 0);
                FUZZ_CHECK(ch == HS_OUR_CHALLENGE);
            }
            FUZZ_CHECK(strcmp(name, HS_OUR_NAME) == 0);
            break;
        }
        case 'c':
            FUZZ_CHECK(hs->initiator && l == 9);
            break;
        case 'r':
            /* Our reply: our challenge and the digest of the peer's. */
            FUZZ_CHECK(hs->initiator && l == 21);
            FUZZ_CHECK(hs_get32(m + 1) == HS_OUR_CHALLENGE);
            hs_md5(want, hs->peer_challenge);
            FUZZ_CHECK(memcmp(m + 5, want, 16) == 0);
            break;
        case 'a':
            FUZZ_CHECK(!hs->initiator && l == 17);
            hs_md5(want, hs->peer_challenge);
            FUZZ_CHECK(memcmp(m + 1, want, 16) == 0);
            break;
        default:
            FUZZ_CHECK(!"unknown message queued");
        }
        off += 2 + l;
    }
}

/* Checks that hold after every sw__hs_input() that returned r for message
 * m/len. */
static inline void hs_check_step(const sw__hs_t *hs, sw__hs_result_t r, const uint8_t *m,
                                 size_t len) {
    FUZZ_CHECK(memchr(hs->peer_name, 0, sizeof hs->peer_name) != NULL);
    switch (r) {
    case SW_HS_FAILED:
        FUZZ_CHECK(hs->state == SW_HS_ST_FAILED && hs->err != SW_HS_ERR_NONE);
        break;
    case SW_HS_MORE:
        FUZZ_CHECK(hs->state != SW_HS_ST_FAILED && hs->state != SW_HS_ST_DONE);
        FUZZ_CHECK(hs->err == SW_HS_ERR_NONE);
        break;
    case SW_HS_DONE: {
        /* Authenticated: the message that finished it carried the digest of
         * our challenge, and the peer is a valid, capable node. */
        uint8_t want[16];
        hs_md5(want, HS_OUR_CHALLENGE);
        FUZZ_CHECK(hs->state == SW_HS_ST_DONE && hs->err == SW_HS_ERR_NONE);
        if (hs->initiator) {
            FUZZ_CHECK(len == 17 && m[0] == 'a' && memcmp(m + 1, want, 16) == 0);
            FUZZ_CHECK(strcmp(hs->peer_name, HS_PEER_NAME) == 0);
        } else {
            FUZZ_CHECK(len == 21 && m[0] == 'r' && memcmp(m + 5, want, 16) == 0);
        }
        FUZZ_CHECK(sw__hs_valid_name(hs->peer_name, strlen(hs->peer_name)));
        FUZZ_CHECK(sw__hs_flags_ok(hs->peer_flags));
        break;
    }
    default:
        FUZZ_CHECK(!"result out of range");
    }
    FUZZ_CHECK(sw__hs_state_name(hs->state) != NULL);
    FUZZ_CHECK(sw__hs_strerror(hs->err) != NULL);
}

/* Feeds every message of p/n to hs, checking each step; once the machine
 * ended (done or failed), what follows must be refused. */
static inline void hs_run(sw__hs_t *hs, const uint8_t *p, size_t n) {
    const uint8_t *m;
    size_t len;
    int ended = 0;
    while (hs_next_msg(&p, &n, &m, &len)) {
        sw__hs_result_t r = sw__hs_input(hs, m, len);
        hs_check_step(hs, r, m, len);
        if (ended) FUZZ_CHECK(r == SW_HS_FAILED && hs->err == SW_HS_ERR_PROTO);
        hs_check_out(hs);
        hs->outlen = 0;
        if (r == SW_HS_FAILED || r == SW_HS_DONE) ended = 1;
    }
}

#endif
