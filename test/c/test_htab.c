/* test_htab.c - CUnit suite of htab.c, the open-addressing table of item
 * pointers, checked against a reference model (an array indexed by key).
 *
 * Checked: insert/find/remove/replace on an empty and a populated table;
 * growth keeps the capacity a power of two and the load under 3/4; heavy
 * churn of a small live set keeps the table small (tombstones are cleaned,
 * not accumulated); removing the current item while iterating visits every
 * item exactly once; random operation mixes with a good hash and with a
 * deliberately bad one (long probe chains, equal hashes), comparing every
 * answer with the model and the table's counters with its slots; the hash
 * functions are deterministic, seed- and length-sensitive and read no byte
 * past their input. The compact table (sw_ctab_t) gets the same checks, plus
 * its control bytes (tags of live slots, tombstones, empties, pads), its
 * group layout (64-byte lines) and its 7/8 load bound. The index table
 * (sw_itab_t) is checked against a model too, with records in a growing
 * array: unbroken probe chains after backward-shift deletion, its 3/4 load
 * bound, and no growth under churn at a steady size. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "htab.h"

/* Seeds per model test: SW_TEST_MODEL_SEEDS, default 20 (the valgrind run
 * takes fewer: each seed is thousands of random operations). */
static int model_seeds(void) {
    const char *v = getenv("SW_TEST_MODEL_SEEDS");
    int n = v ? atoi(v) : 20;
    return n > 0 ? n : 20;
}

typedef struct {
    uint32_t key;
    int gen; /* which of the two items of a key (for replace) */
} item_t;

static int item_eq(const void *item, const void *key) {
    return ((const item_t *)item)->key == *(const uint32_t *)key;
}

/* Hash of a key; mode 0 good, 1 bad (few buckets, long chains), 2 every key
 * the same hash. */
static int hash_mode;
static uint64_t hkey(uint32_t k) {
    switch (hash_mode) {
    case 1: return k % 7;
    case 2: return 0xdeadbeef;
    default: return sw_hash_u64(k);
    }
}

static uint64_t rng_state;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Checks the table's counters against its slots and the model. */
static void check_invariants(const sw_htab_t *t, size_t model_count) {
    CU_ASSERT_EQUAL(t->count, model_count);
    if (t->cap == 0) {
        CU_ASSERT_EQUAL(t->count, 0);
        return;
    }
    CU_ASSERT_EQUAL(t->cap & (t->cap - 1), 0);
    size_t live = 0, tombs = 0, empty = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (sw_htab_at(t, i)) live++;
        else if (t->slots[i].item) tombs++;
        else empty++;
    }
    CU_ASSERT_EQUAL(live, t->count);
    CU_ASSERT_EQUAL(tombs, t->tombs);
    CU_ASSERT((t->count + t->tombs) * 4 <= t->cap * 3);
    CU_ASSERT(empty > 0); /* every probe ends */
}

static void test_basic(void) {
    sw_htab_t t;
    item_t a = {1, 0}, a2 = {1, 1}, b = {2, 0};
    uint32_t k1 = 1, k2 = 2, k3 = 3;
    hash_mode = 0;
    sw_htab_init(&t);
    CU_ASSERT_PTR_NULL(sw_htab_find(&t, hkey(1), &k1, item_eq));
    CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(1), &a), -1);
    CU_ASSERT_EQUAL(sw_htab_replace(&t, hkey(1), &a, &a2), -1);
    check_invariants(&t, 0);

    CU_ASSERT_EQUAL(sw_htab_insert(&t, hkey(1), &a), 0);
    CU_ASSERT_EQUAL(sw_htab_insert(&t, hkey(2), &b), 0);
    CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(1), &k1, item_eq), &a);
    CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(2), &k2, item_eq), &b);
    CU_ASSERT_PTR_NULL(sw_htab_find(&t, hkey(3), &k3, item_eq));
    /* Same hash, different key: eq decides. */
    CU_ASSERT_PTR_NULL(sw_htab_find(&t, hkey(1), &k2, item_eq));
    check_invariants(&t, 2);

    /* Replace swaps the pointer in place. */
    CU_ASSERT_EQUAL(sw_htab_replace(&t, hkey(1), &a, &a2), 0);
    CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(1), &k1, item_eq), &a2);
    CU_ASSERT_EQUAL(sw_htab_replace(&t, hkey(1), &a, &a2), -1); /* a is gone */
    CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(1), &a), -1);
    check_invariants(&t, 2);

    /* Remove by pointer. */
    CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(1), &a2), 0);
    CU_ASSERT_PTR_NULL(sw_htab_find(&t, hkey(1), &k1, item_eq));
    CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(1), &a2), -1);
    CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(2), &k2, item_eq), &b);
    check_invariants(&t, 1);
    sw_htab_close(&t);
    CU_ASSERT_EQUAL(t.cap, 0);
    CU_ASSERT_EQUAL(t.count, 0);
    CU_ASSERT_PTR_NULL(sw_htab_find(&t, hkey(2), &k2, item_eq));
    sw_htab_close(&t); /* twice is harmless */
}

static void test_growth(void) {
    for (hash_mode = 0; hash_mode <= 1; hash_mode++) {
        size_t n = hash_mode ? 3000 : 100000;
        item_t *items = calloc(n, sizeof *items);
        sw_htab_t t;
        sw_htab_init(&t);
        size_t prev_cap = 0;
        for (size_t i = 0; i < n; i++) {
            items[i].key = (uint32_t)i;
            CU_ASSERT_EQUAL_FATAL(sw_htab_insert(&t, hkey((uint32_t)i), &items[i]), 0);
            CU_ASSERT(t.cap >= prev_cap);
            prev_cap = t.cap;
            CU_ASSERT((t.count + t.tombs) * 4 <= t.cap * 3);
        }
        check_invariants(&t, n);
        /* Not oversized either: under 1/8 load would mean runaway growth. */
        CU_ASSERT(t.cap <= 8 * n);
        for (size_t i = 0; i < n; i++) {
            uint32_t k = (uint32_t)i;
            CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(k), &k, item_eq), &items[i]);
        }
        sw_htab_close(&t);
        free(items);
    }
}

/* A live set of 10 items while 200,000 keys come and go: the table must
 * stay small, its tombstones cleaned by rebuilds rather than piling up. */
static void test_tombstones(void) {
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        enum { LIVE = 10, ROUNDS = 200000 };
        item_t ring[LIVE];
        sw_htab_t t;
        sw_htab_init(&t);
        size_t max_cap = 0;
        for (uint32_t k = 0; k < ROUNDS; k++) {
            item_t *slot = &ring[k % LIVE];
            if (k >= LIVE) {
                CU_ASSERT_EQUAL_FATAL(sw_htab_remove(&t, hkey(slot->key), slot), 0);
            }
            slot->key = k;
            CU_ASSERT_EQUAL_FATAL(sw_htab_insert(&t, hkey(k), slot), 0);
            if (t.cap > max_cap) max_cap = t.cap;
            if (t.count + t.tombs >= t.cap) CU_FAIL("table full of tombstones");
        }
        check_invariants(&t, LIVE);
        CU_ASSERT(max_cap <= 64);
        for (int i = 0; i < LIVE; i++) {
            uint32_t k = ring[i].key;
            CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(k), &k, item_eq), &ring[i]);
        }
        /* Removing everything empties it; it stays usable. */
        for (int i = 0; i < LIVE; i++) CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(ring[i].key), &ring[i]), 0);
        check_invariants(&t, 0);
        CU_ASSERT_EQUAL(sw_htab_insert(&t, hkey(ring[0].key), &ring[0]), 0);
        check_invariants(&t, 1);
        sw_htab_close(&t);
    }
}

/* Iterating slot by slot and removing some items (the current one, as the
 * header allows): every item is seen exactly once, the kept ones stay
 * findable. Also replacing the current item while iterating. */
static void test_iterate_remove(void) {
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        enum { N = 2000 };
        size_t n = hash_mode == 2 ? 300 : N;
        item_t *items = calloc(2 * n, sizeof *items);
        int *seen = calloc(n, sizeof *seen);
        sw_htab_t t;
        sw_htab_init(&t);
        for (size_t i = 0; i < n; i++) {
            items[i].key = (uint32_t)i;
            items[n + i].key = (uint32_t)i;
            items[n + i].gen = 1;
            sw_htab_insert(&t, hkey((uint32_t)i), &items[i]);
        }
        size_t removed = 0;
        for (size_t i = 0; i < t.cap; i++) {
            item_t *it = sw_htab_at(&t, i);
            if (!it) continue;
            seen[it->key]++;
            if (it->key % 3 == 0) {
                CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(it->key), it), 0);
                removed++;
            } else if (it->key % 3 == 1) {
                CU_ASSERT_EQUAL(sw_htab_replace(&t, hkey(it->key), it, &items[n + it->key]), 0);
                CU_ASSERT_PTR_EQUAL(sw_htab_at(&t, i), &items[n + it->key]);
            }
        }
        for (size_t k = 0; k < n; k++) CU_ASSERT_EQUAL(seen[k], 1);
        check_invariants(&t, n - removed);
        for (uint32_t k = 0; k < n; k++) {
            item_t *it = sw_htab_find(&t, hkey(k), &k, item_eq);
            if (k % 3 == 0) {
                CU_ASSERT_PTR_NULL(it);
            } else if (k % 3 == 1) {
                CU_ASSERT_PTR_EQUAL(it, &items[n + k]);
            } else {
                CU_ASSERT_PTR_EQUAL(it, &items[k]);
            }
        }
        /* Remove everything while iterating. */
        for (size_t i = 0; i < t.cap; i++) {
            item_t *it = sw_htab_at(&t, i);
            if (it) CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(it->key), it), 0);
        }
        check_invariants(&t, 0);
        sw_htab_close(&t);
        free(items);
        free(seen);
    }
}

/* Random operations against the model: model[k] is the item stored for key
 * k, or NULL. */
static void test_random_model(void) {
    enum { KEYS = 512 };
    static item_t items[2][KEYS];
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        for (int seed = 1; seed <= model_seeds(); seed++) {
            item_t *model[KEYS];
            memset(model, 0, sizeof model);
            size_t count = 0;
            sw_htab_t t;
            sw_htab_init(&t);
            rng_state = (uint64_t)seed * 1000003u + (uint64_t)hash_mode;
            /* Bias the live-set size so the table both grows and shrinks. */
            int keyspace = hash_mode == 2 ? 64 : (seed % 2 ? KEYS : 40);
            for (int step = 0; step < 20000; step++) {
                uint32_t k = (uint32_t)(rnd() % (uint64_t)keyspace);
                item_t *cur = model[k];
                switch (rnd() % 4) {
                case 0:
                case 1: /* insert if absent */
                    if (!cur) {
                        item_t *it = &items[rnd() % 2][k];
                        it->key = k;
                        CU_ASSERT_EQUAL_FATAL(sw_htab_insert(&t, hkey(k), it), 0);
                        model[k] = it;
                        count++;
                    }
                    break;
                case 2: { /* remove: the present item succeeds, the other fails */
                    item_t *other = cur == &items[0][k] ? &items[1][k] : &items[0][k];
                    CU_ASSERT_EQUAL(sw_htab_remove(&t, hkey(k), other), -1);
                    if (cur) {
                        CU_ASSERT_EQUAL_FATAL(sw_htab_remove(&t, hkey(k), cur), 0);
                        model[k] = NULL;
                        count--;
                    }
                    break;
                }
                default: /* replace with the key's other item */
                    if (cur) {
                        item_t *other = cur == &items[0][k] ? &items[1][k] : &items[0][k];
                        other->key = k;
                        CU_ASSERT_EQUAL_FATAL(sw_htab_replace(&t, hkey(k), cur, other), 0);
                        model[k] = other;
                    } else {
                        CU_ASSERT_EQUAL(sw_htab_replace(&t, hkey(k), &items[0][k], &items[1][k]), -1);
                    }
                    break;
                }
                /* Every lookup answers as the model does. */
                if (step % (hash_mode == 2 ? 16 : 97) == 0) {
                    for (uint32_t q = 0; q < (uint32_t)keyspace; q++)
                        CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(q), &q, item_eq), model[q]);
                    check_invariants(&t, count);
                } else {
                    CU_ASSERT_PTR_EQUAL(sw_htab_find(&t, hkey(k), &k, item_eq), model[k]);
                }
            }
            check_invariants(&t, count);
            sw_htab_close(&t);
        }
    }
}

static void test_hash_functions(void) {
    /* Deterministic; seed-, content- and length-sensitive. */
    CU_ASSERT_EQUAL(sw_hash_bytes("abc", 3, 1), sw_hash_bytes("abc", 3, 1));
    CU_ASSERT_NOT_EQUAL(sw_hash_bytes("abc", 3, 1), sw_hash_bytes("abc", 3, 2));
    CU_ASSERT_NOT_EQUAL(sw_hash_bytes("abc", 3, 1), sw_hash_bytes("abd", 3, 1));
    CU_ASSERT_NOT_EQUAL(sw_hash_bytes("a\0", 1, 1), sw_hash_bytes("a\0", 2, 1));
    CU_ASSERT_NOT_EQUAL(sw_hash_bytes("", 0, 1), sw_hash_bytes("\0", 1, 1));
    CU_ASSERT_NOT_EQUAL(sw_hash_bytes("\0\0\0\0\0\0\0\0", 8, 0), sw_hash_bytes("\0\0\0\0\0\0\0", 7, 0));
    CU_ASSERT_NOT_EQUAL(sw_hash_u64(1), sw_hash_u64(2));
    CU_ASSERT_EQUAL(sw_hash_u64(12345), sw_hash_u64(12345));

    /* No read past the input: each length ends at a guard page; and the
     * hash depends on the bytes only, not on their address. */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(map != MAP_FAILED);
    CU_ASSERT_FATAL(mprotect(map + pg, pg, PROT_NONE) == 0);
    char src[80];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i * 37 + 11);
    for (size_t len = 0; len <= 72; len++) {
        char *p = map + pg - len;
        memcpy(p, src, len);
        uint64_t h = sw_hash_bytes(p, len, 7);
        char copy[80];
        memcpy(copy + 3, src, len); /* unaligned */
        CU_ASSERT_EQUAL(h, sw_hash_bytes(copy + 3, len, 7));
        if (len > 0) {
            /* Each length gives another hash of the same prefix. */
            CU_ASSERT_NOT_EQUAL(h, sw_hash_bytes(p + 1, len - 1, 7));
        }
    }
    munmap(map, 2 * pg);

    /* Dispersion: 65536 consecutive keys fill 4096 buckets of the low bits
     * evenly (none empty, none more than 3x the mean). */
    static uint32_t bucket[4096];
    memset(bucket, 0, sizeof bucket);
    for (uint32_t k = 0; k < 65536; k++) {
        bucket[sw_hash_u64(k) & 4095]++;
    }
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 4096; i++) {
        if (bucket[i] < lo) lo = bucket[i];
        if (bucket[i] > hi) hi = bucket[i];
    }
    CU_ASSERT(lo > 0);
    CU_ASSERT(hi <= 48);
    memset(bucket, 0, sizeof bucket);
    for (uint32_t k = 0; k < 65536; k++) {
        char b[4] = {(char)(k >> 24), (char)(k >> 16), (char)(k >> 8), (char)k};
        bucket[sw_hash_bytes(b, 4, 0) & 4095]++;
    }
    lo = UINT32_MAX;
    hi = 0;
    for (int i = 0; i < 4096; i++) {
        if (bucket[i] < lo) lo = bucket[i];
        if (bucket[i] > hi) hi = bucket[i];
    }
    CU_ASSERT(lo > 0);
    CU_ASSERT(hi <= 48);
}

/* ---- sw_ctab_t ------------------------------------------------------------
 * The same checks for the compact table, whose items hash with this: */
static uint64_t item_hash(const void *item) { return hkey(((const item_t *)item)->key); }

/* The control byte of slot i. */
static uint8_t ct_ctrl(const sw_ctab_t *t, size_t i) {
    return t->groups[i / SW_CTAB_GROUP].ctrl[i % SW_CTAB_GROUP];
}

/* Counters against control bytes; load at most 7/8; every live slot holds
 * its item's tag; groups: a power of two of them, 64-byte lines, 7 slots
 * each, the eighth control byte the pad. */
static void ct_check_invariants(const sw_ctab_t *t, size_t model_count) {
    CU_ASSERT_EQUAL(t->count, model_count);
    if (t->cap == 0) {
        CU_ASSERT_EQUAL(t->count, 0);
        CU_ASSERT_EQUAL(t->ngroups, 0);
        CU_ASSERT_EQUAL(sw_ctab_bytes(t), 0);
        return;
    }
    CU_ASSERT_EQUAL(sizeof(sw_ctab_group_t), 64);
    CU_ASSERT_EQUAL((uintptr_t)t->groups % 64, 0);
    CU_ASSERT_EQUAL(t->ngroups & (t->ngroups - 1), 0);
    CU_ASSERT(t->ngroups >= 2);
    CU_ASSERT_EQUAL(t->cap, t->ngroups * SW_CTAB_GROUP);
    CU_ASSERT_EQUAL(sw_ctab_bytes(t), t->ngroups * 64);
    for (size_t g = 0; g < t->ngroups; g++) CU_ASSERT_EQUAL(t->groups[g].ctrl[SW_CTAB_GROUP], 0x80);
    size_t live = 0, tombs = 0, empty = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const item_t *it = sw_ctab_at(t, i);
        if (it) {
            live++;
            CU_ASSERT_EQUAL(ct_ctrl(t, i), 0x80u | (item_hash(it) >> 57));
        } else if (ct_ctrl(t, i) == 0x01) {
            tombs++;
        } else {
            CU_ASSERT_EQUAL(ct_ctrl(t, i), 0);
            empty++;
        }
    }
    CU_ASSERT_EQUAL(live, t->count);
    CU_ASSERT_EQUAL(tombs, t->tombs);
    CU_ASSERT((t->count + t->tombs) * 8 <= t->cap * 7);
    CU_ASSERT(empty > 0);
}

static void test_ct_basic(void) {
    sw_ctab_t t;
    item_t a = {1, 0}, a2 = {1, 1}, b = {2, 0};
    uint32_t k1 = 1, k2 = 2, k3 = 3;
    hash_mode = 0;
    sw_ctab_init(&t, item_hash);
    CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(1), &k1, item_eq));
    CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(1), &a), -1);
    CU_ASSERT_EQUAL(sw_ctab_replace(&t, hkey(1), &a, &a2), -1);
    ct_check_invariants(&t, 0);

    CU_ASSERT_EQUAL(sw_ctab_insert(&t, hkey(1), &a), 0);
    CU_ASSERT_EQUAL(sw_ctab_insert(&t, hkey(2), &b), 0);
    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(1), &k1, item_eq), &a);
    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(2), &k2, item_eq), &b);
    CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(3), &k3, item_eq));
    CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(1), &k2, item_eq));
    ct_check_invariants(&t, 2);

    CU_ASSERT_EQUAL(sw_ctab_replace(&t, hkey(1), &a, &a2), 0);
    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(1), &k1, item_eq), &a2);
    CU_ASSERT_EQUAL(sw_ctab_replace(&t, hkey(1), &a, &a2), -1);
    CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(1), &a), -1);
    ct_check_invariants(&t, 2);

    CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(1), &a2), 0);
    CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(1), &k1, item_eq));
    CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(1), &a2), -1);
    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(2), &k2, item_eq), &b);
    ct_check_invariants(&t, 1);
    sw_ctab_close(&t);
    CU_ASSERT_EQUAL(t.cap, 0);
    CU_ASSERT_EQUAL(t.count, 0);
    CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(2), &k2, item_eq));
    sw_ctab_close(&t);
    /* Still usable after close (the hash function is kept). */
    CU_ASSERT_EQUAL(sw_ctab_insert(&t, hkey(2), &b), 0);
    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(2), &k2, item_eq), &b);
    sw_ctab_close(&t);
}

/* Grows through many rebuilds (each rehashes through the callback); the
 * load stays between 7/16 (just after a growth) and 7/8. */
static void test_ct_growth(void) {
    for (hash_mode = 0; hash_mode <= 1; hash_mode++) {
        size_t n = hash_mode ? 3000 : 200000;
        item_t *items = calloc(n, sizeof *items);
        sw_ctab_t t;
        sw_ctab_init(&t, item_hash);
        size_t prev_cap = 0;
        for (size_t i = 0; i < n; i++) {
            items[i].key = (uint32_t)i;
            CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey((uint32_t)i), &items[i]), 0);
            CU_ASSERT(t.cap >= prev_cap);
            if (t.cap != prev_cap && prev_cap) CU_ASSERT_EQUAL(t.cap, 2 * prev_cap);
            prev_cap = t.cap;
            CU_ASSERT((t.count + t.tombs) * 8 <= t.cap * 7);
        }
        ct_check_invariants(&t, n);
        CU_ASSERT(t.cap * 7 <= n * 16 + 16 * 7);
        for (size_t i = 0; i < n; i++) {
            uint32_t k = (uint32_t)i;
            CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(k), &k, item_eq), &items[i]);
        }
        for (uint32_t k = (uint32_t)n; k < (uint32_t)n + 1000; k++)
            CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(k), &k, item_eq));
        sw_ctab_close(&t);
        free(items);
    }
}

static void test_ct_tombstones(void) {
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        enum { LIVE = 10, ROUNDS = 200000 };
        item_t ring[LIVE];
        sw_ctab_t t;
        sw_ctab_init(&t, item_hash);
        size_t max_cap = 0;
        for (uint32_t k = 0; k < ROUNDS; k++) {
            item_t *slot = &ring[k % LIVE];
            if (k >= LIVE) CU_ASSERT_EQUAL_FATAL(sw_ctab_remove(&t, hkey(slot->key), slot), 0);
            slot->key = k;
            CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey(k), slot), 0);
            if (t.cap > max_cap) max_cap = t.cap;
            if (t.count + t.tombs >= t.cap) CU_FAIL("table full of tombstones");
        }
        ct_check_invariants(&t, LIVE);
        CU_ASSERT(max_cap <= 14); /* never grew past its first 2 groups */
        for (int i = 0; i < LIVE; i++) {
            uint32_t k = ring[i].key;
            CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(k), &k, item_eq), &ring[i]);
        }
        for (int i = 0; i < LIVE; i++) CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(ring[i].key), &ring[i]), 0);
        ct_check_invariants(&t, 0);
        CU_ASSERT_EQUAL(sw_ctab_insert(&t, hkey(ring[0].key), &ring[0]), 0);
        ct_check_invariants(&t, 1);
        sw_ctab_close(&t);
    }
}

/* A table filled to its 7/8 bound (so that removals leave tombstones in
 * full groups), then emptied: the last removal clears the tombstones when
 * they reach 1/8 of the slots; lookups and inserts work on as before. */
static void test_ct_empty_clears(void) {
    hash_mode = 0;
    static item_t items[1568];
    sw_ctab_t t;
    sw_ctab_init(&t, item_hash);
    uint32_t n = 0;
    do {
        items[n].key = n;
        CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey(n), &items[n]), 0);
        n++;
    } while (n < 1000 || ((t.count + 1) * 8 <= t.cap * 7 && n < 1568));
    CU_ASSERT_EQUAL(t.cap, 1792);
    CU_ASSERT_EQUAL(n, 1568);
    size_t cap = t.cap, max_tombs = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (k == n - 1) max_tombs = t.tombs;
        CU_ASSERT_EQUAL_FATAL(sw_ctab_remove(&t, hkey(k), &items[k]), 0);
    }
    CU_ASSERT(max_tombs * 8 >= cap); /* the case this test is about */
    CU_ASSERT_EQUAL(t.tombs, 0);
    CU_ASSERT_EQUAL(t.cap, cap);
    ct_check_invariants(&t, 0);
    for (uint32_t k = 0; k < n; k++) CU_ASSERT_PTR_NULL(sw_ctab_find(&t, hkey(k), &k, item_eq));
    for (uint32_t k = 0; k < n; k += 2) CU_ASSERT_EQUAL(sw_ctab_insert(&t, hkey(k), &items[k]), 0);
    for (uint32_t k = 0; k < n; k++)
        CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(k), &k, item_eq), k % 2 ? NULL : &items[k]);
    ct_check_invariants(&t, (n + 1) / 2);
    sw_ctab_close(&t);
}

/* A live set of 1300 (about 3/4 of 1792 slots, 256 groups) churned 200,000
 * times: the rebuilds that clear tombstones keep the size; it never
 * doubles. */
static void test_ct_churn_no_growth(void) {
    enum { LIVE = 1300, ROUNDS = 200000 };
    static item_t ring[LIVE];
    hash_mode = 0;
    sw_ctab_t t;
    sw_ctab_init(&t, item_hash);
    for (uint32_t k = 0; k < LIVE; k++) {
        ring[k].key = k;
        CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey(k), &ring[k]), 0);
    }
    CU_ASSERT_EQUAL(t.cap, 1792);
    rng_state = 5;
    for (uint32_t k = LIVE; k < ROUNDS; k++) {
        item_t *slot = &ring[rnd() % LIVE];
        CU_ASSERT_EQUAL_FATAL(sw_ctab_remove(&t, hkey(slot->key), slot), 0);
        slot->key = k;
        CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey(k), slot), 0);
        if (t.cap != 1792) {
            CU_FAIL("grew under churn");
            break;
        }
    }
    ct_check_invariants(&t, LIVE);
    for (int i = 0; i < LIVE; i++) {
        uint32_t k = ring[i].key;
        CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(k), &k, item_eq), &ring[i]);
    }
    sw_ctab_close(&t);
}

static void test_ct_iterate_remove(void) {
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        size_t n = hash_mode == 2 ? 300 : 2000;
        item_t *items = calloc(2 * n, sizeof *items);
        int *seen = calloc(n, sizeof *seen);
        sw_ctab_t t;
        sw_ctab_init(&t, item_hash);
        for (size_t i = 0; i < n; i++) {
            items[i].key = (uint32_t)i;
            items[n + i].key = (uint32_t)i;
            items[n + i].gen = 1;
            sw_ctab_insert(&t, hkey((uint32_t)i), &items[i]);
        }
        size_t removed = 0;
        for (size_t i = 0; i < t.cap; i++) {
            item_t *it = sw_ctab_at(&t, i);
            if (!it) continue;
            seen[it->key]++;
            if (it->key % 3 == 0) {
                CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(it->key), it), 0);
                CU_ASSERT_PTR_NULL(sw_ctab_at(&t, i));
                removed++;
            } else if (it->key % 3 == 1) {
                CU_ASSERT_EQUAL(sw_ctab_replace(&t, hkey(it->key), it, &items[n + it->key]), 0);
                CU_ASSERT_PTR_EQUAL(sw_ctab_at(&t, i), &items[n + it->key]);
            }
        }
        for (size_t k = 0; k < n; k++) CU_ASSERT_EQUAL(seen[k], 1);
        ct_check_invariants(&t, n - removed);
        for (uint32_t k = 0; k < n; k++) {
            item_t *it = sw_ctab_find(&t, hkey(k), &k, item_eq);
            if (k % 3 == 0) {
                CU_ASSERT_PTR_NULL(it);
            } else if (k % 3 == 1) {
                CU_ASSERT_PTR_EQUAL(it, &items[n + k]);
            } else {
                CU_ASSERT_PTR_EQUAL(it, &items[k]);
            }
        }
        for (size_t i = 0; i < t.cap; i++) {
            item_t *it = sw_ctab_at(&t, i);
            if (it) CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(it->key), it), 0);
        }
        ct_check_invariants(&t, 0);
        sw_ctab_close(&t);
        free(items);
        free(seen);
    }
}

/* Random operations against the model, with the three hash qualities; also
 * a live set that grows large, then shrinks (tombstones and empties mixed in
 * full groups). */
static void test_ct_random_model(void) {
    enum { KEYS = 4096 };
    static item_t items[2][KEYS];
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        for (int seed = 1; seed <= model_seeds(); seed++) {
            static item_t *model[KEYS];
            memset(model, 0, sizeof model);
            size_t count = 0;
            sw_ctab_t t;
            sw_ctab_init(&t, item_hash);
            rng_state = (uint64_t)seed * 1000003u + (uint64_t)hash_mode + 77;
            int keyspace = hash_mode == 2 ? 64 : (seed % 3 == 0 ? KEYS : seed % 3 == 1 ? 512 : 40);
            int steps = hash_mode == 2 ? 5000 : 40000;
            for (int step = 0; step < steps; step++) {
                uint32_t k = (uint32_t)(rnd() % (uint64_t)keyspace);
                item_t *cur = model[k];
                /* First half mostly inserts, second half mostly removes. */
                unsigned op = (unsigned)(rnd() % 8);
                int ins = step < steps / 2 ? op < 5 : op < 2;
                int rem = !ins && op < 7; /* else replace */
                if (ins) {
                    if (!cur) {
                        item_t *it = &items[rnd() % 2][k];
                        it->key = k;
                        CU_ASSERT_EQUAL_FATAL(sw_ctab_insert(&t, hkey(k), it), 0);
                        model[k] = it;
                        count++;
                    }
                } else if (rem) {
                    item_t *other = cur == &items[0][k] ? &items[1][k] : &items[0][k];
                    CU_ASSERT_EQUAL(sw_ctab_remove(&t, hkey(k), other), -1);
                    if (cur) {
                        CU_ASSERT_EQUAL_FATAL(sw_ctab_remove(&t, hkey(k), cur), 0);
                        model[k] = NULL;
                        count--;
                    }
                } else if (cur) {
                    item_t *other = cur == &items[0][k] ? &items[1][k] : &items[0][k];
                    other->key = k;
                    CU_ASSERT_EQUAL_FATAL(sw_ctab_replace(&t, hkey(k), cur, other), 0);
                    model[k] = other;
                } else {
                    CU_ASSERT_EQUAL(sw_ctab_replace(&t, hkey(k), &items[0][k], &items[1][k]), -1);
                }
                if (step % (hash_mode == 2 ? 16 : 997) == 0) {
                    for (uint32_t q = 0; q < (uint32_t)keyspace; q++)
                        CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(q), &q, item_eq), model[q]);
                    ct_check_invariants(&t, count);
                } else {
                    CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(k), &k, item_eq), model[k]);
                }
            }
            for (uint32_t q = 0; q < (uint32_t)keyspace; q++)
                CU_ASSERT_PTR_EQUAL(sw_ctab_find(&t, hkey(q), &q, item_eq), model[q]);
            ct_check_invariants(&t, count);
            sw_ctab_close(&t);
        }
    }
}

/* ---- index table ------------------------------------------------------- */

/* The caller's records of the index-table tests: keys by record number,
 * in an array that is reallocated (moved) as it grows. */
typedef struct {
    uint32_t *keys;
    uint32_t n, cap;
} recs_t;

static uint64_t it_hash(const void *ctx, uint32_t idx) { return hkey(((const recs_t *)ctx)->keys[idx]); }

static int it_eq(const void *ctx, uint32_t idx, const void *key) {
    return ((const recs_t *)ctx)->keys[idx] == *(const uint32_t *)key;
}

/* Every key's chain is unbroken: each stored index is found from its home
 * slot without crossing an empty one; the count matches the slots; the
 * load is at most 3/4 and the capacity a power of two. */
static void it_check(const sw_itab_t *t, const recs_t *r, uint32_t count) {
    uint32_t live = 0;
    for (size_t i = 0; i < t->cap; i++) {
        uint32_t idx = sw_itab_at(t, i);
        if (idx == SW_ITAB_NONE) continue;
        live++;
        for (size_t j = (size_t)it_hash(r, idx) & t->mask; j != i; j = (j + 1) & t->mask)
            CU_ASSERT_NOT_EQUAL_FATAL(sw_itab_at(t, j), SW_ITAB_NONE);
    }
    CU_ASSERT_EQUAL(live, count);
    CU_ASSERT_EQUAL(t->count, count);
    CU_ASSERT((uint64_t)t->count * 4 <= (uint64_t)t->cap * 3);
    CU_ASSERT((t->cap & (t->cap - 1)) == 0);
    CU_ASSERT_EQUAL(sw_itab_bytes(t), (size_t)t->cap * 4);
}

static void test_it_basic(void) {
    sw_itab_t t;
    sw_itab_init(&t);
    recs_t r = {NULL, 0, 0};
    uint32_t k = 7;
    CU_ASSERT_EQUAL(sw_itab_find(&t, hkey(k), &k, it_eq, &r), SW_ITAB_NONE);
    CU_ASSERT_EQUAL(t.cap, 0);
    uint32_t keys[100];
    r.keys = keys;
    for (uint32_t i = 0; i < 100; i++) {
        keys[i] = i * 3;
        CU_ASSERT_EQUAL_FATAL(sw_itab_insert(&t, hkey(keys[i]), i, it_hash, &r), 0);
    }
    it_check(&t, &r, 100);
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t want = i % 3 == 0 ? i / 3 : SW_ITAB_NONE;
        CU_ASSERT_EQUAL(sw_itab_find(&t, hkey(i), &i, it_eq, &r), want);
    }
    for (uint32_t i = 0; i < 100; i += 2) sw_itab_remove(&t, hkey(keys[i]), i, it_hash, &r);
    it_check(&t, &r, 50);
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t want = i % 2 ? i : SW_ITAB_NONE;
        CU_ASSERT_EQUAL(sw_itab_find(&t, hkey(keys[i]), &keys[i], it_eq, &r), want);
    }
    sw_itab_close(&t);
    CU_ASSERT_EQUAL(t.cap, 0);
    CU_ASSERT_EQUAL(t.count, 0);
}

/* Random inserts and removes, with good, bad and constant hashes, against
 * a model; records come from a growing array with a free list (as
 * group.c's pid table uses it). Churn does not grow the table beyond
 * what its live set needs (no tombstones). */
static void test_it_random_model(void) {
    enum { KEYS = 512 };
    for (hash_mode = 0; hash_mode <= 2; hash_mode++) {
        for (int seed = 1; seed <= model_seeds(); seed++) {
            uint32_t model[KEYS]; /* record of a key, or SW_ITAB_NONE */
            for (int i = 0; i < KEYS; i++) model[i] = SW_ITAB_NONE;
            uint32_t freel[KEYS], nfree = 0, count = 0;
            recs_t r = {NULL, 0, 0};
            sw_itab_t t;
            sw_itab_init(&t);
            rng_state = (uint64_t)seed * 7919u + (uint64_t)hash_mode;
            int keyspace = hash_mode == 2 ? 64 : (seed % 2 ? KEYS : 40);
            for (int step = 0; step < 20000; step++) {
                uint32_t k = (uint32_t)(rnd() % (uint64_t)keyspace);
                if (rnd() % 2) {
                    if (model[k] == SW_ITAB_NONE) {
                        uint32_t idx;
                        if (nfree) {
                            idx = freel[--nfree];
                        } else {
                            if (r.n == r.cap) {
                                r.cap = r.cap ? r.cap * 2 : 4;
                                r.keys = realloc(r.keys, r.cap * sizeof *r.keys);
                                CU_ASSERT_PTR_NOT_NULL_FATAL(r.keys);
                            }
                            idx = r.n++;
                        }
                        r.keys[idx] = k;
                        CU_ASSERT_EQUAL_FATAL(sw_itab_insert(&t, hkey(k), idx, it_hash, &r), 0);
                        model[k] = idx;
                        count++;
                    }
                } else if (model[k] != SW_ITAB_NONE) {
                    sw_itab_remove(&t, hkey(k), model[k], it_hash, &r);
                    freel[nfree++] = model[k];
                    model[k] = SW_ITAB_NONE;
                    count--;
                }
                if (step % (hash_mode == 2 ? 16 : 97) == 0) {
                    for (uint32_t q = 0; q < (uint32_t)keyspace; q++)
                        CU_ASSERT_EQUAL(sw_itab_find(&t, hkey(q), &q, it_eq, &r), model[q]);
                    it_check(&t, &r, count);
                } else {
                    CU_ASSERT_EQUAL(sw_itab_find(&t, hkey(k), &k, it_eq, &r), model[k]);
                }
            }
            /* Growth follows the live set alone (at most keyspace
             * indexes), however much the table churned. */
            uint32_t bound = 16;
            while ((uint64_t)keyspace * 4 > (uint64_t)bound * 3) bound *= 2;
            CU_ASSERT(t.cap <= bound);
            it_check(&t, &r, count);
            sw_itab_close(&t);
            free(r.keys);
        }
    }
    hash_mode = 0;
}

int test_htab_suite(void) {
    CU_pSuite s = CU_add_suite("htab", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "insert/find/remove/replace", test_basic) ||
        !CU_add_test(s, "growth", test_growth) ||
        !CU_add_test(s, "tombstones cleaned under churn", test_tombstones) ||
        !CU_add_test(s, "iteration while removing/replacing", test_iterate_remove) ||
        !CU_add_test(s, "random ops against a model", test_random_model) ||
        !CU_add_test(s, "hash functions", test_hash_functions) ||
        !CU_add_test(s, "ctab: insert/find/remove/replace", test_ct_basic) ||
        !CU_add_test(s, "ctab: growth", test_ct_growth) ||
        !CU_add_test(s, "ctab: tombstones cleaned under churn", test_ct_tombstones) ||
        !CU_add_test(s, "ctab: churn at 3/4 load keeps the size", test_ct_churn_no_growth) ||
        !CU_add_test(s, "ctab: emptied table drops its tombstones", test_ct_empty_clears) ||
        !CU_add_test(s, "ctab: iteration while removing/replacing", test_ct_iterate_remove) ||
        !CU_add_test(s, "ctab: random ops against a model", test_ct_random_model) ||
        !CU_add_test(s, "itab: insert, find, remove", test_it_basic) ||
        !CU_add_test(s, "itab: random ops against a model", test_it_random_model))
        return -1;
    return 0;
}
