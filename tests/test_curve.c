/*
 * CURVE helpers (zmqpack/curve.h): keys, key files in CZMQ's zcert format,
 * and real tcp sockets on 127.0.0.1 where a peer without the right keys
 * receives nothing and a peer with them receives everything. Every receive
 * has a timeout. Skips the socket cases when libzmq lacks CURVE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpack.h"
#if ZPK_HAVE_CZMQ
#  include <czmq.h>
#endif

#define S_TIMEOUT_MS 10000
#define S_SILENCE_MS 300
#define S_COUNT 200

static char s_tmpdir[256];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_tmpdir, sizeof s_tmpdir, "/tmp/zpk-curve-XXXXXX");
    assert_non_null(mkdtemp(s_tmpdir));
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *s_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", s_tmpdir, name);
    return buf;
}

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

#define S_NEED_CURVE()                                                   \
    do {                                                                 \
        if (!zpk_curve_available()) {                                    \
            print_message("libzmq has no CURVE support: skipped\n");     \
            skip();                                                      \
        }                                                                \
    } while (0)

/* ---- keys ------------------------------------------------------------------ */

/* ZMQ RFC 32's test vector: 32 bytes, their Z85 form. */
static const char s_rfc_pub[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char s_rfc_sec[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

static void test_key_valid(void **state)
{
    (void)state;
    assert_true(zpk_curve_key_valid(s_rfc_pub));
    assert_true(zpk_curve_key_valid(s_rfc_sec));
    assert_false(zpk_curve_key_valid(NULL));
    assert_false(zpk_curve_key_valid(""));
    char k[64];
    memcpy(k, s_rfc_pub, 39);
    k[39] = '\0';
    assert_false(zpk_curve_key_valid(k)); /* 39 characters */
    snprintf(k, sizeof k, "%sx", s_rfc_pub);
    assert_false(zpk_curve_key_valid(k)); /* 41 */
    snprintf(k, sizeof k, "%s", s_rfc_pub);
    k[7] = '"';
    assert_false(zpk_curve_key_valid(k)); /* outside the alphabet */
    k[7] = ' ';
    assert_false(zpk_curve_key_valid(k));
    /* "#####" is 84*(85^4+...) > 2^32: in the alphabet but not a value. */
    snprintf(k, sizeof k, "#####%s", s_rfc_pub + 5);
    assert_false(zpk_curve_key_valid(k));
}

static void test_keypair(void **state)
{
    (void)state;
    S_NEED_CURVE();
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE], pub2[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(pub, sec), 0);
    assert_int_equal(strlen(pub), ZPK_CURVE_KEY_LEN);
    assert_true(zpk_curve_key_valid(pub));
    assert_true(zpk_curve_key_valid(sec));
    assert_int_equal(zpk_curve_public(pub2, sec), 0);
    assert_string_equal(pub, pub2);
    char p3[ZPK_CURVE_KEY_SIZE], s3[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(p3, s3), 0);
    assert_string_not_equal(pub, p3);

    assert_int_equal(zpk_curve_keypair(NULL, sec), ZPK_EINVAL);
    assert_int_equal(zpk_curve_keypair(pub, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_public(NULL, sec), ZPK_EINVAL);
    assert_int_equal(zpk_curve_public(pub2, "short"), ZPK_EINVAL);
    assert_string_equal(pub2, "");
    assert_int_equal(zpk_curve_public(pub2, NULL), ZPK_EINVAL);
}

static void test_setopt_errors(void **state)
{
    (void)state;
    S_NEED_CURVE();
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_SUB);
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE];
    char p2[ZPK_CURVE_KEY_SIZE], s2[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(pub, sec), 0);
    assert_int_equal(zpk_curve_keypair(p2, s2), 0);

    assert_int_equal(zpk_curve_server(NULL, sec), ZPK_EINVAL);
    assert_int_equal(zpk_curve_server(s, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_server(s, "not a key"), ZPK_EINVAL);
    assert_int_equal(zpk_curve_client(NULL, pub, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_client(s, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_client(s, "bad", NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_client(s, pub, p2, NULL), ZPK_EINVAL);  /* half a pair */
    assert_int_equal(zpk_curve_client(s, pub, NULL, s2), ZPK_EINVAL);
    assert_int_equal(zpk_curve_client(s, pub, pub, s2), ZPK_EINVAL);  /* not a pair */
    assert_int_equal(zpk_curve_client(s, pub, p2, "bad"), ZPK_EINVAL);

    assert_int_equal(zpk_curve_client(s, pub, p2, s2), 0);
    int mech = -1;
    size_t len = sizeof mech;
    assert_int_equal(zmq_getsockopt(s, ZMQ_MECHANISM, &mech, &len), 0);
    assert_int_equal(mech, ZMQ_CURVE);
    char got[ZPK_CURVE_KEY_SIZE];
    len = sizeof got;
    assert_int_equal(zmq_getsockopt(s, ZMQ_CURVE_SERVERKEY, got, &len), 0);
    assert_string_equal(got, pub);
    len = sizeof got;
    assert_int_equal(zmq_getsockopt(s, ZMQ_CURVE_PUBLICKEY, got, &len), 0);
    assert_string_equal(got, p2);

    assert_int_equal(zmq_close(s), 0);
    void *t = zmq_socket(ctx, ZMQ_PUB);
    assert_int_equal(zpk_curve_server(t, sec), 0);
    int server = 0;
    len = sizeof server;
    assert_int_equal(zmq_getsockopt(t, ZMQ_CURVE_SERVER, &server, &len), 0);
    assert_int_equal(server, 1);
    zmq_close(t);
    assert_int_equal(zmq_ctx_term(ctx), 0);
}

/* ---- key files ------------------------------------------------------------- */

static void test_save_load(void **state)
{
    (void)state;
    S_NEED_CURVE();
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE];
    char lp[ZPK_CURVE_KEY_SIZE], ls[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(pub, sec), 0);

    char secret_path[512], public_path[512];
    snprintf(secret_path, sizeof secret_path, "%s", s_path("server.key_secret"));
    snprintf(public_path, sizeof public_path, "%s", s_path("server.key"));
    assert_int_equal(zpk_curve_save(secret_path, pub, sec), 0);
    assert_int_equal(zpk_curve_save(public_path, pub, NULL), 0);
    struct stat st;
    assert_int_equal(stat(secret_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(zpk_curve_load(secret_path, lp, ls), 0);
    assert_string_equal(lp, pub);
    assert_string_equal(ls, sec);
    assert_int_equal(zpk_curve_load(public_path, lp, NULL), 0);
    assert_string_equal(lp, pub);
    /* A public certificate has no secret key. */
    assert_int_equal(zpk_curve_load(public_path, lp, ls), ZPK_ENOTFOUND);
    assert_string_equal(lp, "");
    assert_string_equal(ls, "");

    /* Saving a secret over an existing public file tightens its mode. */
    assert_int_equal(zpk_curve_save(public_path, pub, sec), 0);
    assert_int_equal(stat(public_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(zpk_curve_save(NULL, pub, sec), ZPK_EINVAL);
    assert_int_equal(zpk_curve_save(secret_path, "bad", NULL), ZPK_EINVAL);
    assert_int_equal(zpk_curve_save(secret_path, pub, "bad"), ZPK_EINVAL);
    assert_int_equal(zpk_curve_save(secret_path, s_rfc_pub, sec), ZPK_EINVAL); /* not a pair */
    assert_int_equal(zpk_curve_save(s_path("no/such/dir"), pub, NULL), -ENOENT);
    assert_int_equal(zpk_curve_load(s_path("missing"), lp, ls), -ENOENT);
    assert_int_equal(zpk_curve_load(s_tmpdir, lp, ls), -EISDIR);
    assert_int_equal(zpk_curve_load(NULL, lp, ls), ZPK_EINVAL);
    assert_int_equal(zpk_curve_load(secret_path, NULL, ls), ZPK_EINVAL);
}

/* A file as CZMQ's zcert_save() writes it, metadata and all. */
static void test_load_zcert(void **state)
{
    (void)state;
    S_NEED_CURVE();
    char lp[ZPK_CURVE_KEY_SIZE], ls[ZPK_CURVE_KEY_SIZE];
    char text[1024];
    snprintf(text, sizeof text,
             "#   ****  Generated on 2026-11-21 22:00:00 by CZMQ  ****\n"
             "#   ZeroMQ CURVE **Secret** Certificate\n"
             "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
             "\n"
             "metadata\n"
             "    name = \"sensor-7\"\n"
             "    public-key = \"not even a key\"\n"
             "curve\r\n"
             "    public-key = \"%s\"\r\n"
             "    secret-key = '%s'\r\n"
             "other\n"
             "    secret-key = \"ignored\"\n",
             s_rfc_pub, s_rfc_sec);
    s_write(s_path("czmq_secret"), text);
    assert_int_equal(zpk_curve_load(s_path("czmq_secret"), lp, ls), 0);
    assert_string_equal(lp, s_rfc_pub);
    assert_string_equal(ls, s_rfc_sec);

    /* Only a secret key: the public one is derived from it. */
    snprintf(text, sizeof text, "curve\n\tsecret-key = %s\n", s_rfc_sec);
    s_write(s_path("secret_only"), text);
    assert_int_equal(zpk_curve_load(s_path("secret_only"), lp, ls), 0);
    assert_string_equal(lp, s_rfc_pub);
    assert_string_equal(ls, s_rfc_sec);
}

static void test_load_malformed(void **state)
{
    (void)state;
    S_NEED_CURVE();
    char lp[ZPK_CURVE_KEY_SIZE], ls[ZPK_CURVE_KEY_SIZE];
    char text[1024];
    struct { const char *name; const char *fmt; int rc; } cases[] = {
        {"empty", "", ZPK_ENOTFOUND},
        {"comments", "# nothing\n\n", ZPK_ENOTFOUND},
        {"no_section", "    public-key = \"%s\"\n", ZPK_EFORMAT},
        {"bad_key", "curve\n    public-key = \"abc\"\n", ZPK_EFORMAT},
        {"bad_char", "curve\n    public-key = \"rq:rM>}U?@Lns47E1%%kR.o@n%%FcmmsL/@{H8]yf~\"\n",
         ZPK_EFORMAT},
        {"mismatch", "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n", ZPK_EFORMAT},
        {"wrong_section", "metadata\n    public-key = \"%s\"\n", ZPK_ENOTFOUND},
    };
    char p2[ZPK_CURVE_KEY_SIZE], s2[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(p2, s2), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, cases[i].fmt, s_rfc_pub, s2);
        s_write(s_path(cases[i].name), text);
        strcpy(lp, "x");
        strcpy(ls, "x");
        int rc = zpk_curve_load(s_path(cases[i].name), lp, ls);
        if (rc != cases[i].rc)
            fail_msg("%s: got %s, want %s", cases[i].name, zpk_err_name(rc),
                     zpk_err_name(cases[i].rc));
        assert_string_equal(lp, "");
        assert_string_equal(ls, "");
    }
    /* A line over 255 bytes. */
    char *longline = malloc(1000);
    assert_non_null(longline);
    memset(longline, '#', 999);
    longline[999] = '\0';
    s_write(s_path("long"), longline);
    free(longline);
    assert_int_equal(zpk_curve_load(s_path("long"), lp, ls), ZPK_EFORMAT);
    /* A file over 64 KiB is refused before it is read. */
    FILE *f = fopen(s_path("big"), "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++)
        fputs("# padding padding padding padding padding padding\n", f);
    fclose(f);
    assert_int_equal(zpk_curve_load(s_path("big"), lp, ls), ZPK_ELIMIT);
    /* A device that never ends: refused after one line, nothing allocated. */
    if (access("/dev/zero", R_OK) == 0)
        assert_int_equal(zpk_curve_load("/dev/zero", lp, ls), ZPK_EFORMAT);
}

/* ---- sockets --------------------------------------------------------------- */

static void s_opts(void *s, int rcvtimeo)
{
    int t = rcvtimeo, linger = 0, st = S_TIMEOUT_MS;
    assert_int_equal(zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SNDTIMEO, &st, sizeof st), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), 0);
}

static void s_send_seq(void *pub, uint32_t seq)
{
    uint32_t v[64];
    for (size_t i = 0; i < 64; i++)
        v[i] = seq * 1000u + (uint32_t)i;
    size_t n = 64;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &n, 'C', v), 0);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.topic = "t";
    o.topic_len = 1;
    assert_int_equal(zpk_send_array(pub, &a, &o, NULL), 0);
}

/* Receives one array and returns its sequence number, checking every element. */
static int s_recv_seq(void *sub, int64_t *seq)
{
    zpk_ndarray_t a;
    int rc = zpk_recv_array(sub, NULL, NULL, &a, NULL);
    if (rc != 0)
        return rc;
    const uint32_t *v = a.data;
    assert_int_equal(a.nbytes, 64 * 4);
    *seq = v[0] / 1000u;
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(v[i], (uint32_t)*seq * 1000u + i);
    zpk_ndarray_free(&a);
    return 0;
}

/*
 * Publishes on @p pub until every socket in @p good has received a message
 * (their handshakes are done), then S_COUNT numbered arrays: each good
 * socket gets all of them in order, and every socket in @p bad gets
 * nothing within S_SILENCE_MS.
 */
static void s_stream(void *pub, void **good, size_t ngood, void **bad, size_t nbad)
{
    int64_t seq = -1;
    uint32_t warm = 0;
    bool ready[8] = {false};
    size_t nready = 0;
    assert_true(ngood <= 8);
    for (size_t g = 0; g < ngood; g++)
        s_opts(good[g], 0);
    for (int i = 0; i < S_TIMEOUT_MS / 10 && nready < ngood; i++) {
        s_send_seq(pub, 1000000u + warm++);
        zmq_pollitem_t items[8];
        size_t idx[8], n = 0;
        for (size_t g = 0; g < ngood; g++) {
            if (!ready[g]) {
                items[n] = (zmq_pollitem_t){good[g], 0, ZMQ_POLLIN, 0};
                idx[n++] = g;
            }
        }
        zmq_poll(items, (int)n, 10);
        for (size_t k = 0; k < n; k++) {
            if (items[k].revents & ZMQ_POLLIN) {
                assert_int_equal(s_recv_seq(good[idx[k]], &seq), 0);
                ready[idx[k]] = true;
                nready++;
            }
        }
    }
    assert_int_equal(nready, ngood);
    for (uint32_t i = 0; i < S_COUNT; i++)
        s_send_seq(pub, i);
    for (size_t g = 0; g < ngood; g++) {
        s_opts(good[g], S_TIMEOUT_MS);
        /* Warm-up stragglers first, then 0..S_COUNT-1 in order. */
        uint32_t next = 0;
        while (next < S_COUNT) {
            assert_int_equal(s_recv_seq(good[g], &seq), 0);
            if (seq >= 1000000)
                continue;
            assert_int_equal(seq, next);
            next++;
        }
    }
    for (size_t b = 0; b < nbad; b++) {
        s_opts(bad[b], S_SILENCE_MS);
        zpk_ndarray_t a;
        assert_int_equal(zpk_recv_array(bad[b], NULL, NULL, &a, NULL), -EAGAIN);
    }
}

static void *s_sub(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_SUB);
    assert_non_null(s);
    s_opts(s, S_TIMEOUT_MS);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "t", 1), 0);
    (void)ep;
    return s;
}

static void test_pubsub_keys(void **state)
{
    (void)state;
    S_NEED_CURVE();
    harness_alloc_install();
    void *ctx = zmq_ctx_new();
    char spub[ZPK_CURVE_KEY_SIZE], ssec[ZPK_CURVE_KEY_SIZE];
    char opub[ZPK_CURVE_KEY_SIZE], osec[ZPK_CURVE_KEY_SIZE];
    char cpub[ZPK_CURVE_KEY_SIZE], csec[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(spub, ssec), 0);
    assert_int_equal(zpk_curve_keypair(opub, osec), 0); /* an impostor server's keys */
    assert_int_equal(zpk_curve_keypair(cpub, csec), 0);

    /* The server's keys travel through a key file, as they would in a deployment. */
    char secret_path[512], public_path[512];
    snprintf(secret_path, sizeof secret_path, "%s", s_path("pub.key_secret"));
    snprintf(public_path, sizeof public_path, "%s", s_path("pub.key"));
    assert_int_equal(zpk_curve_save(secret_path, spub, ssec), 0);
    assert_int_equal(zpk_curve_save(public_path, spub, NULL), 0);

    void *pub = zmq_socket(ctx, ZMQ_PUB);
    s_opts(pub, S_TIMEOUT_MS);
    char lp[ZPK_CURVE_KEY_SIZE], ls[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_load(secret_path, lp, ls), 0);
    assert_int_equal(zpk_curve_server(pub, ls), 0);
    assert_int_equal(zmq_bind(pub, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len), 0);

    /* good: knows the server's public key (from the public file), own keypair. */
    void *good = s_sub(ctx, ep);
    char server_key[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_load(public_path, server_key, NULL), 0);
    assert_int_equal(zpk_curve_client(good, server_key, cpub, csec), 0);
    /* good2: an ephemeral keypair is enough without an authenticator. */
    void *good2 = s_sub(ctx, ep);
    assert_int_equal(zpk_curve_client(good2, spub, NULL, NULL), 0);
    /* wrong: believes another server key; plain: no CURVE at all;
     * server: claims to be a CURVE server itself. */
    void *wrong = s_sub(ctx, ep);
    assert_int_equal(zpk_curve_client(wrong, opub, cpub, csec), 0);
    void *plain = s_sub(ctx, ep);
    void *server = s_sub(ctx, ep);
    assert_int_equal(zpk_curve_server(server, osec), 0);
    void *all[] = {good, good2, wrong, plain, server};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(zmq_connect(all[i], ep), 0);

    void *goods[] = {good, good2};
    void *bad[] = {wrong, plain, server};
    s_stream(pub, goods, 2, bad, 3);

    for (size_t i = 0; i < 5; i++)
        zmq_close(all[i]);
    zmq_close(pub);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    harness_alloc_uninstall();
}

/* With an authenticator only listed client keys get in. */
static void test_auth_allowlist(void **state)
{
    (void)state;
    S_NEED_CURVE();
    harness_alloc_install();
    void *ctx = zmq_ctx_new();
    char spub[ZPK_CURVE_KEY_SIZE], ssec[ZPK_CURVE_KEY_SIZE];
    char apub[ZPK_CURVE_KEY_SIZE], asec[ZPK_CURVE_KEY_SIZE];
    char bpub[ZPK_CURVE_KEY_SIZE], bsec[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(spub, ssec), 0);
    assert_int_equal(zpk_curve_keypair(apub, asec), 0);
    assert_int_equal(zpk_curve_keypair(bpub, bsec), 0);

    zpk_curve_auth_t *auth = (zpk_curve_auth_t *)1;
    const char *badlist[] = {"nope"};
    assert_int_equal(zpk_curve_auth_new(ctx, badlist, 1, &auth), ZPK_EINVAL);
    assert_null(auth);
    assert_int_equal(zpk_curve_auth_new(NULL, NULL, 0, &auth), ZPK_EINVAL);
    assert_int_equal(zpk_curve_auth_new(ctx, NULL, 1, &auth), ZPK_EINVAL);

    const char *allowed[] = {apub, s_rfc_pub};
    assert_int_equal(zpk_curve_auth_new(ctx, allowed, 2, NULL), ZPK_EINVAL); /* no output */
    const char *with_null[] = {apub, NULL};
    assert_int_equal(zpk_curve_auth_new(ctx, with_null, 2, &auth), ZPK_EINVAL);
    assert_null(auth);
    assert_int_equal(zpk_curve_auth_new(ctx, allowed, 2, &auth), 0);
    assert_non_null(auth);
    zpk_curve_auth_t *second = NULL;
    assert_int_equal(zpk_curve_auth_new(ctx, allowed, 2, &second), -EADDRINUSE);
    assert_null(second);

    void *pub = zmq_socket(ctx, ZMQ_PUB);
    s_opts(pub, S_TIMEOUT_MS);
    assert_int_equal(zpk_curve_server(pub, ssec), 0);
    assert_int_equal(zmq_bind(pub, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len), 0);

    void *a = s_sub(ctx, ep), *b = s_sub(ctx, ep), *eph = s_sub(ctx, ep);
    assert_int_equal(zpk_curve_client(a, spub, apub, asec), 0);
    assert_int_equal(zpk_curve_client(b, spub, bpub, bsec), 0);   /* knows the server, not listed */
    assert_int_equal(zpk_curve_client(eph, spub, NULL, NULL), 0); /* ephemeral: not listed */
    assert_int_equal(zmq_connect(a, ep), 0);
    assert_int_equal(zmq_connect(b, ep), 0);
    assert_int_equal(zmq_connect(eph, ep), 0);

    void *bad[] = {b, eph};
    s_stream(pub, &a, 1, bad, 2);
    size_t admitted = 0, refused = 0;
    zpk_curve_auth_counts(auth, &admitted, &refused);
    assert_true(admitted >= 1);
    assert_true(refused >= 2); /* b and eph, maybe more (they retry) */
    zpk_curve_auth_counts(NULL, &admitted, &refused);
    assert_int_equal(admitted, 0);
    assert_int_equal(refused, 0);

    zmq_close(a);
    zmq_close(b);
    zmq_close(eph);
    zmq_close(pub);
    zpk_curve_auth_destroy(&auth);
    assert_null(auth);
    zpk_curve_auth_destroy(&auth);
    zpk_curve_auth_destroy(NULL);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    harness_alloc_uninstall();
}

/* Out of memory in zpk_curve_auth_new(): a clean error, nothing leaked. */
static void test_auth_nomem(void **state)
{
    (void)state;
    S_NEED_CURVE();
    harness_alloc_install();
    void *ctx = zmq_ctx_new();
    const char *allowed[] = {s_rfc_pub};
    for (size_t k = 1; k <= 2; k++) {
        zpk_curve_auth_t *auth = NULL;
        harness_alloc_fail_after(k);
        assert_int_equal(zpk_curve_auth_new(ctx, allowed, 1, &auth), ZPK_ENOMEM);
        assert_null(auth);
    }
    harness_alloc_fail_after(0);
    /* The failed attempts left the ZAP endpoint free. */
    zpk_curve_auth_t *auth = NULL;
    assert_int_equal(zpk_curve_auth_new(ctx, allowed, 1, &auth), 0);
    zpk_curve_auth_destroy(&auth);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    harness_alloc_uninstall();
}

/*
 * A raw tcp peer speaking ZMTP 1.0 (no greeting, no security): a plain PULL
 * takes its frames as messages (refused as foreign by zmqpack), a CURVE
 * server refuses the connection and receives nothing.
 */
static int s_raw_zmtp10(const char *ep)
{
    const char *colon = strrchr(ep, ':');
    assert_non_null(colon);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    /* an empty identity frame, then the message "hello" (length includes the flags byte) */
    static const uint8_t bytes[] = {0x01, 0x00, 0x06, 0x00, 'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(send(fd, bytes, sizeof bytes, MSG_NOSIGNAL), (ssize_t)sizeof bytes);
    return fd;
}

static void test_zmtp10_refused(void **state)
{
    (void)state;
    S_NEED_CURVE();
    void *ctx = zmq_ctx_new();
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(pub, sec), 0);
    for (int curve = 0; curve < 2; curve++) {
        void *pull = zmq_socket(ctx, ZMQ_PULL);
        s_opts(pull, curve ? S_SILENCE_MS : S_TIMEOUT_MS);
        if (curve)
            assert_int_equal(zpk_curve_server(pull, sec), 0);
        assert_int_equal(zmq_bind(pull, "tcp://127.0.0.1:*"), 0);
        char ep[256];
        size_t len = sizeof ep;
        assert_int_equal(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len), 0);
        int fd = s_raw_zmtp10(ep);
        zpk_ndarray_t a;
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &a, NULL), curve ? -EAGAIN : ZPK_EFOREIGN);
        close(fd);
        zmq_close(pull);
    }
    assert_int_equal(zmq_ctx_term(ctx), 0);
}

/* In a CZMQ build the helpers take a zsock_t * too. */
static void test_czmq_zsock(void **state)
{
    (void)state;
#if ZPK_HAVE_CZMQ
    S_NEED_CURVE();
    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE];
    assert_int_equal(zpk_curve_keypair(pub, sec), 0);
    zsock_t *server = zsock_new(ZMQ_PUB), *client = zsock_new(ZMQ_SUB);
    assert_non_null(server);
    assert_non_null(client);
    assert_int_equal(zpk_curve_server(server, sec), 0);
    assert_int_equal(zsock_curve_server(server), 1);
    assert_int_equal(zpk_curve_client(client, pub, NULL, NULL), 0);
    char *key = zsock_curve_serverkey(client);
    assert_non_null(key);
    assert_string_equal(key, pub);
    zstr_free(&key);
    assert_int_equal(zsock_mechanism(client), ZMQ_CURVE);
    zsock_destroy(&client);
    zsock_destroy(&server);
#else
    print_message("built without CZMQ: skipped\n");
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_keypair),
        cmocka_unit_test(test_setopt_errors),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_zcert),
        cmocka_unit_test(test_load_malformed),
        cmocka_unit_test(test_pubsub_keys),
        cmocka_unit_test(test_auth_allowlist),
        cmocka_unit_test(test_auth_nomem),
        cmocka_unit_test(test_zmtp10_refused),
        cmocka_unit_test(test_czmq_zsock),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
