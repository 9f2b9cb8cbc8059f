/*
 * zmqpack._core: the declarations its files share (private to the binding).
 *
 *   module.c   module setup: the globals below, _setup(), errors, PyInit
 *   pack.c     Packer, packb(): Python objects -> MessagePack
 *   unpack.c   unpackb() and the options every decoder shares
 *   stream.c   Decoder, the engine of the streaming Unpacker
 *   ndarray.c  numpy arrays <-> zpk_ndarray_t (received arrays, sent arrays)
 *   message.c  what the two routes of a message share: Python arguments ->
 *              the library's message, decoded messages -> Python; zero-copy
 *              holds, Tracker
 *   frames.c   serialize(), deserialize(): messages as frames, no socket
 *   sockets.c  send and receive with the C socket calls on pyzmq's sockets
 *
 * Semantics follow msgpack-python 1.0 (its Cython packer and C unpacker):
 * the same type tests in the same order, the same shortest encodings, the
 * same exceptions. Where a file differs it says so. The binding uses only
 * the library's public headers.
 */
#ifndef ZPY_CORE_H
#define ZPY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "zmqpack.h"
/* the library's one byte-order helper (src/, on the static library's include path) */
#include "byteorder.h"

/* numpy's C API: ndarray.c owns the function table (ZPY_NUMPY_OWNER) and
 * imports it lazily (zpy_import_numpy()), so that the msgpack half of the
 * module never loads numpy. */
#define PY_ARRAY_UNIQUE_SYMBOL zpy_ARRAY_API
#ifndef ZPY_NUMPY_OWNER
#define NO_IMPORT_ARRAY
#endif
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <numpy/arrayobject.h>
#pragma GCC diagnostic pop

#if defined(__GNUC__)
#  define LIKELY(x) __builtin_expect(!!(x), 1)
#  define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define LIKELY(x) (x)
#  define UNLIKELY(x) (x)
#endif

#define ITEM_LIMIT ((Py_ssize_t)0xffffffffLL)
#define PACK_RECURSE_LIMIT 511
#define UNPACK_STACK_SIZE 1024

/* Ext codes of the opt-in "keep types" mode (docs/python.md). */
#define EXT_TUPLE 80
#define EXT_SET 81
#define EXT_FROZENSET 82
#define EXT_COMPLEX 83

/* The MessagePack ext type of an array reference in a mixed message. */
#define EXT_ARRAY_REF ZPK_EXT_NDARRAY_REF

/* ---- module globals (module.c), set once through _setup() ----------------- */
extern PyObject *g_ExtType;      /* zmqpack.ExtType */
extern PyObject *g_Timestamp;    /* zmqpack.Timestamp */
extern PyObject *g_msgpack_ExtType;   /* msgpack.ExtType, NULL without msgpack */
extern PyObject *g_msgpack_Timestamp; /* msgpack.Timestamp, NULL without msgpack */
extern PyObject *g_FormatError;
extern PyObject *g_StackError;
extern PyObject *g_ExtraData;
extern PyObject *g_registry_hook; /* callable(obj) -> replacement or NotImplemented */
extern PyObject *g_registry_ext_hook; /* ext_hook used when the registry is active */
extern int g_registry_active;     /* set when something was registered */
extern PyObject *g_epoch;         /* datetime(1970,1,1,tzinfo=utc) */
extern PyObject *g_str_code, *g_str_data, *g_str_seconds, *g_str_nanoseconds, *g_str_numpy;
extern PyObject *g_zmq_error;     /* callable(errno) -> exception instance (sockets) */
extern PyObject *g_WireError;     /* zmqpack.WireError(code, name, text) */

/* Raises the Python exception for library code @p rc (-errno: pyzmq's
 * exception; ZPK_E*: WireError with @p err's text when it has one).
 * Returns NULL. */
PyObject *zpy_raise(int rc, const zpk_error_t *err);

/* ---- pack.c ------------------------------------------------------------------ */
/* A large bin value left out of the writer until the bytes are made (pack.c). */
typedef struct {
    size_t at;       /* where it goes: the writer's size when it was met */
    uint8_t head[8]; /* its header */
    size_t nhead;
    const void *p;   /* its body */
    size_t n;
    PyObject *owner; /* keeps p alive: a bytes object or an ndarray */
} zpy_chunk_t;

typedef struct {
    PyObject_HEAD
    zpk_writer_t b;       /* the library's growable writer (valid when w_ready) */
    int w_ready;
    PyObject *default_fn; /* NULL when None */
    PyObject *unicode_errors_obj;
    const char *unicode_errors; /* NULL: strict UTF-8 */
    int use_single_float;
    int autoreset;
    int use_bin_type;
    int strict_types;
    int datetime;
    int keep_types;
    int ndarray_mode;     /* ZPY_NDARRAY_*: how ndarrays and numpy scalars are packed */
    int defer;            /* the result is bytes made at once: large bins may wait as chunks */
    zpy_chunk_t *chunks;
    Py_ssize_t nchunks, chunks_cap;
    size_t chunk_bytes;
    Py_ssize_t exports;
    PyObject *ndarrays; /* mixed messages: ndarrays met so far, or NULL */
} PackerObject;

/* The `ndarray=` option of packing and unpacking. */
#define ZPY_NDARRAY_DEFAULT 0       /* refused (or a mixed message's frames) */
#define ZPY_NDARRAY_MSGPACK_NUMPY 1 /* msgpack-numpy's maps */
/* Parses an `ndarray=` argument into *mode. 0, or -1 with ValueError. */
int zpy_ndarray_mode(PyObject *arg, int *mode);

extern PyTypeObject zpy_PackerType;
extern PyObject *g_ndarray_type; /* numpy.ndarray once numpy is imported, else NULL */

/* Packs @p o at the end of @p pk's writer (@p nest: levels left). 0, or -1
 * with an exception set; the writer's own error is checked by
 * zpy_writer_check(). */
int zpy_pack_obj(PackerObject *pk, PyObject *o, int nest);
/* 0, or -1 with an exception set when the writer failed (sticky error). */
int zpy_writer_check(zpk_writer_t *w);
/* A Packer with default options (its writer ready). New reference. */
PackerObject *zpy_packer_new(void);
/* Sets @p pk's options from the keyword arguments @p kw of Packer() (NULL:
 * the defaults); autoreset is on. 0, or -1 with an exception set. */
int zpy_packer_configure(PackerObject *pk, PyObject *kw);
int zpy_pack_init(PyObject *m);

/* ---- unpack.c ---------------------------------------------------------------- */
typedef struct {
    PyObject *object_hook;       /* NULL when None */
    PyObject *object_pairs_hook; /* NULL when None */
    PyObject *list_hook;         /* NULL when None */
    PyObject *ext_hook;          /* never NULL */
    PyObject *unicode_errors_obj;
    const char *unicode_errors;  /* NULL: strict */
    int use_list;
    int raw;
    int timestamp;
    int strict_map_key;
    int keep_types;
    int ndarray_mode;            /* ZPY_NDARRAY_* */
    Py_ssize_t max_str_len, max_bin_len, max_array_len, max_map_len, max_ext_len;
    PyObject *ndarrays; /* borrowed: the ndarrays of a mixed message, or NULL */
} uopts_t;

/*
 * Decoding pulls tags from the library's reader (zpk_reader_t) and builds
 * Python objects directly. The reader's own limits are opened wide: the
 * limits here are msgpack-python's, checked in msgpack-python's order
 * (array/map counts at the header; str/bin/ext lengths once the payload
 * is known to be complete, so truncated input reports "incomplete" first).
 */
typedef struct {
    zpk_reader_t r;
    const uopts_t *o;
    int incomplete; /* the error was "the input ends inside the object" */
    PyObject *src;  /* borrowed: the object whose buffer holds the input, which
                       decoded ndarrays may alias; NULL (the default): copy */
} uctx_t;

extern zpk_limits_t g_open_limits; /* every limit at its maximum */

void zpy_uctx_init(uctx_t *c, const void *data, size_t n, const uopts_t *o);
/* One object from @p c (the cyclic GC paused for large inputs). New
 * reference, or NULL with an exception set. */
PyObject *zpy_unpack(uctx_t *c);
/* Raises the exception for reader error @p rc (sets c->incomplete for
 * ZPK_EOUTOFDATA when @p c is not NULL). Returns NULL. */
PyObject *zpy_read_error(uctx_t *c, int rc);
/* Fills @p o from keyword arguments. @p base is the size the per-type limits
 * default to (the input length for unpackb, max_buffer_size for Unpacker). */
int zpy_uopts_parse(uopts_t *o, PyObject *object_hook, PyObject *list_hook, int use_list,
                    int raw, int timestamp, int strict_map_key, PyObject *unicode_errors,
                    PyObject *object_pairs_hook, PyObject *ext_hook, Py_ssize_t max_str_len,
                    Py_ssize_t max_bin_len, Py_ssize_t max_array_len, Py_ssize_t max_map_len,
                    Py_ssize_t max_ext_len, int keep_types, PyObject *ndarray, Py_ssize_t base);
void zpy_uopts_clear(uopts_t *o);
/* zpy_uopts_parse() from unpackb()'s keyword arguments @p kwargs (NULL: none). */
int zpy_uopts_from_kwargs(uopts_t *o, PyObject *kwargs, Py_ssize_t base);
/* Exactly one object from the @p n bytes at @p data, as unpackb() decodes
 * it (ExtraData when bytes remain); @p src as uctx_t.src. */
PyObject *zpy_unpackb_buffer(const void *data, size_t n, const uopts_t *o, PyObject *src);
int zpy_unpack_init(PyObject *m);

/* ---- stream.c ---------------------------------------------------------------- */
int zpy_stream_init(PyObject *m);

/* ---- ndarray.c --------------------------------------------------------------- */
extern int g_numpy_ready;
/* Imports numpy's C API once. 0, or -1 with an exception set. */
int zpy_import_numpy(void);
/* An ArrayBuf owning @p a's memory (@p a is cleared; freed on failure);
 * @p readonly: the memory must not be written (a read-only frame's). */
PyObject *zpy_wrap_array(zpk_ndarray_t *a, int readonly);
/* An ndarray over ArrayBuf @p ab's memory whose base is @p ab. */
PyObject *zpy_ndarray(PyObject *ab);
/* An ndarray over @p a's memory (not taken over), writable or not, whose
 * base is @p base (a new reference is taken): what keeps the memory alive. */
PyObject *zpy_ndarray_over(const zpk_ndarray_t *a, int writable, PyObject *base);
/* Fills @p a over @p view (the strided buffer of an ndarray) with @p typestr
 * (a str, or NULL/None: taken from the ndarray @p arr). */
int zpy_array_from_view(zpk_ndarray_t *a, Py_buffer *view, PyObject *typestr, PyObject *arr);
int zpy_ndarray_init(PyObject *m);

/* ---- message.c --------------------------------------------------------------- */
/* What a message is, for the calls that take a value. */
#define ZPY_KIND_ANY 0     /* decode: a packed or mixed message, else an ndarray message */
#define ZPY_KIND_PACKED 1  /* an object: packed, or mixed when it holds ndarrays */
#define ZPY_KIND_NDARRAY 2 /* an ndarray message (or the pyzmq recipe) */
/* The `copy=` argument of sends and serialize(). */
#define ZPY_COPY_ALWAYS 0  /* copy=True: nothing zero-copy */
#define ZPY_COPY_DEFAULT 1 /* copy=None: zero-copy from ZPK_DEFAULT_COPY_BELOW up */
#define ZPY_COPY_NEVER 2   /* copy=False: every ndarray zero-copy */
/* What _recv() returns: (envelope, value), with the recipe's other keys as
 * a third item (as _deserialize()'s want_meta), or the value alone. */
#define ZPY_RESULT_PAIR 0
#define ZPY_RESULT_META 1
#define ZPY_RESULT_VALUE 2

/* The Py_buffers of a message's ndarrays, until the library lets go. */
typedef struct zpy_hold zpy_hold_t;

/* A message being sent or serialized: the library's options, the object's
 * writer and the ndarrays, all borrowed from Python until zpy_out_finish(). */
typedef struct {
    zpk_send_opts_t o;
    zpk_codec_t codec;
    zpk_envelope_t env;
    zpk_frame_t *env_frames;
    Py_buffer *env_views;
    size_t n_env;
    PackerObject *pk;  /* ZPY_KIND_PACKED: the packer holding the object */
    int pk_shared;     /* pk is the module's message packer (its buffer reused) */
    int pk_configured; /* pk has options of this message's (back to the defaults after) */
    zpk_ndarray_t *za; /* narr ndarrays over the buffers of h */
    size_t narr;
    zpy_hold_t *h;
    int track;
} zpy_out_t;

/* Fills @p m from the Python arguments of a send (@p packer_kw: Packer()'s
 * options, or NULL). Refuses wrong arguments with TypeError or ValueError
 * naming them. 0, or -1 with an exception set and nothing left to free. */
int zpy_out_init(zpy_out_t *m, PyObject *value, int kind, PyObject *codec, PyObject *envelope,
                 int flags, int mode, int track, PyObject *packer_kw);
/* After the library's encode or send returned @p rc: None, a Tracker (with
 * track), or NULL with the exception for @p rc set. Frees @p m. */
PyObject *zpy_out_finish(zpy_out_t *m, int rc, const zpk_error_t *err);
/* Frees @p m, releasing the buffers of @p h (NULL: the library keeps them). */
void zpy_out_free(zpy_out_t *m, zpy_hold_t *h);
/* Releases the buffers the library let go of. Needs the GIL. */
void zpy_drain(void);
/* The frames of a received envelope as a list of bytes; frees @p env. */
PyObject *zpy_in_envelope(zpk_envelope_t *env);

/* The result of _recv()/_deserialize(): (envelope, value), or with @p meta
 * (a recipe_meta text from the library) (envelope, value, meta as str).
 * Takes over @p envl and @p value (NULL when one failed: then NULL) and
 * frees @p meta. */
PyObject *zpy_recv_result(PyObject *envl, PyObject *value, char *meta);
/* A received ndarray (takes @p a over). */
PyObject *zpy_in_ndarray(zpk_ndarray_t *a, int readonly);
/* The value of a decoded mixed or packed message (ZPK_RECV_BYTES), decoded
 * with unpackb()'s options @p unpack_kw (NULL: defaults); its ndarrays are
 * read-only where @p readonly (may be NULL) says. Frees @p m. */
PyObject *zpy_in_mixed(zpk_mixed_t *m, PyObject *unpack_kw,
                       int (*readonly)(const void *data, void *ud), void *ud);
int zpy_message_init(PyObject *m);

/* ---- karabo.c ---------------------------------------------------------------- */
/* (data, metadata) of a Karabo train decoded with ZPK_RECV_BYTES (takes
 * @p t over), as zmqpack.karabo.deserialize() returns them. */
PyObject *zpy_in_karabo(zpk_karabo_train_t *t);
/* Raises the exception for a failed Karabo decode or receive, with the
 * faulty frame's index in the text ("frame 3: ..."). Returns NULL. */
PyObject *zpy_karabo_error(int rc, const zpk_error_t *err);
int zpy_karabo_init(PyObject *m);

/* ---- frames.c, sockets.c ----------------------------------------------------- */
int zpy_frames_init(PyObject *m);
int zpy_sockets_init(PyObject *m);

#endif
