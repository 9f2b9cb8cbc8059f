/*
 * zpk cat / zpk pub: put zmqpack messages on a socket and take them off,
 * one JSON line per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>
#include <zmqpack.h>
#include <zmqpack/json.h>

#include "zpk.h"
#include "zpk_interop.h"
#include "zpk_ndarray.h"
#include "zpk_msg.h"

/* ---- shared: sockets -------------------------------------------------------- */

typedef struct s_type {
    const char *name;
    int type;
} s_type_t;

static int s_socket_type(const s_type_t *table, const char *name)
{
    for (; table->name; table++)
        if (!strcmp(table->name, name))
            return table->type;
    return -1;
}

/*
 * Who a socket of @p type talks to. libzmq drops a connection to a peer of
 * a type that does not match without a word, so nothing arrives: the
 * timeouts say this, as the likeliest mistake.
 */
static const char *s_peers(int type)
{
    switch (type) {
    case ZMQ_SUB: return "a SUB socket hears only PUB peers";
    case ZMQ_PULL: return "a PULL socket hears only PUSH peers";
    case ZMQ_PAIR: return "a PAIR socket talks only to a PAIR";
    case ZMQ_REP: return "a REP socket answers only REQ and DEALER peers";
    case ZMQ_ROUTER: return "a ROUTER socket answers REQ, DEALER and ROUTER peers";
    case ZMQ_DEALER: return "a DEALER socket talks to REP, ROUTER and DEALER peers";
    case ZMQ_XPUB: return "a PUB socket feeds only SUB peers";
    case ZMQ_PUSH: return "a PUSH socket feeds only PULL peers";
    case ZMQ_REQ: return "a REQ socket needs a REP or ROUTER peer";
    default: return "is the peer's socket type the right one?";
    }
}

/* ---- shared: CURVE (zmqpack/curve.h) ------------------------------------------ */

/* The --curve-* options of cat and pub. */
typedef struct s_curve {
    const char *secret;     /* --curve-secret KEY: our keypair */
    const char *server_key; /* --curve-server-key KEY: we are a client of this server */
    const char *allow[64];  /* --curve-allow KEY: admitted client keys (server) */
    int nallow;
    zpk_curve_auth_t *auth;
} s_curve_t;

#define S_CURVE_HELP \
    "  --curve-secret KEY  CURVE: this side's keypair, a key file (zcert format, see\n" \
    "                      zmqpack/curve.h) or a Z85 secret key; alone it makes this\n" \
    "                      side the CURVE server\n" \
    "  --curve-server-key KEY  CURVE: be a client of the server with this public key\n" \
    "                      (key file or Z85); own keys from --curve-secret, else fresh\n" \
    "  --curve-allow KEY   CURVE server: admit only these client public keys (file or\n" \
    "                      Z85; repeatable); default: any client that knows our key\n"

/* Reads KEY (a key file, or a Z85 key when no such file exists). */
static int s_curve_key(const char *cmd, const char *opt, const char *arg, char *pub, char *sec)
{
    struct stat st;
    int e;
    if (zpk_curve_key_valid(arg) && stat(arg, &st) != 0) {
        if (sec == NULL) {
            memcpy(pub, arg, ZPK_CURVE_KEY_SIZE);
            return 0;
        }
        memcpy(sec, arg, ZPK_CURVE_KEY_SIZE);
        e = zpk_curve_public(pub, sec);
    } else {
        e = zpk_curve_load(arg, pub, sec);
    }
    if (e == 0)
        return 0;
    zt_fail(cmd, e, "%s '%s'", opt, arg);
    return e == ZPK_EINVAL || e == ZPK_EFORMAT || e == ZPK_ENOTFOUND || e == -ENOENT
               ? ZT_EXIT_USAGE : ZT_EXIT_ERROR;
}

/* Applies the --curve-* options to @p s (before bind/connect). */
static int s_curve_apply(const char *cmd, s_curve_t *c, void *ctx, void *s)
{
    if (!c->secret && !c->server_key) {
        if (c->nallow)
            return zt_usage(cmd, "--curve-allow needs --curve-secret (the server's key)");
        return 0;
    }
    if (c->nallow && c->server_key)
        return zt_usage(cmd, "--curve-allow is for the server side (no --curve-server-key)");
    if (!zpk_curve_available()) {
        zt_fail(cmd, -ENOTSUP, "this libzmq has no CURVE support");
        return ZT_EXIT_ERROR;
    }
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE], srv[ZPK_CURVE_KEY_SIZE];
    int rc = 0;
    if (c->secret)
        rc = s_curve_key(cmd, "--curve-secret", c->secret, pub, sec);
    if (rc == 0 && c->server_key)
        rc = s_curve_key(cmd, "--curve-server-key", c->server_key, srv, NULL);
    if (rc == 0 && c->nallow) {
        char keys[64][ZPK_CURVE_KEY_SIZE];
        const char *list[64];
        for (int i = 0; i < c->nallow && rc == 0; i++) {
            rc = s_curve_key(cmd, "--curve-allow", c->allow[i], keys[i], NULL);
            list[i] = keys[i];
        }
        int e = rc == 0 ? zpk_curve_auth_new(ctx, list, (size_t)c->nallow, &c->auth) : 0;
        if (e)
            rc = zt_fail(cmd, e, "starting the CURVE authenticator");
    }
    if (rc == 0) {
        int e = c->server_key ? zpk_curve_client(s, srv, c->secret ? pub : NULL,
                                                 c->secret ? sec : NULL)
                              : zpk_curve_server(s, sec);
        if (e)
            rc = zt_fail(cmd, e, "setting up CURVE");
    }
    memset(sec, 0, sizeof sec);
    return rc;
}

/* Parses one --curve-* option (getopt codes 'S', 'K', 'A'); false when not one. */
static bool s_curve_opt(s_curve_t *c, int opt, const char *arg, int *rc, const char *cmd)
{
    switch (opt) {
    case 'S': c->secret = arg; return true;
    case 'K': c->server_key = arg; return true;
    case 'A':
        if (c->nallow == 64)
            *rc = zt_usage(cmd, "at most 64 --curve-allow");
        else
            c->allow[c->nallow++] = arg;
        return true;
    default: return false;
    }
}

/* ---- .npy files -> arrays ----------------------------------------------------- */

/*
 * Maps @p path and describes its array in @p a (data points into the
 * mapping, released with munmap(*map, *map_len)). Returns 0 or an exit code
 * after printing the reason.
 */
static int s_load_npy(const char *cmd, const char *path, zpk_ndarray_t *a, void **map,
                      size_t *map_len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return zt_fail(cmd, -errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return zt_fail(cmd, 0, "'%s': empty or unreadable file", path);
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return zt_fail(cmd, -errno, "cannot map '%s'", path);
    zt_npy_t npy;
    const char *why = NULL;
    int rc = ZT_EXIT_ERROR;
    if (zt_npy_parse(m, len, &npy, &why) != 0) {
        zt_fail(cmd, 0, "'%s': %s", path, why);
        goto fail;
    }
    zpk_dtype_t dt;
    zpk_error_t err;
    zpk_error_clear(&err);
    int e = zpk_dtype_parse(npy.descr, strlen(npy.descr), &dt, &err);
    if (e) {
        zt_fail(cmd, e, "'%s': dtype '%s'", path, npy.descr);
        goto fail;
    }
    size_t shape[ZPK_MAX_NDIM];
    for (int i = 0; i < npy.ndim; i++) {
        if (npy.shape[i] > SIZE_MAX) {
            zt_fail(cmd, ZPK_EOVERFLOW, "'%s': shape", path);
            goto fail;
        }
        shape[i] = (size_t)npy.shape[i];
    }
    e = zpk_ndarray_init(a, dt, npy.ndim, shape, npy.fortran_order ? ZPK_ORDER_F : ZPK_ORDER_C,
                       (void *)npy.data);
    if (e) {
        zt_fail(cmd, e, "'%s': shape", path);
        goto fail;
    }
    if (a->nbytes > npy.data_len) {
        zt_fail(cmd, 0, "'%s': truncated: the header declares %zu bytes of data, the file has %zu",
                path, a->nbytes, npy.data_len);
        goto fail;
    }
    *map = m;
    *map_len = len;
    return 0;
fail:
    munmap(m, len);
    return rc;
}


/* ---- zpk cat ------------------------------------------------------------------ */

static void s_cat_help(FILE *f)
{
    fprintf(f,
        "usage: zpk cat [OPTIONS] ENDPOINT\n"
        "\n"
        "Connects to ENDPOINT (or binds with --bind) and prints every message as one\n"
        "line of JSON: its envelope (\"topic\" on a SUB socket; elsewhere \"envelope\",\n"
        "the routing frames in front of the message, such as a ROUTER's identities and\n"
        "REQ's empty delimiter, when there are any) and kind; for packed messages the\n"
        "object; for arrays dtype, shape, order, codec, compressed and raw size,\n"
        "min/max/mean (of the magnitudes for complex dtypes; absent when empty); for\n"
        "mixed messages the object with each array replaced by that summary; then\n"
        "\"wire\" and \"frames\", the bytes and frames of the message after its envelope.\n"
        "Other streams are read too (docs/interop.md): the pyzmq numpy recipe and\n"
        "imagezmq's arrays (a JSON {dtype, shape} frame, then the data: \"format\":\n"
        "\"pyzmq-recipe\", the header's other keys as \"meta\"), imagezmq's JPEG messages (\"kind\": \"jpeg\": msg, bytes,\n"
        "width, height), Karabo bridge trains (\"kind\": \"train\", one line per train:\n"
        "the train id and, per source, each array's dtype, shape, min and max), and\n"
        "msgpack-numpy maps inside packed objects, summarised like arrays (with\n"
        "\"format\": \"msgpack-numpy\"). Anything else is shown as a \"foreign\" message\n"
        "with the size of each of its frames.\n"
        "\n"
        "options:\n"
        "  -t, --type TYPE     sub (default), pull, pair, rep, router or dealer; rep,\n"
        "                      router and dealer send every message back where it came\n"
        "                      from (an echo server for zpk pub --type req or dealer)\n"
        "  -b, --bind          bind ENDPOINT instead of connecting\n"
        "  --topic PREFIX      sub: receive topics starting with PREFIX (repeatable;\n"
        "                      default: every message)\n"
        "  -n, --count N       exit after N messages\n"
        "  --timeout MS        stop when no message arrives for MS ms (default: wait)\n"
        "  --lossless          print objects in the lossless JSON form of 'zpk dump'\n"
        "  --karabo            a Karabo bridge client: a REQ socket that asks the bridge\n"
        "                      for each train with \"next\"; a train it cannot read is a\n"
        "                      line of \"kind\": \"error\" with the reason (a bridge that\n"
        "                      sends on PUB or PUSH: --type sub or pull instead)\n"
        S_CURVE_HELP
        "  -h, --help          this text\n"
        "\n"
        "With --bind and a port of * (tcp://127.0.0.1:*), the endpoint bound is printed\n"
        "on stderr: \"zpk cat: bound to tcp://127.0.0.1:PORT\".\n"
        "\n"
        "exit codes: 0 done (--count reached, or, without --count, silence for\n"
        "--timeout after at least one message); 1 failure; 2 bad arguments, including\n"
        "an endpoint libzmq refuses; 3 no message within --timeout (with --count N:\n"
        "fewer than N).\n");
}

/* Decodes the 4-byte big-endian index of an array reference given in base64. */
static bool s_ref_index(const char *b64, uint32_t *index)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t out[6];
    size_t n = 0, bits = 0;
    uint32_t acc = 0;
    for (const char *p = b64; *p && *p != '='; p++) {
        const char *q = strchr(tab, *p);
        if (!q || !*p)
            return false;
        acc = acc << 6 | (uint32_t)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof out)
                return false;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (n != 4)
        return false;
    *index = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    return true;
}

/* What the header frame says about the arrays (for codec and stored size). */
typedef struct s_hdr {
    char kind[16];
    size_t n_ndarrays;
    zpk_ndarray_info_t info[64];
} s_hdr_t;

static void s_hdr_free(s_hdr_t *h)
{
    for (size_t i = 0; i < h->n_ndarrays; i++)
        zpk_ndarray_info_free(&h->info[i]);
    h->n_ndarrays = 0;
}

/* Reads the header map's kind and array headers (docs/PROTOCOL.md). Best effort. */
static void s_hdr_read(const void *data, size_t size, s_hdr_t *h)
{
    memset(h, 0, sizeof *h);
    zpk_reader_t r;
    zpk_reader_init(&r, data, size, NULL);
    zpk_tag_t t;
    if (zpk_read_tag(&r, &t) != 0 || t.type != ZPK_TYPE_MAP)
        return;
    for (uint32_t i = 0; i < t.v.len; i++) {
        zpk_tag_t k;
        const void *kp;
        if (zpk_read_item(&r, &k, &kp) != 0)
            return;
        bool is = k.type == ZPK_TYPE_STR;
        if (is && k.v.len == 4 && !memcmp(kp, "kind", 4)) {
            zpk_tag_t v;
            const void *vp;
            if (zpk_read_item(&r, &v, &vp) != 0)
                return;
            if (v.type == ZPK_TYPE_STR && v.v.len < sizeof h->kind) {
                memcpy(h->kind, vp, v.v.len);
                h->kind[v.v.len] = '\0';
            }
        } else if (is && k.v.len == 5 && !memcmp(kp, "array", 5)) {
            if (h->n_ndarrays == 0 && zpk_ndarray_header_read(&r, NULL, &h->info[0], NULL) == 0)
                h->n_ndarrays = 1;
            else
                return;
        } else if (is && k.v.len == 6 && !memcmp(kp, "arrays", 6)) {
            zpk_tag_t a;
            if (zpk_read_tag(&r, &a) != 0 || a.type != ZPK_TYPE_ARRAY)
                return;
            for (uint32_t j = 0; j < a.v.len; j++) {
                if (h->n_ndarrays < 64 && zpk_ndarray_header_read(&r, NULL, &h->info[h->n_ndarrays], NULL) == 0)
                    h->n_ndarrays++;
                else if (zpk_reader_skip(&r) != 0)
                    return;
            }
        } else if (zpk_reader_skip(&r) != 0) {
            return;
        }
    }
}

json_t *zt_ndarray_summary(const zpk_ndarray_t *a, const zpk_ndarray_info_t *info)
{
    json_t *o = json_object();
    char dt[ZPK_DTYPE_STR_SIZE] = "?";
    zpk_dtype_format(a->dtype, dt, sizeof dt);
    json_object_set_new(o, "dtype", json_string(dt));
    json_t *shape = json_array();
    for (int i = 0; i < a->ndim; i++)
        json_array_append_new(shape, json_integer((json_int_t)a->shape[i]));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "order", json_stringn(&a->order, 1));
    char codec[ZPK_CODEC_STR_SIZE] = "none";
    size_t stored = a->nbytes;
    if (info) {
        zpk_codec_format(&info->codec, codec, sizeof codec);
        stored = info->stored_bytes;
    }
    json_object_set_new(o, "codec", json_string(codec));
    json_object_set_new(o, "compressed", json_integer((json_int_t)stored));
    json_object_set_new(o, "raw", json_integer((json_int_t)a->nbytes));
    double mn, mx, mean;
    if (zt_array_stats(a->data, a->nbytes, a->dtype, &mn, &mx, &mean)) {
        json_object_set_new(o, "min", json_real(mn));
        json_object_set_new(o, "max", json_real(mx));
        json_object_set_new(o, "mean", json_real(mean));
    }
    return o;
}

/* Replaces every {"$ext": [90, "<base64 index>"]} in @p j by the array's summary. */
static json_t *s_replace_refs(json_t *j, const zpk_mixed_t *m, const s_hdr_t *h)
{
    if (json_is_object(j)) {
        json_t *e = json_object_get(j, "$ext");
        if (e && json_object_size(j) == 1 && json_array_size(e) == 2
            && json_integer_value(json_array_get(e, 0)) == ZPK_EXT_NDARRAY_REF
            && json_is_string(json_array_get(e, 1))) {
            uint32_t idx;
            if (s_ref_index(json_string_value(json_array_get(e, 1)), &idx) && idx < m->n_ndarrays) {
                json_decref(j);
                return zt_ndarray_summary(&m->ndarrays[idx], idx < h->n_ndarrays ? &h->info[idx] : NULL);
            }
        }
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, v) {
            json_incref(v);
            json_object_set_new(j, key, s_replace_refs(v, m, h));
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *v = json_array_get(j, i);
            json_incref(v);
            json_array_set_new(j, i, s_replace_refs(v, m, h));
        }
    }
    return j;
}

/* A frame as JSON: its text when it is UTF-8, else "0x" and its bytes in hex. */
static json_t *s_frame_json(const zpk_frame_t *f)
{
    json_t *s = json_stringn(f->data, f->size);
    if (s)
        return s;
    char *hex = malloc(2 * f->size + 3);
    if (!hex)
        return json_null();
    strcpy(hex, "0x");
    for (size_t i = 0; i < f->size; i++)
        sprintf(hex + 2 + 2 * i, "%02x", ((const uint8_t *)f->data)[i]);
    s = json_string(hex);
    free(hex);
    return s;
}

/*
 * The envelope in front of a message: for a SUB socket, "topic" (its one
 * frame, or null without one); for the others, "envelope", the list of its
 * frames, when there is one (ROUTER identities, REQ's empty delimiter...).
 */
static void s_set_envelope(json_t *line, const zpk_frame_t *frames, size_t n, int type)
{
    if (type == ZMQ_SUB && n <= 1) {
        json_object_set_new(line, "topic", n ? s_frame_json(&frames[0]) : json_null());
        return;
    }
    if (n == 0)
        return;
    json_t *env = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(env, s_frame_json(&frames[i]));
    json_object_set_new(line, "envelope", env);
}

/* The readers of other formats zpk cat knows (zpk.h), in the order tried. */
const zt_reader_fn zt_readers[] = {
    zt_read_jpeg,
    zt_read_karabo,
    NULL,
};

/* Adds "wire" and "frames", the bytes and frames of message @p m, to @p line. */
static json_t *s_set_size(json_t *line, const zt_msg_t *m)
{
    json_object_set_new(line, "wire", json_integer((json_int_t)m->bytes));
    json_object_set_new(line, "frames", json_integer((json_int_t)m->n));
    return line;
}

/*
 * One received message as zpk cat prints it: its envelope, its kind and
 * what it holds (the object, or each ndarray's summary), and its size on
 * the wire. Tried in order: a zmqpack message (after any envelope), the
 * pyzmq recipe, the readers of zt_readers[], else "foreign" with the size
 * of every frame. The caller owns the result.
 */
static json_t *s_describe(const zt_msg_t *m, int type, unsigned json_flags)
{
    json_t *line = json_object();
    size_t h = 0;
    while (h < m->n && !zpk_is_header(m->frames[h].data, m->frames[h].size))
        h++;
    s_hdr_t hdr;
    memset(&hdr, 0, sizeof hdr);
    if (h < m->n)
        s_hdr_read(m->frames[h].data, m->frames[h].size, &hdr);
    zpk_envelope_t env = {0};
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc;
    if (h == m->n || !strcmp(hdr.kind, "array")) {
        /* an ndarray message, or, without a header, perhaps the pyzmq recipe */
        zpk_ndarray_t a;
        char *meta = NULL;
        zpk_recv_opts_t ro;
        zpk_recv_opts_init(&ro);
        ro.recipe_meta = &meta;
        rc = zpk_decode_ndarray(m->frames, m->n, &ro, &env, &a, &err);
        if (rc == 0) {
            s_set_envelope(line, env.frames, env.n, type);
            json_object_set_new(line, "kind", json_string("array"));
            if (h == m->n)
                json_object_set_new(line, "format", json_string("pyzmq-recipe"));
            json_t *keys = json_loads(meta, 0, NULL); /* imagezmq's {"msg": ...} */
            if (json_object_size(keys) > 0)
                json_object_set(line, "meta", keys);
            json_decref(keys);
            zpk_free(meta);
            json_t *sum = zt_ndarray_summary(&a, hdr.n_ndarrays ? &hdr.info[0] : NULL);
            json_object_update(line, sum);
            json_decref(sum);
            zpk_ndarray_free(&a);
        }
    } else {
        zpk_mixed_t mx;
        rc = zpk_decode_mixed(m->frames, m->n, NULL, &env, &mx, &err);
        if (rc == 0) {
            json_t *obj = NULL;
            rc = zpk_json_from_node(zpk_doc_root(mx.doc), json_flags, &obj);
            if (rc == 0) {
                s_set_envelope(line, env.frames, env.n, type);
                json_object_set_new(line, "kind", json_string(mx.n_ndarrays ? "mixed" : "packed"));
                obj = s_replace_refs(obj, &mx, &hdr);
                json_object_set_new(line, "object",
                                    zt_summarise_msgpack_numpy(zpk_doc_root(mx.doc), obj));
            }
            zpk_mixed_free(&mx);
        }
    }
    size_t env_n = env.n;
    zpk_envelope_free(&env);
    s_hdr_free(&hdr);
    if (rc == 0) {
        /* the message itself: its frames and bytes after the envelope */
        size_t bytes = m->bytes;
        for (size_t i = 0; i < env_n; i++)
            bytes -= m->frames[i].size;
        json_object_set_new(line, "wire", json_integer((json_int_t)bytes));
        json_object_set_new(line, "frames", json_integer((json_int_t)(m->n - env_n)));
        return line;
    }
    if (rc == ZPK_EFOREIGN) {
        for (size_t i = 0; zt_readers[i]; i++) {
            json_t *other = zt_readers[i](m->frames, m->n, json_flags);
            if (other) {
                json_decref(line);
                return s_set_size(other, m);
            }
        }
    }
    /* not readable: say why, with every frame's size */
    json_object_set_new(line, "kind", json_string(rc == ZPK_EFOREIGN ? "foreign" : "error"));
    json_object_set_new(line, "error", json_string(err.text[0] ? err.text : zpk_strerror(rc)));
    json_object_set_new(line, "code", json_string(zpk_err_name(rc)));
    json_t *sizes = json_array();
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(sizes, json_integer((json_int_t)m->frames[i].size));
    json_object_set_new(line, "sizes", sizes);
    return s_set_size(line, m);
}

/* Prints @p line (consumed) as one line of compact JSON on stdout. */
static void s_print_line(json_t *line)
{
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(text);
    }
    json_decref(line);
}

int zt_cmd_cat(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"bind", no_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 'T'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'w'},
        {"lossless", no_argument, NULL, 'l'},
        {"karabo", no_argument, NULL, 'k'},
        {"curve-secret", required_argument, NULL, 'S'},
        {"curve-server-key", required_argument, NULL, 'K'},
        {"curve-allow", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const s_type_t types[] = {
        {"sub", ZMQ_SUB}, {"pull", ZMQ_PULL}, {"pair", ZMQ_PAIR}, {"rep", ZMQ_REP},
        {"router", ZMQ_ROUTER}, {"dealer", ZMQ_DEALER}, {NULL, 0}};
    int type = ZMQ_SUB;
    bool bind = false, karabo = false, typed = false;
    long count = -1, timeout = -1;
    unsigned json_flags = 0;
    const char *topics[64];
    int ntopics = 0;
    s_curve_t curve = {0};
    int c, crc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:bn:h", longopts, NULL)) != -1) {
        if (s_curve_opt(&curve, c, optarg, &crc, "cat")) {
            if (crc)
                return crc;
            continue;
        }
        switch (c) {
        case 't':
            if ((type = s_socket_type(types, optarg)) < 0)
                return zt_usage("cat", "--type is sub, pull, pair, rep, router or dealer, not '%s'",
                                optarg);
            typed = true;
            break;
        case 'b':
            bind = true;
            break;
        case 'T':
            if (ntopics == 64)
                return zt_usage("cat", "at most 64 --topic");
            topics[ntopics++] = optarg;
            break;
        case 'n':
            if (!zt_parse_long(optarg, 1, LONG_MAX, &count))
                return zt_usage("cat", "bad --count '%s'", optarg);
            break;
        case 'w':
            if (!zt_parse_long(optarg, 0, INT_MAX, &timeout))
                return zt_usage("cat", "bad --timeout '%s' (milliseconds)", optarg);
            break;
        case 'l':
            json_flags = ZPK_JSON_LOSSLESS;
            break;
        case 'k':
            karabo = true;
            break;
        case 'h':
            s_cat_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage("cat", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return zt_usage("cat", "needs exactly one ENDPOINT");
    if (karabo && typed)
        return zt_usage("cat", "--karabo is the bridge's REQ client; for a bridge on PUB or PUSH, "
                               "use --type sub or pull without --karabo");
    if (karabo)
        type = ZMQ_REQ;
    if (ntopics && type != ZMQ_SUB)
        return zt_usage("cat", "--topic is for --type sub");
    const char *endpoint = argv[optind];
    char where[512]; /* the endpoint in use: with --bind and a port of *, the port libzmq chose */
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, type);
    zt_msg_t msg = {0};
    /* The sockets that can answer send every message back where it came from
       (a ROUTER and a DEALER with their envelope), so zpk pub --type req or
       dealer gets its replies; closing lingers until the last answers are
       out (at most 5 s, should their peer be gone). */
    bool echo = type == ZMQ_REP || type == ZMQ_ROUTER || type == ZMQ_DEALER;
    int linger = echo ? 5000 : 0, tmo = (int)timeout;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (type == ZMQ_SUB) {
        if (ntopics == 0)
            zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
        for (int i = 0; i < ntopics; i++)
            zmq_setsockopt(s, ZMQ_SUBSCRIBE, topics[i], strlen(topics[i]));
    }
    int rc = s_curve_apply("cat", &curve, ctx, s);
    if (rc == 0)
        rc = zt_attach("cat", s, endpoint, bind ? ZT_BIND | ZT_ANNOUNCE : 0, where, sizeof where);
    bool asked = false; /* --karabo: "next" sent, its train not yet received */
    for (long n = 0; rc == 0 && (count < 0 || n < count);) {
        if (karabo && !asked) {
            if (zmq_send(s, "next", 4, 0) != 4) {
                rc = zt_fail("cat", -zmq_errno(), "asking for the next train");
                break;
            }
            asked = true;
        }
        int e = zt_msg_recv(&msg, s, 0);
        if (e == -EINTR)
            continue;
        if (e == -EAGAIN) {
            /* Silence after messages is the normal end of a run without --count;
               a timeout is nothing at all, or fewer than the --count asked for. */
            if (n == 0) {
                fprintf(stderr, "zpk cat: no message within %ld ms on %s (%s)\n", timeout, where,
                        s_peers(type));
                rc = ZT_EXIT_TIMEOUT;
            } else if (count > 0) {
                fprintf(stderr, "zpk cat: %ld of %ld messages, then none for %ld ms on %s\n", n,
                        count, timeout, where);
                rc = ZT_EXIT_TIMEOUT;
            }
            break;
        }
        if (e == ZPK_EFRAME) { /* drained: the next message is read as usual */
            asked = false;
            json_t *line = json_object();
            json_object_set_new(line, "kind", json_string("error"));
            json_object_set_new(line, "error", json_string("more frames than a message may have"));
            json_object_set_new(line, "code", json_string(zpk_err_name(e)));
            s_print_line(line);
            n++;
            continue;
        }
        if (e) {
            rc = zt_fail("cat", e, "receiving");
            break;
        }
        asked = false;
        s_print_line(karabo ? s_set_size(zt_karabo_describe(msg.frames, msg.n, true), &msg)
                            : s_describe(&msg, type, json_flags));
        if (echo && (e = zt_msg_send(&msg, s, 0)) != 0) {
            rc = zt_fail("cat", e, "answering");
            break;
        }
        n++;
    }
    zt_msg_free(&msg);
    zmq_close(s);
    zpk_curve_auth_destroy(&curve.auth);
    zmq_ctx_term(ctx);
    return rc;
}

/* ---- zpk pub ------------------------------------------------------------------ */

static void s_pub_help(FILE *f)
{
    fprintf(f,
        "usage: zpk pub [OPTIONS] ENDPOINT\n"
        "       zpk pub [OPTIONS] ENDPOINT --npy FILE...\n"
        "\n"
        "Connects to ENDPOINT (or binds with --bind) and sends each JSON line read from\n"
        "stdin as a packed message (the tags of 'zpk dump', {\"$bin\": ...} and friends,\n"
        "are understood). With --npy, sends each numpy .npy FILE as an array message\n"
        "instead, zero-copy from the mapped file.\n"
        "\n"
        "options:\n"
        "  -t, --type TYPE     pub (default), push, pair, req or dealer; req and dealer\n"
        "                      print the reply to each message, as zpk cat prints a\n"
        "                      message (a dealer sends REQ's empty delimiter first)\n"
        "  -b, --bind          bind ENDPOINT instead of connecting\n"
        "  --topic TOPIC       topic frame of every message (for SUB filtering; pub,\n"
        "                      push and pair)\n"
        "  --codec SPEC        compress payloads: none (default), zlib:6, blosc:lz4:5:shuffle,\n"
        "                      auto...\n"
        "  --npy               the remaining arguments are .npy files to send as arrays\n"
        "  --recipe            send arrays as the pyzmq recipe (JSON header + raw data)\n"
        "  --timeout MS        wait at most MS ms for a subscriber (pub), for a peer to\n"
        "                      take each message, or for a reply (req, dealer); default\n"
        "                      5000\n"
        "  --interval MS       pause between messages (default 0)\n"
        S_CURVE_HELP
        "  -h, --help          this text\n"
        "\n"
        "pub waits for the first subscription before sending, so a subscriber that\n"
        "connects late still gets every message (libzmq's 'slow joiner').\n"
        "With --bind and a port of *, the endpoint bound is printed on stderr.\n"
        "\n"
        "exit codes: 0 every message was sent; 1 failure (bad JSON: the line is\n"
        "printed; unreadable .npy); 2 bad arguments, including an endpoint libzmq\n"
        "refuses and a host name that does not resolve; 3 no subscriber, peer or\n"
        "reply within --timeout.\n");
}

/*
 * The answers zpk pub waits for on the sockets that get them: a REQ takes
 * the reply to each message before it sends the next; a DEALER prints the
 * replies as they come and, after its last message, waits (up to
 * --timeout at a time) until it has one per message.
 */
typedef struct s_replies {
    int type;
    void *sock;
    long timeout;
    long got;
    zt_msg_t msg;
} s_replies_t;

/* Takes one reply (flags: ZMQ_DONTWAIT or 0) and prints it. 0 or -errno. */
static int s_take_reply(s_replies_t *r, int flags)
{
    int e;
    while ((e = zt_msg_recv(&r->msg, r->sock, flags)) == -EINTR)
        ;
    if (e == 0) {
        s_print_line(s_describe(&r->msg, r->type, 0));
        zt_msg_close(&r->msg);
        r->got++;
    }
    return e;
}

/* After message @p what was sent: an exit code (0 to go on). */
static int s_after_send(s_replies_t *r, const char *what)
{
    int e = 0;
    if (r->type == ZMQ_REQ) {
        e = s_take_reply(r, 0);
        if (e == -EAGAIN) {
            fprintf(stderr, "zpk pub: no reply to %s within %ld ms (%s)\n", what, r->timeout,
                    s_peers(r->type));
            return ZT_EXIT_TIMEOUT;
        }
    } else if (r->type == ZMQ_DEALER) {
        while ((e = s_take_reply(r, ZMQ_DONTWAIT)) == 0)
            ;
        e = e == -EAGAIN ? 0 : e;
    }
    return e ? zt_fail("pub", e, "receiving the reply to %s", what) : 0;
}

/* After the last of @p sent messages: a DEALER waits for the replies not yet in. */
static int s_replies_finish(s_replies_t *r, long sent)
{
    while (r->type == ZMQ_DEALER && r->got < sent) {
        int e = s_take_reply(r, 0);
        if (e == -EAGAIN) {
            fprintf(stderr, "zpk pub: %ld of %ld replies, then none for %ld ms\n", r->got, sent,
                    r->timeout);
            return ZT_EXIT_TIMEOUT;
        }
        if (e)
            return zt_fail("pub", e, "receiving replies");
    }
    return 0;
}

int zt_cmd_pub(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"bind", no_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 'T'},
        {"codec", required_argument, NULL, 'c'},
        {"npy", no_argument, NULL, 'N'},
        {"recipe", no_argument, NULL, 'R'},
        {"timeout", required_argument, NULL, 'w'},
        {"interval", required_argument, NULL, 'i'},
        {"curve-secret", required_argument, NULL, 'S'},
        {"curve-server-key", required_argument, NULL, 'K'},
        {"curve-allow", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const s_type_t types[] = {
        {"pub", ZMQ_XPUB}, {"push", ZMQ_PUSH}, {"pair", ZMQ_PAIR}, {"req", ZMQ_REQ},
        {"dealer", ZMQ_DEALER}, {NULL, 0}};
    int type = ZMQ_XPUB;
    bool bind = false, npy = false, recipe = false;
    const char *topic = NULL, *codec_str = NULL;
    long timeout = 5000, interval = 0;
    s_curve_t curve = {0};
    int c, crc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:bh", longopts, NULL)) != -1) {
        if (s_curve_opt(&curve, c, optarg, &crc, "pub")) {
            if (crc)
                return crc;
            continue;
        }
        switch (c) {
        case 't':
            if ((type = s_socket_type(types, optarg)) < 0)
                return zt_usage("pub", "--type is pub, push, pair, req or dealer, not '%s'",
                                optarg);
            break;
        case 'b':
            bind = true;
            break;
        case 'T':
            topic = optarg;
            break;
        case 'c':
            codec_str = optarg;
            break;
        case 'N':
            npy = true;
            break;
        case 'R':
            recipe = true;
            break;
        case 'w':
            if (!zt_parse_long(optarg, 0, INT_MAX, &timeout))
                return zt_usage("pub", "bad --timeout '%s' (milliseconds)", optarg);
            break;
        case 'i':
            if (!zt_parse_long(optarg, 0, 3600000, &interval))
                return zt_usage("pub", "bad --interval '%s' (milliseconds)", optarg);
            break;
        case 'h':
            s_pub_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage("pub", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind < 1)
        return zt_usage("pub", "needs an ENDPOINT");
    if (!npy && argc - optind != 1)
        return zt_usage("pub", "takes one ENDPOINT (files need --npy)");
    if (npy && argc - optind < 2)
        return zt_usage("pub", "--npy needs at least one FILE");
    if (recipe && !npy)
        return zt_usage("pub", "--recipe is for arrays (--npy)");
    if (recipe && codec_str && strcmp(codec_str, "none"))
        return zt_usage("pub", "the pyzmq recipe carries no codec");
    zpk_codec_t codec;
    if (codec_str) {
        zpk_error_t err;
        zpk_error_clear(&err);
        int e = zpk_codec_parse(codec_str, strlen(codec_str), &codec, &err);
        if (e)
            return zt_usage("pub", "bad --codec '%s': %s", codec_str,
                            err.text[0] ? err.text : zpk_strerror(e));
    }
    if (topic && (type == ZMQ_REQ || type == ZMQ_DEALER))
        return zt_usage("pub", "--topic is for --type pub, push or pair");
    if (topic && zpk_is_header(topic, strlen(topic)))
        return zt_usage("pub", "a topic may not start like a zmqpack header");
    const char *endpoint = argv[optind];
    char where[512] = ""; /* the endpoint in use (the port libzmq chose for *) */

    /* Map every file first: a bad file fails before anything is sent. */
    int nfiles = npy ? argc - optind - 1 : 0;
    zpk_ndarray_t *arrays = calloc((size_t)nfiles + 1, sizeof *arrays);
    void **maps = calloc((size_t)nfiles + 1, sizeof *maps);
    size_t *map_lens = calloc((size_t)nfiles + 1, sizeof *map_lens);
    int rc = 0, mapped = 0;
    for (; mapped < nfiles && rc == 0; mapped++)
        rc = s_load_npy("pub", argv[optind + 1 + mapped], &arrays[mapped], &maps[mapped],
                        &map_lens[mapped]);
    if (rc)
        mapped--;

    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, type);
    zpk_tracker_t *tracker = zpk_tracker_new();
    int tmo = (int)timeout;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &tmo, sizeof tmo);
    int one = 1;
    if (type == ZMQ_XPUB) /* block instead of dropping when a subscriber is slow */
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    else if (type != ZMQ_REQ && type != ZMQ_DEALER)
        /* queue only on a live connection: no peer means a timeout, not a silent
           loss. Not for REQ and DEALER, whose replies show the peer: with it,
           libzmq 4.3.4 lost a DEALER's replies in one run out of three. */
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    if (rc == 0)
        rc = s_curve_apply("pub", &curve, ctx, s);
    if (rc == 0)
        rc = zt_attach("pub", s, endpoint, bind ? ZT_BIND | ZT_ANNOUNCE : 0, where, sizeof where);
    if (rc == 0 && type == ZMQ_XPUB) {
        /* XPUB sees subscriptions: wait for the first one (the slow joiner). */
        char sub[256];
        if (zmq_recv(s, sub, sizeof sub, 0) < 0) {
            int e = -zmq_errno();
            if (e == -EAGAIN) {
                fprintf(stderr, "zpk pub: no subscriber on %s within %ld ms (%s)\n", where,
                        timeout, s_peers(type));
                rc = ZT_EXIT_TIMEOUT;
            } else {
                rc = zt_fail("pub", e, "waiting for a subscriber");
            }
        }
    }
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.topic = topic;
    so.topic_len = topic ? strlen(topic) : 0;
    so.codec = codec_str ? &codec : NULL;
    /* A DEALER sends what a REQ sends, an empty delimiter frame before the
       message, so REP and ROUTER peers answer it. */
    static const zpk_frame_t delimiter = {.data = "", .size = 0};
    const zpk_envelope_t dealer_env = {.frames = &delimiter, .n = 1};
    if (type == ZMQ_DEALER)
        so.envelope = &dealer_env;
    s_replies_t replies = {.type = type, .sock = s, .timeout = timeout};
    long sent = 0;
    if (rc == 0 && npy) {
        so.own = ZPK_OWN_BORROW; /* straight from the mapped file */
        so.tracker = tracker;
        so.flags = recipe ? ZPK_SEND_RECIPE : 0;
        for (int i = 0; i < nfiles && rc == 0; i++, sent++) {
            if (i && interval)
                usleep((useconds_t)interval * 1000);
            char what[PATH_MAX + 2];
            snprintf(what, sizeof what, "'%s'", argv[optind + 1 + i]);
            int e = zpk_send_array(s, &arrays[i], &so, NULL);
            if (e)
                rc = e == -EAGAIN ? (fprintf(stderr, "zpk pub: no peer took %s within %ld ms (%s)\n",
                                             what, timeout, s_peers(type)), ZT_EXIT_TIMEOUT)
                                  : zt_fail("pub", e, "sending %s", what);
            else
                rc = s_after_send(&replies, what);
        }
    } else if (rc == 0) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 256);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0;
        while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            size_t len = (size_t)n;
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            size_t k = 0;
            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k == len)
                continue;
            zpk_error_t err;
            zpk_error_clear(&err);
            zpk_writer_reset(&w);
            int e = zpk_json_loads_to_writer(line, len, &w, &err);
            if (e) {
                rc = zt_fail("pub", e, "line %ld, column %zu%s%s", lineno, err.offset + 1,
                             err.text[0] ? ": " : "", err.text);
                break;
            }
            if (sent && interval)
                usleep((useconds_t)interval * 1000);
            e = zpk_send_packed(s, &w, &so, NULL);
            if (e == -EAGAIN) {
                fprintf(stderr, "zpk pub: no peer took line %ld within %ld ms (%s)\n", lineno,
                        timeout, s_peers(type));
                rc = ZT_EXIT_TIMEOUT;
            } else if (e) {
                rc = zt_fail("pub", e, "sending line %ld", lineno);
            } else {
                sent++;
                char what[32];
                snprintf(what, sizeof what, "line %ld", lineno);
                rc = s_after_send(&replies, what);
            }
        }
        free(line);
        zpk_writer_free(&w);
    }
    if (rc == 0)
        rc = s_replies_finish(&replies, sent);
    zt_msg_free(&replies.msg);
    /* The linger (--timeout) lets queued messages reach the peer. */
    zmq_close(s);
    zpk_curve_auth_destroy(&curve.auth);
    zmq_ctx_term(ctx);
    zpk_tracker_destroy(&tracker); /* after the context: every frame is released */
    for (int i = 0; i < mapped; i++)
        munmap(maps[i], map_lens[i]);
    free(arrays);
    free(maps);
    free(map_lens);
    return rc;
}
