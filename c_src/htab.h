/* htab.h - open-addressing hash tables: of item pointers (sw_htab_t, and
 * the compact sw_ctab_t below), and of array indexes (sw_itab_t, below).
 *
 * What it is: containers of references to caller-owned items, found by a
 * 64-bit hash plus an equality callback. sw_htab_t stores item pointers:
 * linear probing, tombstones, grows at 3/4 load and rebuilds when
 * tombstones pile up.
 * What it is not: it never allocates, copies or frees items, and it does not
 * hash keys itself (sw_hash_bytes() is provided for that).
 *
 * Iteration: for (size_t i = 0; i < t->cap; i++) if (sw_htab_at(t, i)) ...
 * Removing the current item while iterating is allowed; inserting is not. */
#ifndef SW_HTAB_H
#define SW_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t hash;
    void *item; /* NULL: empty; SW_HTAB_TOMB: deleted */
} sw_htab_slot_t;

typedef struct {
    sw_htab_slot_t *slots;
    size_t cap;   /* power of two, or 0 before the first insert */
    size_t count; /* live items */
    size_t tombs; /* deleted slots */
} sw_htab_t;

/* Equality of a stored item with a lookup key: non-zero when equal. */
typedef int (*sw_htab_eq_cb)(const void *item, const void *key);

/* Initialises an empty table (no allocation). */
void sw_htab_init(sw_htab_t *t);
/* Frees the slot array (not the items); the table is empty afterwards. */
void sw_htab_close(sw_htab_t *t);

/* The item with this hash for which eq(item, key) holds, or NULL. */
void *sw_htab_find(const sw_htab_t *t, uint64_t hash, const void *key, sw_htab_eq_cb eq);

/* Inserts item under hash. The caller guarantees no equal item is present
 * (use sw_htab_find first). Returns 0, or -1 when out of memory (table
 * unchanged). */
int sw_htab_insert(sw_htab_t *t, uint64_t hash, void *item);

/* Removes this exact item pointer (stored under hash). Returns 0, or -1 if
 * it is not in the table. */
int sw_htab_remove(sw_htab_t *t, uint64_t hash, const void *item);

/* Swaps the stored pointer old (under hash) for item, in the same slot: no
 * resize, no reordering, so it is safe while iterating. item must be equal
 * to old for the table's eq. Returns 0, or -1 if old is not in the table. */
int sw_htab_replace(sw_htab_t *t, uint64_t hash, const void *old, void *item);

/* The item in slot i (i < cap), or NULL for an empty or deleted slot. */
void *sw_htab_at(const sw_htab_t *t, size_t i);

/* A 64-bit hash of len bytes with a seed; good dispersion, not
 * cryptographic. */
uint64_t sw_hash_bytes(const void *data, size_t len, uint64_t seed);

/* Mixes a 64-bit integer into a well-dispersed 64-bit hash. */
uint64_t sw_hash_u64(uint64_t x);

/* ---- compact table ------------------------------------------------------
 *
 * sw_ctab_t: the contract of sw_htab_t (caller-owned item pointers found by
 * a 64-bit hash plus an equality callback; never allocates, copies or frees
 * items) in about 9 bytes per slot instead of 16, and one cache line per
 * probe, for tables with many items. It keeps, per slot, the item pointer
 * and one control byte (empty, deleted, or 7 bits of the item's hash), not
 * the hash itself: so it takes the items' hash function at init, and calls
 * it on every item when it rebuilds (growth, or too many tombstones). The
 * hash passed to find, insert, remove and replace must be the one that
 * function gives for the item (or key).
 *
 * Slots come in groups of 7 that fill one 64-byte line: 8 control bytes
 * (the last unused), matched 8 at a time, then 7 item pointers. A probe
 * reads a group at a time; groups follow a triangular sequence that visits
 * each group once. That keeps probes short up to 7/8 full (live items and
 * tombstones), the load at which the table rebuilds: doubling when live
 * items fill more than 25/32 of the slots, else at the same size.
 *
 * Iteration: for (size_t i = 0; i < t->cap; i++) if (sw_ctab_at(t, i)) ...
 * Removing or replacing the current item while iterating is allowed;
 * inserting is not. */

/* The hash of a stored item (as given to sw_ctab_insert). */
typedef uint64_t (*sw_ctab_hash_cb)(const void *item);

#define SW_CTAB_GROUP 7 /* slots per group */

typedef struct {
    uint8_t ctrl[8];                 /* ctrl[k] describes items[k]; ctrl[7] unused */
    void *items[SW_CTAB_GROUP];
} sw_ctab_group_t;

typedef struct {
    sw_ctab_group_t *groups; /* a power of two >= 2 of them, 64-byte aligned */
    size_t ngroups;          /* 0 before the first insert */
    size_t cap;              /* slots: SW_CTAB_GROUP * ngroups; slot i is
                              * groups[i / 7].items[i % 7] */
    size_t count;            /* live items */
    size_t tombs;            /* deleted slots */
    sw_ctab_hash_cb hash;    /* the items' hash function */
} sw_ctab_t;

/* Initialises an empty table (no allocation) whose items hash with hash. */
void sw_ctab_init(sw_ctab_t *t, sw_ctab_hash_cb hash);
/* Frees the groups (not the items); the table is empty afterwards and keeps
 * its hash function. */
void sw_ctab_close(sw_ctab_t *t);

/* The item with this hash for which eq(item, key) holds, or NULL. */
void *sw_ctab_find(const sw_ctab_t *t, uint64_t hash, const void *key, sw_htab_eq_cb eq);

/* Inserts item under hash. The caller guarantees no equal item is present.
 * Returns 0, or -1 when out of memory (table unchanged). */
int sw_ctab_insert(sw_ctab_t *t, uint64_t hash, void *item);

/* Removes this exact item pointer (stored under hash). Returns 0, or -1 if
 * it is not in the table. Removing the last item may clear the tombstones
 * (all slots are then empty); iterating stays safe. */
int sw_ctab_remove(sw_ctab_t *t, uint64_t hash, const void *item);

/* Swaps the stored pointer old (under hash) for item, in the same slot: no
 * rebuild, so it is safe while iterating. item must be equal to old for the
 * table's eq and have the same hash. Returns 0, or -1 if old is not in the
 * table. */
int sw_ctab_replace(sw_ctab_t *t, uint64_t hash, const void *old, void *item);

/* The item in slot i (i < cap), or NULL for an empty or deleted slot. */
void *sw_ctab_at(const sw_ctab_t *t, size_t i);

/* Bytes of the groups (what the table itself holds, items aside). */
size_t sw_ctab_bytes(const sw_ctab_t *t);

/* ---- index table ---------------------------------------------------------
 *
 * sw_itab_t: a set of 32-bit indexes into an array the caller owns (records
 * that move when the array grows, so item pointers would not do), in 4
 * bytes per slot. It keeps neither hashes nor keys: the calls that need them
 * take the caller's functions for the hash of a stored index and for the
 * equality of an index with a lookup key, and their context (the caller's
 * array, or what holds it). Linear probing over a power-of-two array at
 * most 3/4 full (it doubles before an insert would pass that); deletion
 * shifts the following entries back, so there are no tombstones and a
 * table that churns never rebuilds. It never shrinks before close.
 *
 * Iteration: for (size_t i = 0; i < t->cap; i++) if (sw_itab_at(t, i) !=
 * SW_ITAB_NONE) ... Removing or inserting while iterating is not allowed
 * (a removal may shift a later entry into a visited slot). */

#define SW_ITAB_NONE UINT32_MAX

/* The hash of stored index idx, as given to sw_itab_insert. */
typedef uint64_t (*sw_itab_hash_cb)(const void *ctx, uint32_t idx);
/* Equality of stored index idx with a lookup key: non-zero when equal. */
typedef int (*sw_itab_eq_cb)(const void *ctx, uint32_t idx, const void *key);

typedef struct {
    uint32_t *slots; /* index + 1; 0: empty */
    uint32_t cap;    /* power of two, or 0 before the first insert */
    uint32_t mask;   /* cap - 1 */
    uint32_t count;  /* live indexes */
} sw_itab_t;

/* Initialises an empty table (no allocation). */
void sw_itab_init(sw_itab_t *t);
/* Frees the slots; the table is empty afterwards. */
void sw_itab_close(sw_itab_t *t);

/* The stored index with this hash for which eq(ctx, index, key) holds, or
 * SW_ITAB_NONE. Inline, so that a constant eq is inlined too. */
static inline uint32_t sw_itab_find(const sw_itab_t *t, uint64_t hash, const void *key,
                                    sw_itab_eq_cb eq, const void *ctx) {
    if (!t->cap) return SW_ITAB_NONE;
    for (size_t i = (size_t)hash & t->mask;; i = (i + 1) & t->mask) {
        uint32_t s = t->slots[i];
        if (!s) return SW_ITAB_NONE;
        if (eq(ctx, s - 1, key)) return s - 1;
    }
}

/* Inserts index idx (< SW_ITAB_NONE) under hash. The caller guarantees no
 * equal index is present. Growing rehashes every stored index with
 * hash(ctx, index). Returns 0, or -1 when out of memory (table unchanged). */
int sw_itab_insert(sw_itab_t *t, uint64_t hash, uint32_t idx, sw_itab_hash_cb hfn, const void *ctx);

/* Removes index idx, stored under hash, which must be in the table. The
 * entries after it in its probe chain move back (their hashes are asked
 * of hfn). */
void sw_itab_remove(sw_itab_t *t, uint64_t hash, uint32_t idx, sw_itab_hash_cb hfn, const void *ctx);

/* The index in slot i (i < cap), or SW_ITAB_NONE for an empty slot. */
static inline uint32_t sw_itab_at(const sw_itab_t *t, size_t i) { return t->slots[i] - 1; }

/* Bytes of the slots. */
size_t sw_itab_bytes(const sw_itab_t *t);

#endif
