/* atoms.c - interned node names and the pid codec; see atoms.h. */
#include "atoms.h"

#include <stdlib.h>
#include <string.h>

static void put32be(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static uint32_t get32be(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* 1 when ei encodes and decodes pids as atoms.h describes (checked once). */
static int pidcodec_fast(void) {
    static int state; /* 0 not checked yet, 1 fast, -1 ei only */
    static const uint32_t probe[][3] = {{0, 0, 0},
                                        {1, 2, 3},
                                        {0xffffffffu, 0xffffffffu, 0xffffffffu},
                                        {0x12345678u, 0x9abcdef0u, 0x0fedcba9u}};
    if (state) return state > 0;
    state = -1;
    int prefix = -1;
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        erlang_pid p, q;
        char buf[64];
        int n = 0, i = 0, ai = 1;
        const char *node;
        size_t nlen;
        memcpy(p.node, "n@h", 4);
        p.num = probe[k][0];
        p.serial = probe[k][1];
        p.creation = probe[k][2];
        if (ei_encode_pid(NULL, &n, &p) != 0 || n < 13 || n > (int)sizeof buf) return 0;
        n = 0;
        if (ei_encode_pid(buf, &n, &p) != 0) return 0;
        unsigned char *tail = (unsigned char *)buf + n - 12;
        if ((unsigned char)buf[0] != ERL_NEW_PID_EXT || !sw_atom_ascii(buf, &ai, &node, &nlen) ||
            ai != n - 12 || nlen != 3 || memcmp(node, "n@h", 3) != 0 || (prefix >= 0 && prefix != ai) ||
            get32be(tail) != p.num || get32be(tail + 4) != p.serial || get32be(tail + 8) != p.creation)
            return 0;
        prefix = ai;
        if (ei_decode_pid(buf, &i, &q) != 0 || i != n || strcmp(q.node, "n@h") != 0 || q.num != p.num ||
            q.serial != p.serial || q.creation != p.creation)
            return 0;
    }
    state = 1;
    return 1;
}

/* ---- the table ----------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t len;
} strkey_t;

static int atom_eq(const void *item, const void *key) {
    const sw_atom_t *a = item;
    const strkey_t *k = key;
    return a->len == k->len && memcmp(a->str, k->s, k->len) == 0;
}

static uint64_t atom_hash(const char *s, size_t len) { return sw_hash_bytes(s, len, 0x61746f6d); }

void sw_atoms_init(sw_atoms_t *at) {
    sw_htab_init(&at->tab);
    at->byidx = NULL;
    at->n = at->cap = 0;
    at->guarded = 0;
    at->budget = SW_ATOMS_BUDGET;
    at->refused = 0;
}

void sw_atoms_guard(sw_atoms_t *at, int on) { at->guarded = on != 0; }

void sw_atoms_refill(sw_atoms_t *at) { at->budget = SW_ATOMS_BUDGET; }

void sw_atoms_close(sw_atoms_t *at) {
    for (uint32_t i = 0; i < at->n; i++) free(at->byidx[i]);
    free(at->byidx);
    sw_htab_close(&at->tab);
    at->byidx = NULL;
    at->n = at->cap = 0;
}

uint32_t sw_atoms_intern_len(sw_atoms_t *at, const char *s, size_t len) {
    strkey_t k = {s, len};
    uint64_t h = atom_hash(s, len);
    sw_atom_t *a = sw_htab_find(&at->tab, h, &k, atom_eq);
    if (a) return a->idx;
    if (at->guarded) {
        if (at->budget == 0) {
            at->refused++;
            return SW_ATOM_NONE;
        }
        at->budget--;
    }
    if (at->n == at->cap) {
        uint32_t cap = at->cap ? at->cap * 2 : 16;
        sw_atom_t **nb = realloc(at->byidx, cap * sizeof *nb);
        if (!nb) return SW_ATOM_NONE;
        at->byidx = nb;
        at->cap = cap;
    }
    a = malloc(sizeof *a + len + 1);
    if (!a) return SW_ATOM_NONE;
    memcpy(a->str, s, len);
    a->str[len] = 0;
    int extlen = 0, ix = 0, pidlen = 0;
    if (ei_encode_atom(NULL, &extlen, a->str) != 0) extlen = 0;
    /* A pid on this node, by ei, less its 12 bytes of numbers. */
    char pidbuf[MAXATOMLEN_UTF8 + 32];
    if (pidcodec_fast() && len < MAXATOMLEN_UTF8) {
        erlang_pid ep;
        memcpy(ep.node, a->str, len + 1);
        ep.num = ep.serial = ep.creation = 0;
        int n = 0;
        if (ei_encode_pid(NULL, &n, &ep) == 0 && n > 12 && n <= (int)sizeof pidbuf) {
            n = 0;
            if (ei_encode_pid(pidbuf, &n, &ep) == 0) pidlen = n - 12;
        }
    }
    if (extlen || pidlen) {
        sw_atom_t *na = realloc(a, sizeof *a + len + 1 + (size_t)extlen + (size_t)pidlen);
        if (!na) {
            free(a);
            return SW_ATOM_NONE;
        }
        a = na;
        if (extlen) ei_encode_atom(a->str + len + 1, &ix, a->str);
        memcpy(a->str + len + 1 + ix, pidbuf, (size_t)pidlen);
    }
    a->extlen = (uint32_t)ix;
    a->pidlen = (uint32_t)pidlen;
    a->hash = h;
    a->idx = at->n;
    a->len = (uint32_t)len;
    if (sw_htab_insert(&at->tab, h, a) != 0) {
        free(a);
        return SW_ATOM_NONE;
    }
    at->byidx[at->n++] = a;
    return a->idx;
}

uint32_t sw_atoms_intern(sw_atoms_t *at, const char *s) { return sw_atoms_intern_len(at, s, strlen(s)); }

uint32_t sw_atoms_find(const sw_atoms_t *at, const char *s) {
    strkey_t k = {s, strlen(s)};
    const sw_atom_t *a = sw_htab_find(&at->tab, atom_hash(s, k.len), &k, atom_eq);
    return a ? a->idx : SW_ATOM_NONE;
}

void sw_atoms_enc(ei_x_buff *x, const sw_atoms_t *at, uint32_t idx) {
    const sw_atom_t *a = at->byidx[idx];
    if (a->extlen) ei_x_append_buf(x, a->str + a->len + 1, (int)a->extlen);
    else ei_x_encode_atom(x, a->str);
}

int sw_atom_ascii(const char *buf, int *index, const char **s, size_t *len) {
    const unsigned char *p = (const unsigned char *)buf + *index;
    size_t n, hdr;
    switch (p[0]) {
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_EXT:
        n = p[1];
        hdr = 2;
        break;
    case ERL_ATOM_UTF8_EXT:
    case ERL_ATOM_EXT:
        n = (size_t)p[1] << 8 | p[2];
        hdr = 3;
        break;
    default:
        return 0;
    }
    if (n >= MAXATOMLEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[hdr + i] == 0 || p[hdr + i] >= 0x80) return 0;
    *s = (const char *)p + hdr;
    *len = n;
    *index += (int)(hdr + n);
    return 1;
}

int sw_atom_dec(const char *buf, int *index, char *out) {
    const char *s;
    size_t len;
    if (!sw_atom_ascii(buf, index, &s, &len)) return ei_decode_atom(buf, index, out);
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

uint32_t sw_atoms_dec(sw_atoms_t *at, const char *buf, int *index) {
    const char *s;
    size_t len;
    if (sw_atom_ascii(buf, index, &s, &len)) return sw_atoms_intern_len(at, s, len);
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_atom(buf, index, atom) != 0) return SW_ATOM_NONE;
    return sw_atoms_intern(at, atom);
}

/* ---- pids ---------------------------------------------------------------- */

void sw_pid_expand(const sw_atoms_t *at, const sw_pid_t *p, erlang_pid *ep) {
    const sw_atom_t *a = at->byidx[p->node];
    size_t n = a->len < sizeof ep->node ? a->len : sizeof ep->node - 1;
    memcpy(ep->node, a->str, n);
    ep->node[n] = 0;
    ep->num = p->num;
    ep->serial = p->serial;
    ep->creation = p->creation;
}

void sw_pid_enc(ei_x_buff *x, const sw_atoms_t *at, const sw_pid_t *p) {
    const sw_atom_t *a = at->byidx[p->node];
    if (a->pidlen) {
        /* One append: the prefix (at most MAXATOMLEN_UTF8 + 20 bytes, see
         * sw_atoms_intern_len), then the numbers. */
        unsigned char b[MAXATOMLEN_UTF8 + 32];
        memcpy(b, a->str + a->len + 1 + a->extlen, a->pidlen);
        put32be(b + a->pidlen, p->num);
        put32be(b + a->pidlen + 4, p->serial);
        put32be(b + a->pidlen + 8, p->creation);
        ei_x_append_buf(x, (const char *)b, (int)a->pidlen + 12);
        return;
    }
    erlang_pid ep;
    sw_pid_expand(at, p, &ep);
    ei_x_encode_pid(x, &ep);
}

int sw_pid_compact(sw_atoms_t *at, const erlang_pid *ep, sw_pid_t *out) {
    uint32_t n = sw_atoms_intern(at, ep->node);
    if (n == SW_ATOM_NONE) return -1;
    out->node = n;
    out->num = ep->num;
    out->serial = ep->serial;
    out->creation = ep->creation;
    return 0;
}

int sw_pid_dec(sw_atoms_t *at, const char *buf, int *index, sw_pid_t *p) {
    if ((unsigned char)buf[*index] == ERL_NEW_PID_EXT && pidcodec_fast()) {
        int i = *index + 1;
        const char *node;
        size_t len;
        if (sw_atom_ascii(buf, &i, &node, &len)) {
            uint32_t n = sw_atoms_intern_len(at, node, len);
            if (n == SW_ATOM_NONE) return -1;
            const unsigned char *q = (const unsigned char *)buf + i;
            p->node = n;
            p->num = get32be(q);
            p->serial = get32be(q + 4);
            p->creation = get32be(q + 8);
            *index = i + 12;
            return 0;
        }
    }
    erlang_pid ep;
    if (ei_decode_pid(buf, index, &ep) != 0) return -1;
    return sw_pid_compact(at, &ep, p);
}
