/* test_epmd.c - CUnit suite of epmd.c's codecs: exact request bytes, answers
 * of both generations, every prefix of an answer (incomplete until the
 * last byte), malformed answers, inputs ending at a guard page. The client
 * (sockets) is exercised by test_conn.c against a fake epmd. */
#include <CUnit/Basic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "epmd.h"

static uint8_t *g_base;
static size_t g_len;

/* Copies src so that its last byte sits right before an unmapped page. */
static const uint8_t *guarded(const void *src, size_t len) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = (len + pg - 1) / pg + 1;
    g_len = (data_pages + 1) * pg;
    g_base = mmap(NULL, g_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(g_base != MAP_FAILED);
    CU_ASSERT_FATAL(mprotect(g_base + data_pages * pg, pg, PROT_NONE) == 0);
    uint8_t *p = g_base + data_pages * pg - len;
    if (len) memcpy(p, src, len);
    return p;
}
static void unguard(void) { munmap(g_base, g_len); }

static void test_alive2_request(void) {
    uint8_t out[SW_EPMD_REQ_MAX];
    int n = sw__epmd_enc_alive2(out, 0x1234, SW_EPMD_NODE_HIDDEN, "swarm_a");
    static const uint8_t want[] = {0, 20, 120, 0x12, 0x34, 72, 0, 0, 6, 0, 5, 0, 7,
                                   's', 'w', 'a', 'r', 'm', '_', 'a', 0, 0};
    CU_ASSERT_EQUAL_FATAL(n, (int)sizeof want);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    CU_ASSERT_EQUAL(sw__epmd_enc_alive2(out, 1, 72, ""), -1);
    CU_ASSERT_EQUAL(sw__epmd_enc_alive2(out, 1, 72, "a@b"), -1);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_EQUAL(sw__epmd_enc_alive2(out, 1, 72, big), -1);
    big[255] = '\0';
    CU_ASSERT_EQUAL(sw__epmd_enc_alive2(out, 1, 72, big), 2 + 13 + 255);
}

static void test_alive2_answers(void) {
    static const uint8_t x[] = {118, 0, 0xDE, 0xAD, 0xBE, 0xEF};
    for (size_t cut = 0; cut <= sizeof x; cut++) {
        int res = -1;
        uint32_t cr = 0;
        int k = sw__epmd_dec_alive2(guarded(x, cut), cut, &res, &cr);
        CU_ASSERT_EQUAL(k, cut == sizeof x ? 6 : 0);
        if (k > 0) {
            CU_ASSERT_EQUAL(res, 0);
            CU_ASSERT_EQUAL(cr, 0xDEADBEEFu);
        }
        unguard();
    }
    static const uint8_t old[] = {121, 0, 0x00, 0x03};
    int res = -1;
    uint32_t cr = 0;
    CU_ASSERT_EQUAL(sw__epmd_dec_alive2(old, sizeof old, &res, &cr), 4);
    CU_ASSERT_EQUAL(res, 0);
    CU_ASSERT_EQUAL(cr, 3u);
    CU_ASSERT_EQUAL(sw__epmd_dec_alive2(old, 3, &res, &cr), 0);
    static const uint8_t taken[] = {118, 1, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(sw__epmd_dec_alive2(taken, sizeof taken, &res, &cr), 6);
    CU_ASSERT_EQUAL(res, 1);
    static const uint8_t junk[] = {'H', 'T', 'T', 'P'};
    CU_ASSERT_EQUAL(sw__epmd_dec_alive2(junk, sizeof junk, &res, &cr), -1);
}

static void test_port2_request(void) {
    uint8_t out[SW_EPMD_REQ_MAX];
    int n = sw__epmd_enc_port2(out, "b");
    static const uint8_t want[] = {0, 2, 122, 'b'};
    CU_ASSERT_EQUAL_FATAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(out, want, 4), 0);
    CU_ASSERT_EQUAL(sw__epmd_enc_port2(out, ""), -1);
}

static void test_port2_answers(void) {
    static const uint8_t ok[] = {119, 0,   0x9C, 0x40, 77, 0, 0, 6, 0, 5, 0, 3,
                                 'a', 'b', 'c',  0,    2,  'x', 'y'};
    for (size_t cut = 0; cut <= sizeof ok; cut++) {
        sw__epmd_port_t p;
        int k = sw__epmd_dec_port2(guarded(ok, cut), cut, &p);
        CU_ASSERT_EQUAL(k, cut == sizeof ok ? (int)sizeof ok : 0);
        if (k > 0) {
            CU_ASSERT_EQUAL(p.result, 0);
            CU_ASSERT_EQUAL(p.port, 40000);
            CU_ASSERT_EQUAL(p.node_type, 77);
            CU_ASSERT_EQUAL(p.high, 6);
            CU_ASSERT_EQUAL(p.low, 5);
            CU_ASSERT_STRING_EQUAL(p.name, "abc");
        }
        unguard();
    }
    static const uint8_t none[] = {119, 1};
    sw__epmd_port_t p;
    CU_ASSERT_EQUAL(sw__epmd_dec_port2(none, 2, &p), 2);
    CU_ASSERT_EQUAL(p.result, 1);
    CU_ASSERT_EQUAL(sw__epmd_dec_port2(none, 1, &p), 0);
    static const uint8_t bad_tag[] = {120, 0};
    CU_ASSERT_EQUAL(sw__epmd_dec_port2(bad_tag, 2, &p), -1);
    static const uint8_t long_name[] = {119, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0x01, 0x00};
    CU_ASSERT_EQUAL(sw__epmd_dec_port2(long_name, sizeof long_name, &p), -1);
}

int test_epmd_suite(void) {
    CU_pSuite s = CU_add_suite("epmd", NULL, NULL);
    if (!s) return -1;
    if (!CU_add_test(s, "ALIVE2_REQ bytes", test_alive2_request) ||
        !CU_add_test(s, "ALIVE2_X_RESP / ALIVE2_RESP", test_alive2_answers) ||
        !CU_add_test(s, "PORT_PLEASE2_REQ bytes", test_port2_request) ||
        !CU_add_test(s, "PORT2_RESP prefixes and errors", test_port2_answers))
        return -1;
    return 0;
}
