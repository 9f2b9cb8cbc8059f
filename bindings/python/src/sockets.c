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
    PyObject *value = args[1], *kw = args[8];
    void *sock = s_sock_ptr(args[0]);
    if (!sock)
        return NULL;
    zpy_out_t m;
    if (zpy_out_init(&m, value, kind, args[3], args[4], flags, mode, track,
                     kw == Py_None ? NULL : kw) < 0)
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

/* _recv(addr, flags, kind, unpack options or None[, result])
 *   result: ZPY_RESULT_PAIR (default) -> (envelope, value);
 *           ZPY_RESULT_META -> (envelope, value, recipe_meta text);
 *           ZPY_RESULT_VALUE -> value (the envelope dropped in C) */
static PyObject *core_recv(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    int flags, kind, result = ZPY_RESULT_PAIR;
    if (s_nargs("_recv", nargs, 4, 5) < 0 || s_int(args[1], &flags) < 0 ||
        s_int(args[2], &kind) < 0 || (nargs == 5 && s_int(args[4], &result) < 0))
        return NULL;
    PyObject *kw = args[3];
    void *sock = s_sock_ptr(args[0]);
    if (!sock)
        return NULL;
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
            value = zpy_in_mixed(&m, kw == Py_None ? NULL : kw, NULL, NULL);
    }
    if (!envp)
        return value;
    return zpy_recv_result(envl, value, meta);
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

/* _setup_sockets(zmq_error): the callable that turns an errno into pyzmq's
 * exception; numpy's C API is imported on the way. */
static PyObject *core_setup_sockets(PyObject *Py_UNUSED(mod), PyObject *zerr)
{
    if (zpy_import_numpy() < 0)
        return NULL;
    Py_XSETREF(g_zmq_error, Py_NewRef(zerr));
    Py_RETURN_NONE;
}

static PyMethodDef sockets_methods[] = {
    {"_send", (PyCFunction)(void (*)(void))core_send, METH_FASTCALL, NULL},
    {"_recv", (PyCFunction)(void (*)(void))core_recv, METH_FASTCALL, NULL},
    {"_karabo_recv", core_karabo_recv, METH_VARARGS, NULL},
    {"_setup_sockets", core_setup_sockets, METH_O, NULL},
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
        PyModule_AddIntConstant(m, "RESULT_VALUE", ZPY_RESULT_VALUE) < 0)
        return -1;
    return PyModule_AddFunctions(m, sockets_methods);
}
