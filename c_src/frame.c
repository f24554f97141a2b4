/* frame.c - the message reader of a distribution connection; see frame.h.
 * Pure code: the buffer policy and the parser, no I/O. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

void sw__reader_init(sw__reader_t *r, unsigned hdr, size_t max) {
    memset(r, 0, sizeof *r);
    r->hdr = hdr;
    r->max = max;
}

void sw__reader_free(sw__reader_t *r) {
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->tail = 0;
}

void sw__reader_set_mode(sw__reader_t *r, unsigned hdr, size_t max) {
    r->hdr = hdr;
    r->max = max;
}

size_t sw__reader_buffered(const sw__reader_t *r) { return r->tail - r->head; }

/* Length announced by the header at head, or (size_t)-1 when the header is
 * not complete yet. */
static size_t header_len(const sw__reader_t *r) {
    if (r->tail - r->head < r->hdr) return (size_t)-1;
    const unsigned char *p = (const unsigned char *)r->buf + r->head;
    if (r->hdr == 2) return ((size_t)p[0] << 8) | p[1];
    return ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
}

int sw__reader_space(sw__reader_t *r, char **p, size_t *len) {
    size_t have = r->tail - r->head;
    if (have == 0) r->head = r->tail = 0;

    /* Room wanted from head: what is buffered and a decent read beyond. A
     * message's announced length is not trusted for memory: the buffer grows
     * with the bytes that actually arrive, by doubling, so a peer that
     * announces 256 MiB and sends 10 bytes costs one minimal buffer. need,
     * the current message's size with its header when the header is
     * buffered (and within max), only caps the growth: a large message gets
     * at most its own size, not twice it. */
    size_t want = have + SW_READER_MIN_READ;
    size_t l = header_len(r);
    size_t need = (l != (size_t)-1 && l <= r->max) ? r->hdr + l : 0;

    if (r->cap > SW_READER_SHRINK_AT && want <= SW_READER_SHRINK_AT &&
        need <= SW_READER_SHRINK_AT) {
        /* The buffer grew for a large message that is now consumed: give the
         * memory back, keeping the few bytes of the next message, so that an
         * idle connection holds little. A failed shrink changes nothing. */
        if (r->head > 0) {
            memmove(r->buf, r->buf + r->head, have);
            r->head = 0;
            r->tail = have;
        }
        size_t ncap = want > need ? want : need;
        char *nb = realloc(r->buf, ncap);
        if (nb) {
            r->buf = nb;
            r->cap = ncap;
        }
    }

    /* Room is made only when less than half a minimal read is left, and
     * then for a whole one (see frame.h). */
    size_t low = have + SW_READER_MIN_READ / 2;
    if (r->cap - r->head < low) {
        if (r->head > 0) {
            /* Compact: only the unparsed tail moves. For a small message that
             * is a few bytes; a large one is moved at most once, when its
             * first bytes arrived behind other messages. */
            memmove(r->buf, r->buf + r->head, have);
            r->head = 0;
            r->tail = have;
        }
        if (r->cap < low) {
            /* Doubling keeps the copies of realloc linear in the message
             * size; the cap keeps the buffer within the message (or the
             * minimal read, if more). */
            size_t ncap = r->cap ? r->cap * 2 : SW_READER_MIN_READ;
            size_t limit = need > want ? need : want;
            if (ncap > limit) ncap = limit;
            if (ncap < want) ncap = want;
            char *nb = realloc(r->buf, ncap);
            if (!nb) return -1;
            r->buf = nb;
            r->cap = ncap;
        }
    }
    *p = r->buf + r->tail;
    *len = r->cap - r->tail;
    return 0;
}

void sw__reader_commit(sw__reader_t *r, size_t n) { r->tail += n; }

sw__frame_kind_t sw__reader_next(sw__reader_t *r, const char **body, size_t *len) {
    size_t l = header_len(r);
    if (l == (size_t)-1) return SW_FRAME_NONE;
    if (l > r->max) {
        *len = l;
        return SW_FRAME_TOOBIG;
    }
    if (r->tail - r->head - r->hdr < l) return SW_FRAME_NONE;
    const char *b = r->buf + r->head + r->hdr;
    r->head += r->hdr + l;
    if (r->hdr == 2) {
        *body = b;
        *len = l;
        return l == 0 ? SW_FRAME_BAD : SW_FRAME_MSG;
    }
    if (l == 0) return SW_FRAME_TICK;
    if ((unsigned char)b[0] != 112) {
        *body = b;
        *len = l;
        return SW_FRAME_BAD;
    }
    *body = b + 1;
    *len = l - 1;
    return SW_FRAME_MSG;
}
