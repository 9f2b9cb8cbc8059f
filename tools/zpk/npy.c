/*
 * A reader for numpy's .npy header (format versions 1.0, 2.0 and 3.0, as
 * documented in numpy/lib/format.py):
 *
 *   "\x93NUMPY" major minor HEADER_LEN (uint16 LE for 1.x, uint32 LE for 2.x/3.x)
 *   HEADER: a Python dict literal, e.g.
 *           {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 *           padded with spaces and a final '\n'
 *   then the raw array bytes.
 *
 * Only the three keys numpy writes are accepted; structured dtypes (a list
 * as 'descr') are refused. Every size is checked against the file length.
 */
#include <string.h>

#include "zpk.h"

typedef struct s_lex {
    const char *p, *end;
} s_lex_t;

static void s_ws(s_lex_t *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static bool s_char(s_lex_t *l, char c)
{
    s_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes (numpy never writes any here). */
static bool s_string(s_lex_t *l, char *out, size_t cap)
{
    s_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
        return false;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || n + 1 >= cap)
            return false;
        out[n++] = *l->p++;
    }
    if (l->p >= l->end)
        return false;
    l->p++;
    out[n] = '\0';
    return true;
}

static bool s_word(s_lex_t *l, const char *w)
{
    s_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) >= n && memcmp(l->p, w, n) == 0) {
        l->p += n;
        return true;
    }
    return false;
}

static bool s_uint(s_lex_t *l, uint64_t *out)
{
    s_ws(l);
    if (l->p >= l->end || *l->p < '0' || *l->p > '9')
        return false;
    uint64_t v = 0;
    while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
        unsigned d = (unsigned)(*l->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        l->p++;
    }
    if (l->p < l->end && *l->p == 'L') /* Python 2 longs in old files */
        l->p++;
    *out = v;
    return true;
}

int zt_npy_parse(const uint8_t *data, size_t len, zt_npy_t *out, const char **why)
{
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(data, magic, 6) != 0) {
        *why = "not a .npy file (bad magic)";
        return -1;
    }
    unsigned major = data[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)data[8] | (size_t)data[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            *why = "truncated .npy header";
            return -1;
        }
        hlen = (size_t)data[8] | (size_t)data[9] << 8 | (size_t)data[10] << 16
               | (size_t)data[11] << 24;
        hstart = 12;
    } else {
        *why = "unsupported .npy format version";
        return -1;
    }
    if (hlen > len - hstart) {
        *why = "truncated .npy header";
        return -1;
    }
    s_lex_t l = {(const char *)data + hstart, (const char *)data + hstart + hlen};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!s_char(&l, '{'))
        goto bad;
    for (;;) {
        char key[32];
        if (s_char(&l, '}'))
            break;
        if (!s_string(&l, key, sizeof key) || !s_char(&l, ':'))
            goto bad;
        if (!strcmp(key, "descr")) {
            if (!s_string(&l, out->descr, sizeof out->descr)) {
                *why = "unsupported dtype in .npy file (structured dtypes are not supported)";
                return -1;
            }
            have_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (s_word(&l, "True"))
                out->fortran_order = true;
            else if (s_word(&l, "False"))
                out->fortran_order = false;
            else
                goto bad;
            have_order = true;
        } else if (!strcmp(key, "shape")) {
            if (!s_char(&l, '('))
                goto bad;
            while (!s_char(&l, ')')) {
                if (out->ndim >= ZT_NPY_MAX_DIMS) {
                    *why = "too many dimensions in .npy file";
                    return -1;
                }
                if (!s_uint(&l, &out->shape[out->ndim]))
                    goto bad;
                out->ndim++;
                if (!s_char(&l, ',')) {
                    if (!s_char(&l, ')'))
                        goto bad;
                    break;
                }
            }
            have_shape = true;
        } else {
            goto bad;
        }
        if (!s_char(&l, ',')) {
            if (!s_char(&l, '}'))
                goto bad;
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        goto bad;
    out->data = data + hstart + hlen;
    out->data_len = len - hstart - hlen;
    return 0;
bad:
    *why = "malformed .npy header";
    return -1;
}
