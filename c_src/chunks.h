/* chunks.h - the members of one group, in chunks with stable ids.
 *
 * What it is: a set of 32-bit member numbers (the caller's records) kept
 * in chunks of up to SW_GROUP_CHUNK, each with a stable id K, plus the set
 * of chunk ids changed since they were last drained. A member stays in its
 * chunk until it leaves: an add fills a chunk with room (the lowest id with
 * room first, after a removal), a removal moves the chunk's last member
 * into the hole. So every add or removal changes exactly one chunk, and a
 * reader that copies a group's chunks one after the other sees each member
 * that stays exactly once (swarm_groups stores each chunk as one ETS
 * object). A member's position is K << SW_CHUNK_BITS | slot.
 *
 * What it is not: it does not know what members are, it does not check
 * that a member is added once (the caller's records do), and it marks
 * nothing changed by itself: the caller marks the chunk an add or a
 * removal touched (sw_chunks_mark), so that it decides when a change
 * becomes visible. Small groups get chunks of 4 slots that grow to
 * SW_GROUP_CHUNK; a group that filled one gets full-size chunks at once.
 * Chunks emptied by removals stay partly filled until adds fill them. */
#ifndef SW_CHUNKS_H
#define SW_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "group.h" /* SW_GROUP_CHUNK */

#define SW_CHUNK_BITS 4 /* log2(SW_GROUP_CHUNK) */
_Static_assert((1u << SW_CHUNK_BITS) == SW_GROUP_CHUNK, "SW_CHUNK_BITS must be log2(SW_GROUP_CHUNK)");
#define SW_CHUNKS_MAX (1u << 25) /* chunk ids per group: a position keeps bit 31 free */
#define SW_CHUNKS_NONE UINT32_MAX

/* One chunk: n members in mem[0..n). */
typedef struct {
    uint32_t n, cap; /* members, capacity (4 .. SW_GROUP_CHUNK) */
    uint32_t mem[];
} sw_chunk_t;

/* The store. Zeroed memory is an empty store (sw_chunks_init). */
typedef struct {
    sw_chunk_t **v;   /* by chunk id; NULL: id unused */
    uint32_t nids;    /* ids in use: every id >= nids is unused */
    uint32_t capids;
    uint32_t live;    /* chunks allocated */
    uint32_t nonfull; /* allocated chunks with room */
    uint32_t room;    /* where the search for a chunk with room starts */
    uint32_t count;   /* members */
    uint64_t *dirty;  /* bit K: chunk K changed since the last drain */
    uint32_t dwords;  /* words of dirty */
} sw_chunks_t;

/* Initialises an empty store (no allocation). */
void sw_chunks_init(sw_chunks_t *cs);
/* Frees every chunk and the changed set; the store is empty afterwards. */
void sw_chunks_close(sw_chunks_t *cs);

/* Adds member m to a chunk with room (allocating one if none has room).
 * Returns its position, or SW_CHUNKS_NONE on out of memory (nothing
 * changed). */
uint32_t sw_chunks_add(sw_chunks_t *cs, uint32_t m);

/* Removes the member at position pos (from sw_chunks_add, or as updated by
 * an earlier removal). The chunk's last member moves into the hole:
 * returns that member (its position is now pos), or SW_CHUNKS_NONE when
 * none moved. A chunk left empty is freed and its id becomes free. */
uint32_t sw_chunks_del(sw_chunks_t *cs, uint32_t pos);

/* The chunk of id k, or NULL when k is unused. */
static inline const sw_chunk_t *sw_chunks_at(const sw_chunks_t *cs, uint32_t k) {
    return k < cs->nids ? cs->v[k] : NULL;
}

/* Marks chunk id k changed (whether it holds members or not). Returns 0,
 * or -1 on out of memory (not marked; logged). */
int sw_chunks_mark(sw_chunks_t *cs, uint32_t k);
/* Marks every chunk in use changed. */
void sw_chunks_mark_all(sw_chunks_t *cs);

/* The number of chunk ids marked changed. */
uint32_t sw_chunks_nmarked(const sw_chunks_t *cs);

/* Calls fn for every chunk id marked changed, in increasing order, with the
 * chunk (NULL: the id is unused, the chunk is gone), then clears the
 * marks and frees their memory. */
void sw_chunks_drain(sw_chunks_t *cs, void (*fn)(void *ud, uint32_t k, const sw_chunk_t *c),
                     void *ud);

/* Heap bytes held by the store. */
uint64_t sw_chunks_bytes(const sw_chunks_t *cs);

/* Runs body for every member (uint32_t m) of the store, chunk by chunk. */
#define SW_CHUNKS_FOREACH(cs, m, body)                                \
    for (uint32_t k_ = 0; k_ < (cs)->nids; k_++) {                    \
        const sw_chunk_t *c_ = (cs)->v[k_];                           \
        for (uint32_t i_ = 0; c_ && i_ < c_->n; i_++) {               \
            uint32_t m = c_->mem[i_];                                 \
            body;                                                     \
        }                                                             \
    }

#endif
