/**
 * @file zmqpack/json.h
 * @defgroup json JSON bridge (jansson)
 *
 * MessagePack to JSON and back, with jansson's json_t. Two forms:
 *
 * - **plain** (flags 0): readable, lossy where JSON has no equivalent;
 * - **lossless** (ZPK_JSON_LOSSLESS): every MessagePack value gets a JSON
 *   spelling, using single-key objects whose key starts with `$` ("tags").
 *   zpk_json_to_msgpack() reads the tags back, so
 *   msgpack -> lossless JSON -> msgpack gives the same value and, for
 *   canonical input (shortest encodings, as zmqpack, msgpack-python and
 *   msgpack-c write), the identical bytes. This is what `zpk dump` prints
 *   and `zpk pack` reads.
 *
 * ## The mapping
 *
 * | MessagePack                | plain JSON                         | lossless JSON                           |
 * |----------------------------|------------------------------------|-----------------------------------------|
 * | nil, bool                  | `null`, `true`/`false`             | same                                    |
 * | int, uint <= INT64_MAX     | integer                            | integer                                 |
 * | uint > INT64_MAX           | real (rounded)                     | `{"$uint": "18446744073709551615"}`     |
 * | float 64, finite           | real, fewest digits that read back exactly (`0.1`, `1.0`, `1e+100`) | real              |
 * | float 64 NaN / +-inf       | `null`                             | `{"$float": "nan"}` (also `"-nan"`, `"inf"`, `"-inf"`, or the bits `"0x7ff0000000000001"` for any other NaN) |
 * | float 32                   | real, fewest digits that name the float (`0.1`; `null` if not finite) | `{"$float32": 0.1}` (non-finite: as `$float`, bits `"0x7fc00001"`) |
 * | NaN, float 32 or 64         | `null`                             | every bit kept (sign, payload, signalling NaNs too): the bytes come back identical |
 * | str (valid UTF-8)          | string (`\u0000` for NUL)          | string                                  |
 * | str (not UTF-8)            | `{"$str": "<base64>"}`             | `{"$str": "<base64>"}`                  |
 * | bin                        | string, base64                     | `{"$bin": "<base64>"}`                  |
 * | timestamp (ext -1)         | string, RFC 3339 UTC: `"2026-11-21T21:31:28.5Z"` (years outside 0..9999: as lossless) | `{"$timestamp": [sec, nsec]}` |
 * | other ext, or a timestamp not in its shortest form or malformed | `{"$ext": [type, "<base64>"]}` | same |
 * | array                      | array                              | array                                   |
 * | map with str keys          | object (a duplicate key: the last value wins, at the first one's place; a NUL in a key is written `\u0000`, which jansson's parser refuses) | object, if every key is valid UTF-8 without NUL, no key repeats, and it is not a single key starting with `$`; else `$map` |
 * | map with other keys        | object; each non-str key becomes the compact plain JSON text of the key (`1` -> `"1"`, `[1,2]` -> `"[1,2]"`); a key whose text would pass 4096 bytes fails with ZPK_ELIMIT (keys nested in keys would otherwise double the text at every level) | `{"$map": [[key, value], ...]}` in order |
 *
 * base64 is RFC 4648 with padding. Object keys keep their order (jansson
 * keeps insertion order). zpk_json_dumps() writes the text directly (one
 * pass, through the zmqpack allocator hooks); zpk_json_from_node() builds
 * the equal json_t.
 *
 * JSON to MessagePack (zpk_json_to_msgpack): null, booleans and strings map
 * back directly; integers become int or uint by value (shortest form);
 * reals become float 64 (float 32 if the writer has ZPK_WRITER_SINGLE_FLOAT);
 * arrays and objects become arrays and maps (str keys). An object with one
 * key that is one of the tags above is read as that tag (unless
 * ZPK_JSON_NO_TAGS); a tag with a malformed value is ZPK_EFORMAT. Single-key
 * objects with other `$` keys are ordinary maps.
 *
 * Depth: JSON values nest at most ZPK_JSON_MAX_DEPTH (2048) deep, the top
 * value at 1: jansson's parser limit, applied both ways, so the text these
 * calls write always reads back. An array or a map with str keys takes one
 * level, a map with other keys three (`{"$map": [[key, value]]}`), a tagged
 * value one more (two for `$ext` and `$timestamp`). So with the default
 * max_depth (1024) every document whose maps have str keys round-trips, and
 * any document of up to 681 levels does; deeper ones fail with ZPK_ETOODEEP
 * when written (never as text that cannot be read back), and JSON text
 * nested deeper is ZPK_ETOODEEP when read. JSON text with an integer outside
 * int64 is refused by jansson (ZPK_EFORMAT): the lossless form uses `$uint`.
 * jansson allocates with its own allocator, not the zmqpack hooks; the
 * buffers these calls return to you come from the zmqpack hooks.
 * @{
 */
#ifndef ZMQPACK_JSON_H
#define ZMQPACK_JSON_H

#include <jansson.h>

#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The lossless, tagged form (see the table). Without it: the plain form. */
#define ZPK_JSON_LOSSLESS 0x1u
/** zpk_json_to_msgpack_ex(): read `$` tags as ordinary one-key maps. */
#define ZPK_JSON_NO_TAGS 0x2u
/** zpk_json_dumps(): sort object keys (the plain form's readability aid). */
#define ZPK_JSON_SORT_KEYS 0x4u
/** zpk_json_dumps(): pretty-print with @p n spaces of indent (1..31); default compact. */
#define ZPK_JSON_INDENT(n) ((unsigned)((n) & 0x1f) << 8)
/** Deepest JSON nesting the bridge writes or reads (the top value at 1; jansson's limit). */
#define ZPK_JSON_MAX_DEPTH 2048

/**
 * Converts the tree at @p node to a new json_t (plain form, or lossless
 * with ZPK_JSON_LOSSLESS). On success the caller owns *@p out and must
 * release it with json_decref(). Does not take ownership of @p node.
 * @return 0; ZPK_EINVAL (NULL argument, unknown flag); ZPK_ETOODEEP;
 *         ZPK_ELIMIT (plain form: a non-str key whose text passes 4096
 *         bytes); ZPK_ENOMEM. *out is NULL on error.
 */
ZPK_API int zpk_json_from_node(const zpk_node_t *node, unsigned flags, json_t **out);

/**
 * Writes @p json as one MessagePack value to @p w, reading the `$` tags
 * (see the table). Does not take ownership of @p json.
 * @return 0; ZPK_EFORMAT (a tag with a malformed value, e.g. bad base64);
 *         ZPK_ETOODEEP; ZPK_EINVAL (NULL argument); or the writer's sticky
 *         error (ZPK_ENOMEM, ZPK_EBUFFULL...). On error the writer may hold
 *         part of the value and its sticky error is set.
 */
ZPK_API int zpk_json_to_msgpack(const json_t *json, zpk_writer_t *w);

/**
 * zpk_json_to_msgpack() with @p flags (ZPK_JSON_NO_TAGS or 0) and an
 * optional @p err (code and text; offset 0).
 */
ZPK_API int zpk_json_to_msgpack_ex(const json_t *json, unsigned flags, zpk_writer_t *w,
                                   zpk_error_t *err);

/**
 * Converts the tree at @p node to JSON text (compact unless
 * ZPK_JSON_INDENT(n); plain or ZPK_JSON_LOSSLESS; ZPK_JSON_SORT_KEYS),
 * NUL-terminated, with no newline at the end. On success the caller owns
 * *@p out and must free it with zpk_free(); @p len (may be NULL) receives
 * its length without the NUL.
 * @return as zpk_json_from_node(); *out is NULL on error.
 */
ZPK_API int zpk_json_dumps(const zpk_node_t *node, unsigned flags, char **out, size_t *len);

/**
 * Parses the JSON text @p text[0..len) (one value of any type; `\u0000` in
 * strings allowed) and writes it to @p w as zpk_json_to_msgpack() does.
 * Does not take ownership of @p text.
 * @return 0; ZPK_EFORMAT for invalid JSON (err->offset: the byte offset in
 *         @p text, with jansson's message) or a malformed tag; ZPK_EINVAL
 *         (NULL argument); ZPK_ENOMEM; ZPK_ETOODEEP; or the writer's sticky
 *         error.
 */
ZPK_API int zpk_json_loads_to_writer(const char *text, size_t len, zpk_writer_t *w,
                                     zpk_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
