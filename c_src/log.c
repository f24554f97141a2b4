/* log.c - see log.h. Lines are assembled in a stack buffer and written with
 * one write(2) so lines from concurrent processes sharing stderr do not
 * interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char log_node[300] = "-";
static sw_log_level_t log_level = SW_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warning", "error"};

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

int sw_log_enabled(sw_log_level_t lvl) { return lvl >= log_level; }

void sw_log(sw_log_level_t lvl, const char *event, const char *fmt, ...) {
    if (lvl < log_level) return;
    char line[1024];
    int n = snprintf(line, sizeof line, "swarm_node level=%s node=%s event=%s ",
                     level_names[lvl], log_node, event);
    if (n < 0) return;
    if ((size_t)n < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}
