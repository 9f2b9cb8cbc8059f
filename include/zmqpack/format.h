/**
 * @file zmqpack/format.h
 * @defgroup format MessagePack: format strings (pack and unpack)
 *
 * Build and take apart MessagePack values with a format string, in the
 * style of jansson's json_pack() / json_unpack():
 *
 *     zpk_pack_fmt(&w, "[sid]", "hello", 11, 2.3);          // ["hello", 11, 2.3]
 *     zpk_pack_fmt(&w, "{s:i s:[dd]}", "id", 11, "xy", 1.0, 2.0);
 *
 *     int id; double x = 0, y = 0;
 *     zpk_unpack_fmt(root, "{s:i s?[dd]}", "id", &id, "xy", &x, &y);
 *
 * ## Type characters
 *
 * | char | MessagePack       | pack arguments                         | unpack arguments                          |
 * |------|-------------------|----------------------------------------|-------------------------------------------|
 * | `n`  | nil               | (none)                                 | (none); the value must be nil             |
 * | `b`  | bool              | `int` (0 false, else true)             | `int *` (0 or 1)                          |
 * | `i`  | int / uint        | `int`                                  | `int *` (value must fit)                  |
 * | `I`  | int / uint        | `int64_t`                              | `int64_t *` (value must fit)              |
 * | `u`  | uint              | `unsigned int`                         | `unsigned int *` (0..UINT_MAX)            |
 * | `U`  | uint              | `uint64_t`                             | `uint64_t *` (non-negative)               |
 * | `f`  | float 32          | `double` (float promotes), written as float 32 | `float *` (from float 32 or 64)   |
 * | `d`  | float 64          | `double`, written as float 64          | `double *` (from float 32 or 64)          |
 * | `F`  | float (writer's choice) / any number | `double` via zpk_write_real() | `double *` from any int, uint or float |
 * | `s`  | str               | `const char *` (NUL-terminated)        | `const char **` (see below)               |
 * | `s#` | str               | `const char *`, `size_t` length        | `const char **`, `size_t *`               |
 * | `y#` | bin               | `const void *`, `size_t` length        | `const void **`, `size_t *`               |
 * | `x`  | ext (any type)    | `int` type (-128..127), `const void *`, `size_t` | `int *`, `const void **`, `size_t *` |
 * | `t`  | timestamp (ext -1)| `const zpk_timestamp_t *`              | `zpk_timestamp_t *`                       |
 * | `O`  | any value         | `const zpk_node_t *` (copied in)       | `const zpk_node_t **` (the node itself)   |
 * | `R#` | any value (pack)  | `const void *`, `size_t`: bytes already encoded as one MessagePack value, copied as they are | (not in unpack) |
 * | `*`  | any value (unpack)| (not in pack)                          | (none): the value is skipped              |
 * | `[ ]`| array             | the elements' formats between them     | the elements' formats between them        |
 * | `{ }`| map               | key, value, key, value... (any formats) | `s` key (`const char *`; `s#` with `size_t`), then the value's format |
 *
 * Whitespace, `:` and `,` are ignored anywhere, so `"{s:i, s:[d d]}"` reads well.
 *
 * Pack suffix `?` (after `s`, `s#`, `y#`, `t`, `O`, `R#`): a NULL pointer
 * writes nil instead of being an argument error. A pack format may hold
 * several top-level values; they are written one after the other.
 *
 * Unpack rules:
 * - The format describes exactly one value (the node given).
 * - `[...]` unpacks the first elements in order; the array may be longer
 *   unless `!` comes right before `]` (then the lengths must be equal).
 *   An array shorter than the format is ZPK_ENOTFOUND.
 * - `{...}` looks up each key (a str key; the first pair with that key
 *   wins). A missing key is ZPK_ENOTFOUND, unless the key is followed by
 *   `?` (`{s?i}`): then the value's outputs are left untouched (their
 *   arguments are still consumed). Other keys of the map are ignored,
 *   unless `!` comes right before `}` (then every key of the map must be
 *   named in the format).
 * - `s` sets a NUL-terminated `const char *` owned by the document (valid
 *   until it is destroyed). In a document parsed with ZPK_DOC_BORROW (as
 *   received messages are) a str points into the input, with no NUL after
 *   it: the document copies it once, when `s` first needs it, and gives the
 *   same copy afterwards (thread-safe). That needs the document's root as
 *   the node given (zpk_doc_root()); below it, `s` on a borrowed str is
 *   ZPK_ETYPE, saying to use `s#`, which never copies. A str holding a NUL
 *   byte is refused (ZPK_ETYPE) by `s`.
 * - Integer characters refuse values that do not fit their C type
 *   (ZPK_ETYPE); `f` narrows a float 64 to float.
 * - Outputs are written as the walk goes: after an error, the outputs of
 *   the values before it are set, the others untouched.
 *
 * ## Errors
 * The `_ex` variants fill a zpk_error_t (optional) whose `offset` is the
 * **column** (0-based index into the format string) of the format
 * character at fault, and whose text names it and the key or element whose
 * value it was ("column 3 (key \"id\"): 'i' expects an integer, found str").
 * - ZPK_EINVAL: a bad format (unknown character, unbalanced brackets, a
 *   missing `#`, a map key without value...), checked before anything is
 *   written or stored; or a bad argument (a NULL string without `?`, an
 *   ext type outside -128..127, nanoseconds over 999999999, a NULL output
 *   pointer), at the column of its character.
 * - ZPK_ETYPE (unpack): the value has another type, or does not fit.
 * - ZPK_ENOTFOUND (unpack): a required key or array element is missing.
 * - Pack: the writer's sticky error (ZPK_ENOMEM, ZPK_EBUFFULL, ...).
 * @{
 */
#ifndef ZMQPACK_FORMAT_H
#define ZMQPACK_FORMAT_H

#include <stdarg.h>

#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Writes the values described by @p fmt, taking their data from the
 * arguments (see the table above), to @p w. The whole format is checked
 * first: a bad format writes nothing and leaves the writer as it was. An
 * argument error found midway records ZPK_EINVAL as the writer's sticky
 * error too, since part of a value may already be written. Does not take
 * ownership of any argument (everything is copied into the writer).
 * @return 0; ZPK_EINVAL (bad format or argument, or NULL @p w); or the
 *         writer's sticky error (also when it had failed before the call).
 */
ZPK_API int zpk_pack_fmt(zpk_writer_t *w, const char *fmt, ...);
/** zpk_pack_fmt() with a va_list (@p ap is not ended; it is copied). */
ZPK_API int zpk_pack_fmt_v(zpk_writer_t *w, const char *fmt, va_list ap);
/**
 * zpk_pack_fmt() that also fills @p err (may be NULL; the first error is
 * kept): code, column of the format character at fault, text.
 */
ZPK_API int zpk_pack_fmt_ex(zpk_writer_t *w, zpk_error_t *err, const char *fmt, ...);
/** zpk_pack_fmt_ex() with a va_list. */
ZPK_API int zpk_pack_fmt_v_ex(zpk_writer_t *w, zpk_error_t *err, const char *fmt,
                              va_list ap);

/**
 * Extracts values from the tree at @p node into the output pointers given
 * as arguments, as @p fmt describes (see the table and rules above).
 * Pointers stored (`s`, `s#`, `y#`, `x`, `O`) point into the document and
 * stay valid until it is destroyed. Nothing is allocated, but the copy of a
 * borrowed str that `s` needs (see above), which the document owns.
 * @return 0; ZPK_ETYPE (a value of another type, or out of range);
 *         ZPK_ENOTFOUND (a missing key or element); ZPK_EINVAL (bad format,
 *         NULL output pointer, NULL @p node); ZPK_ENOMEM (copying a str).
 */
ZPK_API int zpk_unpack_fmt(const zpk_node_t *node, const char *fmt, ...);
/** zpk_unpack_fmt() with a va_list (@p ap is not ended; it is copied). */
ZPK_API int zpk_unpack_fmt_v(const zpk_node_t *node, const char *fmt, va_list ap);
/** zpk_unpack_fmt() that also fills @p err (may be NULL): code, column, text. */
ZPK_API int zpk_unpack_fmt_ex(const zpk_node_t *node, zpk_error_t *err, const char *fmt, ...);
/** zpk_unpack_fmt_ex() with a va_list. */
ZPK_API int zpk_unpack_fmt_v_ex(const zpk_node_t *node, zpk_error_t *err, const char *fmt,
                                va_list ap);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
