/* store.h - the tracker's entry store: names, the pid index, reservations.
 *
 * What it is: a container of entries (one name each: its pid, stamp and,
 * for a register_name/4,5 entry, its MFA bytes), in one packed malloc'd
 * block per entry, found three ways:
 *   names   name bytes -> entry            (committed entries and
 *           reservations alike)
 *   pids    pid -> its committed entries   (the entry itself when the pid
 *           has one name, else a set listing them)
 *   resv    claim reservations, oldest first, each with a deadline: a FIFO
 *           whose head is the first to expire (deadlines are given in
 *           non-decreasing order)
 * An entry is in one of three states: committed (names + pids), a claim
 * reservation (names + resv) or a start reservation (names only; no pid
 * yet). The store counts committed entries, claim reservations and pids.
 *
 * What it is not: it knows nothing of peers, the agent, stamps' order or
 * the wire; it never encodes or decodes, and it never decides. The tracker
 * (tracker.c) says what goes in and out; the store keeps the indexes
 * consistent. Pids are compact (sw_pid_t of atoms.h): two pids are equal
 * when their four fields are.
 *
 * Ownership: entries are made by sw_entry_new and belong to the caller
 * until put in the store; from then the store holds them until
 * sw_store_remove (the caller frees), sw_store_drop or sw_store_close
 * (the store frees). Iteration over names or pids is slot by slot; see
 * each function for what may change meanwhile. */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atoms.h"
#include "htab.h"

/* A stamp: {Lamport counter, origin node} (origin: an atom index). */
typedef struct {
    uint64_t counter;
    uint32_t origin;
} sw_stamp_t;

/* A claim reservation: the owner said yes and waits for the pid's home. */
#define SW_RES_CLAIM 1
/* A start reservation: the owner runs an MFA; there is no pid yet
 * (pid.node is UINT32_MAX) and the entry is in no pid index. */
#define SW_RES_START 2

/* One name: a committed entry or a reservation, in one malloc'd block of
 * SW_ENTRY_HDR + nlen bytes (+ 4 + MFA size for an MFA entry). The most
 * frequent object of a C node, hence packed: no stored hash (sw_entry_hash
 * recomputes it from the name), the stamp as two fields (no padding), no
 * links (the pid index and the reservation records are outside), sizes and
 * kind in one word. A name of up to 20 bytes (say {worker, 12345}) makes a
 * 56-byte block, one 64-byte malloc chunk. */
typedef struct sw_entry_s sw_entry_t;
struct sw_entry_s {
    sw_pid_t pid;      /* SW_RES_START: node UINT32_MAX (no pid yet) */
    uint64_t counter;  /* stamp: Lamport counter */
    uint32_t origin;   /* stamp: atom of the node that issued it */
    uint32_t ix;       /* the store's: committed, position in its pid's set
                        * (0 when the pid has only this entry);
                        * SW_RES_CLAIM, its reservation record */
    uint32_t nlen : 24;    /* name size (sw_entry_new refuses longer names) */
    uint32_t reserved : 2; /* 0 committed, SW_RES_CLAIM or SW_RES_START */
    uint32_t has_mfa : 1;  /* the MFA follows the name */
    uint32_t handoff : 1;  /* the caller's (never read by the store) */
    uint32_t moving : 1;   /* the caller's (never read by the store) */
    uint32_t dead : 1;     /* the caller's (never read by the store) */
    uint32_t hfail : 1;    /* the caller's (never read by the store) */
    char name[];       /* term_to_binary bytes (with 131); for an MFA entry then
                        * the MFA size (4 bytes, native order, unaligned) and
                        * the MFA bytes */
};
#define SW_ENTRY_HDR offsetof(sw_entry_t, name)
#define SW_ENTRY_MAX_NAME ((1u << 24) - 1)

/* Size of e's MFA bytes (0 for a plain entry). */
static inline uint32_t sw_entry_mfalen(const sw_entry_t *e) {
    uint32_t l = 0;
    if (e->has_mfa) memcpy(&l, e->name + e->nlen, sizeof l);
    return l;
}

/* e's MFA bytes (sw_entry_mfalen() of them; none for a plain entry). */
static inline const char *sw_entry_mfa(const sw_entry_t *e) {
    return e->name + e->nlen + (e->has_mfa ? sizeof(uint32_t) : 0);
}

/* e's stamp, from its two packed fields. */
static inline sw_stamp_t sw_entry_stamp(const sw_entry_t *e) {
    sw_stamp_t s = {e->counter, e->origin};
    return s;
}

/* The hash under which the names table holds a name (len bytes). */
static inline uint64_t sw_name_hash(const char *name, size_t len) {
    return sw_hash_bytes(name, len, 0x6e616d65);
}

/* The hash under which the names table holds e (recomputed: not stored). */
static inline uint64_t sw_entry_hash(const sw_entry_t *e) { return sw_name_hash(e->name, e->nlen); }

/* Lookup key of the names table (for sw_entry_eq, an sw_htab_eq_cb). */
typedef struct {
    const char *name;
    size_t len;
} sw_namekey_t;

/* 1 if entry item has the name of namekey key. For tables of entries
 * keyed by name (the store's, and a caller's temporary ones). */
static inline int sw_entry_eq(const void *item, const void *key) {
    const sw_entry_t *e = item;
    const sw_namekey_t *k = key;
    return e->nlen == k->len && memcmp(e->name, k->name, k->len) == 0;
}

/* A new entry, committed (reserved 0) and in no index, holding copies of
 * the len bytes of name, *pid, *s and the mfalen bytes of mfa (mfalen 0: a
 * plain entry). The caller owns it (free() it). NULL when out of memory or
 * when len exceeds SW_ENTRY_MAX_NAME. */
sw_entry_t *sw_entry_new(const char *name, size_t len, const sw_pid_t *pid, const sw_stamp_t *s,
                         const char *mfa, size_t mfalen);

/* A pid's committed entries, as held in the pid index: the entry itself
 * when the pid has one name (the usual case), or an sw_pidset_t tagged with
 * the low bit. Read it with sw_pidnames_count and sw_pidnames_at. */
typedef struct sw_pidnames_s sw_pidnames_t;

/* The entries of a pid with several names: e[k]->ix == k. */
typedef struct {
    uint32_t n, cap; /* n >= 2 */
    sw_entry_t *e[];
} sw_pidset_t;

/* 1 if pn is a tagged sw_pidset_t (a pid with several names), 0 if it is
 * the pid's one entry. */
static inline int sw_pidnames_is_set(const sw_pidnames_t *pn) { return ((uintptr_t)pn & 1u) != 0; }
/* The set behind a tagged pn (sw_pidnames_is_set(pn) must hold). */
static inline sw_pidset_t *sw_pidnames_set(const sw_pidnames_t *pn) {
    return (sw_pidset_t *)((uintptr_t)pn & ~(uintptr_t)1);
}
/* Number of entries of a pid (>= 1). */
static inline uint32_t sw_pidnames_count(const sw_pidnames_t *pn) {
    return sw_pidnames_is_set(pn) ? sw_pidnames_set(pn)->n : 1;
}
/* The k-th entry of a pid (k < sw_pidnames_count(pn)); all have its pid. */
static inline sw_entry_t *sw_pidnames_at(const sw_pidnames_t *pn, uint32_t k) {
    return sw_pidnames_is_set(pn) ? sw_pidnames_set(pn)->e[k] : (sw_entry_t *)pn;
}

/* A claim reservation's record: its entry, expiry and FIFO links (indexes
 * in the store's resv array). Free records are chained through next. */
typedef struct {
    sw_entry_t *e; /* NULL when free */
    uint64_t deadline;
    uint32_t prev, next;
} sw_resv_t;

/* The store. Read its counters directly; everything else through the
 * functions below. Zeroed memory is not a valid store: use sw_store_init. */
typedef struct {
    sw_ctab_t names;            /* name -> sw_entry_t */
    sw_ctab_t pids;             /* pid -> sw_pidnames_t */
    sw_resv_t *resv;            /* claim reservation records */
    uint32_t resv_n, resv_cap;  /* records in use or on the free list; allocated */
    uint32_t resv_free;         /* free list head */
    uint32_t res_head, res_tail; /* reservations, oldest first */
    uint64_t committed;         /* committed entries */
    uint64_t reserved;          /* claim reservations */
    uint64_t pids_n;            /* pids in the pid index */
} sw_store_t;

/* Initialises an empty store (no allocation). */
void sw_store_init(sw_store_t *s);
/* Frees every entry the store holds and its indexes; the store is empty
 * (and initialised) afterwards. */
void sw_store_close(sw_store_t *s);

/* The entry (committed or reserved) of the len bytes at name, whose
 * sw_name_hash is h, or NULL. */
static inline sw_entry_t *sw_store_find(const sw_store_t *s, const char *name, size_t len,
                                        uint64_t h) {
    sw_namekey_t k = {name, len};
    return sw_ctab_find(&s->names, h, &k, sw_entry_eq);
}

/* Puts committed entry e (from sw_entry_new; its name not in the store; h
 * its sw_entry_hash) in the names table and the pid index. Returns 0, or
 * -1 when out of memory (nothing changed; e stays the caller's). Should
 * the pid index fail to grow, e is in the names table only: it is found
 * by name but not by pid, and removing it still works. */
int sw_store_commit(sw_store_t *s, sw_entry_t *e, uint64_t h);

/* Puts e (from sw_entry_new; its name not in the store) in as a claim
 * reservation expiring at deadline (not before the deadline of any
 * reservation already held), the youngest. Returns 0, or -1 when out of
 * memory (nothing changed; e stays the caller's). */
int sw_store_reserve(sw_store_t *s, sw_entry_t *e, uint64_t h, uint64_t deadline);

/* Puts e (from sw_entry_new; its name not in the store) in as a start
 * reservation: found by name only, never expires. Returns 0, or -1 when
 * out of memory (nothing changed; e stays the caller's). */
int sw_store_reserve_start(sw_store_t *s, sw_entry_t *e, uint64_t h);

/* Turns claim reservation e into a committed entry (out of the FIFO, into
 * the pid index). */
void sw_store_confirm(sw_store_t *s, sw_entry_t *e);

/* Takes e (in the store) out of every index; the caller owns it again.
 * Other entries of its pid may move inside the pid's item, but that item
 * stays in its pid-index slot (or the slot empties), so a walk of the pid
 * index slot by slot stays valid across removals. */
void sw_store_remove(sw_store_t *s, sw_entry_t *e);

/* sw_store_remove, then free(e). */
void sw_store_drop(sw_store_t *s, sw_entry_t *e);

/* The committed entries of pid, or NULL if it has none. */
const sw_pidnames_t *sw_store_pid(const sw_store_t *s, const sw_pid_t *pid);

/* ---- iteration ------------------------------------------------------------
 *
 * for (size_t i = 0; i < sw_store_slots_names(s); i++)
 *     if ((e = sw_store_name_at(s, i))) ...
 * and the same for pids. Removing entries meanwhile is allowed, inserting
 * is not. */

static inline size_t sw_store_slots_names(const sw_store_t *s) { return s->names.cap; }
/* The entry in names slot i, or NULL. */
static inline sw_entry_t *sw_store_name_at(const sw_store_t *s, size_t i) {
    return sw_ctab_at(&s->names, i);
}
/* Number of slots of the pid index (for walking it by slot). */
static inline size_t sw_store_slots_pids(const sw_store_t *s) { return s->pids.cap; }
/* The entries of the pid in pid-index slot i, or NULL. The slot keeps the
 * pid's item until its last entry is removed. */
static inline const sw_pidnames_t *sw_store_pid_at(const sw_store_t *s, size_t i) {
    return sw_ctab_at(&s->pids, i);
}

/* The oldest claim reservation, or NULL. */
sw_entry_t *sw_store_resv_oldest(const sw_store_t *s);
/* The claim reservation after e (a claim reservation in the store), or
 * NULL. Take it before removing e. */
sw_entry_t *sw_store_resv_next(const sw_store_t *s, const sw_entry_t *e);
/* The oldest claim reservation if its deadline is <= now, else NULL. */
sw_entry_t *sw_store_resv_expired(const sw_store_t *s, uint64_t now);

#endif
