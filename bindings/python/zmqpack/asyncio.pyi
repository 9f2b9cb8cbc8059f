# Type stubs for zmqpack.asyncio: the zmq.asyncio pair whose sockets have the
# zmqpack methods, each returning an awaitable.
from typing import Any, Awaitable, List, Literal, Mapping, Optional, Tuple, overload

import zmq.asyncio

from . import (_Default, _Envelope, _ExtHook, _ListHook, _Meta, _NDArray, _NdarrayOption,
               _ObjectHook, _PairsHook, _Topic, _Tracker)

class Socket(zmq.asyncio.Socket):
    """A zmq.asyncio.Socket with send_packed, recv_packed, send_array, recv_array
    methods (awaitables)."""
    def send_packed(self, obj: Any, topic: Optional[_Topic] = ..., codec: Optional[str] = ...,
                    flags: int = ..., *, copy: Optional[bool] = ..., track: bool = ...,
                    single: bool = ..., envelope: Optional[_Envelope] = ...,
                    default: _Default = ..., use_single_float: bool = ...,
                    use_bin_type: bool = ..., strict_types: bool = ..., datetime: bool = ...,
                    unicode_errors: Optional[str] = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Awaitable[Optional[_Tracker]]: ...
    def send_array(self, A: _NDArray, topic: Optional[_Topic] = ..., codec: Optional[str] = ...,
                   flags: int = ..., *, copy: Optional[bool] = ..., track: bool = ...,
                   recipe: bool = ..., single: bool = ..., envelope: Optional[_Envelope] = ...,
                   meta: Optional[Mapping[str, object]] = ...) -> Awaitable[Optional[_Tracker]]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, with_envelope: Literal[True],
                    object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                    use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                    strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                    object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                    max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                    max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Awaitable[Tuple[List[bytes], Any]]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, with_topic: Literal[True],
                    object_hook: _ObjectHook = ..., list_hook: _ListHook = ...,
                    use_list: bool = ..., raw: bool = ..., timestamp: int = ...,
                    strict_map_key: bool = ..., unicode_errors: Optional[str] = ...,
                    object_pairs_hook: _PairsHook = ..., ext_hook: _ExtHook = ...,
                    max_str_len: int = ..., max_bin_len: int = ..., max_array_len: int = ...,
                    max_map_len: int = ..., max_ext_len: int = ..., keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Awaitable[Tuple[Optional[bytes], Any]]: ...
    @overload
    def recv_packed(self, flags: int = ..., *, object_hook: _ObjectHook = ...,
                    list_hook: _ListHook = ..., use_list: bool = ..., raw: bool = ...,
                    timestamp: int = ..., strict_map_key: bool = ...,
                    unicode_errors: Optional[str] = ..., object_pairs_hook: _PairsHook = ...,
                    ext_hook: _ExtHook = ..., max_str_len: int = ..., max_bin_len: int = ...,
                    max_array_len: int = ..., max_map_len: int = ..., max_ext_len: int = ...,
                    keep_types: bool = ...,
                    ndarray: _NdarrayOption = ...) -> Awaitable[Any]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_envelope: Literal[True],
                   with_meta: Literal[True]) -> Awaitable[Tuple[List[bytes], _Meta, _NDArray]]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_topic: Literal[True],
                   with_meta: Literal[True]) -> Awaitable[Tuple[Optional[bytes], _Meta, _NDArray]]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_meta: Literal[True]) -> Awaitable[Tuple[_Meta, _NDArray]]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_envelope: Literal[True]) -> Awaitable[Tuple[List[bytes], _NDArray]]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ..., flags: int = ..., *,
                   with_topic: Literal[True]) -> Awaitable[Tuple[Optional[bytes], _NDArray]]: ...
    @overload
    def recv_array(self, out: Optional[_NDArray] = ...,
                   flags: int = ...) -> Awaitable[_NDArray]: ...

class Context(zmq.asyncio.Context):
    """A zmq.asyncio.Context whose sockets are zmqpack.asyncio.Socket."""
    def socket(self, socket_type: int, **kwargs: Any) -> Socket: ...
