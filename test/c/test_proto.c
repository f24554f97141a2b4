/* test_proto.c - CUnit suite of the protocol table: include/swarm_proto.h
 * (SW_MSGS) and include/swarm_proto.hrl (its -define(SW_MSG_<ID>, atom)
 * list) name the same atoms under the same names in the same order, and
 * proto.c's lookup finds every entry, and nothing else; its encodings are
 * ei's. The .hrl is read from the repository root (the directory the tests
 * run from) or a parent of the current directory. */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "swarm_proto.h"

#define HRL "include/swarm_proto.hrl"
#define MAX_DEFS 512

static const char *const c_ids[SW_MSG_COUNT] = {
#define ID_(id, atom) #id,
    SW_MSGS(ID_)
#undef ID_
};

typedef struct {
    char id[64];
    char atom[64];
} def_t;

static FILE *open_hrl(char *path, size_t cap) {
    static const char *const prefixes[] = {"", "../", "../../", "../../../"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        snprintf(path, cap, "%s%s", prefixes[i], HRL);
        FILE *f = fopen(path, "r");
        if (f) return f;
    }
    return NULL;
}

/* The -define(SW_MSG_<ID>, atom). lines of the .hrl, in order; -1 if the
 * file is missing or a SW_MSG_ line does not have that form. */
static int read_hrl(def_t *defs, int cap, char *why, size_t whycap) {
    char path[256], line[512];
    FILE *f = open_hrl(path, sizeof path);
    if (!f) {
        snprintf(why, whycap, "cannot open %s (run the tests from the repository root)", HRL);
        return -1;
    }
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '%' || strncmp(p, "-define(SW_MSG_", 15) != 0) continue;
        if (n == cap) {
            snprintf(why, whycap, "%.256s: more than %d SW_MSG_ defines", path, cap);
            n = -1;
            break;
        }
        char id[64], atom[64], tail[8];
        if (sscanf(p, "-define(SW_MSG_%63[A-Z0-9_], %63[a-z0-9_])%7s", id, atom, tail) != 3 ||
            strcmp(tail, ".") != 0) {
            snprintf(why, whycap, "%.256s:%d: not -define(SW_MSG_ID, atom).: %.200s", path, lineno, p);
            n = -1;
            break;
        }
        snprintf(defs[n].id, sizeof defs[n].id, "%s", id);
        snprintf(defs[n].atom, sizeof defs[n].atom, "%s", atom);
        n++;
    }
    fclose(f);
    return n;
}

static void test_hrl_agrees(void) {
    static def_t defs[MAX_DEFS];
    char why[1024];
    int n = read_hrl(defs, MAX_DEFS, why, sizeof why);
    if (n < 0) fprintf(stderr, "\n  test_proto: %s\n", why);
    CU_ASSERT_FATAL(n >= 0);
    if (n != SW_MSG_COUNT)
        fprintf(stderr, "\n  test_proto: %s has %d SW_MSG_ defines, swarm_proto.h %d entries\n", HRL,
                n, (int)SW_MSG_COUNT);
    CU_ASSERT(n == SW_MSG_COUNT);
    for (int i = 0; i < n && i < SW_MSG_COUNT; i++) {
        int same = strcmp(defs[i].id, c_ids[i]) == 0 && strcmp(defs[i].atom, sw_msg_name[i]) == 0;
        if (!same)
            fprintf(stderr, "\n  test_proto: entry %d: .hrl SW_MSG_%s = %s, .h SW_MSG_%s = %s\n", i,
                    defs[i].id, defs[i].atom, c_ids[i], sw_msg_name[i]);
        CU_ASSERT(same);
    }
}

/* Ids and atoms are unique, and each atom is the lower-case of its id (the
 * naming rule that keeps the two lists readable side by side). */
static void test_table_unique(void) {
    for (int i = 0; i < SW_MSG_COUNT; i++) {
        char lower[64];
        size_t k = 0;
        for (; c_ids[i][k] && k + 1 < sizeof lower; k++) lower[k] = (char)tolower((unsigned char)c_ids[i][k]);
        lower[k] = 0;
        CU_ASSERT_STRING_EQUAL(lower, sw_msg_name[i]);
        for (int j = i + 1; j < SW_MSG_COUNT; j++) {
            CU_ASSERT(strcmp(sw_msg_name[i], sw_msg_name[j]) != 0);
            CU_ASSERT(strcmp(c_ids[i], c_ids[j]) != 0);
        }
    }
}

static void test_lookup_round_trip(void) {
    for (int i = 0; i < SW_MSG_COUNT; i++) {
        CU_ASSERT(sw_proto_lookup(sw_msg_name[i]) == i);
        CU_ASSERT(sw_proto_lookup_n(sw_msg_name[i], strlen(sw_msg_name[i])) == i);
        /* Not NUL-terminated: the length alone bounds it. */
        char buf[80];
        size_t len = strlen(sw_msg_name[i]);
        memcpy(buf, sw_msg_name[i], len);
        memset(buf + len, 'x', sizeof buf - len);
        CU_ASSERT(sw_proto_lookup_n(buf, len) == i);
    }
}

static void test_lookup_rejects(void) {
    static const char *const bad[] = {"", "r", "re", "regx", "REG", "Reg", "reg ", " reg",
                                      "reg_mf", "reg_mfax", SW_PROTO_TAG, "net_kernel", "$gen_call",
                                      "is_auth", "swarm", "gunknown", "g", "whereis_or_registe",
                                      "whereis_or_registerr", "out_of_memory_"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sw_proto_lookup(bad[i]) != -1) fprintf(stderr, "\n  test_proto: '%s' found\n", bad[i]);
        CU_ASSERT(sw_proto_lookup(bad[i]) == -1);
    }
    CU_ASSERT(sw_proto_lookup(NULL) == -1);
    CU_ASSERT(sw_proto_lookup_n(NULL, 3) == -1);
    CU_ASSERT(sw_proto_lookup_n("reg", 0) == -1);
    CU_ASSERT(sw_proto_lookup_n("regreg", 3) == SW_MSG_REG);
    CU_ASSERT(sw_proto_lookup_n("reg\0x", 4) == -1);
    /* Long texts (an atom may have 255 characters) and every one-byte
     * change of every entry. */
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    CU_ASSERT(sw_proto_lookup(longer) == -1);
    CU_ASSERT(sw_proto_lookup_n(longer, sizeof longer - 1) == -1);
    for (int i = 0; i < SW_MSG_COUNT; i++) {
        char buf[64];
        size_t len = strlen(sw_msg_name[i]);
        for (size_t k = 0; k < len; k++) {
            memcpy(buf, sw_msg_name[i], len + 1);
            buf[k] = buf[k] == 'q' ? 'z' : 'q';
            int r = sw_proto_lookup(buf);
            CU_ASSERT(r == -1 || strcmp(sw_msg_name[r], buf) == 0);
        }
    }
}

static void test_encode_is_eis(void) {
    ei_x_buff a, b;
    ei_x_new(&a);
    ei_x_new(&b);
    for (int i = 0; i < SW_MSG_COUNT; i++) {
        a.index = b.index = 0;
        CU_ASSERT(sw_proto_encode(&a, i) == 0);
        ei_x_encode_atom(&b, sw_msg_name[i]);
        CU_ASSERT(a.index == b.index && memcmp(a.buff, b.buff, (size_t)a.index) == 0);
        /* And it decodes back to the entry. */
        char atom[MAXATOMLEN_UTF8];
        int idx = 0;
        CU_ASSERT(ei_decode_atom(a.buff, &idx, atom) == 0 && sw_proto_lookup(atom) == i);
    }
    CU_ASSERT(sw_proto_encode(&a, -1) == -1);
    CU_ASSERT(sw_proto_encode(&a, SW_MSG_COUNT) == -1);
    ei_x_free(&a);
    ei_x_free(&b);
}

/* An atom in each of the four external encodings, looked up in place. */
static void test_decode_in_place(void) {
    static const unsigned char kinds[] = {ERL_SMALL_ATOM_UTF8_EXT, ERL_SMALL_ATOM_EXT,
                                          ERL_ATOM_UTF8_EXT, ERL_ATOM_EXT};
    char buf[64];
    for (int i = 0; i < SW_MSG_COUNT; i++) {
        size_t len = strlen(sw_msg_name[i]);
        for (size_t k = 0; k < sizeof kinds; k++) {
            int small = k < 2, hdr = small ? 2 : 3, at = 3;
            memset(buf, 0, sizeof buf);
            buf[at] = (char)kinds[k];
            if (small) {
                buf[at + 1] = (char)len;
            } else {
                buf[at + 1] = 0;
                buf[at + 2] = (char)len;
            }
            memcpy(buf + at + hdr, sw_msg_name[i], len);
            int idx = at;
            CU_ASSERT(sw_proto_decode(buf, &idx) == i);
            CU_ASSERT(idx == at + hdr + (int)len);
            /* One byte less is another atom: none of ours, or the entry
             * of exactly those bytes. */
            if (small) buf[at + 1] = (char)(len - 1);
            else buf[at + 2] = (char)(len - 1);
            idx = at;
            int r = sw_proto_decode(buf, &idx);
            CU_ASSERT(idx == at + hdr + (int)len - 1);
            CU_ASSERT(r == -1 || (strlen(sw_msg_name[r]) == len - 1 &&
                                  memcmp(sw_msg_name[r], sw_msg_name[i], len - 1) == 0));
        }
    }
    /* Not an atom: -2, the index stays. */
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_long(&x, 7);
    ei_x_encode_binary(&x, "reg", 3);
    ei_x_encode_string(&x, "reg");
    int idx = 0;
    CU_ASSERT(sw_proto_decode(x.buff, &idx) == -2 && idx == 0);
    CU_ASSERT(ei_skip_term(x.buff, &idx) == 0);
    int at = idx;
    CU_ASSERT(sw_proto_decode(x.buff, &idx) == -2 && idx == at);
    CU_ASSERT(ei_skip_term(x.buff, &idx) == 0);
    at = idx;
    CU_ASSERT(sw_proto_decode(x.buff, &idx) == -2 && idx == at);
    /* An atom that is not ours: -1, the index moves past it. */
    x.index = 0;
    ei_x_encode_atom(&x, "net_kernel");
    idx = 0;
    CU_ASSERT(sw_proto_decode(x.buff, &idx) == -1 && idx == x.index);
    ei_x_free(&x);
}

int test_proto_suite(void) {
    CU_pSuite s = CU_add_suite("proto", NULL, NULL);
    if (!s) return 1;
    if (!CU_add_test(s, "swarm_proto.hrl lists SW_MSGS: names, atoms, order", test_hrl_agrees) ||
        !CU_add_test(s, "ids and atoms unique, atom = lower-case id", test_table_unique) ||
        !CU_add_test(s, "lookup finds every entry", test_lookup_round_trip) ||
        !CU_add_test(s, "lookup rejects what is not an entry", test_lookup_rejects) ||
        !CU_add_test(s, "encoding is ei's", test_encode_is_eis) ||
        !CU_add_test(s, "atoms looked up in place, all four encodings", test_decode_in_place))
        return 1;
    return 0;
}
