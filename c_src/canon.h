/* canon.h - the canonical encoding of a name: any valid external term
 * re-encoded into the bytes the cluster's BEAM nodes would give it.
 *
 * What it is: the registry compares names and groups by their encoding,
 * NameBin, made on the BEAM by swarm:encode/1, i.e.
 * term_to_binary(Name, [deterministic]) with -0.0 written as 0.0. A C
 * program builds terms with ei, which encodes the same term differently
 * (UTF-8 atom tags, lists of small integers as LIST_EXT, INTEGER_EXT or
 * bignums for small integers...). sw_canon_term maps every valid encoding
 * of a term onto the one NameBin of that term, so a name built in C finds
 * the same entry as the name built in Erlang.
 *
 * What it is not: a decoder (it builds no term, only bytes), nor a
 * canonical form for maps (those would need the BEAM's term order to sort
 * their keys, and are refused), nor a general term_to_binary (funs are
 * refused: they are never names). Input is untrusted: it is proved
 * well-formed by term.h's validator first, nesting is bounded by
 * SW_TERM_MAX_DEPTH, and nothing recurses on the C stack.
 *
 * The rules (those of OTP's encoder, checked against OTP 25's BEAM):
 *  - atoms: with utf8_atoms == 0 (OTP 25 and earlier, minor_version 1) an
 *    atom whose characters are all latin-1 is ATOM_EXT (100, 2-byte length,
 *    latin-1 bytes), any other SMALL_ATOM_UTF8_EXT (119) when its UTF-8
 *    takes at most 255 bytes, else ATOM_UTF8_EXT (118); with utf8_atoms == 1
 *    (OTP 26+, minor_version 2) every atom is 119, or 118 past 255 bytes.
 *    The same holds for the node atoms inside pids, ports and references.
 *  - integers by value: 0..255 SMALL_INTEGER_EXT, other 32-bit signed
 *    values INTEGER_EXT, the rest SMALL_BIG_EXT (up to 255 digit bytes) or
 *    LARGE_BIG_EXT, without high zero digits; a bignum that fits 32 bits
 *    (also a zero or "negative zero" one) takes the small forms.
 *  - floats: NEW_FLOAT_EXT; -0.0 becomes 0.0 (swarm:encode/1 does the
 *    same); old FLOAT_EXT strings are read as the BEAM reads them
 *    ([+-]digits[.,]digits[(e|E)[+-]digits], NUL-terminated within the 31
 *    bytes); NaN, infinities and overflowing strings are invalid.
 *  - lists are flattened across chained LIST_EXT / STRING_EXT tails (a
 *    LIST_EXT of no elements is its tail): [] is NIL_EXT; a proper list of
 *    1..65535 integers in 0..255 is STRING_EXT; any other list one LIST_EXT
 *    of all its elements, then its tail (NIL_EXT, or the improper tail).
 *  - tuples: SMALL_TUPLE_EXT up to arity 255, else LARGE_TUPLE_EXT.
 *  - binaries BINARY_EXT; a bitstring BIT_BINARY_EXT with its unused low
 *    bits cleared, or BINARY_EXT when its last byte is whole (8 bits); an
 *    empty BIT_BINARY_EXT is invalid (the BEAM refuses it).
 *  - pids NEW_PID_EXT; ports NEW_PORT_EXT when the id fits 28 bits, else
 *    V4_PORT_EXT; references NEWER_REFERENCE_EXT with the same id words.
 *    The old forms (PID_EXT, PORT_EXT, REFERENCE_EXT, NEW_REFERENCE_EXT)
 *    are converted, and refused as the BEAM refuses them: an 8-bit
 *    creation above 3, or a first reference word of REFERENCE_EXT or
 *    NEW_REFERENCE_EXT above 18 bits.
 */
#ifndef SW_CANON_H
#define SW_CANON_H

#include <ei.h>
#include <stddef.h>

enum {
    SW_CANON_OK = 0,
    SW_CANON_EBAD = -1,     /* not one valid external term: bad or truncated
                               bytes, no 131 byte, bytes after the term,
                               nesting deeper than SW_TERM_MAX_DEPTH, a value
                               the BEAM refuses (NaN, an empty bitstring...) */
    SW_CANON_EREFUSED = -2, /* a valid term that is no name: it holds a map
                               or a fun */
    SW_CANON_ENOMEM = -3,   /* out had to grow and could not */
};

/* Appends to out (initialised by the caller, e.g. with ei_x_new; it may
 * hold bytes already) the canonical encoding of the term in in[0..len),
 * version byte 131 included. in must be one whole external term: the 131
 * byte, then exactly one term and nothing after it. utf8_atoms: 0 for a
 * cluster of OTP 25 and earlier, 1 for OTP 26 and later (see above).
 * Returns SW_CANON_OK, or a negative SW_CANON_* code, with out->index
 * unchanged (its buffer may have grown). A term holding a map or a fun is
 * SW_CANON_EREFUSED when the bytes before the first of them are
 * well-formed: the validator does not read closures, so what follows the
 * first map or fun is not checked. Idempotent: canonical input comes back
 * byte for byte. Pure: no I/O, no globals. */
int sw_canon_term(const char *in, size_t len, int utf8_atoms, ei_x_buff *out);

#endif
