"""What the C decoder of msgpack-numpy maps (unpack.c) asks of Python: the
numpy dtype of a structured array's descr, as msgpack-numpy writes it
(``dtype.descr``: a list of ``[name, type, *shape]``, where ``type`` is a
typestr or, for a nested structure, another such list; names are bytes when
unpacked with ``raw=True``)."""
import numpy as np


def _fields(descr):
    if not isinstance(descr, (list, tuple)):
        raise ValueError("malformed msgpack-numpy map: a structured b\"type\" is a list of "
                         "fields, not %s" % type(descr).__name__)
    out = []
    for f in descr:
        if not isinstance(f, (list, tuple)) or len(f) < 2:
            raise ValueError("malformed msgpack-numpy map: a field of a structured b\"type\" "
                             "is [name, type, *shape]")
        name, typ = f[0], f[1]
        if isinstance(name, bytes):
            name = name.decode()
        if isinstance(typ, bytes):
            typ = typ.decode()
        if isinstance(typ, (list, tuple)):
            typ = _fields(typ)
        shape = tuple(tuple(s) if isinstance(s, list) else s for s in f[2:])
        out.append((name, typ) + shape)
    return out


def dtype_from_descr(descr):
    """np.dtype of a structured descr list from a msgpack-numpy map."""
    return np.dtype(_fields(descr))
