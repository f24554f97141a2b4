/* proto.c - see proto.h.
 *
 * The index is an open-addressing table of PROTO_SLOTS slots (more than
 * three times the entries, so probes are short) keyed by FNV-1a of the
 * atom's bytes; a slot holds entry + 1, 0 when free. It and the encoded
 * atoms are built by a constructor, before main() and before any thread,
 * so lookups only read. */
#include "proto.h"

#include <stdint.h>
#include <string.h>

#define PROTO_SLOTS 512u
#define PROTO_ENC_MAX 32

const char *const sw_msg_name[SW_MSG_COUNT] = {
#define NAME_(id, atom) atom,
    SW_MSGS(NAME_)
#undef NAME_
};

static const uint8_t name_len[SW_MSG_COUNT] = {
#define LEN_(id, atom) sizeof(atom) - 1,
    SW_MSGS(LEN_)
#undef LEN_
};

/* Every atom is shorter than PROTO_ENC_MAX - 3 (the encoding's header): a
 * longer one would not compile. */
#define CHECK_LEN_(id, atom) _Static_assert(sizeof(atom) - 1 <= PROTO_ENC_MAX - 3, "atom too long");
SW_MSGS(CHECK_LEN_)
#undef CHECK_LEN_
_Static_assert(SW_MSG_COUNT < 255 && SW_MSG_COUNT * 3 < PROTO_SLOTS, "index too small");

static uint8_t slots[PROTO_SLOTS];
static size_t max_len;
static struct {
    uint8_t len;
    char ext[PROTO_ENC_MAX];
} enc[SW_MSG_COUNT], enc_tag;

static uint32_t hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

__attribute__((constructor)) static void proto_build(void) {
    for (int m = 0; m < SW_MSG_COUNT; m++) {
        size_t len = name_len[m];
        if (len > max_len) max_len = len;
        uint32_t i = hash(sw_msg_name[m], len) & (PROTO_SLOTS - 1);
        while (slots[i]) i = (i + 1) & (PROTO_SLOTS - 1);
        slots[i] = (uint8_t)(m + 1);
        int n = 0;
        if (ei_encode_atom(enc[m].ext, &n, sw_msg_name[m]) == 0 && n <= PROTO_ENC_MAX)
            enc[m].len = (uint8_t)n;
    }
    int n = 0;
    if (ei_encode_atom(enc_tag.ext, &n, SW_PROTO_TAG) == 0 && n <= PROTO_ENC_MAX)
        enc_tag.len = (uint8_t)n;
}

/* The entry at the index of hash h whose atom is the len bytes at s, or -1.
 * The table is never full, so a probe ends at a free slot well before it
 * went round. */
static int find(uint32_t h, const char *s, size_t len) {
    uint32_t i = h & (PROTO_SLOTS - 1);
    for (unsigned k = 0; k < PROTO_SLOTS; k++) {
        unsigned e = slots[i];
        if (!e) return -1;
        e--;
        if (name_len[e] == len && memcmp(sw_msg_name[e], s, len) == 0) return (int)e;
        i = (i + 1) & (PROTO_SLOTS - 1);
    }
    return -1;
}

int sw_proto_lookup_n(const char *s, size_t len) {
    if (!s || len == 0 || len > max_len) return -1;
    return find(hash(s, len), s, len);
}

int sw_proto_lookup(const char *atom) {
    if (!atom) return -1;
    /* Bounded: a text longer than the longest atom is no atom of ours. */
    size_t len = 0;
    while (len <= max_len && atom[len]) len++;
    return sw_proto_lookup_n(atom, len);
}

int sw_proto_decode(const char *buf, int *index) {
    const unsigned char *p = (const unsigned char *)buf + *index;
    size_t len, hdr;
    switch (p[0]) {
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_EXT:
        len = p[1];
        hdr = 2;
        break;
    case ERL_ATOM_UTF8_EXT:
    case ERL_ATOM_EXT:
        len = (size_t)p[1] << 8 | p[2];
        hdr = 3;
        break;
    default:
        return -2;
    }
    *index += (int)(hdr + len);
    /* Every atom of the table is ASCII, the same bytes in all four
     * encodings; an atom of other bytes is none of ours. */
    return sw_proto_lookup_n((const char *)p + hdr, len);
}

int sw_proto_encode(ei_x_buff *x, int m) {
    if (m < 0 || m >= SW_MSG_COUNT) return -1;
    if (enc[m].len) return ei_x_append_buf(x, enc[m].ext, enc[m].len);
    return ei_x_encode_atom(x, sw_msg_name[m]);
}

const char *sw_proto_bytes(int m, size_t *len) {
    if (m < 0 || m >= SW_MSG_COUNT || !enc[m].len) {
        *len = 0;
        return NULL;
    }
    *len = enc[m].len;
    return enc[m].ext;
}

int sw_proto_encode_tag(ei_x_buff *x) {
    if (enc_tag.len) return ei_x_append_buf(x, enc_tag.ext, enc_tag.len);
    return ei_x_encode_atom(x, SW_PROTO_TAG);
}
