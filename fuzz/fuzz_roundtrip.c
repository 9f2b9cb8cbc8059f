/*
 * Fuzz target: decode -> re-encode -> decode again, and compare.
 *
 * Input: raw MessagePack. When the first object parses, it is re-encoded
 * with the writer (through the public node accessors, fuzz_tree.h) into a
 * growable buffer, a sink in small chunks and a fixed buffer, and with
 * zpk_node_write(). Checks:
 * - zpk_node_write() and the accessor-based re-encoder give the same bytes;
 * - the re-encoding parses as exactly one object equal to the first tree;
 * - it is never longer than the input's object (shortest forms) and
 *   encoding again gives the very same bytes;
 * - sink chunks concatenate to the growable output; a fixed buffer one
 *   byte short fails with ZPK_EBUFFULL and the error sticks.
 */
#include "fuzz_tree.h"

typedef struct s_sink {
    uint8_t *buf;
    size_t len, cap;
    size_t max_chunk;
    size_t big;
} s_sink_t;

static int s_sink_fn(void *ud, const void *data, size_t n)
{
    s_sink_t *s = ud;
    /* Chunks are at most max_chunk bytes, except that writer.c hands a
     * payload at least a chunk long to the sink whole (no copy). */
    FUZZ_CHECK(n > 0);
    if (n > s->max_chunk)
        s->big++;
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        uint8_t *nb = realloc(s->buf, cap);
        FUZZ_CHECK(nb != NULL);
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, 256 * 1024);
    zpk_doc_t *d1 = NULL, *d2 = NULL;
    int rc = zpk_doc_parse(data, size, NULL, 0, &d1, NULL);
    if (rc != 0 && rc != ZPK_EEXTRADATA) {
        FUZZ_CHECK(d1 == NULL);
        fuzz_end();
        return 0;
    }
    const zpk_node_t *root = zpk_doc_root(d1);
    size_t used = zpk_doc_consumed(d1);

    zpk_writer_t w;
    zpk_writer_init_growable(&w, size & 0xff);
    ftree_write(&w, root);
    void *b1 = NULL;
    size_t n1 = 0;
    FUZZ_CHECK(zpk_writer_detach(&w, &b1, &n1) == 0);
    FUZZ_CHECK(n1 > 0 && n1 <= used);

    /* The library's own re-encoder agrees byte for byte. */
    zpk_writer_t wn;
    zpk_writer_init_growable(&wn, 0);
    FUZZ_CHECK(zpk_node_write(&wn, root) == 0);
    FUZZ_CHECK(zpk_writer_size(&wn) == n1);
    FUZZ_CHECK(memcmp(zpk_writer_data(&wn), b1, n1) == 0);
    zpk_writer_free(&wn);

    FUZZ_CHECK(zpk_doc_parse(b1, n1, NULL, 0, &d2, NULL) == 0);
    FUZZ_CHECK(zpk_doc_consumed(d2) == n1);
    FUZZ_CHECK(ftree_equal(root, zpk_doc_root(d2)));

    /* Encoding the second tree with the same (reset) writer: same bytes. */
    ftree_write(&w, zpk_doc_root(d2));
    FUZZ_CHECK(zpk_writer_finish(&w) == 0);
    FUZZ_CHECK(zpk_writer_size(&w) == n1);
    FUZZ_CHECK(memcmp(zpk_writer_data(&w), b1, n1) == 0);
    zpk_writer_reset(&w);
    FUZZ_CHECK(zpk_writer_size(&w) == 0 && zpk_writer_error(&w) == 0);
    zpk_writer_free(&w);

    /* A sink writer in small chunks. */
    size_t chunk = 1 + (size_t)(data[0] % 100);
    /* writer.c raises chunk sizes below 64 to 64 (room for any header). */
    s_sink_t sk = {NULL, 0, 0, chunk < 64 ? 64 : chunk, 0};
    zpk_writer_init_sink(&w, s_sink_fn, &sk, chunk);
    ftree_write(&w, root);
    FUZZ_CHECK(zpk_writer_finish(&w) == 0);
    FUZZ_CHECK(zpk_writer_size(&w) == n1);
    zpk_writer_free(&w);
    FUZZ_CHECK(sk.len == n1 && memcmp(sk.buf, b1, n1) == 0);
    free(sk.buf);

    /* A fixed buffer of exactly the size, then one byte short. */
    uint8_t *fixed = malloc(n1);
    FUZZ_CHECK(fixed != NULL);
    zpk_writer_init_buffer(&w, fixed, n1);
    ftree_write(&w, root);
    FUZZ_CHECK(zpk_writer_finish(&w) == 0 && memcmp(fixed, b1, n1) == 0);
    zpk_writer_init_buffer(&w, fixed, n1 - 1);
    ftree_write(&w, root);
    FUZZ_CHECK(zpk_writer_finish(&w) == ZPK_EBUFFULL);
    zpk_write_nil(&w);
    FUZZ_CHECK(zpk_writer_error(&w) == ZPK_EBUFFULL);
    zpk_writer_free(&w);
    free(fixed);

    zpk_free(b1);
    zpk_doc_destroy(&d1);
    zpk_doc_destroy(&d2);
    fuzz_end();
    return 0;
}
