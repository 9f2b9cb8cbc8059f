/*
 * The document tree: the arena, the resumable parser shared with the
 * streaming unpacker (unpacker.c), the one-shot parse and the accessors.
 *
 * Parsing is iterative (an explicit stack of open containers). A container
 * whose declared count the bytes at hand can back (each element takes at
 * least one byte, and so does every slot still open in the enclosing
 * preallocated containers) gets its children preallocated in the arena and
 * written in place: "direct mode", always the case for a complete one-shot
 * input (otherwise the input is truncated: ZPK_EOUTOFDATA). When streaming,
 * the object's bytes already parsed count as well as those buffered (each
 * backs one open slot at most); when even they cannot back the count, its
 * finished children wait on a value stack and are copied into the arena in
 * one block when it closes. Either way nothing is allocated beyond what
 * real bytes can fill, and an interrupted parse resumes exactly where the
 * bytes ran out: an item (header plus payload) is consumed only when all
 * of its bytes are there.
 */
#include "doc_internal.h"

#include "byteorder.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------- */

#define S_BLOCK_HDR ((sizeof(zpk__block_t) + 15) & ~(size_t)15)
#define S_MIN_BLOCK ((size_t)256)
#define S_MAX_BLOCK ((size_t)64 * 1024 * 1024)
/* Cap on the first block of a streamed object, which is sized like what
 * the object before it used: a stream of similar objects then allocates
 * one block per object, of the right size, instead of growing a chain of
 * doubling blocks each time (freeing such a chain at once makes glibc give
 * its pages back, and fault them in again for the next object: see
 * bench/NOTES.md). Capped, so that one small object after a large one holds
 * at most this much; the next is sized by the small one. */
#define S_REUSE_HINT ((size_t)1024 * 1024)
/* Cap on the first block of a one-shot parse. */
#define S_ONESHOT_HINT ((size_t)1024 * 1024)

static uint8_t s_no_space;

static void s_arena_init(zpk__arena_t *a, size_t hint)
{
    a->lo = a->hi = &s_no_space;
    a->head = NULL;
    if (hint < S_MIN_BLOCK)
        hint = S_MIN_BLOCK;
    if (hint > S_MAX_BLOCK)
        hint = S_MAX_BLOCK;
    a->next_size = (hint + 15) & ~(size_t)15;
    a->total = 0;
}

static void s_blocks_free(zpk__block_t *b)
{
    while (b != NULL) {
        zpk__block_t *next = b->next;
        zpk__free(b);
        b = next;
    }
}

static zpk__block_t *s_block_new(zpk__arena_t *a, size_t size)
{
    size_t total;
    if (!zpk__add_size(size, S_BLOCK_HDR, &total))
        return NULL;
    zpk__block_t *b = zpk__malloc(total);
    if (b == NULL)
        return NULL;
    b->size = size;
    b->next = a->head;
    a->head = b;
    a->total += total;
    return b;
}

/* Slow path of both bump allocators. @p n is a multiple of 16 for nodes. */
static void *s_arena_slow(zpk__arena_t *a, size_t n, bool nodes)
{
    if (n > a->next_size / 4) {
        /* A run this large gets its own block; the current one stays. */
        size_t sz = (n + 15) & ~(size_t)15;
        if (sz < n)
            return NULL;
        zpk__block_t *b = s_block_new(a, sz);
        return b ? (uint8_t *)b + S_BLOCK_HDR : NULL;
    }
    zpk__block_t *b = s_block_new(a, a->next_size);
    if (b == NULL)
        return NULL;
    a->lo = (uint8_t *)b + S_BLOCK_HDR;
    a->hi = a->lo + b->size;
    if (a->next_size < S_MAX_BLOCK)
        a->next_size *= 2;
    if (nodes) {
        void *r = a->lo;
        a->lo += n;
        return r;
    }
    a->hi -= n;
    return a->hi;
}

static inline zpk_node_t *s_arena_nodes(zpk__arena_t *a, size_t count)
{
    size_t n = count * sizeof(zpk_node_t);
    if (ZPK_LIKELY((size_t)(a->hi - a->lo) >= n)) {
        void *r = a->lo;
        a->lo += n;
        return r;
    }
    return s_arena_slow(a, n, true);
}

static inline uint8_t *s_arena_bytes(zpk__arena_t *a, size_t n)
{
    if (ZPK_LIKELY((size_t)(a->hi - a->lo) >= n)) {
        a->hi -= n;
        return a->hi;
    }
    return s_arena_slow(a, n, false);
}

/* ---- parser state ------------------------------------------------------ */

void zpk__parser_init(zpk__parser_t *ps, const zpk_limits_t *lim, unsigned flags,
                      size_t arena_hint)
{
    if (lim != NULL)
        ps->lim = *lim;
    else
        zpk_limits_default(&ps->lim, 0);
    ps->flags = flags;
    s_arena_init(&ps->arena, arena_hint);
    ps->vals = ps->ivals;
    ps->nvals = 0;
    ps->outer = 0;
    ps->ndirect = 0;
    ps->lextra = 0;
    ps->capvals = ZPK__INLINE_VALS;
    ps->frames = ps->iframes;
    ps->depth = 0;
    ps->capframes = ZPK__INLINE_FRAMES;
    memset(&ps->root, 0, sizeof ps->root);
}

void zpk__parser_drop(zpk__parser_t *ps)
{
    s_blocks_free(ps->arena.head);
    s_arena_init(&ps->arena, ps->arena.next_size / 2);
    ps->nvals = 0;
    ps->depth = 0;
    ps->outer = 0;
    ps->ndirect = 0;
}

void zpk__parser_drop_nodes(zpk__parser_t *ps)
{
    s_blocks_free(ps->arena.head);
    s_arena_init(&ps->arena, ps->arena.next_size / 2);
    ps->nvals = 0;
    /* The open containers continue without nodes: none may point into the
     * freed arena. Only the root's one slot stays "direct" (see s_parse). */
    for (size_t i = 0; i < ps->depth; i++) {
        ps->frames[i].direct = false;
        ps->frames[i].kids = ps->frames[i].slot = NULL;
    }
    ps->outer = ps->depth > 0 ? 1 : 0;
    ps->ndirect = 0;
}

void zpk__parser_free(zpk__parser_t *ps)
{
    zpk__parser_drop(ps);
    if (ps->vals != ps->ivals)
        zpk__free(ps->vals);
    if (ps->frames != ps->iframes)
        zpk__free(ps->frames);
    ps->vals = ps->ivals;
    ps->capvals = ZPK__INLINE_VALS;
    ps->frames = ps->iframes;
    ps->capframes = ZPK__INLINE_FRAMES;
}

/* Doubles a stack that may still be one of the embedded arrays. */
static void *s_grow(void *cur, const void *embedded, size_t *cap, size_t elem)
{
    size_t ncap, bytes;
    if (!zpk__mul_size(*cap, 2, &ncap) || !zpk__mul_size(ncap, elem, &bytes))
        return NULL;
    void *n;
    if (cur == embedded) {
        n = zpk__malloc(bytes);
        if (n != NULL)
            memcpy(n, cur, *cap * elem);
    } else {
        n = zpk__realloc(cur, bytes);
    }
    if (n != NULL)
        *cap = ncap;
    return n;
}

int zpk__parser_take(zpk__parser_t *ps, size_t consumed, zpk_doc_t **out)
{
    size_t dsz = (sizeof(struct zpk_doc) + sizeof(zpk_node_t) - 1) / sizeof(zpk_node_t);
    struct zpk_doc *d = (struct zpk_doc *)(void *)s_arena_nodes(&ps->arena, dsz);
    if (d == NULL) {
        zpk__parser_drop(ps);
        return ZPK_ENOMEM;
    }
    d->root = ps->root;
    d->root.flags |= ZPK__NODE_DOC_ROOT;
    d->blocks = ps->arena.head;
    d->release = NULL;
    d->ud = NULL;
    d->consumed = consumed;
    d->copies = NULL;
    d->ncopies = d->capcopies = 0;
    /* The next object's first block is sized like what this one used. */
    size_t used = ps->arena.total - (size_t)(ps->arena.hi - ps->arena.lo);
    size_t hint = used < S_REUSE_HINT ? used : S_REUSE_HINT;
    s_arena_init(&ps->arena, hint);
    ps->nvals = 0;
    ps->depth = 0;
    ps->outer = 0;
    ps->ndirect = 0;
    *out = d;
    return 0;
}

/* ---- the parser -------------------------------------------------------- */

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool zpk__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c < 0xc2) {
            return false;
        } else if (c < 0xe0) {
            if (n - i < 2 || (s[i + 1] & 0xc0) != 0x80)
                return false;
            i += 2;
        } else if (c < 0xf0) {
            if (n - i < 3 || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
                return false;
            if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f))
                return false;
            i += 3;
        } else if (c < 0xf5) {
            if (n - i < 4 || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
                (s[i + 3] & 0xc0) != 0x80)
                return false;
            if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
                return false;
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

/*
 * A node is written as two 64-bit words (header, value) from registers:
 * assembling it field by field costs partial-register stalls.
 */
_Static_assert(sizeof(zpk_node_t) == 16, "node is two words");
_Static_assert(offsetof(zpk_node_t, v) == 8, "value is the second word");

static inline uint64_t s_hdr_flags(uint8_t type, int8_t ext, uint32_t len, uint16_t flags)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint64_t)type | (uint64_t)(uint8_t)ext << 8 | (uint64_t)flags << 16 |
           (uint64_t)len << 32;
#else
    zpk_node_t n;
    uint64_t h;
    n.type = type;
    n.exttype = ext;
    n.flags = flags;
    n.len = len;
    memcpy(&h, &n, 8);
    return h;
#endif
}

static inline uint64_t s_hdr(uint8_t type, int8_t ext, uint32_t len)
{
    return s_hdr_flags(type, ext, len, 0);
}

typedef union {
    uint64_t u;
    float f;
    bool b;
    const void *p;
} s_word_t;

static inline uint64_t s_vptr(const void *p)
{
    s_word_t w;
    w.u = 0;
    w.p = p;
    return w.u;
}
static inline uint64_t s_vbool(bool b)
{
    s_word_t w;
    w.u = 0;
    w.b = b;
    return w.u;
}
static inline uint64_t s_vfloat(uint32_t bits)
{
    s_word_t w;
    w.u = 0;
    memcpy(&w.f, &bits, 4);
    return w.u;
}
static inline void s_put(zpk_node_t *dst, uint64_t h, uint64_t v)
{
    memcpy(dst, &h, 8);
    memcpy((uint8_t *)dst + 8, &v, 8);
}

/* Copies n bytes; short runs with fixed-size moves instead of a libc call. */
static inline void s_copy(uint8_t *d, const uint8_t *p, size_t n)
{
    if (n >= 8 && n <= 16) {
        memcpy(d, p, 8);
        memcpy(d + n - 8, p + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(d, p, 4);
        memcpy(d + n - 4, p + n - 4, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = p[i];
    } else {
        memcpy(d, p, n);
    }
}

/*
 * The switch on the first byte: negative fixints share one class, every
 * other byte from 0xc0 up is its own. The bytes the tests before the switch
 * take (below 0xc0, and 0xcb) are classed as the reserved byte 0xc1, so
 * that reaching the switch with one would be an error, never a misparse.
 */
enum { S_NEGFIX = 0 };
#define S_X4(v) v, v, v, v
#define S_X16(v) S_X4(v), S_X4(v), S_X4(v), S_X4(v)
#define S_X32(v) S_X16(v), S_X16(v)
static const uint8_t s_class[256] = {
    S_X32(0xc1), S_X32(0xc1), S_X32(0xc1), S_X32(0xc1), S_X32(0xc1), S_X32(0xc1),
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xc1 /* 0xcb, tested before */, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
    0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    S_X32(S_NEGFIX),
};

#define S_CHUNK_MIN ((size_t)256)
#define S_CHUNK_MAX ((size_t)64 * 1024)

/*
 * Starts a chunk (see s_parse): copies the input from p on, at least the
 * string (len bytes) and at most the rest of the input (rest bytes), plus a
 * spare byte for its NUL. The chunk is as long as the input consumed so far
 * (done bytes), between S_CHUNK_MIN and S_CHUNK_MAX: a small object copies
 * little past its end, and the copying stays linear. Returns the distance
 * from the input to the copy as an address difference (never 0: the copy is
 * a live object apart from the input; 0 means out of memory); *cend: the
 * end of the input copied. Out of line, so the parse loop keeps only cend
 * and the distance in registers for it.
 */
ZPK_NOINLINE
static uintptr_t s_chunk(zpk__arena_t *a, const uint8_t *p, size_t len, size_t done, size_t rest,
                         const uint8_t **cend)
{
    size_t take = done < S_CHUNK_MIN ? S_CHUNK_MIN : done > S_CHUNK_MAX ? S_CHUNK_MAX : done;
    if (take < len)
        take = len;
    if (take > rest)
        take = rest;
    uint8_t *d = s_arena_bytes(a, take + 1);
    if (d == NULL)
        return 0;
    memcpy(d, p, take);
    *cend = p + take;
    return (uintptr_t)d - (uintptr_t)p;
}

/* Streaming: bytes the unpacker lets arrive before it parses again (see
 * need_more in s_parse; the rule is stated in zmqpack/doc.h). */
#define S_LAZY ((size_t)ZPK_UNPACKER_WAIT) /* zmqpack/doc.h */
#define S_BAIL 1 /* s_parse_fast: a container that cannot be direct */
#define S_LAZY_FRAMES 8

/* A failure inside the item that starts with byte b (p past its header,
 * which s_hdrlen gives): streaming sets item here, where b is at hand, so
 * that neither item nor b is live across the loop (that would cost a store
 * per item). One-shot keeps item up to date anyway. */
#define S_GOTO_AT_ITEM(label)                                                   \
    do {                                                                        \
        if (!oneshot)                                                           \
            item = p - s_hdrlen[b];                                             \
        goto label;                                                             \
    } while (0)

/*
 * The header length of the str whose payload of @p len bytes starts at p,
 * read back from the bytes before p: a fixstr's one byte is 0xa0 | len
 * (which no longer header ends with: their last byte is a length byte
 * equal to len's low byte, never 0xa0 | len); then str8 (0xd9 len), str16
 * (0xda and two length bytes), str32. So the str state, which four header
 * types share, needs no record of the first byte (a store per item).
 */
static inline size_t s_str_hdrlen(const uint8_t *p, uint32_t len)
{
    if (len < 32 && p[-1] == (0xa0 | len))
        return 1;
    if (p[-2] == 0xd9 && p[-1] == len)
        return 2;
    if (p[-3] == 0xda && zpk__get_be16(p - 2) == len)
        return 3;
    return 5;
}
#define S_GOTO_STR(label)                                                       \
    do {                                                                        \
        if (!oneshot)                                                           \
            item = p - s_str_hdrlen(p, len);                                    \
        goto label;                                                             \
    } while (0)

#define S_NEED(k)                                                               \
    do {                                                                        \
        if (ZPK_UNLIKELY((size_t)(e - p) < (size_t)(k))) {                      \
            need = (k);                                                         \
            item = p;                                                           \
            goto need_more;                                                     \
        }                                                                       \
    } while (0)

/*
 * Header bytes of the items that go on to a str/bin/ext payload or open a
 * container (0 for every other first byte): on the rare paths that stop
 * after the header was passed (need more data, an error), the item starts
 * at p - s_hdrlen[b]. So the streaming copies of the loop keep no item
 * start of their own: one variable fewer live across the loop keeps p in a
 * register there. The one-shot copies are faster keeping item (their
 * register pressure is lower); bench/NOTES.md has the figures.
 */
#define S_H16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const uint8_t s_hdrlen[256] = {
    S_H16(0), S_H16(0), S_H16(0), S_H16(0), S_H16(0), S_H16(0), S_H16(0), S_H16(0),
    S_H16(1), S_H16(1), S_H16(1), S_H16(1), /* fixmap, fixarray, fixstr */
    0, 0, 0, 0, 2, 3, 5, 3, 4, 6, 0, 0, 0, 0, 0, 0, /* 0xc0..0xcf */
    0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5, /* 0xd0..0xdf */
    S_H16(0), S_H16(0),
};

/* s_parse is one text instantiated five times (see its comment): forced
 * inline so that its flags are constants in each copy and their branches
 * vanish. */
/*
 * The parser: one loop over items, written as labelled states joined by
 * gotos, because an item's header decides where it continues and several
 * header bytes share each continuation:
 *
 *   (loop top)  read the first byte b. The commonest bytes are tested
 *               before the switch (fixstr, positive fixint, float 64,
 *               fixmap/fixarray), since a predicted branch costs less than
 *               the indirect jump, which mispredicts whenever the item type
 *               changes (key, value, key...); then negative fixint; then
 *               one switch on the bytes 0xc0..0xdf.
 *   str         a str's payload: limit, UTF-8 check, then borrowed, or
 *               copied (in chunks of the input: s_chunk), with its NUL.
 *   bin, ext    -> payload: limit, then borrowed or copied (s_arena_bytes).
 *   open        a container header: limits, then direct mode (children
 *               preallocated in the arena, filled in place) when the bytes
 *               at hand can back every slot (see doc_internal.h), else
 *               stack mode (children wait on ps->vals); pushes a frame.
 *   value       stores the finished node (nh, nv) through slot; when the
 *               innermost container is full, closes it (stack mode: moves
 *               its children to the arena) and stores it as a value in
 *               turn, up to the root, which returns.
 *   need_more   the bytes ran out inside the item at `item`: saves the
 *               registers in ps, sets ps->need, returns ZPK_EOUTOFDATA.
 *   bail        (fast only) a container that cannot be direct: saves the
 *               state and returns S_BAIL; s_parse_stream goes on from it.
 *   nomem, fail the error at `item`: saves the state, returns the code.
 *
 * The flags are constants in each instance (zpk__parse picks one): a copy
 * of the loop per combination has fewer live variables, so fewer spills in
 * the hot path, than one loop testing flags at run time.
 *   s_parse_borrow  build, oneshot, borrow: zpk_doc_parse with
 *                   ZPK_DOC_BORROW; payloads point into the input.
 *   s_parse_copy    build, oneshot: zpk_doc_parse; payloads copied.
 *   s_parse_fast    build, streaming, fast: the unpacker while every open
 *                   container is direct (the usual case): no stack-mode
 *                   bookkeeping in the loop.
 *   s_parse_stream  build, streaming: the unpacker in general.
 *   s_parse_skip    no build: zpk_unpacker_skip (validates, makes nothing).
 * oneshot: the input is all there is (a container the bytes cannot back is
 * a truncated input). borrow needs oneshot; fast needs streaming.
 */
static ZPK_ALWAYS_INLINE int s_parse(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                     size_t end, const bool build, const bool oneshot,
                                     const bool borrow, const bool fast, uint64_t base_off,
                                     zpk_error_t *err)
{
    const uint8_t *p = base + *pos;
    const uint8_t *const start = p;
    const size_t cbias = !oneshot && ps->depth > 0 ? S_CHUNK_MAX : 0;
    if (!oneshot && ps->depth == 0)
        ps->obj_off = base_off + *pos; /* an object starts here */
    const uint8_t *const e = base + end;
    /* Streaming: the bytes of the object received so far, parsed or not
     * (constant during a call: an object completed returns at once). */
    size_t oavail = 0;
    if (!oneshot) {
        uint64_t got = base_off + end - ps->obj_off;
        oavail = got > SIZE_MAX ? SIZE_MAX : (size_t)got;
    }
    const uint8_t *item = p; /* streaming: set on the way out (s_hdrlen) */
    /* Kept in registers: stores through node pointers could alias *ps. */
    zpk__frame_t *frames = ps->frames;
    size_t depth = ps->depth;
    /* The innermost open container's counters, kept in registers. The root
     * is a one-slot container, so a finished value needs no depth test. */
    size_t left = depth ? frames[depth - 1].left : 1;
    zpk_node_t *slot = depth ? frames[depth - 1].slot : &ps->root;
    size_t need = 1;
    /* Direct mode: items still to come in the direct containers other than
     * the innermost (their counts do not change while they are not
     * innermost, so this moves only when containers open and close). */
    size_t outer = ps->outer;
    /* Open containers in direct mode. Streaming, the root's one slot counts
     * as a direct container too (not in ps->ndirect): its value is written
     * through slot like any direct child. One-shot writes through slot
     * whatever fdirect says, so it needs no such pseudo-container. */
    const size_t rootdirect = oneshot ? 0 : 1;
    size_t ndirect = ps->ndirect + rootdirect;
    /* fast: every open container is direct (the caller checked), and the
     * loop bails out (S_BAIL) before opening one that cannot be. */
    bool fdirect = fast || (depth ? frames[depth - 1].direct : !oneshot);
    /* Streaming, finished values are written through slot whatever the
     * innermost container's mode, so the value path has no mode test and
     * no bound test: in a direct container (and the root) slot walks its
     * preallocated children; in a stack-mode one slot is the top of the
     * value stack ps->vals, and left counts only the items that fit in the
     * room above it (S_ROOM), the rest waiting in ps->lextra. So the
     * container seems complete when the stack is full, and that path grows
     * the stack and takes the next share (one test per container or per
     * stack growth, not per value). The stack always has room for one
     * value at least when an item is parsed. ps->nvals is the stack top
     * while a direct container is innermost; ps->lextra is 0 whenever the
     * innermost container is not in stack mode. */
#define S_ROOM(rem)                                                             \
    do {                                                                        \
        size_t rem_ = (rem), room_ = ps->capvals - (size_t)(slot - ps->vals);   \
        left = rem_ < room_ ? rem_ : room_;                                     \
        ps->lextra = rem_ - left;                                               \
    } while (0)
    if (!oneshot)
        ps->lextra = 0;
    if (!oneshot && !fdirect) {
        slot = ps->vals + ps->nvals;
        if (build)
            S_ROOM(left);
    }
    uint64_t nh = 0, nv = 0; /* the node being made: header word, value word */
    uint8_t ptype = 0;
    int8_t et = 0;
    uint32_t len = 0;
    uint8_t ctype = 0, b = 0;
    /* Copies: strings are copied in runs ("chunks") of the input
     * rather than one by one (s_chunk). The current chunk holds the input
     * up to cend, plus one spare byte; a string inside it points into the
     * copy and gets its NUL in the copy, over the next item's first byte
     * (never part of a payload). */
    const uint8_t *cend = base;
    uintptr_t cdelta = 0; /* address in the copy - address in the input */
    int rc = 0;
    const char *what = "";

    for (;;) {
        if (oneshot)
            item = p;
        if (ZPK_UNLIKELY(p >= e)) {
            need = 1;
            item = p;
            goto need_more;
        }
        b = *p;
        /* The commonest first bytes first (see the map above). */
        if (ZPK_LIKELY((b & 0xe0) == 0xa0)) {
            len = b & 0x1f;
            p++;
            goto str;
        }
        if (b < 0x80) {
            nh = s_hdr(ZPK_TYPE_UINT, 0, 0);
            nv = b;
            p++;
            goto value;
        }
        if (b == 0xcb) {
            S_NEED(9);
            nh = s_hdr(ZPK_TYPE_DOUBLE, 0, 0);
            nv = zpk__get_be64(p + 1);
            p += 9;
            goto value;
        }
        if ((b & 0xe0) == 0x80) {
            len = b & 0x0f;
            ctype = b < 0x90 ? ZPK_TYPE_MAP : ZPK_TYPE_ARRAY;
            p++;
            goto open;
        }
        switch (s_class[b]) {
        case S_NEGFIX:
            nh = s_hdr(ZPK_TYPE_INT, 0, 0);
            nv = (uint64_t)(int64_t)(int8_t)b;
            p++;
            goto value;
        case 0xc0:
            nh = s_hdr(ZPK_TYPE_NIL, 0, 0);
            nv = 0;
            p++;
            goto value;
        case 0xc1:
            rc = ZPK_EFORMAT;
            what = "reserved byte 0xc1";
            S_GOTO_AT_ITEM(fail);
        case 0xc2:
        case 0xc3:
            nh = s_hdr(ZPK_TYPE_BOOL, 0, 0);
            nv = s_vbool(b == 0xc3);
            p++;
            goto value;
        case 0xc4:
            S_NEED(2);
            len = p[1];
            p += 2;
            goto bin;
        case 0xc5:
            S_NEED(3);
            len = zpk__get_be16(p + 1);
            p += 3;
            goto bin;
        case 0xc6:
            S_NEED(5);
            len = zpk__get_be32(p + 1);
            p += 5;
            goto bin;
        case 0xc7:
            S_NEED(3);
            len = p[1];
            et = (int8_t)p[2];
            p += 3;
            goto ext;
        case 0xc8:
            S_NEED(4);
            len = zpk__get_be16(p + 1);
            et = (int8_t)p[3];
            p += 4;
            goto ext;
        case 0xc9:
            S_NEED(6);
            len = zpk__get_be32(p + 1);
            et = (int8_t)p[5];
            p += 6;
            goto ext;
        case 0xca: {
            S_NEED(5);
            uint32_t w = zpk__get_be32(p + 1);
            nh = s_hdr(ZPK_TYPE_FLOAT, 0, 0);
            nv = s_vfloat(w);
            p += 5;
            goto value;
        }
        case 0xcc:
            S_NEED(2);
            nh = s_hdr(ZPK_TYPE_UINT, 0, 0);
            nv = p[1];
            p += 2;
            goto value;
        case 0xcd:
            S_NEED(3);
            nh = s_hdr(ZPK_TYPE_UINT, 0, 0);
            nv = zpk__get_be16(p + 1);
            p += 3;
            goto value;
        case 0xce:
            S_NEED(5);
            nh = s_hdr(ZPK_TYPE_UINT, 0, 0);
            nv = zpk__get_be32(p + 1);
            p += 5;
            goto value;
        case 0xcf:
            S_NEED(9);
            nh = s_hdr(ZPK_TYPE_UINT, 0, 0);
            nv = zpk__get_be64(p + 1);
            p += 9;
            goto value;
        case 0xd0:
            S_NEED(2);
            nv = (uint64_t)(int64_t)(int8_t)p[1];
            p += 2;
            goto sint;
        case 0xd1:
            S_NEED(3);
            nv = (uint64_t)(int64_t)(int16_t)zpk__get_be16(p + 1);
            p += 3;
            goto sint;
        case 0xd2:
            S_NEED(5);
            nv = (uint64_t)(int64_t)(int32_t)zpk__get_be32(p + 1);
            p += 5;
            goto sint;
        case 0xd3:
            S_NEED(9);
            nv = zpk__get_be64(p + 1);
            p += 9;
            goto sint;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            S_NEED(2);
            len = 1u << (b - 0xd4);
            et = (int8_t)p[1];
            p += 2;
            goto ext;
        case 0xd9:
            S_NEED(2);
            len = p[1];
            p += 2;
            goto str;
        case 0xda:
            S_NEED(3);
            len = zpk__get_be16(p + 1);
            p += 3;
            goto str;
        case 0xdb:
            S_NEED(5);
            len = zpk__get_be32(p + 1);
            p += 5;
            goto str;
        case 0xdc:
            S_NEED(3);
            len = zpk__get_be16(p + 1);
            ctype = ZPK_TYPE_ARRAY;
            p += 3;
            goto open;
        case 0xdd:
            S_NEED(5);
            len = zpk__get_be32(p + 1);
            ctype = ZPK_TYPE_ARRAY;
            p += 5;
            goto open;
        case 0xde:
            S_NEED(3);
            len = zpk__get_be16(p + 1);
            ctype = ZPK_TYPE_MAP;
            p += 3;
            goto open;
        default: /* 0xdf */
            S_NEED(5);
            len = zpk__get_be32(p + 1);
            ctype = ZPK_TYPE_MAP;
            p += 5;
            goto open;
        }

    sint:
        nh = s_hdr((nv >> 63) ? ZPK_TYPE_INT : ZPK_TYPE_UINT, 0, 0);
        goto value;

    str:
        if (ZPK_UNLIKELY(len > ps->lim.max_str_len)) {
            rc = ZPK_ELIMIT;
            what = "str longer than max_str_len";
            S_GOTO_STR(fail);
        }
        if ((size_t)(e - p) < len) {
            if (!oneshot)
                item = p - s_str_hdrlen(p, len);
            need = (size_t)(p - item) + len;
            goto need_more;
        }
        if (build) {
            if ((ps->flags & ZPK_DOC_CHECK_UTF8) && !zpk__utf8_valid(p, len)) {
                rc = ZPK_EUTF8;
                what = "invalid UTF-8 in str";
                S_GOTO_STR(fail);
            }
            if (borrow) {
                nh = s_hdr_flags(ZPK_TYPE_STR, 0, len, ZPK__NODE_BORROWED);
                nv = s_vptr(p);
            } else {
                nh = s_hdr(ZPK_TYPE_STR, 0, len);
                /* Streaming too: the chunk never reaches past the bytes
                 * buffered (e), and cend/cdelta live only in this call, so
                 * nothing points into the unpacker's buffer, which moves
                 * between calls. A chunk is sized by the bytes of the
                 * object consumed in this call, so a buffer of many small
                 * objects is not copied once per object; but a call that
                 * resumes an object (cbias) copies up to S_CHUNK_MAX at
                 * once: that object already outgrew the previous feeds,
                 * and a feed's worth in one chunk is the fewest chunks.
                 * That costs at most one extra copy of S_CHUNK_MAX bytes
                 * per call, and a partial item after the last string may
                 * be copied once more by the next call: linear. */
                if (ZPK_UNLIKELY(p + len > cend)) {
                    cdelta = s_chunk(&ps->arena, p, len, (size_t)(p - start) + cbias,
                                     (size_t)(e - p), &cend);
                    if (ZPK_UNLIKELY(cdelta == 0))
                        S_GOTO_STR(nomem);
                }
                uint8_t *d = (uint8_t *)(uintptr_t)((uintptr_t)p + cdelta);
                d[len] = 0;
                nv = s_vptr(d);
            }
        }
        p += len;
        goto value;

    bin:
        if (ZPK_UNLIKELY(len > ps->lim.max_bin_len)) {
            rc = ZPK_ELIMIT;
            what = "bin longer than max_bin_len";
            S_GOTO_AT_ITEM(fail);
        }
        ptype = ZPK_TYPE_BIN;
        et = 0;
        goto payload;

    ext:
        if (ZPK_UNLIKELY(len > ps->lim.max_ext_len)) {
            rc = ZPK_ELIMIT;
            what = "ext longer than max_ext_len";
            S_GOTO_AT_ITEM(fail);
        }
        ptype = ZPK_TYPE_EXT;
    payload:
        if ((size_t)(e - p) < len) {
            if (!oneshot)
                item = p - s_hdrlen[b];
            need = (size_t)(p - item) + len;
            goto need_more;
        }
        if (build) {
            nh = s_hdr(ptype, et, len);
            if (borrow) {
                nv = s_vptr(p);
            } else if (len == 0) {
                nv = s_vptr("");
            } else {
                uint8_t *d = s_arena_bytes(&ps->arena, len);
                if (ZPK_UNLIKELY(d == NULL))
                    S_GOTO_AT_ITEM(nomem);
                s_copy(d, p, len);
                nv = s_vptr(d);
            }
        }
        p += len;
        goto value;

    open:
        if (ZPK_UNLIKELY(len > (ctype == ZPK_TYPE_MAP ? ps->lim.max_map_len
                                                       : ps->lim.max_array_len))) {
            rc = ZPK_ELIMIT;
            what = ctype == ZPK_TYPE_MAP ? "map longer than max_map_len"
                                         : "array longer than max_array_len";
            S_GOTO_AT_ITEM(fail);
        }
        if (ZPK_UNLIKELY(depth >= ps->lim.max_depth)) {
            rc = ZPK_ETOODEEP;
            what = "nesting deeper than max_depth";
            S_GOTO_AT_ITEM(fail);
        }
        if (len == 0) {
            nh = s_hdr(ctype, 0, 0);
            nv = 0;
            goto value;
        }
        {
            size_t items = ctype == ZPK_TYPE_MAP ? (size_t)len * 2 : len;
            /* Direct mode (children preallocated, written in place) when the
             * bytes at hand can back every slot: each item takes at least one
             * byte, and so does each slot still open in the enclosing direct
             * containers (their count minus ndirect: one per level is the one
             * being filled now). One-shot input must pass; a stream counts
             * the object's bytes already parsed too, and falls back to the
             * value stack when even those cannot back the slots. */
            bool dir = false;
            if (build) {
                /* Streaming: the bytes of this object already parsed back
                 * slots too. Each byte, parsed or buffered, still backs one
                 * open slot at most, so the unfilled slots never outnumber
                 * the object's bytes received. */
                size_t avail = oneshot ? (size_t)(e - p) : oavail;
                size_t others = outer + (fdirect ? left : 0) - ndirect;
                dir = items <= avail && others <= avail - items;
                if (oneshot && !dir) {
                    p = e;
                    item = e;
                    goto need_more;
                }
                if (fast && !dir) {
                    item = p - s_hdrlen[b]; /* the general loop opens it */
                    goto bail;
                }
            }
            if (ZPK_UNLIKELY(depth == ps->capframes)) {
                zpk__frame_t *nf = s_grow(frames, ps->iframes, &ps->capframes, sizeof *frames);
                if (nf == NULL)
                    S_GOTO_AT_ITEM(nomem);
                frames = ps->frames = nf;
            }
            if (depth > 0) {
                size_t rl = left;
                if (!oneshot && build && !fdirect) {
                    rl += ps->lextra;
                    ps->lextra = 0;
                }
                frames[depth - 1].left = rl;
                frames[depth - 1].slot = slot;
            }
            if (fdirect)
                outer += left;
            else if (!oneshot)
                ps->nvals = (size_t)(slot - ps->vals); /* the stack top */
            zpk__frame_t *f = &frames[depth++];
            f->len = len;
            f->type = ctype;
            f->direct = dir;
            if (fast || dir) {
                zpk_node_t *kids = s_arena_nodes(&ps->arena, items);
                if (ZPK_UNLIKELY(kids == NULL)) {
                    depth--;
                    if (fdirect)
                        outer -= left;
                    else if (!oneshot && depth > 0)
                        left = frames[depth - 1].left; /* the real count */
                    S_GOTO_AT_ITEM(nomem);
                }
                f->kids = slot = kids;
                ndirect++;
                left = items;
            } else {
                f->start = ps->nvals;
                slot = ps->vals + ps->nvals;
                if (build)
                    S_ROOM(items);
                else
                    left = items;
            }
            fdirect = fast || dir;
        }
        continue;

    value:
        if (oneshot) {
            s_put(slot++, nh, nv);
        } else if (build) {
            s_put(slot++, nh, nv);
        }
        if (--left != 0)
            continue; /* the next item */
        if (!oneshot && !fast && build && ZPK_UNLIKELY(ps->lextra != 0)) {
            /* a stack-mode container filled the value stack: grow it */
            size_t top = (size_t)(slot - ps->vals);
            zpk_node_t *nvals = s_grow(ps->vals, ps->ivals, &ps->capvals, sizeof *slot);
            if (nvals == NULL)
                goto nomem_value;
            ps->vals = nvals;
            slot = nvals + top;
            S_ROOM(ps->lextra);
            continue;
        }
        /* the innermost container is complete */
        if (depth == 0) {
            ps->nvals = 0;
            ps->depth = 0;
            ps->outer = 0;
            ps->ndirect = 0;
            *pos = (size_t)(p - base);
            return 0;
        }
        zpk__frame_t *f = &frames[depth - 1];
        nh = s_hdr(f->type, 0, f->len);
        nv = 0;
        if (oneshot || fdirect) {
            nv = s_vptr(f->kids);
            ndirect--;
        } else if (build) {
            size_t cnt = (size_t)(slot - ps->vals) - f->start;
            zpk_node_t *dst = s_arena_nodes(&ps->arena, cnt);
            if (ZPK_UNLIKELY(dst == NULL))
                goto nomem_value;
            memcpy(dst, ps->vals + f->start, cnt * sizeof *dst);
            nv = s_vptr(dst);
            ps->nvals = f->start;
        }
        depth--;
        if (depth > 0) {
            left = frames[depth - 1].left;
            slot = frames[depth - 1].slot;
            fdirect = fast || frames[depth - 1].direct;
        } else {
            left = 1;
            slot = &ps->root;
            fdirect = !oneshot;
        }
        if (fdirect) {
            outer -= left;
        } else if (!oneshot) {
            slot = ps->vals + ps->nvals;
            if (build)
                S_ROOM(left);
        }
        goto value;
    }

need_more:
    if (!oneshot && build && !fdirect) {
        left += ps->lextra; /* the real count (see S_ROOM) */
        ps->lextra = 0;
    }
    if (depth > 0) {
        frames[depth - 1].left = left;
        frames[depth - 1].slot = slot;
    }
    if (!oneshot && !fdirect)
        ps->nvals = (size_t)(slot - ps->vals);
    ps->depth = depth;
    ps->outer = outer;
    ps->ndirect = ndirect - rootdirect;
    /* The item at *pos completes no sooner than need more bytes. Streaming,
     * the unpacker waits for max(need, min(S_LAZY, need + items still to
     * come after this one, one byte each)) before it parses again: a parse
     * call per S_LAZY bytes rather than per item when fed byte by byte, a
     * bad byte reported at most S_LAZY bytes after its item's start, and no
     * object ever returned later than the first moment it can be complete
     * (the bound counts only bytes the object must still hold). At most
     * S_LAZY_FRAMES open containers are counted: fewer only lowers it. */
    if (!oneshot) {
        size_t wait = need;
        if (need < S_LAZY && depth > 0) {
            size_t more = left - 1;
            for (size_t i = depth - 1, k = 0; i > 0 && k < S_LAZY_FRAMES && more < S_LAZY;
                 k++) {
                size_t l = frames[--i].left - 1;
                more = l < S_LAZY ? more + l : S_LAZY;
            }
            wait = more < S_LAZY - need ? need + more : S_LAZY;
        }
        need = wait;
    }
    ps->need = need;
    *pos = (size_t)(item - base);
    if (oneshot)
        zpk__error(err, ZPK_EOUTOFDATA, (size_t)(base_off + end),
                   "input ends inside the object");
    return ZPK_EOUTOFDATA;

bail:
    /* fast only: state saved as at need_more; the general loop goes on from
     * item (the container that cannot be direct) in the same call */
    if (depth > 0) {
        frames[depth - 1].left = left;
        frames[depth - 1].slot = slot;
    }
    ps->depth = depth;
    ps->outer = outer;
    ps->ndirect = ndirect - rootdirect;
    *pos = (size_t)(item - base);
    return S_BAIL;

nomem_value:
    item = p; /* storing a finished value: the offset is p's */
nomem:
    rc = ZPK_ENOMEM;
    what = "out of memory";
fail:
    if (!oneshot && build && !fdirect) {
        left += ps->lextra;
        ps->lextra = 0;
    }
    if (depth > 0) {
        frames[depth - 1].left = left;
        frames[depth - 1].slot = slot;
    }
    ps->outer = outer;
    ps->ndirect = ndirect - rootdirect;
    if (!oneshot && !fdirect)
        ps->nvals = (size_t)(slot - ps->vals);
    ps->depth = depth;
    *pos = (size_t)(item - base);
    return zpk__error(err, rc, (size_t)(base_off + (uint64_t)(item - base)), "%s", what);
}

/* Each instance its own function: the register allocator then works on
 * one copy of the loop at a time, and allocates it better. */
static ZPK_NOINLINE int s_parse_borrow(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                       size_t end, uint64_t base_off, zpk_error_t *err)
{
    return s_parse(ps, base, pos, end, true, true, true, false, base_off, err);
}
static ZPK_NOINLINE int s_parse_copy(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                     size_t end, uint64_t base_off, zpk_error_t *err)
{
    return s_parse(ps, base, pos, end, true, true, false, false, base_off, err);
}
static ZPK_NOINLINE int s_parse_stream(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                       size_t end, uint64_t base_off, zpk_error_t *err)
{
    return s_parse(ps, base, pos, end, true, false, false, false, base_off, err);
}
static ZPK_NOINLINE int s_parse_skip(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                     size_t end, uint64_t base_off, zpk_error_t *err)
{
    return s_parse(ps, base, pos, end, false, false, false, false, base_off, err);
}
/* Streaming while every open container is direct (see s_parse). */
static ZPK_NOINLINE int s_parse_fast(zpk__parser_t *ps, const uint8_t *base, size_t *pos,
                                     size_t end, uint64_t base_off, zpk_error_t *err)
{
    return s_parse(ps, base, pos, end, true, false, false, true, base_off, err);
}

int zpk__parse(zpk__parser_t *ps, const uint8_t *base, size_t *pos, size_t end,
               bool build, bool oneshot, uint64_t base_off, zpk_error_t *err)
{
    if (build && oneshot) {
        if (ps->flags & ZPK_DOC_BORROW)
            return s_parse_borrow(ps, base, pos, end, base_off, err);
        return s_parse_copy(ps, base, pos, end, base_off, err);
    }
    /* The streaming unpacker always copies (its buffer moves). */
    if (build) {
        if (ps->ndirect == ps->depth) { /* every open container is direct */
            int rc = s_parse_fast(ps, base, pos, end, base_off, err);
            if (rc != S_BAIL)
                return rc;
        }
        return s_parse_stream(ps, base, pos, end, base_off, err);
    }
    return s_parse_skip(ps, base, pos, end, base_off, err);
}

/* ---- copies of borrowed strs (format.c's `s`) --------------------------- */

_Static_assert(offsetof(struct zpk_doc, root) == 0, "a document's root is its first member");

/* One lock for every document: copying is the rare path of a rare case. */
static pthread_mutex_t s_copies_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t s_copy_slot(const zpk__str_copy_t *tab, size_t cap, const zpk_node_t *n)
{
    size_t h = (size_t)(((uintptr_t)n >> 4) * UINT64_C(0x9e3779b97f4a7c15)) & (cap - 1);
    while (tab[h].node != NULL && tab[h].node != n)
        h = (h + 1) & (cap - 1);
    return h;
}

/* Makes room for one more entry (the table stays at most half full). */
static bool s_copies_room(struct zpk_doc *d)
{
    if (2 * (d->ncopies + 1) <= d->capcopies)
        return true;
    size_t cap = d->capcopies ? 2 * d->capcopies : 16;
    zpk__str_copy_t *tab = zpk__calloc(cap, sizeof *tab);
    if (tab == NULL)
        return false;
    for (size_t i = 0; i < d->capcopies; i++)
        if (d->copies[i].node != NULL)
            tab[s_copy_slot(tab, cap, d->copies[i].node)] = d->copies[i];
    zpk__free(d->copies);
    d->copies = tab;
    d->capcopies = cap;
    return true;
}

int zpk__doc_str_text(const zpk_node_t *root, const zpk_node_t *n, const char **out)
{
    if (!(root->flags & ZPK__NODE_DOC_ROOT))
        return ZPK_ENOTFOUND;
    struct zpk_doc *d = (struct zpk_doc *)(uintptr_t)root;
    int rc = 0;
    pthread_mutex_lock(&s_copies_lock);
    size_t h = d->capcopies ? s_copy_slot(d->copies, d->capcopies, n) : 0;
    if (d->capcopies && d->copies[h].node == n) {
        *out = d->copies[h].text;
    } else if (!s_copies_room(d)) {
        rc = ZPK_ENOMEM;
    } else {
        /* a block of its own, in the document's chain: freed with it */
        zpk__block_t *b = zpk__malloc(S_BLOCK_HDR + (size_t)n->len + 1);
        if (b == NULL) {
            rc = ZPK_ENOMEM;
        } else {
            b->size = (size_t)n->len + 1;
            b->next = d->blocks;
            d->blocks = b;
            char *text = (char *)b + S_BLOCK_HDR;
            if (n->len)
                memcpy(text, n->v.p, n->len);
            text[n->len] = '\0';
            h = s_copy_slot(d->copies, d->capcopies, n);
            d->copies[h] = (zpk__str_copy_t){n, text};
            d->ncopies++;
            *out = text;
        }
    }
    pthread_mutex_unlock(&s_copies_lock);
    return rc;
}

/* ---- documents --------------------------------------------------------- */

int zpk_doc_parse(const void *data, size_t len, const zpk_limits_t *lim,
                  unsigned flags, zpk_doc_t **out, zpk_error_t *err)
{
    zpk__error_reset(err); /* zpk_error_clear() without the call */
    if (out == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "out is NULL");
    *out = NULL;
    if (data == NULL && len > 0)
        return zpk__error(err, ZPK_EINVAL, 0, "data is NULL");
    if (flags & ~(ZPK_DOC_BORROW | ZPK_DOC_CHECK_UTF8))
        return zpk__error(err, ZPK_EINVAL, 0, "unknown flag");
    zpk__parser_t ps;
    /* First block ~ twice the input (nodes outweigh bytes), capped: a small
     * object followed by a large payload must not cost a large block. */
    size_t hint = len < S_ONESHOT_HINT / 2 ? len * 2 : S_ONESHOT_HINT;
    zpk__parser_init(&ps, lim, flags, hint);
    size_t pos = 0;
    const uint8_t *base = data != NULL ? data : (const uint8_t *)"";
    int rc = zpk__parse(&ps, base, &pos, len, true, true, 0, err);
    if (rc == 0) {
        rc = zpk__parser_take(&ps, pos, out);
        if (rc != 0)
            zpk__error(err, rc, pos, "out of memory");
    }
    zpk__parser_free(&ps);
    if (rc != 0)
        return rc;
    if (pos < len)
        return zpk__error(err, ZPK_EEXTRADATA, pos,
                          "extra data: the object ends at byte %zu of %zu", pos, len);
    return 0;
}

void zpk_doc_destroy(zpk_doc_t **doc)
{
    if (doc == NULL || *doc == NULL)
        return;
    zpk_doc_t *d = *doc;
    *doc = NULL;
    void (*release)(void *) = d->release;
    void *ud = d->ud;
    zpk__free(d->copies);
    s_blocks_free(d->blocks); /* d itself lives in one of the blocks */
    if (release != NULL)
        release(ud);
}

int zpk_doc_set_owner(zpk_doc_t *doc, void (*release)(void *ud), void *ud)
{
    if (doc == NULL || release == NULL || doc->release != NULL)
        return ZPK_EINVAL;
    doc->release = release;
    doc->ud = ud;
    return 0;
}

const zpk_node_t *zpk_doc_root(const zpk_doc_t *doc)
{
    return doc != NULL ? &doc->root : NULL;
}

size_t zpk_doc_consumed(const zpk_doc_t *doc)
{
    return doc != NULL ? doc->consumed : 0;
}

/* ---- nodes ------------------------------------------------------------- */

zpk_type_t zpk_node_type(const zpk_node_t *n)
{
    return n != NULL ? (zpk_type_t)n->type : (zpk_type_t)0;
}

size_t zpk_node_len(const zpk_node_t *n)
{
    return n != NULL ? n->len : 0;
}

bool zpk_node_is_nil(const zpk_node_t *n)
{
    return n != NULL && n->type == ZPK_TYPE_NIL;
}

const zpk_node_t *zpk_node_array_at(const zpk_node_t *n, size_t i)
{
    if (n == NULL || n->type != ZPK_TYPE_ARRAY || i >= n->len)
        return NULL;
    return &n->v.c[i];
}

const zpk_node_t *zpk_node_map_getn(const zpk_node_t *n, const void *key, size_t len)
{
    if (n == NULL || n->type != ZPK_TYPE_MAP || (key == NULL && len > 0))
        return NULL;
    const zpk_node_t *kv = n->v.c;
    for (size_t i = 0; i < n->len; i++, kv += 2) {
        if (kv->type == ZPK_TYPE_STR && kv->len == len &&
            (len == 0 || memcmp(kv->v.p, key, len) == 0))
            return kv + 1;
    }
    return NULL;
}

const zpk_node_t *zpk_node_map_get(const zpk_node_t *n, const char *key)
{
    if (key == NULL)
        return NULL;
    return zpk_node_map_getn(n, key, strlen(key));
}

const zpk_node_t *zpk_node_map_key(const zpk_node_t *n, size_t i)
{
    if (n == NULL || n->type != ZPK_TYPE_MAP || i >= n->len)
        return NULL;
    return &n->v.c[2 * i];
}

const zpk_node_t *zpk_node_map_value(const zpk_node_t *n, size_t i)
{
    if (n == NULL || n->type != ZPK_TYPE_MAP || i >= n->len)
        return NULL;
    return &n->v.c[2 * i + 1];
}

int zpk_node_get_int(const zpk_node_t *n, int64_t *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    if (n->type == ZPK_TYPE_INT) {
        *out = n->v.i;
        return 0;
    }
    if (n->type == ZPK_TYPE_UINT && n->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)n->v.u;
        return 0;
    }
    return ZPK_ETYPE;
}

int zpk_node_get_uint(const zpk_node_t *n, uint64_t *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    if (n->type == ZPK_TYPE_UINT) {
        *out = n->v.u;
        return 0;
    }
    if (n->type == ZPK_TYPE_INT && n->v.i >= 0) {
        *out = (uint64_t)n->v.i;
        return 0;
    }
    return ZPK_ETYPE;
}

int zpk_node_get_float(const zpk_node_t *n, float *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_FLOAT)
        return ZPK_ETYPE;
    memcpy(out, &n->v.f, sizeof *out);
    return 0;
}

int zpk_node_get_double(const zpk_node_t *n, double *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    switch (n->type) {
    case ZPK_TYPE_DOUBLE: *out = n->v.d; return 0;
    case ZPK_TYPE_FLOAT: *out = n->v.f; return 0;
    case ZPK_TYPE_INT: *out = (double)n->v.i; return 0;
    case ZPK_TYPE_UINT: *out = (double)n->v.u; return 0;
    default: return ZPK_ETYPE;
    }
}

int zpk_node_get_bool(const zpk_node_t *n, bool *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_BOOL)
        return ZPK_ETYPE;
    *out = n->v.b;
    return 0;
}

int zpk_node_get_str(const zpk_node_t *n, const char **ptr, size_t *len)
{
    if (n == NULL || ptr == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_STR)
        return ZPK_ETYPE;
    *ptr = (const char *)n->v.p;
    if (len != NULL)
        *len = n->len;
    return 0;
}

int zpk_node_get_bin(const zpk_node_t *n, const uint8_t **ptr, size_t *len)
{
    if (n == NULL || ptr == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_BIN)
        return ZPK_ETYPE;
    *ptr = n->v.p;
    if (len != NULL)
        *len = n->len;
    return 0;
}

int zpk_node_get_ext(const zpk_node_t *n, int8_t *type, const uint8_t **ptr, size_t *len)
{
    if (n == NULL || ptr == NULL || type == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_EXT)
        return ZPK_ETYPE;
    *type = n->exttype;
    *ptr = n->v.p;
    if (len != NULL)
        *len = n->len;
    return 0;
}

int zpk_node_get_timestamp(const zpk_node_t *n, zpk_timestamp_t *out)
{
    if (n == NULL || out == NULL)
        return ZPK_EINVAL;
    if (n->type != ZPK_TYPE_EXT || n->exttype != ZPK_EXT_TIMESTAMP)
        return ZPK_ETYPE;
    return zpk_timestamp_decode(n->v.p, n->len, out);
}

/* ---- re-encoding ------------------------------------------------------- */

typedef struct {
    const zpk_node_t *next;
    size_t left;
} s_wframe_t;

int zpk_node_write(zpk_writer_t *w, const zpk_node_t *n)
{
    if (w == NULL || n == NULL)
        return ZPK_EINVAL;
    s_wframe_t istack[32];
    s_wframe_t *st = istack;
    size_t cap = 32, depth = 0;
    const zpk_node_t *cur = n;
    const uint64_t count = zpk__writer_count_save(w);
    int rc = 0;
    for (;;) {
        size_t items = 0;
        /* The tree is one value: the writes are not counted one by one
         * (counted = false), the value is counted once at the end. */
        switch (cur->type) {
        case ZPK_TYPE_NIL: zpk__inline_write_nil(w, false); break;
        case ZPK_TYPE_BOOL: zpk__inline_write_bool(w, cur->v.b, false); break;
        case ZPK_TYPE_INT: zpk__inline_write_int(w, cur->v.i, false); break;
        case ZPK_TYPE_UINT: zpk__inline_write_uint(w, cur->v.u, false); break;
        case ZPK_TYPE_FLOAT: zpk__inline_write_float(w, cur->v.f, false); break;
        case ZPK_TYPE_DOUBLE: zpk__inline_write_double(w, cur->v.d, false); break;
        case ZPK_TYPE_STR:
            zpk__inline_write_str(w, (const char *)cur->v.p, cur->len, false);
            break;
        case ZPK_TYPE_BIN: zpk_write_bin(w, cur->v.p, cur->len); break;
        case ZPK_TYPE_EXT: zpk_write_ext(w, cur->exttype, cur->v.p, cur->len); break;
        case ZPK_TYPE_ARRAY:
            zpk__inline_write_array(w, cur->len, false);
            items = cur->len;
            break;
        case ZPK_TYPE_MAP:
            zpk__inline_write_map(w, cur->len, false);
            items = (size_t)cur->len * 2;
            break;
        default:
            rc = ZPK_EINVAL;
            goto out;
        }
        if (items > 0) {
            /* A failed write is a no-op, so the error is looked at here only:
             * the rest of a container is a cheap walk, not a new failure. */
            if (zpk_writer_error(w) != 0)
                break;
            if (depth == cap) {
                s_wframe_t *ns = s_grow(st, istack, &cap, sizeof *st);
                if (ns == NULL) {
                    rc = ZPK_ENOMEM;
                    goto out;
                }
                st = ns;
            }
            st[depth].next = cur->v.c;
            st[depth].left = items;
            depth++;
        }
        while (depth > 0 && st[depth - 1].left == 0)
            depth--;
        if (depth == 0)
            break;
        st[depth - 1].left--;
        cur = st[depth - 1].next++;
    }
out:
    if (st != istack)
        zpk__free(st);
    zpk__writer_count_whole(w, count);
    if (rc == 0)
        rc = zpk_writer_error(w);
    return rc;
}
