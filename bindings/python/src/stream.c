/*
 * zmqpack._core, streaming: Decoder, the engine of the streaming Unpacker
 * (zmqpack/__init__.py): parsed unpack options plus a resumable scanner
 * whose state survives between feeds, so the total work is linear in the
 * bytes fed; once the scanner has found the end of an object, the object
 * is built from those bytes in one pass (unpack.c).
 *
 * The scanner reads each header with the library's reader (zpk_read_tag)
 * and not with zpk_unpacker_t, which decodes into document trees from its own
 * copy of the bytes: the Unpacker's bytes stay in its Python bytearray
 * (read_bytes(), tell() and the msgpack-python limits work on them there).
 */
#include "core.h"

#include <structmember.h>

typedef struct {
    PyObject_HEAD
    uopts_t o;
    Py_ssize_t max_buffer_size;
    /* scanner state, relative to the start of the object being scanned */
    Py_ssize_t pos;
    Py_ssize_t need; /* after scan() returned -1: a lower bound of the bytes still missing */
    PyObject *buf;     /* Unpacker: its bytearray (member _buf) */
    PyObject *file;    /* Unpacker: its file_like or None (member _file) */
    Py_ssize_t head;   /* next() only: where the next object starts in the caller's buffer */
    long long offset;  /* next() only: bytes consumed so far (the Unpacker's tell()) */
    int depth;
    uint64_t rem[UNPACK_STACK_SIZE];
} DecoderObject;

/* Decoder(max_buffer_size, *, the Unpacker's options) */
static int Decoder_init(DecoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_buffer_size", "object_hook", "list_hook", "use_list", "raw",
                             "timestamp", "strict_map_key", "unicode_errors",
                             "object_pairs_hook", "ext_hook", "max_str_len", "max_bin_len",
                             "max_array_len", "max_map_len", "max_ext_len", "keep_types",
                             "ndarray", NULL};
    PyObject *object_hook = Py_None, *list_hook = Py_None, *unicode_errors = Py_None,
             *object_pairs_hook = Py_None, *ext_hook = Py_None, *ndarray = Py_None;
    int use_list = 1, raw = 0, timestamp = 0, strict_map_key = 1, keep_types = 0;
    Py_ssize_t mbs, msl = -1, mbl = -1, mal = -1, mml = -1, mel = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|$OOppipOOOnnnnnpO", kwlist, &mbs,
                                     &object_hook, &list_hook, &use_list, &raw, &timestamp,
                                     &strict_map_key, &unicode_errors, &object_pairs_hook,
                                     &ext_hook, &msl, &mbl, &mal, &mml, &mel, &keep_types,
                                     &ndarray))
        return -1;
    zpy_uopts_clear(&self->o);
    if (zpy_uopts_parse(&self->o, object_hook, list_hook, use_list, raw, timestamp,
                        strict_map_key, unicode_errors, object_pairs_hook, ext_hook, msl, mbl,
                        mal, mml, mel, keep_types, ndarray, mbs) < 0)
        return -1;
    self->max_buffer_size = mbs;
    self->pos = 0;
    self->depth = 0;
    self->head = 0;
    self->offset = 0;
    return 0;
}

static void Decoder_dealloc(DecoderObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->buf);
    Py_CLEAR(self->file);
    zpy_uopts_clear(&self->o);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Resumable scan of one object in buf[start:end], reading each header with
 * the library's reader. Returns the end offset of the object, -1 when more
 * data is needed (state kept: offset and the stack of remaining counts),
 * -2 on error (Python exception set, state reset). */
static Py_ssize_t scan(DecoderObject *s, const uint8_t *base, Py_ssize_t start, Py_ssize_t end)
{
    const uint8_t *p0 = base + start;
    Py_ssize_t avail = end - start;
    Py_ssize_t pos = s->pos;
    const uopts_t *o = &s->o;
    uint64_t need = 1;
    for (;;) {
        need = 1;
        if (pos >= avail)
            goto more;
        zpk_reader_t r;
        zpk_tag_t t;
        zpk_reader_init(&r, p0 + pos, (size_t)(avail - pos), &g_open_limits);
        int rc = zpk_read_tag(&r, &t);
        if (rc == ZPK_EOUTOFDATA)
            goto more; /* the header itself is cut: at least one more byte */
        if (rc != 0) {
            zpy_read_error(NULL, rc);
            goto error;
        }
        uint64_t hdr = zpk_reader_offset(&r), body = 0, count = 0;
        Py_ssize_t limit = PY_SSIZE_T_MAX;
        const char *what = NULL;
        switch (t.type) {
        case ZPK_TYPE_STR: body = t.v.len; limit = o->max_str_len; what = "max_str_len"; break;
        case ZPK_TYPE_BIN: body = t.v.len; limit = o->max_bin_len; what = "max_bin_len"; break;
        case ZPK_TYPE_EXT: body = t.v.len; limit = o->max_ext_len; what = "max_ext_len"; break;
        case ZPK_TYPE_ARRAY:
        case ZPK_TYPE_MAP:
            if (s->depth >= UNPACK_STACK_SIZE) {
                PyErr_SetString(g_StackError, "too deeply nested");
                goto error;
            }
            count = t.v.len;
            if (t.type == ZPK_TYPE_ARRAY) {
                limit = o->max_array_len;
                what = "max_array_len";
            } else {
                limit = o->max_map_len;
                what = "max_map_len";
            }
            break;
        default:
            break;
        }
        if (what && (Py_ssize_t)t.v.len > limit) {
            /* msgpack-python counts an ext's type byte in the length it prints */
            PyErr_Format(PyExc_ValueError, "%u exceeds %s(%zd)",
                         t.v.len + (t.type == ZPK_TYPE_EXT), what, limit);
            goto error;
        }
        if ((uint64_t)(avail - pos) < hdr + body) {
            need = hdr + body - (uint64_t)(avail - pos);
            goto more;
        }
        pos += (Py_ssize_t)(hdr + body);
        if (count) {
            s->rem[s->depth++] = t.type == ZPK_TYPE_MAP ? count * 2 : count;
            continue;
        }
        /* one item completed: pop finished containers */
        while (s->depth > 0) {
            if (--s->rem[s->depth - 1] > 0)
                break;
            s->depth--;
        }
        if (s->depth == 0) {
            s->pos = 0;
            return start + pos;
        }
    }
more:
    s->pos = pos;
    s->need = need > (uint64_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)need;
    return -1;
error:
    s->pos = 0;
    s->depth = 0;
    return -2;
}

static PyObject *Decoder_scan(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*n:scan", &view, &start))
        return NULL;
    Py_ssize_t r = -2;
    if (start < 0 || start > view.len)
        PyErr_SetString(PyExc_ValueError, "start out of range");
    else
        r = scan(self, view.buf, start, view.len);
    PyBuffer_Release(&view);
    if (r == -2)
        return NULL;
    return PyLong_FromSsize_t(r);
}

static PyObject *Decoder_build(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn:build", &view, &start, &end))
        return NULL;
    PyObject *r = NULL;
    if (start < 0 || end < start || end > view.len) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
    } else {
        uctx_t c;
        zpy_uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(end - start), &self->o);
        r = zpy_unpack(&c);
    }
    PyBuffer_Release(&view);
    return r;
}

static PyObject *g_need_more; /* sentinel returned by Decoder.next() */

/* next(buf, build=True): the next object of buf[head:] (or None when not
 * building, for skip()), advancing head and offset; the sentinel NEED_MORE
 * when the object is not complete yet (scan state kept). A malformed
 * object raises and leaves head where it was; an exception while building
 * (a hook) raises with head past the object. */
static PyObject *Decoder_next(DecoderObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "next(buf, build=True)");
        return NULL;
    }
    int build = nargs < 2 ? 1 : PyObject_IsTrue(args[1]);
    if (build < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = NULL;
    Py_ssize_t start = self->head;
    if (start < 0 || start > view.len) {
        PyErr_SetString(PyExc_ValueError, "head out of range");
        goto out;
    }
    if (build && self->pos == 0 && self->depth == 0 && !self->o.object_hook &&
        !self->o.object_pairs_hook && !self->o.list_hook && self->o.ext_hook == g_ExtType) {
        /* Fast path: decode straight from the buffer in one pass. Only when
         * no hook can observe a second attempt; "incomplete" falls back to
         * the resumable scanner, so the work stays linear. */
        uctx_t c;
        zpy_uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(view.len - start), &self->o);
        r = zpy_unpack(&c);
        if (r) {
            Py_ssize_t used = (Py_ssize_t)zpk_reader_offset(&c.r);
            self->head = start + used;
            self->offset += used;
            goto out;
        }
        if (c.incomplete) {
            PyErr_Clear();
        } else {
            /* a malformed object leaves head; an error in a well-formed one
             * (e.g. strict_map_key) skips it, as the scan path does */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            Py_ssize_t e2 = scan(self, view.buf, start, view.len);
            if (e2 >= 0) {
                self->head = e2;
                self->offset += e2 - start;
            }
            if (e2 == -2) {
                Py_XDECREF(et);
                Py_XDECREF(ev);
                Py_XDECREF(tb);
            } else {
                self->pos = 0;
                self->depth = 0;
                PyErr_Restore(et, ev, tb);
            }
            goto out;
        }
    }
    Py_ssize_t end = scan(self, view.buf, start, view.len);
    if (end == -1) {
        r = g_need_more;
        Py_INCREF(r);
        goto out;
    }
    if (end < 0)
        goto out;
    self->head = end;
    self->offset += end - start;
    if (build) {
        uctx_t c;
        zpy_uctx_init(&c, (const uint8_t *)view.buf + start, (size_t)(end - start), &self->o);
        r = zpy_unpack(&c);
    } else {
        r = Py_None;
        Py_INCREF(r);
    }
out:
    PyBuffer_Release(&view);
    return r;
}

static PyObject *Decoder_need(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->need > 0 ? self->need : 1);
}

static PyObject *Decoder_reset(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    self->pos = 0;
    self->depth = 0;
    Py_RETURN_NONE;
}

/* read_header(buf, start, kind): kind 1 = array, 2 = map. Returns
 * (count, header_size), or None when more bytes are needed. */
static PyObject *Decoder_read_header(DecoderObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start;
    int kind;
    if (!PyArg_ParseTuple(args, "y*ni:read_header", &view, &start, &kind))
        return NULL;
    const uint8_t *p = (const uint8_t *)view.buf + start;
    Py_ssize_t left = view.len - start;
    PyObject *r = NULL;
    uint64_t n = 0;
    Py_ssize_t hs = 0;
    if (left < 1) {
        r = Py_None;
        Py_INCREF(r);
        goto out;
    }
    uint8_t b = p[0];
    uint8_t fix = kind == 1 ? 0x90 : 0x80, c16 = kind == 1 ? 0xdc : 0xde;
    if ((b & 0xf0) == fix) {
        n = b & 0x0f;
        hs = 1;
    } else if (b == c16) {
        hs = 3;
        if (left >= 3)
            n = zpk__get_be16(p + 1);
    } else if (b == c16 + 1) {
        hs = 5;
        if (left >= 5)
            n = zpk__get_be32(p + 1);
    } else {
        PyErr_SetString(PyExc_ValueError, kind == 1 ? "Unexpected type header on stream"
                                                    : "Unexpected type header on stream");
        goto out;
    }
    if (left < hs) {
        r = Py_None;
        Py_INCREF(r);
        goto out;
    }
    if (kind == 1 && (Py_ssize_t)n > self->o.max_array_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_array_len(%zd)", (unsigned)n,
                     self->o.max_array_len);
        goto out;
    }
    if (kind == 2 && (Py_ssize_t)n > self->o.max_map_len) {
        PyErr_Format(PyExc_ValueError, "%u exceeds max_map_len(%zd)", (unsigned)n,
                     self->o.max_map_len);
        goto out;
    }
    r = Py_BuildValue("Kn", (unsigned long long)n, hs);
out:
    PyBuffer_Release(&view);
    return r;
}

static PyMethodDef Decoder_methods[] = {
    {"_scan", (PyCFunction)Decoder_scan, METH_VARARGS,
     "scan(buf, start) -> end offset of the next complete object, or -1 (need more)."},
    {"_build", (PyCFunction)Decoder_build, METH_VARARGS,
     "build(buf, start, end) -> the object in buf[start:end]."},
    {"_reset_scan", (PyCFunction)Decoder_reset, METH_NOARGS, "reset(): forget a partial scan."},
    {"_next", (PyCFunction)(void (*)(void))Decoder_next, METH_FASTCALL,
     "next(buf, build=True) -> the next object of buf[head:], or NEED_MORE."},
    {"_need", (PyCFunction)Decoder_need, METH_NOARGS,
     "need() -> after scan() returned -1, a lower bound of the bytes still missing."},
    {"_read_header_c", (PyCFunction)Decoder_read_header, METH_VARARGS,
     "read_header(buf, start, kind) -> (count, header size) or None."},
    {NULL, NULL, 0, NULL},
};

/* Iteration (the Unpacker's for loop) without a Python frame per object. */
static PyObject *Decoder_iternext(DecoderObject *self)
{
    for (;;) {
        if (!self->buf) {
            PyErr_SetString(PyExc_ValueError, "no buffer");
            return NULL;
        }
        PyObject *a[1] = {self->buf};
        PyObject *r = Decoder_next(self, a, 1);
        if (r != g_need_more)
            return r;
        Py_DECREF(r);
        if (!self->file || self->file == Py_None)
            return NULL; /* StopIteration */
        PyObject *more = PyObject_CallMethod((PyObject *)self, "_read_more", NULL);
        if (!more)
            return NULL;
        int t = PyObject_IsTrue(more);
        Py_DECREF(more);
        if (t <= 0)
            return NULL;
    }
}

static int Decoder_traverse(DecoderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->buf);
    Py_VISIT(self->file);
    Py_VISIT(self->o.object_hook);
    Py_VISIT(self->o.object_pairs_hook);
    Py_VISIT(self->o.list_hook);
    Py_VISIT(self->o.ext_hook);
    return 0;
}

static int Decoder_clear(DecoderObject *self)
{
    Py_CLEAR(self->buf);
    Py_CLEAR(self->file);
    zpy_uopts_clear(&self->o);
    return 0;
}

static PyMemberDef Decoder_members[] = {
    {"_buf", T_OBJECT, offsetof(DecoderObject, buf), 0, "the Unpacker's buffer"},
    {"_file", T_OBJECT, offsetof(DecoderObject, file), 0, "the Unpacker's file_like"},
    {"_head", T_PYSSIZET, offsetof(DecoderObject, head), 0, "start of the next object"},
    {"_offset", T_LONGLONG, offsetof(DecoderObject, offset), 0, "bytes consumed so far"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zmqpack._core.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Streaming decode engine (internal; use zmqpack.Unpacker).",
    .tp_methods = Decoder_methods,
    .tp_members = Decoder_members,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Decoder_iternext,
    .tp_traverse = (traverseproc)Decoder_traverse,
    .tp_clear = (inquiry)Decoder_clear,
    .tp_init = (initproc)Decoder_init,
    .tp_new = PyType_GenericNew,
};

int zpy_stream_init(PyObject *m)
{
    if (PyType_Ready(&DecoderType) < 0)
        return -1;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        return -1;
    }
    g_need_more = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (!g_need_more)
        return -1;
    Py_INCREF(g_need_more);
    return PyModule_AddObject(m, "NEED_MORE", g_need_more);
}
