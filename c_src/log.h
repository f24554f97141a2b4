/* log.h - structured logging of the C node: one line per event on stderr,
 * "swarm_node level=<lvl> node=<name> event=<event> key=value ...".
 * Not a general logger: no files, no rotation; the BEAM's stderr (or the
 * port owner) collects the lines. The level threshold comes from the
 * SWARM_LOG environment variable (debug|info|warning|error; default info). */
#ifndef SW_LOG_H
#define SW_LOG_H

typedef enum { SW_LOG_DEBUG = 0, SW_LOG_INFO, SW_LOG_WARNING, SW_LOG_ERROR } sw_log_level_t;

/* Sets the node name printed on every line (copied; NULL clears). */
void sw_log_set_node(const char *name);
/* Sets the threshold; lines below it are dropped. */
void sw_log_set_level(sw_log_level_t lvl);
/* Reads SWARM_LOG from the environment, if set. */
void sw_log_init_from_env(void);
/* 1 if a line at lvl would be printed (to skip costly formatting). */
int sw_log_enabled(sw_log_level_t lvl);
/* Prints one line: event is a short snake_case word, fmt formats the rest
 * (key=value pairs separated by spaces). Never prints cookies. */
void sw_log(sw_log_level_t lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SW_DEBUG(ev, ...) do { if (sw_log_enabled(SW_LOG_DEBUG)) sw_log(SW_LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define SW_INFO(ev, ...) sw_log(SW_LOG_INFO, ev, __VA_ARGS__)
#define SW_WARN(ev, ...) sw_log(SW_LOG_WARNING, ev, __VA_ARGS__)
#define SW_ERROR(ev, ...) sw_log(SW_LOG_ERROR, ev, __VA_ARGS__)

#endif
