/*
 * Fuzz target: the JSON bridge, MessagePack -> JSON -> MessagePack.
 *
 * Input: raw MessagePack; the first object is parsed into a tree.
 * - Lossless form: the JSON text read back gives exactly the bytes of the
 *   tree's canonical re-encoding (fuzz_tree.h's writer).
 * - Plain form: always valid JSON that jansson parses, and that converts
 *   back to MessagePack when `$` tags are read as ordinary maps.
 */
#include "fuzz_tree.h"
#include "zmqpack/json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, 256 * 1024);
    zpk_doc_t *doc = NULL;
    int rc = zpk_doc_parse(data, size, NULL, 0, &doc, NULL);
    if (rc != 0 && rc != ZPK_EEXTRADATA) {
        fuzz_end();
        return 0;
    }
    const zpk_node_t *root = zpk_doc_root(doc);

    zpk_writer_t canon;
    zpk_writer_init_growable(&canon, 0);
    ftree_write(&canon, root);
    FUZZ_CHECK(zpk_writer_finish(&canon) == 0);

    /* Lossless: back to the identical canonical bytes. */
    char *text = NULL;
    size_t tlen = 0;
    rc = zpk_json_dumps(root, ZPK_JSON_LOSSLESS, &text, &tlen);
    FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP);
    if (rc == 0) {
        FUZZ_CHECK(text != NULL && strlen(text) == tlen);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_error_t err;
        zpk_error_clear(&err);
        rc = zpk_json_loads_to_writer(text, tlen, &w, &err);
        if (rc != 0)
            fprintf(stderr, "lossless JSON did not load back (%s: %s): %s\n",
                    zpk_err_name(rc), err.text, text);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(zpk_writer_size(&w) == zpk_writer_size(&canon));
        FUZZ_CHECK(memcmp(zpk_writer_data(&w), zpk_writer_data(&canon),
                          zpk_writer_size(&w)) == 0);
        zpk_writer_free(&w);
        zpk_free(text);
        text = NULL;
    }

    /* Plain: valid JSON, and convertible back with tags off. A non-str key
     * renders to at most 4096 bytes of text, else ZPK_ELIMIT (finding F2:
     * keys nested in keys used to double the text at every level), so the
     * output stays linear in the input, at about 100 bytes per input byte
     * in the worst case of keys nested ten deep. */
    fuzz_set_budget(256 * 1024 + size * 256);
    for (unsigned flags = 0; flags <= ZPK_JSON_SORT_KEYS; flags += ZPK_JSON_SORT_KEYS) {
        /* Pretty-printing is quadratic in the depth by nature: budget it so. */
        unsigned indent = flags ? (unsigned)(size % 3) : 0;
        if (indent)
            fuzz_set_budget(256 * 1024 + size * size * 4);
        rc = zpk_json_dumps(root, flags | ZPK_JSON_INDENT(indent), &text, &tlen);
        FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP || rc == ZPK_ELIMIT);
        if (rc != 0)
            continue;
        json_error_t jerr;
        json_t *j = json_loadb(text, tlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (j == NULL && strstr(jerr.text, "NUL byte in object key") != NULL) {
            /* Valid JSON that jansson's parser refuses (the bridge wrote the
             * key with json_object_setn); nothing more to check here. */
            zpk_free(text);
            text = NULL;
            continue;
        }
        if (j == NULL)
            fprintf(stderr, "plain JSON is not valid (%s): %s\n", jerr.text, text);
        FUZZ_CHECK(j != NULL);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        rc = zpk_json_to_msgpack_ex(j, ZPK_JSON_NO_TAGS, &w, NULL);
        FUZZ_CHECK(rc == 0 || rc == ZPK_ETOODEEP);
        zpk_writer_free(&w);
        json_decref(j);
        zpk_free(text);
        text = NULL;
    }

    zpk_writer_free(&canon);
    zpk_doc_destroy(&doc);
    fuzz_end();
    return 0;
}
