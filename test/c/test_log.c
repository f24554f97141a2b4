/* test_log.c - CUnit suite of log.c: the per-event rate limit and the sink.
 * stderr (fd 2) is redirected to a temporary file while a test logs, and
 * the lines are counted there; the limiter's clock is a variable the test
 * moves; a test sink keeps the records it takes in memory. */
#define _GNU_SOURCE /* memmem */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

typedef struct {
    FILE *tmp;
    int saved;
} capture_t;

static void capture_start(capture_t *c) {
    fflush(stderr);
    c->tmp = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->tmp);
    c->saved = dup(2);
    CU_ASSERT_FATAL(c->saved >= 0);
    CU_ASSERT_FATAL(dup2(fileno(c->tmp), 2) == 2);
}

/* Restores fd 2 and returns what was written, NUL-terminated (caller
 * frees). */
static char *capture_end(capture_t *c) {
    dup2(c->saved, 2);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long len = ftell(c->tmp);
    rewind(c->tmp);
    char *text = calloc(1, (size_t)len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    if (len > 0) CU_ASSERT_EQUAL(fread(text, 1, (size_t)len, c->tmp), (size_t)len);
    fclose(c->tmp);
    return text;
}

static size_t count_lines(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (!needle || memmem(p, l, needle, strlen(needle))) n++;
        p += l + (e ? 1 : 0);
    }
    return n;
}

static int setup(void) {
    sw_log_set_clock(fake_clock);
    sw_log_set_limit(SW_LOG_BURST, SW_LOG_INTERVAL_MS);
    sw_log_set_level(SW_LOG_INFO);
    fake_now = 1000;
    return 0;
}

static int teardown(void) {
    sw_log_set_sink(NULL, NULL);
    sw_log_set_clock(NULL);
    sw_log_set_limit(SW_LOG_BURST, SW_LOG_INTERVAL_MS);
    sw_log_set_level(SW_LOG_INFO);
    sw_log_init_from_env();
    return 0;
}

static void test_flood_one_event(void) {
    setup();
    uint64_t w0, s0, w1, s1;
    sw_log_counts(&w0, &s0);
    capture_t c;
    capture_start(&c);
    for (int i = 0; i < 100000; i++) SW_WARN("flood", "i=%d", i);
    fake_now += SW_LOG_INTERVAL_MS - 1;
    sw_log_tick(); /* interval not over: nothing yet */
    fake_now += 1;
    sw_log_tick();
    sw_log_tick(); /* reported once */
    char *text = capture_end(&c);
    CU_ASSERT_EQUAL(count_lines(text, NULL), SW_LOG_BURST + 1);
    CU_ASSERT_EQUAL(count_lines(text, "event=flood i="), SW_LOG_BURST);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "event=flood i=0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "event=flood i=9\n"));
    CU_ASSERT_PTR_NULL(strstr(text, "event=flood i=10\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "level=warning node=- event=log_suppressed of=flood "
                                        "count=99990 interval_ms=10000\n"));
    sw_log_counts(&w1, &s1);
    CU_ASSERT_EQUAL(w1 - w0, SW_LOG_BURST + 1);
    CU_ASSERT_EQUAL(s1 - s0, 100000 - SW_LOG_BURST);
    free(text);
}

static void test_windows_and_events(void) {
    setup();
    capture_t c;
    capture_start(&c);
    for (int i = 0; i < 50; i++) SW_WARN("alpha", "i=%d", i);
    /* Another event has its own budget. */
    for (int i = 0; i < 5; i++) SW_ERROR("beta", "i=%d", i);
    /* The same text at another address is the same event. */
    static char alpha_copy[] = "alpha";
    SW_WARN(alpha_copy, "i=%d", 50);
    /* Next interval: the event's next line reports the old window first,
     * then it prints again. */
    fake_now += SW_LOG_INTERVAL_MS;
    for (int i = 0; i < 30; i++) SW_INFO("alpha", "j=%d", i);
    /* Lines below the threshold are neither printed nor counted. */
    for (int i = 0; i < 30; i++) SW_DEBUG("gamma", "k=%d", i);
    fake_now += SW_LOG_INTERVAL_MS;
    sw_log_tick();
    char *text = capture_end(&c);
    CU_ASSERT_EQUAL(count_lines(text, "event=alpha i="), SW_LOG_BURST);
    CU_ASSERT_EQUAL(count_lines(text, "event=alpha j="), SW_LOG_BURST);
    CU_ASSERT_EQUAL(count_lines(text, "event=beta "), 5);
    CU_ASSERT_EQUAL(count_lines(text, "event=gamma"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "level=warning node=- event=log_suppressed of=alpha count=41 "));
    /* The second window held only info lines: the summary says info. */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "level=info node=- event=log_suppressed of=alpha count=20 "));
    CU_ASSERT_EQUAL(count_lines(text, "of=beta"), 0);
    CU_ASSERT_EQUAL(count_lines(text, NULL), 2 * SW_LOG_BURST + 5 + 2);
    /* The first summary comes before the second window's lines. */
    char *s1 = strstr(text, "count=41"), *j0 = strstr(text, "event=alpha j=0");
    CU_ASSERT(s1 && j0 && s1 < j0);
    free(text);
}

static void test_table_full(void) {
    setup();
    sw_log_set_limit(1, 1000);
    static char names[SW_LOG_EVENTS + 40][16];
    capture_t c;
    capture_start(&c);
    for (int i = 0; i < SW_LOG_EVENTS + 40; i++) {
        snprintf(names[i], sizeof names[i], "ev%d", i);
        SW_WARN(names[i], "x=1");
        SW_WARN(names[i], "x=2"); /* over the burst of 1 */
    }
    fake_now += 1000;
    sw_log_tick();
    char *text = capture_end(&c);
    /* SW_LOG_EVENTS - 1 events have their own slot; the 41 others share the
     * last one: one of their lines printed, the other 81 counted. */
    CU_ASSERT_EQUAL(count_lines(text, "x=1"), SW_LOG_EVENTS - 1 + 1);
    CU_ASSERT_EQUAL(count_lines(text, "x=2"), 0);
    CU_ASSERT_EQUAL(count_lines(text, "event=log_suppressed of=ev"), SW_LOG_EVENTS - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "of=other_events count=81 interval_ms=1000\n"));
    free(text);
}

/* A test sink: keeps the records' fields; refuses records of the event
 * "refused" (they must reach stderr). */
typedef struct {
    int n;
    sw_log_level_t lvl[64];
    char event[64][48];
    char node[64][48];
    char text[64][128];
    size_t len[64];
} sink_rec_t;

static int test_sink(void *ud, sw_log_level_t lvl, const char *node, const char *event,
                     const char *text, size_t len) {
    sink_rec_t *r = ud;
    if (strcmp(event, "refused") == 0) return -1;
    if (r->n < 64) {
        r->lvl[r->n] = lvl;
        snprintf(r->event[r->n], sizeof r->event[0], "%s", event);
        snprintf(r->node[r->n], sizeof r->node[0], "%s", node);
        snprintf(r->text[r->n], sizeof r->text[0], "%s", text);
        r->len[r->n] = len;
    }
    r->n++;
    return 0;
}

static void test_sink_takes_records(void) {
    setup();
    static sink_rec_t r;
    memset(&r, 0, sizeof r);
    sw_log_set_node("swarm_a@h");
    sw_log_set_sink(test_sink, &r);
    capture_t c;
    capture_start(&c);
    SW_INFO("node_up", "node=%s names=%d", "b@h", 3);
    SW_WARN("empty", "%s", "");
    SW_DEBUG("below", "x=1"); /* under the threshold: not taken */
    SW_ERROR("refused", "y=2"); /* refused by the sink: stderr */
    /* The rate limit applies before the sink. */
    for (int i = 0; i < 3 * SW_LOG_BURST; i++) SW_WARN("flood", "i=%d", i);
    fake_now += SW_LOG_INTERVAL_MS;
    sw_log_tick();
    sw_log_set_sink(NULL, NULL);
    SW_INFO("after", "z=3"); /* no sink: stderr again */
    sw_log_set_node(NULL);
    char *text = capture_end(&c);
    CU_ASSERT_EQUAL(r.n, 2 + SW_LOG_BURST + 1);
    CU_ASSERT_EQUAL(r.lvl[0], SW_LOG_INFO);
    CU_ASSERT_STRING_EQUAL(r.event[0], "node_up");
    CU_ASSERT_STRING_EQUAL(r.node[0], "swarm_a@h");
    CU_ASSERT_STRING_EQUAL(r.text[0], "node=b@h names=3");
    CU_ASSERT_EQUAL(r.len[0], strlen("node=b@h names=3"));
    CU_ASSERT_EQUAL(r.lvl[1], SW_LOG_WARNING);
    CU_ASSERT_STRING_EQUAL(r.event[1], "empty");
    CU_ASSERT_EQUAL(r.len[1], 0);
    CU_ASSERT_STRING_EQUAL(r.text[2], "i=0");
    CU_ASSERT_STRING_EQUAL(r.event[2 + SW_LOG_BURST], "log_suppressed");
    CU_ASSERT_STRING_EQUAL(r.text[2 + SW_LOG_BURST], "of=flood count=20 interval_ms=10000");
    CU_ASSERT_EQUAL(count_lines(text, NULL), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "swarm_node level=error node=swarm_a@h event=refused y=2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "swarm_node level=info node=swarm_a@h event=after z=3\n"));
    free(text);
}

/* A text longer than the buffer is cut, and still reaches the sink
 * NUL-terminated with its length. */
static int long_sink(void *ud, sw_log_level_t lvl, const char *node, const char *event,
                     const char *text, size_t len) {
    (void)lvl;
    (void)node;
    (void)event;
    *(size_t *)ud = len;
    CU_ASSERT_EQUAL(strlen(text), len);
    return 0;
}

static void test_sink_long_text(void) {
    setup();
    size_t len = 0;
    static char big[4000];
    memset(big, 'x', sizeof big - 1);
    sw_log_set_sink(long_sink, &len);
    SW_INFO("long", "v=%s", big);
    sw_log_set_sink(NULL, NULL);
    CU_ASSERT(len > 900 && len < 1024);
    CU_ASSERT_STRING_EQUAL(sw_log_level_name(SW_LOG_DEBUG), "debug");
    CU_ASSERT_STRING_EQUAL(sw_log_level_name(SW_LOG_ERROR), "error");
}

static void test_no_limit(void) {
    setup();
    sw_log_set_limit(0, 0);
    capture_t c;
    capture_start(&c);
    for (int i = 0; i < 1000; i++) SW_WARN("many", "i=%d", i);
    sw_log_tick();
    char *text = capture_end(&c);
    CU_ASSERT_EQUAL(count_lines(text, "event=many"), 1000);
    CU_ASSERT_EQUAL(count_lines(text, "log_suppressed"), 0);
    free(text);
}

int test_log_suite(void) {
    CU_pSuite s = CU_add_suite("log", NULL, teardown);
    if (!s) return -1;
    if (!CU_add_test(s, "100000 lines of one event: burst + one summary", test_flood_one_event) ||
        !CU_add_test(s, "windows, events apart, same text, level", test_windows_and_events) ||
        !CU_add_test(s, "more events than slots share the last", test_table_full) ||
        !CU_add_test(s, "burst 0 disables the limit", test_no_limit) ||
        !CU_add_test(s, "a sink takes the records, refused ones reach stderr",
                     test_sink_takes_records) ||
        !CU_add_test(s, "a long text is cut before the sink", test_sink_long_text))
        return -1;
    return 0;
}
