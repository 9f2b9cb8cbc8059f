#!/usr/bin/python3
"""PUB/SUB, subscriber side in Python: the same frames as sensor_sub.c.

Binds, subscribes to "sensor/", prints "listening on ENDPOINT", then receives
COUNT frames from sensor_pub.c or sensor_pub.py. Each is a dict whose "image"
is a numpy array that arrived in its own (blosc-compressed) frames.

    usage: sensor_sub.py [COUNT]
"""
import sys

import zmq

import zmqpack

count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.RCVTIMEO, 10000)  # never hang: 10 s per frame at most
sub.setsockopt(zmq.SUBSCRIBE, b"sensor/")
sub.bind("tcp://127.0.0.1:*")
print("listening on", sub.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)

bad = 0
for _ in range(count):
    topic, frame = zmqpack.recv_packed(sub, with_topic=True)
    img = frame["image"]  # an ndarray over the received bytes (decompressed once)
    seq = frame["seq"]
    h, w = img.shape
    ok = img[0, 0] == seq and img[-1, -1] == img.dtype.type(seq + (w - 1 + h - 1) / 512)
    bad += not ok
    print(f"{(topic or b'').decode()} seq={seq} ts={frame['ts'].to_unix():.3f} image {h}x{w} "
          f"{img.dtype} [{img[0, 0]:g} .. {img[-1, -1]:g}] {'ok' if ok else 'WRONG'}")
sub.close()
ctx.term()
sys.exit(1 if bad else 0)
