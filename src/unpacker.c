/*
 * The streaming unpacker: a byte buffer in front of the resumable parser
 * of doc.c. The buffer holds [pos, wr): bytes not yet consumed. Because
 * the unpacker always copies strings into the arena, every byte before pos
 * is dead, even in the middle of an object, so the buffer is compacted
 * (lazily: only when the dead prefix is at least as large as the live
 * bytes, which keeps the total copying linear) or regrown geometrically.
 *
 * The head (zpk__unpacker_head_t, zmqpack/doc.h) is what the inline fast
 * paths of feed and next see: buf and wr, lim (how far a feed may append in
 * place: the buffer's end, clipped by max_buffer_size; wr itself when feeds
 * must take the slow path) and gate (the buffer offset next() waits for;
 * 0 when next() must always run). s_sync() recomputes lim and gate after
 * every change of the state they derive from.
 */
#define ZPK_NO_INLINE_UNPACKER /* this file defines the functions behind the inline paths */
#include "doc_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>


#define S_DEFAULT_READ_SIZE ((size_t)64 * 1024)
#define S_MIN_CAP ((size_t)4096)
/* First arena block of the first object (later ones are sized like the last). */
#define S_FIRST_ARENA ((size_t)64 * 1024)

struct zpk_unpacker {
    zpk__unpacker_head_t h; /* first: buf, wr, lim, gate (see above) */
    size_t cap;
    size_t pos;        /* next byte to parse */
    size_t reserved;   /* bytes handed out by the last reserve */
    size_t res_wr;     /* wr when they were: a commit must follow at once */
    uint64_t base_off; /* stream offset of buf[0] */
    uint64_t tell;     /* stream offset after the last object */
    uint64_t need_off; /* the parser waits until the stream reaches this */
    zpk_doc_t *ready;  /* an object completed by zpk_unpacker_check() */
    uint64_t ready_tell; /* tell once it is taken out */
    bool skipping;     /* the object in progress is being skipped */
    int failed;        /* sticky error, 0 when none */
    zpk_error_t err;
    zpk_read_fn src;
    void *src_ud;
    size_t read_size;
    zpk__parser_t ps;  /* last: large, and never moved */
};

/* Recomputes the head's lim and gate (see the top of the file). */
static void s_sync(zpk_unpacker_t *u)
{
    size_t lim = u->h.wr;
    if (!u->failed) {
        size_t max = u->ps.lim.max_buffer_size;
        lim = u->cap - u->pos > max ? u->pos + max : u->cap;
    }
    u->h.lim = lim;
    size_t gate = 0;
    if (!u->failed && !u->skipping && u->src == NULL && u->ready == NULL &&
        u->need_off > u->base_off) {
        uint64_t g = u->need_off - u->base_off;
        gate = g > SIZE_MAX ? SIZE_MAX : (size_t)g;
    }
    u->h.gate = gate;
}

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
    s_sync(u);
    return u;
}

void zpk_unpacker_destroy(zpk_unpacker_t **pu)
{
    if (pu == NULL || *pu == NULL)
        return;
    zpk_unpacker_t *u = *pu;
    *pu = NULL;
    zpk_doc_destroy(&u->ready);
    zpk__parser_free(&u->ps);
    zpk__free(u->h.buf);
    zpk__free(u);
}

void zpk_unpacker_reset(zpk_unpacker_t *u)
{
    if (u == NULL)
        return;
    zpk_doc_destroy(&u->ready);
    zpk__parser_drop(&u->ps);
    u->pos = u->h.wr = u->reserved = 0;
    u->base_off = u->tell = u->need_off = 0;
    u->skipping = false;
    u->failed = 0;
    zpk_error_clear(&u->err);
    s_sync(u);
}

static int s_fail(zpk_unpacker_t *u, int rc, const char *what)
{
    zpk__error(&u->err, rc, (size_t)(u->base_off + u->pos), "%s", what);
    u->failed = rc;
    zpk__parser_drop(&u->ps);
    u->skipping = false;
    s_sync(u);
    return rc;
}

/* Makes at least @p n bytes writable at buf + wr. Out of line so that the
 * callers' fast paths stay leaf functions (one-byte feeding). */
static ZPK_NOINLINE int s_make_room(zpk_unpacker_t *u, size_t n)
{
    if (u->cap - u->h.wr >= n)
        return 0;
    size_t live = u->h.wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (live > max || n > max - live)
        return ZPK_EBUFFULL;
    size_t need = live + n;
    if (u->pos >= live && u->cap >= need) {
        /* The dead prefix pays for moving the live bytes. */
        memmove(u->h.buf, u->h.buf + u->pos, live);
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
            memcpy(nb, u->h.buf + u->pos, live);
        zpk__free(u->h.buf);
        u->h.buf = nb;
        u->cap = ncap;
    }
    u->base_off += u->pos;
    u->h.wr = live;
    u->pos = 0;
    u->reserved = 0;
    s_sync(u);
    return 0;
}

static ZPK_NOINLINE int s_feed_slow(zpk_unpacker_t *u, const void *data, size_t n)
{
    if (u == NULL || (data == NULL && n > 0))
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (n == 0)
        return 0;
    if (u->cap - u->h.wr < n) {
        int rc = s_make_room(u, n);
        if (rc != 0)
            return rc;
    }
    memcpy(u->h.buf + u->h.wr, data, n);
    u->h.wr += n;
    return 0;
}

int zpk_unpacker_feed(zpk_unpacker_t *u, const void *data, size_t n)
{
    /* The inline path of zmqpack/doc.h, for callers that do not use it. */
    if (ZPK_LIKELY(u != NULL && data != NULL && n - 1 < u->h.lim - u->h.wr)) {
        uint8_t *dst = u->h.buf + u->h.wr;
        if (n == 1)
            *dst = *(const uint8_t *)data;
        else
            memcpy(dst, data, n);
        u->h.wr += n;
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
    size_t room = u->cap - u->h.wr;
    size_t live = u->h.wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (room > max - live)
        room = max - live;
    u->reserved = room;
    u->res_wr = u->h.wr;
    if (avail != NULL)
        *avail = room;
    return u->h.buf + u->h.wr;
}

int zpk_unpacker_commit(zpk_unpacker_t *u, size_t n)
{
    if (u == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    /* A feed since the reserve moved wr: the reserved room is gone. */
    if (n > u->reserved || u->h.wr != u->res_wr)
        return ZPK_EINVAL;
    u->h.wr += n;
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
    s_sync(u);
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
    size_t live = u->h.wr - u->pos;
    size_t max = u->ps.lim.max_buffer_size;
    if (live >= max)
        return s_fail(u, ZPK_EBUFFULL, "object larger than max_buffer_size");
    size_t want = u->read_size;
    if (want > max - live)
        want = max - live;
    int rc = s_make_room(u, want);
    if (rc != 0)
        return s_fail(u, rc, "cannot grow the buffer");
    ptrdiff_t r = u->src(u->src_ud, u->h.buf + u->h.wr, want);
    if (r < 0)
        return r < INT_MIN ? ZPK_EIO : (int)r;
    if (r == 0)
        return 0;
    if ((size_t)r > want)
        return s_fail(u, ZPK_EIO, "read callback returned more than asked");
    u->h.wr += (size_t)r;
    return 1;
}

/* Parses on; build false skips. force: parse even while the parser waits
 * for more bytes (need_off), to find an error in the bytes at hand. */
static int s_run_body(zpk_unpacker_t *u, bool build, bool force, zpk_doc_t **out)
{
    bool forced = force;
    for (;;) {
        if (force || u->base_off + u->h.wr >= u->need_off) {
            force = false;
            bool mode = u->skipping ? false : build;
            size_t pos = u->pos;
            /* "" when nothing was ever fed: NULL + 0 is undefined (UBSan) */
            const uint8_t *base = u->h.buf != NULL ? u->h.buf : (const uint8_t *)"";
            int rc = zpk__parse(&u->ps, base, &pos, u->h.wr, mode, false, u->base_off, &u->err);
            u->pos = pos;
            if (rc == 0) {
                uint64_t end = u->base_off + pos;
                size_t consumed = (size_t)(end - u->tell);
                u->tell = end;
                if (u->pos == u->h.wr) { /* cheap compaction: nothing live */
                    u->base_off += u->pos;
                    u->pos = u->h.wr = 0;
                    u->reserved = 0;
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
        if (rc == 0) {
            /* End of input: look at the bytes the parser was waiting on. */
            if (!forced && u->base_off + u->h.wr < u->need_off) {
                force = forced = true;
                continue;
            }
            return ZPK_EOUTOFDATA;
        }
    }
}

static ZPK_NOINLINE int s_run(zpk_unpacker_t *u, bool build, bool force, zpk_doc_t **out)
{
    int rc = s_run_body(u, build, force, out);
    s_sync(u);
    return rc;
}

int zpk_unpacker_next(zpk_unpacker_t *u, zpk_doc_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (u == NULL || out == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (u->ready != NULL) {
        *out = u->ready;
        u->ready = NULL;
        u->tell = u->ready_tell;
        s_sync(u);
        return 0;
    }
    if (u->base_off + u->h.wr < u->need_off && u->src == NULL && !u->skipping)
        return ZPK_EOUTOFDATA; /* waiting for bytes (see doc.h) */
    return s_run(u, true, false, out);
}

int zpk_unpacker_skip(zpk_unpacker_t *u)
{
    if (u == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (u->ready != NULL) {
        zpk_doc_destroy(&u->ready);
        u->tell = u->ready_tell;
        s_sync(u);
        return 0;
    }
    if (!u->skipping && u->ps.depth > 0)
        zpk__parser_drop_nodes(&u->ps);
    u->skipping = true;
    return s_run(u, false, false, NULL);
}

int zpk_unpacker_check(zpk_unpacker_t *u)
{
    if (u == NULL)
        return ZPK_EINVAL;
    if (u->failed)
        return u->failed;
    if (u->ready != NULL)
        return 0;
    uint64_t tell = u->tell;
    zpk_doc_t *d = NULL;
    int rc = s_run(u, true, true, &d);
    if (rc == 0) {
        u->ready = d;
        u->ready_tell = u->tell;
        u->tell = tell;
        s_sync(u);
    }
    return rc;
}

uint64_t zpk_unpacker_tell(const zpk_unpacker_t *u)
{
    return u != NULL ? u->tell : 0;
}

size_t zpk_unpacker_buffered(const zpk_unpacker_t *u)
{
    return u != NULL ? (size_t)(u->base_off + u->h.wr - u->tell) : 0;
}

const zpk_error_t *zpk_unpacker_error(const zpk_unpacker_t *u)
{
    return u != NULL && u->failed ? &u->err : NULL;
}
