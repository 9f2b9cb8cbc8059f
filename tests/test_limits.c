/*
 * The limits a service should set against untrusted peers (issue 19,
 * item 4; docs/security.md, "Limits against untrusted peers"): for each
 * one, what a hostile message costs its sender, the code the receiver gets,
 * the most zmqpack allocates on the way (the counting allocator of
 * harness.h), and that the next message is received intact.
 *
 * The receiver uses the profile the document recommends (s_profile): objects
 * up to 1 MiB, depth 32, arrays up to 1 MiB in at most 64 chunks, frames up
 * to 1 MiB + 4 KiB (ZMQ_MAXMSGSIZE). Hostile messages are made by sending a
 * real message through a PAIR, taking its frames off raw, patching them and
 * sending them on: the wire format is the library's own.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpack.h"

#define S_MAX_OBJECT ((size_t)1 << 20)
#define S_MAX_DEPTH 32
#define S_MAX_NDARRAY ((size_t)1 << 20)
#define S_MAX_CHUNKS 64
#define S_MAX_FRAME (S_MAX_NDARRAY + 4096)
/* documented bounds (docs/security.md) */
#define S_SMALL 4096                  /* allocation for anything refused on its header */
#define S_TREE_PER_BYTE 24            /* a document's tree: bytes per payload byte */
/* a document's first block: twice the payload, at most 1 MiB (src/doc.c);
 * anything else a refused parse allocates is small */
#define S_FIRST_BLOCK(n) (2 * (n) < ((size_t)1 << 20) ? 2 * (n) + 64 : ((size_t)1 << 20) + 64)

static void *s_ctx;
static int s_seq;
/* every socket a test opens, closed by its teardown even when it fails */
static void *s_socks[8];
static size_t s_nsocks;

typedef struct {
    zpk_limits_t lim;
    zpk_ndarray_opts_t ao;
    zpk_recv_opts_t ro;
    zpk_error_t err;
} s_profile_t;

/* The receive options docs/security.md recommends, with this test's sizes. */
static void s_profile(s_profile_t *p)
{
    zpk_limits_default(&p->lim, S_MAX_OBJECT);
    p->lim.max_depth = S_MAX_DEPTH;
    zpk_ndarray_opts_default(&p->ao);
    p->ao.max_ndarray_bytes = S_MAX_NDARRAY;
    p->ao.max_chunks = S_MAX_CHUNKS;
    zpk_recv_opts_init(&p->ro);
    p->ro.limits = &p->lim;
    p->ro.array_opts = &p->ao;
}

static void s_timeout(void *s, int ms)
{
    assert_int_equal(zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof ms), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SNDTIMEO, &ms, sizeof ms), 0);
}

static void *s_socket(int type)
{
    assert_true(s_nsocks < sizeof s_socks / sizeof s_socks[0]);
    void *s = zmq_socket(s_ctx, type);
    assert_non_null(s);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    s_timeout(s, 10000);
    return s_socks[s_nsocks++] = s;
}

static void s_close_all(void)
{
    while (s_nsocks > 0)
        zmq_close(s_socks[--s_nsocks]);
}

static int s_test_teardown(void **state)
{
    (void)state;
    s_close_all();
    return 0;
}

/* An inproc PAIR: *tx sends to *rx. */
static void s_pair(void **tx, void **rx)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://limits-%d", s_seq++);
    *rx = s_socket(ZMQ_PAIR);
    *tx = s_socket(ZMQ_PAIR);
    assert_int_equal(zmq_bind(*rx, ep), 0);
    assert_int_equal(zmq_connect(*tx, ep), 0);
}

/* The tests below the frame-size one: an inproc PAIR, zmqpack's counting allocator. */
static struct {
    void *tx, *rx;
} s_x;

static int s_fix_setup(void **state)
{
    (void)state;
    s_pair(&s_x.tx, &s_x.rx);
    harness_alloc_install();
    return 0;
}

static int s_fix_teardown(void **state)
{
    (void)state;
    s_close_all();
    harness_alloc_uninstall();
    return 0;
}

/* A message's frames, taken off a socket raw. */
typedef struct {
    size_t n;
    uint8_t *data[8];
    size_t size[8];
} s_frames_t;

static void s_take(void *rx, s_frames_t *f)
{
    memset(f, 0, sizeof *f);
    int more = 1;
    while (more) {
        assert_true(f->n < 8);
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, rx, 0) >= 0);
        f->size[f->n] = zmq_msg_size(&m);
        f->data[f->n] = malloc(f->size[f->n] + 1);
        memcpy(f->data[f->n], zmq_msg_data(&m), f->size[f->n]);
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        f->n++;
    }
}

/* Sends @p f raw; the allocation counts start from here. */
static void s_put(void *tx, const s_frames_t *f)
{
    harness_alloc_reset_peaks();
    for (size_t i = 0; i < f->n; i++)
        assert_int_equal(zmq_send(tx, f->data[i], f->size[i], i + 1 < f->n ? ZMQ_SNDMORE : 0),
                         (int)f->size[i]);
}

static size_t s_wire(const s_frames_t *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->size[i];
    return n;
}

static void s_frames_free(s_frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->data[i]);
    memset(f, 0, sizeof *f);
}

/* The frames zpk_send_array() makes of @p nbytes zeros (u1) with @p codec. */
static void s_zero_array(size_t nbytes, const char *codec, size_t chunk, s_frames_t *f)
{
    void *tx, *rx;
    s_pair(&tx, &rx);
    uint8_t *zeros = calloc(nbytes ? nbytes : 1, 1);
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &nbytes, 'C', zeros),
                     0);
    zpk_codec_t c;
    assert_int_equal(zpk_codec_parse(codec, strlen(codec), &c, NULL), 0);
    c.chunk_size = chunk;
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.codec = &c;
    assert_int_equal(zpk_send_array(tx, &a, &o, NULL), 0);
    s_take(rx, f);
    free(zeros);
}

/* The frames zpk_send_packed() makes of an object of @p n bytes: a bin of zeros. */
static void s_zero_object(size_t n, const char *codec, s_frames_t *f)
{
    void *tx, *rx;
    s_pair(&tx, &rx);
    uint8_t *zeros = calloc(n, 1);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, n + 16);
    zpk_write_bin(&w, zeros, n - 5); /* bin32 header: 5 bytes */
    assert_int_equal(zpk_writer_size(&w), n);
    zpk_codec_t c;
    assert_int_equal(zpk_codec_parse(codec, strlen(codec), &c, NULL), 0);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.codec = &c;
    assert_int_equal(zpk_send_packed(tx, &w, &o, NULL), 0);
    zpk_writer_free(&w);
    s_take(rx, f);
    free(zeros);
}

/* A receive's code @p rc was @p want, it allocated at most @p largest bytes at once, and
 * nothing it allocated is left. */
static void s_refused(int rc, int want, size_t largest)
{
    assert_int_equal(rc, want);
    assert_true(harness_alloc_stats().largest <= largest);
    assert_int_equal(harness_alloc_stats().live_blocks, 0);
}

/* A good message after a refused one arrives intact (nothing left behind). */
static void s_next_is_good(void *tx, void *rx)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 16);
    zpk_write_cstr(&w, "next");
    assert_int_equal(zpk_send_packed(tx, &w, NULL, NULL), 0);
    zpk_writer_free(&w);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_recv_packed(rx, NULL, NULL, &d, NULL), 0);
    const char *s;
    size_t len;
    assert_int_equal(zpk_node_get_str(zpk_doc_root(d), &s, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(s, "next", 4);
    zpk_doc_destroy(&d);
}

/* ---- frame size: libzmq's ZMQ_MAXMSGSIZE ------------------------------------------ */

static void test_frame_size_is_maxmsgsize(void **state)
{
    (void)state;
    void *rx = s_socket(ZMQ_PULL), *tx = s_socket(ZMQ_PUSH);
    int64_t max = S_MAX_FRAME;
    assert_int_equal(zmq_setsockopt(rx, ZMQ_MAXMSGSIZE, &max, sizeof max), 0);
    assert_int_equal(zmq_bind(rx, "tcp://127.0.0.1:*"), 0);
    char ep[64];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(rx, ZMQ_LAST_ENDPOINT, ep, &len), 0);
    assert_int_equal(zmq_connect(tx, ep), 0);
    s_timeout(rx, 300);

    /* one frame a byte over: libzmq drops the connection as the frame's
     * size arrives, before reading (or allocating) its body; zmqpack sees
     * nothing */
    size_t big = S_MAX_FRAME + 1;
    uint8_t *buf = calloc(big, 1);
    assert_int_equal(zmq_send(tx, buf, big, 0), (int)big);
    s_profile_t p;
    s_profile(&p);
    harness_alloc_install();
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), -EAGAIN);
    assert_true(harness_alloc_stats().largest <= S_SMALL);
    assert_int_equal(harness_alloc_stats().live_blocks, 0);
    harness_alloc_uninstall();

    /* the sender reconnects; a frame of exactly the limit gets through */
    int rc = -1;
    for (int i = 0; i < 50 && rc < 0; i++) {
        assert_int_equal(zmq_send(tx, buf, S_MAX_FRAME, 0), (int)S_MAX_FRAME);
        rc = zmq_recv(rx, buf, big, 0);
    }
    assert_int_equal(rc, (int)S_MAX_FRAME);
    s_next_is_good(tx, rx);
    free(buf);
}

/* ---- frames per message ------------------------------------------------------------- */

static void test_frames_per_message(void **state)
{
    (void)state;
    void *tx = s_x.tx, *rx = s_x.rx;
    /* 70,000 empty frames cost their sender 2 bytes each on the wire;
     * zmqpack keeps ZPK_MAX_FRAMES of them (a zmq_msg_t and a zpk_frame_t
     * each), drains the rest */
    for (int i = 0; i < 70000; i++)
        assert_int_equal(zmq_send(tx, "", 0, i + 1 < 70000 ? ZMQ_SNDMORE : 0), 0);
    s_profile_t p;
    s_profile(&p);
    zpk_doc_t *d = NULL;
    s_refused(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), ZPK_EFRAME,
              ZPK_MAX_FRAMES * (sizeof(zmq_msg_t) + sizeof(zpk_frame_t)) + 64);
    s_next_is_good(tx, rx);
}

/* ---- array bytes ------------------------------------------------------------------- */

/* Sends @p f (an array of S_MAX_NDARRAY bytes): received whole, in one allocation. */
static void s_accepted(void *rx, const s_frames_t *f, s_profile_t *p)
{
    s_put(s_x.tx, f);
    zpk_ndarray_t a;
    assert_int_equal(zpk_recv_array(rx, &p->ro, NULL, &a, &p->err), 0);
    assert_int_equal(a.nbytes, S_MAX_NDARRAY);
    assert_true(harness_alloc_stats().largest <= S_MAX_NDARRAY);
    zpk_ndarray_free(&a);
}

static void test_ndarray_bytes(void **state)
{
    (void)state;
    void *tx = s_x.tx, *rx = s_x.rx;
    s_profile_t p;
    s_profile(&p);
    zpk_ndarray_t a;

    /* at the limit: a zlib stream of zeros costs its sender under 1/500 of
     * what it decodes to; the receiver allocates the declared size, once */
    s_frames_t f;
    s_zero_array(S_MAX_NDARRAY, "zlib:9", 0, &f);
    assert_true(s_wire(&f) * 500 < S_MAX_NDARRAY);
    s_accepted(rx, &f, &p);

    /* a stream that lies (its last byte, zlib's checksum, changed): the
     * declared size is allocated, the decode fails, everything is freed */
    f.data[f.n - 1][f.size[f.n - 1] - 1] ^= 0xff;
    s_put(tx, &f);
    s_refused(zpk_recv_array(rx, &p.ro, NULL, &a, &p.err), ZPK_EDECOMPRESS, S_MAX_NDARRAY);
    s_frames_free(&f);

    /* one item over: refused as the header is read */
    s_zero_array(S_MAX_NDARRAY + 1, "zlib:9", 0, &f);
    s_put(tx, &f);
    s_refused(zpk_recv_array(rx, &p.ro, NULL, &a, &p.err), ZPK_ELIMIT, S_SMALL);
    s_frames_free(&f);
    s_next_is_good(tx, rx);
}

static void test_chunks_per_ndarray(void **state)
{
    (void)state;
    s_profile_t p;
    s_profile(&p);
    size_t chunk = S_MAX_NDARRAY / S_MAX_CHUNKS;
    s_frames_t f;
    s_zero_array(S_MAX_NDARRAY, "zlib:1", chunk, &f); /* S_MAX_CHUNKS chunks */
    s_accepted(s_x.rx, &f, &p);
    s_frames_free(&f);
    /* one chunk more: refused as the header is read */
    s_zero_array(S_MAX_NDARRAY - 1, "zlib:1", chunk - 1, &f);
    s_put(s_x.tx, &f);
    zpk_ndarray_t a;
    s_refused(zpk_recv_array(s_x.rx, &p.ro, NULL, &a, &p.err), ZPK_ELIMIT, S_SMALL);
    s_frames_free(&f);
    s_next_is_good(s_x.tx, s_x.rx);
}

/* ---- decoded object size ------------------------------------------------------------- */

static void test_object_bytes(void **state)
{
    (void)state;
    void *tx = s_x.tx, *rx = s_x.rx;
    s_profile_t p;
    s_profile(&p);
    zpk_doc_t *d = NULL;
    s_frames_t f;

    /* a compressed object at the limit: decoded into one allocation of its
     * declared size */
    s_zero_object(S_MAX_OBJECT, "zlib:9", &f);
    assert_true(s_wire(&f) * 500 < S_MAX_OBJECT);
    s_put(tx, &f);
    assert_int_equal(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), 0);
    zpk_doc_destroy(&d);
    /* the decompressed bytes, and the document's copy of them */
    assert_true(harness_alloc_stats().largest <= S_MAX_OBJECT + 64);
    assert_true(harness_alloc_stats().peak_bytes <= 2 * S_MAX_OBJECT + S_SMALL);
    s_frames_free(&f);

    /* a byte over: refused before anything is decompressed */
    s_zero_object(S_MAX_OBJECT + 1, "zlib:9", &f);
    s_put(tx, &f);
    s_refused(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), ZPK_ELIMIT, S_SMALL);
    s_frames_free(&f);
    s_next_is_good(tx, rx);

    /* the tree of an uncompressed object: a million one-byte items (nil)
     * make the most nodes a payload can ask for */
    size_t n = S_MAX_OBJECT - 5;
    uint8_t *obj = malloc(n + 5);
    obj[0] = 0xdd; /* array 32 */
    obj[1] = (uint8_t)(n >> 24);
    obj[2] = (uint8_t)(n >> 16);
    obj[3] = (uint8_t)(n >> 8);
    obj[4] = (uint8_t)n;
    memset(obj + 5, 0xc0, n);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, n + 5);
    zpk_write_raw(&w, obj, n + 5);
    assert_int_equal(zpk_send_packed(tx, &w, NULL, NULL), 0);
    zpk_writer_free(&w);
    harness_alloc_reset_peaks();
    assert_int_equal(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), 0);
    assert_int_equal(zpk_node_len(zpk_doc_root(d)), n);
    assert_true(harness_alloc_stats().peak_bytes <= S_TREE_PER_BYTE * (n + 5));
    zpk_doc_destroy(&d);
    free(obj);
}

/* ---- nesting depth --------------------------------------------------------------------- */

static void s_send_nested(void *tx, size_t depth)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, depth + 1);
    for (size_t i = 0; i < depth; i++)
        zpk_write_array(&w, 1);
    zpk_write_nil(&w);
    assert_int_equal(zpk_send_packed(tx, &w, NULL, NULL), 0);
    zpk_writer_free(&w);
}

static void test_nesting_depth(void **state)
{
    (void)state;
    void *tx = s_x.tx, *rx = s_x.rx;
    s_profile_t p;
    s_profile(&p);
    zpk_doc_t *d = NULL;
    s_send_nested(tx, S_MAX_DEPTH);
    assert_int_equal(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), 0);
    zpk_doc_destroy(&d);

    /* one level more, and a million more: refused where the level opens,
     * after a few bytes of work per level */
    size_t depths[] = {S_MAX_DEPTH + 1, S_MAX_OBJECT - 1};
    for (size_t i = 0; i < 2; i++) {
        s_frames_t f;
        s_send_nested(tx, depths[i]);
        s_take(rx, &f); /* to know where the object starts: it ends its last frame */
        size_t start = f.size[f.n - 1] - (depths[i] + 1);
        s_put(tx, &f);
        assert_int_equal(zpk_recv_packed(rx, &p.ro, NULL, &d, &p.err), ZPK_ETOODEEP);
        assert_int_equal(p.err.frame, (int)f.n - 1);
        assert_int_equal(p.err.offset, start + S_MAX_DEPTH);
        s_frames_free(&f);
        /* the tree's first block is sized by the payload, not by a claim */
        size_t largest = harness_alloc_stats().largest;
        assert_true(largest <= S_SMALL || largest <= S_FIRST_BLOCK(depths[i] + 1));
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
    }
    s_next_is_good(tx, rx);
}

/* ---- declared lengths without limits ------------------------------------------------- */

static void test_declared_length_allocates_at_most_4096(void **state)
{
    (void)state;
    /* every limit off: 5 bytes declare a 4 GiB array (and a 4 GiB str); the
     * unpacker buffers only what arrives */
    zpk_limits_t none = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 100};
    static const uint8_t heads[2][5] = {{0xdd, 0xff, 0xff, 0xff, 0xff},
                                        {0xdb, 0xff, 0xff, 0xff, 0xff}};
    uint8_t ones[100];
    memset(ones, 0x01, sizeof ones);
    harness_alloc_install();
    for (size_t i = 0; i < 2; i++) {
        zpk_unpacker_t *u = zpk_unpacker_new(&none, 0);
        harness_alloc_reset_peaks();
        zpk_doc_t *d = NULL;
        assert_int_equal(zpk_unpacker_feed(u, heads[i], 5), 0);
        assert_int_equal(zpk_unpacker_feed(u, ones, sizeof ones), 0);
        assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
        assert_true(harness_alloc_stats().largest <= S_SMALL);
        zpk_unpacker_destroy(&u);
    }
    harness_alloc_uninstall();
}

static int s_setup(void **state)
{
    (void)state;
    s_ctx = zmq_ctx_new();
    return s_ctx != NULL ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    return zmq_ctx_term(s_ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_frame_size_is_maxmsgsize, s_test_teardown),
        cmocka_unit_test_setup_teardown(test_frames_per_message, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown(test_ndarray_bytes, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown(test_chunks_per_ndarray, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown(test_object_bytes, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown(test_nesting_depth, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_teardown(test_declared_length_allocates_at_most_4096, s_test_teardown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
