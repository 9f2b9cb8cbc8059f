/* The streaming unpacker: chunking, sources, reserve/commit, limits, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "doc_util.h"
#include "harness.h"
#include "zmqpack.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* ---- a seeded generator of random objects ------------------------------- */

static const int64_t s_ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
                                 4294967296LL, INT64_MAX, -1, -32, -33, -128, -129,
                                 -32768, -32769, -2147483648LL, -2147483649LL, INT64_MIN};

static void s_gen(zpk_writer_t *w, uint64_t *rs, int depth)
{
    unsigned k = (unsigned)(test_rand(rs) % (depth > 3 ? 10 : 13));
    char txt[64];
    switch (k) {
    case 0: zpk_write_nil(w); break;
    case 1: zpk_write_bool(w, test_rand(rs) & 1); break;
    case 2: zpk_write_int(w, s_ints[test_rand(rs) % (sizeof s_ints / sizeof s_ints[0])]); break;
    case 3: zpk_write_uint(w, test_rand(rs) >> (test_rand(rs) % 64)); break;
    case 4: zpk_write_float(w, (float)(int64_t)test_rand(rs) / 3.0f); break;
    case 5: zpk_write_double(w, (double)(int64_t)test_rand(rs) / 7.0); break;
    case 6: {
        size_t n = test_rand(rs) % 40;
        for (size_t i = 0; i < n; i++)
            txt[i] = (char)('a' + test_rand(rs) % 26);
        if (n > 3 && (test_rand(rs) & 1))
            memcpy(txt, "\xc3\xa9\xe2\x82\xac", 5 <= n ? 5 : n);
        zpk_write_str(w, txt, n);
        break;
    }
    case 7: {
        size_t n = test_rand(rs) % 300;
        uint8_t bin[300];
        for (size_t i = 0; i < n; i++)
            bin[i] = (uint8_t)test_rand(rs);
        zpk_write_bin(w, bin, n);
        break;
    }
    case 8: {
        static const size_t sizes[] = {0, 1, 2, 3, 4, 8, 16, 17, 40};
        size_t n = sizes[test_rand(rs) % 9];
        uint8_t bin[40];
        memset(bin, (int)(test_rand(rs) & 0xff), n);
        zpk_write_ext(w, (int8_t)(test_rand(rs) % 100), bin, n);
        break;
    }
    case 9: zpk_write_timestamp(w, (int64_t)(test_rand(rs) % 20000000000ULL) - 1000,
                                (uint32_t)(test_rand(rs) % 1000000000u));
        break;
    case 10: case 11: {
        size_t n = test_rand(rs) % 20;
        zpk_write_array(w, n);
        for (size_t i = 0; i < n; i++)
            s_gen(w, rs, depth + 1);
        break;
    }
    default: {
        size_t n = test_rand(rs) % 12;
        zpk_write_map(w, n);
        for (size_t i = 0; i < n; i++) {
            int kn = snprintf(txt, sizeof txt, "key%u", (unsigned)(test_rand(rs) % 1000));
            zpk_write_str(w, txt, (size_t)kn);
            s_gen(w, rs, depth + 1);
        }
        break;
    }
    }
}

/* A stream of @p count random objects; ends[i] is where object i ends. */
static uint8_t *s_make_stream(uint64_t seed, size_t count, size_t *ends, size_t *len)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    uint64_t rs = seed;
    for (size_t i = 0; i < count; i++) {
        s_gen(&w, &rs, 0);
        ends[i] = zpk_writer_size(&w);
    }
    void *data;
    assert_int_equal(zpk_writer_detach(&w, &data, len), 0);
    zpk_writer_free(&w);
    return data;
}

/* Feeds @p data in chunks chosen by @p chunk (0: random 1..max) and checks
 * each object against a one-shot parse of its own bytes. */
static void s_check_stream(const uint8_t *data, size_t len, const size_t *ends, size_t count,
                           size_t chunk, size_t max, uint64_t seed)
{
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_non_null(u);
    size_t got = 0, off = 0;
    uint64_t rs = seed;
    while (got < count) {
        zpk_doc_t *d = NULL;
        int rc = zpk_unpacker_next(u, &d);
        if (rc == ZPK_EOUTOFDATA) {
            assert_null(d);
            assert_true(off < len);
            size_t n = chunk ? chunk : 1 + test_rand(&rs) % max;
            if (n > len - off)
                n = len - off;
            assert_int_equal(zpk_unpacker_feed(u, data + off, n), 0);
            off += n;
            continue;
        }
        assert_int_equal(rc, 0);
        size_t start = got ? ends[got - 1] : 0;
        assert_int_equal(zpk_doc_consumed(d), ends[got] - start);
        assert_int_equal(zpk_unpacker_tell(u), ends[got]);
        zpk_doc_t *ref = NULL;
        assert_int_equal(zpk_doc_parse(data + start, ends[got] - start, NULL, 0, &ref, NULL), 0);
        assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(ref)));
        zpk_doc_destroy(&ref);
        zpk_doc_destroy(&d);
        got++;
    }
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_buffered(u), len - off);
    zpk_unpacker_destroy(&u);
    assert_null(u);
}

static void test_chunkings_match_one_shot(void **state)
{
    (void)state;
    size_t ends[200], len;
    uint8_t *data = s_make_stream(42, 200, ends, &len);
    s_check_stream(data, len, ends, 200, 1, 0, 0);
    s_check_stream(data, len, ends, 200, 0, 7, 1);
    s_check_stream(data, len, ends, 200, 0, 300, 2);
    s_check_stream(data, len, ends, 200, 4096, 0, 0);
    s_check_stream(data, len, ends, 200, len, 0, 0);
    zpk_free(data);
}

static void test_need_more_vs_error(void **state)
{
    (void)state;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_null(zpk_unpacker_error(u));
    assert_int_equal(zpk_unpacker_feed(u, B(0x01, 0x93, 0x01)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_tell(u), 1);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_buffered(u), 2);
    assert_int_equal(zpk_unpacker_feed(u, B(0x02, 0xc1, 0x05)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
    assert_null(d);
    const zpk_error_t *e = zpk_unpacker_error(u);
    assert_non_null(e);
    assert_int_equal(e->code, ZPK_EFORMAT);
    assert_int_equal(e->offset, 4); /* stream offset of the 0xc1 */
    /* stays failed, never crashes */
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_skip(u), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_feed(u, B(0x01)), ZPK_EFORMAT);
    size_t avail = 99;
    assert_null(zpk_unpacker_reserve(u, 1, &avail));
    assert_int_equal(avail, 0);
    assert_int_equal(zpk_unpacker_commit(u, 0), ZPK_EFORMAT);
    /* reset makes it new */
    zpk_unpacker_reset(u);
    assert_null(zpk_unpacker_error(u));
    assert_int_equal(zpk_unpacker_tell(u), 0);
    assert_int_equal(zpk_unpacker_buffered(u), 0);
    assert_int_equal(zpk_unpacker_feed(u, B(0xa1, 'z')), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    const char *s;
    assert_int_equal(zpk_node_get_str(zpk_doc_root(d), &s, NULL), 0);
    assert_string_equal(s, "z");
    zpk_doc_destroy(&d);

    /* a bad byte inside a container that still expects many items is
     * reported once ZPK_UNPACKER_WAIT bytes from its item's start are
     * buffered (doc.h), by next() as by skip(); check() reports it at once */
    for (int how = 0; how < 3; how++) {
        zpk_unpacker_reset(u);
        assert_int_equal(zpk_unpacker_feed(u, B(0xdc, 0x03, 0xe8, 0x01, 0x02)), 0);
        assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
        assert_int_equal(zpk_unpacker_feed(u, B(0xc1)), 0);
        if (how == 2) {
            assert_int_equal(zpk_unpacker_check(u), ZPK_EFORMAT);
        } else {
            size_t wr = 6;
            int rc;
            while ((rc = how ? zpk_unpacker_skip(u) : zpk_unpacker_next(u, &d)) ==
                   ZPK_EOUTOFDATA) {
                assert_true(wr < 5 + ZPK_UNPACKER_WAIT);
                assert_int_equal(zpk_unpacker_feed(u, B(0x07)), 0);
                wr++;
            }
            assert_int_equal(rc, ZPK_EFORMAT);
            assert_int_equal(wr, 5 + ZPK_UNPACKER_WAIT);
        }
        assert_null(d);
        assert_int_equal(zpk_unpacker_error(u)->offset, 5);
        assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
        assert_int_equal(zpk_unpacker_check(u), ZPK_EFORMAT);
    }
    /* the wait never delays a whole object: [1, 2, 3] returns as its last
     * byte arrives, though ZPK_UNPACKER_WAIT bytes were not buffered */
    zpk_unpacker_reset(u);
    assert_int_equal(zpk_unpacker_feed(u, B(0x93, 0x01)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0x02)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0x03)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    assert_int_equal(zpk_node_len(zpk_doc_root(d)), 3);
    zpk_doc_destroy(&d);
    /* an error in the first item of an object is reported at once */
    assert_int_equal(zpk_unpacker_feed(u, B(0xc1)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_error(u)->offset, 4);
    zpk_unpacker_reset(u);

    /* argument errors */
    assert_int_equal(zpk_unpacker_next(NULL, &d), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_next(u, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_feed(u, NULL, 3), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_feed(u, NULL, 0), 0);
    assert_int_equal(zpk_unpacker_skip(NULL), ZPK_EINVAL);
    assert_null(zpk_unpacker_new(NULL, ZPK_DOC_BORROW));
    assert_null(zpk_unpacker_new(NULL, 0x80));
    assert_int_equal(zpk_unpacker_set_fd(u, -1, 0), ZPK_EINVAL);
    zpk_unpacker_destroy(&u);
    zpk_unpacker_destroy(&u);
    zpk_unpacker_destroy(NULL);
    zpk_unpacker_reset(NULL);
    assert_int_equal(zpk_unpacker_tell(NULL), 0);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    size_t ends[50], len;
    uint8_t *data = s_make_stream(7, 50, ends, &len);
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    size_t off = 0, got = 0;
    uint64_t rs = 3;
    while (got < 50) {
        zpk_doc_t *d = NULL;
        int rc = zpk_unpacker_next(u, &d);
        if (rc == 0) {
            zpk_doc_destroy(&d);
            got++;
            continue;
        }
        assert_int_equal(rc, ZPK_EOUTOFDATA);
        size_t want = 1 + test_rand(&rs) % 500, avail = 0;
        uint8_t *p = zpk_unpacker_reserve(u, want, &avail);
        assert_non_null(p);
        assert_true(avail >= want);
        size_t n = want < len - off ? want : len - off;
        memcpy(p, data + off, n); /* as recv() would */
        assert_int_equal(zpk_unpacker_commit(u, avail + 1), ZPK_EINVAL);
        assert_int_equal(zpk_unpacker_commit(u, n), 0);
        off += n;
    }
    assert_int_equal(zpk_unpacker_tell(u), len);
    /* commit without a reserve */
    assert_int_equal(zpk_unpacker_commit(u, 1), ZPK_EINVAL);
    /* a feed between reserve and commit takes the reserved room */
    size_t avail = 0;
    assert_non_null(zpk_unpacker_reserve(u, 4, &avail));
    assert_int_equal(zpk_unpacker_feed(u, B(0x01)), 0);
    assert_int_equal(zpk_unpacker_commit(u, 1), ZPK_EINVAL);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_buffered(u), 0);
    zpk_unpacker_destroy(&u);
    zpk_free(data);
}

typedef struct {
    const uint8_t *data;
    size_t len, off, step;
    int eagain_every;
    int calls;
} s_src_t;

static ptrdiff_t s_read_cb(void *ud, void *buf, size_t size)
{
    s_src_t *s = ud;
    s->calls++;
    if (s->eagain_every && s->calls % s->eagain_every == 0)
        return -EAGAIN;
    size_t n = s->len - s->off;
    if (n > s->step)
        n = s->step;
    if (n > size)
        n = size;
    memcpy(buf, s->data + s->off, n);
    s->off += n;
    return (ptrdiff_t)n;
}

static void test_callback_source(void **state)
{
    (void)state;
    size_t ends[60], len;
    uint8_t *data = s_make_stream(11, 60, ends, &len);
    s_src_t src = {data, len, 0, 3, 5, 0};
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_set_source(u, s_read_cb, &src, 10), 0);
    size_t got = 0, again = 0;
    for (;;) {
        zpk_doc_t *d = NULL;
        int rc = zpk_unpacker_next(u, &d);
        if (rc == -EAGAIN) { /* passed through, the unpacker stays usable */
            again++;
            continue;
        }
        if (rc == ZPK_EOUTOFDATA)
            break;
        assert_int_equal(rc, 0);
        size_t start = got ? ends[got - 1] : 0;
        zpk_doc_t *ref = NULL;
        assert_int_equal(zpk_doc_parse(data + start, ends[got] - start, NULL, 0, &ref, NULL), 0);
        assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(ref)));
        zpk_doc_destroy(&ref);
        zpk_doc_destroy(&d);
        got++;
    }
    assert_int_equal(got, 60);
    assert_true(again > 0);
    assert_int_equal(zpk_unpacker_buffered(u), 0); /* a clean end */
    zpk_unpacker_destroy(&u);

    /* a truncated source: EOUTOFDATA with bytes left over */
    s_src_t cut = {data, ends[0] - 1, 0, 1000, 0, 0};
    u = zpk_unpacker_new(NULL, 0);
    zpk_unpacker_set_source(u, s_read_cb, &cut, 0);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_buffered(u), ends[0] - 1);
    zpk_unpacker_destroy(&u);
    zpk_free(data);
}

static void test_fd_source(void **state)
{
    (void)state;
    size_t ends[40], len;
    uint8_t *data = s_make_stream(5, 40, ends, &len);
    assert_true(len < 60000); /* fits in a pipe buffer: no thread needed */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], data, len), (ssize_t)len);
    close(fds[1]);
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_set_fd(u, fds[0], 17), 0);
    size_t got = 0;
    zpk_doc_t *d = NULL;
    int rc;
    while ((rc = zpk_unpacker_next(u, &d)) == 0) {
        zpk_doc_destroy(&d);
        got++;
    }
    assert_int_equal(rc, ZPK_EOUTOFDATA);
    assert_int_equal(got, 40);
    assert_int_equal(zpk_unpacker_tell(u), len);
    assert_int_equal(zpk_unpacker_buffered(u), 0);
    close(fds[0]);
    /* a closed descriptor: -EBADF comes back */
    rc = zpk_unpacker_next(u, &d);
    assert_int_equal(rc, -EBADF);
    zpk_unpacker_destroy(&u);
    zpk_free(data);
}

static void test_skip_and_tell(void **state)
{
    (void)state;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    /* [1, "ab"], {"k": [2, 3]}, 7 */
    assert_int_equal(zpk_unpacker_feed(u, B(0x92, 0x01, 0xa2, 'a', 'b', 0x81, 0xa1, 'k')), 0);
    assert_int_equal(zpk_unpacker_skip(u), 0);
    assert_int_equal(zpk_unpacker_tell(u), 5);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA); /* half built */
    assert_int_equal(zpk_unpacker_skip(u), ZPK_EOUTOFDATA);     /* now half skipped */
    assert_int_equal(zpk_unpacker_feed(u, B(0x92, 0x02)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA); /* still skipping */
    assert_int_equal(zpk_unpacker_feed(u, B(0x03, 0x07)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0); /* finishes the skip, returns 7 */
    uint64_t v;
    assert_int_equal(zpk_node_get_uint(zpk_doc_root(d), &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(zpk_doc_consumed(d), 1);
    assert_int_equal(zpk_unpacker_tell(u), 12);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_skip(u), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0xc3)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0); /* a skip with nothing begun is forgotten */
    zpk_doc_destroy(&d);
    zpk_unpacker_destroy(&u);
}

/* Streams @p bytes whole and returns next()'s code. */
static int s_stream_one(const zpk_limits_t *lim, const uint8_t *bytes, size_t len)
{
    zpk_unpacker_t *u = zpk_unpacker_new(lim, 0);
    assert_non_null(u);
    int rc = zpk_unpacker_feed(u, bytes, len);
    if (rc == 0) {
        zpk_doc_t *d = NULL;
        rc = zpk_unpacker_next(u, &d);
        zpk_doc_destroy(&d);
    }
    zpk_unpacker_destroy(&u);
    return rc;
}

static void test_each_limit(void **state)
{
    (void)state;
    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    lim.max_str_len = 4;
    lim.max_bin_len = 5;
    lim.max_ext_len = 2;
    lim.max_array_len = 3;
    lim.max_map_len = 2;
    lim.max_depth = 3;
    assert_int_equal(s_stream_one(&lim, B(0xa4, 'a', 'b', 'c', 'd')), 0);
    assert_int_equal(s_stream_one(&lim, B(0xa5, 'a', 'b', 'c', 'd', 'e')), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0xc4, 5, 1, 2, 3, 4, 5)), 0);
    assert_int_equal(s_stream_one(&lim, B(0xc4, 6, 1, 2, 3, 4, 5, 6)), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0xd5, 1, 1, 2)), 0);
    assert_int_equal(s_stream_one(&lim, B(0xc7, 3, 1, 1, 2, 3)), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0x93, 1, 2, 3)), 0);
    assert_int_equal(s_stream_one(&lim, B(0x94, 1, 2, 3, 4)), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0x82, 1, 2, 3, 4)), 0);
    assert_int_equal(s_stream_one(&lim, B(0x83, 1, 2, 3, 4, 5, 6)), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0x91, 0x91, 0x90)), 0);
    assert_int_equal(s_stream_one(&lim, B(0x91, 0x91, 0x91, 0x90)), ZPK_ETOODEEP);
    assert_int_equal(s_stream_one(&lim, B(0x91, 0x81, 0x01, 0x91, 0x01)), 0);
    assert_int_equal(s_stream_one(&lim, B(0x91, 0x81, 0x01, 0x91, 0x80)), ZPK_ETOODEEP);
    /* the limit applies to the header, before the payload arrives */
    assert_int_equal(s_stream_one(&lim, B(0xdb, 0, 0, 0, 5)), ZPK_ELIMIT);
    assert_int_equal(s_stream_one(&lim, B(0xdb, 0, 0, 0, 4)), ZPK_EOUTOFDATA);

    /* max_buffer_size: unconsumed bytes, exactly */
    zpk_limits_default(&lim, 16);
    assert_int_equal(lim.max_buffer_size, 16);
    zpk_unpacker_t *u = zpk_unpacker_new(&lim, 0);
    uint8_t buf[17];
    memset(buf, 0xa0, sizeof buf);
    assert_int_equal(zpk_unpacker_feed(u, buf, 16), 0);
    assert_int_equal(zpk_unpacker_feed(u, buf, 1), ZPK_EBUFFULL);
    size_t avail = 1;
    assert_null(zpk_unpacker_reserve(u, 1, &avail));
    assert_int_equal(avail, 0);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), 0); /* consumes one byte */
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_feed(u, buf, 1), 0);
    assert_int_equal(zpk_unpacker_feed(u, buf, 1), ZPK_EBUFFULL);
    assert_null(zpk_unpacker_reserve(u, 0, &avail)); /* full: not even one byte */
    assert_int_equal(avail, 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    assert_non_null(zpk_unpacker_reserve(u, 0, &avail));
    assert_int_equal(avail, 1);
    assert_int_equal(zpk_unpacker_commit(u, 1), 0);
    zpk_unpacker_destroy(&u);
}

static void test_depth_100000(void **state)
{
    (void)state;
    const size_t depth = 100000;
    uint8_t *buf = malloc(depth + 1);
    memset(buf, 0x91, depth);
    buf[depth] = 0x01;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    zpk_doc_t *d = NULL;
    int rc = ZPK_EOUTOFDATA;
    for (size_t off = 0; off < depth + 1 && rc == ZPK_EOUTOFDATA; off += 4096) {
        size_t n = depth + 1 - off < 4096 ? depth + 1 - off : 4096;
        assert_int_equal(zpk_unpacker_feed(u, buf + off, n), 0);
        rc = zpk_unpacker_next(u, &d);
    }
    assert_int_equal(rc, ZPK_ETOODEEP);
    assert_int_equal(zpk_unpacker_error(u)->offset, ZPK_DEFAULT_MAX_DEPTH);
    zpk_unpacker_destroy(&u);

    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    lim.max_depth = depth;
    u = zpk_unpacker_new(&lim, 0);
    rc = ZPK_EOUTOFDATA;
    for (size_t off = 0; off < depth + 1; off += 4096) {
        assert_int_equal(rc, ZPK_EOUTOFDATA);
        size_t n = depth + 1 - off < 4096 ? depth + 1 - off : 4096;
        assert_int_equal(zpk_unpacker_feed(u, buf + off, n), 0);
        rc = zpk_unpacker_next(u, &d);
    }
    assert_int_equal(rc, 0);
    zpk_doc_destroy(&d); /* iterative: no stack overflow */
    zpk_unpacker_destroy(&u);
    free(buf);
}

static void test_huge_declared_lengths(void **state)
{
    (void)state;
    zpk_limits_t big = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 100};
    harness_alloc_install();
    zpk_unpacker_t *u = zpk_unpacker_new(&big, 0);
    harness_alloc_reset_peaks();
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_feed(u, B(0xdd, 0xff, 0xff, 0xff, 0xff)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    for (int i = 0; i < 100; i++)
        assert_int_equal(zpk_unpacker_feed(u, B(0x01)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_true(harness_alloc_stats().largest <= 8192);
    zpk_unpacker_reset(u);
    assert_int_equal(zpk_unpacker_feed(u, B(0xdb, 0xff, 0xff, 0xff, 0xff, 'a')), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_true(harness_alloc_stats().largest <= 8192);
    zpk_unpacker_destroy(&u);

    /* default limits: refused at once */
    u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_feed(u, B(0xdd, 0xff, 0xff, 0xff, 0xff)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_ELIMIT);
    assert_int_equal(zpk_unpacker_error(u)->offset, 0);
    zpk_unpacker_destroy(&u);
    harness_alloc_uninstall();
}

static void test_alloc_failures(void **state)
{
    (void)state;
    size_t ends[30], len;
    uint8_t *data = s_make_stream(99, 30, ends, &len);
    harness_alloc_install();
    int rc = ZPK_ENOMEM;
    size_t n;
    for (n = 1; n < 100000 && rc != 0; n++) {
        harness_alloc_fail_after(n);
        zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
        if (u == NULL) {
            assert_int_equal(harness_alloc_stats().live_blocks, 0);
            continue;
        }
        size_t got = 0, off = 0;
        rc = 0;
        while (got < 30) {
            zpk_doc_t *d = NULL;
            rc = zpk_unpacker_next(u, &d);
            if (rc == 0) {
                zpk_doc_destroy(&d);
                got++;
                continue;
            }
            if (rc != ZPK_EOUTOFDATA)
                break;
            size_t k = len - off < 1000 ? len - off : 1000;
            rc = zpk_unpacker_feed(u, data + off, k);
            if (rc != 0)
                break;
            off += k;
        }
        if (rc != 0) {
            assert_int_equal(rc, ZPK_ENOMEM);
            zpk_doc_t *d = NULL;
            if (zpk_unpacker_error(u) != NULL)
                assert_int_equal(zpk_unpacker_next(u, &d), ZPK_ENOMEM);
        }
        zpk_unpacker_destroy(&u);
        harness_alloc_fail_after(0);
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 3);
    harness_alloc_uninstall();
    zpk_free(data);
}

static void test_utf8_streaming(void **state)
{
    (void)state;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, ZPK_DOC_CHECK_UTF8);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_feed(u, B(0xa2, 0xc3, 0xa9, 0xa2, 0xc3, 0x28)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EUTF8);
    assert_int_equal(zpk_unpacker_error(u)->offset, 3);
    zpk_unpacker_destroy(&u);
}

/* Mutated inputs: the one-shot parse and the unpacker (fed whole, and one
 * byte at a time) agree, and nothing crashes or leaks. */
static void test_mutations_agree(void **state)
{
    (void)state;
    uint64_t rs = 2024;
    harness_alloc_install();
    for (int round = 0; round < 3000; round++) {
        size_t ends[3], len;
        uint8_t *data = s_make_stream(1000 + (uint64_t)round, 1, ends, &len);
        int muts = 1 + (int)(test_rand(&rs) % 4);
        for (int m = 0; m < muts && len > 0; m++) {
            size_t at = test_rand(&rs) % len;
            switch (test_rand(&rs) % 3) {
            case 0: data[at] = (uint8_t)test_rand(&rs); break;
            case 1: data[at] ^= (uint8_t)(1u << (test_rand(&rs) % 8)); break;
            default: len = at; break; /* truncate */
            }
        }
        zpk_doc_t *one = NULL;
        zpk_error_t err;
        zpk_error_clear(&err);
        int rc1 = zpk_doc_parse(data, len, NULL, 0, &one, &err);

        for (int mode = 0; mode < 3; mode++) {
            zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
            zpk_doc_t *d = NULL;
            int rc2 = ZPK_EOUTOFDATA;
            size_t fed = 0;
            if (mode == 0) {
                assert_int_equal(zpk_unpacker_feed(u, data, len), 0);
                rc2 = zpk_unpacker_next(u, &d);
                fed = len;
            } else {
                /* mode 1: the inline paths of doc.h; mode 2: the functions */
                for (size_t i = 0; i < len && rc2 == ZPK_EOUTOFDATA; i++) {
                    if (mode == 1) {
                        assert_int_equal(zpk_unpacker_feed(u, data + i, 1), 0);
                        rc2 = zpk_unpacker_next(u, &d);
                    } else {
                        assert_int_equal((zpk_unpacker_feed)(u, data + i, 1), 0);
                        rc2 = (zpk_unpacker_next)(u, &d);
                    }
                    fed = i + 1;
                }
            }
            if (rc2 != 0 && rc2 != ZPK_EOUTOFDATA) {
                /* fed byte by byte: reported within ZPK_UNPACKER_WAIT bytes of the
                 * offending item's start */
                if (mode > 0)
                    assert_true(fed <= zpk_unpacker_error(u)->offset + ZPK_UNPACKER_WAIT);
            }
            if (rc2 == ZPK_EOUTOFDATA) {
                /* the end of the input: look at every byte now */
                rc2 = zpk_unpacker_check(u);
                if (rc2 == 0)
                    assert_int_equal(zpk_unpacker_next(u, &d), 0);
            }
            if (rc1 == 0 || rc1 == ZPK_EEXTRADATA) {
                assert_int_equal(rc2, 0);
                assert_int_equal(zpk_doc_consumed(d), zpk_doc_consumed(one));
                assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(one)));
            } else if (rc1 == ZPK_EOUTOFDATA) {
                /* one-shot may stop early (too few bytes for the declared
                 * count) where the stream goes on to find the error */
                assert_true(rc2 == ZPK_EOUTOFDATA || rc2 == ZPK_EFORMAT ||
                            rc2 == ZPK_ELIMIT || rc2 == ZPK_ETOODEEP);
            } else {
                assert_int_equal(rc2, rc1);
                assert_int_equal(zpk_unpacker_error(u)->offset, err.offset);
            }
            zpk_doc_destroy(&d);
            zpk_unpacker_destroy(&u);
        }
        zpk_doc_destroy(&one);
        zpk_free(data);
    }
    harness_alloc_uninstall();
}

/* check(): every buffered byte looked at now; a whole object found stays in
 * the unpacker (tell and buffered unmoved) until next() or skip() takes it. */
static void test_check(void **state)
{
    (void)state;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_check(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_check(u), ZPK_EOUTOFDATA); /* nothing fed */
    /* [1, "ab"], 7 */
    assert_int_equal(zpk_unpacker_feed(u, B(0x92, 0x01, 0xa2, 'a', 'b', 0x07)), 0);
    assert_int_equal(zpk_unpacker_check(u), 0);
    assert_int_equal(zpk_unpacker_check(u), 0);
    assert_int_equal(zpk_unpacker_tell(u), 0);
    assert_int_equal(zpk_unpacker_buffered(u), 6);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    assert_int_equal(zpk_node_len(zpk_doc_root(d)), 2);
    assert_int_equal(zpk_doc_consumed(d), 5);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_unpacker_tell(u), 5);
    assert_int_equal(zpk_unpacker_buffered(u), 1);
    assert_int_equal(zpk_unpacker_check(u), 0);
    assert_int_equal(zpk_unpacker_skip(u), 0); /* drops the ready 7 */
    assert_int_equal(zpk_unpacker_tell(u), 6);
    assert_int_equal(zpk_unpacker_buffered(u), 0);
    assert_int_equal(zpk_unpacker_check(u), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    /* half an object: not an error */
    assert_int_equal(zpk_unpacker_feed(u, B(0x92, 0x01)), 0);
    assert_int_equal(zpk_unpacker_check(u), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0x02)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    assert_int_equal(zpk_node_len(zpk_doc_root(d)), 2);
    zpk_doc_destroy(&d);
    /* a bad byte that next() is still waiting on; check() finds it and the
     * error sticks */
    assert_int_equal(zpk_unpacker_feed(u, B(0xdc, 0x01, 0x00, 0x01)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0xc1)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0x01)), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_check(u), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_error(u)->offset, 13);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_check(u), ZPK_EFORMAT);
    /* a ready object is freed by reset and by destroy */
    zpk_unpacker_reset(u);
    assert_int_equal(zpk_unpacker_feed(u, B(0xa1, 'x')), 0);
    assert_int_equal(zpk_unpacker_check(u), 0);
    zpk_unpacker_reset(u);
    assert_int_equal(zpk_unpacker_buffered(u), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, B(0xa1, 'y')), 0);
    assert_int_equal(zpk_unpacker_check(u), 0);
    zpk_unpacker_destroy(&u);

    /* with a source, next() looks at the waited-on bytes before reporting
     * the end of the input */
    const uint8_t bad[] = {0xdc, 0x01, 0x00, 0x01, 0xc1};
    s_src_t src = {bad, sizeof bad, 0, 1, 0, 0};
    u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_set_source(u, s_read_cb, &src, 1), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EFORMAT);
    assert_int_equal(zpk_unpacker_error(u)->offset, 4);
    zpk_unpacker_destroy(&u);
}

/* Walks @p n: every str is NUL-terminated; returns the number of strs. */
static size_t s_check_strs(const zpk_node_t *n)
{
    size_t count = 0;
    const char *p;
    size_t len;
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_STR:
        assert_int_equal(zpk_node_get_str(n, &p, &len), 0);
        assert_int_equal(p[len], 0);
        return 1;
    case ZPK_TYPE_ARRAY:
        for (size_t i = 0; i < zpk_node_len(n); i++)
            count += s_check_strs(zpk_node_array_at(n, i));
        return count;
    case ZPK_TYPE_MAP:
        for (size_t i = 0; i < zpk_node_len(n); i++)
            count += s_check_strs(zpk_node_map_key(n, i)) + s_check_strs(zpk_node_map_value(n, i));
        return count;
    default:
        return 0;
    }
}

/* Streamed strs are copied in runs of the buffer (as one-shot copies are):
 * every one is an exact, NUL-terminated copy that outlives the unpacker and
 * its buffer (ASan sees any pointer left into it), in every chunking. */
static void test_strings_outlive_buffer(void **state)
{
    (void)state;
    size_t ends[120], len;
    uint8_t *data = s_make_stream(77, 120, ends, &len);
    const size_t chunks[] = {1, 3, 64, 1000, 4096, 0};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        size_t chunk = chunks[c] ? chunks[c] : len;
        zpk_doc_t *docs[120] = {0};
        zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
        size_t got = 0, off = 0, strs = 0;
        while (got < 120) {
            int rc = zpk_unpacker_next(u, &docs[got]);
            if (rc == 0) {
                got++;
                continue;
            }
            assert_int_equal(rc, ZPK_EOUTOFDATA);
            size_t n = len - off < chunk ? len - off : chunk;
            assert_true(n > 0);
            assert_int_equal(zpk_unpacker_feed(u, data + off, n), 0);
            off += n;
        }
        zpk_unpacker_destroy(&u);
        for (size_t i = 0; i < 120; i++) {
            size_t start = i ? ends[i - 1] : 0;
            zpk_doc_t *ref = NULL;
            assert_int_equal(zpk_doc_parse(data + start, ends[i] - start, NULL, 0, &ref, NULL),
                             0);
            assert_true(tree_equal(zpk_doc_root(docs[i]), zpk_doc_root(ref)));
            strs += s_check_strs(zpk_doc_root(docs[i]));
            zpk_doc_destroy(&ref);
            zpk_doc_destroy(&docs[i]);
        }
        assert_true(strs > 100);
    }
    zpk_free(data);
}

/* Streaming preallocates a container's children only when the object's
 * bytes received so far (parsed or buffered) cover one byte per slot still
 * open; a larger claim is gathered on the value stack as it arrives. */
/* A str cut short in a stream is parsed again from its header next time,
 * and an error inside it is reported at its header, for every header form
 * (the streaming parser reads the header length back from the bytes before
 * the payload). Forms: fixstr, str8, str16, str32, each length 5 (str8/16/32
 * not the shortest form, which is still valid), and str16 of 0xd905 bytes,
 * whose length bytes look like a str8 header. */
static void test_str_headers_streamed(void **state)
{
    (void)state;
    static const uint8_t heads[][6] = {
        {1, 0xa5}, {2, 0xd9, 5}, {3, 0xda, 0, 5}, {5, 0xdb, 0, 0, 0, 5}, {3, 0xda, 0xd9, 0x05},
    };
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        size_t hl = heads[h][0];
        size_t slen = h == 4 ? 0xd905 : 5;
        /* [1, "..."] after two whole objects (so the str is not at offset 0) */
        size_t len = 2 + 2 + hl + slen;
        uint8_t *buf = test_malloc(len);
        buf[0] = 0x07;
        buf[1] = 0x08;
        buf[2] = 0x92;
        buf[3] = 0x01;
        memcpy(buf + 4, heads[h] + 1, hl);
        for (size_t i = 0; i < slen; i++)
            buf[4 + hl + i] = (uint8_t)('a' + i % 26);
        for (size_t chunk = 1; chunk <= 7; chunk += 3) {
            zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
            zpk_doc_t *d = NULL;
            size_t got = 0;
            for (size_t off = 0; off < len; off += chunk) {
                size_t n = len - off < chunk ? len - off : chunk;
                assert_int_equal(zpk_unpacker_feed(u, buf + off, n), 0);
                int rc;
                while ((rc = zpk_unpacker_next(u, &d)) == 0) {
                    if (got == 2) {
                        const zpk_node_t *s = zpk_node_array_at(zpk_doc_root(d), 1);
                        const char *p;
                        size_t n2;
                        assert_int_equal(zpk_node_get_str(s, &p, &n2), 0);
                        assert_int_equal(n2, slen);
                        assert_memory_equal(p, buf + 4 + hl, slen);
                        assert_int_equal(p[slen], 0);
                    }
                    got++;
                    zpk_doc_destroy(&d);
                }
                assert_int_equal(rc, ZPK_EOUTOFDATA);
            }
            assert_int_equal(got, 3);
            zpk_unpacker_destroy(&u);

            /* max_str_len 4: the error names the str header's offset, 4 */
            zpk_limits_t lim;
            zpk_limits_default(&lim, 0);
            lim.max_str_len = 4;
            u = zpk_unpacker_new(&lim, 0);
            int rc = ZPK_EOUTOFDATA;
            for (size_t off = 0; off < len && rc != ZPK_ELIMIT; off += chunk) {
                size_t n = len - off < chunk ? len - off : chunk;
                assert_int_equal(zpk_unpacker_feed(u, buf + off, n), 0);
                while ((rc = zpk_unpacker_next(u, &d)) == 0)
                    zpk_doc_destroy(&d);
            }
            if (rc == ZPK_EOUTOFDATA)
                rc = zpk_unpacker_check(u);
            assert_int_equal(rc, ZPK_ELIMIT);
            assert_int_equal(zpk_unpacker_error(u)->offset, 4);
            zpk_unpacker_destroy(&u);
        }
        test_free(buf);
    }
}

static void test_prealloc_backed_by_bytes(void **state)
{
    (void)state;
    zpk_limits_t big = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 100};
    harness_alloc_install();
    zpk_unpacker_t *u = zpk_unpacker_new(&big, 0);
    uint8_t pad[2000];
    memset(pad, 'p', sizeof pad);
    /* [bin of 2000 bytes, [claiming 2^31 elements: 1, 1, ...]] */
    assert_int_equal(zpk_unpacker_feed(u, B(0x92, 0xc5, 0x07, 0xd0)), 0);
    assert_int_equal(zpk_unpacker_feed(u, pad, sizeof pad), 0);
    harness_alloc_reset_peaks();
    assert_int_equal(zpk_unpacker_feed(u, B(0xdd, 0x80, 0x00, 0x00, 0x00)), 0);
    zpk_doc_t *d = NULL;
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(zpk_unpacker_feed(u, B(0x01)), 0);
        assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    }
    assert_int_equal(zpk_unpacker_check(u), ZPK_EOUTOFDATA);
    /* the value stack holds 3000 nodes: far from 2^31 */
    assert_true(harness_alloc_stats().largest <= 128 * 1024);
    assert_true(harness_alloc_stats().peak_bytes <= 1024 * 1024);
    zpk_unpacker_destroy(&u);

    /* a container the received bytes do back: the same tree either way */
    u = zpk_unpacker_new(NULL, 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 2);
    zpk_write_bin(&w, pad, sizeof pad);
    zpk_write_array(&w, 1500);
    for (int i = 0; i < 1500; i++)
        zpk_write_uint(&w, (uint64_t)i);
    void *bytes;
    size_t n;
    assert_int_equal(zpk_writer_detach(&w, &bytes, &n), 0);
    zpk_writer_free(&w);
    for (size_t off = 0; off < n; off += 700) {
        assert_int_equal(zpk_unpacker_feed(u, (uint8_t *)bytes + off, n - off < 700 ? n - off : 700),
                         0);
        int rc = zpk_unpacker_next(u, &d);
        assert_int_equal(rc, off + 700 >= n ? 0 : ZPK_EOUTOFDATA);
    }
    zpk_doc_t *ref = NULL;
    assert_int_equal(zpk_doc_parse(bytes, n, NULL, 0, &ref, NULL), 0);
    assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(ref)));
    zpk_doc_destroy(&ref);
    zpk_doc_destroy(&d);
    zpk_unpacker_destroy(&u);
    zpk_free(bytes);
    harness_alloc_uninstall();
}

/* Caller mistakes: every entry point of the unpacker refuses NULL. */
static void test_null_arguments(void **state)
{
    (void)state;
    assert_null(zpk_unpacker_new(NULL, 0x80)); /* an unknown flag */
    zpk_unpacker_destroy(NULL);
    zpk_unpacker_t *u = NULL;
    zpk_unpacker_destroy(&u);
    zpk_doc_t *d = (zpk_doc_t *)1;
    assert_int_equal(zpk_unpacker_feed(NULL, "\x01", 1), ZPK_EINVAL);
    assert_int_equal((zpk_unpacker_feed)(NULL, "\x01", 1), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_next(NULL, &d), ZPK_EINVAL);
    assert_null(d);
    assert_int_equal((zpk_unpacker_next)(NULL, &d), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_skip(NULL), ZPK_EINVAL);
    size_t avail = 1;
    assert_null(zpk_unpacker_reserve(NULL, 1, &avail));
    assert_int_equal(avail, 0);
    assert_int_equal(zpk_unpacker_commit(NULL, 1), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_set_source(NULL, NULL, NULL, 0), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_set_fd(NULL, 0, 0), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_check(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_tell(NULL), 0);
    assert_int_equal(zpk_unpacker_buffered(NULL), 0);
    assert_null(zpk_unpacker_error(NULL));
    zpk_unpacker_reset(NULL);

    u = zpk_unpacker_new(NULL, 0);
    assert_non_null(u);
    assert_int_equal(zpk_unpacker_feed(u, NULL, 3), ZPK_EINVAL);      /* inline path */
    assert_int_equal((zpk_unpacker_feed)(u, NULL, 3), ZPK_EINVAL);    /* the function */
    assert_int_equal(zpk_unpacker_feed(u, NULL, 0), 0);
    assert_int_equal(zpk_unpacker_next(u, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_unpacker_set_fd(u, -1, 0), ZPK_EINVAL);
    /* commit more than was reserved */
    assert_non_null(zpk_unpacker_reserve(u, 4, &avail));
    assert_int_equal(zpk_unpacker_commit(u, avail + 1), ZPK_EINVAL);
    /* a failed unpacker answers with its error, and works after a reset */
    zpk_unpacker_reset(u);
    assert_int_equal(zpk_unpacker_feed(u, "\x05", 1), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    zpk_unpacker_destroy(&u);
    assert_null(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunkings_match_one_shot),
        cmocka_unit_test(test_need_more_vs_error),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_callback_source),
        cmocka_unit_test(test_fd_source),
        cmocka_unit_test(test_skip_and_tell),
        cmocka_unit_test(test_each_limit),
        cmocka_unit_test(test_depth_100000),
        cmocka_unit_test(test_huge_declared_lengths),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_utf8_streaming),
        cmocka_unit_test(test_mutations_agree),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_strings_outlive_buffer),
        cmocka_unit_test(test_prealloc_backed_by_bytes),
        cmocka_unit_test(test_str_headers_streamed),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
