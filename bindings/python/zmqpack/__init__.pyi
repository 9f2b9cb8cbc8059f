# Type stubs for zmqpack (the Python binding of the zmqpack C library).
import asyncio
from typing import (Any, Awaitable, BinaryIO, Callable, Dict, Iterator, List, Literal, Mapping,
                    NamedTuple, Optional, Sequence, Tuple, TypeVar, Union, overload)

import numpy.typing as npt
import zmq
import zmq.asyncio

import datetime as _dt

__version__: str
version: Tuple[int, int, int]

_Buffer = Union[bytes, bytearray, memoryview]
_T = TypeVar("_T")

# -- exceptions (msgpack-python 1.0's hierarchy) -------------------------------
class UnpackException(Exception): ...
class BufferFull(UnpackException): ...
class OutOfData(UnpackException): ...
class FormatError(ValueError, UnpackException): ...
class StackError(ValueError, UnpackException): ...
UnpackValueError = ValueError
class ExtraData(ValueError):
    unpacked: Any
    extra: bytes
    def __init__(self, unpacked: Any, extra: bytes) -> None: ...
PackException = Exception
PackValueError = ValueError
PackOverflowError = OverflowError
class WireError(ValueError):
    code: int
    name: str
    text: str
    def __init__(self, code: int, name: str, text: str) -> None: ...

# -- ext types ---------------------------------------------------------------------
class ExtType(NamedTuple):
    code: int
    data: bytes

class Timestamp:
    seconds: int
    nanoseconds: int
    def __init__(self, seconds: int, nanoseconds: int = ...) -> None: ...
    @staticmethod
    def from_bytes(b: bytes) -> Timestamp: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_unix(unix_sec: Union[int, float]) -> Timestamp: ...
    def to_unix(self) -> float: ...
    @staticmethod
    def from_unix_nano(unix_ns: int) -> Timestamp: ...
    def to_unix_nano(self) -> int: ...
    def to_datetime(self) -> _dt.datetime: ...
    @staticmethod
    def from_datetime(dt: _dt.datetime) -> Timestamp: ...

# -- packing -------------------------------------------------------------------------
class Packer:
    def __init__(self, default: Optional[Callable[[Any], Any]] = ..., *,
                 use_single_float: bool = ..., autoreset: bool = ..., use_bin_type: bool = ...,
                 strict_types: bool = ..., datetime: bool = ...,
                 unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                 ndarray: _NdarrayOption = ...) -> None: ...
    def pack(self, obj: Any) -> Optional[bytes]: ...
    def pack_array_header(self, n: int) -> Optional[bytes]: ...
    def pack_map_header(self, n: int) -> Optional[bytes]: ...
    def pack_map_pairs(self, pairs: Sequence[Tuple[Any, Any]]) -> Optional[bytes]: ...
    def pack_ext_type(self, typecode: int, data: _Buffer) -> Optional[bytes]: ...
    def bytes(self) -> bytes: ...
    def getbuffer(self) -> memoryview: ...
    def reset(self) -> None: ...

def packb(o: Any, *, default: Optional[Callable[[Any], Any]] = ..., use_single_float: bool = ...,
          autoreset: bool = ..., use_bin_type: bool = ..., strict_types: bool = ...,
          datetime: bool = ..., unicode_errors: Optional[str] = ...,
          keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> bytes: ...
def pack(o: Any, stream: BinaryIO, *, default: _Default = ..., use_single_float: bool = ...,
         use_bin_type: bool = ..., strict_types: bool = ..., datetime: bool = ...,
         unicode_errors: Optional[str] = ..., keep_types: bool = ...,
         ndarray: _NdarrayOption = ...) -> None: ...
dumps = packb
dump = pack

# -- unpacking -----------------------------------------------------------------------
def unpackb(packed: _Buffer, *, object_hook: Optional[Callable[[Dict[Any, Any]], Any]] = ...,
            list_hook: Optional[Callable[[List[Any]], Any]] = ..., use_list: bool = ...,
            raw: bool = ..., timestamp: int = ..., strict_map_key: bool = ...,
            unicode_errors: Optional[str] = ...,
            object_pairs_hook: Optional[Callable[[List[Tuple[Any, Any]]], Any]] = ...,
            ext_hook: Optional[Callable[[int, bytes], Any]] = ..., max_str_len: int = ...,
            max_bin_len: int = ..., max_array_len: int = ..., max_map_len: int = ...,
            max_ext_len: int = ..., keep_types: bool = ...,
            ndarray: _NdarrayOption = ...) -> Any: ...
def unpack(stream: BinaryIO, *, object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
           use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
           strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
           object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
           max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
           max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
           ndarray: _NdarrayOption = ...) -> Any: ...
loads = unpackb
load = unpack

class Unpacker:
    def __init__(self, file_like: Optional[BinaryIO] = ..., *, read_size: int = ...,
                 use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                 strict_map_key: bool = ...,
                 object_hook: Optional[Callable[[Dict[Any, Any]], Any]] = ...,
                 object_pairs_hook: Optional[Callable[[List[Tuple[Any, Any]]], Any]] = ...,
                 list_hook: Optional[Callable[[List[Any]], Any]] = ...,
                 unicode_errors: Optional[str] = ..., max_buffer_size: int = ...,
                 ext_hook: Optional[Callable[[int, bytes], Any]] = ..., max_str_len: int = ...,
                 max_bin_len: int = ..., max_array_len: int = ..., max_map_len: int = ...,
                 max_ext_len: int = ..., keep_types: bool = ...,
                 ndarray: _NdarrayOption = ...) -> None: ...
    def feed(self, next_bytes: _Buffer) -> None: ...
    def unpack(self) -> Any: ...
    def skip(self) -> None: ...
    def read_array_header(self) -> int: ...
    def read_map_header(self) -> int: ...
    def read_bytes(self, n: int) -> bytes: ...
    def tell(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...

# -- registry -------------------------------------------------------------------------
_C = TypeVar("_C", bound=type)
@overload
def register(cls: _C, *, name: Optional[str] = ...) -> _C: ...
@overload
def register(cls: None = ..., *, name: Optional[str] = ...) -> Callable[[_C], _C]: ...
def unregister(cls: type) -> None: ...
def registered() -> Dict[str, type]: ...
def ext_serializable(code: int) -> Callable[[_C], _C]: ...

# -- messages as frames, and sockets (pyzmq sync or zmq.asyncio) ----------------------------
# An object is Any: whatever packb() packs; what a receive returns is Any: whatever
# unpackb() makes of the message. On a zmq.asyncio socket the socket helpers return
# awaitables of what they return on a zmq.Socket. (A zmq.asyncio.Socket is a zmq.Socket:
# its overloads come first, and mypy reports them as overlapping the others with another
# return type; `type: ignore[misc]` says so, as typeshed does.)
DONTWAIT: int

_NDArray = npt.NDArray[Any]
_Topic = Union[str, bytes]
_Envelope = Sequence[Union[bytes, bytearray, memoryview]]
_Frame = Union[bytes, memoryview]
_InFrame = Union[bytes, bytearray, memoryview, zmq.Frame]
_NdarrayOption = Optional[Literal["msgpack-numpy"]]
_Default = Optional[Callable[[Any], Any]]
_ObjectHook = Optional[Callable[[Dict[Any, Any]], Any]]
_PairsHook = Optional[Callable[[List[Tuple[Any, Any]]], Any]]
_ListHook = Optional[Callable[[List[Any]], Any]]
_ExtHook = Optional[Callable[[int, bytes], Any]]
_Meta = Dict[str, Any]  # the other keys of a recipe's JSON header

class Tracker:
    """When libzmq has let go of a zero-copy send (pyzmq's MessageTracker interface)."""
    @property
    def done(self) -> bool: ...
    def wait(self, timeout: float = ...) -> None: ...

# what send_* return with track=True (a zmq.MessageTracker on the pyzmq route)
_Tracker = Union[Tracker, zmq.MessageTracker]

def serialize(obj: Any, *, codec: Optional[str] = ..., copy: Optional[bool] = ...,
              single: bool = ..., default: _Default = ..., use_single_float: bool = ...,
              use_bin_type: bool = ..., strict_types: bool = ..., datetime: bool = ...,
              unicode_errors: Optional[str] = ..., keep_types: bool = ...,
              ndarray: _NdarrayOption = ...) -> List[_Frame]: ...
def deserialize(frames: Sequence[_InFrame], *, object_hook: _ObjectHook = ...,
                list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                timestamp: int = ..., strict_map_key: bool = ...,
                unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> Any: ...

@overload
def send_packed(sock: zmq.asyncio.Socket, obj: Any, topic: Optional[_Topic] = ...,  # type: ignore[misc]
                codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
                track: bool = ..., single: bool = ..., envelope: Optional[_Envelope] = ...,
                default: _Default = ..., use_single_float: bool = ..., use_bin_type: bool = ...,
                strict_types: bool = ..., datetime: bool = ...,
                unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Awaitable[Optional[_Tracker]]: ...
@overload
def send_packed(sock: zmq.Socket[Any], obj: Any, topic: Optional[_Topic] = ...,
                codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
                track: Literal[True], single: bool = ..., envelope: Optional[_Envelope] = ...,
                default: _Default = ..., use_single_float: bool = ..., use_bin_type: bool = ...,
                strict_types: bool = ..., datetime: bool = ...,
                unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> _Tracker: ...
@overload
def send_packed(sock: zmq.Socket[Any], obj: Any, topic: Optional[_Topic] = ...,
                codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
                track: Literal[False] = ..., single: bool = ...,
                envelope: Optional[_Envelope] = ..., default: _Default = ...,
                use_single_float: bool = ..., use_bin_type: bool = ...,
                strict_types: bool = ..., datetime: bool = ...,
                unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> None: ...
@overload
def send_array(sock: zmq.asyncio.Socket, A: _NDArray, topic: Optional[_Topic] = ...,  # type: ignore[misc]
               codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
               track: bool = ..., recipe: bool = ..., single: bool = ...,
               envelope: Optional[_Envelope] = ...,
               meta: Optional[Mapping[str, object]] = ...) -> Awaitable[Optional[_Tracker]]: ...
@overload
def send_array(sock: zmq.Socket[Any], A: _NDArray, topic: Optional[_Topic] = ...,
               codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
               track: Literal[True], recipe: bool = ..., single: bool = ...,
               envelope: Optional[_Envelope] = ...,
               meta: Optional[Mapping[str, object]] = ...) -> _Tracker: ...
@overload
def send_array(sock: zmq.Socket[Any], A: _NDArray, topic: Optional[_Topic] = ...,
               codec: Optional[str] = ..., flags: int = ..., *, copy: Optional[bool] = ...,
               track: Literal[False] = ..., recipe: bool = ..., single: bool = ...,
               envelope: Optional[_Envelope] = ...,
               meta: Optional[Mapping[str, object]] = ...) -> None: ...

@overload
def recv_packed(sock: zmq.asyncio.Socket, flags: int = ..., *, with_envelope: Literal[True],  # type: ignore[misc]
                object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Awaitable[Tuple[List[bytes], Any]]: ...
@overload
def recv_packed(sock: zmq.asyncio.Socket, flags: int = ..., *, with_topic: Literal[True],  # type: ignore[misc]
                object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Awaitable[Tuple[Optional[bytes], Any]]: ...
@overload
def recv_packed(sock: zmq.asyncio.Socket, flags: int = ..., *, object_hook: _ObjectHook = ...,
                list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                timestamp: int = ..., strict_map_key: bool = ...,
                unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> Awaitable[Any]: ...
@overload
def recv_packed(sock: zmq.Socket[Any], flags: int = ..., *, with_envelope: Literal[True],
                object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Tuple[List[bytes], Any]: ...
@overload
def recv_packed(sock: zmq.Socket[Any], flags: int = ..., *, with_topic: Literal[True],
                object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Tuple[Optional[bytes], Any]: ...
@overload
def recv_packed(sock: zmq.Socket[Any], flags: int = ..., *, object_hook: _ObjectHook = ...,
                list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                timestamp: int = ..., strict_map_key: bool = ...,
                unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> Any: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ..., flags: int = ..., *,  # type: ignore[misc]
               with_envelope: Literal[True],
               with_meta: Literal[True]) -> Awaitable[Tuple[List[bytes], _Meta, _NDArray]]: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ..., flags: int = ..., *,  # type: ignore[misc]
               with_topic: Literal[True],
               with_meta: Literal[True]) -> Awaitable[Tuple[Optional[bytes], _Meta, _NDArray]]: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ..., flags: int = ..., *,  # type: ignore[misc]
               with_meta: Literal[True]) -> Awaitable[Tuple[_Meta, _NDArray]]: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ..., flags: int = ..., *,  # type: ignore[misc]
               with_envelope: Literal[True]) -> Awaitable[Tuple[List[bytes], _NDArray]]: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ..., flags: int = ..., *,  # type: ignore[misc]
               with_topic: Literal[True]) -> Awaitable[Tuple[Optional[bytes], _NDArray]]: ...
@overload
def recv_array(sock: zmq.asyncio.Socket, out: Optional[_NDArray] = ...,  # type: ignore[misc]
               flags: int = ...) -> Awaitable[_NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ..., flags: int = ..., *,
               with_envelope: Literal[True],
               with_meta: Literal[True]) -> Tuple[List[bytes], _Meta, _NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ..., flags: int = ..., *,
               with_topic: Literal[True],
               with_meta: Literal[True]) -> Tuple[Optional[bytes], _Meta, _NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ..., flags: int = ..., *,
               with_meta: Literal[True]) -> Tuple[_Meta, _NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ..., flags: int = ..., *,
               with_envelope: Literal[True]) -> Tuple[List[bytes], _NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ..., flags: int = ..., *,
               with_topic: Literal[True]) -> Tuple[Optional[bytes], _NDArray]: ...
@overload
def recv_array(sock: zmq.Socket[Any], out: Optional[_NDArray] = ...,
               flags: int = ...) -> _NDArray: ...

def send_packed_async(sock: zmq.asyncio.Socket, obj: Any, topic: Optional[_Topic] = ...,
                      codec: Optional[str] = ..., flags: int = ..., *,
                      copy: Optional[bool] = ..., track: bool = ..., single: bool = ...,
                      envelope: Optional[_Envelope] = ..., default: _Default = ...,
                      use_single_float: bool = ..., use_bin_type: bool = ...,
                      strict_types: bool = ..., datetime: bool = ...,
                      unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                      ndarray: _NdarrayOption = ...) -> Awaitable[Optional[_Tracker]]: ...
def recv_packed_async(sock: zmq.asyncio.Socket, flags: int = ..., *, with_topic: bool = ...,
                      with_envelope: bool = ..., object_hook: _ObjectHook = ...,
                      list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                      timestamp: int = ..., strict_map_key: bool = ...,
                      unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                      ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                      max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                      keep_types: bool = ...,
                      ndarray: _NdarrayOption = ...) -> Awaitable[Any]: ...
def collect() -> None: ...

class Socket(zmq.Socket[Any]):
    """A zmq.Socket with send_packed, recv_packed, send_array, recv_array methods: the
    module's functions with this socket first."""
    def send_packed(self, obj: Any, topic: Optional[_Topic] = ..., codec: Optional[str] = ...,
                    flags: int = ..., *, copy: Optional[bool] = ..., track: bool = ...,
                    single: bool = ..., envelope: Optional[_Envelope] = ...,
                    default: _Default = ..., use_single_float: bool = ...,
                    use_bin_type: bool = ..., strict_types: bool = ..., datetime: bool = ...,
                    unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Optional[_Tracker]: ...
    def send_array(self, A: _NDArray, topic: Optional[_Topic] = ..., codec: Optional[str] = ...,
                   flags: int = ..., *, copy: Optional[bool] = ..., track: bool = ...,
                   recipe: bool = ..., single: bool = ..., envelope: Optional[_Envelope] = ...,
                   meta: Optional[Mapping[str, object]] = ...) -> Optional[_Tracker]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, with_envelope: Literal[True],
                    object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                    use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                    strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                    object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                    max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                    max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Tuple[List[bytes], Any]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, with_topic: Literal[True],
                    object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                    use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                    strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                    object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                    max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                    max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Tuple[Optional[bytes], Any]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, object_hook: _ObjectHook = ...,
                    list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                    timestamp: int = ..., strict_map_key: bool = ...,
                    unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                    ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                    max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                    keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> Any: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_envelope: Literal[True],
                   with_meta: Literal[True]) -> Tuple[List[bytes], _Meta, _NDArray]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_topic: Literal[True],
                   with_meta: Literal[True]) -> Tuple[Optional[bytes], _Meta, _NDArray]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_meta: Literal[True]) -> Tuple[_Meta, _NDArray]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_envelope: Literal[True]) -> Tuple[List[bytes], _NDArray]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_topic: Literal[True]) -> Tuple[Optional[bytes], _NDArray]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ...) -> _NDArray: ...

class Context(zmq.Context[Socket]):
    """A zmq.Context whose sockets are zmqpack.Socket."""

# -- CURVE (zmqpack.curve, typed inline in curve.py) ---------------------------------------
from . import curve as curve

# -- asyncio streams ------------------------------------------------------------------------
class AsyncUnpacker:
    def __init__(self, reader: asyncio.StreamReader, *, read_size: int = ...,
                 use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                 strict_map_key: bool = ..., object_hook: _ObjectHook = ...,
                 object_pairs_hook: _PairsHook = ..., list_hook: _ListHook = ...,
                 unicode_errors: Optional[str] = ..., max_buffer_size: int = ...,
                 ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                 max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                 keep_types: bool = ..., ndarray: _NdarrayOption = ...) -> None: ...
    async def unpack(self) -> Any: ...
    def __aiter__(self) -> AsyncUnpacker: ...
    async def __anext__(self) -> Any: ...

async def aload(reader: asyncio.StreamReader, *, use_list: bool = ..., raw: bool = ...,
                timestamp: int = ..., strict_map_key: bool = ...,
                object_hook: _ObjectHook = ..., object_pairs_hook: _PairsHook = ...,
                list_hook: _ListHook = ..., unicode_errors: Optional[str] = ...,
                max_buffer_size: int = ..., ext_hook: _ExtHook = ..., max_str_len: int = ...,
                max_bin_len: int = ..., max_array_len: int = ..., max_map_len: int = ...,
                max_ext_len: int = ..., keep_types: bool = ...,
                ndarray: _NdarrayOption = ...) -> Any: ...
