/* fuzz_frame.c - libFuzzer harness of the connection frame reader (frame.h).
 *
 * Input: 4 bytes of settings, then the byte stream a peer sends.
 *   [0] messages read with 2-byte headers (the handshake) before the switch
 *       to 4-byte headers (connected); 0: connected from the start
 *   [1] low nibble: max of the handshake phase, high nibble: max of the
 *       connected phase (indexes into the tables below)
 *   [2] how the stream is cut into reads (see chunk())
 *   [3] seed of the read sizes
 *
 * Properties: fed in reads of any sizes, the reader returns exactly the
 * messages (kind, bytes) of a reference parser that reads the whole stream
 * at once, stops at the same SW_FRAME_TOOBIG, and keeps the rest buffered;
 * the bodies returned since the last sw__reader_space() stay valid and
 * unchanged until it is called again; no read past a buffer (ASan), no
 * leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

static const size_t hs_max[] = {2048, 0, 1, 2, 5, 300, 65535, 2048};
static const size_t conn_max[] = {70000, 0, 1, 2, 16, 4096, 1u << 20, 8u << 20};

typedef struct {
    sw__frame_kind_t kind;
    size_t off, len; /* body in the stream (MSG, BAD); len also for TOOBIG */
} ref_t;

/* The reference: the whole stream parsed at once. Fills out (room for
 * n / 2 + 2 entries: every message takes at least 2 bytes) and returns the
 * number of messages; *end is the offset of the first byte not consumed;
 * the last entry may be SW_FRAME_TOOBIG. */
static size_t reference(const uint8_t *s, size_t n, unsigned switch_after, size_t hmax,
                        size_t cmax, ref_t *out, size_t *end) {
    unsigned hdr = switch_after ? 2 : 4;
    size_t max = switch_after ? hmax : cmax, pos = 0, k = 0;
    for (;;) {
        if (n - pos < hdr) break;
        const uint8_t *p = s + pos;
        size_t l = hdr == 2 ? ((size_t)p[0] << 8 | p[1])
                            : ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
        if (l > max) {
            out[k].kind = SW_FRAME_TOOBIG;
            out[k].off = 0;
            out[k++].len = l;
            break;
        }
        if (n - pos - hdr < l) break;
        ref_t *r = &out[k++];
        r->off = pos + hdr;
        r->len = l;
        pos += hdr + l;
        if (hdr == 2) {
            r->kind = l == 0 ? SW_FRAME_BAD : SW_FRAME_MSG;
            if (k == switch_after) {
                hdr = 4;
                max = cmax;
            }
        } else if (l == 0) {
            r->kind = SW_FRAME_TICK;
        } else if (s[r->off] != 112) {
            r->kind = SW_FRAME_BAD;
        } else {
            r->kind = SW_FRAME_MSG;
            r->off++;
            r->len--;
        }
    }
    *end = pos;
    return k;
}

/* Size of the next read: mode 0 everything offered, 1 byte by byte, 2 up
 * to 16 bytes, 3 up to 4096, 4 up to what is offered, 5 alternating 1 and
 * large. */
static size_t chunk(unsigned mode, uint64_t *rng, size_t avail) {
    uint64_t r = fuzz_rand(rng);
    switch (mode % 6) {
    case 0: return avail;
    case 1: return 1;
    case 2: return 1 + r % 16;
    case 3: return 1 + r % 4096;
    case 4: return 1 + r % avail;
    default: return (r & 1) ? 1 : 1 + r % 65536;
    }
}

typedef struct {
    const char *body;
    size_t len;
    size_t ref;
} seen_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    unsigned switch_after = data[0];
    size_t hmax = hs_max[data[1] & 7], cmax = conn_max[(data[1] >> 4) & 7];
    unsigned mode = data[2];
    uint64_t rng = data[3];
    const uint8_t *s = data + 4;
    size_t n = size - 4;

    ref_t *ref = malloc((n / 2 + 2) * sizeof *ref);
    seen_t *seen = malloc((n / 2 + 2) * sizeof *seen);
    FUZZ_CHECK(ref && seen);
    size_t end;
    size_t nref = reference(s, n, switch_after, hmax, cmax, ref, &end);

    sw__reader_t r;
    if (switch_after) sw__reader_init(&r, 2, hmax);
    else sw__reader_init(&r, 4, cmax);
    size_t fed = 0, got = 0;
    int toobig = 0;
    for (;;) {
        /* Every message the bytes so far complete. */
        size_t nseen = 0;
        for (;;) {
            const char *body = NULL;
            size_t len = 0;
            sw__frame_kind_t k = sw__reader_next(&r, &body, &len);
            if (k == SW_FRAME_NONE) break;
            FUZZ_CHECK(got < nref);
            FUZZ_CHECK(k == ref[got].kind);
            FUZZ_CHECK(len == ref[got].len);
            if (k == SW_FRAME_TOOBIG) {
                toobig = 1;
                break;
            }
            if (k != SW_FRAME_TICK) {
                FUZZ_CHECK(memcmp(body, s + ref[got].off, len) == 0);
                seen[nseen].body = body;
                seen[nseen].len = len;
                seen[nseen++].ref = got;
            }
            got++;
            if (r.hdr == 2 && got == switch_after) sw__reader_set_mode(&r, 4, cmax);
        }
        /* Returned bodies stay valid until the next sw__reader_space(). */
        for (size_t i = 0; i < nseen; i++)
            FUZZ_CHECK(memcmp(seen[i].body, s + ref[seen[i].ref].off, seen[i].len) == 0);
        if (toobig || fed == n) break;
        char *p;
        size_t avail;
        FUZZ_CHECK(sw__reader_space(&r, &p, &avail) == 0);
        FUZZ_CHECK(avail >= 1);
        size_t c = chunk(mode, &rng, avail);
        if (c > avail) c = avail;
        if (c > n - fed) c = n - fed;
        memcpy(p, s + fed, c);
        sw__reader_commit(&r, c);
        fed += c;
    }
    if (toobig) {
        FUZZ_CHECK(got == nref - 1);
    } else {
        FUZZ_CHECK(got == nref);
        FUZZ_CHECK(nref == 0 || ref[nref - 1].kind != SW_FRAME_TOOBIG);
        FUZZ_CHECK(sw__reader_buffered(&r) == n - end);
    }
    sw__reader_free(&r);
    free(ref);
    free(seen);
    return 0;
}
