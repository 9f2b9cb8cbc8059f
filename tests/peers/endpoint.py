"""The socket plumbing every peer shares."""
import zmq


class Peer:
    """One socket of a peer: created on ``context`` (the process's shared
    one by default), bound when ``bind`` else connected, receives and sends
    timing out after ``timeout`` seconds (None: never)."""

    def __init__(self, kind, endpoint, bind, context=None, timeout=10.0, linger=2.0,
                 subscribe=False):
        self.socket = (context or zmq.Context.instance()).socket(kind)
        self.socket.linger = int(linger * 1000)
        if timeout is not None:
            self.socket.rcvtimeo = self.socket.sndtimeo = int(timeout * 1000)
        if subscribe:
            self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        if bind:
            self.socket.bind(endpoint)
        else:
            self.socket.connect(endpoint)

    @property
    def endpoint(self):
        """The endpoint bound or connected last (the real port of a ``:*`` bind)."""
        return self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def close(self):
        self.socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
