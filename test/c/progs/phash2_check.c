/* phash2_check - compares sw_phash2 with hashes computed by the BEAM.
 *
 * Usage: phash2_check [FILE]      (standard input without FILE)
 *
 * FILE is a sequence of records <<Len:32, Term:Len/binary, H27:32, H32:32>>
 * (big-endian), where Term is an external-format term starting with 131,
 * H27 = erlang:phash2(T) and H32 = erlang:phash2(T, 4294967295), written by
 * test/phash2_SUITE.erl. Every term is hashed three ways (sw_phash2 with
 * range 0 and 4294967295, and sw_phash2_at on the term after its version
 * byte); each disagreement is reported with the term printed by
 * ei_print_term (the first 20 in full, the rest counted).
 *
 * Prints "checked N terms, M mismatches" last. Exit status: 0 when every
 * hash matched, 1 on mismatches, 2 on a malformed file or I/O error.
 */
#include <ei.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phash2.h"

#define MAX_REPORTED 20

static uint32_t rd32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static unsigned char *slurp(FILE *f, size_t *len) {
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void report(unsigned long recno, const unsigned char *term, size_t len, const char *what,
                   int rc, uint32_t got, uint32_t want) {
    printf("MISMATCH record %lu (%s): ", recno, what);
    if (rc < 0)
        printf("error %s", sw_phash2_err_name(rc));
    else
        printf("got %u", got);
    printf(", BEAM says %u\n  term: ", want);
    int idx = 1; /* past the version byte */
    if (ei_print_term(stdout, (const char *)term, &idx) < 0) printf("(ei_print_term failed)");
    printf("\n  hex:");
    for (size_t i = 0; i < len && i < 512; i++) printf(" %02x", term[i]);
    if (len > 512) printf(" ... (%zu bytes)", len);
    printf("\n");
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
        fprintf(stderr, "phash2_check: cannot read input\n");
        return 2;
    }
    ei_init();

    unsigned long n = 0, bad = 0;
    size_t pos = 0;
    int status = 0;
    while (pos < len) {
        if (len - pos < 4) {
            fprintf(stderr, "phash2_check: truncated record header at byte %zu\n", pos);
            status = 2;
            break;
        }
        size_t tlen = rd32(data + pos);
        if (len - pos - 4 < tlen || len - pos - 4 - tlen < 8) {
            fprintf(stderr, "phash2_check: truncated record %lu at byte %zu\n", n, pos);
            status = 2;
            break;
        }
        const unsigned char *term = data + pos + 4;
        uint32_t want27 = rd32(term + tlen), want32 = rd32(term + tlen + 4);
        pos += 4 + tlen + 8;

        /* Copy each term into its own allocation so that ASan and valgrind
         * catch a read past its end. */
        char *t = malloc(tlen ? tlen : 1);
        if (!t) {
            fprintf(stderr, "phash2_check: out of memory\n");
            status = 2;
            break;
        }
        memcpy(t, term, tlen);

        uint32_t got27 = 0, got32 = 0, got_at = 0;
        int rc27 = sw_phash2(t, tlen, 0, &got27);
        int rc32 = sw_phash2(t, tlen, SW_PHASH2_RANGE_RING, &got32);
        int idx = 1;
        int rc_at = sw_phash2_at(t, tlen, &idx, SW_PHASH2_RANGE_RING, &got_at);
        if (rc_at == 0 && (size_t)idx != tlen) rc_at = SW_PHASH2_ETRAILING;

        int mism = 0;
        if (rc27 < 0 || got27 != want27) {
            if (bad + mism < MAX_REPORTED)
                report(n, term, tlen, "phash2/1", rc27, got27, want27);
            mism = 1;
        }
        if (rc32 < 0 || got32 != want32) {
            if (bad + mism < MAX_REPORTED)
                report(n, term, tlen, "phash2/2", rc32, got32, want32);
            mism = 1;
        }
        if (rc_at < 0 || got_at != want32) {
            if (bad + mism < MAX_REPORTED)
                report(n, term, tlen, "phash2_at", rc_at, got_at, want32);
            mism = 1;
        }
        free(t);
        bad += mism;
        n++;
    }
    free(data);
    printf("checked %lu terms, %lu mismatches\n", n, bad);
    if (status) return status;
    return bad ? 1 : 0;
}
