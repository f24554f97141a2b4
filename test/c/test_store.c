/* test_store.c - CUnit suite of store.c, the tracker's entry store, checked
 * against a reference model.
 *
 * Checked: an entry holds copies of its name, pid, stamp and MFA; commit,
 * find and drop, with the counters; the pid index with one name per pid and
 * with many (a set that grows, shrinks at a quarter full and gives its slot
 * back to its last entry), every entry's position in its set kept right; a walk of the pid
 * index slot by slot that removes entries as it goes (the tracker's purge)
 * sees every pid once and leaves the others alone; claim reservations come
 * out oldest first, expire in order, leave from the middle, and confirm into
 * the pid index; start reservations are found by name only; iteration over
 * names visits every entry once; close frees everything (the suite runs
 * under valgrind and ASan) and leaves a usable store; a random mix of
 * operations on 100,000 names and 5,000 pids agrees with the model at every
 * check. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static sw_pid_t mkpid(uint32_t node, uint32_t num) {
    sw_pid_t p = {node, num, 0, 1};
    return p;
}

/* Name i as bytes ("n<i>"); the store treats names as opaque bytes. */
static size_t name_of(char *buf, size_t cap, uint32_t i) {
    int n = snprintf(buf, cap, "n%u", i);
    return (size_t)n;
}

/* A new committed entry for name i and pid p, put in the store. */
static sw_entry_t *commit(sw_store_t *s, uint32_t i, sw_pid_t p) {
    char nm[32];
    size_t len = name_of(nm, sizeof nm, i);
    sw_stamp_t st = {i + 1, 7};
    sw_entry_t *e = sw_entry_new(nm, len, &p, &st, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL_FATAL(sw_store_commit(s, e, sw_entry_hash(e)), 0);
    return e;
}

static sw_entry_t *find(const sw_store_t *s, uint32_t i) {
    char nm[32];
    size_t len = name_of(nm, sizeof nm, i);
    return sw_store_find(s, nm, len, sw_name_hash(nm, len));
}

/* The entries of pid p are exactly want[0..n) (any order), each with ix ==
 * its position when in a set. */
static void check_pid(const sw_store_t *s, sw_pid_t p, sw_entry_t **want, uint32_t n) {
    const sw_pidnames_t *pn = sw_store_pid(s, &p);
    if (n == 0) {
        CU_ASSERT_PTR_NULL(pn);
        return;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(pn);
    CU_ASSERT_EQUAL(sw_pidnames_count(pn), n);
    CU_ASSERT_EQUAL(sw_pidnames_is_set(pn), n > 1);
    if (n > 1) {
        /* A set grows by doubling and shrinks by halving at a quarter full. */
        const sw_pidset_t *ps = sw_pidnames_set(pn);
        CU_ASSERT(ps->n <= ps->cap);
        CU_ASSERT(ps->cap == 4 || ps->n * 4 > ps->cap);
    }
    for (uint32_t k = 0; k < sw_pidnames_count(pn); k++) {
        sw_entry_t *e = sw_pidnames_at(pn, k);
        CU_ASSERT(memcmp(&e->pid, &p, sizeof p) == 0);
        CU_ASSERT_EQUAL(e->ix, n > 1 ? k : 0);
        int seen = 0;
        for (uint32_t j = 0; j < n; j++) seen += want[j] == e;
        CU_ASSERT_EQUAL(seen, 1);
    }
}

static void test_entry_new(void) {
    const char name[] = "\x83h\x02";
    const char mfa[] = "mfa-bytes";
    sw_pid_t p = mkpid(3, 42);
    sw_stamp_t st = {99, 5};
    sw_entry_t *e = sw_entry_new(name, sizeof name - 1, &p, &st, mfa, sizeof mfa - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->nlen, sizeof name - 1);
    CU_ASSERT(memcmp(e->name, name, sizeof name - 1) == 0);
    CU_ASSERT(memcmp(&e->pid, &p, sizeof p) == 0);
    sw_stamp_t es = sw_entry_stamp(e);
    CU_ASSERT_EQUAL(es.counter, 99);
    CU_ASSERT_EQUAL(es.origin, 5);
    CU_ASSERT_EQUAL(e->reserved, 0);
    CU_ASSERT_EQUAL(e->has_mfa, 1);
    CU_ASSERT_EQUAL(sw_entry_mfalen(e), sizeof mfa - 1);
    CU_ASSERT(memcmp(sw_entry_mfa(e), mfa, sizeof mfa - 1) == 0);
    CU_ASSERT_EQUAL(sw_entry_hash(e), sw_name_hash(name, sizeof name - 1));
    free(e);

    e = sw_entry_new(name, sizeof name - 1, &p, &st, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->has_mfa, 0);
    CU_ASSERT_EQUAL(sw_entry_mfalen(e), 0);
    free(e);

    /* Too long a name is refused before a byte of it is read. */
    CU_ASSERT_PTR_NULL(sw_entry_new(name, (size_t)SW_ENTRY_MAX_NAME + 1, &p, &st, NULL, 0));
    /* A 20-byte name fits one 64-byte malloc chunk. */
    CU_ASSERT(SW_ENTRY_HDR + 20 <= 56);
}

static void test_commit_find_drop(void) {
    sw_store_t s;
    sw_store_init(&s);
    CU_ASSERT_PTR_NULL(find(&s, 1));
    sw_entry_t *a = commit(&s, 1, mkpid(1, 1));
    sw_entry_t *b = commit(&s, 2, mkpid(1, 2));
    CU_ASSERT_PTR_EQUAL(find(&s, 1), a);
    CU_ASSERT_PTR_EQUAL(find(&s, 2), b);
    CU_ASSERT_PTR_NULL(find(&s, 3));
    /* "n1" and "n10" differ only in length. */
    CU_ASSERT_PTR_NULL(find(&s, 10));
    CU_ASSERT_EQUAL(s.committed, 2);
    CU_ASSERT_EQUAL(s.pids_n, 2);
    CU_ASSERT_EQUAL(s.reserved, 0);
    sw_store_drop(&s, a);
    CU_ASSERT_PTR_NULL(find(&s, 1));
    CU_ASSERT_PTR_EQUAL(find(&s, 2), b);
    CU_ASSERT_EQUAL(s.committed, 1);
    CU_ASSERT_EQUAL(s.pids_n, 1);
    /* remove hands the entry back without freeing it. */
    sw_store_remove(&s, b);
    CU_ASSERT_PTR_NULL(find(&s, 2));
    CU_ASSERT_EQUAL(s.committed, 0);
    CU_ASSERT_EQUAL(s.pids_n, 0);
    CU_ASSERT_EQUAL_FATAL(sw_store_commit(&s, b, sw_entry_hash(b)), 0);
    CU_ASSERT_PTR_EQUAL(find(&s, 2), b);
    sw_store_close(&s);
    /* A closed store is empty and usable. */
    CU_ASSERT_PTR_NULL(find(&s, 2));
    CU_ASSERT_EQUAL(s.committed, 0);
    commit(&s, 5, mkpid(1, 5));
    CU_ASSERT_EQUAL(s.committed, 1);
    sw_store_close(&s);
}

static void test_pid_one_name(void) {
    sw_store_t s;
    sw_store_init(&s);
    sw_entry_t *e[50];
    for (uint32_t i = 0; i < 50; i++) e[i] = commit(&s, i, mkpid(2, i));
    CU_ASSERT_EQUAL(s.pids_n, 50);
    for (uint32_t i = 0; i < 50; i++) check_pid(&s, mkpid(2, i), &e[i], 1);
    sw_pid_t other = mkpid(3, 0);
    CU_ASSERT_PTR_NULL(sw_store_pid(&s, &other));
    for (uint32_t i = 0; i < 50; i += 2) sw_store_drop(&s, e[i]);
    for (uint32_t i = 0; i < 50; i++) check_pid(&s, mkpid(2, i), &e[i], i % 2);
    CU_ASSERT_EQUAL(s.pids_n, 25);
    sw_store_close(&s);
}

static void test_pid_many_names(void) {
    sw_store_t s;
    sw_store_init(&s);
    enum { N = 300 };
    sw_pid_t p = mkpid(1, 9);
    sw_entry_t *e[N];
    for (uint32_t i = 0; i < N; i++) {
        e[i] = commit(&s, i, p);
        if (i == 0 || i == 1 || i == 4 || i == 5 || i == N - 1) check_pid(&s, p, e, i + 1);
    }
    CU_ASSERT_EQUAL(s.pids_n, 1);
    CU_ASSERT_EQUAL(s.committed, N);
    /* Remove in a scrambled order, checking the set each time: it shrinks,
     * keeps every entry's position, and at one entry gives its slot back. */
    uint32_t n = N;
    uint64_t x = 12345;
    while (n > 0) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t k = (uint32_t)(x >> 33) % n;
        sw_store_drop(&s, e[k]);
        e[k] = e[--n];
        check_pid(&s, p, e, n);
    }
    CU_ASSERT_EQUAL(s.pids_n, 0);
    CU_ASSERT_EQUAL(s.committed, 0);
    /* A second pid's names do not disturb the first's. */
    sw_entry_t *a[3], *b[2];
    a[0] = commit(&s, 1000, p);
    b[0] = commit(&s, 1001, mkpid(1, 10));
    a[1] = commit(&s, 1002, p);
    b[1] = commit(&s, 1003, mkpid(1, 10));
    a[2] = commit(&s, 1004, p);
    check_pid(&s, p, a, 3);
    check_pid(&s, mkpid(1, 10), b, 2);
    sw_store_close(&s);
}

/* The tracker's purge: walk the pid index slot by slot, dropping the last
 * entry of each pid of node 1 while the slot holds one. */
static void test_pid_walk_with_removals(void) {
    sw_store_t s;
    sw_store_init(&s);
    uint32_t name = 0, kept = 0;
    for (uint32_t i = 0; i < 400; i++) {
        uint32_t node = 1 + i % 2, names = 1 + i % 5;
        for (uint32_t k = 0; k < names; k++) commit(&s, name++, mkpid(node, i));
        if (node != 1) kept += names;
    }
    size_t visits = 0;
    for (size_t i = 0; i < sw_store_slots_pids(&s); i++) {
        const sw_pidnames_t *pn;
        if (sw_store_pid_at(&s, i)) visits++;
        for (int guard = 0; guard < 8 && (pn = sw_store_pid_at(&s, i)) != NULL &&
                            sw_pidnames_at(pn, 0)->pid.node == 1;
             guard++)
            sw_store_drop(&s, sw_pidnames_at(pn, sw_pidnames_count(pn) - 1));
    }
    CU_ASSERT_EQUAL(visits, 400);
    CU_ASSERT_EQUAL(s.committed, kept);
    CU_ASSERT_EQUAL(s.pids_n, 200);
    for (uint32_t i = 0; i < 400; i++) {
        sw_pid_t p = mkpid(1 + i % 2, i);
        const sw_pidnames_t *pn = sw_store_pid(&s, &p);
        if (i % 2 == 0) {
            CU_ASSERT_PTR_NULL(pn);
        } else {
            CU_ASSERT_PTR_NOT_NULL(pn);
            if (pn) CU_ASSERT_EQUAL(sw_pidnames_count(pn), 1 + i % 5);
        }
    }
    sw_store_close(&s);
}

/* A claim reservation for name i (deadline d). */
static sw_entry_t *reserve(sw_store_t *s, uint32_t i, sw_pid_t p, uint64_t d) {
    char nm[32];
    size_t len = name_of(nm, sizeof nm, i);
    sw_stamp_t st = {i + 1, 7};
    sw_entry_t *e = sw_entry_new(nm, len, &p, &st, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL_FATAL(sw_store_reserve(s, e, sw_entry_hash(e), d), 0);
    return e;
}

/* The FIFO holds exactly want[0..n), in that order. */
static void check_fifo(const sw_store_t *s, sw_entry_t **want, size_t n) {
    size_t k = 0;
    for (sw_entry_t *e = sw_store_resv_oldest(s); e && k <= n; e = sw_store_resv_next(s, e), k++)
        if (k < n) CU_ASSERT_PTR_EQUAL(e, want[k]);
    CU_ASSERT_EQUAL(k, n);
    CU_ASSERT_EQUAL(s->reserved, n);
}

static void test_reservations(void) {
    sw_store_t s;
    sw_store_init(&s);
    sw_pid_t p = mkpid(4, 1);
    sw_entry_t *r[6];
    for (uint32_t i = 0; i < 6; i++) r[i] = reserve(&s, i, p, 100 + 10 * i);
    check_fifo(&s, r, 6);
    /* Found by name, as a reservation, but in no pid index. */
    CU_ASSERT_PTR_EQUAL(find(&s, 3), r[3]);
    CU_ASSERT_EQUAL(r[3]->reserved, SW_RES_CLAIM);
    CU_ASSERT_PTR_NULL(sw_store_pid(&s, &p));
    CU_ASSERT_EQUAL(s.committed, 0);
    /* Expiry: only the head, and only once its deadline is reached. */
    CU_ASSERT_PTR_NULL(sw_store_resv_expired(&s, 99));
    CU_ASSERT_PTR_EQUAL(sw_store_resv_expired(&s, 100), r[0]);
    CU_ASSERT_PTR_EQUAL(sw_store_resv_expired(&s, 1000), r[0]);
    sw_entry_t *e;
    uint32_t expired = 0;
    while (expired < 6 && (e = sw_store_resv_expired(&s, 120)) != NULL) {
        CU_ASSERT_PTR_EQUAL(e, r[expired]);
        sw_store_drop(&s, e);
        expired++;
    }
    CU_ASSERT_EQUAL(expired, 3);
    check_fifo(&s, r + 3, 3);
    /* Leaving from the middle keeps the order; a new one is youngest. */
    sw_store_drop(&s, r[4]);
    sw_entry_t *rest[3] = {r[3], r[5], NULL};
    rest[2] = reserve(&s, 10, p, 200);
    check_fifo(&s, rest, 3);
    /* Confirm: out of the FIFO, into the pid index, counted. */
    sw_store_confirm(&s, rest[1]);
    CU_ASSERT_EQUAL(rest[1]->reserved, 0);
    CU_ASSERT_EQUAL(s.committed, 1);
    check_pid(&s, p, &rest[1], 1);
    sw_entry_t *left[2] = {rest[0], rest[2]};
    check_fifo(&s, left, 2);
    /* The walk the tracker does when a home's connection drops: take next
     * before removing. */
    for (sw_entry_t *x = sw_store_resv_oldest(&s), *next; x; x = next) {
        next = sw_store_resv_next(&s, x);
        sw_store_drop(&s, x);
    }
    check_fifo(&s, NULL, 0);
    CU_ASSERT_PTR_NULL(sw_store_resv_oldest(&s));
    CU_ASSERT_PTR_NULL(sw_store_resv_expired(&s, UINT64_MAX));
    sw_store_close(&s);
}

static void test_reservations_burst(void) {
    sw_store_t s;
    sw_store_init(&s);
    enum { N = 5000 };
    static sw_entry_t *r[N];
    for (uint32_t i = 0; i < N; i++) r[i] = reserve(&s, i, mkpid(1, i), i);
    CU_ASSERT_EQUAL(s.reserved, N);
    check_fifo(&s, r, N);
    /* Every other one leaves; the rest keep their order. */
    size_t n = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (i % 2) sw_store_drop(&s, r[i]);
        else r[n++] = r[i];
    }
    check_fifo(&s, r, n);
    /* Records freed in the middle are reused, and the order holds. */
    for (uint32_t i = 0; i < 100; i++) r[n++] = reserve(&s, N + i, mkpid(1, N + i), N + i);
    check_fifo(&s, r, n);
    for (size_t i = 0; i < n; i++) {
        sw_entry_t *e = sw_store_resv_expired(&s, UINT64_MAX);
        CU_ASSERT_PTR_EQUAL(e, r[i]);
        if (e) sw_store_drop(&s, e);
    }
    /* Emptied after a burst, the record array is given back. */
    CU_ASSERT_EQUAL(s.reserved, 0);
    CU_ASSERT_PTR_NULL(s.resv);
    r[0] = reserve(&s, 1, mkpid(1, 1), 1);
    check_fifo(&s, r, 1);
    sw_store_close(&s);
}

static void test_start_reservation(void) {
    sw_store_t s;
    sw_store_init(&s);
    sw_pid_t none = {UINT32_MAX, 0, 0, 0};
    sw_stamp_t st = {77, 1};
    sw_entry_t *e = sw_entry_new("start", 5, &none, &st, "m", 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL_FATAL(sw_store_reserve_start(&s, e, sw_entry_hash(e)), 0);
    CU_ASSERT_EQUAL(e->reserved, SW_RES_START);
    CU_ASSERT_PTR_EQUAL(sw_store_find(&s, "start", 5, sw_name_hash("start", 5)), e);
    CU_ASSERT_PTR_NULL(sw_store_pid(&s, &none));
    CU_ASSERT_PTR_NULL(sw_store_resv_oldest(&s));
    CU_ASSERT_EQUAL(s.committed, 0);
    CU_ASSERT_EQUAL(s.reserved, 0);
    sw_store_remove(&s, e);
    CU_ASSERT_PTR_NULL(sw_store_find(&s, "start", 5, sw_name_hash("start", 5)));
    /* Left in the store, close frees it. */
    CU_ASSERT_EQUAL_FATAL(sw_store_reserve_start(&s, e, sw_entry_hash(e)), 0);
    sw_store_close(&s);
}

static void test_iterate_names(void) {
    sw_store_t s;
    sw_store_init(&s);
    enum { N = 1000 };
    static sw_entry_t *all[N];
    sw_pid_t none = {UINT32_MAX, 0, 0, 0};
    for (uint32_t i = 0; i < N; i++) {
        if (i % 3 == 0) {
            all[i] = commit(&s, i, mkpid(1, i / 2));
        } else if (i % 3 == 1) {
            all[i] = reserve(&s, i, mkpid(2, i), i);
        } else {
            char nm[32];
            size_t len = name_of(nm, sizeof nm, i);
            sw_stamp_t st = {i, 1};
            all[i] = sw_entry_new(nm, len, &none, &st, NULL, 0);
            CU_ASSERT_PTR_NOT_NULL_FATAL(all[i]);
            CU_ASSERT_EQUAL_FATAL(sw_store_reserve_start(&s, all[i], sw_entry_hash(all[i])), 0);
        }
    }
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    size_t count = 0;
    for (size_t i = 0; i < sw_store_slots_names(&s); i++) {
        sw_entry_t *e = sw_store_name_at(&s, i);
        if (!e) continue;
        count++;
        unsigned idx;
        char nm[32];
        memcpy(nm, e->name, e->nlen);
        nm[e->nlen] = 0;
        CU_ASSERT_FATAL(sscanf(nm, "n%u", &idx) == 1 && idx < N);
        CU_ASSERT_PTR_EQUAL(all[idx], e);
        seen[idx]++;
        /* Removing the current entry while iterating is allowed. */
        if (idx % 2) sw_store_drop(&s, e);
    }
    CU_ASSERT_EQUAL(count, N);
    for (uint32_t i = 0; i < N; i++) CU_ASSERT_EQUAL(seen[i], 1);
    CU_ASSERT_EQUAL(s.names.count, N / 2);
    sw_store_close(&s);
}

/* ---- random operations against a model --------------------------------- */

enum { MN = 100000, MP = 5000 };
typedef struct {
    sw_entry_t *e;
    uint8_t state; /* 0 absent, 1 committed, 2 claim */
    uint32_t pid;
} mslot_t;

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void model_check(const sw_store_t *s, const mslot_t *m, const uint32_t *pidnames) {
    uint64_t committed = 0, reserved = 0, pids = 0;
    for (uint32_t i = 0; i < MN; i++) {
        sw_entry_t *e = find(s, i);
        CU_ASSERT_PTR_EQUAL(e, m[i].e);
        if (m[i].state == 1) committed++;
        if (m[i].state == 2) reserved++;
        if (e) CU_ASSERT_EQUAL(e->reserved, m[i].state == 2 ? SW_RES_CLAIM : 0);
    }
    for (uint32_t p = 0; p < MP; p++) {
        sw_pid_t pid = mkpid(1, p);
        const sw_pidnames_t *pn = sw_store_pid(s, &pid);
        CU_ASSERT_EQUAL(pn ? sw_pidnames_count(pn) : 0, pidnames[p]);
        if (pn) {
            pids++;
            for (uint32_t k = 0; k < sw_pidnames_count(pn); k++) {
                sw_entry_t *e = sw_pidnames_at(pn, k);
                CU_ASSERT_EQUAL(e->pid.num, p);
                CU_ASSERT_EQUAL(e->ix, sw_pidnames_count(pn) > 1 ? k : 0);
                CU_ASSERT_EQUAL(e->reserved, 0);
            }
        }
    }
    CU_ASSERT_EQUAL(s->committed, committed);
    CU_ASSERT_EQUAL(s->reserved, reserved);
    CU_ASSERT_EQUAL(s->pids_n, pids);
    uint64_t fifo = 0, last = 0;
    for (sw_entry_t *e = sw_store_resv_oldest(s); e && fifo <= reserved; e = sw_store_resv_next(s, e)) {
        /* deadlines were given in increasing order: the FIFO keeps it */
        uint64_t d = s->resv[e->ix].deadline;
        CU_ASSERT(d >= last);
        last = d;
        fifo++;
    }
    CU_ASSERT_EQUAL(fifo, reserved);
}

static void test_random_model(void) {
    sw_store_t s;
    sw_store_init(&s);
    mslot_t *m = calloc(MN, sizeof *m);
    uint32_t *pidnames = calloc(MP, sizeof *pidnames);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pidnames);
    rng = 0x9e3779b97f4a7c15ULL;
    uint64_t deadline = 0;
    for (int step = 0; step < 400000; step++) {
        uint32_t i = rnd(MN);
        mslot_t *x = &m[i];
        uint32_t op = rnd(10);
        if (x->state == 0) {
            uint32_t p = rnd(MP);
            if (op < 7) {
                x->e = commit(&s, i, mkpid(1, p));
                x->state = 1;
                pidnames[p]++;
            } else {
                x->e = reserve(&s, i, mkpid(1, p), ++deadline);
                x->state = 2;
            }
            x->pid = p;
        } else if (x->state == 2 && op < 5) {
            sw_store_confirm(&s, x->e);
            x->state = 1;
            pidnames[x->pid]++;
        } else if (op < 8) {
            if (x->state == 1) pidnames[x->pid]--;
            sw_store_drop(&s, x->e);
            x->e = NULL;
            x->state = 0;
        }
        if (step % 100000 == 99999) model_check(&s, m, pidnames);
    }
    model_check(&s, m, pidnames);
    /* The expiry order of what is left is the FIFO order. */
    sw_entry_t *e;
    uint64_t last = 0, left = s.reserved;
    while (left-- > 0 && (e = sw_store_resv_expired(&s, UINT64_MAX)) != NULL) {
        CU_ASSERT(s.resv[e->ix].deadline >= last);
        last = s.resv[e->ix].deadline;
        uint32_t idx;
        char nm[32];
        memcpy(nm, e->name, e->nlen);
        nm[e->nlen] = 0;
        CU_ASSERT_FATAL(sscanf(nm, "n%u", &idx) == 1 && idx < MN);
        m[idx].e = NULL;
        m[idx].state = 0;
        sw_store_drop(&s, e);
    }
    model_check(&s, m, pidnames);
    sw_store_close(&s);
    free(m);
    free(pidnames);
}

int test_store_suite(void) {
    CU_pSuite s = CU_add_suite("store", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "entry_new copies name, pid, stamp, MFA", test_entry_new) ||
        !CU_add_test(s, "commit/find/drop/remove, close", test_commit_find_drop) ||
        !CU_add_test(s, "pid index: one name per pid", test_pid_one_name) ||
        !CU_add_test(s, "pid index: many names per pid", test_pid_many_names) ||
        !CU_add_test(s, "pid index: slot walk removing entries", test_pid_walk_with_removals) ||
        !CU_add_test(s, "reservations: FIFO, expiry, confirm", test_reservations) ||
        !CU_add_test(s, "reservations: burst, reuse, memory given back", test_reservations_burst) ||
        !CU_add_test(s, "start reservation: by name only", test_start_reservation) ||
        !CU_add_test(s, "iteration over names", test_iterate_names) ||
        !CU_add_test(s, "random ops against a model (100k names)", test_random_model))
        return -1;
    return 0;
}
