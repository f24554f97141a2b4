/* htab.c - see htab.h. Linear probing over a power-of-two array of
 * {hash, item} slots; the stored hash avoids calling eq on most probes and
 * lets the table grow without rehashing items. */
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
