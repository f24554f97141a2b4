/* ring.h - the consistent hash ring of libring (HashRing), as Swarm uses it.
 *
 * What it is: the placement of names on nodes, bit for bit as libring >= 1.4
 * computes it in Swarm's Ring strategy, so that the C node agrees with a
 * BEAM running Swarm:
 *  - each node (a node-name atom) puts `weight` points (128 by default) on a
 *    ring of 2^32 - 1 values, point I at erlang:phash2({Node, I}, 4294967295)
 *    for I = 1..weight;
 *  - a point that is already taken keeps its first owner (libring catches
 *    gb_trees' key_exists and skips the point); removing a node removes the
 *    points it owns, so a point lost to a collision does not come back to
 *    the other node: the ring depends on the order of additions and
 *    removals, exactly as libring's does;
 *  - a key hashes to erlang:phash2(Key, 4294967295), except an atom key,
 *    which hashes to erlang:phash2(term_to_binary(Key), 4294967295);
 *  - the owner is the node of the first point >= the key's hash, wrapping
 *    around to the smallest point.
 *
 * term_to_binary writes atoms differently across OTP releases: up to OTP 25
 * latin1 atoms are ATOM_EXT (latin1 bytes), from OTP 26 every atom is UTF-8
 * (SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT). So libring places atom keys
 * differently on OTP <= 25 and OTP >= 26; pick the behaviour with
 * SW_RING_ATOMS_UTF8 to match the cluster's BEAMs. Other keys and the node
 * points do not depend on the release.
 *
 * SW_RING_CANONICAL is an opt-in departure from libring: a contested point
 * goes to the node with the smallest name and the ring is a function of its
 * member set only, so that nodes that saw joins in different orders still
 * agree. Without it (the default) the ring is libring's.
 *
 * What it is not: membership (who is up, whitelist/blacklist) nor
 * key_to_nodes/3 (replicas). Pure: no I/O, no globals; one thread at a time
 * per ring.
 */
#ifndef SW_RING_H
#define SW_RING_H

#include <stddef.h>
#include <stdint.h>

/* Error codes of this module. Functions that hash a key may also return the
 * negative SW_PHASH2_* codes of phash2.h for a malformed key;
 * sw_ring_strerror() and sw_ring_err_name() know both sets. */
#define SW_RING_ERRNO_MAP(XX)                                                   \
    XX(EINVAL, -101, "invalid argument")                                        \
    XX(ENOMEM, -102, "out of memory")                                           \
    XX(EEXIST, -103, "node already on the ring")                                \
    XX(ENOENT, -104, "node not on the ring")                                    \
    XX(EEMPTY, -105, "the ring has no nodes")

enum {
#define SW_RING_ERR_ENUM(name, val, str) SW_RING_##name = (val),
    SW_RING_ERRNO_MAP(SW_RING_ERR_ENUM)
#undef SW_RING_ERR_ENUM
};

/* Flags for sw_ring_init. */
enum {
    /* Hash atom keys as term_to_binary encodes them on OTP >= 26 (always
     * UTF-8). Without it, as on OTP <= 25 (latin1 atoms as ATOM_EXT). */
    SW_RING_ATOMS_UTF8 = 1u << 0,
    /* Contested points go to the smallest node name (not libring). */
    SW_RING_CANONICAL = 1u << 1,
};

#define SW_RING_WEIGHT_DEFAULT 128u
#define SW_RING_WEIGHT_MAX 65536u

typedef struct {
    uint32_t hash;
    uint32_t node; /* index into nodes */
} sw_ring_point_t;

typedef struct {
    char *name; /* UTF-8, NUL-terminated, owned by the ring */
    size_t len;
    uint32_t weight;
} sw_ring_node_t;

/* Caller-owned storage; fields are private (read them through the API). */
typedef struct sw_ring_s {
    unsigned flags;
    sw_ring_node_t *nodes; /* in order of addition */
    size_t nnodes, nodes_cap;
    sw_ring_point_t *points; /* sorted by hash, hashes unique */
    size_t npoints, points_cap;
} sw_ring_t;

/* Initialises an empty ring. flags: 0 or SW_RING_* flags.
 * Returns 0, or SW_RING_EINVAL (NULL ring, unknown flag). Allocates nothing;
 * pair with sw_ring_close. */
int sw_ring_init(sw_ring_t *r, unsigned flags);

/* Frees what the ring owns (node names handed out become invalid). The ring
 * may be initialised again. NULL is a no-op. */
void sw_ring_close(sw_ring_t *r);

/* Adds a node with the default weight (128 points), as
 * HashRing.add_node(ring, Node). name is the node name's text (UTF-8, at
 * most 255 characters, not empty), copied.
 * Returns 0; SW_RING_EEXIST if it is already a member (libring's no-op),
 * SW_RING_EINVAL for a bad name, SW_RING_ENOMEM. The ring is unchanged on
 * any error. */
int sw_ring_add_node(sw_ring_t *r, const char *name);

/* As sw_ring_add_node with `weight` points (1..SW_RING_WEIGHT_MAX), as
 * HashRing.add_node(ring, Node, Weight). */
int sw_ring_add_node_weight(sw_ring_t *r, const char *name, unsigned weight);

/* Removes a node and the points it owns, as HashRing.remove_node.
 * Returns 0, SW_RING_ENOENT if it is not a member (libring's no-op), or
 * SW_RING_EINVAL. Never allocates. Names previously returned for this node
 * become invalid. */
int sw_ring_remove_node(sw_ring_t *r, const char *name);

/* 1 if name is a member, else 0. */
int sw_ring_has_node(const sw_ring_t *r, const char *name);

/* Number of member nodes / of points on the ring. */
size_t sw_ring_node_count(const sw_ring_t *r);
size_t sw_ring_point_count(const sw_ring_t *r);

/* Writes up to max member names to out, most recently added first (the
 * order of HashRing.nodes/1) and returns the number of members. The names
 * are borrowed from the ring: valid until that node is removed or the ring
 * is closed. */
size_t sw_ring_nodes(const sw_ring_t *r, const char **out, size_t max);

/* erlang:phash2({Node, I}, 4294967295) for the node name's atom: where a
 * node's I-th point lies. Returns 0, or SW_RING_EINVAL for a bad name. */
int sw_ring_point_hash(const char *name, uint32_t i, uint32_t *hash);

/* The ring hash of a key given as an external-format term with its 131
 * byte (key[0..len), exactly one term): phash2(Key, 4294967295), or for an
 * atom phash2(term_to_binary(Key), 4294967295) per the ring's atom flag.
 * Returns 0, SW_RING_EINVAL, or a SW_PHASH2_* code for a malformed key. */
int sw_ring_key_hash(const sw_ring_t *r, const char *key, size_t len, uint32_t *hash);

/* As sw_ring_key_hash for the key at buf[*index] without version byte
 * (ei's convention); advances *index past the key on success only. */
int sw_ring_key_hash_at(const sw_ring_t *r, const char *buf, size_t len, int *index,
                        uint32_t *hash);

/* The owner of a ring hash: the node of the first point >= hash, else of
 * the smallest point. Sets *node to a name borrowed from the ring (valid
 * until that node is removed or the ring is closed).
 * Returns 0, SW_RING_EEMPTY without points, SW_RING_EINVAL. */
int sw_ring_owner_of_hash(const sw_ring_t *r, uint32_t hash, const char **node);

/* HashRing.key_to_node/2 for a key with its 131 byte. Returns 0 and sets
 * *node (borrowed, as above), SW_RING_EEMPTY, SW_RING_EINVAL, or a
 * SW_PHASH2_* code for a malformed key. */
int sw_ring_owner_of(const sw_ring_t *r, const char *key, size_t len, const char **node);

/* As sw_ring_owner_of for the key at buf[*index] (no version byte);
 * advances *index on success only. */
int sw_ring_owner_of_at(const sw_ring_t *r, const char *buf, size_t len, int *index,
                        const char **node);

/* Name and description of a SW_RING_* or SW_PHASH2_* code. Static strings. */
const char *sw_ring_err_name(int err);
const char *sw_ring_strerror(int err);

#endif
