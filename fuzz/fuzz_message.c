/*
 * Fuzz target: a whole message as a fuzzer-split list of frames through
 * the receive path, without a socket (zpk__msg_parse, then what the socket
 * layer does with its result: decode the object and every array).
 *
 * Input: frames as [u16 LE length][bytes]...; a length past the end takes
 * what is left; at most 64 frames. Each frame is copied into a heap block
 * of exactly its size. Checks: the only errors are the documented ones;
 * on success the spans lie inside the frames, the chunk frames match the
 * tables, the object parses (after decompression when packed), every array
 * reference of a mixed object names an existing array, and every array
 * decodes or fails cleanly; nothing large is allocated, nothing leaks.
 */
#include "fuzz_tree.h"
#include "message_internal.h"
#include "zmqpack/codec.h"

#define S_MAX_FRAMES 64
#define S_MAX_ARRAY ((size_t)1 << 20)

static bool s_inside(const zpk_span_t *s, const zpk_frame_t *frames, size_t n)
{
    if (s->size == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *f = frames[i].data, *p = s->data;
        if (p >= f && p <= f + frames[i].size && s->size <= (size_t)(f + frames[i].size - p))
            return true;
    }
    return false;
}

/* Array references anywhere in the object read cleanly (an index out of
 * range is the receiving call's to refuse; the parse cannot know it). */
static void s_check_refs(const zpk_node_t *n)
{
    uint32_t idx;
    int rc = zpk_node_get_ndarray_ref(n, &idx);
    FUZZ_CHECK(rc == 0 || rc == ZPK_ETYPE || rc == ZPK_EFORMAT);
    size_t len = zpk_node_len(n);
    if (zpk_node_type(n) == ZPK_TYPE_ARRAY)
        for (size_t i = 0; i < len; i++)
            s_check_refs(zpk_node_array_at(n, i));
    if (zpk_node_type(n) == ZPK_TYPE_MAP)
        for (size_t i = 0; i < len; i++) {
            s_check_refs(zpk_node_map_key(n, i));
            s_check_refs(zpk_node_map_value(n, i));
        }
}

static void s_decode_all(const zpk__msg_t *m)
{
    size_t k = 0;
    if (m->kind == ZPK__KIND_OBJ || m->kind == ZPK__KIND_MIXED) {
        zpk_doc_t *doc = NULL;
        int rc;
        if (m->obj_compressed) {
            zpk_ndarray_t a;
            rc = zpk_ndarray_decode(&m->obj_info, m->spans, m->obj_nspans, &a, NULL);
            FUZZ_CHECK(rc == 0 || rc == ZPK_EDECOMPRESS || rc == ZPK_ESHAPE ||
                       rc == ZPK_ENOTSUP);
            if (rc == 0) {
                rc = zpk_doc_parse(a.data, a.nbytes, NULL, 0, &doc, NULL);
                zpk_ndarray_free(&a);
            }
        } else {
            FUZZ_CHECK(m->obj_nspans == 1);
            rc = zpk_doc_parse(m->spans[0].data, m->spans[0].size, NULL, 0, &doc, NULL);
        }
        if (doc != NULL) {
            s_check_refs(zpk_doc_root(doc));
            zpk_doc_destroy(&doc);
        }
        k = m->obj_nspans;
    }
    for (size_t i = 0; i < m->n_ndarrays; i++) {
        const zpk_ndarray_info_t *info = &m->ndarrays[i];
        FUZZ_CHECK(info->nbytes <= S_MAX_ARRAY);
        FUZZ_CHECK(k + info->nchunks <= m->nspans);
        for (size_t c = 0; c < info->nchunks; c++)
            FUZZ_CHECK(m->spans[k + c].size == info->chunks[c].stored);
        zpk_ndarray_t a;
        const zpk_span_t *spans = info->nchunks ? m->spans + k : NULL;
        int rc = zpk_ndarray_decode(info, spans, info->nchunks, &a, NULL);
        FUZZ_CHECK(rc == 0 || rc == ZPK_EDECOMPRESS || rc == ZPK_ESHAPE || rc == ZPK_ENOTSUP);
        if (rc == 0) {
            FUZZ_CHECK(a.nbytes == info->nbytes);
            ftouch(a.data, a.nbytes);
            zpk_ndarray_free(&a);
        }
        k += info->nchunks;
    }
    FUZZ_CHECK(k == m->nspans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, S_MAX_ARRAY + 64 * 1024);
    zpk_span_t spans[S_MAX_FRAMES];
    fuzz_in_t in = {data, size};
    size_t n = fuzz_frames(&in, spans, S_MAX_FRAMES);
    zpk_frame_t frames[S_MAX_FRAMES];
    for (size_t i = 0; i < n; i++)
        frames[i] = (zpk_frame_t){(void *)(uintptr_t)spans[i].data, spans[i].size, NULL, NULL};

    zpk_ndarray_opts_t aopts;
    zpk_ndarray_opts_default(&aopts);
    aopts.max_ndarray_bytes = S_MAX_ARRAY;
    zpk__msg_t m;
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk__msg_parse(frames, n, NULL, &aopts, &m, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc);
        FUZZ_CHECK(err.frame >= -1 && err.frame <= (int)n);
        FUZZ_CHECK(m.spans == NULL && m.ndarrays == NULL);
    } else {
        FUZZ_CHECK(m.kind >= ZPK__KIND_OBJ && m.kind <= ZPK__KIND_RECIPE);
        FUZZ_CHECK(m.header < n);
        for (size_t i = 0; i < m.nspans; i++)
            FUZZ_CHECK(s_inside(&m.spans[i], frames, n));
        s_decode_all(&m);
        zpk__msg_free(&m);
    }
    fuzz_frames_free(spans, n);
    fuzz_end();
    return 0;
}
