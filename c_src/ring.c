/* ring.c - libring's HashRing placement (see ring.h for the rules).
 *
 * The points live in one array sorted by hash; a lookup is a binary search.
 * Adding a node inserts its points one by one (libring's order, so the
 * first owner of a contested point keeps it); removing filters the array.
 * Both are O(points) per node, which is nothing for tens of nodes.
 *
 * Not here: membership decisions, replicas (key_to_nodes), I/O.
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "phash2.h"

#define VERSION_MAGIC 131
#define ATOM_EXT 100
#define SMALL_ATOM_EXT 115
#define ATOM_UTF8_EXT 118
#define SMALL_ATOM_UTF8_EXT 119
#define SMALL_TUPLE_EXT 104
#define SMALL_INTEGER_EXT 97
#define INTEGER_EXT 98

/* Largest {Node, I} encoding: 131, tuple header, atom header and text,
 * INTEGER_EXT. */
#define POINT_EXT_MAX (1 + 2 + 3 + SW_PHASH2_ATOM_MAX_UTF8 + 5)

/* Writes the external format of {Node, I} (the atom as UTF-8: its hash
 * does not depend on the tag) and hashes it. Fails only for a name that is
 * not a valid atom text. */
static int point_hash(const char *name, size_t len, uint32_t i, uint32_t *hash) {
    unsigned char b[POINT_EXT_MAX];
    size_t n = 0;
    int rc;

    if (len == 0 || len > SW_PHASH2_ATOM_MAX_UTF8) return SW_RING_EINVAL;
    b[n++] = VERSION_MAGIC;
    b[n++] = SMALL_TUPLE_EXT;
    b[n++] = 2;
    if (len <= 255) {
        b[n++] = SMALL_ATOM_UTF8_EXT;
        b[n++] = (unsigned char)len;
    } else {
        b[n++] = ATOM_UTF8_EXT;
        b[n++] = (unsigned char)(len >> 8);
        b[n++] = (unsigned char)len;
    }
    memcpy(b + n, name, len);
    n += len;
    if (i <= 255) {
        b[n++] = SMALL_INTEGER_EXT;
        b[n++] = (unsigned char)i;
    } else {
        b[n++] = INTEGER_EXT;
        b[n++] = (unsigned char)(i >> 24);
        b[n++] = (unsigned char)(i >> 16);
        b[n++] = (unsigned char)(i >> 8);
        b[n++] = (unsigned char)i;
    }
    rc = sw_phash2((const char *)b, n, SW_PHASH2_RANGE_RING, hash);
    /* The only input that varies is the name: an error means a bad name
     * (invalid UTF-8, or more than 255 characters). */
    return rc < 0 ? SW_RING_EINVAL : 0;
}

int sw_ring_point_hash(const char *name, uint32_t i, uint32_t *hash) {
    if (!name || !hash) return SW_RING_EINVAL;
    return point_hash(name, strlen(name), i, hash);
}

int sw_ring_init(sw_ring_t *r, unsigned flags) {
    if (!r || (flags & ~(unsigned)(SW_RING_ATOMS_UTF8 | SW_RING_CANONICAL))) return SW_RING_EINVAL;
    memset(r, 0, sizeof *r);
    r->flags = flags;
    return 0;
}

void sw_ring_close(sw_ring_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nnodes; i++) free(r->nodes[i].name);
    free(r->nodes);
    free(r->points);
    memset(r, 0, sizeof *r);
}

static long find_node(const sw_ring_t *r, const char *name, size_t len) {
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].len == len && memcmp(r->nodes[i].name, name, len) == 0) return (long)i;
    return -1;
}

/* Index of the first point with hash >= h (npoints if none). */
static size_t lower_bound(const sw_ring_t *r, uint32_t h) {
    size_t lo = 0, hi = r->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int name_less(const sw_ring_node_t *a, const sw_ring_node_t *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);
    return c < 0 || (c == 0 && a->len < b->len);
}

/* Puts node k's points on the ring. Capacity must be reserved. A point
 * already taken stays with its owner (libring), or in canonical mode goes
 * to the smaller name. */
static void insert_points(sw_ring_t *r, uint32_t k) {
    const sw_ring_node_t *nd = &r->nodes[k];
    for (uint32_t i = 1; i <= nd->weight; i++) {
        uint32_t h;
        /* Cannot fail: the name was validated when the node was added. */
        if (point_hash(nd->name, nd->len, i, &h) < 0) continue;
        size_t at = lower_bound(r, h);
        if (at < r->npoints && r->points[at].hash == h) {
            if ((r->flags & SW_RING_CANONICAL) && r->points[at].node != k &&
                name_less(nd, &r->nodes[r->points[at].node]))
                r->points[at].node = k;
            continue;
        }
        memmove(&r->points[at + 1], &r->points[at], (r->npoints - at) * sizeof r->points[0]);
        r->points[at].hash = h;
        r->points[at].node = k;
        r->npoints++;
    }
}

int sw_ring_add_node_weight(sw_ring_t *r, const char *name, unsigned weight) {
    uint32_t h;
    size_t len;
    char *copy;

    if (!r || !name || weight == 0 || weight > SW_RING_WEIGHT_MAX) return SW_RING_EINVAL;
    len = strlen(name);
    if (point_hash(name, len, 1, &h) < 0) return SW_RING_EINVAL;
    if (find_node(r, name, len) >= 0) return SW_RING_EEXIST;
    if (r->nnodes >= UINT32_MAX) return SW_RING_ENOMEM;

    /* Reserve everything first so that nothing can fail half-way. */
    if (r->nnodes == r->nodes_cap) {
        size_t cap = r->nodes_cap ? r->nodes_cap * 2 : 8;
        sw_ring_node_t *n = realloc(r->nodes, cap * sizeof *n);
        if (!n) return SW_RING_ENOMEM;
        r->nodes = n;
        r->nodes_cap = cap;
    }
    if (r->points_cap - r->npoints < weight) {
        size_t cap = r->points_cap ? r->points_cap : 1024;
        while (cap - r->npoints < weight) cap *= 2;
        sw_ring_point_t *p = realloc(r->points, cap * sizeof *p);
        if (!p) return SW_RING_ENOMEM;
        r->points = p;
        r->points_cap = cap;
    }
    if (!(copy = malloc(len + 1))) return SW_RING_ENOMEM;
    memcpy(copy, name, len + 1);

    uint32_t k = (uint32_t)r->nnodes++;
    r->nodes[k].name = copy;
    r->nodes[k].len = len;
    r->nodes[k].weight = weight;
    insert_points(r, k);
    return 0;
}

int sw_ring_add_node(sw_ring_t *r, const char *name) {
    return sw_ring_add_node_weight(r, name, SW_RING_WEIGHT_DEFAULT);
}

int sw_ring_remove_node(sw_ring_t *r, const char *name) {
    long found;
    size_t i, j;

    if (!r || !name) return SW_RING_EINVAL;
    if ((found = find_node(r, name, strlen(name))) < 0) return SW_RING_ENOENT;
    uint32_t k = (uint32_t)found;

    free(r->nodes[k].name);
    memmove(&r->nodes[k], &r->nodes[k + 1], (r->nnodes - k - 1) * sizeof r->nodes[0]);
    r->nnodes--;

    if (r->flags & SW_RING_CANONICAL) {
        /* Rebuild from the members: a point the removed node had won goes
         * back to the next smallest claimant. Capacity only shrinks. */
        r->npoints = 0;
        for (i = 0; i < r->nnodes; i++) insert_points(r, (uint32_t)i);
        return 0;
    }
    /* libring: drop the node's points, keep everything else as it is. */
    for (i = 0, j = 0; i < r->npoints; i++) {
        sw_ring_point_t p = r->points[i];
        if (p.node == k) continue;
        if (p.node > k) p.node--;
        r->points[j++] = p;
    }
    r->npoints = j;
    return 0;
}

int sw_ring_has_node(const sw_ring_t *r, const char *name) {
    return r && name && find_node(r, name, strlen(name)) >= 0;
}

size_t sw_ring_node_count(const sw_ring_t *r) { return r ? r->nnodes : 0; }

size_t sw_ring_point_count(const sw_ring_t *r) { return r ? r->npoints : 0; }

size_t sw_ring_nodes(const sw_ring_t *r, const char **out, size_t max) {
    if (!r) return 0;
    for (size_t i = 0; i < r->nnodes && i < max && out; i++)
        out[i] = r->nodes[r->nnodes - 1 - i].name;
    return r->nnodes;
}

/* libring hashes an atom key as the binary term_to_binary(Key): rebuild
 * those bytes as the cluster's OTP release writes them. */
static int atom_key_hash(unsigned flags, const char *buf, size_t len, int *index, uint32_t *hash) {
    char text[SW_PHASH2_ATOM_MAX_UTF8 + 1];
    unsigned char ext[4 + SW_PHASH2_ATOM_MAX_UTF8];
    size_t tlen, n = 0;
    int latin1, idx = *index, rc;

    if ((rc = sw_phash2_atom_text(buf, len, &idx, text, &tlen, &latin1)) < 0) return rc;
    ext[n++] = VERSION_MAGIC;
    if (latin1 && !(flags & SW_RING_ATOMS_UTF8)) {
        /* OTP <= 25: ATOM_EXT with the latin1 bytes (2-byte length, even
         * for short atoms). */
        size_t chars = 0;
        n += 3;
        for (size_t i = 0; i < tlen; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c < 0x80) {
                ext[n++] = c;
            } else {
                ext[n++] = (unsigned char)(((c & 0x03) << 6) | (text[i + 1] & 0x3F));
                i++;
            }
            chars++;
        }
        ext[1] = ATOM_EXT;
        ext[2] = (unsigned char)(chars >> 8);
        ext[3] = (unsigned char)chars;
    } else if (tlen <= 255) {
        ext[n++] = SMALL_ATOM_UTF8_EXT;
        ext[n++] = (unsigned char)tlen;
        memcpy(ext + n, text, tlen);
        n += tlen;
    } else {
        ext[n++] = ATOM_UTF8_EXT;
        ext[n++] = (unsigned char)(tlen >> 8);
        ext[n++] = (unsigned char)tlen;
        memcpy(ext + n, text, tlen);
        n += tlen;
    }
    if ((rc = sw_phash2_bytes(ext, n, SW_PHASH2_RANGE_RING, hash)) < 0) return rc;
    *index = idx;
    return 0;
}

static int is_atom_tag(unsigned char t) {
    return t == ATOM_EXT || t == ATOM_UTF8_EXT || t == SMALL_ATOM_UTF8_EXT || t == SMALL_ATOM_EXT;
}

int sw_ring_key_hash_at(const sw_ring_t *r, const char *buf, size_t len, int *index,
                        uint32_t *hash) {
    if (!r || !buf || !index || !hash || *index < 0) return SW_RING_EINVAL;
    if ((size_t)*index >= len) return SW_PHASH2_ETRUNC;
    if (is_atom_tag((unsigned char)buf[*index]))
        return atom_key_hash(r->flags, buf, len, index, hash);
    return sw_phash2_at(buf, len, index, SW_PHASH2_RANGE_RING, hash);
}

int sw_ring_key_hash(const sw_ring_t *r, const char *key, size_t len, uint32_t *hash) {
    int idx = 1, rc;
    uint32_t h;

    if (!r || !key || !hash) return SW_RING_EINVAL;
    if (len < 1) return SW_PHASH2_ETRUNC;
    if ((unsigned char)key[0] != VERSION_MAGIC) return SW_PHASH2_EVERSION;
    if ((rc = sw_ring_key_hash_at(r, key, len, &idx, &h)) < 0) return rc;
    if ((size_t)idx != len) return SW_PHASH2_ETRAILING;
    *hash = h;
    return 0;
}

int sw_ring_owner_of_hash(const sw_ring_t *r, uint32_t hash, const char **node) {
    if (!r || !node) return SW_RING_EINVAL;
    if (r->npoints == 0) return SW_RING_EEMPTY;
    size_t at = lower_bound(r, hash);
    if (at == r->npoints) at = 0; /* past the last point: wrap around */
    *node = r->nodes[r->points[at].node].name;
    return 0;
}

int sw_ring_owner_of(const sw_ring_t *r, const char *key, size_t len, const char **node) {
    uint32_t h;
    int rc;
    if (!r || !node) return SW_RING_EINVAL;
    if (r->npoints == 0) return SW_RING_EEMPTY;
    if ((rc = sw_ring_key_hash(r, key, len, &h)) < 0) return rc;
    return sw_ring_owner_of_hash(r, h, node);
}

int sw_ring_owner_of_at(const sw_ring_t *r, const char *buf, size_t len, int *index,
                        const char **node) {
    uint32_t h;
    int rc, idx;
    if (!r || !node || !index) return SW_RING_EINVAL;
    if (r->npoints == 0) return SW_RING_EEMPTY;
    idx = *index;
    if ((rc = sw_ring_key_hash_at(r, buf, len, &idx, &h)) < 0) return rc;
    if ((rc = sw_ring_owner_of_hash(r, h, node)) < 0) return rc;
    *index = idx;
    return 0;
}

const char *sw_ring_err_name(int err) {
    switch (err) {
#define SW_RING_ERR_NAME(name, val, str) \
    case (val): return "SW_RING_" #name;
        SW_RING_ERRNO_MAP(SW_RING_ERR_NAME)
#undef SW_RING_ERR_NAME
    default: return sw_phash2_err_name(err);
    }
}

const char *sw_ring_strerror(int err) {
    switch (err) {
#define SW_RING_ERR_STR(name, val, str) \
    case (val): return str;
        SW_RING_ERRNO_MAP(SW_RING_ERR_STR)
#undef SW_RING_ERR_STR
    default: return sw_phash2_strerror(err);
    }
}
