"""asyncio streaming from a StreamReader (raw TCP), fed one byte at a time."""
import asyncio

import msgpack
import pytest

import zmqpack

OBJS = [(1, "hello", 2.5), {"k": [1, 2, {"n": None}]}, "x" * 3000, b"\x00" * 300, [], -7]


def serve(chunk):
    data = b"".join(msgpack.packb(o) for o in OBJS)

    async def handler(reader, writer):
        for i in range(0, len(data), chunk):
            writer.write(data[i:i + chunk])
            await writer.drain()
            if chunk < 64:
                await asyncio.sleep(0)
        writer.close()
    return handler


def expected():
    return [msgpack.unpackb(msgpack.packb(o)) for o in OBJS]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_async_unpacker_over_tcp(chunk):
    async def main():
        server = await asyncio.start_server(serve(chunk), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got = [o async for o in zmqpack.AsyncUnpacker(reader)]
        writer.close()
        server.close()
        return got
    assert asyncio.run(asyncio.wait_for(main(), 20)) == expected()


def test_aload_reads_exactly_one_object():
    async def main():
        server = await asyncio.start_server(serve(3), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got = [await zmqpack.aload(reader) for _ in OBJS]
        with pytest.raises(asyncio.IncompleteReadError):
            await zmqpack.aload(reader)
        writer.close()
        server.close()
        return got
    assert asyncio.run(asyncio.wait_for(main(), 20)) == expected()


def test_truncated_stream():
    async def main():
        r = asyncio.StreamReader()
        r.feed_data(msgpack.packb([1, 2, 3])[:-1])
        r.feed_eof()
        with pytest.raises(zmqpack.OutOfData):
            await zmqpack.AsyncUnpacker(r).unpack()
    asyncio.run(main())
