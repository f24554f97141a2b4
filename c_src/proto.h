/* proto.h - the protocol table of include/swarm_proto.h at run time: atom
 * text to table entry (for dispatch) and entry to encoded atom (for
 * writing messages).
 *
 * What it is: a lookup over SW_MSGS that costs one hash of the atom's
 * bytes and, usually, one comparison, whatever the entry (also straight
 * from an encoded term, without decoding the atom first); and the external
 * encoding of every entry, made once per process, that encoders copy
 * instead of calling ei_x_encode_atom (the envelope's SW_PROTO_TAG too).
 * Pure: no I/O, no state besides the tables built before main() runs.
 * What it is not: a decoder of messages (dist.c, tracker_msg.c) nor the
 * list itself (include/swarm_proto.h). */
#ifndef SW_PROTO_H
#define SW_PROTO_H

#include <ei.h>
#include <stddef.h>

#include "swarm_proto.h"

/* The entry whose atom is the NUL-terminated text `atom` (SW_MSG_*), or -1
 * if the protocol has no such atom (NULL included). */
int sw_proto_lookup(const char *atom);

/* The same for the len bytes at s (no NUL needed). */
int sw_proto_lookup_n(const char *s, size_t len);

/* The atom at buf[*index] in external format (any of its four encodings),
 * looked up where it lies, without copying it: the dispatcher's way to read
 * a tag. Returns the entry and moves *index past the atom; -1 if it is an
 * atom that is not an entry (*index moves past it too); -2 if it is not an
 * atom (*index unchanged). Like ei's decoders, it trusts the length the
 * atom announces: the term must have been validated (sw_term_validate_*). */
int sw_proto_decode(const char *buf, int *index);

/* Appends the external encoding of entry m's atom to x (as
 * ei_x_encode_atom(x, sw_msg_name[m]) would). Returns 0, or -1 if m is not
 * an entry or x could not grow. */
int sw_proto_encode(ei_x_buff *x, int m);

/* The external encoding of entry m's atom made once (*len bytes), for a
 * caller that keeps an encoded atom as a term of its own (a reply's
 * Result); NULL (and *len 0) if m is not an entry. */
const char *sw_proto_bytes(int m, size_t *len);

/* Appends the external encoding of the envelope atom SW_PROTO_TAG to x (as
 * ei_x_encode_atom(x, SW_PROTO_TAG) would). Returns 0, or -1 if x could not
 * grow. */
int sw_proto_encode_tag(ei_x_buff *x);

#endif
