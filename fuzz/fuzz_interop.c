/*
 * Fuzz target: the interop readers (zmqpack/interop.h). A fuzzer-split list
 * of frames goes through zpk_karabo_decode() (one frame: protocol 1.0,
 * more: 2.2), and every map of every frame that parses as MessagePack goes
 * through zpk_node_get_msgpack_numpy().
 *
 * Input: frames as [u16 LE length][bytes]...; a length past the end takes
 * what is left; at most 64 frames. Each frame is copied into a heap block
 * of exactly its size, and handed over with a free function. Checks: the
 * only errors are the documented ones, with err->frame naming a frame;
 * every frame is released exactly once (before an error returns, else
 * when the train is freed); on success every name, path and array view
 * lies inside the frames, each view's size is its dtype times its shape,
 * and a view written back with zpk_write_msgpack_numpy() reads back as the
 * same array; nothing large is allocated, nothing leaks.
 */
#include "fuzz_common.h"

#define S_MAX_FRAMES 64

static const zpk_span_t *s_frames;
static size_t s_nframes;
static size_t s_released;

static void s_release(void *data, void *hint)
{
    (void)data;
    (void)hint;
    s_released++;
}

static bool s_inside(const void *ptr, size_t size)
{
    if (size == 0)
        return true;
    const uint8_t *p = ptr;
    for (size_t i = 0; i < s_nframes; i++) {
        const uint8_t *f = s_frames[i].data;
        if (p >= f && p <= f + s_frames[i].size && size <= (size_t)(f + s_frames[i].size - p))
            return true;
    }
    return false;
}

static void s_check_view(const zpk_ndarray_t *a)
{
    size_t nbytes;
    FUZZ_CHECK(zpk_dtype_valid(a->dtype));
    FUZZ_CHECK(a->ndim >= 0 && a->ndim <= ZPK_MAX_NDIM);
    FUZZ_CHECK(zpk_shape_nbytes(a->dtype, a->ndim, a->shape, &nbytes) == 0);
    FUZZ_CHECK(nbytes == a->nbytes && a->free_fn == NULL && !a->has_strides);
    FUZZ_CHECK(a->order == ZPK_ORDER_C);
}

/* Writes @p a as msgpack-numpy and reads it back: the same array. */
static void s_rewrite(const zpk_ndarray_t *a)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    FUZZ_CHECK(zpk_write_msgpack_numpy(&w, a) == 0);
    zpk_doc_t *doc = NULL;
    FUZZ_CHECK(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc, NULL) == 0);
    zpk_ndarray_t b;
    FUZZ_CHECK(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &b, NULL) == 0);
    FUZZ_CHECK(zpk_dtype_equal(a->dtype, b.dtype) && a->ndim == b.ndim && a->nbytes == b.nbytes);
    FUZZ_CHECK(memcmp(a->shape, b.shape, sizeof(size_t) * (size_t)a->ndim) == 0);
    FUZZ_CHECK(a->nbytes == 0 || memcmp(a->data, b.data, a->nbytes) == 0);
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
}

/* Every map under @p n (iteratively bounded by the document's own size). */
static void s_walk(const zpk_node_t *n, int depth)
{
    if (depth > 64)
        return;
    zpk_type_t t = zpk_node_type(n);
    if (t == ZPK_TYPE_MAP) {
        zpk_ndarray_t a;
        zpk_error_t err;
        int rc = zpk_node_get_msgpack_numpy(n, &a, &err);
        FUZZ_CHECK(rc == 0 || rc == ZPK_ETYPE || rc == ZPK_EFORMAT || rc == ZPK_ENOTSUP ||
                   rc == ZPK_EDTYPE || rc == ZPK_ESHAPE || rc == ZPK_EOVERFLOW);
        FUZZ_CHECK(rc == ZPK_ETYPE ? err.code == 0 : err.code == rc);
        if (rc == 0) {
            s_check_view(&a);
            FUZZ_CHECK(s_inside(a.data, a.nbytes));
            s_rewrite(&a);
        } else {
            FUZZ_CHECK(a.data == NULL && a.nbytes == 0);
        }
        for (size_t i = 0; i < zpk_node_len(n); i++)
            s_walk(zpk_node_map_value(n, i), depth + 1);
    } else if (t == ZPK_TYPE_ARRAY) {
        for (size_t i = 0; i < zpk_node_len(n); i++)
            s_walk(zpk_node_array_at(n, i), depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* views allocate nothing: tables and documents scale with the input */
    fuzz_begin(size, 64, 64 * 1024);
    zpk_span_t frames[S_MAX_FRAMES];
    fuzz_in_t in = {data, size};
    size_t n = fuzz_frames(&in, frames, S_MAX_FRAMES);
    s_frames = frames;
    s_nframes = n;

    zpk_frame_t owned[S_MAX_FRAMES];
    for (size_t i = 0; i < n; i++)
        owned[i] = (zpk_frame_t){(void *)(uintptr_t)frames[i].data, frames[i].size, s_release,
                                 NULL};
    s_released = 0;
    zpk_karabo_train_t t;
    zpk_error_t err;
    int rc = zpk_karabo_decode(owned, n, NULL, &t, &err);
    if (rc != 0) {
        FUZZ_CHECK(s_released == n);
        FUZZ_CHECK(rc < 0 && err.code == rc);
        FUZZ_CHECK(err.frame >= 0 && err.frame < (int)(n ? n : 1));
        FUZZ_CHECK(t.sources == NULL && t.n_sources == 0 && t.docs_ == NULL && t.hold_ == NULL);
    } else {
        FUZZ_CHECK(t.protocol == (n == 1 ? ZPK_KARABO_PROTOCOL_1_0 : ZPK_KARABO_PROTOCOL_2_2));
        uint64_t tid;
        int trc = zpk_karabo_train_id(&t, &tid);
        FUZZ_CHECK(trc == 0 || trc == ZPK_ENOTFOUND || trc == ZPK_ETYPE);
        for (size_t s = 0; s < t.n_sources; s++) {
            const zpk_karabo_source_t *src = &t.sources[s];
            FUZZ_CHECK(s_inside(src->name, src->name_len));
            FUZZ_CHECK(zpk_node_type(src->data) == ZPK_TYPE_MAP);
            FUZZ_CHECK(src->metadata == NULL || zpk_node_type(src->metadata) == ZPK_TYPE_MAP);
            for (size_t i = 0; i < src->n_ndarrays; i++) {
                const zpk_karabo_ndarray_t *ka = &src->ndarrays[i];
                FUZZ_CHECK(s_inside(ka->path, ka->path_len));
                s_check_view(&ka->ndarray);
                FUZZ_CHECK(s_inside(ka->ndarray.data, ka->ndarray.nbytes));
                s_rewrite(&ka->ndarray);
            }
        }
        FUZZ_CHECK(s_released == 0);
        FUZZ_CHECK(t.n_frames == n);
        /* ZPK_RECV_BYTES (the Python binding's way): the same train, the 2.2
         * payloads left unparsed and pointed at */
        zpk_recv_opts_t o;
        zpk_recv_opts_init(&o);
        o.flags = ZPK_RECV_BYTES;
        zpk_frame_t lent[S_MAX_FRAMES];
        for (size_t i = 0; i < n; i++)
            lent[i] = (zpk_frame_t){owned[i].data, owned[i].size, NULL, NULL};
        zpk_karabo_train_t b;
        FUZZ_CHECK(zpk_karabo_decode(lent, n, &o, &b, &err) == 0);
        FUZZ_CHECK(b.n_sources == t.n_sources && b.n_frames == n);
        for (size_t s = 0; s < b.n_sources; s++) {
            const zpk_karabo_source_t *src = &b.sources[s];
            FUZZ_CHECK(src->n_ndarrays == t.sources[s].n_ndarrays);
            FUZZ_CHECK(src->frame == t.sources[s].frame);
            FUZZ_CHECK(n == 1 ? src->frame == 0 && src->data != NULL
                              : src->frame + 1 < n && src->data == NULL);
        }
        zpk_karabo_train_free(&b);
        zpk_karabo_train_free(&t);
        FUZZ_CHECK(s_released == n);
    }
    for (size_t i = 0; i < n; i++) {
        zpk_doc_t *doc = NULL;
        if (zpk_doc_parse(frames[i].data, frames[i].size, NULL, ZPK_DOC_BORROW, &doc, NULL) == 0)
            s_walk(zpk_doc_root(doc), 0);
        zpk_doc_destroy(&doc);
    }
    fuzz_frames_free(frames, n);
    fuzz_end();
    return 0;
}
