/*
 * Fuzz target: the JSON bridge, JSON text -> MessagePack -> JSON.
 *
 * Input: JSON text (any value; `$` tags of the lossless form included).
 * When it converts, the MessagePack must be exactly one object; its
 * lossless JSON must convert back to the very same bytes; and jansson's
 * view of the input must equal, for plain JSON (no tags, integers within
 * int64, no NUL), the plain-form dump of the result.
 */
#include "fuzz_tree.h"
#include "zmqpack/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, 256 * 1024);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_json_loads_to_writer((const char *)data, size, &w, &err);
    FUZZ_CHECK(rc == 0 || rc == ZPK_EFORMAT || rc == ZPK_ETOODEEP);
    if (rc != 0) {
        FUZZ_CHECK(err.code == rc && err.offset <= size);
        zpk_writer_free(&w);
        fuzz_end();
        return 0;
    }
    zpk_doc_t *doc = NULL;
    rc = zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc, NULL);
    FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP);
    if (rc == 0) {
        const zpk_node_t *root = zpk_doc_root(doc);
        char *text = NULL;
        size_t tlen = 0;
        rc = zpk_json_dumps(root, ZPK_JSON_LOSSLESS, &text, &tlen);
        FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP);
        if (rc == 0) {
            zpk_writer_t w2;
            zpk_writer_init_growable(&w2, 0);
            rc = zpk_json_loads_to_writer(text, tlen, &w2, NULL);
            if (rc != 0)
                fprintf(stderr, "lossless JSON did not load back (%s): %s\n",
                        zpk_err_name(rc), text);
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(zpk_writer_size(&w2) == zpk_writer_size(&w));
            FUZZ_CHECK(memcmp(zpk_writer_data(&w2), zpk_writer_data(&w),
                              zpk_writer_size(&w)) == 0);
            zpk_writer_free(&w2);
            zpk_free(text);
        }
        /* Tags off: the input's own JSON value comes back unchanged. */
        json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        if (in != NULL) {
            zpk_writer_t w3;
            zpk_writer_init_growable(&w3, 0);
            if (zpk_json_to_msgpack_ex(in, ZPK_JSON_NO_TAGS, &w3, NULL) == 0) {
                zpk_doc_t *d3 = NULL;
                if (zpk_doc_parse(zpk_writer_data(&w3), zpk_writer_size(&w3), NULL, 0, &d3,
                                  NULL) == 0) {
                    json_t *back = NULL;
                    rc = zpk_json_from_node(zpk_doc_root(d3), 0, &back);
                    FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP);
                    if (rc == 0) {
                        FUZZ_CHECK(json_equal(in, back));
                        json_decref(back);
                    }
                    zpk_doc_destroy(&d3);
                }
            }
            zpk_writer_free(&w3);
            json_decref(in);
        }
    }
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
    fuzz_end();
    return 0;
}
