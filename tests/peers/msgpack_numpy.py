"""msgpack-numpy's encode/decode rules (lebedov/msgpack-numpy, msgpack_numpy.py,
version 0.4.8), used with Debian's python3-msgpack as its users call it:

    msgpack.packb(obj, use_bin_type=True, default=encode)
    msgpack.unpackb(b, object_hook=decode)

The rules, as that version writes and reads them:

- ndarray -> map with bin keys, in this order: b"nd": True, b"type": the
  dtype's typestr as a str ("<f8"), b"kind": b"" (bin), b"shape": the shape
  (array of ints), b"data": bin of the C-ordered bytes (a C-contiguous
  array is packed from its buffer, another one from a C-ordered copy).
  Structured (kind V) and object (kind O) arrays carry b"kind": b"V"/b"O"
  and b"type": dtype.descr (a list); kind O's b"data" is a pickle.
- numpy scalar (np.bool_, np.number) -> {b"nd": False, b"type": typestr,
  b"data": bin of its bytes}. The packer only calls ``default`` for types
  it does not know, so np.float64 (a float subclass) packs as a plain
  float 64 and np.complex128 (a complex subclass) takes this rule.
- Python complex -> {b"complex": True, b"data": repr(c)} (a str).
- Decoding: a map with b"nd" True becomes an ndarray over the bin's bytes
  (read-only, no copy; b"kind" may be absent, as older writers left it out;
  kind O is unpickled, which is why an untrusting reader must refuse it);
  b"nd" False becomes a numpy scalar; b"complex" a complex. A map missing
  a key the rule needs is returned unchanged.
"""
import pickle

import numpy as np


def _tostr(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def _ndarray_bytes(a):
    if a.dtype.kind == "O":
        return a.dumps()
    return a.data if a.flags["C_CONTIGUOUS"] else a.tobytes()


def encode(obj, chain=None):
    """``default=`` for msgpack.packb / msgpack.Packer."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in ("V", "O"):
            kind = obj.dtype.kind.encode("ascii")
            descr = obj.dtype.descr
        else:
            kind = b""
            descr = obj.dtype.str
        return {b"nd": True, b"type": descr, b"kind": kind, b"shape": obj.shape,
                b"data": _ndarray_bytes(obj)}
    if isinstance(obj, (np.bool_, np.number)):
        return {b"nd": False, b"type": obj.dtype.str, b"data": obj.data}
    if isinstance(obj, complex):
        return {b"complex": True, b"data": repr(obj)}
    return obj if chain is None else chain(obj)


def _dtype(descr):
    """np.dtype from a typestr or a (possibly nested) structured descr."""
    if isinstance(descr, (list, tuple)):
        descr = [(_tostr(f[0]), _dtype(f[1])) + tuple(f[2:]) for f in descr]
    return np.dtype(descr)


def decode(obj, chain=None):
    """``object_hook=`` for msgpack.unpackb / msgpack.Unpacker."""
    try:
        if b"nd" in obj:
            if obj[b"nd"] is True:
                kind = obj.get(b"kind")
                if kind == b"V":
                    descr = [tuple(_tostr(t) if type(t) is bytes else t for t in f)
                             for f in obj[b"type"]]
                elif kind == b"O":
                    return pickle.loads(obj[b"data"])
                else:
                    descr = obj[b"type"]
                return np.ndarray(buffer=obj[b"data"], dtype=_dtype(descr),
                                  shape=obj[b"shape"])
            return np.frombuffer(obj[b"data"], dtype=_dtype(obj[b"type"]))[0]
        if b"complex" in obj:
            return complex(_tostr(obj[b"data"]))
    except KeyError:
        pass
    return obj if chain is None else chain(obj)


def packb(obj, **kwargs):
    """msgpack.packb with the rules, as msgpack_numpy.packb (use_bin_type)."""
    import msgpack
    kwargs.setdefault("use_bin_type", True)
    kwargs["default"] = lambda o, chain=kwargs.get("default"): encode(o, chain)
    return msgpack.packb(obj, **kwargs)


def unpackb(data, **kwargs):
    """msgpack.unpackb with the rules, as msgpack_numpy.unpackb."""
    import msgpack
    hook = kwargs.get("object_hook")
    kwargs["object_hook"] = lambda o: decode(o, hook)
    return msgpack.unpackb(data, **kwargs)
