/* chunks.c - the members of one group in chunks with stable ids; see
 * chunks.h. */
#include "chunks.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void sw_chunks_init(sw_chunks_t *cs) { memset(cs, 0, sizeof *cs); }

void sw_chunks_close(sw_chunks_t *cs) {
    for (uint32_t k = 0; k < cs->nids; k++) free(cs->v[k]);
    free(cs->v);
    free(cs->dirty);
    sw_chunks_init(cs);
}

/* Frees chunk k, which holds no member. */
static void release(sw_chunks_t *cs, uint32_t k) {
    free(cs->v[k]);
    cs->v[k] = NULL;
    cs->live--;
    cs->nonfull--;
    while (cs->nids && !cs->v[cs->nids - 1]) cs->nids--;
    if (cs->room >= cs->nids) cs->room = 0;
}

/* The id of a chunk with room, allocating one if needed; SW_CHUNKS_NONE on
 * out of memory. */
static uint32_t with_room(sw_chunks_t *cs) {
    if (cs->nonfull) {
        for (uint32_t i = 0; i < cs->nids; i++) {
            uint32_t k = (cs->room + i) % cs->nids;
            sw_chunk_t *c = cs->v[k];
            if (c && c->n < SW_GROUP_CHUNK) {
                cs->room = k;
                return k;
            }
        }
    }
    uint32_t k = cs->nids;
    if (cs->live < cs->nids) { /* reuse a free id, the lowest */
        for (k = 0; cs->v[k]; k++) {
        }
    } else {
        if (cs->nids == SW_CHUNKS_MAX) return SW_CHUNKS_NONE;
        if (cs->nids == cs->capids) {
            uint32_t cap = cs->capids ? cs->capids * 2 : 1;
            sw_chunk_t **nv = realloc(cs->v, (size_t)cap * sizeof *nv);
            if (!nv) return SW_CHUNKS_NONE;
            cs->v = nv;
            cs->capids = cap;
        }
        cs->v[cs->nids++] = NULL;
    }
    /* Small groups get small chunks; a group that filled one gets full
     * size ones at once. */
    uint32_t cap = cs->count >= SW_GROUP_CHUNK ? SW_GROUP_CHUNK : 4;
    sw_chunk_t *c = malloc(sizeof *c + cap * sizeof(uint32_t));
    if (!c) return SW_CHUNKS_NONE;
    c->n = 0;
    c->cap = cap;
    cs->v[k] = c;
    cs->live++;
    cs->nonfull++;
    cs->room = k;
    return k;
}

uint32_t sw_chunks_add(sw_chunks_t *cs, uint32_t m) {
    uint32_t k = with_room(cs);
    if (k == SW_CHUNKS_NONE) return SW_CHUNKS_NONE;
    sw_chunk_t *c = cs->v[k];
    if (c->n == c->cap) {
        uint32_t cap = c->cap * 2 > SW_GROUP_CHUNK ? SW_GROUP_CHUNK : c->cap * 2;
        sw_chunk_t *nc = realloc(c, sizeof *c + cap * sizeof(uint32_t));
        if (!nc) return SW_CHUNKS_NONE; /* c is full: it stays */
        c = cs->v[k] = nc;
        c->cap = cap;
    }
    uint32_t pos = k << SW_CHUNK_BITS | c->n;
    c->mem[c->n++] = m;
    if (c->n == SW_GROUP_CHUNK) cs->nonfull--;
    cs->count++;
    return pos;
}

uint32_t sw_chunks_del(sw_chunks_t *cs, uint32_t pos) {
    uint32_t k = pos >> SW_CHUNK_BITS, slot = pos & (SW_GROUP_CHUNK - 1);
    sw_chunk_t *c = cs->v[k];
    uint32_t last = c->n - 1, moved = SW_CHUNKS_NONE;
    if (slot != last) {
        moved = c->mem[last];
        c->mem[slot] = moved;
    }
    if (c->n == SW_GROUP_CHUNK) cs->nonfull++;
    c->n--;
    cs->count--;
    if (c->n == 0) {
        release(cs, k);
    } else if (k < cs->room) {
        cs->room = k; /* fill low chunks first */
    }
    return moved;
}

int sw_chunks_mark(sw_chunks_t *cs, uint32_t k) {
    uint32_t w = k / 64;
    if (w >= cs->dwords) {
        uint32_t nw = w + 1 > cs->dwords * 2 ? w + 1 : cs->dwords * 2;
        uint64_t *d = realloc(cs->dirty, (size_t)nw * sizeof *d);
        if (!d) {
            SW_ERROR("out_of_memory", "what=group_dirty chunks=%u", k + 1);
            return -1;
        }
        memset(d + cs->dwords, 0, (size_t)(nw - cs->dwords) * sizeof *d);
        cs->dirty = d;
        cs->dwords = nw;
    }
    cs->dirty[w] |= 1ULL << (k % 64);
    return 0;
}

void sw_chunks_mark_all(sw_chunks_t *cs) {
    for (uint32_t k = 0; k < cs->nids; k++)
        if (cs->v[k]) sw_chunks_mark(cs, k);
}

uint32_t sw_chunks_nmarked(const sw_chunks_t *cs) {
    uint32_t n = 0;
    for (uint32_t w = 0; w < cs->dwords; w++) n += (uint32_t)__builtin_popcountll(cs->dirty[w]);
    return n;
}

void sw_chunks_drain(sw_chunks_t *cs, void (*fn)(void *ud, uint32_t k, const sw_chunk_t *c),
                     void *ud) {
    for (uint32_t w = 0; w < cs->dwords; w++) {
        for (uint64_t bits = cs->dirty[w]; bits; bits &= bits - 1) {
            uint32_t k = w * 64 + (uint32_t)__builtin_ctzll(bits);
            fn(ud, k, sw_chunks_at(cs, k));
        }
    }
    free(cs->dirty);
    cs->dirty = NULL;
    cs->dwords = 0;
}

uint64_t sw_chunks_bytes(const sw_chunks_t *cs) {
    uint64_t b = (uint64_t)cs->capids * sizeof(sw_chunk_t *) + cs->dwords * 8u;
    for (uint32_t k = 0; k < cs->nids; k++)
        if (cs->v[k]) b += sizeof(sw_chunk_t) + cs->v[k]->cap * sizeof(uint32_t);
    return b;
}
