/* ring_check - drives c_src/ring.c from a script, for test/ring_SUITE.erl.
 *
 * Usage: ring_check [FILE]      (standard input without FILE)
 *
 * The input is a sequence of operations (integers big-endian); each prints
 * exactly one line on standard output:
 *   'I' Flags:8                  re-initialise the ring    -> "ok"
 *   'A' Len:16 Name              sw_ring_add_node           -> "ok" | "!ERR"
 *   'W' Weight:32 Len:16 Name    sw_ring_add_node_weight    -> "ok" | "!ERR"
 *   'R' Len:16 Name              sw_ring_remove_node        -> "ok" | "!ERR"
 *   'K' Len:32 Key               key_hash + owner_of of an external-format
 *                                key (with 131)             -> "Hash Owner" | "!ERR"
 *   'Q' Hash:32                  sw_ring_owner_of_hash      -> "Owner" | "!ERR"
 *   'P' Len:16 Name I:32         sw_ring_point_hash         -> "Hash" | "!ERR"
 *   'N'                          sw_ring_nodes              -> names, space separated
 * where ERR is the error's name (sw_ring_err_name). Exit status 0, or 2 on
 * a malformed script.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

static unsigned char *slurp(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, r;
    unsigned char *buf = malloc(cap);
    if (!buf) return NULL;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} rd_t;

static int take(rd_t *r, size_t n, const unsigned char **out) {
    if (r->len - r->pos < n) return -1;
    *out = r->p + r->pos;
    r->pos += n;
    return 0;
}

static int u(rd_t *r, int bytes, uint32_t *v) {
    const unsigned char *q;
    if (take(r, (size_t)bytes, &q) < 0) return -1;
    *v = 0;
    for (int i = 0; i < bytes; i++) *v = (*v << 8) | q[i];
    return 0;
}

/* A length-prefixed name, copied NUL-terminated into buf. */
static int name(rd_t *r, char *buf, size_t cap) {
    uint32_t n;
    const unsigned char *q;
    if (u(r, 2, &n) < 0 || n >= cap || take(r, n, &q) < 0) return -1;
    memcpy(buf, q, n);
    buf[n] = '\0';
    return 0;
}

static void result(int rc) {
    if (rc < 0)
        printf("!%s\n", sw_ring_err_name(rc));
    else
        printf("ok\n");
}

int main(int argc, char **argv) {
    FILE *f = stdin;
    if (argc > 1 && !(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 2;
    }
    size_t len;
    unsigned char *data = slurp(f, &len);
    if (f != stdin) fclose(f);
    if (!data) {
        fprintf(stderr, "ring_check: cannot read input\n");
        return 2;
    }

    sw_ring_t ring;
    rd_t r = {data, len, 0};
    char nm[2048];
    int status = 0;
    sw_ring_init(&ring, 0);
    while (r.pos < len && status == 0) {
        uint32_t v, w;
        const unsigned char *q;
        const char *owner;
        int rc;
        switch (data[r.pos++]) {
        case 'I':
            if (u(&r, 1, &v) < 0) {
                status = 2;
                break;
            }
            sw_ring_close(&ring);
            result(sw_ring_init(&ring, v));
            break;
        case 'A':
            if (name(&r, nm, sizeof nm) < 0) {
                status = 2;
                break;
            }
            result(sw_ring_add_node(&ring, nm));
            break;
        case 'W':
            if (u(&r, 4, &w) < 0 || name(&r, nm, sizeof nm) < 0) {
                status = 2;
                break;
            }
            result(sw_ring_add_node_weight(&ring, nm, w));
            break;
        case 'R':
            if (name(&r, nm, sizeof nm) < 0) {
                status = 2;
                break;
            }
            result(sw_ring_remove_node(&ring, nm));
            break;
        case 'K': {
            uint32_t h;
            if (u(&r, 4, &v) < 0 || take(&r, v, &q) < 0) {
                status = 2;
                break;
            }
            /* Its own allocation, so that sanitizers see reads past it. */
            char *key = malloc(v ? v : 1);
            if (!key) {
                status = 2;
                break;
            }
            memcpy(key, q, v);
            if ((rc = sw_ring_key_hash(&ring, key, v, &h)) < 0 ||
                (rc = sw_ring_owner_of(&ring, key, v, &owner)) < 0)
                printf("!%s\n", sw_ring_err_name(rc));
            else
                printf("%u %s\n", h, owner);
            free(key);
            break;
        }
        case 'Q':
            if (u(&r, 4, &v) < 0) {
                status = 2;
                break;
            }
            if ((rc = sw_ring_owner_of_hash(&ring, v, &owner)) < 0)
                printf("!%s\n", sw_ring_err_name(rc));
            else
                printf("%s\n", owner);
            break;
        case 'P': {
            uint32_t h;
            if (name(&r, nm, sizeof nm) < 0 || u(&r, 4, &v) < 0) {
                status = 2;
                break;
            }
            if ((rc = sw_ring_point_hash(nm, v, &h)) < 0)
                printf("!%s\n", sw_ring_err_name(rc));
            else
                printf("%u\n", h);
            break;
        }
        case 'N': {
            size_t n = sw_ring_nodes(&ring, NULL, 0);
            const char **names = malloc((n ? n : 1) * sizeof *names);
            if (!names) {
                status = 2;
                break;
            }
            sw_ring_nodes(&ring, names, n);
            for (size_t i = 0; i < n; i++) printf("%s%s", i ? " " : "", names[i]);
            printf("\n");
            free(names);
            break;
        }
        default:
            status = 2;
        }
    }
    if (status) fprintf(stderr, "ring_check: malformed script at byte %zu\n", r.pos);
    sw_ring_close(&ring);
    free(data);
    return status;
}
