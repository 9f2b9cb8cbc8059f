/* Ext types: the built-in timestamp (-1) and the registry of user types. */
#include <string.h>

#include "byteorder.h"
#include "internal.h"
#include "zmqpack/msgpack.h"

/* ---- timestamps -------------------------------------------------------------- */

#define S_NSEC_MAX 999999999u

int zpk_timestamp_encode(int64_t sec, uint32_t nsec, uint8_t out[12], size_t *len)
{
    if (nsec > S_NSEC_MAX || out == NULL || len == NULL)
        return ZPK_EINVAL;
    if (sec >= 0 && ((uint64_t)sec >> 34) == 0) {
        uint64_t data64 = (uint64_t)nsec << 34 | (uint64_t)sec;
        if ((data64 >> 32) == 0) {
            zpk__put_be32(out, (uint32_t)data64); /* timestamp 32 */
            *len = 4;
        } else {
            zpk__put_be64(out, data64); /* timestamp 64 */
            *len = 8;
        }
        return 0;
    }
    zpk__put_be32(out, nsec); /* timestamp 96 */
    zpk__put_be64(out + 4, (uint64_t)sec);
    *len = 12;
    return 0;
}

int zpk_timestamp_decode(const void *data, size_t len, zpk_timestamp_t *ts)
{
    const uint8_t *p = data;
    if (ts == NULL)
        return ZPK_EINVAL;
    if (len != 4 && len != 8 && len != 12)
        return ZPK_EFORMAT;
    if (p == NULL)
        return ZPK_EINVAL;
    switch (len) {
    case 4:
        ts->sec = (int64_t)zpk__get_be32(p);
        ts->nsec = 0;
        return 0;
    case 8: {
        uint64_t d = zpk__get_be64(p);
        uint32_t nsec = (uint32_t)(d >> 34);
        if (nsec > S_NSEC_MAX)
            return ZPK_EFORMAT;
        ts->sec = (int64_t)(d & (((uint64_t)1 << 34) - 1));
        ts->nsec = nsec;
        return 0;
    }
    case 12: {
        uint32_t nsec = zpk__get_be32(p);
        if (nsec > S_NSEC_MAX)
            return ZPK_EFORMAT;
        uint64_t s = zpk__get_be64(p + 4);
        int64_t sec;
        memcpy(&sec, &s, sizeof sec); /* two's complement reinterpretation */
        ts->sec = sec;
        ts->nsec = nsec;
        return 0;
    }
    default:
        return ZPK_EFORMAT;
    }
}

/* ---- registry ---------------------------------------------------------------- */

typedef struct {
    zpk_ext_encode_fn encode;
    zpk_ext_decode_fn decode;
    void *ud;
    bool used;
} s_entry_t;

struct zpk_ext_registry {
    s_entry_t entry[128]; /* type codes 0..127 */
};

zpk_ext_registry_t *zpk_ext_registry_new(void)
{
    return zpk__calloc(1, sizeof(zpk_ext_registry_t));
}

void zpk_ext_registry_destroy(zpk_ext_registry_t **reg)
{
    if (reg == NULL || *reg == NULL)
        return;
    zpk__free(*reg);
    *reg = NULL;
}

int zpk_ext_register(zpk_ext_registry_t *reg, int8_t type, zpk_ext_encode_fn encode,
                     zpk_ext_decode_fn decode, void *ud)
{
    if (reg == NULL || type < 0)
        return ZPK_EINVAL;
    s_entry_t *e = &reg->entry[type];
    e->encode = encode;
    e->decode = decode;
    e->ud = ud;
    e->used = true;
    return 0;
}

int zpk_ext_unregister(zpk_ext_registry_t *reg, int8_t type)
{
    if (reg == NULL || type < 0)
        return ZPK_EINVAL;
    s_entry_t *e = &reg->entry[type];
    if (!e->used)
        return ZPK_ENOTFOUND;
    memset(e, 0, sizeof *e);
    return 0;
}

bool zpk_ext_has_decoder(const zpk_ext_registry_t *reg, int8_t type)
{
    return reg != NULL && type >= 0 && reg->entry[type].decode != NULL;
}

int zpk_ext_write(zpk_writer_t *w, const zpk_ext_registry_t *reg, int8_t type, const void *obj)
{
    int rc = zpk_writer_error(w);
    if (rc)
        return rc;
    if (reg == NULL) {
        zpk_writer_set_error(w, ZPK_EINVAL);
        return ZPK_EINVAL;
    }
    if (type < 0 || reg->entry[type].encode == NULL) {
        zpk_writer_set_error(w, ZPK_ENOTFOUND);
        return ZPK_ENOTFOUND;
    }
    const s_entry_t *e = &reg->entry[type];
    /* The ext header needs the payload length first: build it aside. */
    zpk_writer_t payload;
    zpk_writer_init_growable(&payload, 64);
    rc = e->encode(obj, &payload, e->ud);
    if (rc == 0)
        rc = zpk_writer_finish(&payload);
    if (rc == 0) {
        zpk_write_ext(w, type, zpk_writer_data(&payload), zpk_writer_size(&payload));
        rc = zpk_writer_error(w);
    } else {
        if (rc > 0)
            rc = ZPK_EINVAL;
        zpk_writer_set_error(w, rc);
    }
    zpk_writer_free(&payload);
    return rc;
}

int zpk_ext_decode(const zpk_ext_registry_t *reg, int8_t type, const void *data, size_t len,
                   void **obj)
{
    if (reg == NULL || obj == NULL || (data == NULL && len > 0))
        return ZPK_EINVAL;
    if (type < 0 || reg->entry[type].decode == NULL)
        return ZPK_ENOTFOUND;
    const s_entry_t *e = &reg->entry[type];
    int rc = e->decode(type, data, len, obj, e->ud);
    return rc > 0 ? ZPK_EINVAL : rc;
}
