/*
 * Driver for the differential test against msgpack-python
 * (tests/test_differential.py). Uses the public API only.
 *
 * stdin:  records, each a u32 little-endian length and that many bytes of
 *         MessagePack (one object).
 * stdout: per record, an i32 LE status (0, or the first ZPK_E* code met),
 *         then three blobs, each a u32 LE length and its bytes:
 *         1. the object parsed into a document tree and re-encoded with the
 *            zmqpack writer (zpk_pack_fmt "O");
 *         2. the tree as lossless JSON text (zpk_json_dumps);
 *         3. that JSON text turned back into MessagePack
 *            (zpk_json_loads_to_writer).
 * Exit status 0 unless the input is cut short or an I/O error happens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpack.h"
#include "zmqpack/json.h"

static void s_put_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fwrite(b, 1, 4, stdout);
}

static void s_put_blob(const void *p, size_t n)
{
    s_put_u32((uint32_t)n);
    if (n > 0)
        fwrite(p, 1, n, stdout);
}

static int s_one(const uint8_t *data, size_t len, zpk_writer_t *w1, zpk_writer_t *w2)
{
    zpk_writer_reset(w1);
    zpk_writer_reset(w2);
    char *text = NULL;
    size_t tlen = 0;
    zpk_doc_t *doc = NULL;
    int rc = zpk_doc_parse(data, len, NULL, 0, &doc, NULL);
    if (rc == 0)
        rc = zpk_pack_fmt(w1, "O", zpk_doc_root(doc));
    if (rc == 0)
        rc = zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &text, &tlen);
    if (rc == 0) {
        zpk_error_t err;
        zpk_error_clear(&err);
        rc = zpk_json_loads_to_writer(text, tlen, w2, &err);
        if (rc != 0)
            fprintf(stderr, "JSON back: %s\n", err.text);
    }
    s_put_u32((uint32_t)rc);
    s_put_blob(zpk_writer_data(w1), rc == 0 ? zpk_writer_size(w1) : 0);
    s_put_blob(text, rc == 0 ? tlen : 0);
    s_put_blob(zpk_writer_data(w2), rc == 0 ? zpk_writer_size(w2) : 0);
    zpk_free(text);
    zpk_doc_destroy(&doc);
    return rc;
}

int main(void)
{
    zpk_writer_t w1, w2;
    zpk_writer_init_growable(&w1, 1 << 16);
    zpk_writer_init_growable(&w2, 1 << 16);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int status = 0;
    for (;;) {
        uint8_t h[4];
        size_t got = fread(h, 1, 4, stdin);
        if (got == 0)
            break;
        if (got != 4) {
            fprintf(stderr, "diff_driver: truncated length\n");
            status = 1;
            break;
        }
        size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
        if (n > cap) {
            uint8_t *nb = realloc(buf, n);
            if (nb == NULL) {
                status = 1;
                break;
            }
            buf = nb;
            cap = n;
        }
        if (fread(buf, 1, n, stdin) != n) {
            fprintf(stderr, "diff_driver: truncated record\n");
            status = 1;
            break;
        }
        s_one(buf, n, &w1, &w2);
    }
    free(buf);
    zpk_writer_free(&w1);
    zpk_writer_free(&w2);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
