/* Shared MessagePack types: type names and default limits. */
#include "internal.h"
#include "zmqpack/msgpack.h"

const char *zpk_type_name(zpk_type_t type)
{
    switch (type) {
    case ZPK_TYPE_NIL: return "nil";
    case ZPK_TYPE_BOOL: return "bool";
    case ZPK_TYPE_INT: return "int";
    case ZPK_TYPE_UINT: return "uint";
    case ZPK_TYPE_FLOAT: return "float";
    case ZPK_TYPE_DOUBLE: return "double";
    case ZPK_TYPE_STR: return "str";
    case ZPK_TYPE_BIN: return "bin";
    case ZPK_TYPE_ARRAY: return "array";
    case ZPK_TYPE_MAP: return "map";
    case ZPK_TYPE_EXT: return "ext";
    }
    return "?";
}

void zpk_limits_default(zpk_limits_t *limits, size_t max_buffer_size)
{
    if (limits == NULL)
        return;
    size_t b = max_buffer_size ? max_buffer_size : ZPK_DEFAULT_MAX_BUFFER_SIZE;
    limits->max_buffer_size = b;
    limits->max_str_len = b;
    limits->max_bin_len = b;
    limits->max_array_len = b;
    limits->max_map_len = b / 2;
    limits->max_ext_len = b;
    limits->max_depth = ZPK_DEFAULT_MAX_DEPTH;
}
