/* log.h - structured logging of the C node: one record per event, a level,
 * an event name and key=value text. By default a record is one line on
 * stderr,
 *   "swarm_node level=<lvl> node=<name> event=<event> key=value ...";
 * a sink (sw_log_set_sink) may take the records instead: the sidecar hands
 * them to its BEAM node's logger over the control channel, and stderr stays
 * the fallback for the records the sink cannot take.
 * Not a general logger: no files, no rotation. The level threshold comes
 * from the SWARM_LOG environment variable (debug|info|warning|error;
 * default info).
 *
 * Rate limit: each event (the `event` argument) prints at most
 * SW_LOG_BURST lines per SW_LOG_INTERVAL_MS; further lines of that event
 * in the same interval are counted, not formatted nor written. Once the
 * interval is over (seen by the event's next line, or by sw_log_tick()),
 * one summary line reports them, at the highest level among them:
 *   ... event=log_suppressed of=<event> count=<n> interval_ms=<ms>
 * So a peer that provokes a warning per message costs at most
 * SW_LOG_BURST + 1 lines per event and interval, whatever its rate.
 * Events are tracked in a fixed table of SW_LOG_EVENTS slots (no
 * allocation); events beyond it share the last slot, named "other_events".
 *
 * Threads: not thread-safe; every line comes from the loop thread. */
#ifndef SW_LOG_H
#define SW_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SW_LOG_DEBUG = 0, SW_LOG_INFO, SW_LOG_WARNING, SW_LOG_ERROR } sw_log_level_t;

#define SW_LOG_BURST 10           /* lines per event and interval */
#define SW_LOG_INTERVAL_MS 10000u /* length of an interval */
#define SW_LOG_EVENTS 128         /* distinct events tracked */

/* Takes one record that passed the threshold and the rate limit: its
 * level, the node name (sw_log_set_node), the event and the formatted
 * key=value text (len bytes, NUL-terminated, no newline); every pointer is
 * borrowed for the call. Returns 0 if it took the record, non-zero to have
 * it written to stderr instead. Called on the thread that logs. */
typedef int (*sw_log_sink_fn)(void *ud, sw_log_level_t lvl, const char *node, const char *event,
                              const char *text, size_t len);

/* Sends every record to fn (with ud) from now on; NULL restores stderr. */
void sw_log_set_sink(sw_log_sink_fn fn, void *ud);
/* The level's name: "debug", "info", "warning" or "error". */
const char *sw_log_level_name(sw_log_level_t lvl);

/* Sets the node name printed on every line (copied; NULL clears). */
void sw_log_set_node(const char *name);
/* Sets the threshold; lines below it are dropped (not counted). */
void sw_log_set_level(sw_log_level_t lvl);
/* Reads SWARM_LOG from the environment, if set. */
void sw_log_init_from_env(void);
/* 1 if a line at lvl would be printed (to skip costly formatting). */
int sw_log_enabled(sw_log_level_t lvl);
/* Logs one record, subject to the rate limit: event is a short snake_case
 * word and must be a string literal (it is kept by address as the key of
 * its slot), fmt formats the rest (key=value pairs separated by spaces).
 * Never prints cookies. */
void sw_log(sw_log_level_t lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the summary line of every event whose interval is over and that
 * had lines suppressed in it. Call it periodically (the server does, every
 * 500 ms), so that a flood that stops is still reported. */
void sw_log_tick(void);

/* Changes the rate limit: burst lines per interval_ms per event (burst 0:
 * no limit). Resets every event's slot (pending counts are dropped, not
 * reported). For tests and tools; the node keeps the defaults. */
void sw_log_set_limit(unsigned burst, unsigned interval_ms);

/* Replaces the clock of the rate limit (milliseconds, monotonic); NULL
 * restores the default (CLOCK_MONOTONIC). For tests. */
void sw_log_set_clock(uint64_t (*now_ms)(void));

/* Totals since the start: records written to stderr or taken by the sink
 * (summaries included) and records suppressed by the rate limit. Either
 * pointer may be NULL. */
void sw_log_counts(uint64_t *written, uint64_t *suppressed);

#define SW_DEBUG(ev, ...) do { if (sw_log_enabled(SW_LOG_DEBUG)) sw_log(SW_LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define SW_INFO(ev, ...) sw_log(SW_LOG_INFO, ev, __VA_ARGS__)
#define SW_WARN(ev, ...) sw_log(SW_LOG_WARNING, ev, __VA_ARGS__)
#define SW_ERROR(ev, ...) sw_log(SW_LOG_ERROR, ev, __VA_ARGS__)

#endif
