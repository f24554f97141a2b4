/* sim_codec.c - the terms of the cluster simulation; see sim_codec.h. */
#include "sim_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm_proto.h"

/* ---- names and pids ------------------------------------------------------ */

static struct {
    char *b;
    size_t len;
} name_bin[SC_NAMES], group_bin[SC_GROUPS], mfa_bin[SC_NAMES];

static const char *cached(char **b, size_t *len, const char *tag, int i) {
    if (!*b) *b = tagged_bin(tag, i, len);
    return *b;
}

const char *sc_name_bytes(int i, size_t *len) {
    const char *b = cached(&name_bin[i].b, &name_bin[i].len, "worker", i);
    *len = name_bin[i].len;
    return b;
}

const char *sc_group_bytes(int i, size_t *len) {
    const char *b = cached(&group_bin[i].b, &group_bin[i].len, "group", i);
    *len = group_bin[i].len;
    return b;
}

const char *sc_mfa_bytes(int i, size_t *len) {
    const char *b = cached(&mfa_bin[i].b, &mfa_bin[i].len, "mfa", i);
    *len = mfa_bin[i].len;
    return b;
}

void sc_names_free(void) {
    for (int i = 0; i < SC_NAMES; i++) {
        free(name_bin[i].b);
        free(mfa_bin[i].b);
        name_bin[i].b = mfa_bin[i].b = NULL;
    }
    for (int i = 0; i < SC_GROUPS; i++) {
        free(group_bin[i].b);
        group_bin[i].b = NULL;
    }
}

/* The i of a binary that is term_to_binary({worker | group, i}); -1. */
static int bin_index(const char *b, long len, int groups) {
    int n = groups ? SC_GROUPS : SC_NAMES;
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *x = groups ? sc_group_bytes(i, &l) : sc_name_bytes(i, &l);
        if ((size_t)len == l && memcmp(x, b, l) == 0) return i;
    }
    return -1;
}

erlang_pid sc_epid(sc_pid_t p) { return mkpid(p / SC_PIDS, (unsigned)(p % SC_PIDS)); }

sc_pid_t sc_pid_of(const erlang_pid *p) {
    int n = pid_node(p);
    if (n < 0 || n >= SC_MAXN || p->num >= SC_PIDS) return -1;
    return n * SC_PIDS + (int)p->num;
}

int sc_proc_dead(const sc_t *sc, sc_pid_t p) {
    int n = p / SC_PIDS;
    if (p < 0 || n >= sc->n || !sc->nd[n].beam_up) return 1;
    return sc->nd[n].dead[p % SC_PIDS];
}

/* Result term at buf[*index] into result/rpid. */
int sc_dec_result(const char *buf, int *index, char *result, size_t rsize, sc_pid_t *rpid) {
    int type, size, arity;
    char a[MAXATOMLEN_UTF8], b[MAXATOMLEN_UTF8];
    erlang_pid p;
    *rpid = -1;
    if (ei_get_type(buf, index, &type, &size)) return -1;
    if (type != ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_atom(buf, index, a)) return -1;
        snprintf(result, rsize, "%.23s", a);
        return 0;
    }
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 2 || ei_decode_atom(buf, index, a)) return -1;
    if (ei_get_type(buf, index, &type, &size)) return -1;
    if (strcmp(a, "ok") == 0) {
        if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_UTF8_EXT || type == ERL_ATOM_UTF8_EXT) {
            if (ei_decode_atom(buf, index, b)) return -1; /* {ok, undefined} */
        } else if (ei_decode_pid(buf, index, &p)) {
            return -1;
        } else {
            *rpid = sc_pid_of(&p);
        }
        snprintf(result, rsize, "ok_pid");
        return 0;
    }
    if (type == ERL_SMALL_TUPLE_EXT) { /* {error, {already_registered, Pid}} */
        if (ei_decode_tuple_header(buf, index, &arity) || arity != 2 || ei_decode_atom(buf, index, b))
            return -1;
        if (ei_get_type(buf, index, &type, &size)) return -1;
        if (type == ERL_NEW_PID_EXT || type == ERL_PID_EXT) {
            if (ei_decode_pid(buf, index, &p)) return -1;
            *rpid = sc_pid_of(&p);
        } else if (ei_skip_term(buf, index)) {
            return -1;
        }
        snprintf(result, rsize, "already");
        return 0;
    }
    if (ei_decode_atom(buf, index, b)) return -1;
    snprintf(result, rsize, "error:%.17s", b);
    return 0;
}

int sc_dec_worker(const char *buf, int *index) {
    int arity;
    long i;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 2 || ei_decode_atom(buf, index, atom) ||
        strcmp(atom, "worker") != 0 || ei_decode_long(buf, index, &i) || i < 0 || i >= SC_NAMES)
        return -1;
    return (int)i;
}

int sc_dec_namebin(const char *buf, int *index, int groups) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) || type != ERL_BINARY_EXT || size > 64) return -1;
    char b[64];
    long len;
    if (ei_decode_binary(buf, index, b, &len)) return -1;
    return bin_index(b, len, groups);
}

/* ---- hello messages ------------------------------------------------------ */

int sc_enc_hello(const sc_t *sc, const sc_node_t *nd, ei_x_buff *x) {
    int i = nd->id;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    ei_x_encode_atom(x, "hello");
    erlang_pid agent = mkpid(i, SC_AGENT_NUM);
    ei_x_encode_pid(x, &agent);
    int names_at = x->index, cnt = 0;
    for (int k = 0; k < SC_NAMES; k++)
        cnt += nd->rep[k] >= 0 && nd->rep[k] / SC_PIDS == i && !sc_proc_dead(sc, nd->rep[k]);
    if (cnt) ei_x_encode_list_header(x, cnt);
    for (int k = 0; k < SC_NAMES; k++) {
        sc_pid_t p = nd->rep[k];
        if (p < 0 || p / SC_PIDS != i || sc_proc_dead(sc, p)) continue;
        size_t nl, ml;
        const char *nb = sc_name_bytes(k, &nl), *mb = sc_mfa_bytes(k, &ml);
        erlang_pid ep = sc_epid(p);
        ei_x_encode_tuple_header(x, nd->rep_mfa[k] ? 3 : 2);
        ei_x_encode_binary(x, nb, (int)nl);
        ei_x_encode_pid(x, &ep);
        if (nd->rep_mfa[k]) ei_x_encode_binary(x, mb, (int)ml);
    }
    ei_x_encode_empty_list(x);
    cnt = 0;
    for (int k = 0; k < sc->n; k++) cnt += nd->known[k] && k != i;
    if (cnt) ei_x_encode_list_header(x, cnt);
    for (int k = 0; k < sc->n; k++) {
        if (!nd->known[k] || k == i) continue;
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, beam_name(k));
        ei_x_encode_atom(x, cnode_name(k));
    }
    ei_x_encode_empty_list(x);
    return names_at;
}

void sc_enc_ghello(const sc_t *sc, const sc_node_t *nd, ei_x_buff *x) {
    int i = nd->id;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    ei_x_encode_atom(x, "ghello");
    erlang_pid proc = mkpid(i, SC_GPROC_NUM), holder = mkpid(i, SC_HOLDER_NUM);
    ei_x_encode_pid(x, &proc);
    int live[SC_GROUPS] = {0}, items = 0;
    for (int g = 0; g < SC_GROUPS; g++) {
        for (int k = 0; k < SC_CHUNKS; k++)
            for (int m = 0; m < nd->chunk_len[g][k]; m++) {
                sc_pid_t p = nd->chunk[g][k][m];
                live[g] += p / SC_PIDS == i && !sc_proc_dead(sc, p);
            }
        items += live[g] > 0;
    }
    if (items) ei_x_encode_list_header(x, items);
    for (int g = 0; g < SC_GROUPS; g++) {
        if (!live[g]) continue;
        size_t gl;
        const char *gb = sc_group_bytes(g, &gl);
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_binary(x, gb, (int)gl);
        ei_x_encode_list_header(x, live[g]);
        for (int k = 0; k < SC_CHUNKS; k++)
            for (int m = 0; m < nd->chunk_len[g][k]; m++) {
                sc_pid_t p = nd->chunk[g][k][m];
                if (p / SC_PIDS != i || sc_proc_dead(sc, p)) continue;
                erlang_pid ep = sc_epid(p);
                ei_x_encode_pid(x, &ep);
            }
        ei_x_encode_empty_list(x);
    }
    ei_x_encode_empty_list(x);
    ei_x_encode_pid(x, &holder);
}
