/*
 * PUB/SUB, subscriber side: binds, subscribes to "sensor/", and receives
 * frames from sensor_pub.c or sensor_pub.py: a metadata map whose "image"
 * is an array that arrives in its own (blosc-compressed) frames.
 *
 *   usage: sensor_sub [COUNT]
 *
 * Prints "listening on tcp://127.0.0.1:PORT", then one line per frame;
 * exits 0 once COUNT frames arrived and each image held what its sequence
 * number says (every receive times out after 10 s: it never hangs).
 */
#include <stdio.h>
#include <stdlib.h>

#include <zmq.h>
#include <zmqpack.h>

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 5;
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int timeout = 10000;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "sensor/", 7);
    if (zmq_bind(sub, "tcp://127.0.0.1:*") != 0)
        return 1;
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(sub, ZMQ_LAST_ENDPOINT, ep, &len);
    printf("listening on %s\n", ep);
    fflush(stdout);

    int bad = 0;
    for (int i = 0; i < count; i++) {
        zpk_envelope_t topic; /* the topic: a one-frame envelope */
        zpk_mixed_t m;
        int rc = zpk_recv_mixed(sub, NULL, &topic, &m, NULL);
        if (rc != 0) {
            fprintf(stderr, "sensor_sub: %s\n", zpk_strerror(rc));
            return 1;
        }
        /* Take the map apart with a format string; O gives the image's node. */
        int64_t seq;
        zpk_timestamp_t ts;
        const zpk_node_t *ref;
        rc = zpk_unpack_fmt(zpk_doc_root(m.doc), "{s:I s:t s:O}", "seq", &seq, "ts", &ts,
                            "image", &ref);
        const zpk_ndarray_t *img = rc == 0 ? zpk_mixed_ndarray(&m, ref) : NULL;
        if (!img || img->ndim != 2 || img->dtype.kind != ZPK_KIND_FLOAT || img->dtype.itemsize != 4) {
            fprintf(stderr, "sensor_sub: unexpected message\n");
            return 1;
        }
        /* The publisher wrote seq + (x + y) / 512 at [y][x]: check two pixels. */
        const float *px = img->data;
        size_t w = img->shape[1], h = img->shape[0];
        float first = px[0], last = px[w * h - 1];
        int ok = first == (float)seq && last == (float)seq + (float)(w - 1 + h - 1) / 512.0f;
        bad += !ok;
        const zpk_frame_t *t = topic.n == 1 ? &topic.frames[0] : NULL;
        printf("%.*s seq=%lld ts=%lld.%09u image %zux%zu %s [%g .. %g] %s\n",
               t ? (int)t->size : 0, t ? (const char *)t->data : "", (long long)seq, (long long)ts.sec, ts.nsec, h, w,
               zpk_dtype_name(img->dtype), first, last, ok ? "ok" : "WRONG");
        zpk_mixed_free(&m);
        zpk_envelope_free(&topic);
    }
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return bad ? 1 : 0;
}
