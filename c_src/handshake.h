/* handshake.h - the Erlang distribution handshake (protocol version 6, the
 * version-5 'n' name accepted), as a pure state machine plus the codecs of
 * its messages and the cookie digest.
 *
 * What it is: code without I/O. The caller cuts the byte stream into
 * messages (frame.h, 2-byte lengths), feeds each message body to
 * sw__hs_input(), and sends what the machine leaves in hs->out (already
 * length-prefixed). Both directions are here: the initiator (send_name,
 * recv_status, recv_challenge, [send_complement], send_challenge_reply,
 * recv_challenge_ack) and the acceptor (recv_name, send_status,
 * send_challenge, [recv_complement], recv_challenge_reply,
 * send_challenge_ack). The acceptor asks its owner, through a callback, which
 * status to answer (the simultaneous-connect rule needs the node's table of
 * connections, which this module does not see).
 *
 * What it is not: no sockets, no timers (the owner enforces the handshake
 * timeout), no randomness (the owner supplies our challenge).
 *
 * Messages (all integers big-endian; each preceded on the wire by Len:16):
 *   send_name v6   'N' Flags:64 Creation:32 Nlen:16 Name
 *   send_name v5   'n' Version:16 Flags:32 Name
 *   status         's' Text  (ok | ok_simultaneous | nok | not_allowed |
 *                             alive; after alive the initiator answers
 *                             's' true | false, and true goes on with the
 *                             challenge, the old connection kept until the
 *                             digest proves the cookie)
 *   challenge v6   'N' Flags:64 Challenge:32 Creation:32 Nlen:16 Name
 *   challenge v5   'n' Version:16 Flags:32 Challenge:32 Name
 *   complement     'c' FlagsHigh:32 Creation:32  (initiator that sent 'n'
 *                             and got an 'N' challenge)
 *   challenge_reply 'r' Challenge:32 Digest:16 bytes
 *   challenge_ack  'a' Digest:16 bytes
 * Digest = MD5(Cookie ++ decimal text of the unsigned 32-bit challenge).
 */
#ifndef SW_HANDSHAKE_H
#define SW_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "node.h" /* SW_MAXNODELEN */

/* Distribution flags (erts dist.h). */
#define SW_DFLAG_PUBLISHED 0x1ULL
#define SW_DFLAG_ATOM_CACHE 0x2ULL
#define SW_DFLAG_EXTENDED_REFERENCES 0x4ULL
#define SW_DFLAG_DIST_MONITOR 0x8ULL
#define SW_DFLAG_FUN_TAGS 0x10ULL
#define SW_DFLAG_DIST_MONITOR_NAME 0x20ULL
#define SW_DFLAG_NEW_FUN_TAGS 0x80ULL
#define SW_DFLAG_EXTENDED_PIDS_PORTS 0x100ULL
#define SW_DFLAG_EXPORT_PTR_TAG 0x200ULL
#define SW_DFLAG_BIT_BINARIES 0x400ULL
#define SW_DFLAG_NEW_FLOATS 0x800ULL
#define SW_DFLAG_UTF8_ATOMS 0x10000ULL
#define SW_DFLAG_MAP_TAG 0x20000ULL
#define SW_DFLAG_BIG_CREATION 0x40000ULL
#define SW_DFLAG_SEND_SENDER 0x80000ULL
#define SW_DFLAG_FRAGMENTS 0x800000ULL
#define SW_DFLAG_HANDSHAKE_23 0x1000000ULL
#define SW_DFLAG_UNLINK_ID 0x2000000ULL
#define SW_DFLAG_MANDATORY_25_DIGEST 0x4000000ULL

/* Flags every OTP 25 node must have (dist.hrl MANDATORY_DFLAGS_25). A peer
 * may instead set SW_DFLAG_MANDATORY_25_DIGEST, their shorthand. */
#define SW_DFLAGS_MANDATORY_25                                                             \
    (SW_DFLAG_EXTENDED_REFERENCES | SW_DFLAG_FUN_TAGS | SW_DFLAG_EXTENDED_PIDS_PORTS |     \
     SW_DFLAG_NEW_FUN_TAGS | SW_DFLAG_EXPORT_PTR_TAG | SW_DFLAG_BIT_BINARIES |             \
     SW_DFLAG_NEW_FLOATS | SW_DFLAG_UTF8_ATOMS | SW_DFLAG_MAP_TAG | SW_DFLAG_BIG_CREATION | \
     SW_DFLAG_HANDSHAKE_23)

/* What this node advertises: the mandatory set and the digest shorthand
 * (which OTP 27+ requires), hidden (no PUBLISHED), no atom cache, no
 * fragments, no monitors. */
#define SW_DFLAGS_OURS (SW_DFLAGS_MANDATORY_25 | SW_DFLAG_MANDATORY_25_DIGEST)

#define SW_HS_ENC_MAX 300  /* longest message one encoder writes, length included */
#define SW_HS_OUT_MAX 1024 /* room for the longest burst of our messages */
#define SW_HS_MSG_MAX 2048 /* longest handshake message accepted */

/* Status the acceptor answers to a send_name. */
typedef enum {
    SW_HS_STATUS_OK = 0,
    SW_HS_STATUS_OK_SIMULTANEOUS,
    SW_HS_STATUS_NOK,
    SW_HS_STATUS_NOT_ALLOWED,
    SW_HS_STATUS_ALIVE,
} sw__hs_status_t;

/* Result of sw__hs_input(). */
typedef enum {
    SW_HS_FAILED = -1, /* see hs->err; hs->out may hold a last status to send */
    SW_HS_MORE = 0,    /* wait for the next message */
    SW_HS_DONE = 1,    /* authenticated; hs->out holds our last message, if
                          any. An acceptor whose hs->stale_confirmed is set
                          must now replace its existing connection to
                          peer_name (and not before: only an authenticated
                          peer may displace a live connection) */
} sw__hs_result_t;

/* Why a handshake failed. */
typedef enum {
    SW_HS_ERR_NONE = 0,
    SW_HS_ERR_PROTO,       /* malformed or unexpected message */
    SW_HS_ERR_AUTH,        /* the peer's digest is wrong: cookie mismatch */
    SW_HS_ERR_FLAGS,       /* the peer lacks a mandatory flag */
    SW_HS_ERR_NAME,        /* bad peer name, or not the node we called */
    SW_HS_ERR_NOK,         /* simultaneous connect lost (status nok) */
    SW_HS_ERR_NOT_ALLOWED, /* status not_allowed, or alive answered false */
} sw__hs_err_t;

/* Where a handshake stands (hs->state): the message it waits for. */
typedef enum {
    SW_HS_ST_INIT = 0,     /* initiator before sw__hs_start */
    SW_HS_ST_I_STATUS,     /* initiator: waits for recv_status */
    SW_HS_ST_I_CHALLENGE,  /* initiator: waits for the challenge */
    SW_HS_ST_I_ACK,        /* initiator: waits for challenge_ack */
    SW_HS_ST_A_NAME,       /* acceptor: waits for send_name */
    SW_HS_ST_A_ALIVE,      /* acceptor: sent "alive", waits for true/false */
    SW_HS_ST_A_COMPLEMENT, /* acceptor: waits for send_complement */
    SW_HS_ST_A_REPLY,      /* acceptor: waits for challenge_reply */
    SW_HS_ST_DONE,
    SW_HS_ST_FAILED,
} sw__hs_state_t;

typedef struct sw__hs_s sw__hs_t;

/* Acceptor only: called once the peer's name, flags and creation are known
 * (hs->peer_*), to choose the status. Must not free hs. */
typedef sw__hs_status_t (*sw__hs_decide_cb)(sw__hs_t *hs, void *ud);

struct sw__hs_s {
    /* Set by sw__hs_init; strings borrowed for the handshake's life. */
    int initiator;
    const char *our_name;
    const char *cookie;
    uint64_t our_flags;
    uint32_t our_creation;
    uint32_t our_challenge;
    sw__hs_decide_cb decide;
    void *ud;

    int state;         /* sw__hs_state_t */
    int failed_in;     /* state in which it failed, for logs */
    int name_version;  /* 5 or 6: form of the send_name sent or received */

    /* Learnt from the peer. */
    char peer_name[SW_MAXNODELEN + 1];
    uint64_t peer_flags;   /* with the mandatory bits filled in when the
                              peer used the 25 digest shorthand */
    uint32_t peer_creation;
    uint32_t peer_challenge;

    sw__hs_err_t err;
    /* Acceptor: we answered "alive" and the initiator answered "true" (it
     * holds no connection to us, so ours to it is stale). Acted on only
     * once the handshake is done. */
    int stale_confirmed;

    /* Bytes to send, each message with its 2-byte length. The owner sends
     * and then empties them (outlen = 0) after every call. */
    uint8_t out[SW_HS_OUT_MAX];
    size_t outlen;
};

/* Prepares a handshake. our_name ("alive@host") and cookie are borrowed
 * until the handshake ends; challenge is the random number we will send.
 * decide is required for an acceptor, ignored for an initiator. */
void sw__hs_init(sw__hs_t *hs, int initiator, const char *our_name, const char *cookie,
                 uint64_t our_flags, uint32_t our_creation, uint32_t challenge,
                 sw__hs_decide_cb decide, void *ud);

/* Initiator: queues send_name in hs->out for the node peer (the name we
 * expect back in the challenge; copied), in the 'N' form if peer_version >=
 * 6, else in the 'n' form. Returns 0, or -1 if peer is not a valid node
 * name. */
int sw__hs_start(sw__hs_t *hs, const char *peer, int peer_version);

/* Feeds one received message body (without its length). Returns a
 * sw__hs_result_t. After SW_HS_FAILED or SW_HS_DONE, further input is
 * refused with SW_HS_FAILED/SW_HS_ERR_PROTO. */
sw__hs_result_t sw__hs_input(sw__hs_t *hs, const uint8_t *msg, size_t len);

/* Short name of a state (sw__hs_state_t), for logs. */
const char *sw__hs_state_name(int state);

/* Short name of an error, for logs. */
const char *sw__hs_strerror(sw__hs_err_t err);

/* 1 if flags carry every OTP 25 mandatory flag (or the digest shorthand). */
int sw__hs_flags_ok(uint64_t flags);

/* 1 if name is "alive@host" with both parts non-empty, no NUL, at most
 * SW_MAXNODELEN bytes (len excludes any terminator). */
int sw__hs_valid_name(const char *name, size_t len);

/* MD5(cookie ++ decimal(challenge)) into out. */
void sw__hs_digest(uint8_t out[16], const char *cookie, uint32_t challenge);

/* ---- message codecs --------------------------------------------------
 * Encoders write one message with its 2-byte length at out, which must have
 * room for SW_HS_ENC_MAX bytes, and return the bytes written, or -1 if a
 * name is not valid (see sw__hs_valid_name). Decoders take a body without its length and return 0, or
 * -1 if it is malformed; names are copied NUL-terminated into a buffer of
 * SW_MAXNODELEN + 1 bytes. */
int sw__hs_enc_name(uint8_t *out, int version, uint64_t flags, uint32_t creation,
                    const char *name);
int sw__hs_dec_name(const uint8_t *m, size_t len, int *version, uint64_t *flags,
                    uint32_t *creation, char *name);
int sw__hs_enc_status(uint8_t *out, const char *status);
int sw__hs_enc_challenge(uint8_t *out, int version, uint64_t flags, uint32_t challenge,
                         uint32_t creation, const char *name);
/* version receives 6 for 'N', 5 for 'n' (then *creation is 0). */
int sw__hs_dec_challenge(const uint8_t *m, size_t len, int *version, uint64_t *flags,
                         uint32_t *challenge, uint32_t *creation, char *name);
int sw__hs_enc_complement(uint8_t *out, uint64_t flags, uint32_t creation);
int sw__hs_dec_complement(const uint8_t *m, size_t len, uint32_t *flags_high,
                          uint32_t *creation);
int sw__hs_enc_reply(uint8_t *out, uint32_t challenge, const uint8_t digest[16]);
int sw__hs_dec_reply(const uint8_t *m, size_t len, uint32_t *challenge, uint8_t digest[16]);
int sw__hs_enc_ack(uint8_t *out, const uint8_t digest[16]);
int sw__hs_dec_ack(const uint8_t *m, size_t len, uint8_t digest[16]);

#endif
