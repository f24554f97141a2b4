/* fuzz_canon.c - libFuzzer harness of the canonical encoding of names
 * (canon.h).
 *
 * Input: [0] the utf8_atoms argument (low bit), then the bytes given to
 * sw_canon_term (an external term with 131, or anything).
 *
 * Properties: sw_canon_term reads only its input (ASan) and returns 0,
 * SW_CANON_EBAD or SW_CANON_EREFUSED; on failure it leaves out's index
 * where it was (after bytes already in out); what it accepts the
 * validator accepts too; its output is one valid external term that a
 * second pass returns byte for byte, in either atom mode's own form; the
 * other atom mode accepts the same input, and its output canonicalised in
 * the first mode gives the first output (the modes differ in atom tags
 * only). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "canon.h"
#include "fuzz.h"
#include "term.h"

static const char prefix[] = "pre";

/* Canonicalises in[0..n) after a prefix already in out; checks what a
 * failure must leave. */
static int run(const char *in, size_t n, int utf8, ei_x_buff *out) {
    FUZZ_CHECK(ei_x_new(out) == 0);
    FUZZ_CHECK(ei_x_append_buf(out, prefix, 3) == 0);
    int rc = sw_canon_term(in, n, utf8, out);
    FUZZ_CHECK(rc == 0 || rc == SW_CANON_EBAD || rc == SW_CANON_EREFUSED);
    FUZZ_CHECK(memcmp(out->buff, prefix, 3) == 0);
    if (rc != 0) FUZZ_CHECK(out->index == 3);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int utf8 = data[0] & 1;
    size_t n = size - 1;
    /* A copy of exactly n bytes, so that ASan sees any read past it. */
    char *in = malloc(n ? n : 1);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data + 1, n);

    ei_x_buff out;
    int rc = run(in, n, utf8, &out);
    if (rc == 0) {
        FUZZ_CHECK(sw_term_validate_ext(in, n) == 0);
        const char *c = out.buff + 3;
        size_t cn = (size_t)out.index - 3;
        FUZZ_CHECK(sw_term_validate_ext(c, cn) == 0);

        ei_x_buff again;
        FUZZ_CHECK(run(c, cn, utf8, &again) == 0);
        FUZZ_CHECK((size_t)again.index - 3 == cn && memcmp(again.buff + 3, c, cn) == 0);
        ei_x_free(&again);

        ei_x_buff other, back;
        FUZZ_CHECK(run(in, n, !utf8, &other) == 0);
        FUZZ_CHECK(run(other.buff + 3, (size_t)other.index - 3, utf8, &back) == 0);
        FUZZ_CHECK((size_t)back.index - 3 == cn && memcmp(back.buff + 3, c, cn) == 0);
        ei_x_free(&other);
        ei_x_free(&back);
    }
    ei_x_free(&out);
    free(in);
    return 0;
}
