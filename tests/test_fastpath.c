/*
 * The per-message fast paths of array messages: short typestrs, the array
 * header and message header as the writers lay them out (each checked
 * against the general walk), the "pad" key that aligns a single-frame
 * payload, and receiving both padded and unpadded single-frame arrays in
 * place over inproc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "message_internal.h"
#include "zmqpack.h"

/* Every 3-character typestr, against the rules of docs/arrays.md. */
static void test_dtype_short_typestrs(void **state)
{
    (void)state;
    const char *orders = "<>|=!";
    const char *kinds = "biufcxMSU"; /* '?' has rules of its own (test_dtype.c) */
    for (const char *o = orders; *o; o++)
        for (const char *k = kinds; *k; k++)
            for (char d = '0'; d <= '9'; d++) {
                char s[3] = {*o, *k, d};
                zpk_dtype_t dt = {0};
                int rc = zpk_dtype_parse(s, 3, &dt, NULL);
                unsigned size = (unsigned)(d - '0');
                bool kind_ok = strchr("biufc", *k) != NULL;
                bool size_ok = (*k == 'b' && size == 1) ||
                               ((*k == 'i' || *k == 'u') &&
                                (size == 1 || size == 2 || size == 4 || size == 8)) ||
                               (*k == 'f' && (size == 2 || size == 4 || size == 8)) ||
                               (*k == 'c' && size == 8);
                bool ok = *o != '!' && kind_ok && size_ok && (size == 1 || *o != '|');
                if (!ok) {
                    if (rc != ZPK_EDTYPE)
                        print_error("typestr '%.3s'\n", s);
                    assert_int_equal(rc, ZPK_EDTYPE);
                    continue;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(dt.kind, *k);
                assert_int_equal(dt.itemsize, size);
                char want = size == 1 ? ZPK_BYTEORDER_NA
                            : *o == '=' ? ZPK_BYTEORDER_NATIVE
                                        : *o;
                assert_int_equal(dt.byteorder, want);
            }
}

/* Writes @p info's header, and the same map with one unknown key added at
 * the end (which the fast path does not take), and checks both decode to
 * the same result. Returns the decode's code. */
static int s_both_ways(const zpk_ndarray_info_t *info, zpk_ndarray_info_t *out)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_ndarray_header_write(&w, info);
    assert_int_equal(zpk_writer_finish(&w), 0);
    const uint8_t *b = zpk_writer_data(&w);
    size_t n = zpk_writer_size(&w);
    assert_int_equal(b[0], 0x87);

    uint8_t slow[512];
    assert_true(n + 4 <= sizeof slow);
    memcpy(slow, b, n);
    slow[0] = 0x88;
    memcpy(slow + n, "\xa2zz\xc0", 4); /* "zz": nil */

    zpk_ndarray_info_t a, s;
    zpk_error_t ea = {0}, es = {0};
    int ra = zpk_ndarray_header_decode(b, n, NULL, &a, &ea);
    int rs = zpk_ndarray_header_decode(slow, n + 4, NULL, &s, &es);
    assert_int_equal(ra, rs);
    if (ra == 0) {
        assert_memory_equal(&a.dtype, &s.dtype, sizeof a.dtype);
        assert_int_equal(a.ndim, s.ndim);
        assert_memory_equal(a.shape, s.shape, sizeof a.shape);
        assert_int_equal(a.order, s.order);
        assert_int_equal(a.nbytes, s.nbytes);
        assert_int_equal(a.codec.id, s.codec.id);
        assert_int_equal(a.chunk_size, s.chunk_size);
        assert_int_equal(a.nchunks, s.nchunks);
        assert_int_equal(a.stored_bytes, s.stored_bytes);
        for (size_t i = 0; i < a.nchunks; i++) {
            assert_int_equal(a.chunks[i].stored, s.chunks[i].stored);
            assert_int_equal(a.chunks[i].raw, s.chunks[i].raw);
            assert_int_equal(a.chunks[i].compressed, s.chunks[i].compressed);
        }
        if (a.nchunks == 0)
            assert_null(a.chunks);
        zpk_ndarray_info_free(&s);
        if (out != NULL)
            *out = a;
        else
            zpk_ndarray_info_free(&a);
    } else {
        assert_int_equal(ea.code, es.code);
    }
    /* every truncation fails cleanly */
    for (size_t k = 0; k < n; k++) {
        zpk_ndarray_info_t t;
        assert_int_not_equal(zpk_ndarray_header_decode(b, k, NULL, &t, NULL), 0);
    }
    zpk_writer_free(&w);
    return ra;
}

static void s_info(zpk_ndarray_info_t *info, zpk_chunk_info_t *ci, const char *dt, int ndim,
                   const size_t *shape, char order, size_t nbytes)
{
    memset(info, 0, sizeof *info);
    assert_int_equal(zpk_dtype_parse(dt, strlen(dt), &info->dtype, NULL), 0);
    info->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        info->shape[i] = shape[i];
    info->order = order;
    info->nbytes = nbytes;
    zpk_codec_default(&info->codec, ZPK_CODEC_NONE);
    info->chunk_size = nbytes;
    info->nchunks = nbytes ? 1 : 0;
    *ci = (zpk_chunk_info_t){nbytes, nbytes, false};
    info->chunks = nbytes ? ci : NULL;
}

static void test_array_header_fast_matches_general(void **state)
{
    (void)state;
    harness_alloc_install();
    static const struct {
        const char *dt;
        int ndim;
        size_t shape[4];
        char order;
    } cases[] = {
        {"<f8", 1, {128}, 'C'},         {"|u1", 1, {70000}, 'C'},
        {">i2", 2, {3, 5}, 'F'},        {"<c8", 3, {2, 3, 4}, 'C'},
        {"|b1", 0, {0}, 'C'},           {"<i8", 1, {0}, 'C'},
        {"<u4", 2, {300, 70000}, 'C'}, {"<f4", 4, {1, 1, 1, 200}, 'F'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zpk_ndarray_info_t info, got;
        zpk_chunk_info_t ci;
        size_t nb = 0;
        zpk_dtype_t dt;
        assert_int_equal(zpk_dtype_parse(cases[i].dt, 3, &dt, NULL), 0);
        assert_int_equal(zpk_shape_nbytes(dt, cases[i].ndim, cases[i].shape, &nb), 0);
        s_info(&info, &ci, cases[i].dt, cases[i].ndim, cases[i].shape, cases[i].order, nb);
        assert_int_equal(s_both_ways(&info, &got), 0);
        assert_int_equal(got.nbytes, nb);
        assert_int_equal(got.order, cases[i].order);
        zpk_ndarray_info_free(&got);

        /* a header that lies: nbytes off by one, a chunk of the wrong size */
        s_info(&info, &ci, cases[i].dt, cases[i].ndim, cases[i].shape, cases[i].order, nb);
        info.nbytes = nb + 1;
        assert_int_equal(s_both_ways(&info, NULL), ZPK_ESHAPE);
        if (nb > 0) {
            s_info(&info, &ci, cases[i].dt, cases[i].ndim, cases[i].shape, cases[i].order, nb);
            ci.stored = nb - 1;
            assert_int_equal(s_both_ways(&info, NULL), ZPK_EFORMAT);
        }
    }
    /* over the receiver's limits: the same codes either way */
    size_t shape[1] = {1000};
    zpk_ndarray_info_t info, got;
    zpk_chunk_info_t ci;
    s_info(&info, &ci, "<f8", 1, shape, 'C', 8000);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_ndarray_header_write(&w, &info);
    assert_int_equal(zpk_writer_finish(&w), 0);
    zpk_ndarray_opts_t o;
    zpk_ndarray_opts_default(&o);
    o.max_ndarray_bytes = 7999;
    assert_int_equal(zpk_ndarray_header_decode(zpk_writer_data(&w), zpk_writer_size(&w), &o,
                                             &got, NULL),
                     ZPK_ELIMIT);
    zpk_ndarray_opts_default(&o);
    o.max_chunks = 0;
    assert_int_equal(zpk_ndarray_header_decode(zpk_writer_data(&w), zpk_writer_size(&w), &o,
                                             &got, NULL),
                     ZPK_ELIMIT);
    zpk_ndarray_opts_default(&o);
    o.limits.max_str_len = 4; /* "dtype" is 5: the general walk refuses it */
    assert_int_not_equal(zpk_ndarray_header_decode(zpk_writer_data(&w), zpk_writer_size(&w), &o,
                                                 &got, NULL),
                         0);
    zpk_writer_free(&w);
    harness_alloc_uninstall();
}

/* The single-frame header of @p dt ends at a multiple of its alignment,
 * and the message decodes with the payload where it was put. */
static void test_single_frame_pad(void **state)
{
    (void)state;
    const char *dts[] = {"|u1", "<i2", "<f4", "<f8", ">c8", "<c16", "<f16"};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++)
        for (size_t n = 1; n < 40; n++) {
            zpk_dtype_t dt;
            assert_int_equal(zpk_dtype_parse(dts[i], strlen(dts[i]), &dt, NULL), 0);
            uint8_t data[40 * 16];
            for (size_t k = 0; k < sizeof data; k++)
                data[k] = (uint8_t)(k * 7 + n);
            zpk_ndarray_t a;
            assert_int_equal(zpk_ndarray_init(&a, dt, 1, &n, 'C', data), 0);
            zpk_ndarray_enc_t enc;
            assert_int_equal(zpk_ndarray_encode(&a, NULL, false, &enc, NULL), 0);
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            zpk__msg_write_header(&w, ZPK__KIND_NDARRAY, true, 0, NULL, &enc, 1);
            assert_int_equal(zpk_writer_finish(&w), 0);
            size_t align = zpk__dtype_align(dt);
            size_t hl = zpk_writer_size(&w);
            assert_int_equal(hl % align, 0);
            zpk_write_raw(&w, data, a.nbytes);
            assert_int_equal(zpk_writer_finish(&w), 0);

            zpk_frame_t f = {(void *)(uintptr_t)zpk_writer_data(&w), zpk_writer_size(&w), NULL,
                             NULL};
            zpk__msg_t m;
            assert_int_equal(zpk__msg_parse(&f, 1, NULL, NULL, &m, NULL), 0);
            assert_int_equal(m.kind, ZPK__KIND_NDARRAY);
            assert_true(m.single);
            assert_int_equal(m.nspans, 1);
            assert_ptr_equal(m.spans[0].data, (const uint8_t *)f.data + hl);
            assert_int_equal(m.spans[0].size, a.nbytes);
            assert_int_equal(m.ndarrays[0].nbytes, a.nbytes);
            zpk__msg_free(&m);
            zpk_writer_free(&w);
            zpk_ndarray_enc_free(&enc);
        }
}

/* Sends @p n bytes as one raw frame. */
static void s_send_raw(void *s, const void *d, size_t n)
{
    assert_int_equal(zmq_send(s, d, n, 0), (int)n);
}

/* Padded (zmqpack's sender) and unpadded (another writer) single-frame
 * arrays arrive intact; the padded one is used in place: receiving it
 * allocates nothing the size of the payload. */
static void test_inproc_single_frame(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int tmo = 5000;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(push, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    assert_int_equal(zmq_bind(pull, "inproc://fastpath"), 0);
    assert_int_equal(zmq_connect(push, "inproc://fastpath"), 0);

    double d[512];
    for (size_t i = 0; i < 512; i++)
        d[i] = (double)i * 0.5;
    size_t n = 512;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);

    harness_alloc_install();
    for (int rep = 0; rep < 3; rep++) {
        assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
        harness_alloc_reset_peaks();
        zpk_ndarray_t r;
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &r, NULL), 0);
        harness_alloc_stats_t st = harness_alloc_stats();
        assert_true(st.largest < sizeof d / 4);
        assert_int_equal((uintptr_t)r.data % 8, 0);
        assert_int_equal(r.nbytes, sizeof d);
        assert_memory_equal(r.data, d, sizeof d);
        zpk_ndarray_free(&r);
    }

    /* the same array without "pad", at every misalignment */
    for (size_t shift = 0; shift < 8; shift++) {
        zpk_ndarray_enc_t enc;
        assert_int_equal(zpk_ndarray_encode(&a, NULL, false, &enc, NULL), 0);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_map(&w, 5 + (shift ? 1 : 0));
        zpk_write_cstr(&w, "zpk");
        zpk_write_uint(&w, 1);
        zpk_write_cstr(&w, "kind");
        zpk_write_cstr(&w, "array");
        zpk_write_cstr(&w, "frames");
        zpk_write_uint(&w, 0);
        zpk_write_cstr(&w, "single");
        zpk_write_bool(&w, true);
        if (shift) { /* an unknown key before the array shifts the payload */
            zpk_write_cstr(&w, "x");
            static const char sp[32] = "        ";
            zpk_write_str(&w, sp, shift - 1);
        }
        zpk_write_cstr(&w, "array");
        zpk_ndarray_header_write(&w, &enc.info);
        zpk_write_raw(&w, d, sizeof d);
        assert_int_equal(zpk_writer_finish(&w), 0);
        s_send_raw(push, zpk_writer_data(&w), zpk_writer_size(&w));
        zpk_writer_free(&w);
        zpk_ndarray_enc_free(&enc);
        zpk_ndarray_t r;
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &r, NULL), 0);
        assert_int_equal((uintptr_t)r.data % 8, 0);
        assert_int_equal(r.nbytes, sizeof d);
        assert_memory_equal(r.data, d, sizeof d);
        zpk_ndarray_free(&r);
    }
    harness_alloc_uninstall();
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_short_typestrs),
        cmocka_unit_test(test_array_header_fast_matches_general),
        cmocka_unit_test(test_single_frame_pad),
        cmocka_unit_test(test_inproc_single_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
