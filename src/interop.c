/*
 * Interop: the array formats of other ZeroMQ streams (msgpack-numpy, the
 * Karabo bridge) on documents and frames, received through the socket
 * layer's one receive (zpk__recv_all). No zmq.h here; the formats are
 * described in docs/interop.md.
 */
#include "zmqpack/interop.h"

#include <stdio.h>
#include <string.h>

#include "message_internal.h"

/* Records an error with the index of the frame it is in (-1: none). */
#define S_FAIL(err, frame, code, ...) s_frame(err, frame, zpk__error(err, code, 0, __VA_ARGS__))

static int s_frame(zpk_error_t *err, int frame, int code)
{
    if (err != NULL && err->frame < 0)
        err->frame = frame;
    return code;
}

/* At most this many bytes of a peer's name go into an error text. */
#define S_SHOWN(len) ((int)((len) > 40 ? 40 : (len)))

/* ---- keys of msgpack-numpy maps: bin or str ----------------------------------- */

/* The bytes of a str or bin node; false for any other node. */
static bool s_raw(const zpk_node_t *n, const uint8_t **p, size_t *len)
{
    if (zpk_node_type(n) == ZPK_TYPE_BIN)
        return zpk_node_get_bin(n, p, len) == 0;
    return zpk_node_type(n) == ZPK_TYPE_STR && zpk_node_get_str(n, (const char **)p, len) == 0;
}

/* The value of map @p m's first key equal to @p lit, as a bin or a str. */
#define s_get(m, lit) s_getn((m), (lit), sizeof(lit) - 1)

static const zpk_node_t *s_getn(const zpk_node_t *m, const char *key, size_t klen)
{
    size_t n = zpk_node_len(m);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        if (s_raw(zpk_node_map_key(m, i), &p, &len) && len == klen && memcmp(p, key, len) == 0)
            return zpk_node_map_value(m, i);
    }
    return NULL;
}

/* ---- shapes --------------------------------------------------------------------- */

/* "what 'name'" (@p name NULL: "what") into @p buf: an array's name in error texts. */
static const char *s_label(char *buf, size_t n, const char *what, const char *name,
                           size_t name_len)
{
    if (name == NULL)
        snprintf(buf, n, "%s", what);
    else
        snprintf(buf, n, "%s '%.*s'", what, S_SHOWN(name_len), name);
    return buf;
}

/*
 * Fills @p a as a C-ordered view of @p data (@p size bytes, in frame
 * @p data_frame) with dtype @p dt and the shape in array node @p shape
 * (NULL: 0-d) from frame @p frame. @p what and @p name (may be NULL) name
 * the array in error texts, which are only formatted on failure.
 */
static int s_view(zpk_ndarray_t *a, zpk_dtype_t dt, const zpk_node_t *shape, const void *data,
                  size_t size, int frame, int data_frame, const char *what, const char *name,
                  size_t name_len, zpk_error_t *err)
{
    char label[64];
#define S_LABEL() s_label(label, sizeof label, what, name, name_len)
    size_t dims[ZPK_MAX_NDIM];
    size_t nd = 0;
    if (shape != NULL) {
        if (zpk_node_type(shape) != ZPK_TYPE_ARRAY)
            return S_FAIL(err, frame, ZPK_EFORMAT, "%s: shape is not an array", S_LABEL());
        nd = zpk_node_len(shape);
        if (nd > ZPK_MAX_NDIM)
            return S_FAIL(err, frame, ZPK_ESHAPE, "%s: %zu dimensions (at most %d)", S_LABEL(),
                          nd, ZPK_MAX_NDIM);
        for (size_t i = 0; i < nd; i++) {
            uint64_t d;
            if (zpk_node_get_uint(zpk_node_array_at(shape, i), &d) != 0 || d > SIZE_MAX)
                return S_FAIL(err, frame, ZPK_ESHAPE, "%s: shape is not a list of sizes",
                              S_LABEL());
            dims[i] = (size_t)d;
        }
    }
    size_t nbytes;
    int rc = zpk_shape_nbytes(dt, (int)nd, dims, &nbytes);
    if (rc != 0)
        return S_FAIL(err, frame, rc, "%s: the shape's size overflows", S_LABEL());
    if (nbytes != size) {
        char dts[ZPK_DTYPE_STR_SIZE], dims_text[ZPK_MAX_NDIM * 22 + 1] = "";
        if (zpk_dtype_format(dt, dts, sizeof dts) < 0)
            dts[0] = '\0';
        for (size_t i = 0, at = 0; i < nd; i++)
            at += (size_t)snprintf(dims_text + at, sizeof dims_text - at, i ? ", %zu" : "%zu",
                                   dims[i]);
        return S_FAIL(err, data_frame, ZPK_ESHAPE,
                      "%s: %zu bytes of data, but dtype %s and shape [%s] need %zu", S_LABEL(),
                      size, dts, dims_text, nbytes);
    }
    rc = zpk_ndarray_init(a, dt, (int)nd, dims, ZPK_ORDER_C, (void *)(uintptr_t)data);
    return rc != 0 ? S_FAIL(err, frame, rc, "%s: bad shape", S_LABEL()) : 0;
#undef S_LABEL
}

/* ---- msgpack-numpy ----------------------------------------------------------------- */

/* Leaves @p a an empty 0-d descriptor that owns nothing (what it held is not ours). */
static void s_clear(zpk_ndarray_t *a)
{
    memset(a, 0, sizeof *a);
    a->order = ZPK_ORDER_C;
}

/* zpk_node_get_msgpack_numpy() reporting errors in frame @p frame. */
static int s_msgpack_numpy(const zpk_node_t *n, zpk_ndarray_t *out, int frame,
                           zpk_error_t *err)
{
    static const char what[] = "msgpack-numpy";
    bool nd;
    const zpk_node_t *ndn = zpk_node_type(n) == ZPK_TYPE_MAP ? s_get(n, "nd") : NULL;
    if (ndn == NULL || zpk_node_get_bool(ndn, &nd) != 0)
        return ZPK_ETYPE;
    const uint8_t *p;
    size_t len;
    const zpk_node_t *kind = s_get(n, "kind");
    if (nd && kind != NULL) {
        if (!s_raw(kind, &p, &len))
            return S_FAIL(err, frame, ZPK_EFORMAT, "%s: kind is not bytes", what);
        if (len == 1 && p[0] == 'O')
            return S_FAIL(err, frame, ZPK_ENOTSUP,
                          "%s: object array (kind O): its data is a pickle, never loaded", what);
        if (len == 1 && p[0] == 'V')
            return S_FAIL(err, frame, ZPK_EDTYPE,
                          "%s: structured array (kind V): not supported", what);
        if (len != 0)
            return S_FAIL(err, frame, ZPK_EFORMAT, "%s: unknown kind '%.*s'", what,
                          S_SHOWN(len), (const char *)p);
    }
    const zpk_node_t *type = s_get(n, "type");
    if (type == NULL || !s_raw(type, &p, &len))
        return S_FAIL(err, frame, ZPK_EFORMAT, "%s: no type string", what);
    zpk_dtype_t dt;
    int rc = zpk_dtype_parse((const char *)p, len, &dt, err);
    if (rc != 0)
        return s_frame(err, frame, rc);
    const zpk_node_t *shape = NULL;
    if (nd && (shape = s_get(n, "shape")) == NULL)
        return S_FAIL(err, frame, ZPK_EFORMAT, "%s: no shape", what);
    const zpk_node_t *data = s_get(n, "data");
    if (data == NULL || !s_raw(data, &p, &len))
        return S_FAIL(err, frame, ZPK_EFORMAT, "%s: no data bytes", what);
    return s_view(out, dt, shape, p, len, frame, frame, nd ? what : "msgpack-numpy scalar", NULL,
                  0, err);
}

int zpk_node_get_msgpack_numpy(const zpk_node_t *n, zpk_ndarray_t *out, zpk_error_t *err)
{
    zpk__error_reset(err);
    if (out == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL output");
    int rc = s_msgpack_numpy(n, out, -1, err);
    if (rc != 0)
        s_clear(out);
    return rc;
}

/* msgpack-numpy's keys, each a bin (use_bin_type=True), as encoded bytes. */
static const char s_key_nd[] = "\xc4\x02" "nd";
static const char s_key_type[] = "\xc4\x04" "type";
static const char s_key_kind[] = "\xc4\x04" "kind";
static const char s_key_shape[] = "\xc4\x05" "shape";
static const char s_key_data[] = "\xc4\x04" "data";
#define S_RAW(w, key) zpk_write_raw((w), (key), sizeof(key) - 1)

int zpk_write_msgpack_numpy(zpk_writer_t *w, const zpk_ndarray_t *a)
{
    if (w == NULL)
        return ZPK_EINVAL;
    int rc = 0;
    char typestr[ZPK_DTYPE_STR_SIZE];
    if (a == NULL || (a->data == NULL && a->nbytes != 0))
        rc = ZPK_EINVAL;
    else if (zpk_dtype_format(a->dtype, typestr, sizeof typestr) < 0)
        rc = ZPK_EDTYPE;
    if (rc != 0) {
        zpk_writer_set_error(w, rc);
        return zpk_writer_error(w);
    }
    /* C-ordered bytes: the array's own when it is laid out so, else a copy */
    char order;
    zpk_ndarray_t copy = {0};
    const void *bytes = a->data;
    if (!zpk_ndarray_is_contiguous(a, &order) || (order != ZPK_ORDER_C && a->ndim > 1)) {
        rc = zpk_ndarray_dup(a, &copy);
        if (rc != 0) {
            zpk_writer_set_error(w, rc);
            return zpk_writer_error(w);
        }
        bytes = copy.data;
    }
    zpk_write_map(w, 5);
    S_RAW(w, s_key_nd);
    zpk_write_bool(w, true);
    S_RAW(w, s_key_type);
    zpk_write_cstr(w, typestr);
    S_RAW(w, s_key_kind);
    zpk_write_bin(w, "", 0);
    S_RAW(w, s_key_shape);
    zpk_write_array(w, (size_t)a->ndim);
    for (int i = 0; i < a->ndim; i++)
        zpk_write_uint(w, a->shape[i]);
    S_RAW(w, s_key_data);
    zpk_write_bin(w, bytes, a->nbytes);
    zpk_ndarray_free(&copy);
    return zpk_writer_error(w);
}

/* ---- Karabo bridge ----------------------------------------------------------------- */

void zpk_karabo_train_free(zpk_karabo_train_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_docs_; i++)
        zpk_doc_destroy(&t->docs_[i]);
    /* sources, arrays and the document table are one allocation */
    zpk__free(t->sources);
    zpk__hold_unref(t->hold_); /* the frames last: the documents borrowed from them */
    memset(t, 0, sizeof *t);
}

static bool s_name_is(const char *name, size_t len, const char *key)
{
    return key != NULL && strlen(key) == len && memcmp(name, key, len) == 0;
}

const zpk_karabo_source_t *zpk_karabo_train_source(const zpk_karabo_train_t *t,
                                                   const char *name)
{
    for (size_t i = 0; t != NULL && i < t->n_sources; i++)
        if (s_name_is(t->sources[i].name, t->sources[i].name_len, name))
            return &t->sources[i];
    return NULL;
}

const zpk_ndarray_t *zpk_karabo_source_ndarray(const zpk_karabo_source_t *s, const char *path)
{
    for (size_t i = 0; s != NULL && i < s->n_ndarrays; i++)
        if (s_name_is(s->ndarrays[i].path, s->ndarrays[i].path_len, path))
            return &s->ndarrays[i].ndarray;
    return NULL;
}

int zpk_karabo_train_id(const zpk_karabo_train_t *t, uint64_t *tid)
{
    if (t == NULL || tid == NULL)
        return ZPK_EINVAL;
    for (size_t i = 0; i < t->n_sources; i++) {
        const zpk_node_t *v = zpk_node_map_get(t->sources[i].metadata, "timestamp.tid");
        if (v != NULL)
            return zpk_node_get_uint(v, tid);
    }
    return ZPK_ENOTFOUND;
}

/* One allocation for the tables of a train: @p ns sources, @p na arrays
 * (the first at *@p arrays), @p nd documents. */
static int s_alloc(zpk_karabo_train_t *t, size_t ns, size_t na, size_t nd,
                   zpk_karabo_ndarray_t **arrays)
{
    size_t bytes = ns * sizeof(zpk_karabo_source_t) + na * sizeof(zpk_karabo_ndarray_t) +
                   nd * sizeof(zpk_doc_t *);
    uint8_t *mem = zpk__calloc(1, bytes ? bytes : 1);
    if (mem == NULL)
        return ZPK_ENOMEM;
    t->sources = (zpk_karabo_source_t *)mem;
    mem += ns * sizeof(zpk_karabo_source_t);
    *arrays = (zpk_karabo_ndarray_t *)mem;
    mem += na * sizeof(zpk_karabo_ndarray_t);
    t->docs_ = (zpk_doc_t **)mem;
    return 0;
}

/* Parses frame @p i as one MessagePack map into a document the train keeps. */
static int s_parse_map(zpk_karabo_train_t *t, const zpk_frame_t *f, int i, const zpk_limits_t *lim,
                       const char *what, const zpk_node_t **root, zpk_error_t *err)
{
    zpk_doc_t *doc = NULL;
    int rc = zpk_doc_parse(f->data, f->size, lim, ZPK_DOC_BORROW, &doc, err);
    if (rc != 0) {
        zpk_doc_destroy(&doc);
        return s_frame(err, i, rc);
    }
    t->docs_[t->n_docs_++] = doc;
    *root = zpk_doc_root(doc);
    if (zpk_node_type(*root) != ZPK_TYPE_MAP)
        return S_FAIL(err, i, ZPK_EFORMAT, "Karabo: the %s is not a map but a MessagePack %s",
                      what, zpk_type_name(zpk_node_type(*root)));
    return 0;
}

/* A str value of header map @p h. */
static int s_header_str(const zpk_node_t *h, const char *key, int i, const char **s,
                        size_t *len, zpk_error_t *err)
{
    const zpk_node_t *v = zpk_node_map_get(h, key);
    if (v == NULL || zpk_node_get_str(v, s, len) != 0)
        return S_FAIL(err, i, ZPK_EFORMAT, "Karabo: header has no \"%s\" string", key);
    return 0;
}

#define S_LIT_IS(s, len, lit) ((len) == sizeof(lit) - 1 && memcmp((s), (lit), (len)) == 0)

static int s_decode_2_2(const zpk_frame_t *frames, size_t n, const zpk_limits_t *lim,
                        bool bytes, zpk_karabo_train_t *t, zpk_error_t *err)
{
    if (n % 2 != 0)
        return S_FAIL(err, (int)n - 1, ZPK_EFRAME,
                      "Karabo 2.2: %zu frames, expected (header, payload) pairs", n);
    size_t pairs = n / 2;
    zpk_karabo_ndarray_t *next_array;
    int rc = s_alloc(t, pairs, pairs, n, &next_array);
    if (rc != 0)
        return S_FAIL(err, 0, rc, "no memory");
    zpk_karabo_source_t *cur = NULL;
    for (size_t k = 0; k < pairs; k++) {
        int hi = (int)(2 * k), pi = hi + 1;
        const zpk_node_t *h;
        const char *src, *content;
        size_t src_len, content_len;
        if ((rc = s_parse_map(t, &frames[hi], hi, lim, "header", &h, err)) != 0 ||
            (rc = s_header_str(h, "source", hi, &src, &src_len, err)) != 0 ||
            (rc = s_header_str(h, "content", hi, &content, &content_len, err)) != 0)
            return rc;
        if (S_LIT_IS(content, content_len, "msgpack")) {
            for (size_t s = 0; s < t->n_sources; s++)
                if (t->sources[s].name_len == src_len &&
                    memcmp(t->sources[s].name, src, src_len) == 0)
                    return S_FAIL(err, hi, ZPK_EFORMAT, "Karabo: source '%.*s' sent twice",
                                  S_SHOWN(src_len), src);
            cur = &t->sources[t->n_sources++];
            cur->name = src;
            cur->name_len = src_len;
            cur->ndarrays = next_array;
            cur->frame = (size_t)hi;
            cur->metadata = zpk_node_map_get(h, "metadata");
            if (cur->metadata != NULL && zpk_node_type(cur->metadata) != ZPK_TYPE_MAP)
                return S_FAIL(err, hi, ZPK_EFORMAT, "Karabo: metadata of '%.*s' is not a map",
                              S_SHOWN(src_len), src);
            if (!bytes &&
                (rc = s_parse_map(t, &frames[pi], pi, lim, "payload", &cur->data, err)) != 0)
                return rc;
        } else if (S_LIT_IS(content, content_len, "array") ||
                   S_LIT_IS(content, content_len, "ImageData")) {
            if (cur == NULL || cur->name_len != src_len || memcmp(cur->name, src, src_len) != 0)
                return S_FAIL(err, hi, ZPK_EFORMAT,
                              "Karabo: array of source '%.*s' not right after its msgpack "
                              "header", S_SHOWN(src_len), src);
            zpk_karabo_ndarray_t *ka = next_array;
            const char *dts;
            size_t dts_len;
            if ((rc = s_header_str(h, "path", hi, &ka->path, &ka->path_len, err)) != 0 ||
                (rc = s_header_str(h, "dtype", hi, &dts, &dts_len, err)) != 0)
                return rc;
            for (size_t j = 0; j < cur->n_ndarrays; j++)
                if (cur->ndarrays[j].path_len == ka->path_len &&
                    memcmp(cur->ndarrays[j].path, ka->path, ka->path_len) == 0)
                    return S_FAIL(err, hi, ZPK_EFORMAT, "Karabo: array '%.*s' sent twice",
                                  S_SHOWN(ka->path_len), ka->path);
            zpk_dtype_t dt;
            if ((rc = zpk_dtype_parse(dts, dts_len, &dt, err)) != 0)
                return s_frame(err, hi, rc);
            const zpk_node_t *shape = zpk_node_map_get(h, "shape");
            if (shape == NULL)
                return S_FAIL(err, hi, ZPK_EFORMAT, "Karabo: array header has no \"shape\"");
            rc = s_view(&ka->ndarray, dt, shape, frames[pi].data, frames[pi].size, hi, pi,
                        "Karabo array", ka->path, ka->path_len, err);
            if (rc != 0)
                return rc;
            cur->n_ndarrays++;
            next_array++;
        } else {
            return S_FAIL(err, hi, ZPK_EFORMAT, "Karabo: unknown content '%.*s'",
                          S_SHOWN(content_len), content);
        }
    }
    t->protocol = ZPK_KARABO_PROTOCOL_2_2;
    return 0;
}

static int s_decode_1_0(const zpk_frame_t *frame, const zpk_limits_t *lim,
                        zpk_karabo_train_t *t, zpk_error_t *err)
{
    /* the document first, to size the tables by what it really holds */
    zpk_doc_t *doc = NULL;
    int rc = zpk_doc_parse(frame->data, frame->size, lim, ZPK_DOC_BORROW, &doc, err);
    if (rc != 0) {
        zpk_doc_destroy(&doc);
        if (err != NULL) { /* say what was expected: the parser's text alone reads as noise */
            char text[sizeof err->text];
            snprintf(text, sizeof text, "%s", err->text);
            snprintf(err->text, sizeof err->text, "Karabo 1.0 is one MessagePack map: %.90s",
                     text);
        }
        return s_frame(err, 0, rc);
    }
    const zpk_node_t *root = zpk_doc_root(doc);
    if (zpk_node_type(root) != ZPK_TYPE_MAP) {
        rc = S_FAIL(err, 0, ZPK_EFORMAT,
                    "Karabo 1.0: the message is not a map but a MessagePack %s",
                    zpk_type_name(zpk_node_type(root)));
        zpk_doc_destroy(&doc);
        return rc;
    }
    size_t ns = zpk_node_len(root), na = 0;
    for (size_t s = 0; s < ns; s++)
        if (zpk_node_type(zpk_node_map_value(root, s)) == ZPK_TYPE_MAP)
            na += zpk_node_len(zpk_node_map_value(root, s));
    zpk_karabo_ndarray_t *next_array;
    if ((rc = s_alloc(t, ns, na, 1, &next_array)) != 0) {
        zpk_doc_destroy(&doc);
        return S_FAIL(err, 0, rc, "no memory");
    }
    t->docs_[t->n_docs_++] = doc;
    for (size_t s = 0; s < ns; s++) {
        zpk_karabo_source_t *src = &t->sources[t->n_sources++];
        src->ndarrays = next_array;
        if (zpk_node_get_str(zpk_node_map_key(root, s), &src->name, &src->name_len) != 0)
            return S_FAIL(err, 0, ZPK_EFORMAT, "Karabo 1.0: a source name is not a string");
        src->data = zpk_node_map_value(root, s);
        if (zpk_node_type(src->data) != ZPK_TYPE_MAP)
            return S_FAIL(err, 0, ZPK_EFORMAT, "Karabo 1.0: source '%.*s' is not a map",
                          S_SHOWN(src->name_len), src->name);
        src->metadata = zpk_node_map_get(src->data, "metadata");
        if (src->metadata != NULL && zpk_node_type(src->metadata) != ZPK_TYPE_MAP)
            return S_FAIL(err, 0, ZPK_EFORMAT, "Karabo: metadata of '%.*s' is not a map",
                          S_SHOWN(src->name_len), src->name);
        for (size_t i = 0; i < zpk_node_len(src->data); i++) {
            zpk_karabo_ndarray_t *ka = next_array;
            const zpk_node_t *v = zpk_node_map_value(src->data, i);
            bool nd;
            /* numpy scalars ({"nd": false}) stay values of the map */
            if (zpk_node_type(v) != ZPK_TYPE_MAP || zpk_node_get_bool(s_get(v, "nd"), &nd) != 0 ||
                !nd)
                continue;
            if (zpk_node_get_str(zpk_node_map_key(src->data, i), &ka->path, &ka->path_len) != 0)
                return S_FAIL(err, 0, ZPK_EFORMAT, "Karabo 1.0: a key of '%.*s' is not a string",
                              S_SHOWN(src->name_len), src->name);
            if ((rc = s_msgpack_numpy(v, &ka->ndarray, 0, err)) != 0)
                return rc;
            src->n_ndarrays++;
            next_array++;
        }
    }
    t->protocol = ZPK_KARABO_PROTOCOL_1_0;
    return 0;
}

/* Decodes the message held by @p h (one reference, which the train takes
 * on success and the call releases on error). */
static int s_decode(zpk__hold_t *h, const zpk_recv_opts_t *opts, zpk_karabo_train_t *out,
                    zpk_error_t *err)
{
    const zpk_limits_t *lim = opts != NULL ? opts->limits : NULL;
    bool bytes = opts != NULL && (opts->flags & ZPK_RECV_BYTES);
    int rc = h->n == 0 ? S_FAIL(err, 0, ZPK_EFRAME, "Karabo: a message has at least one frame")
             : h->n == 1 ? s_decode_1_0(h->frames, lim, out, err)
                         : s_decode_2_2(h->frames, h->n, lim, bytes, out, err);
    if (rc != 0 && h->n > 0 && zpk_is_header(h->frames[0].data, h->frames[0].size)) {
        /* a zmqpack message read as a train: say so rather than what it breaks */
        zpk__error_reset(err);
        rc = S_FAIL(err, 0, ZPK_EFORMAT, "Karabo: a zmqpack message, not a Karabo train: "
                    "receive it with recv_packed or recv_array");
    }
    if (rc != 0) {
        zpk_karabo_train_free(out);
        zpk__hold_unref(h);
        return rc;
    }
    out->hold_ = h;
    out->frames = h->frames;
    out->n_frames = h->n;
    return 0;
}

int zpk_karabo_decode(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                      zpk_karabo_train_t *out, zpk_error_t *err)
{
    zpk__error_reset(err);
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (frames == NULL && n > 0)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL frames");
    zpk__hold_t *h = out != NULL ? zpk__hold_new(frames, n) : NULL;
    if (h == NULL) { /* the frames were handed over all the same */
        for (size_t i = 0; i < n; i++)
            if (frames[i].free_fn != NULL)
                frames[i].free_fn(frames[i].data, frames[i].hint);
        return out == NULL ? zpk__error(err, ZPK_EINVAL, 0, "NULL output")
                           : zpk__error(err, ZPK_ENOMEM, 0, "no memory for %zu frames", n);
    }
    return s_decode(h, opts, out, err);
}

int zpk_karabo_recv(void *socket, const zpk_recv_opts_t *opts, zpk_karabo_train_t *out,
                    zpk_error_t *err)
{
    zpk__error_reset(err);
    if (out == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL output");
    memset(out, 0, sizeof *out);
    zpk__hold_t *h = NULL;
    int rc = zpk__recv_all(socket, opts != NULL ? opts->flags : 0, &h, err);
    return rc != 0 ? rc : s_decode(h, opts, out, err);
}

/* ---- Karabo bridge: writing -------------------------------------------------------- */

void zpk_karabo_write_source_header(zpk_writer_t *w, const char *source)
{
    if (source == NULL) {
        zpk_writer_set_error(w, ZPK_EINVAL);
        return;
    }
    zpk_write_map(w, 3);
    zpk_write_cstr(w, "source");
    zpk_write_cstr(w, source);
    zpk_write_cstr(w, "content");
    zpk_write_cstr(w, "msgpack");
    zpk_write_cstr(w, "metadata");
}

int zpk_karabo_write_ndarray_header(zpk_writer_t *w, const char *source, const char *path,
                                    const zpk_ndarray_t *a)
{
    if (w == NULL)
        return ZPK_EINVAL;
    char buf[ZPK_DTYPE_STR_SIZE];
    const char *dt = NULL;
    int rc = 0;
    if (source == NULL || path == NULL || a == NULL)
        rc = ZPK_EINVAL;
    else if ((dt = zpk__dtype_numpy_str(a->dtype, buf)) == NULL)
        rc = ZPK_EDTYPE;
    if (rc != 0) {
        zpk_writer_set_error(w, rc);
        return zpk_writer_error(w);
    }
    zpk_write_map(w, 5);
    zpk_write_cstr(w, "source");
    zpk_write_cstr(w, source);
    zpk_write_cstr(w, "content");
    zpk_write_cstr(w, "array");
    zpk_write_cstr(w, "path");
    zpk_write_cstr(w, path);
    zpk_write_cstr(w, "dtype");
    zpk_write_cstr(w, dt);
    zpk_write_cstr(w, "shape");
    zpk_write_array(w, (size_t)a->ndim);
    for (int i = 0; i < a->ndim; i++)
        zpk_write_uint(w, a->shape[i]);
    return zpk_writer_error(w);
}
