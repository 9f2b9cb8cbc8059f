#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zmqpack/common.h"
#include "zmqpack/json.h"
#include "zmqpack/msgpack.h"

/* Each block carries its size in a header so frees can be counted. */
typedef struct { size_t size; size_t pad; } s_hdr_t;

static harness_alloc_stats_t s_stats;
static size_t s_fail_countdown;
static size_t s_fail_above;

static bool s_should_fail(size_t size)
{
    if (s_fail_above && size > s_fail_above)
        return true;
    if (s_fail_countdown) {
        if (--s_fail_countdown == 0)
            return true;
    }
    return false;
}

static void s_note(size_t size)
{
    s_stats.calls++;
    if (size > s_stats.largest)
        s_stats.largest = size;
}

static void *s_malloc(size_t size, void *ud)
{
    (void)ud;
    s_note(size);
    if (s_should_fail(size)) {
        s_stats.failed++;
        return NULL;
    }
    s_hdr_t *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    s_stats.live_blocks++;
    s_stats.live_bytes += size;
    if (s_stats.live_bytes > s_stats.peak_bytes)
        s_stats.peak_bytes = s_stats.live_bytes;
    return h + 1;
}

static void s_free(void *ptr, void *ud)
{
    (void)ud;
    if (ptr == NULL)
        return;
    s_hdr_t *h = (s_hdr_t *)ptr - 1;
    s_stats.live_blocks--;
    s_stats.live_bytes -= h->size;
    free(h);
}

static void *s_realloc(void *ptr, size_t size, void *ud)
{
    if (ptr == NULL)
        return s_malloc(size, ud);
    s_note(size);
    if (s_should_fail(size)) {
        s_stats.failed++;
        return NULL;
    }
    s_hdr_t *h = (s_hdr_t *)ptr - 1;
    size_t old = h->size;
    s_hdr_t *n = realloc(h, sizeof *n + size);
    if (n == NULL)
        return NULL;
    n->size = size;
    s_stats.live_bytes = s_stats.live_bytes - old + size;
    if (s_stats.live_bytes > s_stats.peak_bytes)
        s_stats.peak_bytes = s_stats.live_bytes;
    return n + 1;
}

void harness_alloc_install(void)
{
    memset(&s_stats, 0, sizeof s_stats);
    s_fail_countdown = 0;
    s_fail_above = 0;
    zpk_allocator_t a = {s_malloc, s_realloc, s_free, NULL};
    assert_int_equal(zpk_set_allocator(&a), 0);
}

void harness_alloc_uninstall(void)
{
    size_t live = s_stats.live_blocks;
    s_fail_countdown = 0;
    s_fail_above = 0;
    assert_int_equal(zpk_set_allocator(NULL), 0);
    assert_int_equal(live, 0); /* a leak through the hooks */
}

void harness_alloc_reset_peaks(void)
{
    s_stats.peak_bytes = s_stats.live_bytes;
    s_stats.largest = 0;
    s_stats.calls = 0;
    s_stats.failed = 0;
}

void harness_alloc_fail_after(size_t n) { s_fail_countdown = n; }
void harness_alloc_fail_above(size_t bytes) { s_fail_above = bytes; }
harness_alloc_stats_t harness_alloc_stats(void) { return s_stats; }

/* The shared data folder: $ZPK_SHARED_DATA, else the one meson configured. */
static const char *s_data_dir(void)
{
    const char *dir = getenv("ZPK_SHARED_DATA");
#ifdef ZPK_SHARED_DATA_DIR
    if (dir == NULL)
        dir = ZPK_SHARED_DATA_DIR;
#endif
    return dir;
}

const char *harness_data_path(const char *name)
{
    static char buf[4096];
    const char *dir = s_data_dir();
    if (dir == NULL)
        return NULL;
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    FILE *f = fopen(buf, "rb");
    if (f == NULL)
        return NULL;
    fclose(f);
    return buf;
}

const char *harness_require_data(const char *name)
{
    const char *path = harness_data_path(name);
    if (path == NULL) {
        const char *dir = s_data_dir();
        printf("SKIP: the shared test data is absent (%s/%s)\n", dir ? dir : "$ZPK_SHARED_DATA",
               name);
        fflush(stdout);
        exit(77);
    }
    return path;
}

size_t harness_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ' || *p == '-') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

uint8_t *harness_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *p = realloc(data, cap);
            if (p == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return data;
}

/* The sample of harness_corpus_or_sample(), as JSON values (jansson). */
static json_t *s_sample(void)
{
    static const char *words[] = {"plain", "caf\xc3\xa9", "quote \" and \\", "tab\tnew\nline",
                                  "\xe6\x97\xa5\xe6\x9c\xac", "emoji \xf0\x9f\x98\x80", "", "/slash"};
    json_t *items = json_array();
    for (int i = 0; i < 800; i++) {
        char text[400];
        size_t n = (size_t)(i * 37) % 300;
        for (size_t k = 0; k < n; k++)
            text[k] = (char)('a' + (k * 7 + (size_t)i) % 26);
        text[n] = '\0';
        json_t *tags = json_array();
        for (int k = 0; k < i % 5; k++)
            json_array_append_new(tags, json_string(words[(i + k) % 8]));
        json_t *deep = json_pack("{s:{s:[b,b,n]}}", "a", "b", 1, 0);
        json_t *o = json_pack("{s:I, s:I, s:I, s:f, s:s, s:s, s:o, s:o, s:b, s:n}",
                              "id", (json_int_t)i * 7919 - 5000,
                              "big", ((json_int_t)1 << (i % 63)) + i,
                              "neg", -((json_int_t)1 << (i % 63)),
                              "score", i / 7.0 - 3, "name", text, "word", words[i % 8],
                              "tags", tags, "deep", deep, "flag", i % 2, "none");
        json_array_append_new(items, o);
    }
    return json_pack("{s:s, s:i, s:o}", "kind", "zmqpack test sample", "count", 800, "items",
                     items);
}

uint8_t *harness_corpus_or_sample(const char *name, size_t *len)
{
    const char *path = harness_data_path(name);
    if (path != NULL) {
        uint8_t *data = harness_read_file(path, len);
        if (data == NULL)
            fail_msg("cannot read %s", path);
        return data;
    }
    json_t *j = s_sample();
    if (j == NULL)
        fail_msg("no sample");
    uint8_t *out = NULL;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0) {
        char *text = json_dumps(j, JSON_PRESERVE_ORDER);
        if (text == NULL)
            fail_msg("no sample");
        *len = strlen(text);
        out = malloc(*len + 1);
        memcpy(out, text, *len + 1);
        free(text);
    } else {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        if (zpk_json_to_msgpack(j, &w) != 0 || zpk_writer_finish(&w) != 0)
            fail_msg("no sample");
        *len = zpk_writer_size(&w);
        out = malloc(*len);
        memcpy(out, zpk_writer_data(&w), *len);
        zpk_writer_free(&w);
    }
    json_decref(j);
    return out;
}
