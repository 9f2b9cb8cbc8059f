/*
 * Message layer: the header's wire form (docs/PROTOCOL.md) on plain
 * buffers. Header encode/decode, finding the header after the envelope,
 * checking the payload frames against it, the pyzmq recipe's JSON header.
 * The encode and decode bodies (message_encode.c, message_decode.c) build
 * on it. No zmq.h here.
 */
#include "message_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "msgpack_internal.h"
#include "wire.h"
#include "zmqpack/ndarray.h"
#include "zmqpack/doc.h"

/* ---- small helpers ---------------------------------------------------------- */

bool zpk_is_header(const void *data, size_t size)
{
    return zpk__is_header(data, size);
}

size_t zpk__dtype_align(zpk_dtype_t dt)
{
    size_t a = dt.itemsize;
    if (dt.kind == ZPK_KIND_COMPLEX)
        a /= 2;
    if (a > 16)
        a = 16;
    if (a == 0 || (a & (a - 1)) != 0)
        a = 1;
    return a;
}

void zpk_write_ndarray_ref(zpk_writer_t *w, uint32_t index)
{
    uint8_t b[4] = {(uint8_t)(index >> 24), (uint8_t)(index >> 16), (uint8_t)(index >> 8),
                    (uint8_t)index};
    zpk_write_ext(w, ZPK_EXT_NDARRAY_REF, b, sizeof b);
}

int zpk_node_get_ndarray_ref(const zpk_node_t *n, uint32_t *index)
{
    if (n == NULL || index == NULL)
        return ZPK_EINVAL;
    int8_t type;
    const uint8_t *p;
    size_t len;
    if (zpk_node_type(n) != ZPK_TYPE_EXT || zpk_node_get_ext(n, &type, &p, &len) != 0 ||
        type != ZPK_EXT_NDARRAY_REF)
        return ZPK_ETYPE;
    if (len != 4)
        return ZPK_EFORMAT;
    *index = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return 0;
}

/* ---- header encoding ---------------------------------------------------------- */

/* The fixed header as bytes: wire.h's keys and strings, each behind its
 * fixstr byte (0xa0 | length, checked below), and the values' encodings.
 * tests/test_message.c compares it with what zpk__msg_write_header() writes. */
const uint8_t zpk__hdr_obj_single[ZPK__HDR_OBJ_SINGLE_LEN] =
    "\x84"                                              /* a map of 4 */
    "\xa3" ZPK__KEY_ZPK "\x01"                          /* "zpk": 1 */
    "\xa4" ZPK__KEY_KIND "\xa3" ZPK__KIND_STR_OBJ        /* "kind": "obj" */
    "\xa6" ZPK__KEY_FRAMES "\x00"                       /* "frames": 0 */
    "\xa6" ZPK__KEY_SINGLE "\xc3";                      /* "single": true */

_Static_assert(ZPK_PROTOCOL_VERSION == 1 && sizeof ZPK__KEY_ZPK == 4 &&
                   sizeof ZPK__KEY_KIND == 5 && sizeof ZPK__KIND_STR_OBJ == 4 &&
                   sizeof ZPK__KEY_FRAMES == 7 && sizeof ZPK__KEY_SINGLE == 7,
               "the fixstr bytes of zpk__hdr_obj_single follow wire.h");

/* The payload of a single-frame message holding one raw, one-chunk array
 * starts right after the header map: how far to align it (1: no pad). */
static size_t s_pad_align(int kind, bool single, const zpk_ndarray_enc_t *arrs, size_t narrs)
{
    if (kind != ZPK__KIND_NDARRAY || !single || narrs != 1 || arrs[0].info.nchunks != 1 ||
        arrs[0].info.chunks == NULL || arrs[0].info.chunks[0].compressed)
        return 1;
    return zpk__dtype_align(arrs[0].info.dtype);
}

void zpk__msg_write_header(zpk_writer_t *w, int kind, bool single, size_t nframes,
                           const zpk_ndarray_enc_t *obj_enc, const zpk_ndarray_enc_t *arrs,
                           size_t narrs)
{
    size_t start = zpk_writer_size(w);
    size_t align = s_pad_align(kind, single, arrs, narrs);
    size_t pairs = 3 + (single ? 1 : 0) + (obj_enc != NULL ? 1 : 0) +
                   (kind == ZPK__KIND_OBJ ? 0 : 1) + (align > 1 ? 1 : 0);
    zpk_write_map(w, pairs);
    ZPK__WRITE_LIT(w, ZPK__KEY_ZPK);
    zpk_write_uint(w, ZPK_PROTOCOL_VERSION);
    ZPK__WRITE_LIT(w, ZPK__KEY_KIND);
    if (kind == ZPK__KIND_OBJ)
        ZPK__WRITE_LIT(w, ZPK__KIND_STR_OBJ);
    else if (kind == ZPK__KIND_NDARRAY)
        ZPK__WRITE_LIT(w, ZPK__KIND_STR_NDARRAY);
    else
        ZPK__WRITE_LIT(w, ZPK__KIND_STR_MIXED);
    ZPK__WRITE_LIT(w, ZPK__KEY_FRAMES);
    zpk_write_uint(w, nframes);
    if (single) {
        ZPK__WRITE_LIT(w, ZPK__KEY_SINGLE);
        zpk_write_bool(w, true);
    }
    if (obj_enc != NULL) {
        ZPK__WRITE_LIT(w, ZPK__KEY_COMPRESSED_OBJ);
        zpk_ndarray_header_write(w, &obj_enc->info);
    }
    if (kind == ZPK__KIND_NDARRAY) {
        ZPK__WRITE_LIT(w, ZPK__KEY_NDARRAY);
        zpk_ndarray_header_write(w, &arrs[0].info);
    } else if (kind == ZPK__KIND_MIXED) {
        ZPK__WRITE_LIT(w, ZPK__KEY_NDARRAYS);
        zpk_write_array(w, narrs);
        for (size_t i = 0; i < narrs; i++)
            zpk_ndarray_header_write(w, &arrs[i].info);
    }
    if (align > 1) {
        /* "pad": a str of 0..align-1 spaces, so that the map ends (and the
         * payload starts) at a multiple of the dtype's alignment from the
         * frame's start (docs/PROTOCOL.md, Alignment); readers skip it */
        static const char spaces[32] = "                                ";
        size_t len = zpk_writer_size(w) - start + 5; /* + "pad" and the str header */
        size_t n = (align - len % align) % align;
        ZPK__WRITE_LIT(w, ZPK__KEY_PAD);
        zpk_write_str(w, spaces, n);
    }
}

int zpk__recipe_write(const zpk_ndarray_info_t *info, const char *meta, char *buf, size_t cap,
                      char **heap, size_t *len, zpk_error_t *err)
{
    *heap = NULL;
    if (info->ndim > 1 && info->order != ZPK_ORDER_C)
        return zpk__error(err, ZPK_EINVAL, 0, "the pyzmq recipe has no order: an F-order "
                                              "ndarray cannot be sent as one");
    char dts[ZPK_DTYPE_STR_SIZE];
    const char *dt;
    if (zpk_dtype_is_native(info->dtype)) {
        dt = zpk_dtype_name(info->dtype);
    } else {
        dt = zpk_dtype_format(info->dtype, dts, sizeof dts) < 0 ? NULL : dts;
    }
    if (dt == NULL)
        return zpk__error(err, ZPK_EDTYPE, 0, "the pyzmq recipe cannot name this dtype");
    json_t *root;
    if (meta != NULL) {
        /* the caller's keys first, in their order, as imagezmq writes them */
        json_error_t je;
        root = json_loads(meta, JSON_REJECT_DUPLICATES, &je);
        if (root == NULL)
            return zpk__error(err, ZPK_EINVAL, 0, "recipe_meta is not JSON: %s (column %d)",
                              je.text, je.column);
        const char *own = json_is_object(root) == 0                          ? ""
                          : json_object_get(root, ZPK__KEY_DTYPE) != NULL ? ZPK__KEY_DTYPE
                          : json_object_get(root, ZPK__KEY_SHAPE) != NULL ? ZPK__KEY_SHAPE
                                                                          : NULL;
        if (own != NULL) {
            json_decref(root);
            return *own == '\0'
                       ? zpk__error(err, ZPK_EINVAL, 0, "recipe_meta must be a JSON object")
                       : zpk__error(err, ZPK_EINVAL, 0,
                                    "recipe_meta cannot set \"%s\": the ndarray's own", own);
        }
    } else {
        root = json_object();
    }
    json_t *shape = json_array();
    if (shape == NULL || root == NULL) {
        json_decref(shape);
        json_decref(root);
        return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
    }
    int bad = 0;
    for (int i = 0; i < info->ndim; i++)
        bad |= json_array_append_new(shape, json_integer((json_int_t)info->shape[i]));
    bad |= json_object_set_new(root, ZPK__KEY_DTYPE, json_string(dt));
    bad |= json_object_set_new(root, ZPK__KEY_SHAPE, shape);
    /* Python's json.dumps() spelling: ", " and ": ", non-ASCII escaped */
    size_t flags = JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
    size_t need = bad ? 0 : json_dumpb(root, NULL, 0, flags);
    int rc = 0;
    if (need == 0) {
        rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
    } else if (need > ZPK_RECIPE_HEADER_MAX) {
        rc = zpk__error(err, ZPK_EINVAL, 0,
                        "the recipe's JSON header would be %zu bytes, over the %d that "
                        "receivers accept: shorten recipe_meta",
                        need, ZPK_RECIPE_HEADER_MAX);
    } else {
        if (need > cap) {
            buf = *heap = zpk__malloc(need);
            if (buf == NULL)
                rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
        }
        if (rc == 0)
            *len = json_dumpb(root, buf, need, flags);
    }
    json_decref(root);
    return rc;
}

int zpk__recipe_meta(const zpk_frame_t *header, char **out, zpk_error_t *err)
{
    /* zpk__msg_parse() read this header already (valid JSON, an object):
     * only memory can fail here */
    json_t *root = header != NULL ? json_loadb(header->data, header->size, 0, NULL) : json_object();
    const size_t flags = JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
    size_t need = 0;
    if (root != NULL) {
        json_object_del(root, ZPK__KEY_DTYPE);
        json_object_del(root, ZPK__KEY_SHAPE);
        need = json_dumpb(root, NULL, 0, flags);
    }
    *out = need > 0 ? zpk__malloc(need + 1) : NULL;
    if (*out != NULL) {
        json_dumpb(root, *out, need, flags);
        (*out)[need] = '\0';
    }
    json_decref(root);
    return *out != NULL ? 0 : zpk__error(err, ZPK_ENOMEM, 0, "no memory for the recipe's keys");
}

/* ---- decoding ------------------------------------------------------------------- */

void zpk__msg_free(zpk__msg_t *m)
{
    if (m == NULL)
        return;
    /* only the chunk tables are owned; the memset below clears the rest */
    zpk__free(m->obj_info.chunks);
    for (size_t i = 0; i < m->n_ndarrays; i++)
        zpk__free(m->ndarrays[i].chunks);
    if (m->ndarrays != m->arrays_in)
        zpk__free(m->ndarrays);
    if (m->spans != m->spans_in)
        zpk__free(m->spans);
    memset(m, 0, sizeof *m);
}

static int s_fail(zpk_error_t *err, int code, int frame, size_t off, const char *text)
{
    if (err != NULL && err->code == 0) {
        zpk__error(err, code, off, "%s", text);
        err->frame = frame;
    } else if (err != NULL && err->frame < 0) {
        err->frame = frame;
    }
    return code;
}


/* Does frame @p f look like the pyzmq recipe's JSON header? */
static bool s_looks_json(const zpk_frame_t *f)
{
    const uint8_t *p = f->data;
    size_t i = 0;
    while (i < f->size && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < f->size && p[i] == '{';
}

static int s_parse_recipe(const zpk_frame_t *frames, size_t h,
                          const zpk_ndarray_opts_t *aopts, zpk__msg_t *m, zpk_error_t *err)
{
    if (frames[h].size > ZPK_RECIPE_HEADER_MAX)
        return s_fail(err, ZPK_EFOREIGN, (int)h, 0, "recipe: JSON header too long");
    json_error_t je;
    json_t *root = json_loadb(frames[h].data, frames[h].size, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return s_fail(err, ZPK_EFOREIGN, (int)h, (size_t)je.position, "recipe: bad JSON");
    int rc = 0;
    json_t *dt = json_object_get(root, ZPK__KEY_DTYPE);
    json_t *shape = json_object_get(root, ZPK__KEY_SHAPE);
    if (!json_is_object(root) || !json_is_string(dt) || !json_is_array(shape)) {
        rc = s_fail(err, ZPK_EFOREIGN, (int)h, 0, "recipe: no dtype and shape");
        goto out;
    }
    m->ndarrays = zpk__calloc(1, sizeof *m->ndarrays);
    m->spans = m->spans_in;
    if (m->ndarrays == NULL) {
        rc = s_fail(err, ZPK_ENOMEM, (int)h, 0, "no memory");
        goto out;
    }
    m->n_ndarrays = 1;
    zpk_ndarray_info_t *info = &m->ndarrays[0];
    rc = zpk_dtype_parse(json_string_value(dt), json_string_length(dt), &info->dtype, NULL);
    if (rc != 0) {
        rc = s_fail(err, rc, (int)h, 0, "recipe: unknown dtype");
        goto out;
    }
    size_t nd = json_array_size(shape);
    if (nd > ZPK_MAX_NDIM) {
        rc = s_fail(err, ZPK_ESHAPE, (int)h, 0, "recipe: more than 32 dimensions");
        goto out;
    }
    info->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0) {
            rc = s_fail(err, ZPK_ESHAPE, (int)h, 0, "recipe: shape is not a list of sizes");
            goto out;
        }
        info->shape[i] = (size_t)json_integer_value(d);
    }
    rc = zpk_shape_nbytes(info->dtype, info->ndim, info->shape, &info->nbytes);
    if (rc != 0) {
        rc = s_fail(err, rc, (int)h, 0, "recipe: shape overflows");
        goto out;
    }
    size_t max = aopts != NULL ? aopts->max_ndarray_bytes : ZPK_DEFAULT_MAX_NDARRAY_BYTES;
    if (info->nbytes > max) {
        rc = s_fail(err, ZPK_ELIMIT, (int)h, 0, "recipe: array over max_ndarray_bytes");
        goto out;
    }
    if (frames[h + 1].size != info->nbytes) {
        rc = s_fail(err, ZPK_ESHAPE, (int)h + 1, 0, "recipe: payload size differs from the shape");
        goto out;
    }
    info->order = ZPK_ORDER_C;
    zpk_codec_default(&info->codec, ZPK_CODEC_NONE);
    info->chunk_size = info->nbytes;
    info->nthreads = 1;
    if (info->nbytes > 0) {
        info->chunks = zpk__calloc(1, sizeof *info->chunks);
        if (info->chunks == NULL) {
            rc = s_fail(err, ZPK_ENOMEM, (int)h, 0, "no memory");
            goto out;
        }
        info->nchunks = 1;
        info->chunks[0] = (zpk_chunk_info_t){info->nbytes, info->nbytes, false};
        info->stored_bytes = info->nbytes;
        m->spans[0] = (zpk_span_t){frames[h + 1].data, frames[h + 1].size};
        m->nspans = 1;
    }
    m->kind = ZPK__KIND_RECIPE;
    m->header = h;
out:
    json_decref(root);
    if (rc != 0)
        zpk__msg_free(m); /* the caller owns m only on success */
    return rc;
}

/* Known header keys, as bits of the "seen" mask. */
enum { S_K_KIND = 1, S_K_FRAMES = 2, S_K_SINGLE = 4, S_K_PACKED = 8, S_K_ARRAY = 16, S_K_ARRAYS = 32 };

/*
 * Fast path for the start of an array message's header, as
 * zpk__msg_write_header() writes it: {"zpk": 1, "kind": "array", "frames":
 * n, ["single": true,] ...}. On a match the reader is moved past those
 * pairs, and *@p done and *@p seen say which; the general walk reads the
 * rest. Anything else (another order, kind, encoding, tight limits)
 * returns false with nothing consumed.
 */
static bool s_header_fast(zpk_reader_t *r, zpk__msg_t *m, uint64_t *frames_decl,
                          uint32_t *pairs, uint32_t *done, unsigned *seen)
{
    const zpk_limits_t *lim = zpk__reader_limits(r);
    if (zpk__msg_fast_off || lim->max_str_len < 31 || lim->max_map_len < 15)
        return false;
    size_t avail;
    const uint8_t *start = zpk__reader_window(r, &avail), *p = start, *end = start + avail;
    if (avail == 0 || p[0] < 0x83 || p[0] > 0x8f)
        return false;
    uint32_t n = p[0] & 0x0f;
    p++;
    if (!ZPK__MATCH_LIT(&p, end, ZPK__KEY_ZPK) || p == end || p[0] != ZPK_PROTOCOL_VERSION)
        return false;
    p++;
    if (!ZPK__MATCH_LIT(&p, end, ZPK__KEY_KIND) || !ZPK__MATCH_LIT(&p, end, ZPK__KIND_STR_NDARRAY) ||
        !ZPK__MATCH_LIT(&p, end, ZPK__KEY_FRAMES) || p == end)
        return false;
    if (p[0] < 0x80) {
        *frames_decl = p[0];
        p++;
    } else if (p[0] == 0xcc && end - p >= 2) {
        *frames_decl = p[1];
        p += 2;
    } else {
        return false;
    }
    *done = 3;
    *seen = S_K_KIND | S_K_FRAMES;
    const uint8_t *q = p;
    if (n >= 4 && ZPK__MATCH_LIT(&q, end, ZPK__KEY_SINGLE) && q < end && q[0] == 0xc3) {
        p = q + 1;
        m->single = true;
        *done = 4;
        *seen |= S_K_SINGLE;
    }
    m->kind = ZPK__KIND_NDARRAY;
    *pairs = n;
    zpk__reader_advance(r, (size_t)(p - start));
    return true;
}

static int s_parse_header(const zpk_frame_t *hf, int hi, const zpk_limits_t *lim,
                          const zpk_ndarray_opts_t *aopts, zpk__msg_t *m, uint64_t *frames_decl,
                          size_t *payload_off, zpk_error_t *err)
{
    zpk_reader_t r;
    zpk_reader_init(&r, hf->data, hf->size, lim);
    zpk_tag_t t;
    const void *p;
    int rc;
    unsigned seen = 0;
    uint32_t pairs, first = 1;
    if (s_header_fast(&r, m, frames_decl, &pairs, &first, &seen))
        goto walk;
    rc = zpk_read_tag(&r, &t);
    if (rc != 0 || t.type != ZPK_TYPE_MAP)
        return s_fail(err, ZPK_EFOREIGN, hi, 0, "not a zmqpack header");
    pairs = t.v.len;
    /* first pair: "zpk": version (zpk_is_header() checked the key) */
    rc = zpk_read_item(&r, &t, &p);
    if (rc == 0)
        rc = zpk_read_tag(&r, &t);
    if (rc != 0)
        return s_fail(err, rc, hi, zpk_reader_error_offset(&r), "truncated header");
    if (t.type != ZPK_TYPE_UINT || t.v.u == 0)
        return s_fail(err, ZPK_EFORMAT, hi, 5, "protocol version is not a positive integer");
    if (t.v.u > ZPK_PROTOCOL_VERSION)
        return s_fail(err, ZPK_EVERSION, hi, 5, "newer protocol version");
walk:
    for (uint32_t i = first; i < pairs; i++) {
        size_t koff = zpk_reader_offset(&r);
        rc = zpk_read_item(&r, &t, &p);
        if (rc != 0)
            return s_fail(err, rc, hi, zpk_reader_error_offset(&r), "bad header key");
        if (t.type != ZPK_TYPE_STR)
            return s_fail(err, ZPK_EFORMAT, hi, koff, "header key is not a str");
        const char *k = p;
        size_t kl = t.v.len;
        unsigned bit = ZPK__STR_IS(k, kl, ZPK__KEY_KIND)     ? S_K_KIND
                       : ZPK__STR_IS(k, kl, ZPK__KEY_FRAMES) ? S_K_FRAMES
                       : ZPK__STR_IS(k, kl, ZPK__KEY_SINGLE) ? S_K_SINGLE
                       : ZPK__STR_IS(k, kl, ZPK__KEY_COMPRESSED_OBJ) ? S_K_PACKED
                       : ZPK__STR_IS(k, kl, ZPK__KEY_NDARRAY)  ? S_K_ARRAY
                       : ZPK__STR_IS(k, kl, ZPK__KEY_NDARRAYS) ? S_K_ARRAYS
                       : ZPK__STR_IS(k, kl, ZPK__KEY_ZPK)    ? 0x8000u
                                                          : 0;
        if (bit == 0) { /* unknown key: skipped (forward compatibility) */
            rc = zpk_reader_skip(&r);
            if (rc != 0)
                return s_fail(err, rc, hi, zpk_reader_error_offset(&r), "bad header value");
            continue;
        }
        if (seen & bit || bit == 0x8000u)
            return s_fail(err, ZPK_EFORMAT, hi, koff, "duplicate header key");
        /* one list of ndarray headers: the second of "array" and "arrays" would
         * replace the first's (and leak its chunk table) */
        if ((bit & (S_K_ARRAY | S_K_ARRAYS)) && (seen & (S_K_ARRAY | S_K_ARRAYS)))
            return s_fail(err, ZPK_EFORMAT, hi, koff, "a header with both array and arrays");
        seen |= bit;
        size_t voff = zpk_reader_offset(&r);
        switch (bit) {
        case S_K_KIND:
            rc = zpk_read_item(&r, &t, &p);
            if (rc != 0 || t.type != ZPK_TYPE_STR)
                return s_fail(err, rc ? rc : ZPK_EFORMAT, hi, voff, "kind is not a str");
            if (ZPK__STR_IS(p, t.v.len, ZPK__KIND_STR_OBJ))
                m->kind = ZPK__KIND_OBJ;
            else if (ZPK__STR_IS(p, t.v.len, ZPK__KIND_STR_NDARRAY))
                m->kind = ZPK__KIND_NDARRAY;
            else if (ZPK__STR_IS(p, t.v.len, ZPK__KIND_STR_MIXED))
                m->kind = ZPK__KIND_MIXED;
            else
                return s_fail(err, ZPK_EFORMAT, hi, voff, "unknown kind");
            break;
        case S_K_FRAMES:
            rc = zpk_read_tag(&r, &t);
            if (rc != 0 || t.type != ZPK_TYPE_UINT)
                return s_fail(err, rc ? rc : ZPK_EFORMAT, hi, voff, "frames is not a uint");
            *frames_decl = t.v.u;
            break;
        case S_K_SINGLE:
            rc = zpk_read_tag(&r, &t);
            if (rc != 0 || t.type != ZPK_TYPE_BOOL)
                return s_fail(err, rc ? rc : ZPK_EFORMAT, hi, voff, "single is not a bool");
            m->single = t.v.b;
            break;
        case S_K_PACKED:
            rc = zpk_ndarray_header_read(&r, aopts, &m->obj_info, err);
            if (rc != 0)
                return s_fail(err, rc, hi, voff, "bad packed header");
            m->obj_compressed = true;
            if (m->obj_info.ndim != 1 || m->obj_info.dtype.itemsize != 1 ||
                m->obj_info.dtype.kind != ZPK_KIND_UINT)
                return s_fail(err, ZPK_EFORMAT, hi, voff, "packed object is not a |u1 vector");
            break;
        case S_K_ARRAY:
            m->ndarrays = m->arrays_in;
            rc = zpk_ndarray_header_read(&r, aopts, &m->ndarrays[0], err);
            if (rc != 0)
                return s_fail(err, rc, hi, voff, "bad array header");
            m->n_ndarrays = 1;
            break;
        case S_K_ARRAYS:
            rc = zpk_read_tag(&r, &t);
            if (rc != 0 || t.type != ZPK_TYPE_ARRAY)
                return s_fail(err, rc ? rc : ZPK_EFORMAT, hi, voff, "arrays is not an array");
            /* each header is at least one byte: bounded by the input */
            if (t.v.len > zpk_reader_remaining(&r))
                return s_fail(err, ZPK_EFORMAT, hi, voff, "arrays longer than the header");
            if (t.v.len > 0) {
                m->ndarrays = zpk__calloc(t.v.len, sizeof *m->ndarrays);
                if (m->ndarrays == NULL)
                    return s_fail(err, ZPK_ENOMEM, hi, voff, "no memory");
            }
            for (uint32_t j = 0; j < t.v.len; j++) {
                rc = zpk_ndarray_header_read(&r, aopts, &m->ndarrays[j], err);
                if (rc != 0)
                    return s_fail(err, rc, hi, zpk_reader_offset(&r), "bad array header");
                m->n_ndarrays = j + 1;
            }
            break;
        default:
            break;
        }
    }
    if (!(seen & S_K_KIND) || !(seen & S_K_FRAMES))
        return s_fail(err, ZPK_EFORMAT, hi, 0, "header without kind or frames");
    bool ok = m->kind == ZPK__KIND_OBJ     ? !(seen & (S_K_ARRAY | S_K_ARRAYS))
              : m->kind == ZPK__KIND_NDARRAY ? (seen & S_K_ARRAY) && !(seen & (S_K_ARRAYS | S_K_PACKED))
                                           : (seen & S_K_ARRAYS) && !(seen & S_K_ARRAY);
    if (!ok)
        return s_fail(err, ZPK_EFORMAT, hi, 0, "header keys do not match its kind");
    *payload_off = zpk_reader_offset(&r);
    if (!m->single && zpk_reader_remaining(&r) != 0)
        return s_fail(err, ZPK_EFORMAT, hi, *payload_off, "bytes after the header map");
    return 0;
}

int zpk__msg_parse(const zpk_frame_t *frames, size_t n, const zpk_limits_t *lim,
                   const zpk_ndarray_opts_t *aopts, zpk__msg_t *m, zpk_error_t *err)
{
    memset(m, 0, sizeof *m);
    if (n == 0)
        return s_fail(err, ZPK_EFRAME, 0, 0, "empty message");
    size_t h = zpk__find_header(frames, n);
    if (h == n) {
        /* no header: the pyzmq recipe is the last two frames, after any envelope */
        if (n >= 2 && s_looks_json(&frames[n - 2]))
            return s_parse_recipe(frames, n - 2, aopts, m, err);
        return s_fail(err, ZPK_EFOREIGN, 0, 0,
                      "not a zmqpack message: no frame starts like a header (8N a3 'zpk')");
    }
    m->header = h;
    uint64_t frames_decl = 0;
    size_t payload_off = 0;
    int rc = s_parse_header(&frames[h], (int)h, lim, aopts, m, &frames_decl, &payload_off, err);
    if (rc != 0) {
        zpk__msg_free(m);
        return rc;
    }
    /* count the spans the header asks for */
    size_t need = 0;
    if (m->kind != ZPK__KIND_NDARRAY)
        m->obj_nspans = m->obj_compressed ? m->obj_info.nchunks : 1;
    need = m->obj_nspans;
    for (size_t i = 0; i < m->n_ndarrays; i++)
        if (!zpk__add_size(need, m->ndarrays[i].nchunks, &need))
            goto bad_count;
    size_t got = n - h - 1;
    if (m->single ? frames_decl != 0 : frames_decl != need)
        goto bad_count;
    if (!m->single && got != need) {
        rc = s_fail(err, ZPK_EFRAME, (int)(got < need ? n : h + 1 + need), 0,
                    got < need ? "payload frame missing" : "unexpected extra frame");
        zpk__msg_free(m);
        return rc;
    }
    if (m->single && got != 0) {
        rc = s_fail(err, ZPK_EFRAME, (int)h + 1, 0, "frame after a single-frame message");
        zpk__msg_free(m);
        return rc;
    }
    if (need > 0) {
        m->spans = need <= sizeof m->spans_in / sizeof m->spans_in[0]
                       ? m->spans_in
                       : zpk__calloc(need, sizeof *m->spans);
        if (m->spans == NULL) {
            zpk__msg_free(m);
            return s_fail(err, ZPK_ENOMEM, (int)h, 0, "no memory");
        }
    }
    m->nspans = need;
    if (!m->single) {
        for (size_t i = 0; i < need; i++)
            m->spans[i] = (zpk_span_t){frames[h + 1 + i].data, frames[h + 1 + i].size};
        /* every chunk frame must be exactly as long as its table says */
        size_t k = 0;
        for (size_t c = 0; m->obj_compressed && c < m->obj_info.nchunks; c++, k++)
            if (m->spans[k].size != m->obj_info.chunks[c].stored)
                goto bad_size;
        k = m->obj_nspans;
        for (size_t i = 0; i < m->n_ndarrays; i++)
            for (size_t c = 0; c < m->ndarrays[i].nchunks; c++, k++)
                if (m->spans[k].size != m->ndarrays[i].chunks[c].stored)
                    goto bad_size;
        return 0;
    bad_size:
        zpk__msg_free(m);
        return s_fail(err, ZPK_ESHAPE, (int)(h + 1 + k), 0,
                      "a payload frame's size differs from the header's chunk table");
    }
    /* single frame: split the bytes after the map by the declared sizes */
    m->payload_off = payload_off;
    const uint8_t *p = (const uint8_t *)frames[h].data + payload_off;
    size_t left = frames[h].size - payload_off;
    size_t arr_bytes = 0;
    for (size_t i = 0; i < m->n_ndarrays; i++)
        if (!zpk__add_size(arr_bytes, m->ndarrays[i].stored_bytes, &arr_bytes))
            goto bad_count;
    size_t obj_bytes = 0;
    if (m->obj_compressed)
        obj_bytes = m->obj_info.stored_bytes;
    else if (m->kind != ZPK__KIND_NDARRAY)
        obj_bytes = left >= arr_bytes ? left - arr_bytes : 0;
    size_t total;
    if (!zpk__add_size(obj_bytes, arr_bytes, &total) || total != left) {
        rc = s_fail(err, ZPK_ESHAPE, (int)h, payload_off, "single-frame payload size differs from the header");
        zpk__msg_free(m);
        return rc;
    }
    size_t k = 0;
    if (m->kind != ZPK__KIND_NDARRAY) {
        if (m->obj_compressed) {
            for (size_t c = 0; c < m->obj_info.nchunks; c++) {
                m->spans[k++] = (zpk_span_t){p, m->obj_info.chunks[c].stored};
                p += m->obj_info.chunks[c].stored;
            }
        } else {
            m->spans[k++] = (zpk_span_t){p, obj_bytes};
            p += obj_bytes;
        }
    }
    for (size_t i = 0; i < m->n_ndarrays; i++)
        for (size_t c = 0; c < m->ndarrays[i].nchunks; c++) {
            m->spans[k++] = (zpk_span_t){p, m->ndarrays[i].chunks[c].stored};
            p += m->ndarrays[i].chunks[c].stored;
        }
    return 0;
bad_count:
    zpk__msg_free(m);
    return s_fail(err, ZPK_EFORMAT, (int)h, 0, "frames does not match the chunk tables");
}
