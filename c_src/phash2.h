/* phash2.h - erlang:phash2/1,2 of OTP, computed in C on a term in the
 * external term format (the bytes of term_to_binary, or a term inside an ei
 * buffer).
 *
 * What it is: a bounded, allocation-light reader of the external format that
 * computes the BEAM's portable hash ("make_hash2") bit for bit, so that the C
 * node places names on the ring exactly where the BEAM (and libring) would.
 * The BEAM is the oracle: test/phash2_SUITE.erl compares this code with
 * erlang:phash2/1,2 on tens of thousands of random terms.
 *
 * What it is not: a general decoder (it builds no term), nor erlang:phash/2
 * (the older hash) nor the VM-internal hash. It never reads past `len`, never
 * asserts on input and never recurses on the C stack: input is network data.
 *
 * Semantics worth knowing (measured on OTP 25):
 *  - phash2(T) is the 32-bit hash masked to its low 27 bits; phash2(T, R) is
 *    the hash modulo R for 1 <= R <= 2^32.
 *  - -0.0 hashes as 0.0 (the BEAM normalises it; newer releases keep doing
 *    so even where -0.0 and 0.0 are different terms).
 *  - Atoms hash their text (hashpjw over the UTF-8 name with latin1 bytes
 *    folded back), so ATOM_EXT 'foo' and SMALL_ATOM_UTF8_EXT 'foo' agree.
 *  - STRING_EXT hashes as the list of small integers it stands for; a list
 *    whose tail is a LIST_EXT or STRING_EXT is the same flat list.
 *  - Integers hash by value, whatever their encoding (INTEGER_EXT, a bignum
 *    with leading zero bytes, ...).
 *  - Pids hash only their ID field (not node, serial, creation); ports their
 *    ID (both 32-bit halves for V4_PORT_EXT); references only their first
 *    ID word. Two pids of different nodes with the same ID hash the same.
 *  - Maps hash independently of the order of their pairs. Duplicate keys in
 *    a MAP_EXT are not detected (the BEAM rejects such input).
 *  - Funs (NEW_FUN_EXT) and exports (EXPORT_EXT) are supported.
 *  - Compressed terms (tag 80) are not: SW_PHASH2_ENOTSUP.
 */
#ifndef SW_PHASH2_H
#define SW_PHASH2_H

#include <stddef.h>
#include <stdint.h>

/* Error codes: one X-macro so names and strings cannot drift. */
#define SW_PHASH2_ERRNO_MAP(XX)                                                  \
    XX(ETRUNC, -1, "term truncated: the input ends inside it")                   \
    XX(EBADTAG, -2, "unknown or unsupported external term tag")                  \
    XX(EBADTERM, -3, "malformed term (the BEAM's binary_to_term rejects it)")    \
    XX(EVERSION, -4, "missing external format version byte 131")                \
    XX(ETRAILING, -5, "bytes left after the term")                               \
    XX(EDEPTH, -6, "term nested deeper than SW_PHASH2_MAX_DEPTH")                \
    XX(ENOMEM, -7, "out of memory")                                              \
    XX(EINVAL, -8, "invalid argument")                                           \
    XX(ENOTSUP, -9, "compressed term: not supported")

enum {
#define SW_PHASH2_ERR_ENUM(name, val, str) SW_PHASH2_##name = (val),
    SW_PHASH2_ERRNO_MAP(SW_PHASH2_ERR_ENUM)
#undef SW_PHASH2_ERR_ENUM
};

/* Deepest nesting of containers (tuples, lists in head position, maps, fun
 * environments) accepted; deeper input gets SW_PHASH2_EDEPTH. A flat list
 * of any length counts as one level. */
#define SW_PHASH2_MAX_DEPTH 1000000

/* The range libring and this project use: phash2(T, 4294967295). */
#define SW_PHASH2_RANGE_RING 4294967295u

/* Largest UTF-8 byte length of an atom's text (255 characters). */
#define SW_PHASH2_ATOM_MAX_UTF8 1020

/* The 32-bit portable hash (make_hash2) of the term filling buf[0..len),
 * which starts with the version byte 131.
 * Returns 0 and sets *hash, or a negative SW_PHASH2_* code: EVERSION without
 * 131, ETRUNC/EBADTAG/EBADTERM on bad input, ETRAILING if bytes follow the
 * term, EDEPTH, ENOMEM, EINVAL for NULL arguments. buf is only read. */
int sw_phash2_hash(const char *buf, size_t len, uint32_t *hash);

/* As sw_phash2_hash, for the term at buf[*index] (no version byte there;
 * the convention of ei's decode functions). On success *index is advanced
 * past the term; on failure *index is left unchanged. len is the length of
 * the whole buffer. */
int sw_phash2_hash_at(const char *buf, size_t len, int *index, uint32_t *hash);

/* erlang:phash2 from a hash: range 0 gives phash2/1 (hash & (2^27 - 1)),
 * range 1..2^32 gives phash2(T, range) (hash mod range). Returns 0 and sets
 * *out, or SW_PHASH2_EINVAL for a range above 2^32 or a NULL out. */
int sw_phash2_apply_range(uint32_t hash, uint64_t range, uint32_t *out);

/* erlang:phash2(T) (range 0) or erlang:phash2(T, range) of the term filling
 * buf[0..len) (with the 131 byte). Errors as sw_phash2_hash and
 * sw_phash2_apply_range. */
int sw_phash2(const char *buf, size_t len, uint64_t range, uint32_t *out);

/* As sw_phash2 for the term at buf[*index] (no version byte); advances
 * *index past it on success only. */
int sw_phash2_at(const char *buf, size_t len, int *index, uint64_t range, uint32_t *out);

/* erlang:phash2(Bin, range) (range 0: phash2/1) where Bin is the binary
 * holding data[0..len). Used for libring's atom keys, which are hashed as
 * phash2(term_to_binary(Atom)). Errors: SW_PHASH2_EINVAL. */
int sw_phash2_bytes(const void *data, size_t len, uint64_t range, uint32_t *out);

/* Reads the atom at buf[*index] (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT or
 * SMALL_ATOM_UTF8_EXT; no version byte) into out as UTF-8, NUL-terminated,
 * and validates it as the BEAM does (at most 255 characters, valid UTF-8).
 * out must hold SW_PHASH2_ATOM_MAX_UTF8 + 1 bytes. Sets *out_len to the
 * byte length and, if latin1 is not NULL, *latin1 to 1 when every character
 * is below 256 (the atom can be written as ATOM_EXT). Advances *index on
 * success. Errors: ETRUNC, EBADTAG (not an atom), EBADTERM, EINVAL. */
int sw_phash2_atom_text(const char *buf, size_t len, int *index, char *out,
                        size_t *out_len, int *latin1);

/* Name ("SW_PHASH2_ETRUNC") and description of an error code; "unknown" for
 * codes not in SW_PHASH2_ERRNO_MAP. Static strings. */
const char *sw_phash2_err_name(int err);
const char *sw_phash2_strerror(int err);

#endif
