/*
 * One hot path per run, for instruction counts under valgrind's callgrind
 * (`bench/run --check`). Only cg_run() is measured
 * (--toggle-collect=cg_run), so loading files and building inputs do not
 * count. Instruction counts repeat exactly for the same binary and input,
 * whatever else the machine is doing.
 *
 * usage: cg_paths encode:DOC | decode:DOC | arrayhdr_encode | arrayhdr_decode
 */
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
} cg_input_t;

static volatile size_t s_sink;

__attribute__((noinline)) void cg_run(cg_input_t *in);
__attribute__((noinline)) void cg_run(cg_input_t *in)
{
    for (int i = 0; i < S_REPS; i++) {
        if (strcmp(in->op, "encode") == 0) {
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
        fprintf(stderr, "usage: %s encode:DOC | decode:DOC | arrayhdr_encode | arrayhdr_decode\n",
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
