/*
 * zpk cat: messages of other ZeroMQ streams (docs/interop.md), shown as
 * one line of JSON each beside zmqpack's own: Karabo bridge trains (its
 * id, its sources, each array's dtype/shape/min/max), imagezmq's JPEG
 * messages, and msgpack-numpy maps inside packed objects (summarised like
 * arrays). The formats the library reads are read with its calls
 * (zmqpack/interop.h); only imagezmq's JPEG message, which the library
 * does not carry, is recognised here.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "zmqpack.h"
#include "zmqpack/json.h"
#include "zpk.h"
#include "zpk_interop.h"

/* ---- Karabo bridge ---------------------------------------------------------------- */

/* A protocol 1.0 message is any map of maps; the bridge always gives each
 * source a "metadata" map, which other MessagePack messages lack. */
static bool s_looks_karabo(const zpk_karabo_train_t *t)
{
    if (t->protocol == ZPK_KARABO_PROTOCOL_2_2)
        return true;
    for (size_t i = 0; i < t->n_sources; i++)
        if (t->sources[i].metadata == NULL)
            return false;
    return t->n_sources > 0;
}

static json_t *s_train_line(const zpk_karabo_train_t *t)
{
    json_t *line = json_object();
    json_object_set_new(line, "kind", json_string("train"));
    json_object_set_new(line, "format", json_string("karabo-bridge"));
    json_object_set_new(line, "protocol",
                        json_string(t->protocol == ZPK_KARABO_PROTOCOL_2_2 ? "2.2" : "1.0"));
    uint64_t tid;
    json_object_set_new(line, "train", zpk_karabo_train_id(t, &tid) == 0
                                           ? json_integer((json_int_t)tid) : json_null());
    json_t *sources = json_object();
    for (size_t i = 0; i < t->n_sources; i++) {
        const zpk_karabo_source_t *s = &t->sources[i];
        json_t *arrays = json_object();
        for (size_t j = 0; j < s->n_ndarrays; j++) {
            /* a train holds many arrays: each is shown by what tells them
             * apart (dtype, shape, min, max), not cat's whole summary */
            json_t *sum = zt_ndarray_summary(&s->ndarrays[j].ndarray, NULL);
            static const char *const drop[] = {"order", "codec", "compressed", "raw", "mean"};
            for (size_t k = 0; k < sizeof drop / sizeof drop[0]; k++)
                json_object_del(sum, drop[k]);
            json_object_setn_new_nocheck(arrays, s->ndarrays[j].path, s->ndarrays[j].path_len,
                                         sum);
        }
        /* the count of the other values (protocol 1.0 keeps the arrays and
         * "metadata" in the source's map) */
        size_t values = zpk_node_len(s->data);
        if (t->protocol == ZPK_KARABO_PROTOCOL_1_0)
            values -= s->n_ndarrays + (s->metadata != NULL);
        json_t *src = json_object();
        json_object_set_new(src, "values", json_integer((json_int_t)values));
        json_object_set_new(src, "arrays", arrays);
        json_object_setn_new_nocheck(sources, s->name, s->name_len, src);
    }
    json_object_set_new(line, "sources", sources);
    return line;
}

json_t *zt_karabo_describe(const zpk_frame_t *frames, size_t n, bool strict)
{
    zpk_karabo_train_t t;
    zpk_error_t err;
    int rc = zpk_karabo_decode(frames, n, NULL, &t, &err);
    json_t *line = NULL;
    if (rc == 0 && (strict || s_looks_karabo(&t))) {
        line = s_train_line(&t);
    } else if (rc != 0 && strict) {
        line = json_object();
        json_object_set_new(line, "kind", json_string("error"));
        json_object_set_new(line, "format", json_string("karabo-bridge"));
        json_object_set_new(line, "error", json_string(err.text[0] ? err.text : zpk_strerror(rc)));
        json_object_set_new(line, "code", json_string(zpk_err_name(rc)));
        if (err.frame >= 0)
            json_object_set_new(line, "frame", json_integer(err.frame));
        json_t *sizes = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(sizes, json_integer((json_int_t)frames[i].size));
        json_object_set_new(line, "sizes", sizes);
    }
    zpk_karabo_train_free(&t);
    return line;
}

json_t *zt_read_karabo(const zpk_frame_t *frames, size_t n, unsigned json_flags)
{
    (void)json_flags;
    return zt_karabo_describe(frames, n, false);
}

/* ---- imagezmq's JPEG messages ----------------------------------------------------- */

static unsigned s_be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Width and height from a JPEG's frame header (the SOFn markers: C0..CF
 * but C4 DHT, C8 JPG, CC DAC); false when none comes before the scan. */
static bool s_jpeg_size(const uint8_t *p, size_t n, unsigned *w, unsigned *h)
{
    size_t i = 2; /* after SOI */
    while (i + 4 <= n) {
        if (p[i] != 0xff)
            return false;
        uint8_t marker = p[i + 1];
        if (marker == 0xff) { /* fill byte */
            i++;
            continue;
        }
        size_t len = s_be16(p + i + 2);
        bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
                   marker != 0xcc;
        if (sof && len >= 7 && i + 2 + len <= n) {
            *h = s_be16(p + i + 5);
            *w = s_be16(p + i + 7);
            return true;
        }
        if (marker == 0xda || len < 2) /* start of scan, or a broken segment */
            return false;
        i += 2 + len;
    }
    return false;
}

/* imagezmq's send_jpg(): a JSON {"msg": text} frame, then the JPEG (SOI
 * and a marker: FF D8 FF). */
json_t *zt_read_jpeg(const zpk_frame_t *frames, size_t n, unsigned json_flags)
{
    (void)json_flags;
    if (n != 2 || frames[0].size == 0 || frames[0].size > 4096 ||
        ((const char *)frames[0].data)[0] != '{' || frames[1].size < 3 ||
        memcmp(frames[1].data, "\xff\xd8\xff", 3) != 0)
        return NULL;
    json_t *head = json_loadb(frames[0].data, frames[0].size, 0, NULL);
    json_t *msg = json_object_get(head, "msg");
    if (!json_is_object(head) || msg == NULL || json_object_size(head) != 1) {
        json_decref(head);
        return NULL;
    }
    json_t *line = json_object();
    json_object_set_new(line, "kind", json_string("jpeg"));
    json_object_set_new(line, "format", json_string("imagezmq"));
    json_object_set(line, "msg", msg);
    json_object_set_new(line, "bytes", json_integer((json_int_t)frames[1].size));
    unsigned w, h;
    if (s_jpeg_size(frames[1].data, frames[1].size, &w, &h)) {
        json_object_set_new(line, "width", json_integer(w));
        json_object_set_new(line, "height", json_integer(h));
    }
    json_decref(head);
    return line;
}

/* ---- msgpack-numpy -------------------------------------------------------------- */

json_t *zt_summarise_msgpack_numpy(const zpk_node_t *n, json_t *j)
{
    zpk_type_t t = zpk_node_type(n);
    if (t == ZPK_TYPE_MAP) {
        zpk_ndarray_t a;
        if (zpk_node_get_msgpack_numpy(n, &a, NULL) == 0) {
            json_t *sum = zt_ndarray_summary(&a, NULL);
            json_object_set_new(sum, "format", json_string("msgpack-numpy"));
            json_decref(j);
            return sum;
        }
        /* a map's JSON: an object keyed by its str keys, or {"$map": [[key,
         * value], ...]} in order (zmqpack/json.h) */
        json_t *pairs = json_object_size(j) == 1 ? json_object_get(j, "$map") : NULL;
        for (size_t i = 0; i < zpk_node_len(n); i++) {
            const zpk_node_t *v = zpk_node_map_value(n, i);
            if (zpk_node_type(v) != ZPK_TYPE_MAP && zpk_node_type(v) != ZPK_TYPE_ARRAY)
                continue;
            const char *key = NULL;
            size_t klen = 0;
            json_t *holder = NULL, *jv = NULL;
            if (json_is_array(pairs)) {
                holder = json_array_get(pairs, i);
                jv = json_array_get(holder, 1);
            } else if (zpk_node_get_str(zpk_node_map_key(n, i), &key, &klen) == 0) {
                jv = json_object_getn(j, key, klen);
            }
            if (jv == NULL)
                continue;
            json_incref(jv);
            jv = zt_summarise_msgpack_numpy(v, jv);
            if (holder != NULL)
                json_array_set_new(holder, 1, jv);
            else
                json_object_setn_new_nocheck(j, key, klen, jv);
        }
    } else if (t == ZPK_TYPE_ARRAY && json_is_array(j)) {
        for (size_t i = 0; i < zpk_node_len(n) && i < json_array_size(j); i++) {
            json_t *jv = json_array_get(j, i);
            json_incref(jv);
            json_array_set_new(j, i, zt_summarise_msgpack_numpy(zpk_node_array_at(n, i), jv));
        }
    }
    return j;
}
