/* log.c - see log.h. A record's text is formatted in a stack buffer and
 * handed to the sink; a stderr line is written with one write(2) so lines
 * from concurrent processes sharing stderr do not interleave mid-line.
 *
 * The rate limit keeps, per event, a fixed window: its start, the lines
 * printed in it and the lines suppressed in it. A line of an event whose
 * window is over first reports the old window's suppressed lines (if any),
 * then opens a new window. Suppressed lines are decided before any
 * formatting, so a flood costs a table lookup per line, not a write. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *key;       /* the event's address (NULL: free slot) */
    char name[48];         /* its text, for the strcmp fallback and summaries */
    uint64_t start;        /* window start, ms */
    unsigned printed;      /* lines printed in the window */
    uint64_t suppressed;   /* lines counted, not printed, in the window */
    sw_log_level_t level;  /* highest level among the suppressed */
} slot_t;

static char log_node[300] = "-";
static sw_log_level_t log_level = SW_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warning", "error"};
static sw_log_sink_fn sink_fn;
static void *sink_ud;

static slot_t slots[SW_LOG_EVENTS]; /* the last one: every event beyond */
static size_t nslots;               /* used slots, the last one excluded */
static unsigned burst = SW_LOG_BURST;
static unsigned interval_ms = SW_LOG_INTERVAL_MS;
static uint64_t (*clock_fn)(void);
static uint64_t lines_written, lines_suppressed;

static uint64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_ms(void) { return clock_fn ? clock_fn() : monotonic_ms(); }

void sw_log_set_node(const char *name) {
    snprintf(log_node, sizeof log_node, "%s", name ? name : "-");
}

void sw_log_set_level(sw_log_level_t lvl) { log_level = lvl; }

void sw_log_init_from_env(void) {
    const char *v = getenv("SWARM_LOG");
    if (!v) return;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, level_names[i]) == 0) log_level = (sw_log_level_t)i;
}

void sw_log_set_sink(sw_log_sink_fn fn, void *ud) {
    sink_fn = fn;
    sink_ud = fn ? ud : NULL;
}

const char *sw_log_level_name(sw_log_level_t lvl) {
    return (unsigned)lvl < 4 ? level_names[lvl] : "error";
}

int sw_log_enabled(sw_log_level_t lvl) { return lvl >= log_level; }

void sw_log_set_limit(unsigned b, unsigned ms) {
    burst = b;
    interval_ms = ms;
    memset(slots, 0, sizeof slots);
    nslots = 0;
}

void sw_log_set_clock(uint64_t (*fn)(void)) { clock_fn = fn; }

void sw_log_counts(uint64_t *written, uint64_t *suppressed) {
    if (written) *written = lines_written;
    if (suppressed) *suppressed = lines_suppressed;
}

/* Formats one record and gives it to the sink, or writes it as a line on
 * stderr (no sink, or the sink did not take it). The text is cut when it
 * does not fit the buffer. */
static void emit_line(sw_log_level_t lvl, const char *event, const char *fmt, va_list ap) {
    char line[1024];
    int n = snprintf(line, sizeof line, "swarm_node level=%s node=%s event=%s ",
                     level_names[lvl], log_node, event);
    if (n < 0) return;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    size_t head = (size_t)n;
    int m = vsnprintf(line + head, sizeof line - 1 - head, fmt, ap);
    if (m > 0) n += m;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    line[n] = 0;
    lines_written++;
    if (sink_fn && sink_fn(sink_ud, lvl, log_node, event, line + head, (size_t)n - head) == 0)
        return;
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

static void emit_fmt(sw_log_level_t lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit_fmt(sw_log_level_t lvl, const char *event, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit_line(lvl, event, fmt, ap);
    va_end(ap);
}

/* The slot of event: by address first (events are literals, so this is
 * the usual hit), then by text (one literal may exist at several
 * addresses), then a new slot, or the shared last one when the table is
 * full. */
static slot_t *find_slot(const char *event, uint64_t now) {
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].key == event) return &slots[i];
    for (size_t i = 0; i < nslots; i++)
        if (strncmp(slots[i].name, event, sizeof slots[i].name) == 0) return &slots[i];
    slot_t *s;
    if (nslots < SW_LOG_EVENTS - 1) {
        s = &slots[nslots++];
        snprintf(s->name, sizeof s->name, "%s", event);
    } else {
        s = &slots[SW_LOG_EVENTS - 1];
        if (s->key) return s;
        snprintf(s->name, sizeof s->name, "other_events");
    }
    s->key = event;
    s->start = now;
    return s;
}

/* Reports the suppressed lines of s's window, if any, and opens a new one
 * at now. */
static void next_window(slot_t *s, uint64_t now) {
    if (s->suppressed && s->level >= log_level) {
        emit_fmt(s->level, "log_suppressed", "of=%s count=%llu interval_ms=%u", s->name,
                 (unsigned long long)s->suppressed, interval_ms);
    }
    s->suppressed = 0;
    s->level = SW_LOG_DEBUG;
    s->start = now;
    s->printed = 0;
}

void sw_log(sw_log_level_t lvl, const char *event, const char *fmt, ...) {
    if (lvl < log_level) return;
    if (burst) {
        uint64_t now = now_ms();
        slot_t *s = find_slot(event, now);
        if (now - s->start >= interval_ms) next_window(s, now);
        if (s->printed >= burst) {
            s->suppressed++;
            if (lvl > s->level) s->level = lvl;
            lines_suppressed++;
            return;
        }
        s->printed++;
    }
    va_list ap;
    va_start(ap, fmt);
    emit_line(lvl, event, fmt, ap);
    va_end(ap);
}

void sw_log_tick(void) {
    if (!burst) return;
    uint64_t now = now_ms();
    for (size_t i = 0; i < SW_LOG_EVENTS; i++) {
        slot_t *s = &slots[i];
        if (s->key && s->suppressed && now - s->start >= interval_ms) next_window(s, now);
    }
}
