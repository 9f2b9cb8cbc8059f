/*
 * A compressed PUSH/PULL pipeline, the zguide's "divide and conquer": a
 * ventilator pushes tasks, workers compute, a sink collects. Each task is a
 * 512x512 float64 array sent zlib-compressed (any codec works); each result
 * is a small packed map. Here the three roles are threads of one program
 * over tcp://127.0.0.1 so that it runs alone; as separate processes the code
 * of each role is the same.
 *
 *   usage: pipeline [TASKS] [WORKERS]      (default 12 tasks, 3 workers)
 *
 * The sink checks every result against the sum it expects and exits 0
 * when all arrived; every receive times out after 10 s.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>
#include <zmqpack.h>

#define N 512

static void *ctx;
static char task_ep[256], sink_ep[256];
static int ntasks = 12, nworkers = 3;

static void set_timeouts(void *s)
{
    int t = 10000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &t, sizeof t);
    zmq_setsockopt(s, ZMQ_LINGER, &t, sizeof t);
}

/* Task i: a[y][x] = i + x / N, so its sum is N*N*i + N*(N-1)/2. */
static double expected_sum(int i)
{
    return (double)N * N * i + (double)N * (N - 1) / 2.0;
}

static void *ventilator(void *arg)
{
    void *push = arg;
    zpk_codec_t zlib;
    zpk_codec_default(&zlib, ZPK_CODEC_ZLIB);
    zlib.level = 1;
    static double a[N][N];
    for (int i = 0; i < ntasks; i++) {
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
                a[y][x] = i + (double)x / N;
        zpk_ndarray_t arr;
        size_t shape[2] = {N, N};
        zpk_ndarray_init(&arr, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, shape, ZPK_ORDER_C, a);
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.codec = &zlib;  /* compressed chunks are fresh buffers: `a` is free at once */
        int rc = zpk_send_array(push, &arr, &o, NULL);
        if (rc != 0) {
            fprintf(stderr, "ventilator: %s\n", zpk_strerror(rc));
            break;
        }
    }
    return NULL;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    set_timeouts(pull);
    set_timeouts(push);
    zmq_connect(pull, task_ep);
    zmq_connect(push, sink_ep);
    for (;;) {
        zpk_ndarray_t a;
        int rc = zpk_recv_array(pull, NULL, NULL, &a, NULL); /* decompressed once, into a's buffer */
        if (rc != 0 || a.nbytes == 0) {
            zpk_ndarray_free(&a);
            break;  /* an empty array means "stop" (or nothing came within 10 s) */
        }
        const double *v = a.data;
        double sum = 0;
        size_t n = a.nbytes / sizeof *v;
        for (size_t k = 0; k < n; k++)
            sum += v[k];
        int task = (int)v[0];  /* a[0][0] == i */
        zpk_ndarray_free(&a);
        /* A result is one packed map, sent with a format string. */
        zpk_sendf(push, 0, "{s:i s:d s:i}", "task", task, "sum", sum, "worker", id);
    }
    zmq_close(pull);
    zmq_close(push);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        ntasks = atoi(argv[1]);
    if (argc > 2)
        nworkers = atoi(argv[2]);
    ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH), *sink = zmq_socket(ctx, ZMQ_PULL);
    set_timeouts(push);
    set_timeouts(sink);
    size_t len = sizeof task_ep;
    zmq_bind(push, "tcp://127.0.0.1:*");
    zmq_getsockopt(push, ZMQ_LAST_ENDPOINT, task_ep, &len);
    len = sizeof sink_ep;
    zmq_bind(sink, "tcp://127.0.0.1:*");
    zmq_getsockopt(sink, ZMQ_LAST_ENDPOINT, sink_ep, &len);
    printf("ventilator on %s, sink on %s, %d workers\n", task_ep, sink_ep, nworkers);

    pthread_t w[16], v;
    if (nworkers > 16)
        nworkers = 16;
    for (int i = 0; i < nworkers; i++)
        pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    pthread_create(&v, NULL, ventilator, push);

    /* The sink: one result per task, in whatever order the workers finish. */
    int done = 0, wrong = 0, per_worker[16] = {0};
    while (done < ntasks) {
        zpk_doc_t *doc;
        int rc = zpk_recv_packed(sink, NULL, NULL, &doc, NULL);
        if (rc != 0) {
            fprintf(stderr, "sink: %s after %d results\n", zpk_strerror(rc), done);
            break;
        }
        int task, id;
        double sum;
        rc = zpk_unpack_fmt(zpk_doc_root(doc), "{s:i s:d s:i}", "task", &task, "sum", &sum,
                            "worker", &id);
        zpk_doc_destroy(&doc);
        if (rc != 0 || task < 0 || task >= ntasks || id < 0 || id >= nworkers) {
            wrong++;
            continue;
        }
        wrong += sum != expected_sum(task);
        per_worker[id]++;
        done++;
    }
    /* Stop the workers: PUSH deals one empty array to each of them. */
    pthread_join(v, NULL);
    zpk_ndarray_t stop;
    size_t zero[1] = {0};
    zpk_ndarray_init(&stop, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, zero, ZPK_ORDER_C, NULL);
    for (int i = 0; i < nworkers; i++)
        zpk_send_array(push, &stop, NULL, NULL);
    for (int i = 0; i < nworkers; i++)
        pthread_join(w[i], NULL);
    printf("sink: %d results, %d wrong; tasks per worker:", done, wrong);
    for (int i = 0; i < nworkers; i++)
        printf(" %d", per_worker[i]);
    printf("\n");
    zmq_close(push);
    zmq_close(sink);
    zmq_ctx_term(ctx);
    return done == ntasks && wrong == 0 ? 0 : 1;
}
