/*
 * Fuzz target: the streaming unpacker with fuzzer-chosen chunk boundaries.
 *
 * Input: [k] [k chunk bytes] [MessagePack stream...]. Chunk byte c feeds
 * (c & 0x7f) bytes (0 is a legal empty feed); with the top bit set the
 * chunk goes through zpk_unpacker_reserve()/commit() instead of feed().
 * The chunk list is cycled. After each feed every complete object is taken
 * out; every third object is skipped instead.
 *
 * Checks: the objects equal those of repeated one-shot parses of the same
 * bytes; the stream ends with the same code (need-more-data for a trailing
 * partial object, with tell()/buffered() accounting for every byte); a
 * failed unpacker keeps failing with the same code, and works again after
 * reset.
 */
#include "fuzz_tree.h"

#define S_MAX_OBJECTS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, 1024 * 1024);
    fuzz_in_t in = {data, size};
    size_t k = fuzz_u8(&in) % 32;
    const uint8_t *chunks;
    k = fuzz_take(&in, k, &chunks);
    const uint8_t *msg = in.p;
    size_t len = in.n;

    /* The reference: one-shot parses, one object after another. */
    zpk_doc_t **ref = calloc(S_MAX_OBJECTS, sizeof *ref);
    FUZZ_CHECK(ref != NULL);
    size_t nref = 0, off = 0;
    int ref_end = ZPK_EOUTOFDATA;
    while (off < len && nref < S_MAX_OBJECTS) {
        int rc = zpk_doc_parse(msg + off, len - off, NULL, 0, &ref[nref], NULL);
        if (rc != 0 && rc != ZPK_EEXTRADATA) {
            ref_end = rc;
            break;
        }
        off += zpk_doc_consumed(ref[nref]);
        nref++;
    }
    if (nref == S_MAX_OBJECTS && off < len) {
        /* Too many tiny objects to compare; still exercise the unpacker. */
        len = off;
    }

    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    FUZZ_CHECK(u != NULL);
    size_t fed = 0, got = 0, ci = 0;
    int end = 0;
    bool last_empty = false;
    while (end == 0) {
        if (fed < len) {
            uint8_t c = k ? chunks[ci++ % k] : 0x7f;
            size_t n = c & 0x7f;
            if (n > len - fed)
                n = len - fed;
            if (k == 0)
                n = len - fed;
            if (n == 0 && last_empty)
                n = 1; /* two empty feeds in a row: make progress */
            last_empty = n == 0;
            if (c & 0x80) {
                size_t avail = 0;
                void *p = zpk_unpacker_reserve(u, n, &avail);
                FUZZ_CHECK(p != NULL && avail >= (n ? n : 1));
                if (n)
                    memcpy(p, msg + fed, n);
                FUZZ_CHECK(zpk_unpacker_commit(u, n) == 0);
            } else {
                FUZZ_CHECK(zpk_unpacker_feed(u, msg + fed, n) == 0);
            }
            fed += n;
        }
        for (;;) {
            zpk_doc_t *d = NULL;
            bool skip = got % 3 == 2;
            int rc = skip ? zpk_unpacker_skip(u) : zpk_unpacker_next(u, &d);
            if (rc == ZPK_EOUTOFDATA && fed == len) {
                /* At the end of the input, look at the bytes next() may
                 * still be waiting on (zmqpack/doc.h). */
                rc = zpk_unpacker_check(u);
                if (rc == 0)
                    continue; /* an object is ready: take it */
            }
            if (rc == ZPK_EOUTOFDATA) {
                FUZZ_CHECK(d == NULL);
                if (fed == len)
                    end = rc;
                break;
            }
            if (rc != 0) {
                FUZZ_CHECK(d == NULL);
                end = rc;
                break;
            }
            FUZZ_CHECK(got < nref);
            if (!skip) {
                FUZZ_CHECK(d != NULL);
                FUZZ_CHECK(zpk_doc_consumed(d) == zpk_doc_consumed(ref[got]));
                FUZZ_CHECK(ftree_equal(zpk_doc_root(d), zpk_doc_root(ref[got])));
                zpk_doc_destroy(&d);
            }
            got++;
        }
    }

    if (end == ZPK_EOUTOFDATA) {
        /* Every byte is either in a returned object or still buffered. */
        FUZZ_CHECK(got == nref);
        FUZZ_CHECK(ref_end == ZPK_EOUTOFDATA);
        FUZZ_CHECK(zpk_unpacker_tell(u) + zpk_unpacker_buffered(u) == len);
        FUZZ_CHECK(zpk_unpacker_error(u) == NULL);
    } else {
        /* The same error as the one-shot parse (which may instead have
         * stopped early with "need more data" at a container declaring
         * more elements than bytes remain), and it sticks. */
        FUZZ_CHECK(end == ref_end || ref_end == ZPK_EOUTOFDATA);
        FUZZ_CHECK(got == nref);
        const zpk_error_t *e = zpk_unpacker_error(u);
        FUZZ_CHECK(e != NULL && e->code == end);
        zpk_doc_t *d = NULL;
        FUZZ_CHECK(zpk_unpacker_next(u, &d) == end && d == NULL);
        FUZZ_CHECK(zpk_unpacker_skip(u) == end);
        FUZZ_CHECK(zpk_unpacker_feed(u, "\x01", 1) == end);
        FUZZ_CHECK(zpk_unpacker_reserve(u, 1, NULL) == NULL);
    }

    /* After reset the unpacker works again. */
    zpk_unpacker_reset(u);
    FUZZ_CHECK(zpk_unpacker_tell(u) == 0 && zpk_unpacker_buffered(u) == 0);
    FUZZ_CHECK(zpk_unpacker_feed(u, "\x92\x01\xa1x", 4) == 0);
    zpk_doc_t *d = NULL;
    FUZZ_CHECK(zpk_unpacker_next(u, &d) == 0 && d != NULL);
    FUZZ_CHECK(zpk_node_len(zpk_doc_root(d)) == 2);
    zpk_doc_destroy(&d);

    zpk_unpacker_destroy(&u);
    FUZZ_CHECK(u == NULL);
    for (size_t i = 0; i < nref; i++)
        zpk_doc_destroy(&ref[i]);
    free(ref);
    fuzz_end();
    return 0;
}
