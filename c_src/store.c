/* store.c - the tracker's entry store; see store.h for the contract.
 *
 * What it is: the three indexes of entries (names, pids, the reservation
 * FIFO) kept consistent. What it is not: anything that decides what goes
 * in or out, or that talks to anyone (tracker.c does). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#define NO_RESV UINT32_MAX

static uint64_t pid_hash(const sw_pid_t *p) {
    return sw_hash_u64(((uint64_t)p->node << 32 | p->num) ^ sw_hash_u64((uint64_t)p->serial << 32 | p->creation));
}

static uint64_t names_hash(const void *item) { return sw_entry_hash(item); }

static int pid_item_eq(const void *item, const void *key) {
    return memcmp(&sw_pidnames_at(item, 0)->pid, key, sizeof(sw_pid_t)) == 0;
}
static uint64_t pids_hash(const void *item) { return pid_hash(&sw_pidnames_at(item, 0)->pid); }

static void *set_tag(sw_pidset_t *ps) { return (void *)((uintptr_t)ps | 1u); }

void sw_store_init(sw_store_t *s) {
    memset(s, 0, sizeof *s);
    sw_ctab_init(&s->names, names_hash);
    sw_ctab_init(&s->pids, pids_hash);
    s->resv_free = s->res_head = s->res_tail = NO_RESV;
}

void sw_store_close(sw_store_t *s) {
    for (size_t i = 0; i < s->names.cap; i++) free(sw_ctab_at(&s->names, i));
    for (size_t i = 0; i < s->pids.cap; i++) {
        const sw_pidnames_t *pn = sw_ctab_at(&s->pids, i);
        if (pn && sw_pidnames_is_set(pn)) free(sw_pidnames_set(pn));
    }
    sw_ctab_close(&s->names);
    sw_ctab_close(&s->pids);
    free(s->resv);
    sw_store_init(s);
}

sw_entry_t *sw_entry_new(const char *name, size_t len, const sw_pid_t *pid, const sw_stamp_t *s,
                         const char *mfa, size_t mfalen) {
    if (len > SW_ENTRY_MAX_NAME || mfalen > UINT32_MAX) return NULL;
    size_t extra = mfalen ? sizeof(uint32_t) + mfalen : 0;
    sw_entry_t *e = malloc(SW_ENTRY_HDR + len + extra);
    if (!e) return NULL;
    memset(e, 0, SW_ENTRY_HDR);
    e->pid = *pid;
    e->counter = s->counter;
    e->origin = s->origin;
    e->nlen = (uint32_t)len;
    memcpy(e->name, name, len);
    if (mfalen) {
        uint32_t l = (uint32_t)mfalen;
        e->has_mfa = 1;
        memcpy(e->name + len, &l, sizeof l);
        memcpy(e->name + len + sizeof l, mfa, mfalen);
    }
    return e;
}

/* ---- pid index --------------------------------------------------------- */

/* Moves set ps (the pids table's item under hash ph) to an allocation of
 * cap entries (cap >= ps->n), in the same table slot. Returns the new set,
 * or NULL when out of memory (ps unchanged). */
static sw_pidset_t *pidset_resize(sw_store_t *s, uint64_t ph, sw_pidset_t *ps, uint32_t cap) {
    sw_pidset_t *np = malloc(sizeof *np + (size_t)cap * sizeof np->e[0]);
    if (!np) return NULL;
    np->n = ps->n;
    np->cap = cap;
    memcpy(np->e, ps->e, (size_t)ps->n * sizeof ps->e[0]);
    sw_ctab_replace(&s->pids, ph, set_tag(ps), set_tag(np));
    free(ps);
    return np;
}

/* Adds committed entry e to the pid index. Out of memory leaves e out of
 * the index (pid_unlink copes). In a set, removal moves the last entry into
 * the hole, and a set that drops to one entry gives its slot back to that
 * entry. */
static void pid_link(sw_store_t *s, sw_entry_t *e) {
    uint64_t ph = pid_hash(&e->pid);
    void *it = sw_ctab_find(&s->pids, ph, &e->pid, pid_item_eq);
    e->ix = 0;
    if (!it) {
        if (sw_ctab_insert(&s->pids, ph, e) == 0) s->pids_n++;
        return;
    }
    if (!sw_pidnames_is_set(it)) {
        /* The pid's second name: its entries move into a set, which takes
         * the slot in place. */
        sw_pidset_t *ps = malloc(sizeof *ps + 4 * sizeof ps->e[0]);
        if (!ps) return;
        ps->n = 2;
        ps->cap = 4;
        ps->e[0] = it;
        ps->e[1] = e;
        e->ix = 1;
        sw_ctab_replace(&s->pids, ph, it, set_tag(ps));
        return;
    }
    sw_pidset_t *ps = sw_pidnames_set(it);
    if (ps->n == ps->cap) {
        ps = pidset_resize(s, ph, ps, ps->cap * 2);
        if (!ps) return;
    }
    e->ix = ps->n;
    ps->e[ps->n++] = e;
}

/* Removes committed entry e from the pid index, if it is there; the pid's
 * item stays in its slot (see sw_store_remove). */
static void pid_unlink(sw_store_t *s, sw_entry_t *e) {
    uint64_t ph = pid_hash(&e->pid);
    /* Usually the pid's only entry, the table's item itself: one probe. */
    if (sw_ctab_remove(&s->pids, ph, e) == 0) {
        s->pids_n--;
        return;
    }
    void *it = sw_ctab_find(&s->pids, ph, &e->pid, pid_item_eq);
    if (!it || !sw_pidnames_is_set(it)) return;
    sw_pidset_t *ps = sw_pidnames_set(it);
    uint32_t k = e->ix;
    if (k >= ps->n || ps->e[k] != e) return;
    ps->e[k] = ps->e[--ps->n];
    ps->e[k]->ix = k;
    if (ps->n == 1) {
        sw_entry_t *last = ps->e[0];
        last->ix = 0;
        sw_ctab_replace(&s->pids, ph, it, last);
        free(ps);
    } else if (ps->cap > 4 && ps->n * 4 <= ps->cap) {
        (void)pidset_resize(s, ph, ps, ps->cap / 2);
    }
}

const sw_pidnames_t *sw_store_pid(const sw_store_t *s, const sw_pid_t *pid) {
    return sw_ctab_find(&s->pids, pid_hash(pid), pid, pid_item_eq);
}

/* ---- reservation FIFO -------------------------------------------------- */

/* Makes e a claim reservation expiring at deadline, youngest in the FIFO.
 * Returns 0, or -1 when out of memory (nothing changed). */
static int res_link(sw_store_t *s, sw_entry_t *e, uint64_t deadline) {
    uint32_t i = s->resv_free;
    if (i != NO_RESV) {
        s->resv_free = s->resv[i].next;
    } else {
        if (s->resv_n == s->resv_cap) {
            uint32_t cap = s->resv_cap ? s->resv_cap * 2 : 16;
            sw_resv_t *nr = realloc(s->resv, (size_t)cap * sizeof *nr);
            if (!nr) return -1;
            s->resv = nr;
            s->resv_cap = cap;
        }
        i = s->resv_n++;
    }
    sw_resv_t *r = &s->resv[i];
    r->e = e;
    r->deadline = deadline;
    r->next = NO_RESV;
    r->prev = s->res_tail;
    if (s->res_tail != NO_RESV) s->resv[s->res_tail].next = i;
    else s->res_head = i;
    s->res_tail = i;
    e->reserved = SW_RES_CLAIM;
    e->ix = i;
    s->reserved++;
    return 0;
}

/* Takes claim reservation e out of the FIFO and frees its record (e stays
 * SW_RES_CLAIM). */
static void res_unlink(sw_store_t *s, sw_entry_t *e) {
    uint32_t i = e->ix;
    sw_resv_t *r = &s->resv[i];
    if (r->prev != NO_RESV) s->resv[r->prev].next = r->next;
    else s->res_head = r->next;
    if (r->next != NO_RESV) s->resv[r->next].prev = r->prev;
    else s->res_tail = r->prev;
    r->e = NULL;
    r->next = s->resv_free;
    s->resv_free = i;
    e->ix = 0;
    s->reserved--;
    if (s->reserved == 0) {
        /* All records are free: start again from the first, and give the
         * memory back if a burst made the array large. */
        s->resv_n = 0;
        s->resv_free = NO_RESV;
        if (s->resv_cap > 256) {
            free(s->resv);
            s->resv = NULL;
            s->resv_cap = 0;
        }
    }
}

sw_entry_t *sw_store_resv_oldest(const sw_store_t *s) {
    return s->res_head == NO_RESV ? NULL : s->resv[s->res_head].e;
}

sw_entry_t *sw_store_resv_next(const sw_store_t *s, const sw_entry_t *e) {
    uint32_t next = s->resv[e->ix].next;
    return next == NO_RESV ? NULL : s->resv[next].e;
}

sw_entry_t *sw_store_resv_expired(const sw_store_t *s, uint64_t now) {
    if (s->res_head == NO_RESV || s->resv[s->res_head].deadline > now) return NULL;
    return s->resv[s->res_head].e;
}

/* ---- entries in and out ------------------------------------------------ */

int sw_store_commit(sw_store_t *s, sw_entry_t *e, uint64_t h) {
    if (sw_ctab_insert(&s->names, h, e) != 0) return -1;
    e->reserved = 0;
    pid_link(s, e);
    s->committed++;
    return 0;
}

int sw_store_reserve(sw_store_t *s, sw_entry_t *e, uint64_t h, uint64_t deadline) {
    if (res_link(s, e, deadline) != 0) return -1;
    if (sw_ctab_insert(&s->names, h, e) != 0) {
        res_unlink(s, e);
        e->reserved = 0;
        return -1;
    }
    return 0;
}

int sw_store_reserve_start(sw_store_t *s, sw_entry_t *e, uint64_t h) {
    if (sw_ctab_insert(&s->names, h, e) != 0) return -1;
    e->reserved = SW_RES_START;
    return 0;
}

void sw_store_confirm(sw_store_t *s, sw_entry_t *e) {
    res_unlink(s, e);
    e->reserved = 0;
    pid_link(s, e);
    s->committed++;
}

void sw_store_remove(sw_store_t *s, sw_entry_t *e) {
    sw_ctab_remove(&s->names, sw_entry_hash(e), e);
    if (e->reserved == SW_RES_CLAIM) {
        res_unlink(s, e);
    } else if (!e->reserved) {
        pid_unlink(s, e);
        s->committed--;
    }
}

void sw_store_drop(sw_store_t *s, sw_entry_t *e) {
    sw_store_remove(s, e);
    free(e);
}
