/*
 * zpk_py_peer: the C side of the Python binding's interop tests.
 *
 *   zpk_py_peer [-s pair|router|rep|req] ENDPOINT array CODEC RECIPE N
 *   zpk_py_peer [-s pair|router|rep|req] ENDPOINT mixed CODEC N
 *
 * Connects a socket of the given type (PAIR by default) to ENDPOINT and, N
 * times, receives a message with the C library and sends its content back
 * re-encoded by the C library (with CODEC, "none" for none; RECIPE 1 sends
 * arrays as the pyzmq recipe). A ROUTER replies with the envelope it
 * received; a REP's socket does that itself. A REQ sends first: N packed
 * messages {"n": i} (mixed mode), each reply checked to be the same.
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

/* One echo: receive a message of the mode's kind, send it back with @p so
 * (and the received envelope). */
static int echo(void *s, int array_mode, int recipe, zpk_send_opts_t *so)
{
    zpk_envelope_t env;
    int rc;
    if (array_mode) {
        zpk_ndarray_t a;
        rc = zpk_recv_array(s, NULL, &env, &a, NULL);
        if (rc != 0)
            return fail("recv_array", rc);
        if (recipe) {
            so->flags |= ZPK_SEND_RECIPE;
            so->codec = NULL;
        }
        so->envelope = &env;
        rc = zpk_send_array(s, &a, so, NULL);
        zpk_ndarray_free(&a);
        zpk_envelope_free(&env);
        return rc != 0 ? fail("send_array", rc) : 0;
    }
    zpk_mixed_t m;
    rc = zpk_recv_mixed(s, NULL, &env, &m, NULL);
    if (rc != 0)
        return fail("recv_mixed", rc);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_node_write(&w, zpk_doc_root(m.doc));
    so->envelope = &env;
    rc = m.n_ndarrays ? zpk_send_mixed(s, &w, m.ndarrays, m.n_ndarrays, so, NULL)
                      : zpk_send_packed(s, &w, so, NULL);
    zpk_writer_free(&w);
    zpk_mixed_free(&m);
    zpk_envelope_free(&env);
    return rc != 0 ? fail("send", rc) : 0;
}

/* One request of a REQ: {"n": i} out, the same back. */
static int request(void *s, long i)
{
    int rc = zpk_sendf(s, 0, "{s:I}", "n", (int64_t)i);
    if (rc != 0)
        return fail("sendf", rc);
    zpk_doc_t *doc = NULL;
    rc = zpk_recv_packed(s, NULL, NULL, &doc, NULL);
    if (rc != 0)
        return fail("recv_packed", rc);
    int64_t n = -1;
    rc = zpk_unpack_fmt(zpk_doc_root(doc), "{s:I}", "n", &n);
    zpk_doc_destroy(&doc);
    if (rc != 0 || n != i) {
        fprintf(stderr, "zpk_py_peer: reply %ld is not {\"n\": %ld}\n", (long)n, i);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int type = ZMQ_PAIR, argi = 1;
    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
        const char *t = argv[2];
        type = strcmp(t, "router") == 0 ? ZMQ_ROUTER
               : strcmp(t, "rep") == 0  ? ZMQ_REP
               : strcmp(t, "req") == 0  ? ZMQ_REQ
                                        : ZMQ_PAIR;
        argi = 3;
    }
    if (argc - argi < 4) {
        fprintf(stderr, "usage: zpk_py_peer [-s pair|router|rep|req] ENDPOINT array|mixed "
                        "CODEC [RECIPE] N\n");
        return 2;
    }
    const char *ep = argv[argi], *mode = argv[argi + 1], *cs = argv[argi + 2];
    int array_mode = strcmp(mode, "array") == 0;
    int recipe = array_mode && argc - argi > 4 ? atoi(argv[argi + 3]) : 0;
    long n = atol(argv[argc - 1]);
    zpk_codec_t codec;
    int have_codec = strcmp(cs, "none") != 0;
    if (have_codec) {
        int rc = zpk_codec_parse(cs, strlen(cs), &codec, NULL);
        if (rc != 0)
            return fail("codec", rc);
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, type);
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
        status = type == ZMQ_REQ ? request(s, i) : echo(s, array_mode, recipe, &so);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return status;
}
