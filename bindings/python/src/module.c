/*
 * zmqpack._core: module setup. The module is the hot paths of the Python
 * binding (see core.h for the files): packing walks Python objects and
 * writes MessagePack with the library's writer; unpacking reads tags with
 * the library's reader and builds Python objects directly (no intermediate
 * tree); the socket calls hand pyzmq's libzmq sockets to the C socket layer.
 * Each file adds its own types and functions to the module (zpy_*_init).
 */
#include "core.h"

#include <datetime.h>

/* ---- module globals, set once by zmqpack/__init__.py through _setup() ---- */
PyObject *g_ExtType;
PyObject *g_Timestamp;
PyObject *g_msgpack_ExtType;
PyObject *g_msgpack_Timestamp;
PyObject *g_FormatError;
PyObject *g_StackError;
PyObject *g_ExtraData;
PyObject *g_registry_hook;
PyObject *g_registry_ext_hook;
int g_registry_active;
PyObject *g_epoch;
PyObject *g_str_code, *g_str_data, *g_str_seconds, *g_str_nanoseconds, *g_str_numpy;
PyObject *g_zmq_error;
PyObject *g_WireError;

PyObject *zpy_raise(int rc, const zpk_error_t *err)
{
    if (rc == ZPK_ENOMEM)
        return PyErr_NoMemory();
    /* ZPK_E* codes are -4001..-4999 (zmqpack/common.h); the others are
     * -errno from the system or libzmq (-ETERM is far below -4999) */
    if (rc > -4000 || rc < -4999) {
        PyObject *exc = g_zmq_error ? PyObject_CallFunction(g_zmq_error, "i", -rc) : NULL;
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        } else if (!PyErr_Occurred()) {
            errno = -rc;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        return NULL;
    }
    const char *text = (err && err->code && err->text[0]) ? err->text : zpk_strerror(rc);
    PyObject *exc = PyObject_CallFunction(g_WireError ? g_WireError : PyExc_ValueError, "iss",
                                          rc, zpk_err_name(rc), text);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* _setup(ExtType, Timestamp, FormatError, StackError, ExtraData, WireError,
 * registry pack hook, registry ext hook, msgpack.ExtType or None,
 * msgpack.Timestamp or None) */
static PyObject *core_setup(PyObject *Py_UNUSED(mod), PyObject *args)
{
    PyObject *ext, *ts, *fe, *se, *ed, *we, *hook, *ehook, *mext, *mts;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO:_setup", &ext, &ts, &fe, &se, &ed, &we, &hook,
                          &ehook, &mext, &mts))
        return NULL;
    Py_XSETREF(g_WireError, Py_NewRef(we));
    Py_XSETREF(g_msgpack_ExtType, mext == Py_None ? NULL : Py_NewRef(mext));
    Py_XSETREF(g_msgpack_Timestamp, mts == Py_None ? NULL : Py_NewRef(mts));
    Py_XSETREF(g_ExtType, Py_NewRef(ext));
    Py_XSETREF(g_Timestamp, Py_NewRef(ts));
    Py_XSETREF(g_FormatError, Py_NewRef(fe));
    Py_XSETREF(g_StackError, Py_NewRef(se));
    Py_XSETREF(g_ExtraData, Py_NewRef(ed));
    Py_XSETREF(g_registry_hook, Py_NewRef(hook));
    Py_XSETREF(g_registry_ext_hook, Py_NewRef(ehook));
    Py_RETURN_NONE;
}

static PyObject *core_set_registry_active(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    int v = PyObject_IsTrue(arg);
    if (v < 0)
        return NULL;
    g_registry_active = v;
    Py_RETURN_NONE;
}

static PyObject *core_buffer_address(PyObject *Py_UNUSED(mod), PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = Py_BuildValue("(Kn)", (unsigned long long)(uintptr_t)view.buf, view.len);
    PyBuffer_Release(&view);
    return r;
}

static PyObject *core_lib_version(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(zpk_version_string());
}

static PyMethodDef core_methods[] = {
    {"_setup", core_setup, METH_VARARGS, NULL},
    {"_set_registry_active", core_set_registry_active, METH_O, NULL},
    {"buffer_address", core_buffer_address, METH_O,
     "buffer_address(obj) -> (address, length) of a buffer-protocol object."},
    {"lib_version", core_lib_version, METH_NOARGS, "Version of the linked libzmqpack."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "_core", "zmqpack's C core (internal).", -1, core_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI)
        return NULL;
    g_str_code = PyUnicode_InternFromString("code");
    g_str_data = PyUnicode_InternFromString("data");
    g_str_seconds = PyUnicode_InternFromString("seconds");
    g_str_nanoseconds = PyUnicode_InternFromString("nanoseconds");
    g_str_numpy = PyUnicode_InternFromString("numpy");
    g_epoch = PyDateTimeAPI->DateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0,
                                                      PyDateTime_TimeZone_UTC,
                                                      PyDateTimeAPI->DateTimeType);
    if (!g_epoch || !g_str_code || !g_str_data || !g_str_seconds || !g_str_nanoseconds ||
        !g_str_numpy)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    if (zpy_pack_init(m) < 0 || zpy_unpack_init(m) < 0 || zpy_stream_init(m) < 0 ||
        zpy_ndarray_init(m) < 0 || zpy_message_init(m) < 0 || zpy_frames_init(m) < 0 ||
        zpy_sockets_init(m) < 0 || zpy_karabo_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "EXT_ARRAY_REF", EXT_ARRAY_REF);
    PyModule_AddIntConstant(m, "PROTOCOL_VERSION", ZPK_PROTOCOL_VERSION);
    PyModule_AddIntConstant(m, "EXT_TUPLE", EXT_TUPLE);
    PyModule_AddIntConstant(m, "EXT_SET", EXT_SET);
    PyModule_AddIntConstant(m, "EXT_FROZENSET", EXT_FROZENSET);
    PyModule_AddIntConstant(m, "EXT_COMPLEX", EXT_COMPLEX);
    return m;
}
