/* htab.h - an open-addressing hash table of item pointers.
 *
 * What it is: a container that stores pointers to caller-owned items, found
 * by a 64-bit hash plus an equality callback. Linear probing, tombstones,
 * grows at 3/4 load and rebuilds when tombstones pile up.
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

#endif
