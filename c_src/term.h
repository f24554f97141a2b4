/* term.h - bounds-checked validation of Erlang external term format.
 *
 * What it is: a walker that proves a byte range holds well-formed terms
 * before ei's decoders (which trust their input and take no length) touch it.
 * Every tag's length fields are checked against the end of the buffer, so a
 * truncated or lying frame is refused instead of read past.
 * Beside it, the small helpers of the messages' terms: raw slices, the
 * counters of stats replies, names as text for log lines.
 * What it is not: a decoder; validation builds nothing and allocates
 * nothing. */
#ifndef SW_TERM_H
#define SW_TERM_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

/* Validates one term (no 131 version byte) starting at buf[*index], with
 * buf holding len bytes. On success returns 0 and advances *index past the
 * term. Returns -1 (index unchanged) on truncation, an unknown or unsupported
 * tag (atom cache references, LOCAL_EXT, funs: a fun is never a
 * registry name nor part of the protocol), or more than 10,000,000 terms
 * pending at once (announced by the headers of the containers being read,
 * not read yet: a huge list, or deep nesting of lists). Any depth of
 * nesting is accepted: use it for terms that are only ever walked by this
 * module and phash2.c (names and groups inside their binaries), never for
 * terms that ei's recursive functions may walk. Iterative: deep nesting
 * cannot exhaust the C stack. */
int sw_term_validate(const char *buf, size_t len, int *index);

/* Deepest nesting of containers (tuples, lists, maps) that a message from
 * the network may have. The protocol itself nests a few levels; a caller's
 * Ref or an MFA result is opaque but shallow. */
#define SW_TERM_MAX_DEPTH 128

/* As sw_term_validate, and also refuses a term whose containers nest more
 * than max_depth levels (1..SW_TERM_MAX_DEPTH; a bare atom is depth 0, [a]
 * depth 1). Every frame received is checked with this before any ei
 * function reads it, so no recursion of ei's can go deeper than that.
 * Returns 0 or -1 (index unchanged; also for max_depth 0). */
int sw_term_validate_depth(const char *buf, size_t len, int *index, unsigned max_depth);

/* Moves *index past the term at buf[*index], which a validation above has
 * accepted (with its buffer's true length). The iterative replacement of
 * ei_skip_term, which recurses. Returns 0, or -1 on an unknown tag. */
int sw_term_skip(const char *buf, int *index);

/* Validates a whole external term: the 131 byte followed by exactly one term
 * filling all len bytes. Returns 0 or -1. */
int sw_term_validate_ext(const char *buf, size_t len);

/* Decoders for terms inside a frame that sw_term_validate has already
 * accepted as a whole (so every length inside it fits the buffer); they
 * point into buf and copy nothing. */

/* The binary at buf[*index], whose contents must be one whole external term
 * (131 byte first) of 2..max bytes, itself validated here. Sets *term and
 * *len to those contents and advances *index. Returns 0, or -1 (index
 * unchanged) if it is not a binary, has the wrong size or holds no valid
 * term. Used for names and groups (NameBin). */
int sw_term_dec_ext_bin(const char *buf, int *index, size_t max, const char **term, size_t *len);

/* The encoded bytes of the term at buf[*index] (no 131 byte: a term inside
 * a message, e.g. a Ref), for passing on verbatim. Sets *raw and *len and
 * advances *index. Returns 0, or -1 (index unchanged). */
int sw_term_dec_raw(const char *buf, int *index, const char **raw, size_t *len);

/* One counter of a stats reply. */
typedef struct {
    const char *k;
    uint64_t v;
} sw_counter_t;

/* Appends to x the proplist [{K, V}] of the n counters kv (atoms and
 * non-negative integers): the body of every stats reply. */
void sw_term_enc_counters(ei_x_buff *x, const sw_counter_t *kv, size_t n);

/* Writes the term of len bytes at buf (with its 131 version byte, as names
 * are kept) as Erlang text into out (cap > 4 bytes), NUL-terminated, cut
 * with "..." when longer: for log lines. A term that is not valid, or is
 * nested deeper than SW_TERM_MAX_DEPTH (ei's printer recurses), is written
 * as "<term of N bytes>". Returns out. */
const char *sw_term_snprint(char *out, size_t cap, const char *buf, size_t len);

#endif
