/*
 * zmqpack._core, sockets: the C socket layer (zmqpack/socket.h) on pyzmq's
 * libzmq sockets.
 *
 * Where pyzmq and this module link the same libzmq (Debian's python3-zmq
 * does), `sock.underlying` (the address of the libzmq socket) is handed to
 * zpk_send_* and zpk_recv_*: one C call per message, no frame crosses into
 * Python. Elsewhere zmqpack/_sockets.py takes the other route, serialize()
 * and recv_multipart() + deserialize() (frames.c); message.c holds what both
 * share, so both put the same frames on the wire and decode alike.
 *
 * Blocking calls run without the GIL; EINTR (Ctrl-C) runs the Python signal
 * handlers and either raises (KeyboardInterrupt) or retries.
 */
#include "core.h"

#include <errno.h>
#include <limits.h>

static void *s_sock_ptr(PyObject *addr)
{
    void *p = PyLong_AsVoidPtr(addr);
    if (!p && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "socket is closed");
    return p;
}

/* Runs @p call (which reads its flags from @p flags_var): first without
 * blocking and with the GIL held (no GIL handoff when libzmq can take or give
 * a message at once, the common case), then, if it could not and the caller
 * did not ask for DONTWAIT, without the GIL until it returns something other
 * than -EINTR after which the Python signal handlers ran without raising. */
#define S_BLOCKING(rc, flags_var, call)                           \
    do {                                                          \
        int s_flags_ = (flags_var);                               \
        if (!(s_flags_ & ZPK_DONTWAIT)) {                         \
            (flags_var) = s_flags_ | ZPK_DONTWAIT;                \
            rc = (call);                                          \
            (flags_var) = s_flags_;                               \
            if (rc != -EAGAIN && rc != -EINTR)                    \
                break;                                            \
        }                                                         \
        for (;;) {                                                \
            Py_BEGIN_ALLOW_THREADS rc = (call);                   \
            Py_END_ALLOW_THREADS                                  \
            if (rc == -EINTR && PyErr_CheckSignals() == 0)        \
                continue;                                         \
            break;                                                \
        }                                                         \
    } while (0)

/* Positional arguments of the vectorcall entries below: parsed by hand, as
 * PyArg_ParseTuple cost about 500 instructions a call, a quarter of what
 * receiving a small message costs besides decoding it. */
static int s_nargs(const char *fname, Py_ssize_t n, Py_ssize_t min, Py_ssize_t max)
{
    if (n >= min && n <= max)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", fname, min,
                 max, n);
    return -1;
}

static int s_int(PyObject *o, int *v)
{
    long l = PyLong_AsLong(o);
    if (l == -1 && PyErr_Occurred())
        return -1;
    if (l < INT_MIN || l > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "int argument out of range");
        return -1;
    }
    *v = (int)l;
    return 0;
}

/*
 * _send(addr, value, kind, codec, envelope, flags, mode, track, packer options or None
 *       [, recipe_meta: JSON object text or None])
 *   kind:  ZPY_KIND_PACKED (an object: packed, or mixed when it holds
 *          ndarrays) or ZPY_KIND_NDARRAY (value is the ndarray)
 *   mode:  ZPY_COPY_* (copy=True / None / False)
 *   flags: ZPK_DONTWAIT | ZPK_SEND_SINGLE | ZPK_SEND_RECIPE
 * Returns a Tracker when track, else None.
 */
static PyObject *s_send(void *sock, PyObject *value, int kind, PyObject *codec,
                        PyObject *envelope, int flags, int mode, int track, PyObject *kw,
                        const char *meta)
{
    zpy_out_t m;
    if (zpy_out_init(&m, value, kind, codec, envelope, flags, mode, track, kw) < 0)
        return NULL;
    m.o.recipe_meta = meta; /* the caller's str holds it alive for the call */
    zpk_error_t err;
    int rc;
    S_BLOCKING(rc, m.o.flags,
               kind == ZPY_KIND_NDARRAY ? zpk_send_array(sock, &m.za[0], &m.o, &err)
               : m.narr ? zpk_send_mixed(sock, &m.pk->b, m.za, m.narr, &m.o, &err)
                        : zpk_send_packed(sock, &m.pk->b, &m.o, &err));
    return zpy_out_finish(&m, rc, &err);
}

static PyObject *core_send(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    int kind, flags, mode, track;
    const char *meta = NULL;
    if (s_nargs("_send", nargs, 9, 10) < 0 || s_int(args[2], &kind) < 0 ||
        s_int(args[5], &flags) < 0 || s_int(args[6], &mode) < 0 ||
        (track = PyObject_IsTrue(args[7])) < 0)
        return NULL;
    if (nargs == 10 && args[9] != Py_None && !(meta = PyUnicode_AsUTF8(args[9])))
        return NULL;
    void *sock = s_sock_ptr(args[0]);
    if (!sock)
        return NULL;
    return s_send(sock, args[1], kind, args[3], args[4], flags, mode, track,
                  args[8] == Py_None ? NULL : args[8], meta);
}

/* _recv(addr, flags, kind, unpack options or None[, result])
 *   result: ZPY_RESULT_PAIR (default) -> (envelope, value);
 *           ZPY_RESULT_META -> (envelope, value, recipe_meta text);
 *           ZPY_RESULT_VALUE -> value (the envelope dropped in C) */
static PyObject *s_recv(void *sock, int flags, int kind, PyObject *kw, int result)
{
    zpy_drain();
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    char *meta = NULL;
    if (result == ZPY_RESULT_META)
        o.recipe_meta = &meta;
    zpk_envelope_t env, *envp = result == ZPY_RESULT_VALUE ? NULL : &env;
    zpk_error_t err;
    int rc;
    PyObject *envl = NULL, *value = NULL;
    if (kind == ZPY_KIND_NDARRAY) {
        zpk_ndarray_t a;
        S_BLOCKING(rc, o.flags, zpk_recv_array(sock, &o, envp, &a, &err));
        if (rc != 0)
            return rc == -EINTR ? NULL : zpy_raise(rc, &err);
        if (envp && !(envl = zpy_in_envelope(&env)))
            zpk_ndarray_free(&a);
        else
            value = zpy_in_ndarray(&a, 0);
    } else {
        zpk_mixed_t m;
        o.flags |= ZPK_RECV_BYTES;
        S_BLOCKING(rc, o.flags, zpk_recv_mixed(sock, &o, envp, &m, &err));
        if (rc != 0)
            return rc == -EINTR ? NULL : zpy_raise(rc, &err);
        if (envp && !(envl = zpy_in_envelope(&env)))
            zpk_mixed_free(&m);
        else
            value = zpy_in_mixed(&m, kw, NULL, NULL);
    }
    if (!envp)
        return value;
    return zpy_recv_result(envl, value, meta);
}

static PyObject *core_recv(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    int flags, kind, result = ZPY_RESULT_PAIR;
    if (s_nargs("_recv", nargs, 4, 5) < 0 || s_int(args[1], &flags) < 0 ||
        s_int(args[2], &kind) < 0 || (nargs == 5 && s_int(args[4], &result) < 0))
        return NULL;
    void *sock = s_sock_ptr(args[0]);
    if (!sock)
        return NULL;
    return s_recv(sock, flags, kind, args[3] == Py_None ? NULL : args[3], result);
}

/* _karabo_recv(addr, flags) -> (data, metadata): one Karabo train off the
 * socket (zmqpack.karabo.Client on the C route). */
static PyObject *core_karabo_recv(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *addr;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    if (!PyArg_ParseTuple(args, "Oi:_karabo_recv", &addr, &o.flags))
        return NULL;
    void *sock = s_sock_ptr(addr);
    if (!sock)
        return NULL;
    zpy_drain();
    o.flags |= ZPK_RECV_BYTES;
    zpk_karabo_train_t t;
    zpk_error_t err;
    int rc;
    S_BLOCKING(rc, o.flags, zpk_karabo_recv(sock, &o, &t, &err));
    if (rc != 0)
        return rc == -EINTR ? NULL : zpy_karabo_error(rc, &err);
    return zpy_in_karabo(&t);
}

static PyObject *core_collect(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(ignored))
{
    zpy_drain();
    Py_RETURN_NONE;
}

/* ---- the public helpers: SocketHelper ----------------------------------------- */
/*
 * zmqpack.send_packed, recv_packed, send_array and recv_array are
 * SocketHelper objects around the Python functions of _sockets.py. A call
 * of the common shape goes from here straight to s_send()/s_recv(): a
 * socket whose type is one of the plain ones (zmq.Socket, zmqpack.Socket)
 * on the C route, no topic, envelope, out or copy, flags 0 or DONTWAIT, and
 * for a send no keyword but codec, track and single (send_array: an exact
 * ndarray). Every other call goes to the Python function, which checks its
 * arguments and reaches the same two functions. The Python frame the
 * common case skips cost about 2,000 instructions a call, as much as the
 * rest of receiving a 100-byte dict besides decoding it.
 * tests/test_helpers_fast.py runs both routes on the same calls.
 */
enum { HELPER_SEND_PACKED, HELPER_SEND_ARRAY, HELPER_RECV_PACKED, HELPER_RECV_ARRAY, HELPER_N };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *general; /* the Python function: every call the fast path does not take
                          (no tp_clear: the function's side of a cycle clears it) */
    int op;            /* HELPER_* */
} helper_t;

/* The positions of the common shape's arguments, -1 where there is none. */
typedef struct {
    int kind;     /* ZPY_KIND_* */
    int max_pos;  /* positional arguments the fast path takes */
    int none_at;  /* topic (sends) or out (recv_array): must be None */
    int codec_at;
    int flags_at;
} helper_shape_t;

static const helper_shape_t s_helper_shape[HELPER_N] = {
    [HELPER_SEND_PACKED] = {ZPY_KIND_PACKED, 5, 2, 3, 4},   /* sock, obj, topic, codec, flags */
    [HELPER_SEND_ARRAY] = {ZPY_KIND_NDARRAY, 5, 2, 3, 4},   /* sock, A, topic, codec, flags */
    [HELPER_RECV_PACKED] = {ZPY_KIND_PACKED, 2, -1, -1, 1}, /* sock, flags */
    [HELPER_RECV_ARRAY] = {ZPY_KIND_NDARRAY, 3, 1, -1, 2},  /* sock, out, flags */
};

static PyObject *g_plain_types; /* tuple of types; NULL until _setup_sockets() */
static PyObject *g_route_ns;    /* _sockets' globals: its _c_route says which route */
static PyObject *g_str_underlying, *g_str_codec, *g_str_track, *g_str_single, *g_str_flags,
    *g_str_c_route;

/* A plain socket on the C route. _sockets._c_route is read at each call, so
 * that the route has one switch (the tests turn it to run both). */
static int s_plain_socket(PyObject *sock)
{
    if (!g_plain_types || PyDict_GetItemWithError(g_route_ns, g_str_c_route) != Py_True)
        return 0; /* (a lookup cannot fail with an interned str key: no error to clear) */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(g_plain_types); i++)
        if ((PyObject *)Py_TYPE(sock) == PyTuple_GET_ITEM(g_plain_types, i))
            return 1;
    return 0;
}

/* flags of the fast path: an int (zmq.DONTWAIT is an IntFlag) worth 0 or
 * DONTWAIT; anything else: -1, and the Python function says what is wrong. */
static int s_fast_flags(PyObject *o)
{
    if (!PyLong_Check(o))
        return -1;
    long f = PyLong_AsLong(o);
    return f == 0 || f == ZPK_DONTWAIT ? (int)f : (PyErr_Clear(), -1);
}

/* The fast path of one call: the result, NULL with an exception, or
 * *taken = 0 when the call is not of the common shape. */
static PyObject *s_helper_fast(int op, PyObject *const *args, Py_ssize_t n, PyObject *kwnames,
                               int *taken)
{
    const helper_shape_t *sh = &s_helper_shape[op];
    const int send = op == HELPER_SEND_PACKED || op == HELPER_SEND_ARRAY;
    PyObject *codec = Py_None;
    int flags = 0, track = 0, single = 0;
    *taken = 0;
    if (n < 1 + send || n > sh->max_pos || !s_plain_socket(args[0]))
        return NULL;
    if (op == HELPER_SEND_ARRAY && !(g_numpy_ready && PyArray_CheckExact(args[1])))
        return NULL;
    if (sh->none_at > 0 && n > sh->none_at && args[sh->none_at] != Py_None)
        return NULL;
    if (sh->codec_at > 0 && n > sh->codec_at)
        codec = args[sh->codec_at];
    if (n > sh->flags_at && (flags = s_fast_flags(args[sh->flags_at])) < 0)
        return NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i), *v = args[n + i];
        int *truth = NULL;
        if (name == g_str_flags && sh->flags_at >= n) {
            if ((flags = s_fast_flags(v)) < 0)
                return NULL;
        } else if (send && name == g_str_codec && sh->codec_at >= n) {
            codec = v;
        } else if (send && (name == g_str_track || name == g_str_single)) {
            truth = name == g_str_track ? &track : &single;
        } else {
            return NULL; /* any other keyword (or one not interned): the Python function */
        }
        if (truth && (*truth = PyObject_IsTrue(v)) < 0) {
            *taken = 1;
            return NULL;
        }
    }
    *taken = 1;
    PyObject *addr = PyObject_GetAttr(args[0], g_str_underlying);
    void *sock = addr ? s_sock_ptr(addr) : NULL;
    Py_XDECREF(addr);
    if (!sock)
        return NULL;
    if (send)
        return s_send(sock, args[1], sh->kind, codec, Py_None,
                      flags | (single ? ZPK_SEND_SINGLE : 0), ZPY_COPY_DEFAULT, track, NULL, NULL);
    return s_recv(sock, flags, sh->kind, NULL, ZPY_RESULT_VALUE);
}

static PyObject *helper_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
    helper_t *h = (helper_t *)self;
    int taken;
    PyObject *r = s_helper_fast(h->op, args, PyVectorcall_NARGS(nargsf), kwnames, &taken);
    if (taken)
        return r;
    return PyObject_Vectorcall(h->general, args, nargsf, kwnames);
}

static PyObject *helper_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    int op;
    PyObject *general;
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "SocketHelper(op, function) takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "iO:SocketHelper", &op, &general))
        return NULL;
    if (op < 0 || op >= HELPER_N || !PyCallable_Check(general)) {
        PyErr_SetString(PyExc_ValueError,
                        "SocketHelper(op, function): op is one of _core.HELPER_*, function a callable");
        return NULL;
    }
    helper_t *h = (helper_t *)type->tp_alloc(type, 0);
    if (!h)
        return NULL;
    h->vectorcall = helper_vectorcall;
    h->general = Py_NewRef(general);
    h->op = op;
    return (PyObject *)h;
}

static int helper_traverse(helper_t *h, visitproc visit, void *arg)
{
    Py_VISIT(h->general);
    return 0;
}

static void helper_dealloc(helper_t *h)
{
    PyObject_GC_UnTrack(h);
    Py_DECREF(h->general);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

/* Binds as a Python function does (a method of zmqpack.Socket is the helper
 * itself); with Py_TPFLAGS_METHOD_DESCRIPTOR a call sock.recv_packed() makes
 * no bound method: CPython calls the helper with the socket first. */
static PyObject *helper_descr_get(PyObject *self, PyObject *obj, PyObject *Py_UNUSED(type))
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

/* __doc__, __name__, __qualname__, __module__ are the Python function's, and
 * __wrapped__ is it: help() and inspect.signature() show its signature. */
static PyObject *helper_get(helper_t *h, void *attr)
{
    return attr ? PyObject_GetAttrString(h->general, (const char *)attr) : Py_NewRef(h->general);
}

static PyObject *helper_repr(helper_t *h)
{
    PyObject *name = PyObject_GetAttrString(h->general, "__qualname__");
    PyObject *r = name ? PyUnicode_FromFormat("<socket helper zmqpack.%U>", name) : NULL;
    Py_XDECREF(name);
    return r;
}

/* Pickled by name, as a function is. */
static PyObject *helper_reduce(helper_t *h, PyObject *Py_UNUSED(ignored))
{
    return PyObject_GetAttrString(h->general, "__qualname__");
}

static PyGetSetDef helper_getset[] = {
    {"__doc__", (getter)helper_get, NULL, NULL, "__doc__"},
    {"__name__", (getter)helper_get, NULL, NULL, "__name__"},
    {"__qualname__", (getter)helper_get, NULL, NULL, "__qualname__"},
    {"__module__", (getter)helper_get, NULL, NULL, "__module__"},
    {"__wrapped__", (getter)helper_get, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef helper_methods[] = {
    {"__reduce__", (PyCFunction)helper_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

#ifndef Py_TPFLAGS_HAVE_VECTORCALL /* its name before Python 3.12 */
#define Py_TPFLAGS_HAVE_VECTORCALL _Py_TPFLAGS_HAVE_VECTORCALL
#endif

static PyTypeObject SocketHelperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zmqpack._core.SocketHelper",
    .tp_basicsize = sizeof(helper_t),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(helper_t, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = helper_new,
    .tp_traverse = (traverseproc)helper_traverse,
    .tp_dealloc = (destructor)helper_dealloc,
    .tp_descr_get = helper_descr_get,
    .tp_repr = (reprfunc)helper_repr,
    .tp_getset = helper_getset,
    .tp_methods = helper_methods,
};

/* _setup_sockets(zmq_error, plain_types, namespace): the callable that turns
 * an errno into pyzmq's exception, the socket types of the SocketHelper fast path,
 * and the globals holding _c_route; numpy's C API is imported on the way. */
static PyObject *core_setup_sockets(PyObject *Py_UNUSED(mod), PyObject *const *args,
                                    Py_ssize_t nargs)
{
    if (s_nargs("_setup_sockets", nargs, 3, 3) < 0)
        return NULL;
    if (!PyTuple_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "_setup_sockets(zmq_error, tuple, dict)");
        return NULL;
    }
    if (zpy_import_numpy() < 0)
        return NULL;
    Py_XSETREF(g_zmq_error, Py_NewRef(args[0]));
    Py_XSETREF(g_route_ns, Py_NewRef(args[2]));
    Py_XSETREF(g_plain_types, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

static PyMethodDef sockets_methods[] = {
    {"_send", (PyCFunction)(void (*)(void))core_send, METH_FASTCALL, NULL},
    {"_recv", (PyCFunction)(void (*)(void))core_recv, METH_FASTCALL, NULL},
    {"_karabo_recv", core_karabo_recv, METH_VARARGS, NULL},
    {"_setup_sockets", (PyCFunction)(void (*)(void))core_setup_sockets, METH_FASTCALL, NULL},
    {"collect", core_collect, METH_NOARGS,
     "collect(): release the buffers of zero-copy sends libzmq is done with."},
    {NULL, NULL, 0, NULL},
};

int zpy_sockets_init(PyObject *m)
{
    if (PyModule_AddIntConstant(m, "DONTWAIT", ZPK_DONTWAIT) < 0 ||
        PyModule_AddIntConstant(m, "SEND_SINGLE", ZPK_SEND_SINGLE) < 0 ||
        PyModule_AddIntConstant(m, "SEND_RECIPE", ZPK_SEND_RECIPE) < 0 ||
        PyModule_AddIntConstant(m, "KIND_ANY", ZPY_KIND_ANY) < 0 ||
        PyModule_AddIntConstant(m, "KIND_PACKED", ZPY_KIND_PACKED) < 0 ||
        PyModule_AddIntConstant(m, "KIND_NDARRAY", ZPY_KIND_NDARRAY) < 0 ||
        PyModule_AddIntConstant(m, "COPY_ALWAYS", ZPY_COPY_ALWAYS) < 0 ||
        PyModule_AddIntConstant(m, "COPY_DEFAULT", ZPY_COPY_DEFAULT) < 0 ||
        PyModule_AddIntConstant(m, "COPY_NEVER", ZPY_COPY_NEVER) < 0 ||
        PyModule_AddIntConstant(m, "RESULT_PAIR", ZPY_RESULT_PAIR) < 0 ||
        PyModule_AddIntConstant(m, "RESULT_META", ZPY_RESULT_META) < 0 ||
        PyModule_AddIntConstant(m, "RESULT_VALUE", ZPY_RESULT_VALUE) < 0 ||
        PyModule_AddIntConstant(m, "HELPER_SEND_PACKED", HELPER_SEND_PACKED) < 0 ||
        PyModule_AddIntConstant(m, "HELPER_SEND_ARRAY", HELPER_SEND_ARRAY) < 0 ||
        PyModule_AddIntConstant(m, "HELPER_RECV_PACKED", HELPER_RECV_PACKED) < 0 ||
        PyModule_AddIntConstant(m, "HELPER_RECV_ARRAY", HELPER_RECV_ARRAY) < 0)
        return -1;
    if (!(g_str_underlying = PyUnicode_InternFromString("underlying")) ||
        !(g_str_codec = PyUnicode_InternFromString("codec")) ||
        !(g_str_track = PyUnicode_InternFromString("track")) ||
        !(g_str_single = PyUnicode_InternFromString("single")) ||
        !(g_str_flags = PyUnicode_InternFromString("flags")) ||
        !(g_str_c_route = PyUnicode_InternFromString("_c_route")))
        return -1;
    if (PyType_Ready(&SocketHelperType) < 0 ||
        PyModule_AddObjectRef(m, "SocketHelper", (PyObject *)&SocketHelperType) < 0)
        return -1;
    return PyModule_AddFunctions(m, sockets_methods);
}
