/*
 * The streaming unpacker: a byte buffer in front of the resumable parser
 * of doc.c. The buffer holds [pos, wr): bytes not yet consumed. Because
 * the unpacker always copies strings into the arena, every byte before pos
 * is dead, even in the middle of an object, so the buffer is compacted
 * (lazily: only when the dead prefix is at least as large as the live
 * bytes, which keeps the total copying linear) or regrown geometrically.
 */
#include "doc_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) || defined(__clang__)
#  define S_NOINLINE __attribute__((noinline))
#else
#  define S_NOINLINE
#endif

#define S_DEFAULT_READ_SIZE ((size_t)64 * 1024)
#define S_MIN_CAP ((size_t)4096)
/* First arena block of the first object (later ones are sized like the last). */
#define S_FIRST_ARENA ((size_t)64 * 1024)

struct zpk_unpacker {
    uint8_t *buf;
    size_t cap;
    size_t pos;        /* next byte to parse */
    size_t wr;         /* end of the buffered bytes */
    size_t reserved;   /* bytes handed out by the last reserve */
    uint64_t base_off; /* stream offset of buf[0] */
    uint64_t tell;     /* stream offset after the last object */
    uint64_t need_off; /* no item can complete before the stream reaches this */
    bool skipping;     /* the object in progress is being skipped */
    int failed;        /* sticky error, 0 when none */
    zpk_error_t err;
    zpk_read_fn src;
    void *src_ud;
    size_t read_size;
    zpk__parser_t ps;  /* last: large, and never moved */
};

zpk_unpacker_t *zpk_unpacker_new(const zpk_limits_t *lim, unsigned flags)
{
    if (flags & ~(unsigned)ZPK_DOC_CHECK_UTF8)
        return NULL;
    zpk_unpacker_t *u = zpk__malloc(sizeof *u);
    if (u == NULL)
        return NULL;
    memset(u, 0, offsetof(zpk_unpacker_t, ps));
    zpk_error_clear(&u->err);
    zpk__parser_init(&u->ps, lim, flags, S_FIRST_ARENA);
    return u;
}

void zpk_unpacker_destroy(zpk_unpacker_t **pu)
{
    if (pu == NULL || *pu == NULL)
        return;
    zpk_unpacker_t *u = *pu;
    *pu = NULL;
    zpk__parser_free(&u->ps);
    zpk__free(u->buf);
    zpk__free(u);
}

void zpk_unpacker_reset(zpk_unpacker_t *u)
{
    if (u == NULL)
        return;
    zpk__parser_drop(&u->ps);
    u->pos = u->wr = u->reserved = 0;
    u->base_off = u->tell = u->need_off = 0;
    u->skipping = false;
    u->failed = 0;
    zpk_error_clear(&u->err);
}

static int s_fail(zpk_unpacker_t *u, int rc, const char *what)
{
    zpk__error(&u->err, rc, (size_t)(u->base_off + u->pos), "%s", what);
    u->failed = rc;
    zpk__parser_drop(&u->ps);
    u->skipping = false;
    return rc;
}

/* Makes at least @p n bytes writable at buf + wr. Out of line so that the
 * callers' fast paths stay leaf functions (one-byte feeding). */
static S_NOINLINE int s_make_room(zpk_unpacker_t *u, size_t n)
{
    if (u->cap - u->wr >= n)
        return 0;
    size_t live = u->wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (live > max || n > max - live)
        return ZPK_EBUFFULL;
    size_t need = live + n;
    if (u->pos >= live && u->cap >= need) {
        /* The dead prefix pays for moving the live bytes. */
        memmove(u->buf, u->buf + u->pos, live);
    } else {
        size_t ncap = u->cap < S_MIN_CAP ? S_MIN_CAP : u->cap;
        while (ncap < need && ncap <= SIZE_MAX / 2)
            ncap *= 2;
        if (ncap < need)
            ncap = need;
        if (ncap > max && need <= max)
            ncap = max;
        uint8_t *nb = zpk__malloc(ncap);
        if (nb == NULL)
            return ZPK_ENOMEM;
        if (live > 0)
            memcpy(nb, u->buf + u->pos, live);
        zpk__free(u->buf);
        u->buf = nb;
        u->cap = ncap;
    }
    u->base_off += u->pos;
    u->wr = live;
    u->pos = 0;
    return 0;
}

static S_NOINLINE int s_feed_slow(zpk_unpacker_t *u, const void *data, size_t n)
{
    if (u == NULL || (data == NULL && n > 0))
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (n == 0)
        return 0;
    if (u->cap - u->wr < n) {
        int rc = s_make_room(u, n);
        if (rc != 0)
            return rc;
    }
    memcpy(u->buf + u->wr, data, n);
    u->wr += n;
    u->reserved = 0;
    return 0;
}

int zpk_unpacker_feed(zpk_unpacker_t *u, const void *data, size_t n)
{
    /* Fast paths for one byte and for small feeds: a leaf, no call. */
    if (n == 1 && ZPK_LIKELY(u != NULL && data != NULL && u->wr < u->cap && !u->failed)) {
        u->buf[u->wr++] = *(const uint8_t *)data;
        u->reserved = 0;
        return 0;
    }
    if (ZPK_LIKELY(u != NULL && data != NULL && n - 1 < 8 && u->cap - u->wr >= n &&
                   !u->failed)) {
        uint8_t *dst = u->buf + u->wr;
        const uint8_t *src = data;
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
        u->wr += n;
        u->reserved = 0;
        return 0;
    }
    return s_feed_slow(u, data, n);
}

void *zpk_unpacker_reserve(zpk_unpacker_t *u, size_t min, size_t *avail)
{
    if (avail != NULL)
        *avail = 0;
    if (u == NULL || u->failed)
        return NULL;
    if (min == 0)
        min = 1;
    if (s_make_room(u, min) != 0)
        return NULL;
    size_t room = u->cap - u->wr;
    size_t live = u->wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (room > max - live)
        room = max - live;
    u->reserved = room;
    if (avail != NULL)
        *avail = room;
    return u->buf + u->wr;
}

int zpk_unpacker_commit(zpk_unpacker_t *u, size_t n)
{
    if (u == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (n > u->reserved)
        return ZPK_EINVAL;
    u->wr += n;
    u->reserved = 0;
    return 0;
}

static ptrdiff_t s_fd_read(void *ud, void *buf, size_t size)
{
    int fd = (int)(intptr_t)ud;
    if (size > (size_t)SSIZE_MAX)
        size = (size_t)SSIZE_MAX;
    for (;;) {
        ssize_t r = read(fd, buf, size);
        if (r >= 0)
            return (ptrdiff_t)r;
        if (errno != EINTR)
            return -errno;
    }
}

int zpk_unpacker_set_source(zpk_unpacker_t *u, zpk_read_fn fn, void *ud, size_t read_size)
{
    if (u == NULL)
        return ZPK_EINVAL;
    u->src = fn;
    u->src_ud = ud;
    u->read_size = read_size ? read_size : S_DEFAULT_READ_SIZE;
    return 0;
}

int zpk_unpacker_set_fd(zpk_unpacker_t *u, int fd, size_t read_size)
{
    if (u == NULL || fd < 0)
        return ZPK_EINVAL;
    return zpk_unpacker_set_source(u, s_fd_read, (void *)(intptr_t)fd, read_size);
}

/* One read from the source: 1 with new bytes, 0 at end of input, < 0 error. */
static int s_fill(zpk_unpacker_t *u)
{
    size_t live = u->wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (live >= max)
        return s_fail(u, ZPK_EBUFFULL, "object larger than max_buffer_size");
    size_t want = u->read_size;
    if (want > max - live)
        want = max - live;
    int rc = s_make_room(u, want);
    if (rc != 0)
        return s_fail(u, rc, "cannot grow the buffer");
    ptrdiff_t r = u->src(u->src_ud, u->buf + u->wr, want);
    if (r < 0)
        return r < INT_MIN ? ZPK_EIO : (int)r;
    if (r == 0)
        return 0;
    if ((size_t)r > want)
        return s_fail(u, ZPK_EIO, "read callback returned more than asked");
    u->wr += (size_t)r;
    return 1;
}

/* Parses on; build false skips. */
static S_NOINLINE int s_run(zpk_unpacker_t *u, bool build, zpk_doc_t **out)
{
    for (;;) {
        /* Cheap exit while the item in progress is known to be incomplete
         * (one-byte feeding of a long string costs O(1) per feed). */
        if (u->base_off + u->wr >= u->need_off) {
            bool mode = u->skipping ? false : build;
            size_t pos = u->pos;
            /* "" when nothing was ever fed: NULL + 0 is undefined (UBSan) */
            const uint8_t *base = u->buf != NULL ? u->buf : (const uint8_t *)"";
            int rc = zpk__parse(&u->ps, base, &pos, u->wr, mode, false, u->base_off, &u->err);
            u->pos = pos;
            if (rc == 0) {
                uint64_t end = u->base_off + pos;
                size_t consumed = (size_t)(end - u->tell);
                u->tell = end;
                if (u->pos == u->wr) { /* cheap compaction: nothing live */
                    u->base_off += u->pos;
                    u->pos = u->wr = 0;
                }
                if (!mode) {
                    u->skipping = false;
                    if (build)
                        continue; /* an earlier skip is done; now the object asked for */
                    return 0;
                }
                rc = zpk__parser_take(&u->ps, consumed, out);
                if (rc != 0)
                    return s_fail(u, rc, "out of memory");
                return 0;
            }
            if (rc != ZPK_EOUTOFDATA) {
                u->failed = rc;
                zpk__parser_drop(&u->ps);
                u->skipping = false;
                return rc;
            }
            u->skipping = !mode && u->ps.depth > 0;
            u->need_off = u->base_off + pos + u->ps.need;
        }
        if (u->src == NULL)
            return ZPK_EOUTOFDATA;
        int rc = s_fill(u);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return ZPK_EOUTOFDATA;
    }
}

int zpk_unpacker_next(zpk_unpacker_t *u, zpk_doc_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (u == NULL || out == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (u->base_off + u->wr < u->need_off && u->src == NULL && !u->skipping)
        return ZPK_EOUTOFDATA; /* the item at hand is still incomplete */
    return s_run(u, true, out);
}

int zpk_unpacker_skip(zpk_unpacker_t *u)
{
    if (u == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (!u->skipping && u->ps.depth > 0)
        zpk__parser_drop_nodes(&u->ps);
    u->skipping = true;
    return s_run(u, false, NULL);
}

uint64_t zpk_unpacker_tell(const zpk_unpacker_t *u)
{
    return u != NULL ? u->tell : 0;
}

size_t zpk_unpacker_buffered(const zpk_unpacker_t *u)
{
    return u != NULL ? (size_t)(u->base_off + u->wr - u->tell) : 0;
}

const zpk_error_t *zpk_unpacker_error(const zpk_unpacker_t *u)
{
    return u != NULL && u->failed ? &u->err : NULL;
}
