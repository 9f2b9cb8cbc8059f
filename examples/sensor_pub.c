/*
 * PUB/SUB, publisher side: a sensor service that publishes frames. Each
 * frame is one *mixed* message: a metadata map (sequence number, timestamp,
 * exposure) in which the image is a reference to an array that travels in
 * its own frames, compressed with blosc. Subscribers in C (sensor_sub.c) or
 * Python (sensor_sub.py) read the same bytes.
 *
 *   usage: sensor_pub ENDPOINT [COUNT]      e.g. sensor_pub tcp://127.0.0.1:5556 5
 *
 * It connects to a subscriber that binds, waits until the subscription has
 * arrived (an XPUB socket sees it, so no frame is lost to libzmq's "slow
 * joiner"), sends COUNT 256x256 float32 frames and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>
#include <zmqpack.h>

#define W 256
#define H 256

static int fail(const char *what, int rc)
{
    fprintf(stderr, "sensor_pub: %s: %s\n", what, zpk_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sensor_pub ENDPOINT [COUNT]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 5;

    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int one = 1, timeout = 10000;
    zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &one, sizeof one);  /* block, never drop */
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(pub, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(pub, ZMQ_LINGER, &timeout, sizeof timeout);
    if (zmq_connect(pub, argv[1]) != 0)
        return fail("connect", -zmq_errno());
    char sub[64];
    if (zmq_recv(pub, sub, sizeof sub, 0) < 0)  /* the subscription message */
        return fail("waiting for a subscriber", -zmq_errno());

    /* blosc with lz4 and byte shuffle: floats from a sensor compress well. */
    zpk_codec_t codec;
    const char *spec = "blosc:lz4:5:shuffle";
    if (zpk_codec_parse(spec, strlen(spec), &codec, NULL) != 0)
        zpk_codec_default(&codec, ZPK_CODEC_ZLIB);  /* a build without blosc */
    static float image[H][W];

    for (int seq = 0; seq < count; seq++) {
        /* A smooth ramp plus the frame number: the subscriber checks it. */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                image[y][x] = (float)seq + (float)(x + y) / 512.0f;

        /* The metadata map; "image" refers to array 0 of this message. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 128);
        zpk_write_map(&w, 4);
        zpk_write_cstr(&w, "seq");
        zpk_write_int(&w, seq);
        zpk_write_cstr(&w, "ts");
        zpk_write_timestamp(&w, now.tv_sec, (uint32_t)now.tv_nsec);
        zpk_write_cstr(&w, "exposure_us");
        zpk_write_uint(&w, 1200);
        zpk_write_cstr(&w, "image");
        zpk_write_ndarray_ref(&w, 0);

        zpk_ndarray_t a;
        size_t shape[2] = {H, W};
        zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, shape, ZPK_ORDER_C, image);

        /* Copy mode: we reuse `image` for the next frame at once. (Borrow
           with a tracker avoids the copy when the buffer can wait.) */
        zpk_send_opts_t opts;
        zpk_send_opts_init(&opts);
        opts.topic = "sensor/cam0";
        opts.topic_len = strlen("sensor/cam0");
        opts.codec = &codec;
        int rc = zpk_send_mixed(pub, &w, &a, 1, &opts, NULL);
        zpk_writer_free(&w);
        if (rc != 0)
            return fail("send", rc);
        printf("sent frame %d\n", seq);
    }
    zmq_close(pub);
    zmq_ctx_term(ctx);  /* the linger lets the last frames reach the subscriber */
    return 0;
}
