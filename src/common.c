/* Error table, allocator hooks, version. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------- */

/* libzmq's own errno values (zmq.h: ZMQ_HAUSNUMERO + n). Kept here so the
 * common layer can name them without including zmq.h. */
#define S_ZMQ_HAUSNUMERO 156384712
static const struct {
    int value;
    const char *name;
    const char *msg;
} s_zmq_errors[] = {
    {S_ZMQ_HAUSNUMERO + 51, "EFSM", "operation cannot be accomplished in current state"},
    {S_ZMQ_HAUSNUMERO + 52, "ENOCOMPATPROTO", "the protocol is not compatible with the socket type"},
    {S_ZMQ_HAUSNUMERO + 53, "ETERM", "context was terminated"},
    {S_ZMQ_HAUSNUMERO + 54, "EMTHREAD", "no thread available"},
};

const char *zpk_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define S_CASE(name, value, msg) \
    case value:                  \
        return msg;
        ZPK_ERRNO_MAP(S_CASE)
#undef S_CASE
    default:
        break;
    }
    if (code < 0) {
        for (size_t i = 0; i < sizeof s_zmq_errors / sizeof s_zmq_errors[0]; i++)
            if (s_zmq_errors[i].value == -code)
                return s_zmq_errors[i].msg;
        if (strerrorname_np(-code) != NULL)
            return strerrordesc_np(-code);
    }
    return "unknown error";
}

const char *zpk_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define S_CASE(name, value, msg) \
    case value:                  \
        return #name;
        ZPK_ERRNO_MAP(S_CASE)
#undef S_CASE
    default:
        break;
    }
    if (code < 0) {
        for (size_t i = 0; i < sizeof s_zmq_errors / sizeof s_zmq_errors[0]; i++)
            if (s_zmq_errors[i].value == -code)
                return s_zmq_errors[i].name;
        const char *name = strerrorname_np(-code);
        if (name != NULL)
            return name;
    }
    return "UNKNOWN";
}

void zpk_error_clear(zpk_error_t *err)
{
    zpk__error_reset(err);
}

int zpk__error(zpk_error_t *err, int code, size_t offset, const char *fmt, ...)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    err->offset = offset;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    } else { /* a plain copy: this is the path of frequent errors (-EAGAIN) */
        const char *why = zpk_strerror(code);
        size_t n = strlen(why);
        if (n >= sizeof err->text)
            n = sizeof err->text - 1;
        memcpy(err->text, why, n);
        err->text[n] = '\0';
    }
    return code;
}

/* ---- allocator ---------------------------------------------------------- */

static void *s_libc_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *s_libc_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return realloc(ptr, size);
}

static void s_libc_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}

static zpk_allocator_t s_alloc = {s_libc_malloc, s_libc_realloc, s_libc_free, NULL};

int zpk_set_allocator(const zpk_allocator_t *alloc)
{
    if (alloc == NULL) {
        s_alloc = (zpk_allocator_t){s_libc_malloc, s_libc_realloc, s_libc_free, NULL};
        return 0;
    }
    if (alloc->malloc_fn == NULL || alloc->realloc_fn == NULL || alloc->free_fn == NULL)
        return ZPK_EINVAL;
    s_alloc = *alloc;
    return 0;
}

void zpk_get_allocator(zpk_allocator_t *out)
{
    if (out != NULL)
        *out = s_alloc;
}

void *zpk__malloc(size_t size)
{
    return s_alloc.malloc_fn(size ? size : 1, s_alloc.ud);
}

void *zpk__calloc(size_t n, size_t size)
{
    size_t total;
    if (!zpk__mul_size(n, size, &total))
        return NULL;
    void *p = zpk__malloc(total);
    if (p != NULL)
        memset(p, 0, total);
    return p;
}

void *zpk__realloc(void *ptr, size_t size)
{
    return s_alloc.realloc_fn(ptr, size ? size : 1, s_alloc.ud);
}

void zpk__free(void *ptr)
{
    if (ptr != NULL)
        s_alloc.free_fn(ptr, s_alloc.ud);
}

void *zpk_malloc(size_t size) { return zpk__malloc(size); }
void *zpk_realloc(void *ptr, size_t size) { return zpk__realloc(ptr, size); }
void zpk_free(void *ptr) { zpk__free(ptr); }

/* ---- version ------------------------------------------------------------ */

unsigned zpk_version(void) { return ZPK_VERSION_HEX; }
const char *zpk_version_string(void) { return ZPK_VERSION_STRING; }
