"""ExtType and Timestamp with msgpack-python 1.0's semantics."""
import collections
import datetime as _dt
import struct

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


class ExtType(collections.namedtuple("ExtType", "code data")):
    """An application-defined MessagePack ext value: ``code`` in 0..127 and
    ``data`` the payload bytes. Unknown ext types unpack to this."""

    def __new__(cls, code, data):
        if not isinstance(code, int):
            raise TypeError("code must be int")
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        if code < 0 or code > 127:
            raise ValueError("code must be 0~127")
        return super().__new__(cls, code, data)


class Timestamp:
    """The MessagePack timestamp (ext -1): seconds since the Unix epoch (may
    be negative) plus nanoseconds in [0, 999999999]. Immutable."""

    __slots__ = ("seconds", "nanoseconds")

    def __init__(self, seconds, nanoseconds=0):
        if not isinstance(seconds, int):
            raise TypeError("seconds must be an integer")
        if not isinstance(nanoseconds, int):
            raise TypeError("nanoseconds must be an integer")
        if not 0 <= nanoseconds < 10**9:
            raise ValueError(
                "nanoseconds must be a non-negative integer less than 999999999.")
        self.seconds = seconds
        self.nanoseconds = nanoseconds

    def __repr__(self):
        return "Timestamp(seconds={}, nanoseconds={})".format(self.seconds, self.nanoseconds)

    def __eq__(self, other):
        if type(other) is self.__class__:
            return (self.seconds, self.nanoseconds) == (other.seconds, other.nanoseconds)
        return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.seconds, self.nanoseconds))

    @staticmethod
    def from_bytes(b):
        """Decode a timestamp ext payload (4, 8 or 12 bytes)."""
        n = len(b)
        if n == 4:
            return Timestamp(struct.unpack("!L", b)[0], 0)
        if n == 8:
            v = struct.unpack("!Q", b)[0]
            return Timestamp(v & 0x3FFFFFFFF, v >> 34)
        if n == 12:
            ns, s = struct.unpack("!Iq", b)
            return Timestamp(s, ns)
        raise ValueError(
            "Timestamp type can only be created from 32, 64, or 96-bit byte objects")

    def to_bytes(self):
        """The shortest ext payload for this timestamp (4, 8 or 12 bytes)."""
        if self.seconds >> 34 == 0:
            v = self.nanoseconds << 34 | self.seconds
            if v >> 32 == 0:
                return struct.pack("!L", v)
            return struct.pack("!Q", v)
        return struct.pack("!Iq", self.nanoseconds, self.seconds)

    @staticmethod
    def from_unix(unix_sec):
        """From POSIX seconds (int or float)."""
        sec = int(unix_sec // 1)
        return Timestamp(sec, int((unix_sec % 1) * 10**9))

    def to_unix(self):
        """POSIX seconds as a float."""
        return self.seconds + self.nanoseconds / 1e9

    @staticmethod
    def from_unix_nano(unix_ns):
        """From POSIX nanoseconds (int)."""
        return Timestamp(*divmod(unix_ns, 10**9))

    def to_unix_nano(self):
        """POSIX nanoseconds as an int."""
        return self.seconds * 10**9 + self.nanoseconds

    def to_datetime(self):
        """An aware UTC datetime (microsecond precision)."""
        return _EPOCH + _dt.timedelta(seconds=self.to_unix())

    @staticmethod
    def from_datetime(dt):
        """From an aware datetime."""
        return Timestamp.from_unix(dt.timestamp())
