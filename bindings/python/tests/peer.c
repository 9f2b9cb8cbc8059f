/*
 * zpk_py_peer: the C side of the Python binding's interop tests.
 *
 *   zpk_py_peer ENDPOINT array CODEC RECIPE N   echo N array messages
 *   zpk_py_peer ENDPOINT mixed CODEC N          echo N packed/mixed messages
 *
 * Connects a PAIR socket to ENDPOINT and, N times, receives a message with
 * the C library and sends its content back re-encoded by the C library
 * (with CODEC, "none" for none; RECIPE 1 sends arrays as the pyzmq recipe).
 * A 10 s receive timeout keeps a broken test from hanging. Exit 0 on
 * success, 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "zmqpack.h"

static int fail(const char *what, int rc)
{
    fprintf(stderr, "zpk_py_peer: %s: %s (%s)\n", what, zpk_strerror(rc), zpk_err_name(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: zpk_py_peer ENDPOINT array|mixed CODEC [RECIPE] N\n");
        return 2;
    }
    const char *ep = argv[1], *mode = argv[2], *cs = argv[3];
    int array_mode = strcmp(mode, "array") == 0;
    int recipe = array_mode && argc > 5 ? atoi(argv[4]) : 0;
    long n = atol(argv[argc - 1]);
    zpk_codec_t codec;
    int have_codec = strcmp(cs, "none") != 0;
    if (have_codec) {
        int rc = zpk_codec_parse(cs, strlen(cs), &codec, NULL);
        if (rc != 0)
            return fail("codec", rc);
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PAIR);
    int timeout = 10000, linger = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, ep) != 0)
        return fail("connect", -zmq_errno());
    int status = 0;
    for (long i = 0; i < n && status == 0; i++) {
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.codec = have_codec ? &codec : NULL;
        if (array_mode) {
            zpk_ndarray_t a;
            int rc = zpk_recv_array(s, NULL, NULL, &a, NULL);
            if (rc != 0) {
                status = fail("recv_array", rc);
                break;
            }
            if (recipe) {
                so.flags |= ZPK_SEND_RECIPE;
                so.codec = NULL;
            }
            rc = zpk_send_array(s, &a, &so, NULL);
            zpk_ndarray_free(&a);
            if (rc != 0)
                status = fail("send_array", rc);
        } else {
            zpk_mixed_t m;
            int rc = zpk_recv_mixed(s, NULL, NULL, &m, NULL);
            if (rc != 0) {
                status = fail("recv_mixed", rc);
                break;
            }
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            zpk_node_write(&w, zpk_doc_root(m.doc));
            rc = m.n_ndarrays ? zpk_send_mixed(s, &w, m.ndarrays, m.n_ndarrays, &so, NULL)
                           : zpk_send_packed(s, &w, &so, NULL);
            zpk_writer_free(&w);
            zpk_mixed_free(&m);
            if (rc != 0)
                status = fail("send", rc);
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return status;
}
