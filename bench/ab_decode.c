/*
 * Two builds of the library side by side, in one process: the one-shot
 * decode (zpk_doc_parse) of a corpus document by build A and by build B,
 * interleaved in 20 ms slices of thread CPU time, A first in even pairs and
 * B first in odd ones. Prints the median of the per-pair ratios A/B with
 * its quartiles. On a machine whose speed drifts from one spell to the next
 * this is what tells a 3% change from noise: the same build against itself
 * gives 1.000 +- 0.005 here.
 *
 *   usage: ab_decode LIB_A LIB_B copy|borrow|stream|stream1|encode DOC [PAIRS]
 *
 * stream: the document fed in 4 KiB pieces to a long-lived unpacker
 * (zpk_unpacker_feed, zpk_unpacker_next after each piece), as
 * bench_msgpack's "stream 4KiB" row does. stream1: fed one byte at a time,
 * through the exported functions (not the header's inline fast paths, which
 * this program cannot have for two libraries at once). encode: the tree of
 * the document written back with zpk_node_write into a growable writer
 * reset before each pass, as bench_msgpack's "encode" row does (the writer's
 * inline fast paths run inside each library's zpk_node_write).
 *
 * LIB_A and LIB_B are shared objects holding zmqpack, loaded with
 * RTLD_LOCAL. They need different sonames (or none), or the dynamic loader
 * hands back the first one twice. From a build tree's static library:
 *
 *   cc -shared -o /tmp/a.so -Wl,--whole-archive build-a/src/libzmqpack.a \
 *      -Wl,--no-whole-archive -lzmq -ljansson -lz -lblosc -lczmq -pthread
 *
 * DOC is a corpus name (twitter, citm_catalog, canada, github).
 */
#include <dlfcn.h>
#include <stdint.h>

#include "bench_util.h"

#ifndef ZPK_SHARED_DATA_DIR
#define ZPK_SHARED_DATA_DIR "../shared/data"
#endif

typedef int (*parse_fn)(const void *, size_t, const void *, unsigned, void **, void *);
typedef void (*destroy_fn)(void **);

typedef void *(*unew_fn)(const void *, unsigned);
typedef int (*ufeed_fn)(void *, const void *, size_t);
typedef int (*unext_fn)(void *, void **);

typedef void (*winit_fn)(void *, size_t);
typedef void (*wreset_fn)(void *);
typedef size_t (*wsize_fn)(const void *);
typedef const void *(*root_fn)(const void *);
typedef int (*nwrite_fn)(void *, const void *);

typedef struct lib {
    parse_fn parse;
    destroy_fn destroy;
    ufeed_fn feed;
    unext_fn next;
    void *u; /* stream mode: the long-lived unpacker */
    /* encode mode: the document's tree and a writer, both of this library */
    wreset_fn wreset;
    wsize_fn wsize;
    nwrite_fn nwrite;
    const void *root;
    _Alignas(16) unsigned char writer[512]; /* a zpk_writer_t of either build */
} lib_t;

static const uint8_t *s_data;
static size_t s_len;
static unsigned s_flags;
static size_t s_chunk = 4096; /* stream: 4096; stream1: 1 */

static void s_one(void *ud)
{
    lib_t *l = ud;
    void *doc = NULL;
    if (l->parse(s_data, s_len, NULL, s_flags, &doc, NULL) != 0)
        abort();
    l->destroy(&doc);
}

static void s_stream(void *ud)
{
    lib_t *l = ud;
    size_t got = 0;
    const size_t chunk = s_chunk;
    for (size_t off = 0; off < s_len; off += chunk) {
        size_t n = s_len - off < chunk ? s_len - off : chunk;
        if (l->feed(l->u, s_data + off, n) != 0)
            abort();
        void *doc = NULL;
        int rc = l->next(l->u, &doc);
        if (rc == 0) {
            got++;
            l->destroy(&doc);
        } else if (rc != -4001 /* ZPK_EOUTOFDATA */) {
            abort();
        }
    }
    if (got != 1)
        abort();
}

static void s_encode(void *ud)
{
    lib_t *l = ud;
    l->wreset(l->writer);
    if (l->nwrite(l->writer, l->root) != 0 || l->wsize(l->writer) != s_len)
        abort();
}

static void s_load_encoder(lib_t *l, void *h)
{
    winit_fn winit;
    root_fn root;
    *(void **)&winit = dlsym(h, "zpk_writer_init_growable");
    *(void **)&l->wreset = dlsym(h, "zpk_writer_reset");
    *(void **)&l->wsize = dlsym(h, "zpk_writer_size");
    *(void **)&l->nwrite = dlsym(h, "zpk_node_write");
    *(void **)&root = dlsym(h, "zpk_doc_root");
    void *doc = NULL;
    if (winit == NULL || l->wreset == NULL || l->wsize == NULL || l->nwrite == NULL ||
        root == NULL || l->parse(s_data, s_len, NULL, 0, &doc, NULL) != 0) {
        fprintf(stderr, "ab_decode: no encoder in this library\n");
        exit(2);
    }
    l->root = root(doc); /* the document lives as long as the process */
    winit(l->writer, 0);
}

/* The two libraries' state: static, so that loading them allocates on the
 * heap exactly what the libraries do (a heap allocation of ours between
 * theirs moved the streaming unpackers' buffers, and one build measured
 * 0.64x of an identical copy of itself). */
static lib_t s_libs[2];

static lib_t *s_load(const char *path, lib_t *l)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "ab_decode: %s\n", dlerror());
        exit(2);
    }
    *(void **)&l->parse = dlsym(h, "zpk_doc_parse");
    *(void **)&l->destroy = dlsym(h, "zpk_doc_destroy");
    *(void **)&l->feed = dlsym(h, "zpk_unpacker_feed");
    *(void **)&l->next = dlsym(h, "zpk_unpacker_next");
    unew_fn unew;
    *(void **)&unew = dlsym(h, "zpk_unpacker_new");
    l->u = unew != NULL ? unew(NULL, 0) : NULL;
    if (l->parse == NULL || l->destroy == NULL || l->feed == NULL || l->next == NULL ||
        l->u == NULL) {
        fprintf(stderr, "ab_decode: %s holds no zpk_doc_parse\n", path);
        exit(2);
    }
    return l;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[3], "copy") != 0 && strcmp(argv[3], "borrow") != 0 &&
                     strcmp(argv[3], "stream") != 0 && strcmp(argv[3], "stream1") != 0 &&
                     strcmp(argv[3], "encode") != 0)) {
        fprintf(stderr,
                "usage: %s LIB_A LIB_B copy|borrow|stream|stream1|encode DOC [PAIRS]\n",
                argv[0]);
        return 2;
    }
    s_flags = strcmp(argv[3], "borrow") == 0 ? 0x1u /* ZPK_DOC_BORROW */ : 0;
    int pairs = argc > 5 ? atoi(argv[5]) : 21;
    if (pairs < 1 || pairs > 200)
        pairs = 21;
    const char *dir = getenv("ZPK_SHARED_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus/%s.mpack", dir ? dir : ZPK_SHARED_DATA_DIR, argv[4]);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ab_decode: cannot open %s\n", path);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    if (data == NULL || n <= 0 || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "ab_decode: cannot read %s\n", path);
        return 2;
    }
    fclose(f);
    s_data = data;
    s_len = (size_t)n;

    lib_t *a = s_load(argv[1], &s_libs[0]), *b = s_load(argv[2], &s_libs[1]);
    bool streaming = strncmp(argv[3], "stream", 6) == 0;
    bool encoding = strcmp(argv[3], "encode") == 0;
    if (strcmp(argv[3], "stream1") == 0)
        s_chunk = 1;
    if (encoding) {
        s_load_encoder(a, dlopen(argv[1], RTLD_NOW | RTLD_LOCAL));
        s_load_encoder(b, dlopen(argv[2], RTLD_NOW | RTLD_LOCAL));
    }
    void (*fn)(void *) = encoding ? s_encode : streaming ? s_stream : s_one;
    double r[200];
    fn(a);
    fn(b);
    for (int i = 0; i < pairs; i++) {
        double x, y;
        if (i % 2 == 0) {
            x = bu_slice_mbps(fn, a, (double)s_len, 0.02);
            y = bu_slice_mbps(fn, b, (double)s_len, 0.02);
        } else {
            y = bu_slice_mbps(fn, b, (double)s_len, 0.02);
            x = bu_slice_mbps(fn, a, (double)s_len, 0.02);
        }
        r[i] = x / y;
    }
    qsort(r, (size_t)pairs, sizeof r[0], bu_cmp_double);
    printf("%s %s: A/B %.3f (quartiles %.3f..%.3f, %d pairs)\n", argv[4], argv[3], r[pairs / 2],
           r[pairs / 4], r[3 * pairs / 4], pairs);
    free(data);
    return 0;
}
