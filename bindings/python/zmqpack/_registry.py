"""The safe object registry: a pickle substitute that only ever constructs
classes the program registered.

* ``register(cls)``: instances of ``cls`` pack as ext type 84 holding
  ``[name, kind, args, state]`` taken from ``obj.__reduce_ex__(4)``; on
  unpack the class is looked up by name among the registered ones only,
  and anything else raises ``TypeError``.
* ``ext_serializable(code)``: a class decorator for types that pack
  themselves: ``obj.packb() -> bytes`` and ``cls.unpackb(data) -> obj``.

The registry is consulted only when something is registered, so an unused
registry leaves every byte identical to msgpack-python.
"""
import copyreg

from . import _core
from .ext import ExtType

EXT_TUPLE = _core.EXT_TUPLE
EXT_SET = _core.EXT_SET
EXT_FROZENSET = _core.EXT_FROZENSET
EXT_COMPLEX = _core.EXT_COMPLEX
EXT_OBJECT = 84
EXT_ARRAY_REF = _core.EXT_ARRAY_REF  # mixed messages (docs/PROTOCOL.md)
RESERVED_CODES = frozenset(range(EXT_TUPLE, EXT_OBJECT + 1)) | {EXT_ARRAY_REF}

_by_name = {}   # "module.qualname" -> class
_name_of = {}   # class -> name
_by_code = {}   # ext code -> class (ext_serializable)
_code_of = {}   # class -> ext code


def _activate():
    _core._set_registry_active(bool(_by_name or _by_code))


def register(cls=None, *, name=None):
    """Allow ``cls`` to be packed (through its ``__reduce__``) and unpacked.

    Usable as ``register(cls)``, ``@register`` or ``@register(name="x")``.
    ``name`` defaults to ``module.qualname``; both ends must register the
    class under the same name. Returns ``cls``.
    """
    if cls is None:
        return lambda c: register(c, name=name)
    if not isinstance(cls, type):
        raise TypeError("register() takes a class, got %r" % (cls,))
    key = name or "%s.%s" % (cls.__module__, cls.__qualname__)
    old = _by_name.get(key)
    if old is not None and old is not cls:
        raise ValueError("name %r is already registered for %r" % (key, old))
    _by_name[key] = cls
    _name_of[cls] = key
    _activate()
    return cls


def unregister(cls):
    """Forget a class given to register() or ext_serializable()."""
    name = _name_of.pop(cls, None)
    if name is not None:
        _by_name.pop(name, None)
    code = _code_of.pop(cls, None)
    if code is not None:
        _by_code.pop(code, None)
    _activate()


def registered():
    """A dict of the registered names and classes."""
    return dict(_by_name)


def ext_serializable(code):
    """Class decorator: pack instances as ext ``code`` using ``obj.packb()``
    (returns bytes) and unpack with ``cls.unpackb(data)``.

    ``code`` must be in 0..127 and not one of zmqpack's reserved codes
    (80..84 and 90)."""
    if not isinstance(code, int) or not 0 <= code <= 127:
        raise ValueError("ext code must be an int in 0..127")
    if code in RESERVED_CODES:
        raise ValueError("ext codes 80..84 and 90 are reserved by zmqpack")

    def deco(cls):
        if not callable(getattr(cls, "packb", None)) or not callable(getattr(cls, "unpackb", None)):
            raise TypeError("%s needs a packb() method and an unpackb(data) classmethod"
                            % cls.__qualname__)
        old = _by_code.get(code)
        if old is not None and old is not cls:
            raise ValueError("ext code %d is already used by %r" % (code, old))
        _by_code[code] = cls
        _code_of[cls] = code
        _activate()
        return cls
    return deco


def _pack_hook(obj):
    """Called by the C packer for a type it cannot pack, before ``default``."""
    t = type(obj)
    code = _code_of.get(t)
    if code is not None:
        return ExtType(code, bytes(obj.packb()))
    name = _name_of.get(t)
    if name is None:
        return NotImplemented
    rv = obj.__reduce_ex__(4)
    if isinstance(rv, str):
        raise TypeError("zmqpack cannot pack global %r" % rv)
    func, args = rv[0], rv[1]
    state = rv[2] if len(rv) > 2 else None
    if len(rv) > 3 and (rv[3] is not None or (len(rv) > 4 and rv[4] is not None)):
        raise TypeError("zmqpack does not pack list/dict items from __reduce__ (%s)" % name)
    if func is copyreg.__newobj__:
        if not args or args[0] is not t:
            raise TypeError("unexpected __reduce__ result for %s" % name)
        kind, args = 0, list(args[1:])
    elif func is t or func in _name_of:
        kind, args = (1 if func is t else 2), list(args)
        if kind == 2:
            args = [_name_of[func]] + args
    else:
        raise TypeError("zmqpack: %s.__reduce__ returns %r, which is not a registered class"
                        % (name, func))
    payload = _core.packb([name, kind, args, state], keep_types=True)
    return ExtType(EXT_OBJECT, payload)


def _lookup(name):
    cls = _by_name.get(name)
    if cls is None:
        raise TypeError("zmqpack: refusing to construct %r: the class is not registered "
                        "(call zmqpack.register on the receiving side)" % (name,))
    return cls


def _ext_hook(code, data):
    """The ext_hook used when the registry is active and none was given."""
    if code == EXT_OBJECT:
        rec = _core.unpackb(data, keep_types=True, strict_map_key=False)
        if not isinstance(rec, list) or len(rec) != 4 or not isinstance(rec[0], str):
            raise ValueError("malformed zmqpack object record")
        name, kind, args, state = rec
        cls = _lookup(name)
        if kind == 0:
            obj = cls.__new__(cls, *args)
        elif kind == 1:
            obj = cls(*args)
        elif kind == 2 and args and isinstance(args[0], str):
            obj = _lookup(args[0])(*args[1:])
        else:
            raise ValueError("malformed zmqpack object record")
        if state is not None:
            setstate = getattr(obj, "__setstate__", None)
            if setstate is not None:
                setstate(state)
            else:
                slots = None
                if isinstance(state, tuple) and len(state) == 2:
                    state, slots = state
                if state:
                    obj.__dict__.update(state)
                if slots:
                    for k, v in slots.items():
                        setattr(obj, k, v)
        return obj
    cls = _by_code.get(code)
    if cls is not None:
        return cls.unpackb(data)
    return ExtType(code, data)
