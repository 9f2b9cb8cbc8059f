/*
 * One hot path per run, for instruction counts under valgrind's callgrind
 * (`bench/run --check`). Only cg_run() is measured
 * (--toggle-collect=cg_run), so loading files and building inputs do not
 * count. Instruction counts repeat exactly for the same binary and input,
 * whatever else the machine is doing.
 *
 * usage: cg_paths encode:DOC | decode:DOC | arrayhdr_encode | arrayhdr_decode | socket:ROW
 *
 * socket:ROW sends and receives on one thread over an inproc PAIR (no I/O
 * thread takes part, so the count repeats): the rows of bench_socket,
 * both ends of each message counted.
 *   packed      ~100-byte object: zpk_send_packed + zpk_recv_packed
 *   packed_bytes the same object, received unparsed (ZPK_RECV_BYTES: the Python binding)
 *   sendf       the same object packed by zpk_sendf + zpk_recv_packed
 *   array_1k    1 KiB uint8 array, borrowed with a tracker + zpk_recv_array
 *   array_64k   64 KiB, the same calls (two frames, zero-copy)
 *   into_64k    64 KiB, received into a reused buffer (opts->into)
 */
#include <zmq.h>
#include <zmqpack.h>

#include "bench_util.h"

#ifndef ZPK_SHARED_DATA_DIR
#define ZPK_SHARED_DATA_DIR "../shared/data"
#endif

enum { S_REPS = 10 };

typedef struct cg_input {
    const char *op;
    uint8_t *data;
    size_t len;
    zpk_doc_t *doc;
    zpk_ndarray_t array;
    void *header;
    size_t header_size;
    void *push, *pull;       /* socket rows: an inproc PAIR */
    zpk_tracker_t *tracker;
    uint8_t *into;
} cg_input_t;

static volatile size_t s_sink;

/* The ~100-byte object of bench_socket's packed rows. */
#define S_OBJ_FMT "{s:i s:s s:[dddd] s:s}"
#define S_OBJ_ARGS(i)                                                                   \
    "id", (int)(i), "name", "sensor-0042", "xyzw", 1.5, 2.5, 3.5, 4.5, "unit",            \
        "metres per second squared"

/* One message of socket row @p row, sent and received. */
static void s_socket_row(cg_input_t *in, const char *row, int i)
{
    if (strcmp(row, "packed") == 0 || strcmp(row, "packed_bytes") == 0) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 256);
        zpk_write_raw(&w, in->data, in->len);
        if (zpk_send_packed(in->push, &w, NULL, NULL) != 0)
            abort();
        zpk_writer_free(&w);
        if (row[6] == '\0') {
            zpk_doc_t *d = NULL;
            if (zpk_recv_packed(in->pull, NULL, NULL, &d, NULL) != 0)
                abort();
            zpk_doc_destroy(&d);
        } else {
            static const zpk_recv_opts_t bytes = {.flags = ZPK_RECV_BYTES};
            zpk_mixed_t b;
            if (zpk_recv_mixed(in->pull, &bytes, NULL, &b, NULL) != 0)
                abort();
            zpk_mixed_free(&b);
        }
    } else if (strcmp(row, "sendf") == 0) {
        if (zpk_sendf(in->push, 0, S_OBJ_FMT, S_OBJ_ARGS(i)) != 0)
            abort();
        zpk_doc_t *d = NULL;
        if (zpk_recv_packed(in->pull, NULL, NULL, &d, NULL) != 0)
            abort();
        zpk_doc_destroy(&d);
    } else {
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.own = ZPK_OWN_BORROW;
        so.tracker = in->tracker;
        if (zpk_send_array(in->push, &in->array, &so, NULL) != 0)
            abort();
        zpk_recv_opts_t ro;
        zpk_recv_opts_init(&ro);
        if (strcmp(row, "into_64k") == 0) {
            ro.into = in->into;
            ro.into_size = in->array.nbytes;
        }
        zpk_ndarray_t a;
        if (zpk_recv_array(in->pull, &ro, NULL, &a, NULL) != 0)
            abort();
        zpk_ndarray_free(&a);
        if (zpk_tracker_wait(in->tracker, 0) != 0) /* inproc: the receiver let go */
            abort();
    }
}

__attribute__((noinline)) void cg_run(cg_input_t *in);
__attribute__((noinline)) void cg_run(cg_input_t *in)
{
    for (int i = 0; i < S_REPS; i++) {
        if (strcmp(in->op, "socket") == 0) {
            s_socket_row(in, in->header, i);
        } else if (strcmp(in->op, "encode") == 0) {
            zpk_writer_t w;
            zpk_writer_init_growable(&w, in->len);
            if (zpk_node_write(&w, zpk_doc_root(in->doc)) != 0)
                abort();
            s_sink += zpk_writer_size(&w);
            zpk_writer_free(&w);
        } else if (strcmp(in->op, "decode") == 0) {
            zpk_doc_t *d = NULL;
            if (zpk_doc_parse(in->data, in->len, NULL, 0, &d, NULL) != 0)
                abort();
            s_sink += zpk_doc_consumed(d);
            zpk_doc_destroy(&d);
        } else if (strcmp(in->op, "arrayhdr_encode") == 0) {
            zpk_ndarray_enc_t enc;
            if (zpk_ndarray_encode(&in->array, NULL, true, &enc, NULL) != 0)
                abort();
            s_sink += enc.header_size;
            zpk_ndarray_enc_free(&enc);
        } else {
            zpk_ndarray_info_t info;
            if (zpk_ndarray_header_decode(in->header, in->header_size, NULL, &info, NULL) != 0)
                abort();
            s_sink += info.nbytes;
            zpk_ndarray_info_free(&info);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s encode:DOC | decode:DOC | arrayhdr_encode | arrayhdr_decode | socket:ROW\n",
                argv[0]);
        return 2;
    }
    cg_input_t in;
    memset(&in, 0, sizeof in);
    char op[64];
    snprintf(op, sizeof op, "%s", argv[1]);
    char *doc = strchr(op, ':');
    if (doc != NULL)
        *doc++ = '\0';
    in.op = op;
    if (strcmp(op, "socket") == 0 && doc != NULL) {
        static uint8_t payload[64 * 1024];
        in.header = doc; /* the row */
        void *ctx = zmq_ctx_new();
        in.push = zmq_socket(ctx, ZMQ_PAIR);
        in.pull = zmq_socket(ctx, ZMQ_PAIR);
        if (zmq_bind(in.pull, "inproc://cg") != 0 || zmq_connect(in.push, "inproc://cg") != 0)
            return 1;
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 256);
        if (zpk_pack_fmt(&w, S_OBJ_FMT, S_OBJ_ARGS(1)) != 0)
            return 1;
        in.len = zpk_writer_size(&w);
        in.data = malloc(in.len);
        memcpy(in.data, zpk_writer_data(&w), in.len);
        zpk_writer_free(&w);
        size_t n = strcmp(doc, "array_1k") == 0 ? 1024 : sizeof payload;
        for (size_t i = 0; i < n; i++)
            payload[i] = (uint8_t)(i * 131u);
        if (zpk_ndarray_init(&in.array, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &n, 'C', payload) != 0)
            return 1;
        in.into = malloc(sizeof payload);
        in.tracker = zpk_tracker_new();
        s_socket_row(&in, doc, 0); /* warm up: first-use allocations are not the path */
        cg_run(&in);
        zpk_tracker_destroy(&in.tracker);
        zmq_close(in.push);
        zmq_close(in.pull);
        zmq_ctx_term(ctx);
        free(in.into);
        free(in.data);
        return (int)(s_sink & 0);
    }
    if (doc != NULL) {
        const char *dir = getenv("ZPK_SHARED_DATA");
        char path[4096];
        snprintf(path, sizeof path, "%s/corpus/%s.mpack", dir ? dir : ZPK_SHARED_DATA_DIR, doc);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            fprintf(stderr, "cg_paths: cannot open %s\n", path);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        in.len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        in.data = malloc(in.len);
        if (in.data == NULL || fread(in.data, 1, in.len, f) != in.len)
            return 1;
        fclose(f);
        if (zpk_doc_parse(in.data, in.len, NULL, 0, &in.doc, NULL) != 0)
            return 1;
    } else {
        /* a 1024x1024 float32 image, as the demo sends */
        static float img[1024 * 1024];
        size_t shape[2] = {1024, 1024};
        zpk_dtype_t dt;
        if (zpk_dtype_parse("<f4", 3, &dt, NULL) != 0 ||
            zpk_ndarray_init(&in.array, dt, 2, shape, 'C', img) != 0)
            return 1;
        zpk_ndarray_enc_t enc;
        if (zpk_ndarray_encode(&in.array, NULL, true, &enc, NULL) != 0)
            return 1;
        in.header = malloc(enc.header_size);
        memcpy(in.header, enc.header, enc.header_size);
        in.header_size = enc.header_size;
        zpk_ndarray_enc_free(&enc);
    }
    cg_run(&in);
    zpk_doc_destroy(&in.doc);
    free(in.data);
    free(in.header);
    return (int)(s_sink & 0);
}
