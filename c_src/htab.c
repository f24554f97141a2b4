/* htab.c - see htab.h. sw_htab_t: linear probing over a power-of-two array
 * of {hash, item} slots; the stored hash avoids calling eq on most probes and
 * lets the table grow without rehashing items. sw_ctab_t: groups of 7 slots
 * (8 control bytes, 7 item pointers) in one cache line each (below).
 * sw_itab_t: linear probing over 4-byte slots, backward-shift deletion (at
 * the end). */
#include "htab.h"

#include <stdlib.h>
#include <string.h>

static char tomb_marker;
#define TOMB ((void *)&tomb_marker)

void sw_htab_init(sw_htab_t *t) { memset(t, 0, sizeof *t); }

void sw_htab_close(sw_htab_t *t) {
    free(t->slots);
    sw_htab_init(t);
}

void *sw_htab_find(const sw_htab_t *t, uint64_t hash, const void *key, sw_htab_eq_cb eq) {
    if (t->cap == 0) return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
        sw_htab_slot_t *s = &t->slots[i];
        if (s->item == NULL) return NULL;
        if (s->item != TOMB && s->hash == hash && eq(s->item, key)) return s->item;
    }
    return NULL;
}

static void place(sw_htab_slot_t *slots, size_t cap, uint64_t hash, void *item) {
    size_t mask = cap - 1;
    size_t i = (size_t)hash & mask;
    while (slots[i].item != NULL && slots[i].item != TOMB) i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].item = item;
}

static int resize(sw_htab_t *t, size_t cap) {
    sw_htab_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        sw_htab_slot_t *s = &t->slots[i];
        if (s->item && s->item != TOMB) place(slots, cap, s->hash, s->item);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->tombs = 0;
    return 0;
}

int sw_htab_insert(sw_htab_t *t, uint64_t hash, void *item) {
    if ((t->count + t->tombs + 1) * 4 > t->cap * 3) {
        size_t cap = t->cap ? t->cap : 16;
        /* Grow only when live items need it; otherwise rebuild in place to
         * clear tombstones. */
        while ((t->count + 1) * 2 > cap) cap *= 2;
        if (resize(t, cap) != 0) return -1;
    }
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash & mask;
    while (t->slots[i].item != NULL && t->slots[i].item != TOMB) i = (i + 1) & mask;
    if (t->slots[i].item == TOMB) t->tombs--;
    t->slots[i].hash = hash;
    t->slots[i].item = item;
    t->count++;
    return 0;
}

int sw_htab_remove(sw_htab_t *t, uint64_t hash, const void *item) {
    if (t->cap == 0) return -1;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
        sw_htab_slot_t *s = &t->slots[i];
        if (s->item == NULL) return -1;
        if (s->item == item) {
            /* A tombstone is only needed if a probe chain continues past us. */
            if (t->slots[(i + 1) & mask].item == NULL) {
                s->item = NULL;
            } else {
                s->item = TOMB;
                t->tombs++;
            }
            t->count--;
            return 0;
        }
    }
    return -1;
}

int sw_htab_replace(sw_htab_t *t, uint64_t hash, const void *old, void *item) {
    if (t->cap == 0) return -1;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
        sw_htab_slot_t *s = &t->slots[i];
        if (s->item == NULL) return -1;
        if (s->item == old) {
            s->item = item;
            return 0;
        }
    }
    return -1;
}

void *sw_htab_at(const sw_htab_t *t, size_t i) {
    void *it = t->slots[i].item;
    return it == TOMB ? NULL : it;
}

uint64_t sw_hash_u64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t sw_hash_bytes(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = sw_hash_u64(h ^ w) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    return sw_hash_u64(h ^ w ^ ((uint64_t)len << 56));
}

/* ---- compact table ------------------------------------------------------
 *
 * Control bytes: CT_EMPTY (0x00), CT_TOMB (0x01), or 0x80 | the top 7 bits of
 * the item's hash for a live slot; the unused eighth byte of a group is
 * CT_PAD (0x80, "live": never free, never empty; masked out of tag
 * matches). A group's control bytes are read as one little-endian 64-bit
 * word and matched with the usual SWAR tricks:
 *   bytes equal to b:  x = w ^ (b * LO); (x - LO) & ~x & HI
 *     (exact when no byte matches; a match may also flag bytes above it,
 *     so candidates are checked against the control byte itself);
 *   any empty byte:    the same with b = 0 (exact as a yes/no);
 *   free (empty or tombstone): ~w & HI (exact).
 * The group of a hash is its low bits; the probe sequence adds 1, 2, 3, ...
 * groups (mod the group count, a power of two), so it visits every group.
 *
 * Deletion leaves CT_EMPTY when the slot's group still has an empty slot,
 * else a tombstone. That is safe: a probe only moves past a group that has
 * no empty slot, and a group that was ever full holds no empty slot until
 * the next rebuild (a full group's slots only ever become tombstones), so a
 * group with an empty slot never had an item placed beyond it. */

#define CT_EMPTY 0x00u
#define CT_TOMB 0x01u
#define CT_PAD 0x80u
#define CT_LO 0x0101010101010101ULL
#define CT_HI 0x8080808080808080ULL
#define CT_SLOTS 0x0080808080808080ULL /* flag bits of bytes 0..6 */
#define CT_MIN_GROUPS 2u

static inline uint8_t ct_tag(uint64_t hash) { return (uint8_t)(0x80u | (hash >> 57)); }

static inline uint64_t ct_load(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline uint64_t ct_match(uint64_t w, uint8_t b) {
    uint64_t x = w ^ (CT_LO * b);
    return (x - CT_LO) & ~x & CT_SLOTS;
}

static inline int ct_has_empty(uint64_t w) { return ((w - CT_LO) & ~w & CT_HI) != 0; }

/* Index of the byte of the lowest set flag bit of m (m != 0). */
static inline size_t ct_byte(uint64_t m) { return (size_t)__builtin_ctzll(m) >> 3; }

void sw_ctab_init(sw_ctab_t *t, sw_ctab_hash_cb hash) {
    memset(t, 0, sizeof *t);
    t->hash = hash;
}

void sw_ctab_close(sw_ctab_t *t) {
    free(t->groups);
    sw_ctab_init(t, t->hash);
}

/* The group and slot of this exact item pointer: 1, or 0 when absent. */
static int ct_slot_of(const sw_ctab_t *t, uint64_t hash, const void *item, sw_ctab_group_t **gp,
                      size_t *kp) {
    if (t->ngroups == 0) return 0;
    size_t gmask = t->ngroups - 1, g = (size_t)hash & gmask;
    uint8_t tag = ct_tag(hash);
    for (size_t step = 0; step <= gmask;) {
        sw_ctab_group_t *grp = &t->groups[g];
        uint64_t w = ct_load(grp->ctrl);
        for (uint64_t m = ct_match(w, tag); m; m &= m - 1) {
            size_t k = ct_byte(m);
            if (grp->ctrl[k] == tag && grp->items[k] == item) {
                *gp = grp;
                *kp = k;
                return 1;
            }
        }
        if (ct_has_empty(w)) break;
        g = (g + ++step) & gmask;
    }
    return 0;
}

void *sw_ctab_find(const sw_ctab_t *t, uint64_t hash, const void *key, sw_htab_eq_cb eq) {
    if (t->ngroups == 0) return NULL;
    size_t gmask = t->ngroups - 1, g = (size_t)hash & gmask;
    uint8_t tag = ct_tag(hash);
    for (size_t step = 0; step <= gmask;) {
        const sw_ctab_group_t *grp = &t->groups[g];
        uint64_t w = ct_load(grp->ctrl);
        for (uint64_t m = ct_match(w, tag); m; m &= m - 1) {
            size_t k = ct_byte(m);
            if (grp->ctrl[k] == tag && eq(grp->items[k], key)) return grp->items[k];
        }
        if (ct_has_empty(w)) return NULL;
        g = (g + ++step) & gmask;
    }
    return NULL;
}

/* Stores item in the first free slot of its probe sequence (there is one:
 * the load stays under 7/8). Returns 1 if that slot was a tombstone. */
static int ct_place(sw_ctab_group_t *groups, size_t ngroups, uint64_t hash, void *item) {
    size_t gmask = ngroups - 1, g = (size_t)hash & gmask;
    for (size_t step = 0;; g = (g + ++step) & gmask) {
        sw_ctab_group_t *grp = &groups[g];
        uint64_t m = ~ct_load(grp->ctrl) & CT_HI;
        if (!m) continue;
        size_t k = ct_byte(m);
        int tomb = grp->ctrl[k] == CT_TOMB;
        grp->ctrl[k] = ct_tag(hash);
        grp->items[k] = item;
        return tomb;
    }
}

static int ct_rebuild(sw_ctab_t *t, size_t ngroups) {
    void *mem;
    if (ngroups > SIZE_MAX / sizeof(sw_ctab_group_t) ||
        posix_memalign(&mem, 64, ngroups * sizeof(sw_ctab_group_t)) != 0)
        return -1;
    sw_ctab_group_t *groups = mem;
    memset(groups, 0, ngroups * sizeof *groups);
    for (size_t g = 0; g < ngroups; g++) groups[g].ctrl[SW_CTAB_GROUP] = CT_PAD;
    for (size_t g = 0; g < t->ngroups; g++)
        for (size_t k = 0; k < SW_CTAB_GROUP; k++)
            if (t->groups[g].ctrl[k] & 0x80u) {
                void *it = t->groups[g].items[k];
                ct_place(groups, ngroups, t->hash(it), it);
            }
    free(t->groups);
    t->groups = groups;
    t->ngroups = ngroups;
    t->cap = ngroups * SW_CTAB_GROUP;
    t->tombs = 0;
    return 0;
}

int sw_ctab_insert(sw_ctab_t *t, uint64_t hash, void *item) {
    if ((t->count + t->tombs + 1) * 8 > t->cap * 7) {
        size_t ng = t->ngroups ? t->ngroups : CT_MIN_GROUPS;
        /* Double when live items fill more than 25/32 of the slots (the
         * table is then about 7/16 full); otherwise rebuild at the same
         * size to clear tombstones, which leaves at least 3/32 of the slots
         * for inserts before the next rebuild. So a table whose live count
         * stays under 25/32 of its size does not grow, however much it
         * churns. */
        while (t->count * 32 > ng * SW_CTAB_GROUP * 25) ng *= 2;
        if (ct_rebuild(t, ng) != 0) return -1;
    }
    if (ct_place(t->groups, t->ngroups, hash, item)) t->tombs--;
    t->count++;
    return 0;
}

int sw_ctab_remove(sw_ctab_t *t, uint64_t hash, const void *item) {
    sw_ctab_group_t *grp;
    size_t k;
    if (!ct_slot_of(t, hash, item, &grp, &k)) return -1;
    if (ct_has_empty(ct_load(grp->ctrl))) {
        grp->ctrl[k] = CT_EMPTY;
    } else {
        grp->ctrl[k] = CT_TOMB;
        t->tombs++;
    }
    grp->items[k] = NULL;
    t->count--;
    if (t->count == 0 && t->tombs * 8 >= t->cap) {
        /* Emptied with many tombstones (which would keep lookups long until
         * the next rebuild): start clean. At least cap/8 removals paid for
         * this pass. */
        for (size_t g = 0; g < t->ngroups; g++) memset(t->groups[g].ctrl, CT_EMPTY, SW_CTAB_GROUP);
        t->tombs = 0;
    }
    return 0;
}

int sw_ctab_replace(sw_ctab_t *t, uint64_t hash, const void *old, void *item) {
    sw_ctab_group_t *grp;
    size_t k;
    if (!ct_slot_of(t, hash, old, &grp, &k)) return -1;
    grp->items[k] = item;
    return 0;
}

void *sw_ctab_at(const sw_ctab_t *t, size_t i) {
    const sw_ctab_group_t *grp = &t->groups[i / SW_CTAB_GROUP];
    size_t k = i % SW_CTAB_GROUP;
    return (grp->ctrl[k] & 0x80u) ? grp->items[k] : NULL;
}

size_t sw_ctab_bytes(const sw_ctab_t *t) { return t->ngroups * sizeof(sw_ctab_group_t); }

/* ---- index table ------------------------------------------------------- */

void sw_itab_init(sw_itab_t *t) { memset(t, 0, sizeof *t); }

void sw_itab_close(sw_itab_t *t) {
    free(t->slots);
    sw_itab_init(t);
}

static int it_grow(sw_itab_t *t, sw_itab_hash_cb hfn, const void *ctx) {
    uint32_t cap = t->cap ? t->cap * 2 : 16;
    if (cap < t->cap) return -1;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    uint32_t mask = cap - 1;
    for (uint32_t i = 0; i < t->cap; i++) {
        uint32_t s = t->slots[i];
        if (!s) continue;
        size_t j = (size_t)hfn(ctx, s - 1) & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->mask = mask;
    return 0;
}

int sw_itab_insert(sw_itab_t *t, uint64_t hash, uint32_t idx, sw_itab_hash_cb hfn, const void *ctx) {
    if (((uint64_t)t->count + 1) * 4 > (uint64_t)t->cap * 3 && it_grow(t, hfn, ctx) != 0) return -1;
    size_t j = (size_t)hash & t->mask;
    while (t->slots[j]) j = (j + 1) & t->mask;
    t->slots[j] = idx + 1;
    t->count++;
    return 0;
}

void sw_itab_remove(sw_itab_t *t, uint64_t hash, uint32_t idx, sw_itab_hash_cb hfn, const void *ctx) {
    size_t i = (size_t)hash & t->mask;
    while (t->slots[i] != idx + 1) i = (i + 1) & t->mask;
    t->slots[i] = 0;
    /* Backward shift: every later entry of the chain that could have lived
     * in the hole moves into it, so no probe chain breaks. */
    for (size_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
        size_t home = (size_t)hfn(ctx, t->slots[j] - 1) & t->mask;
        /* The entry at j may stay if its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = 0;
        i = j;
    }
    t->count--;
}

size_t sw_itab_bytes(const sw_itab_t *t) { return (size_t)t->cap * sizeof *t->slots; }
