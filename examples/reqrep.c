/*
 * REQ/REP with MessagePack bodies and timeouts. A service answers
 * {"op": "add", "a": A, "b": B} with {"ok": true, "result": A+B}; a client
 * calls it with a receive timeout, and when an answer does not come in time
 * it does what the zguide's "Lazy Pirate" does: closes its REQ socket (a
 * REQ socket that missed a reply cannot send again), opens a new one and
 * carries on. Server and client are two threads here, over tcp://127.0.0.1.
 *
 *   usage: reqrep
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqpack.h>

static void *ctx;
static char endpoint[256];

static void *server(void *arg)
{
    void *rep = arg;
    for (;;) {
        zpk_doc_t *req;
        if (zpk_recv_packed(rep, NULL, NULL, &req, NULL) != 0)
            break;  /* 10 s without a request */
        const char *p = "";
        size_t n = 0;
        double a = 0, b = 0;
        /* s# : received strings stay in the message (not NUL-terminated);
           "?" marks optional keys: {"op": "quit"} needs no a and b. */
        int rc = zpk_unpack_fmt(zpk_doc_root(req), "{s:s# s?F s?F}", "op", &p, &n, "a", &a,
                                "b", &b);
        char op[16] = "";
        if (rc == 0 && n < sizeof op)
            memcpy(op, p, n);
        if (rc != 0)
            zpk_sendf(rep, 0, "{s:b s:s}", "ok", 0, "error", zpk_strerror(rc));
        else if (!strcmp(op, "add"))
            zpk_sendf(rep, 0, "{s:b s:d}", "ok", 1, "result", a + b);
        else if (!strcmp(op, "slow")) {
            usleep(700 * 1000);  /* longer than the client waits */
            zpk_sendf(rep, 0, "{s:b}", "ok", 1);
        } else
            zpk_sendf(rep, 0, "{s:b s:s}", "ok", strcmp(op, "quit") == 0, "error", "bye");
        bool quit = !strcmp(op, "quit");
        zpk_doc_destroy(&req);
        if (quit)
            break;
    }
    return NULL;
}

static void *client_socket(void)
{
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int timeout = 300, zero = 0;
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);  /* wait 300 ms for a reply */
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(req, endpoint);
    return req;
}

/* One call: sends the request, waits for the reply; -EAGAIN on timeout. */
static int call(void **req, const char *op, double a, double b, double *result)
{
    int rc = zpk_sendf(*req, 0, "{s:s s:d s:d}", "op", op, "a", a, "b", b);
    zpk_doc_t *reply = NULL;
    if (rc == 0)
        rc = zpk_recv_packed(*req, NULL, NULL, &reply, NULL);
    if (rc == -EAGAIN) {
        /* Lazy Pirate: this REQ socket is stuck waiting; start over with a new one. */
        zmq_close(*req);
        *req = client_socket();
        return rc;
    }
    if (rc == 0) {
        int ok = 0;
        *result = 0;
        rc = zpk_unpack_fmt(zpk_doc_root(reply), "{s:b s?F}", "ok", &ok, "result", result);
        if (rc == 0 && !ok)
            rc = ZPK_EINVAL;
    }
    zpk_doc_destroy(&reply);
    return rc;
}

int main(void)
{
    ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    int timeout = 10000;
    zmq_setsockopt(rep, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(rep, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_bind(rep, "tcp://127.0.0.1:*");
    size_t len = sizeof endpoint;
    zmq_getsockopt(rep, ZMQ_LAST_ENDPOINT, endpoint, &len);
    pthread_t th;
    pthread_create(&th, NULL, server, rep);

    void *req = client_socket();
    double r = 0;
    int failures = 0;
    int rc = call(&req, "add", 2, 40, &r);
    printf("add(2, 40)   -> %s %g\n", rc ? zpk_strerror(rc) : "ok", r);
    failures += rc != 0 || r != 42;
    rc = call(&req, "slow", 0, 0, &r);
    printf("slow()       -> %s (expected: the reply comes too late)\n", zpk_strerror(rc));
    failures += rc != -EAGAIN;
    usleep(800 * 1000);  /* let the server finish the slow call */
    rc = call(&req, "add", 1.5, 2.25, &r);
    printf("add(1.5, 2.25) -> %s %g (on a new socket)\n", rc ? zpk_strerror(rc) : "ok", r);
    failures += rc != 0 || r != 3.75;
    rc = call(&req, "quit", 0, 0, &r);
    failures += rc != 0;

    pthread_join(th, NULL);
    zmq_close(req);
    zmq_close(rep);
    zmq_ctx_term(ctx);
    printf("%s\n", failures ? "FAILED" : "all calls behaved");
    return failures ? 1 : 0;
}
