/*
 * CURVE helpers (zmqpack/curve.h): keys, socket options, zcert-format key
 * files and a small ZAP authenticator. Part of the socket layer: this file
 * includes zmq.h.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>
#if ZPK_HAVE_CZMQ
#  include <czmq.h>
#endif

#include "zmqpack/curve.h"

#define S_KEY_BIN 32
#define S_LINE_MAX 256
#define S_FILE_MAX ((long)64 * 1024)

static void *s_resolve(void *socket)
{
#if ZPK_HAVE_CZMQ
    if (socket != NULL)
        return zsock_resolve(socket);
#endif
    return socket;
}

/* Clears secrets in a way the compiler may not drop. */
static void s_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static int s_errno(void)
{
    int e = zmq_errno();
    return e > 0 ? -e : ZPK_EIO;
}

bool zpk_curve_available(void)
{
    return zmq_has("curve") != 0;
}

bool zpk_curve_key_valid(const char *z85)
{
    /* ZMQ RFC 32's alphabet. */
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (z85 == NULL)
        return false;
    size_t i = 0;
    for (; i < ZPK_CURVE_KEY_LEN; i++) {
        if (z85[i] == '\0' || strchr(alphabet, z85[i]) == NULL)
            return false;
    }
    if (z85[i] != '\0')
        return false;
    /* Every 5-character group must decode to a value below 2^32. */
    uint8_t bin[S_KEY_BIN];
    bool ok = zmq_z85_decode(bin, z85) != NULL;
    s_wipe(bin, sizeof bin);
    return ok;
}

int zpk_curve_keypair(char *public_z85, char *secret_z85)
{
    if (public_z85 == NULL || secret_z85 == NULL)
        return ZPK_EINVAL;
    if (!zpk_curve_available())
        return -ENOTSUP;
    if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
        int rc = s_errno();
        public_z85[0] = secret_z85[0] = '\0';
        return rc;
    }
    return 0;
}

int zpk_curve_public(char *public_z85, const char *secret_z85)
{
    if (public_z85 == NULL)
        return ZPK_EINVAL;
    public_z85[0] = '\0';
    if (!zpk_curve_key_valid(secret_z85))
        return ZPK_EINVAL;
    if (!zpk_curve_available())
        return -ENOTSUP;
    if (zmq_curve_public(public_z85, secret_z85) != 0) {
        public_z85[0] = '\0';
        return s_errno();
    }
    return 0;
}

/* True when @p pub is the public key of @p sec (both valid). */
static int s_pair_check(const char *pub, const char *sec)
{
    char derived[ZPK_CURVE_KEY_SIZE];
    int rc = zpk_curve_public(derived, sec);
    if (rc != 0)
        return rc;
    rc = strcmp(derived, pub) == 0 ? 0 : ZPK_EINVAL;
    s_wipe(derived, sizeof derived);
    return rc;
}

static int s_setopt(void *zs, int opt, const void *val, size_t len)
{
    return zmq_setsockopt(zs, opt, val, len) == 0 ? 0 : s_errno();
}

int zpk_curve_server(void *socket, const char *secret_z85)
{
    if (socket == NULL || !zpk_curve_key_valid(secret_z85))
        return ZPK_EINVAL;
    if (!zpk_curve_available())
        return -ENOTSUP;
    void *zs = s_resolve(socket);
    int one = 1;
    int rc = s_setopt(zs, ZMQ_CURVE_SERVER, &one, sizeof one);
    if (rc == 0)
        rc = s_setopt(zs, ZMQ_CURVE_SECRETKEY, secret_z85, ZPK_CURVE_KEY_LEN);
    return rc;
}

int zpk_curve_client(void *socket, const char *server_public_z85, const char *public_z85,
                     const char *secret_z85)
{
    if (socket == NULL || !zpk_curve_key_valid(server_public_z85))
        return ZPK_EINVAL;
    if ((public_z85 == NULL) != (secret_z85 == NULL))
        return ZPK_EINVAL;
    if (public_z85 != NULL
        && (!zpk_curve_key_valid(public_z85) || !zpk_curve_key_valid(secret_z85)))
        return ZPK_EINVAL;
    if (!zpk_curve_available())
        return -ENOTSUP;

    char pub[ZPK_CURVE_KEY_SIZE], sec[ZPK_CURVE_KEY_SIZE];
    int rc;
    if (public_z85 == NULL) {
        rc = zpk_curve_keypair(pub, sec);
    } else {
        rc = s_pair_check(public_z85, secret_z85);
        if (rc == 0) {
            memcpy(pub, public_z85, sizeof pub);
            memcpy(sec, secret_z85, sizeof sec);
        }
    }
    void *zs = s_resolve(socket);
    if (rc == 0)
        rc = s_setopt(zs, ZMQ_CURVE_SERVERKEY, server_public_z85, ZPK_CURVE_KEY_LEN);
    if (rc == 0)
        rc = s_setopt(zs, ZMQ_CURVE_PUBLICKEY, pub, ZPK_CURVE_KEY_LEN);
    if (rc == 0)
        rc = s_setopt(zs, ZMQ_CURVE_SECRETKEY, sec, ZPK_CURVE_KEY_LEN);
    s_wipe(sec, sizeof sec);
    return rc;
}

/* ---- key files ------------------------------------------------------------ */

/* Strips surrounding blanks and one pair of quotes; returns the value. */
static char *s_value(char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        v[--n] = '\0';
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        v++;
    }
    return v;
}

static int s_parse(FILE *f, char *pub, char *sec, bool *have_pub, bool *have_sec)
{
    char line[S_LINE_MAX];
    bool in_curve = false, in_section = false;
    int rc = 0;
    long total = 0; /* the size was checked, but a special file may not say */
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        total += (long)n;
        if (total > S_FILE_MAX) {
            rc = ZPK_ELIMIT;
            break;
        }
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        } else if (!feof(f)) {
            rc = ZPK_EFORMAT; /* line too long */
            break;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#' || *p == '\r')
            continue;
        if (p == line) { /* a section name in column 0 */
            char *name = s_value(p);
            in_section = true;
            in_curve = strcmp(name, "curve") == 0;
            continue;
        }
        if (!in_section) {
            rc = ZPK_EFORMAT;
            break;
        }
        char *eq = strchr(p, '=');
        if (eq == NULL) { /* a child section: it ends the curve properties */
            in_curve = false;
            continue;
        }
        *eq = '\0';
        char *key = s_value(p);
        char *val = s_value(eq + 1);
        if (!in_curve)
            continue;
        char *dst = NULL;
        bool *flag = NULL;
        if (strcmp(key, "public-key") == 0) {
            dst = pub;
            flag = have_pub;
        } else if (strcmp(key, "secret-key") == 0) {
            dst = sec;
            flag = have_sec;
        }
        if (dst == NULL)
            continue;
        if (!zpk_curve_key_valid(val)) {
            rc = ZPK_EFORMAT;
            break;
        }
        memcpy(dst, val, ZPK_CURVE_KEY_SIZE);
        *flag = true;
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    s_wipe(line, sizeof line);
    return rc;
}

int zpk_curve_load(const char *path, char *public_z85, char *secret_z85)
{
    if (public_z85 != NULL)
        public_z85[0] = '\0';
    if (secret_z85 != NULL)
        secret_z85[0] = '\0';
    if (path == NULL || public_z85 == NULL)
        return ZPK_EINVAL;

    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno > 0 ? -errno : ZPK_EIO;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return e > 0 ? -e : ZPK_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return -EISDIR;
    }
    if (st.st_size > S_FILE_MAX) {
        fclose(f);
        return ZPK_ELIMIT;
    }
    char pub[ZPK_CURVE_KEY_SIZE] = "", sec[ZPK_CURVE_KEY_SIZE] = "";
    bool have_pub = false, have_sec = false;
    int rc = s_parse(f, pub, sec, &have_pub, &have_sec);
    fclose(f);

    if (rc == 0 && have_sec && !have_pub) {
        rc = zpk_curve_public(pub, sec);
        have_pub = rc == 0;
    } else if (rc == 0 && have_sec) {
        rc = s_pair_check(pub, sec);
        if (rc == ZPK_EINVAL)
            rc = ZPK_EFORMAT;
    }
    if (rc == 0 && (!have_pub || (secret_z85 != NULL && !have_sec)))
        rc = ZPK_ENOTFOUND;
    if (rc == 0) {
        memcpy(public_z85, pub, sizeof pub);
        if (secret_z85 != NULL)
            memcpy(secret_z85, sec, sizeof sec);
    }
    s_wipe(sec, sizeof sec);
    return rc;
}

int zpk_curve_save(const char *path, const char *public_z85, const char *secret_z85)
{
    if (path == NULL || !zpk_curve_key_valid(public_z85))
        return ZPK_EINVAL;
    if (secret_z85 != NULL) {
        if (!zpk_curve_key_valid(secret_z85))
            return ZPK_EINVAL;
        int rc = s_pair_check(public_z85, secret_z85);
        if (rc != 0)
            return rc;
    }
    mode_t mode = secret_z85 != NULL ? 0600 : 0644;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return errno > 0 ? -errno : ZPK_EIO;
    /* An existing file keeps its mode through O_TRUNC: tighten it. */
    if (secret_z85 != NULL && fchmod(fd, 0600) != 0) {
        int e = errno;
        close(fd);
        return e > 0 ? -e : ZPK_EIO;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        return e > 0 ? -e : ZPK_EIO;
    }
    if (secret_z85 != NULL)
        fprintf(f, "#   ****  Generated by zmqpack %s  ****\n"
                   "#   ZeroMQ CURVE **Secret** Certificate\n"
                   "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n",
                zpk_version_string());
    else
        fprintf(f, "#   ****  Generated by zmqpack %s  ****\n"
                   "#   ZeroMQ CURVE Public Certificate\n"
                   "#   Exchange securely, or use a secure mechanism to verify the contents\n"
                   "#   of this file after exchange. Store public certificates in your home\n"
                   "#   directory, in the .curve subdirectory.\n\n",
                zpk_version_string());
    fprintf(f, "metadata\ncurve\n    public-key = \"%s\"\n", public_z85);
    if (secret_z85 != NULL)
        fprintf(f, "    secret-key = \"%s\"\n", secret_z85);
    int rc = 0;
    if (fflush(f) != 0 || ferror(f))
        rc = errno > 0 ? -errno : ZPK_EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = errno > 0 ? -errno : ZPK_EIO;
    return rc;
}

/* ---- authenticator (ZAP, ZMQ RFC 27) --------------------------------------- */

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_FRAMES 8

struct zpk_curve_auth {
    void *zap;      /* REP bound to the ZAP endpoint; used by the thread only */
    void *pipe;     /* PAIR: the caller's end of the stop pipe */
    void *pipe_in;  /* PAIR: the thread's end */
    pthread_t thread;
    size_t nkeys;
    uint8_t (*keys)[S_KEY_BIN];
    atomic_size_t admitted, refused;
};

static bool s_allowed(const zpk_curve_auth_t *a, const zmq_msg_t *cred)
{
    if (zmq_msg_size((zmq_msg_t *)cred) != S_KEY_BIN)
        return false;
    const void *k = zmq_msg_data((zmq_msg_t *)cred);
    for (size_t i = 0; i < a->nkeys; i++) {
        if (memcmp(a->keys[i], k, S_KEY_BIN) == 0)
            return true;
    }
    return false;
}

static int s_send_str(void *zs, const char *s, int more)
{
    return zmq_send(zs, s, strlen(s), more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Answers one ZAP request; returns -1 when the socket is unusable (ETERM). */
static int s_zap_serve(zpk_curve_auth_t *a)
{
    zmq_msg_t f[S_ZAP_FRAMES];
    size_t n = 0;
    int more = 1, rc = 0;
    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *m = n < S_ZAP_FRAMES ? &f[n] : &extra; /* extra frames are dropped */
        zmq_msg_init(m);
        if (zmq_msg_recv(m, a->zap, 0) < 0) {
            zmq_msg_close(m);
            rc = -1;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            n++;
    }
    if (rc == 0) {
        /* version, request id, domain, address, identity, mechanism, credentials... */
        bool ok_req = n >= 6 && zmq_msg_size(&f[0]) == 3
                      && memcmp(zmq_msg_data(&f[0]), "1.0", 3) == 0;
        const char *status = "400", *text = "refused";
        if (ok_req) {
            size_t ml = zmq_msg_size(&f[5]);
            const char *mech = zmq_msg_data(&f[5]);
            if (ml == 5 && memcmp(mech, "CURVE", 5) == 0 && n >= 7 && s_allowed(a, &f[6])) {
                status = "200";
                text = "OK";
            } else if (ml == 4 && memcmp(mech, "NULL", 4) == 0) {
                status = "200";
                text = "OK";
            }
        }
        if (status[0] == '2')
            atomic_fetch_add(&a->admitted, 1);
        else
            atomic_fetch_add(&a->refused, 1);
        /* Reply: version, request id, status code, status text, user id, metadata. */
        if (s_send_str(a->zap, "1.0", 1) != 0)
            rc = -1;
        if (rc == 0) {
            const void *id = n >= 2 ? zmq_msg_data(&f[1]) : "";
            size_t idn = n >= 2 ? zmq_msg_size(&f[1]) : 0;
            if (zmq_send(a->zap, id, idn, ZMQ_SNDMORE) < 0)
                rc = -1;
        }
        if (rc == 0 && (s_send_str(a->zap, status, 1) != 0 || s_send_str(a->zap, text, 1) != 0
                        || s_send_str(a->zap, "", 1) != 0 || s_send_str(a->zap, "", 0) != 0))
            rc = -1;
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return rc;
}

static void *s_auth_thread(void *arg)
{
    zpk_curve_auth_t *a = arg;
    for (;;) {
        zmq_pollitem_t items[2] = {
            {a->pipe_in, 0, ZMQ_POLLIN, 0},
            {a->zap, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            break;
        if ((items[1].revents & ZMQ_POLLIN) && s_zap_serve(a) != 0)
            break;
    }
    int zero = 0;
    zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(a->zap);
    a->zap = NULL;
    /* Tell the caller we are gone (it may be waiting in destroy). */
    zmq_send(a->pipe_in, "", 0, ZMQ_DONTWAIT);
    return NULL;
}

static void s_auth_free(zpk_curve_auth_t *a)
{
    int zero = 0;
    void *socks[3] = {a->zap, a->pipe, a->pipe_in};
    for (size_t i = 0; i < 3; i++) {
        if (socks[i] != NULL) {
            zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(socks[i]);
        }
    }
    if (a->keys != NULL)
        s_wipe(a->keys, a->nkeys * S_KEY_BIN);
    zpk__free(a->keys);
    zpk__free(a);
}

int zpk_curve_auth_new(void *ctx, const char *const *allowed, size_t n, zpk_curve_auth_t **out)
{
    if (out == NULL)
        return ZPK_EINVAL;
    *out = NULL;
    if (ctx == NULL || (n > 0 && allowed == NULL))
        return ZPK_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!zpk_curve_key_valid(allowed[i]))
            return ZPK_EINVAL;
    }
    if (!zpk_curve_available())
        return -ENOTSUP;

    zpk_curve_auth_t *a = zpk__calloc(1, sizeof *a);
    if (a == NULL)
        return ZPK_ENOMEM;
    atomic_init(&a->admitted, 0);
    atomic_init(&a->refused, 0);
    if (n > 0) {
        a->keys = zpk__calloc(n, S_KEY_BIN);
        if (a->keys == NULL) {
            zpk__free(a);
            return ZPK_ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
            zmq_z85_decode(a->keys[i], allowed[i]);
        a->nkeys = n;
    }

    int rc = 0;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://zpk-curve-auth-%p", (void *)a);
    a->zap = zmq_socket(ctx, ZMQ_REP);
    a->pipe = zmq_socket(ctx, ZMQ_PAIR);
    a->pipe_in = zmq_socket(ctx, ZMQ_PAIR);
    if (a->zap == NULL || a->pipe == NULL || a->pipe_in == NULL)
        rc = s_errno();
    if (rc == 0 && zmq_bind(a->zap, S_ZAP_ENDPOINT) != 0)
        rc = s_errno();
    if (rc == 0 && zmq_bind(a->pipe, ep) != 0)
        rc = s_errno();
    if (rc == 0 && zmq_connect(a->pipe_in, ep) != 0)
        rc = s_errno();
    if (rc == 0) {
        int e = pthread_create(&a->thread, NULL, s_auth_thread, a);
        if (e != 0)
            rc = -e;
    }
    if (rc != 0) {
        s_auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void zpk_curve_auth_counts(zpk_curve_auth_t *a, size_t *admitted, size_t *refused)
{
    if (admitted != NULL)
        *admitted = a != NULL ? atomic_load(&a->admitted) : 0;
    if (refused != NULL)
        *refused = a != NULL ? atomic_load(&a->refused) : 0;
}

void zpk_curve_auth_destroy(zpk_curve_auth_t **pa)
{
    if (pa == NULL || *pa == NULL)
        return;
    zpk_curve_auth_t *a = *pa;
    *pa = NULL;
    /* A stop message; if the context is already terminated the thread has
     * left its poll with ETERM on its own. */
    zmq_send(a->pipe, "", 0, ZMQ_DONTWAIT);
    pthread_join(a->thread, NULL);
    s_auth_free(a);
}
