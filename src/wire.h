/*
 * The wire keys: the one place where the MessagePack map keys and the fixed
 * strings that travel between peers are spelled. docs/arrays.md and
 * docs/PROTOCOL.md describe them; change them only with the protocol
 * version. Never installed.
 *
 * Each is a string literal of fewer than 32 bytes, so it travels as a
 * fixstr: write it with ZPK__WRITE_LIT() and match it in place with
 * ZPK__MATCH_LIT() (msgpack_internal.h); nobody spells its MessagePack
 * bytes by hand.
 */
#ifndef ZPK_WIRE_H
#define ZPK_WIRE_H

/* ---- array header (src/ndarray_header.c; docs/arrays.md) ------------------------- */
#define ZPK__KEY_DTYPE "dtype"       /* str: numpy typestr, "<f8" */
#define ZPK__KEY_SHAPE "shape"       /* array of uint, 0..32 entries */
#define ZPK__KEY_ORDER "order"       /* str: "C" or "F" (absent: "C") */
#define ZPK__KEY_NBYTES "nbytes"     /* uint: decoded payload bytes */
#define ZPK__KEY_CODEC "codec"       /* str: "none", "zlib:6", "blosc:lz4:5:shuffle" */
#define ZPK__KEY_CHUNK "chunk"       /* uint: raw bytes per chunk (absent: nbytes) */
#define ZPK__KEY_CHUNKS "chunks"     /* array of uint: stored bytes of each chunk */
#define ZPK__KEY_RAW "raw"           /* array of uint: indices of chunks stored raw */
#define ZPK__CODEC_STR_NONE "none"   /* the codec value of an uncompressed array (codec.c) */

/* ---- message header (src/message.c; docs/PROTOCOL.md) ---------------------- */
#define ZPK__KEY_ZPK "zpk"          /* uint: protocol version; always the first key */
#define ZPK__KEY_KIND "kind"        /* str: "obj", "array" or "mixed" */
#define ZPK__KEY_FRAMES "frames"    /* uint: payload frames after the header (0: single) */
#define ZPK__KEY_SINGLE "single"    /* bool: payload follows the map in the header frame */
#define ZPK__KEY_COMPRESSED_OBJ "packed"    /* map: array header of a compressed object (|u1) */
#define ZPK__KEY_NDARRAY "array"      /* map: the array header (kind "array") */
#define ZPK__KEY_NDARRAYS "arrays"    /* array of maps: array headers (kind "mixed") */
#define ZPK__KEY_PAD "pad"          /* str of spaces: aligns a single-frame payload */
#define ZPK__KIND_STR_OBJ "obj"
#define ZPK__KIND_STR_NDARRAY "array"
#define ZPK__KIND_STR_MIXED "mixed"

#endif
