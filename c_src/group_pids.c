/* group_pids.c - the pids of the process-groups state: node incarnations,
 * the pid tables (records of pids with their memberships, indexed by key),
 * and the conversion of pids to keys and back; see group_int.h.
 *
 * What it is not: it knows nothing of groups beyond their numbers (gid)
 * and a membership's position, which it stores for group.c. */
#include <stdlib.h>
#include <string.h>

#include "group_int.h"

/* ---- node incarnations ------------------------------------------------- */

typedef struct {
    uint32_t beam, creation;
} nckey_t;

static int nc_eq(const void *item, const void *key) {
    const nc_t *a = item;
    const nckey_t *k = key;
    return a->beam == k->beam && a->creation == k->creation;
}

static uint64_t nc_hash(uint32_t beam, uint32_t creation) {
    return sw_hash_u64((uint64_t)beam << 32 | creation);
}

const nc_t *sw__ncs_find(const ncs_t *t, uint32_t beam, uint32_t creation) {
    nckey_t k = {beam, creation};
    return sw_htab_find(&t->tab, nc_hash(beam, creation), &k, nc_eq);
}

uint32_t sw__ncs_intern(ncs_t *t, uint32_t beam, uint32_t creation) {
    const nc_t *found = sw__ncs_find(t, beam, creation);
    if (found) return found->idx;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        nc_t **nb = realloc(t->byidx, cap * sizeof *nb);
        if (!nb) return NONE;
        t->byidx = nb;
        t->cap = cap;
    }
    nc_t *a = malloc(sizeof *a);
    if (!a) return NONE;
    a->idx = t->n;
    a->beam = beam;
    a->creation = creation;
    if (sw_htab_insert(&t->tab, nc_hash(beam, creation), a) != 0) {
        free(a);
        return NONE;
    }
    t->byidx[t->n++] = a;
    return a->idx;
}

void sw__ncs_close(ncs_t *t) {
    for (uint32_t i = 0; i < t->n; i++) free(t->byidx[i]);
    free(t->byidx);
    sw_htab_close(&t->tab);
    memset(t, 0, sizeof *t);
}

/* ---- pid tables -------------------------------------------------------- */

static uint64_t prec_hash(const void *ctx, uint32_t r) {
    return sw__pkey_hash(&((const ptab_t *)ctx)->recs[r].k);
}

void sw__ptab_init(ptab_t *t) {
    memset(t, 0, sizeof *t);
    sw_itab_init(&t->index);
    t->free_head = NONE;
}

void sw__ptab_close(ptab_t *t) {
    for (uint32_t r = 0; r < t->nrecs; r++)
        if (t->recs[r].k.nc != NONE && t->recs[r].n >= 2) free(t->recs[r].m.many);
    free(t->recs);
    sw_itab_close(&t->index);
    sw__ptab_init(t);
}

uint32_t sw__ptab_add(ptab_t *t, const pkey_t *k) {
    uint32_t r;
    int recycled = t->free_head != NONE;
    if (recycled) {
        r = t->free_head;
        t->free_head = t->recs[r].m.one.gid;
    } else {
        if (t->nrecs == t->caprecs) {
            uint32_t cap = t->caprecs ? t->caprecs + t->caprecs / 2 : 16;
            prec_t *nr = realloc(t->recs, (size_t)cap * sizeof *nr);
            if (!nr) return NONE;
            t->recs = nr;
            t->caprecs = cap;
        }
        r = t->nrecs++;
    }
    prec_t *p = &t->recs[r];
    p->k = *k;
    p->n = 0;
    p->m.one.gid = p->m.one.pos = 0;
    if (sw_itab_insert(&t->index, sw__pkey_hash(k), r, prec_hash, t) != 0) {
        /* Give the record back as it was. */
        p->k.nc = NONE;
        if (recycled) {
            p->m.one.gid = t->free_head;
            t->free_head = r;
        } else {
            t->nrecs--;
        }
        return NONE;
    }
    t->live++;
    return r;
}

void sw__ptab_del(ptab_t *t, uint32_t r) {
    sw_itab_remove(&t->index, sw__pkey_hash(&t->recs[r].k), r, prec_hash, t);
    prec_t *p = &t->recs[r];
    if (p->n >= 2) free(p->m.many);
    p->k.nc = NONE;
    p->n = 0;
    p->m.one.gid = t->free_head;
    t->free_head = r;
    t->live--;
}

uint64_t sw__ptab_bytes(const ptab_t *t) {
    uint64_t b = (uint64_t)t->caprecs * sizeof(prec_t) + sw_itab_bytes(&t->index);
    for (uint32_t r = 0; r < t->nrecs; r++) {
        const prec_t *p = &t->recs[r];
        if (p->k.nc == NONE || p->n < 2) continue;
        uint32_t cap = 2;
        while (cap < p->n) cap *= 2;
        b += cap * sizeof(mem_t);
    }
    return b;
}

int sw__rec_find(prec_t *p, uint32_t gid) {
    mem_t *m = sw__mems(p);
    for (uint32_t j = 0; j < p->n; j++)
        if (m[j].gid == gid) return (int)j;
    return -1;
}

int sw__rec_push(prec_t *p, uint32_t gid, uint32_t pos) {
    mem_t e = {gid, pos};
    if (p->n == 0) {
        p->m.one = e;
        p->n = 1;
        return 0;
    }
    if (p->n == 1) {
        mem_t *a = malloc(2 * sizeof *a);
        if (!a) return -1;
        a[0] = p->m.one;
        a[1] = e;
        p->m.many = a;
        p->n = 2;
        return 0;
    }
    if ((p->n & (p->n - 1)) == 0) { /* a power of two: the array is full */
        mem_t *a = realloc(p->m.many, (size_t)p->n * 2 * sizeof *a);
        if (!a) return -1;
        p->m.many = a;
    }
    p->m.many[p->n++] = e;
    return 0;
}

void sw__rec_drop(prec_t *p, uint32_t j) {
    if (p->n == 1) {
        p->n = 0;
        return;
    }
    mem_t *a = p->m.many;
    a[j] = a[p->n - 1];
    p->n--;
    if (p->n == 1) {
        mem_t one = a[0];
        free(a);
        p->m.one = one;
    } else if ((p->n & (p->n - 1)) == 0) {
        /* Back to a power of two: give the upper half back. If realloc
         * fails the larger block simply stays. */
        mem_t *s = realloc(a, (size_t)p->n * sizeof *a);
        if (s) p->m.many = s;
    }
}

/* ---- pids: conversion and encoding ------------------------------------- */

/* The key of compact pid p, interning its incarnation. 0, or -1 on out of
 * memory. */
static int cpid_key(sw_group_t *g, const sw_pid_t *p, pkey_t *k) {
    uint32_t nc = sw__ncs_intern(&g->ncs, p->node, p->creation);
    if (nc == NONE) return -1;
    k->nc = nc;
    k->num = p->num;
    k->serial = p->serial;
    return 0;
}

int sw__group_key(sw_group_t *g, const erlang_pid *ep, pkey_t *k) {
    sw_pid_t p;
    if (sw_pid_compact(&g->atoms, ep, &p) != 0) return -1;
    return cpid_key(g, &p, k);
}

int sw__group_dec_pid(sw_group_t *g, const char *buf, int *index, pkey_t *k) {
    sw_pid_t p;
    if (sw_pid_dec(&g->atoms, buf, index, &p) != 0) return -1;
    return cpid_key(g, &p, k);
}

/* Chunks re-encode up to SW_GROUP_CHUNK pids per change: this is one copy
 * of the node's pid prefix (see atoms.h) instead of ei's atom encoding per
 * pid. */
void sw__group_enc_pid(ei_x_buff *x, const sw_group_t *g, const pkey_t *k) {
    const nc_t *nc = g->ncs.byidx[k->nc];
    sw_pid_t p = {nc->beam, k->num, k->serial, nc->creation};
    sw_pid_enc(x, &g->atoms, &p);
}
