/*
 * zpk cat / zpk pub: put zmqpack messages on a socket and take them off,
 * one JSON line per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>
#include <zmqpack.h>

#include "zpk.h"
#include "zpk_array.h"

/* ---- shared: sockets -------------------------------------------------------- */

typedef struct s_type {
    const char *name;
    int type;
} s_type_t;

static int s_socket_type(const s_type_t *table, const char *name)
{
    for (; table->name; table++)
        if (!strcmp(table->name, name))
            return table->type;
    return -1;
}

static int s_zerr(void)
{
    return -zmq_errno();
}

/*
 * Binds or connects @p s to @p endpoint; on failure prints the error and
 * returns the exit code. Connecting to an endpoint nobody listens on is not
 * an error for libzmq: that shows later as a timeout.
 */
static int s_attach(const char *cmd, void *s, const char *endpoint, bool bind)
{
    if ((bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) == 0)
        return 0;
    int e = s_zerr();
    zt_fail(cmd, e, "cannot %s '%s'", bind ? "bind" : "connect", endpoint);
    return e == -EINVAL || e == -EPROTONOSUPPORT ? ZT_EXIT_USAGE : ZT_EXIT_ERROR;
}

/* ---- .npy files -> arrays ----------------------------------------------------- */

/*
 * Maps @p path and describes its array in @p a (data points into the
 * mapping, released with munmap(*map, *map_len)). Returns 0 or an exit code
 * after printing the reason.
 */
static int s_load_npy(const char *cmd, const char *path, zpk_array_t *a, void **map,
                      size_t *map_len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return zt_fail(cmd, -errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return zt_fail(cmd, 0, "'%s': empty or unreadable file", path);
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return zt_fail(cmd, -errno, "cannot map '%s'", path);
    zt_npy_t npy;
    const char *why = NULL;
    int rc = ZT_EXIT_ERROR;
    if (zt_npy_parse(m, len, &npy, &why) != 0) {
        zt_fail(cmd, 0, "'%s': %s", path, why);
        goto fail;
    }
    zpk_dtype_t dt;
    zpk_error_t err;
    zpk_error_clear(&err);
    int e = zpk_dtype_parse(npy.descr, strlen(npy.descr), &dt, &err);
    if (e) {
        zt_fail(cmd, e, "'%s': dtype '%s'", path, npy.descr);
        goto fail;
    }
    size_t shape[ZPK_MAX_NDIM];
    for (int i = 0; i < npy.ndim; i++) {
        if (npy.shape[i] > SIZE_MAX) {
            zt_fail(cmd, ZPK_EOVERFLOW, "'%s': shape", path);
            goto fail;
        }
        shape[i] = (size_t)npy.shape[i];
    }
    e = zpk_array_init(a, dt, npy.ndim, shape, npy.fortran_order ? ZPK_ORDER_F : ZPK_ORDER_C,
                       (void *)npy.data);
    if (e) {
        zt_fail(cmd, e, "'%s': shape", path);
        goto fail;
    }
    if (a->nbytes > npy.data_len) {
        zt_fail(cmd, 0, "'%s': truncated: the header declares %zu bytes of data, the file has %zu",
                path, a->nbytes, npy.data_len);
        goto fail;
    }
    *map = m;
    *map_len = len;
    return 0;
fail:
    munmap(m, len);
    return rc;
}

/* ZPK_NET_BELOW (cat and pub, on the socket layer) */
