/* frame.h - the reader of length-prefixed messages of one distribution
 * connection: a growing buffer that the socket reads into, and a parser that
 * cuts it into messages <<Len:16 or 32/big, Body:Len>>.
 *
 * What it is: pure code (libc only). No socket, no libuv, so tests can feed it
 * byte by byte or in random splits. One reader serves both phases of a
 * connection: the handshake (2-byte lengths, every message non-empty) and the
 * connected phase (4-byte lengths, Len == 0 is a tick, a body must start with
 * 112 'p'). The phase is switched between two messages, keeping the bytes
 * already buffered, because a peer may send its first frame in the same TCP
 * segment as its last handshake message.
 *
 * What it is not: it does not decode terms, does not own a socket and never
 * copies a message out: outputs point into its buffer (picohttpparser style).
 * It does not trust a length header for memory: see sw__reader_space().
 */
#ifndef SW_FRAME_H
#define SW_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* What sw__reader_next() found. */
typedef enum {
    SW_FRAME_NONE = 0, /* incomplete: read more */
    SW_FRAME_MSG,      /* a message. Handshake phase: the whole body.
                          Connected phase: the body after its 112 byte. */
    SW_FRAME_TICK,     /* connected phase only: Len == 0 */
    SW_FRAME_BAD,      /* connected phase: body's first byte is not 112;
                          handshake phase: Len == 0. The message is consumed
                          (its boundary is known); body/len give it whole. */
    SW_FRAME_TOOBIG,   /* Len > max: nothing consumed, the stream cannot be
                          trusted any more; the caller closes. */
} sw__frame_kind_t;

typedef struct {
    char *buf;        /* owned; NULL until the first sw__reader_space() */
    size_t cap;       /* bytes allocated */
    size_t head;      /* first byte not yet parsed */
    size_t tail;      /* end of the bytes read */
    unsigned hdr;     /* 2 (handshake) or 4 (connected) */
    size_t max;       /* largest accepted Len */
} sw__reader_t;

/* Bytes that sw__reader_space() always offers at least (the capacity an
 * empty reader shrinks back to), and the capacity above which it shrinks. */
#define SW_READER_MIN_READ (64u * 1024u)
#define SW_READER_SHRINK_AT (4u * 1024u * 1024u)

/* Initialises an empty reader. hdr is 2 or 4; max the largest accepted body
 * length. Allocates nothing. */
void sw__reader_init(sw__reader_t *r, unsigned hdr, size_t max);

/* Frees the buffer; the reader may be initialised again afterwards. */
void sw__reader_free(sw__reader_t *r);

/* Switches the length header size and limit for the messages after those
 * already returned. Buffered bytes are kept and parsed with the new rules. */
void sw__reader_set_mode(sw__reader_t *r, unsigned hdr, size_t max);

/* Room to read into: *p and *len (>= SW_READER_MIN_READ / 2) describe the
 * free tail of the buffer; when less than that is left, room for a whole
 * SW_READER_MIN_READ is made (so bytes that trickle in cost one realloc
 * per half minimal read, not one per read). The buffer grows with the bytes received, doubling,
 * never beyond the current message's announced size (or the minimal read,
 * if larger): memory follows what a peer sent, not what it announced (a
 * 256 MiB header followed by 10 bytes costs about SW_READER_MIN_READ). A
 * message is always returned contiguous; growing a large one copies it
 * O(1) times per byte (realloc), a small one is read in place. A buffer
 * larger than SW_READER_SHRINK_AT shrinks back once its large message is
 * consumed. Returns 0, or -1 when out of memory (the buffered bytes are
 * kept). *p stays valid until the next call of sw__reader_space(). */
int sw__reader_space(sw__reader_t *r, char **p, size_t *len);

/* Records that n bytes were written at the *p of the last sw__reader_space()
 * (n <= its *len). */
void sw__reader_commit(sw__reader_t *r, size_t n);

/* Returns the next message (see sw__frame_kind_t). For SW_FRAME_MSG and
 * SW_FRAME_BAD, *body and *len describe it; they point into the buffer and
 * stay valid until the next sw__reader_space() or sw__reader_free(). For
 * SW_FRAME_TOOBIG, *len is the announced length. */
sw__frame_kind_t sw__reader_next(sw__reader_t *r, const char **body, size_t *len);

/* Bytes buffered but not yet returned as messages. */
size_t sw__reader_buffered(const sw__reader_t *r);

#endif
