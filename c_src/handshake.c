/* handshake.c - the distribution handshake as a pure state machine; see
 * handshake.h for the messages. Written from the erts "Distribution
 * Protocol" documentation; no code taken from OTP. */
#include "handshake.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* ---- byte helpers ------------------------------------------------------ */

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}
static uint32_t get16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t get64(const uint8_t *p) { return ((uint64_t)get32(p) << 32) | get32(p + 4); }

/* Copies a wire name (not NUL-terminated) after validating it. */
static int take_name(const uint8_t *src, size_t len, char *name) {
    if (!sw__hs_valid_name((const char *)src, len)) return -1;
    memcpy(name, src, len);
    name[len] = '\0';
    return 0;
}

/* ---- public helpers ---------------------------------------------------- */

int sw__hs_valid_name(const char *name, size_t len) {
    if (len == 0 || len > SW_MAXNODELEN) return 0;
    if (memchr(name, '\0', len)) return 0;
    const char *at = memchr(name, '@', len);
    if (!at || at == name || at == name + len - 1) return 0;
    return 1;
}

int sw__hs_flags_ok(uint64_t flags) {
    if (flags & SW_DFLAG_MANDATORY_25_DIGEST) return 1;
    return (flags & SW_DFLAGS_MANDATORY_25) == SW_DFLAGS_MANDATORY_25;
}

void sw__hs_digest(uint8_t out[16], const char *cookie, uint32_t challenge) {
    /* EVP rather than MD5(): the latter is deprecated in OpenSSL 3. The
     * input is small, so one buffer and one call. */
    char text[1024 + 16];
    size_t clen = strlen(cookie);
    unsigned int mdlen = 16;
    if (clen > 1024) clen = 1024; /* cookies are atoms: at most 255 chars */
    memcpy(text, cookie, clen);
    int d = snprintf(text + clen, 16, "%u", (unsigned)challenge);
    if (EVP_Digest(text, clen + (size_t)d, out, &mdlen, EVP_md5(), NULL) != 1)
        memset(out, 0, 16); /* cannot happen with the default provider; a
                               zero digest then simply fails authentication */
    OPENSSL_cleanse(text, sizeof text);
}

const char *sw__hs_state_name(int state) {
    switch (state) {
    case SW_HS_ST_INIT: return "init";
    case SW_HS_ST_I_STATUS: return "recv_status";
    case SW_HS_ST_I_CHALLENGE: return "recv_challenge";
    case SW_HS_ST_I_ACK: return "recv_challenge_ack";
    case SW_HS_ST_A_NAME: return "recv_name";
    case SW_HS_ST_A_ALIVE: return "recv_alive_reply";
    case SW_HS_ST_A_COMPLEMENT: return "recv_complement";
    case SW_HS_ST_A_REPLY: return "recv_challenge_reply";
    case SW_HS_ST_DONE: return "done";
    case SW_HS_ST_FAILED: return "failed";
    }
    return "unknown";
}

const char *sw__hs_strerror(sw__hs_err_t err) {
    switch (err) {
    case SW_HS_ERR_NONE: return "none";
    case SW_HS_ERR_PROTO: return "protocol";
    case SW_HS_ERR_AUTH: return "bad_cookie";
    case SW_HS_ERR_FLAGS: return "missing_flags";
    case SW_HS_ERR_NAME: return "bad_name";
    case SW_HS_ERR_NOK: return "nok";
    case SW_HS_ERR_NOT_ALLOWED: return "not_allowed";
    }
    return "unknown";
}

/* ---- encoders / decoders ----------------------------------------------- */

int sw__hs_enc_name(uint8_t *out, int version, uint64_t flags, uint32_t creation,
                    const char *name) {
    size_t nl = strlen(name);
    if (!sw__hs_valid_name(name, nl)) return -1;
    uint8_t *b = out + 2;
    size_t len;
    if (version >= 6) {
        b[0] = 'N';
        put64(b + 1, flags);
        put32(b + 9, creation);
        put16(b + 13, (uint32_t)nl);
        memcpy(b + 15, name, nl);
        len = 15 + nl;
    } else {
        b[0] = 'n';
        put16(b + 1, 5);
        put32(b + 3, (uint32_t)flags);
        memcpy(b + 7, name, nl);
        len = 7 + nl;
    }
    put16(out, (uint32_t)len);
    return (int)(len + 2);
}

int sw__hs_dec_name(const uint8_t *m, size_t len, int *version, uint64_t *flags,
                    uint32_t *creation, char *name) {
    if (len < 1) return -1;
    if (m[0] == 'N') {
        if (len < 15) return -1;
        size_t nl = get16(m + 13);
        /* Trailing bytes after the name are tolerated, as OTP does. */
        if (15 + nl > len) return -1;
        if (take_name(m + 15, nl, name)) return -1;
        *version = 6;
        *flags = get64(m + 1);
        *creation = get32(m + 9);
        return 0;
    }
    if (m[0] == 'n') {
        if (len < 7) return -1;
        if (take_name(m + 7, len - 7, name)) return -1;
        *version = 5;
        *flags = get32(m + 3);
        *creation = 0;
        return 0;
    }
    return -1;
}

int sw__hs_enc_status(uint8_t *out, const char *status) {
    size_t sl = strlen(status);
    if (sl > 64) return -1;
    out[2] = 's';
    memcpy(out + 3, status, sl);
    put16(out, (uint32_t)(sl + 1));
    return (int)(sl + 3);
}

int sw__hs_enc_challenge(uint8_t *out, int version, uint64_t flags, uint32_t challenge,
                         uint32_t creation, const char *name) {
    size_t nl = strlen(name);
    if (!sw__hs_valid_name(name, nl)) return -1;
    uint8_t *b = out + 2;
    size_t len;
    if (version >= 6) {
        b[0] = 'N';
        put64(b + 1, flags);
        put32(b + 9, challenge);
        put32(b + 13, creation);
        put16(b + 17, (uint32_t)nl);
        memcpy(b + 19, name, nl);
        len = 19 + nl;
    } else {
        b[0] = 'n';
        put16(b + 1, 5);
        put32(b + 3, (uint32_t)flags);
        put32(b + 7, challenge);
        memcpy(b + 11, name, nl);
        len = 11 + nl;
    }
    put16(out, (uint32_t)len);
    return (int)(len + 2);
}

int sw__hs_dec_challenge(const uint8_t *m, size_t len, int *version, uint64_t *flags,
                         uint32_t *challenge, uint32_t *creation, char *name) {
    if (len < 1) return -1;
    if (m[0] == 'N') {
        if (len < 19) return -1;
        size_t nl = get16(m + 17);
        if (19 + nl > len) return -1;
        if (take_name(m + 19, nl, name)) return -1;
        *version = 6;
        *flags = get64(m + 1);
        *challenge = get32(m + 9);
        *creation = get32(m + 13);
        return 0;
    }
    if (m[0] == 'n') {
        if (len < 11) return -1;
        if (take_name(m + 11, len - 11, name)) return -1;
        *version = 5;
        *flags = get32(m + 3);
        *challenge = get32(m + 7);
        *creation = 0;
        return 0;
    }
    return -1;
}

int sw__hs_enc_complement(uint8_t *out, uint64_t flags, uint32_t creation) {
    put16(out, 9);
    out[2] = 'c';
    put32(out + 3, (uint32_t)(flags >> 32));
    put32(out + 7, creation);
    return 11;
}

int sw__hs_dec_complement(const uint8_t *m, size_t len, uint32_t *flags_high,
                          uint32_t *creation) {
    if (len != 9 || m[0] != 'c') return -1;
    *flags_high = get32(m + 1);
    *creation = get32(m + 5);
    return 0;
}

int sw__hs_enc_reply(uint8_t *out, uint32_t challenge, const uint8_t digest[16]) {
    put16(out, 21);
    out[2] = 'r';
    put32(out + 3, challenge);
    memcpy(out + 7, digest, 16);
    return 23;
}

int sw__hs_dec_reply(const uint8_t *m, size_t len, uint32_t *challenge, uint8_t digest[16]) {
    if (len != 21 || m[0] != 'r') return -1;
    *challenge = get32(m + 1);
    memcpy(digest, m + 5, 16);
    return 0;
}

int sw__hs_enc_ack(uint8_t *out, const uint8_t digest[16]) {
    put16(out, 17);
    out[2] = 'a';
    memcpy(out + 3, digest, 16);
    return 19;
}

int sw__hs_dec_ack(const uint8_t *m, size_t len, uint8_t digest[16]) {
    if (len != 17 || m[0] != 'a') return -1;
    memcpy(digest, m + 1, 16);
    return 0;
}

/* ---- the state machine ------------------------------------------------- */

void sw__hs_init(sw__hs_t *hs, int initiator, const char *our_name, const char *cookie,
                 uint64_t our_flags, uint32_t our_creation, uint32_t challenge,
                 sw__hs_decide_cb decide, void *ud) {
    memset(hs, 0, sizeof *hs);
    hs->initiator = initiator;
    hs->our_name = our_name;
    hs->cookie = cookie;
    hs->our_flags = our_flags;
    hs->our_creation = our_creation;
    hs->our_challenge = challenge;
    hs->decide = decide;
    hs->ud = ud;
    hs->state = initiator ? SW_HS_ST_INIT : SW_HS_ST_A_NAME;
}

/* Where the next message goes; the encoders need SW_HS_ENC_MAX bytes. A
 * handshake emits at most two messages per input and the owner empties out
 * after each call, so running out of room is a bug of the owner. */
static uint8_t *out_room(sw__hs_t *hs) {
    assert(hs->outlen + SW_HS_ENC_MAX <= sizeof hs->out);
    return hs->out + hs->outlen;
}

static sw__hs_result_t fail(sw__hs_t *hs, sw__hs_err_t err) {
    hs->failed_in = hs->state;
    hs->state = SW_HS_ST_FAILED;
    hs->err = err;
    return SW_HS_FAILED;
}

static void emit_status(sw__hs_t *hs, const char *status) {
    uint8_t *o = out_room(hs);
    if (o) hs->outlen += (size_t)sw__hs_enc_status(o, status);
}

/* The digest shorthand means "all mandatory flags": expand it so that the
 * layer above can test individual bits. */
static uint64_t normalise_flags(uint64_t f) {
    if (f & SW_DFLAG_MANDATORY_25_DIGEST) f |= SW_DFLAGS_MANDATORY_25;
    return f;
}

int sw__hs_start(sw__hs_t *hs, const char *peer, int peer_version) {
    size_t pl = strlen(peer);
    if (hs->state != SW_HS_ST_INIT || !sw__hs_valid_name(peer, pl)) return -1;
    uint8_t *o = out_room(hs);
    hs->name_version = peer_version >= 6 ? 6 : 5;
    int w = sw__hs_enc_name(o, hs->name_version, hs->our_flags, hs->our_creation, hs->our_name);
    if (w < 0) return -1;
    memcpy(hs->peer_name, peer, pl + 1);
    hs->outlen += (size_t)w;
    hs->state = SW_HS_ST_I_STATUS;
    return 0;
}

static int is_text(const uint8_t *m, size_t len, const char *text) {
    size_t tl = strlen(text);
    return len == tl && memcmp(m, text, tl) == 0;
}

static sw__hs_result_t i_status(sw__hs_t *hs, const uint8_t *m, size_t len) {
    if (len < 1 || m[0] != 's') return fail(hs, SW_HS_ERR_PROTO);
    m++, len--;
    if (is_text(m, len, "ok") || is_text(m, len, "ok_simultaneous")) {
        hs->state = SW_HS_ST_I_CHALLENGE;
        return SW_HS_MORE;
    }
    if (is_text(m, len, "alive")) {
        /* The peer holds a connection to our name. We start a connection
         * only when we hold none to it, so theirs is a stale one (we
         * restarted): tell them to drop it. */
        emit_status(hs, "true");
        hs->state = SW_HS_ST_I_CHALLENGE;
        return SW_HS_MORE;
    }
    if (is_text(m, len, "nok")) return fail(hs, SW_HS_ERR_NOK);
    if (is_text(m, len, "not_allowed")) return fail(hs, SW_HS_ERR_NOT_ALLOWED);
    return fail(hs, SW_HS_ERR_PROTO); /* includes "named:", never requested */
}

static sw__hs_result_t i_challenge(sw__hs_t *hs, const uint8_t *m, size_t len) {
    int version;
    uint64_t flags;
    uint32_t challenge, creation;
    char name[SW_MAXNODELEN + 1];
    if (sw__hs_dec_challenge(m, len, &version, &flags, &challenge, &creation, name))
        return fail(hs, SW_HS_ERR_PROTO);
    if (strcmp(name, hs->peer_name) != 0) return fail(hs, SW_HS_ERR_NAME);
    if (!sw__hs_flags_ok(flags)) return fail(hs, SW_HS_ERR_FLAGS);
    /* A v5 challenge cannot carry HANDSHAKE_23 from a real node; one that
     * claims it has no creation to give us: refuse rather than guess. */
    if (version == 5) return fail(hs, SW_HS_ERR_PROTO);
    hs->peer_flags = normalise_flags(flags);
    hs->peer_challenge = challenge;
    hs->peer_creation = creation;

    uint8_t digest[16];
    sw__hs_digest(digest, hs->cookie, challenge);
    if (hs->name_version == 5) {
        uint8_t *o = out_room(hs);
        hs->outlen += (size_t)sw__hs_enc_complement(o, hs->our_flags, hs->our_creation);
    }
    uint8_t *o = out_room(hs);
    hs->outlen += (size_t)sw__hs_enc_reply(o, hs->our_challenge, digest);
    hs->state = SW_HS_ST_I_ACK;
    return SW_HS_MORE;
}

static sw__hs_result_t i_ack(sw__hs_t *hs, const uint8_t *m, size_t len) {
    uint8_t got[16], want[16];
    if (sw__hs_dec_ack(m, len, got)) return fail(hs, SW_HS_ERR_PROTO);
    sw__hs_digest(want, hs->cookie, hs->our_challenge);
    if (CRYPTO_memcmp(got, want, 16) != 0) return fail(hs, SW_HS_ERR_AUTH);
    hs->state = SW_HS_ST_DONE;
    return SW_HS_DONE;
}

static void emit_challenge(sw__hs_t *hs) {
    /* Every peer we accept has HANDSHAKE_23 (mandatory), so our challenge is
     * always the 'N' form, even to a peer that sent the old 'n' name. */
    uint8_t *o = out_room(hs);
    hs->outlen += (size_t)sw__hs_enc_challenge(o, 6, hs->our_flags, hs->our_challenge,
                                               hs->our_creation, hs->our_name);
    hs->state = hs->name_version == 5 ? SW_HS_ST_A_COMPLEMENT : SW_HS_ST_A_REPLY;
}

static sw__hs_result_t a_name(sw__hs_t *hs, const uint8_t *m, size_t len) {
    int version;
    uint64_t flags;
    uint32_t creation;
    if (sw__hs_dec_name(m, len, &version, &flags, &creation, hs->peer_name)) {
        hs->peer_name[0] = '\0';
        return fail(hs, SW_HS_ERR_PROTO);
    }
    hs->name_version = version;
    hs->peer_flags = normalise_flags(flags);
    hs->peer_creation = creation;
    if (!sw__hs_flags_ok(flags)) {
        emit_status(hs, "not_allowed");
        return fail(hs, SW_HS_ERR_FLAGS);
    }
    switch (hs->decide(hs, hs->ud)) {
    case SW_HS_STATUS_OK:
        emit_status(hs, "ok");
        emit_challenge(hs);
        return SW_HS_MORE;
    case SW_HS_STATUS_OK_SIMULTANEOUS:
        emit_status(hs, "ok_simultaneous");
        emit_challenge(hs);
        return SW_HS_MORE;
    case SW_HS_STATUS_NOK:
        emit_status(hs, "nok");
        return fail(hs, SW_HS_ERR_NOK);
    case SW_HS_STATUS_ALIVE:
        emit_status(hs, "alive");
        hs->state = SW_HS_ST_A_ALIVE;
        return SW_HS_MORE;
    case SW_HS_STATUS_NOT_ALLOWED:
        break;
    }
    emit_status(hs, "not_allowed");
    return fail(hs, SW_HS_ERR_NOT_ALLOWED);
}

static sw__hs_result_t a_alive(sw__hs_t *hs, const uint8_t *m, size_t len) {
    if (len < 1 || m[0] != 's') return fail(hs, SW_HS_ERR_PROTO);
    if (is_text(m + 1, len - 1, "true")) {
        /* Anyone can claim a name and say "true": the owner replaces its
         * connection only when this handshake is done (digest checked). */
        hs->stale_confirmed = 1;
        emit_challenge(hs);
        return SW_HS_MORE;
    }
    if (is_text(m + 1, len - 1, "false")) return fail(hs, SW_HS_ERR_NOT_ALLOWED);
    return fail(hs, SW_HS_ERR_PROTO);
}

static sw__hs_result_t a_complement(sw__hs_t *hs, const uint8_t *m, size_t len) {
    uint32_t high, creation;
    if (sw__hs_dec_complement(m, len, &high, &creation)) return fail(hs, SW_HS_ERR_PROTO);
    hs->peer_flags |= (uint64_t)high << 32;
    hs->peer_creation = creation;
    hs->state = SW_HS_ST_A_REPLY;
    return SW_HS_MORE;
}

static sw__hs_result_t a_reply(sw__hs_t *hs, const uint8_t *m, size_t len) {
    uint8_t got[16], want[16];
    uint32_t challenge;
    if (sw__hs_dec_reply(m, len, &challenge, got)) return fail(hs, SW_HS_ERR_PROTO);
    sw__hs_digest(want, hs->cookie, hs->our_challenge);
    if (CRYPTO_memcmp(got, want, 16) != 0) return fail(hs, SW_HS_ERR_AUTH);
    hs->peer_challenge = challenge;
    sw__hs_digest(want, hs->cookie, challenge);
    uint8_t *o = out_room(hs);
    hs->outlen += (size_t)sw__hs_enc_ack(o, want);
    hs->state = SW_HS_ST_DONE;
    return SW_HS_DONE;
}

sw__hs_result_t sw__hs_input(sw__hs_t *hs, const uint8_t *msg, size_t len) {
    switch (hs->state) {
    case SW_HS_ST_I_STATUS: return i_status(hs, msg, len);
    case SW_HS_ST_I_CHALLENGE: return i_challenge(hs, msg, len);
    case SW_HS_ST_I_ACK: return i_ack(hs, msg, len);
    case SW_HS_ST_A_NAME: return a_name(hs, msg, len);
    case SW_HS_ST_A_ALIVE: return a_alive(hs, msg, len);
    case SW_HS_ST_A_COMPLEMENT: return a_complement(hs, msg, len);
    case SW_HS_ST_A_REPLY: return a_reply(hs, msg, len);
    default: return fail(hs, SW_HS_ERR_PROTO);
    }
}
