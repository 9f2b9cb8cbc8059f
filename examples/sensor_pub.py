#!/usr/bin/python3
"""PUB/SUB, publisher side in Python: the same frames as sensor_pub.c.

Each frame is a dict with a numpy image; send_packed() sends the image as
its own frames (a mixed message), compressed with blosc, so a C subscriber
(sensor_sub.c) gets a metadata map and a zpk_ndarray_t.

    usage: sensor_pub.py ENDPOINT [COUNT]
"""
import sys
import time

import numpy as np
import zmq

import zmqpack

endpoint = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
ctx = zmq.Context()
pub = ctx.socket(zmq.XPUB)          # XPUB sees the subscription arrive
pub.setsockopt(zmq.XPUB_NODROP, 1)  # block rather than drop
for opt in (zmq.RCVTIMEO, zmq.SNDTIMEO, zmq.LINGER):
    pub.setsockopt(opt, 10000)
pub.connect(endpoint)
pub.recv()                          # the subscription: no frame is lost to the slow joiner

h = w = 256
ramp = (np.arange(h)[:, None] + np.arange(w)[None, :]).astype(np.float32) / 512
for seq in range(count):
    frame = {
        "seq": seq,
        "ts": zmqpack.Timestamp.from_unix(time.time()),
        "exposure_us": 1200,
        "image": ramp + np.float32(seq),
    }
    zmqpack.send_packed(pub, frame, topic="sensor/cam0", codec="blosc:lz4:5:shuffle")
    print("sent frame", seq)
pub.close()  # the linger lets the last frames go out
ctx.term()
