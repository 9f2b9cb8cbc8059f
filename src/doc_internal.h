/*
 * Private to doc.c and unpacker.c: the node layout, the arena and the
 * resumable parser shared by the one-shot parse and the streaming unpacker.
 */
#ifndef ZPK_DOC_INTERNAL_H
#define ZPK_DOC_INTERNAL_H

#include "internal.h"
#include "zmqpack/doc.h"

/* Node flag: a str that points into the input (ZPK_DOC_BORROW), so it is
 * not NUL-terminated; format.c's `s` has the document copy it
 * (zpk__doc_str_text). */
#define ZPK__NODE_BORROWED 0x1u
/* Node flag: the root of a document, which is the document's first member,
 * so the document can be reached from it (format.c's `s`). */
#define ZPK__NODE_DOC_ROOT 0x2u

/* 16 bytes. Arrays: v.c -> len nodes; maps: v.c -> 2*len nodes, k,v,k,v. */
struct zpk_node {
    uint8_t type;   /* zpk_type_t */
    int8_t exttype;
    uint16_t flags; /* ZPK__NODE_* bits */
    uint32_t len;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        float f;
        double d;
        const uint8_t *p;
        const zpk_node_t *c;
    } v;
};

/*
 * Arena: a chain of blocks. Nodes are bumped up from the low end of the
 * current block (16-byte units, so always aligned), bytes down from the
 * high end. Large byte runs get a block of their own.
 */
typedef struct zpk__block {
    struct zpk__block *next;
    size_t size; /* data bytes after this header */
} zpk__block_t;

typedef struct zpk__arena {
    uint8_t *lo, *hi;     /* free space of the current block: [lo, hi) */
    zpk__block_t *head;   /* every block, newest first */
    size_t next_size;     /* data size of the next normal block */
    size_t total;         /* bytes of blocks allocated */
} zpk__arena_t;

/* A borrowed str that format's `s` needed, copied with its NUL. */
typedef struct zpk__str_copy {
    const zpk_node_t *node;
    const char *text;
} zpk__str_copy_t;

struct zpk_doc {
    zpk_node_t root; /* first: ZPK__NODE_DOC_ROOT */
    zpk__block_t *blocks;
    void (*release)(void *ud);
    void *ud;
    size_t consumed;
    zpk__str_copy_t *copies; /* open addressing by node address; NULL until needed */
    size_t ncopies, capcopies;
};

/*
 * One open container. The innermost one's left/slot live in registers
 * while parsing and are stored here only when it is not the innermost.
 */
typedef struct zpk__frame {
    size_t start;      /* stack mode: index in vals of the first child */
    zpk_node_t *kids;  /* direct mode: the children, preallocated */
    zpk_node_t *slot;  /* direct mode: the next child to fill */
    size_t left;       /* items still to come (a map counts keys and values) */
    uint32_t len;      /* declared elements / pairs */
    uint8_t type;      /* ZPK_TYPE_ARRAY or ZPK_TYPE_MAP */
    bool direct;       /* children preallocated (kids/slot) or on the value stack */
} zpk__frame_t;

#define ZPK__INLINE_VALS 128
#define ZPK__INLINE_FRAMES 16

typedef struct zpk__parser {
    zpk_limits_t lim;
    unsigned flags;
    zpk__arena_t arena;
    zpk_node_t *vals;       /* finished children of open containers */
    size_t nvals, capvals;
    zpk__frame_t *frames;   /* open containers, innermost last */
    size_t depth, capframes;
    size_t outer;           /* items to come in direct frames but the innermost */
    size_t ndirect;         /* open frames in direct mode */
    zpk_node_t root;        /* the object, once complete */
    uint64_t obj_off;       /* streaming: stream offset of the object's first byte */
    size_t lextra;          /* streaming, in s_parse: items of the innermost stack-mode
                             * container beyond the room on the value stack */
    size_t need;            /* after ZPK_EOUTOFDATA: bytes to wait for from *pos
                             * (streaming: the lazy bound of need_more in doc.c) */
    zpk_node_t ivals[ZPK__INLINE_VALS];
    zpk__frame_t iframes[ZPK__INLINE_FRAMES];
} zpk__parser_t;

/*
 * lim NULL: defaults. The stacks start in the embedded arrays (so the
 * struct must not be moved). arena_hint: size of the first arena block.
 */
void zpk__parser_init(zpk__parser_t *ps, const zpk_limits_t *lim, unsigned flags,
                      size_t arena_hint);
/* Frees the stacks and the arena of a half-built object. */
void zpk__parser_free(zpk__parser_t *ps);
/* Drops a half-built object (keeps stack capacity). */
void zpk__parser_drop(zpk__parser_t *ps);
/* Frees the nodes built so far but keeps the open containers (to skip the rest). */
void zpk__parser_drop_nodes(zpk__parser_t *ps);

/*
 * Parses from base[*pos] to base[end], resuming the object in progress.
 * build false: skip mode (no nodes, no arena). oneshot true: the input is
 * all there is, so every container's children are preallocated in the
 * arena (its declared count is first checked against the bytes left: each
 * item takes at least one) and written in place ("direct mode"). When
 * streaming, a container is direct only if the object's bytes received so
 * far (parsed since ps->obj_off, or buffered up to end) can back all its
 * slots and every slot still open around it; otherwise its finished
 * children wait on the value stack until it closes. Streaming, after
 * ZPK_EOUTOFDATA ps->need is the lazy bound of need_more (doc.c).
 * Returns 0 (ps->root complete, *pos just after it), ZPK_EOUTOFDATA (*pos
 * at the first byte not yet consumed), or an error (*pos at the offending
 * item; err filled with base_off + *pos).
 */
int zpk__parse(zpk__parser_t *ps, const uint8_t *base, size_t *pos, size_t end,
               bool build, bool oneshot, uint64_t base_off, zpk_error_t *err);

/*
 * The NUL-terminated text of the borrowed str @p n, found under @p root: when
 * @p root is a document's root, the document copies the str once, on first
 * need, into memory it owns, and hands out the same copy afterwards (under
 * a lock: several threads may unpack one document). Returns 0,
 * ZPK_ENOTFOUND when @p root is not a document's root (the document cannot
 * be reached), or ZPK_ENOMEM.
 */
int zpk__doc_str_text(const zpk_node_t *root, const zpk_node_t *n, const char **out);

/*
 * Moves the completed object (ps->root and the arena) into a new document.
 * Returns 0 or ZPK_ENOMEM (then the object is dropped).
 */
int zpk__parser_take(zpk__parser_t *ps, size_t consumed, zpk_doc_t **out);

#endif
