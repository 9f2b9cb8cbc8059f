/*
 * The zguide's request-reply broker with zmqpack messages. REQ clients
 * send ndarrays to a ROUTER; the broker forwards every frame to a DEALER
 * with zmq_proxy() and never decodes a message (it does not link zmqpack
 * for that); REP workers behind the DEALER receive the arrays and reply
 * with a mixed message: a summary map and the array scaled by 2.
 *
 * On the way in, the ROUTER puts the client's identity in front of the
 * REQ's empty delimiter: [identity, "", header, payload...]. zmqpack calls
 * the frames before the header the envelope; the REP socket strips it
 * before the worker sees the message and puts it back on the reply, so
 * the reply finds its way to the right client.
 *
 * Clients, broker and workers are threads here; the clients talk to the
 * broker over tcp://127.0.0.1, the workers over inproc.
 *
 *   usage: broker
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>
#include <zmqpack.h>

enum { CLIENTS = 3, WORKERS = 2, REQUESTS = 8 };

static void *ctx;
static char frontend_ep[256];

/* ---- the broker: frames in, frames out ---------------------------------------------- */

static void *broker(void *arg)
{
    void **sockets = arg;
    zmq_proxy(sockets[0], sockets[1], NULL);  /* returns when the context ends */
    zmq_close(sockets[0]);
    zmq_close(sockets[1]);
    return NULL;
}

/* ---- a worker: an array in, a summary and the scaled array out ---------------------- */

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void *rep = zmq_socket(ctx, ZMQ_REP);
    zmq_connect(rep, "inproc://workers");
    for (;;) {
        zpk_ndarray_t a;
        zpk_error_t err;
        int rc = zpk_recv_array(rep, NULL, NULL, &a, &err);
        if (rc == -ETERM)
            break;
        if (rc != 0) {  /* a REP must still answer: say what was wrong */
            zpk_sendf(rep, 0, "{s:s}", "error", err.text);
            continue;
        }
        /* native byte order, then the sum and the scaled copy (float64) */
        zpk_ndarray_to_native(&a);
        size_t items = a.nbytes / a.dtype.itemsize;
        double sum = 0;
        zpk_ndarray_t scaled;
        size_t shape = items;
        double *out = zpk_malloc(items * sizeof(double) + 1);
        for (size_t i = 0; i < items; i++) {
            const uint8_t *p = (const uint8_t *)a.data + i * a.dtype.itemsize;
            double v = a.dtype.kind == ZPK_KIND_FLOAT ? *(const double *)p : *(const int32_t *)p;
            sum += v;
            out[i] = 2 * v;
        }
        zpk_ndarray_init(&scaled, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &shape, ZPK_ORDER_C, out);
        zpk_writer_t w;  /* {"worker": id, "items": n, "sum": s, "scaled": <ndarray 0>} */
        zpk_writer_init_growable(&w, 64);
        zpk_write_map(&w, 4);
        zpk_write_cstr(&w, "worker");
        zpk_write_int(&w, id);
        zpk_write_cstr(&w, "items");
        zpk_write_uint(&w, items);
        zpk_write_cstr(&w, "sum");
        zpk_write_double(&w, sum);
        zpk_write_cstr(&w, "scaled");
        zpk_write_ndarray_ref(&w, 0);
        /* the scaled array goes by reference; its buffer is given to the
           library, which frees it once libzmq is done with it */
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.own = ZPK_OWN_GIVE;
        so.free_fn = zpk_free_fn;
        rc = zpk_send_mixed(rep, &w, &scaled, 1, &so, NULL);
        if (rc != 0)
            zpk_free(out);  /* not sent: still ours */
        zpk_writer_free(&w);
        zpk_ndarray_free(&a);
        if (rc == -ETERM)
            break;
    }
    zmq_close(rep);
    return NULL;
}

/* ---- a client: arrays out, replies checked -------------------------------------------- */

typedef struct client {
    int id;
    int failures;
} client_t;

static void *client(void *arg)
{
    client_t *c = arg;
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int timeout = 10000, zero = 0;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(req, frontend_ep);
    zpk_codec_t zlib;
    zpk_codec_parse("zlib:1", 6, &zlib, NULL);
    static double big[CLIENTS][20000]; /* one per client (160 KB: compressed when sent) */
    for (int r = 0; r < REQUESTS; r++) {
        /* a float64 vector (sometimes large and compressed) or an int32 matrix */
        zpk_ndarray_t a;
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        int32_t m[4][5];
        double expect = 0;
        if (r % 2 == 0) {
            size_t n = r % 4 == 0 ? 20000 : 100;
            for (size_t i = 0; i < n; i++) {
                big[c->id][i] = c->id * 1000.0 + r + (double)(i % 7);
                expect += big[c->id][i];
            }
            zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, ZPK_ORDER_C,
                             big[c->id]);
            so.codec = r % 4 == 0 ? &zlib : NULL;
        } else {
            size_t shape[2] = {4, 5};
            for (int i = 0; i < 20; i++) {
                m[i / 5][i % 5] = c->id * 100 + r * 10 + i;
                expect += m[i / 5][i % 5];
            }
            zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_INT, 4), 2, shape, ZPK_ORDER_C, m);
        }
        zpk_mixed_t reply;
        int rc = zpk_send_array(req, &a, &so, NULL);
        if (rc == 0)
            rc = zpk_recv_mixed(req, NULL, NULL, &reply, NULL);
        if (rc != 0) {
            printf("client %d, request %d: %s\n", c->id, r, zpk_strerror(rc));
            c->failures++;
            continue;
        }
        int worker_id = -1;
        uint64_t items = 0;
        double sum = 0;
        const zpk_node_t *ref = NULL;
        rc = zpk_unpack_fmt(zpk_doc_root(reply.doc), "{s:i s:U s:d s:O}", "worker", &worker_id,
                            "items", &items, "sum", &sum, "scaled", &ref);
        const zpk_ndarray_t *scaled = rc == 0 ? zpk_mixed_ndarray(&reply, ref) : NULL;
        bool ok = scaled != NULL && sum == expect && items * 8 == scaled->nbytes &&
                  ((const double *)scaled->data)[items - 1] ==
                      2 * (r % 2 ? (double)m[3][4] : big[c->id][items - 1]);
        printf("client %d, request %d: %llu items, sum %.0f, from worker %d: %s\n", c->id, r,
               (unsigned long long)items, sum, worker_id, ok ? "ok" : "WRONG");
        c->failures += !ok;
        zpk_mixed_free(&reply);
    }
    zmq_close(req);
    return NULL;
}

int main(void)
{
    ctx = zmq_ctx_new();
    void *sockets[2] = {zmq_socket(ctx, ZMQ_ROUTER), zmq_socket(ctx, ZMQ_DEALER)};
    zmq_bind(sockets[0], "tcp://127.0.0.1:*");
    zmq_bind(sockets[1], "inproc://workers");
    size_t len = sizeof frontend_ep;
    zmq_getsockopt(sockets[0], ZMQ_LAST_ENDPOINT, frontend_ep, &len);
    pthread_t b, w[WORKERS], cl[CLIENTS];
    pthread_create(&b, NULL, broker, sockets);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    client_t clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (client_t){i, 0};
        pthread_create(&cl[i], NULL, client, &clients[i]);
    }
    int failures = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cl[i], NULL);
        failures += clients[i].failures;
    }
    zmq_ctx_shutdown(ctx);  /* the broker and the workers see ETERM and close */
    pthread_join(b, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    zmq_ctx_term(ctx);
    printf("%s\n", failures ? "FAILED" : "every reply came back to its client, checked");
    return failures ? 1 : 0;
}
