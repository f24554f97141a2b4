/* atoms.h - interned node names and a fast pid codec, shared by the state
 * machines (tracker.c, group.c).
 *
 * What it is: a table that gives every distinct atom it is shown (node names,
 * in practice) a small index, dense from 0 and stable for the table's life;
 * indexes are local to one table and never go on the wire. With each atom it
 * keeps, made by ei once at interning, the atom's external encoding and the
 * encoding of a pid on that node up to its numbers, so that atoms and pids
 * are then written with a copy instead of ei's per-call sizing and checking.
 * Pids are held compactly (sw_pid_t: the node as an atom index).
 *
 * The pid codec. Pids are the most frequent term the state machines encode
 * and decode, and ei does both the slow way (ei_x_encode_pid sizes the term,
 * then encodes it, each time checking the node name character by character;
 * ei_decode_pid copies the name into a 1 KiB struct). The ei linked here
 * (erl_interface 5.x) writes a pid as NEW_PID_EXT: 'X', the node atom, then
 * num, serial and creation as 32-bit big-endian integers, as they are; it
 * reads them back the same way. That is checked on probe pids once per
 * process; if it holds, a pid is encoded as its node atom's prefix (made by
 * ei, kept with the atom) followed by the three numbers, and a NEW_PID_EXT
 * whose node is a plain ASCII atom is read directly. Any other pid, or any
 * other ei, goes through ei: the bytes are ei's either way.
 *
 * What it is not: a general atom cache (atoms are never removed; a table
 * grows with the node names it has seen) nor a term validator: the decoders
 * expect a term that sw_term_validate has accepted. */
#ifndef SW_ATOMS_H
#define SW_ATOMS_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"

/* What the interning functions return when out of memory, and what
 * sw_atoms_find returns for an atom never interned. */
#define SW_ATOM_NONE UINT32_MAX

/* One interned atom (read it through the functions below). */
typedef struct {
    uint64_t hash;
    uint32_t idx;
    uint32_t len;
    uint32_t extlen; /* size of the atom's external encoding (by ei), after
                      * str; 0 when ei cannot encode it */
    uint32_t pidlen; /* size of the encoding of a pid on this node up to its
                      * numbers (after the atom's encoding); 0: not known,
                      * pids on this node are encoded by ei */
    char str[];      /* the name, NUL-terminated, then its ei_encode_atom
                      * bytes, then the pid prefix */
} sw_atom_t;

/* The table. Zeroed memory is not a valid table: use sw_atoms_init.
 *
 * Guarding. Atoms are never freed, so input that anybody with the cookie
 * can send (a peer C node's ops) must not add atoms at will. While the
 * table is guarded (sw_atoms_guard), interning an atom that is not in the
 * table yet takes one unit of a budget, and fails (SW_ATOM_NONE, counted
 * in `refused`) once the budget is spent; lookups of known atoms are not
 * affected. The owner refills the budget on trusted events (its agent
 * reporting a node up), when a peer may legitimately mention a node this
 * table has not met yet (a race while nodes join). */
typedef struct {
    sw_htab_t tab;
    sw_atom_t **byidx;
    uint32_t n, cap;
    int guarded;
    uint32_t budget;  /* new atoms allowed while guarded */
    uint64_t refused; /* interns refused for want of budget */
} sw_atoms_t;

/* The budget a refill gives (sw_atoms_refill). */
#define SW_ATOMS_BUDGET 64

/* Guards the table (on != 0) or lifts the guard. */
void sw_atoms_guard(sw_atoms_t *at, int on);
/* Sets the budget back to SW_ATOMS_BUDGET. */
void sw_atoms_refill(sw_atoms_t *at);

/* A pid in compact form: node is an index in an atom table. */
typedef struct {
    uint32_t node, num, serial, creation;
} sw_pid_t;

/* Initialises an empty table (no allocation). */
void sw_atoms_init(sw_atoms_t *at);
/* Frees every atom and the table's arrays; the table is empty afterwards. */
void sw_atoms_close(sw_atoms_t *at);

/* The index of the len bytes at s (no NUL among them), interning them;
 * SW_ATOM_NONE on out of memory, or for a new atom while the table is
 * guarded and its budget spent. A new atom's external encoding and pid
 * prefix are made here, once. */
uint32_t sw_atoms_intern_len(sw_atoms_t *at, const char *s, size_t len);
/* sw_atoms_intern_len of a NUL-terminated string. */
uint32_t sw_atoms_intern(sw_atoms_t *at, const char *s);
/* The index of the NUL-terminated s, or SW_ATOM_NONE if it was never
 * interned (nothing is added). */
uint32_t sw_atoms_find(const sw_atoms_t *at, const char *s);

/* The NUL-terminated name of atom idx (idx < at->n), valid for the table's
 * life. (Inline: comparisons of node names call it in loops.) */
static inline const char *sw_atoms_str(const sw_atoms_t *at, uint32_t idx) {
    return at->byidx[idx]->str;
}

/* Appends atom idx to x, as ei_x_encode_atom(x, sw_atoms_str(at, idx))
 * would, from the bytes made at interning. */
void sw_atoms_enc(ei_x_buff *x, const sw_atoms_t *at, uint32_t idx);

/* Decodes the atom at buf[*index] and interns it: its index (and *index
 * moves past it), or SW_ATOM_NONE when it is malformed (or out of memory). */
uint32_t sw_atoms_dec(sw_atoms_t *at, const char *buf, int *index);

/* The atom at buf[*index] as it stands, when ei_decode_atom would return
 * exactly its bytes: plain ASCII without NUL (the same bytes in Latin-1 and
 * UTF-8, under each of the four atom tags, and the same C string) and at
 * most 255 of them (what every version of ei_decode_atom accepts). Then
 * sets *s (pointing into buf) and *len, moves *index past it and returns 1;
 * otherwise returns 0 and leaves *index alone (the caller asks ei). buf
 * must hold a validated term at *index (sw_term_validate). */
int sw_atom_ascii(const char *buf, int *index, const char **s, size_t *len);

/* ei_decode_atom into out (MAXATOMLEN_UTF8 bytes), without ei's per-byte
 * conversion when sw_atom_ascii applies. Returns 0, or -1 as
 * ei_decode_atom. */
int sw_atom_dec(const char *buf, int *index, char *out);

/* ---- pids ---------------------------------------------------------------- */

/* Appends pid p (p->node interned in at), as ei_x_encode_pid would. */
void sw_pid_enc(ei_x_buff *x, const sw_atoms_t *at, const sw_pid_t *p);

/* Decodes the pid at buf[*index] (a validated term) into compact form,
 * interning its node: directly for a NEW_PID_EXT on a plain ASCII node
 * when the codec applies (see above), else by ei_decode_pid. Returns 0 and
 * moves *index past it, or -1 when it is not a pid (or out of memory). */
int sw_pid_dec(sw_atoms_t *at, const char *buf, int *index, sw_pid_t *p);

/* The compact form of *ep, interning its node. Returns 0, or -1 on out of
 * memory. */
int sw_pid_compact(sw_atoms_t *at, const erlang_pid *ep, sw_pid_t *out);

/* The erlang_pid of a compact pid. Only the node name up to its NUL and the
 * three numbers are written (the struct is over 1 KiB; neither ei nor the
 * callers read past the NUL). */
void sw_pid_expand(const sw_atoms_t *at, const sw_pid_t *p, erlang_pid *ep);

#endif
