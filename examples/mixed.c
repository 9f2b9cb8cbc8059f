/*
 * A mixed message: one MessagePack object (metadata) holding two arrays
 * (an image and its mask) that travel as their own frames, zero-copy.
 *
 *   {"camera": "left", "ts": <timestamp>, "image": <1080x1920 uint16>,
 *    "mask": <1080x1920 bool>}
 *
 * Over inproc:// libzmq passes the frames by reference, so with the
 * borrow mode the receiver's arrays are the sender's very bytes: this
 * program checks that, and that the tracker fires once the receiver lets go.
 *
 *   usage: mixed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>
#include <zmqpack.h>

#define H 1080
#define W 1920

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *tx = zmq_socket(ctx, ZMQ_PAIR), *rx = zmq_socket(ctx, ZMQ_PAIR);
    int timeout = 10000;
    zmq_setsockopt(rx, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_bind(rx, "inproc://mixed");
    zmq_connect(tx, "inproc://mixed");

    /* The two arrays, owned by this program. */
    uint16_t *image = malloc(sizeof(uint16_t) * H * W);
    bool *mask = malloc(sizeof(bool) * H * W);
    for (size_t i = 0; i < (size_t)H * W; i++) {
        image[i] = (uint16_t)(i % 4096);
        mask[i] = image[i] > 3000;
    }
    zpk_ndarray_t arrays[2];
    size_t shape[2] = {H, W};
    zpk_ndarray_init(&arrays[0], zpk_dtype_make(ZPK_KIND_UINT, 2), 2, shape, ZPK_ORDER_C, image);
    zpk_ndarray_init(&arrays[1], zpk_dtype_make(ZPK_KIND_BOOL, 1), 2, shape, ZPK_ORDER_C, mask);

    /* The object: each array is written as a reference to its index. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 128);
    zpk_write_map(&w, 4);
    zpk_write_cstr(&w, "camera");
    zpk_write_cstr(&w, "left");
    zpk_write_cstr(&w, "ts");
    zpk_write_timestamp(&w, now.tv_sec, (uint32_t)now.tv_nsec);
    zpk_write_cstr(&w, "image");
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_cstr(&w, "mask");
    zpk_write_ndarray_ref(&w, 1);

    /* Borrow: nothing is copied; the tracker says when the data is free again. */
    zpk_tracker_t *tracker = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = tracker;
    int rc = zpk_send_mixed(tx, &w, arrays, 2, &so, NULL);
    zpk_writer_free(&w);
    if (rc != 0) {
        fprintf(stderr, "mixed: send: %s\n", zpk_strerror(rc));
        return 1;
    }

    zpk_mixed_t m;
    rc = zpk_recv_mixed(rx, NULL, NULL, &m, NULL);
    if (rc != 0) {
        fprintf(stderr, "mixed: recv: %s\n", zpk_strerror(rc));
        return 1;
    }
    const char *camera;  /* s# : the string stays in the received frame, with its length */
    size_t camera_len;
    const zpk_node_t *img_ref, *mask_ref;
    rc = zpk_unpack_fmt(zpk_doc_root(m.doc), "{s:s# s:O s:O}", "camera", &camera, &camera_len,
                        "image", &img_ref, "mask", &mask_ref);
    const zpk_ndarray_t *img = zpk_mixed_ndarray(&m, img_ref), *msk = zpk_mixed_ndarray(&m, mask_ref);
    if (rc != 0 || !img || !msk) {
        fprintf(stderr, "mixed: not the message we sent\n");
        return 1;
    }
    char dt1[ZPK_DTYPE_STR_SIZE], dt2[ZPK_DTYPE_STR_SIZE];
    zpk_dtype_format(img->dtype, dt1, sizeof dt1);
    zpk_dtype_format(msk->dtype, dt2, sizeof dt2);
    bool same = img->nbytes == arrays[0].nbytes && !memcmp(img->data, image, img->nbytes)
                && msk->nbytes == arrays[1].nbytes && !memcmp(msk->data, mask, msk->nbytes);
    bool zero_copy = img->data == (void *)image && msk->data == (void *)mask;
    printf("camera %.*s: image %s %zux%zu, mask %s %zux%zu, %zu arrays\n", (int)camera_len, camera, dt1,
           img->shape[0], img->shape[1], dt2, msk->shape[0], msk->shape[1], m.n_ndarrays);
    printf("contents equal: %s; received at the sender's addresses (zero-copy): %s\n",
           same ? "yes" : "NO", zero_copy ? "yes" : "no");
    printf("tracker done while the receiver holds the arrays: %s\n",
           zpk_tracker_done(tracker) ? "yes" : "no");
    zpk_mixed_free(&m);  /* the receiver lets go of the frames... */
    rc = zpk_tracker_wait(tracker, 5000);  /* ...so libzmq is done with our memory */
    printf("tracker done after release: %s\n", rc == 0 ? "yes" : "no");
    zpk_tracker_destroy(&tracker);
    free(image);
    free(mask);
    zmq_close(tx);
    zmq_close(rx);
    zmq_ctx_term(ctx);
    return same && rc == 0 ? 0 : 1;
}
