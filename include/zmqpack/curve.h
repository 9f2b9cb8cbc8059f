/**
 * @file zmqpack/curve.h
 * @defgroup curve CURVE: encrypted, authenticated transport in a few calls
 *
 * Helpers that set up libzmq's CURVE security (RFC 26, CurveZMQ) on a
 * socket from Z85 key strings or key files, and an optional authenticator
 * (a ZAP handler) that admits only listed client keys.
 *
 * Keys are 32-byte Curve25519 keys written as 40-character Z85 strings
 * (ZMQ RFC 32); buffers for them hold ZPK_CURVE_KEY_SIZE (41) bytes,
 * the NUL included.
 *
 * When to use it: whenever messages leave the machine over tcp:// on a
 * network you do not control. The server (usually the binding side: PUB,
 * PULL, ROUTER) holds a secret key; each client is told the server's public
 * key and gets its own keypair. A client that does not know the server's
 * public key cannot complete the handshake and receives nothing. Without an
 * authenticator any client that knows the server's public key is admitted;
 * with zpk_curve_auth_new() only listed client keys are. ipc:// and
 * inproc:// do not need CURVE (use file permissions instead).
 *
 * Key files use CZMQ's zcert format (ZPL, RFC 4), so `zcert_save()` files
 * and these interoperate:
 *
 *     #   ZeroMQ CURVE **Secret** Certificate      (comment lines start with #)
 *     metadata
 *     curve
 *         public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
 *         secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
 *
 * A section name starts in column 0; its properties are indented and
 * written `name = "value"` (the quotes are optional). Only
 * curve/public-key and curve/secret-key are read; other sections and
 * properties are ignored. A public certificate (given to peers) has no
 * secret-key line. Lines are at most 255 bytes and files at most 64 KiB.
 *
 * Errors: 0 on success; ZPK_EINVAL for a NULL argument or a malformed key
 * (not exactly 40 characters of the Z85 alphabet); -ENOTSUP when the libzmq
 * in use was built without CURVE (zpk_curve_available() is false); other
 * libzmq and system failures as -errno.
 * @{
 */
#ifndef ZMQPACK_CURVE_H
#define ZMQPACK_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#include "zmqpack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Characters in a Z85-encoded CURVE key. */
#define ZPK_CURVE_KEY_LEN 40
/** Bytes needed to hold a Z85-encoded CURVE key and its NUL. */
#define ZPK_CURVE_KEY_SIZE 41

/** True when the libzmq in use supports CURVE (zmq_has("curve")). */
ZPK_API bool zpk_curve_available(void);

/**
 * True when @p z85 is a well-formed key: exactly 40 characters of the Z85
 * alphabet, NUL-terminated. NULL is not.
 */
ZPK_API bool zpk_curve_key_valid(const char *z85);

/**
 * Generates a new keypair into the caller's buffers of ZPK_CURVE_KEY_SIZE
 * bytes each (NUL-terminated Z85). Does not take ownership of anything.
 * @return 0; ZPK_EINVAL for a NULL buffer; -ENOTSUP without CURVE;
 *         other -errno from libzmq.
 */
ZPK_API int zpk_curve_keypair(char *public_z85, char *secret_z85);

/**
 * Derives the public key of @p secret_z85 into @p public_z85
 * (ZPK_CURVE_KEY_SIZE bytes).
 * @return 0; ZPK_EINVAL (NULL, malformed secret key); -ENOTSUP without CURVE.
 */
ZPK_API int zpk_curve_public(char *public_z85, const char *secret_z85);

/**
 * Makes @p socket a CURVE server with secret key @p secret_z85. Call it
 * before zmq_bind()/zmq_connect(): libzmq applies security options to
 * connections made afterwards. @p socket is a libzmq socket (or a
 * zsock_t * in a CZMQ build). Does not take ownership of any argument.
 * @return 0; ZPK_EINVAL (NULL, malformed key); -ENOTSUP without CURVE;
 *         -errno from zmq_setsockopt() (e.g. -ENOTSOCK, -ETERM).
 */
ZPK_API int zpk_curve_server(void *socket, const char *secret_z85);

/**
 * Makes @p socket a CURVE client of the server whose public key is
 * @p server_public_z85, using the keypair @p public_z85 / @p secret_z85.
 * Both may be NULL: the client then gets a fresh ephemeral keypair (fine
 * when the server admits any client). Call it before zmq_connect().
 * Does not take ownership of any argument.
 * @return 0; ZPK_EINVAL (NULL socket or server key, only one of the pair
 *         given, a malformed key, a public key that does not belong to the
 *         secret key); -ENOTSUP without CURVE; -errno from zmq_setsockopt().
 */
ZPK_API int zpk_curve_client(void *socket, const char *server_public_z85,
                             const char *public_z85, const char *secret_z85);

/**
 * Reads the key file @p path (the zcert format above) into the caller's
 * buffers of ZPK_CURVE_KEY_SIZE bytes. @p secret_z85 may be NULL (only the
 * public key is wanted). When the file has a secret key but no public key,
 * the public key is derived from it. Allocates nothing.
 * @return 0; ZPK_EINVAL (NULL path or public_z85); ZPK_ENOTFOUND (a
 *         requested key is not in the file); ZPK_EFORMAT (a line too long,
 *         a property outside any section, a malformed key in the file,
 *         a public key that does not match the secret key);
 *         ZPK_ELIMIT (the file is larger than 64 KiB); -errno from the
 *         system (-ENOENT, -EACCES...); -ENOTSUP without CURVE.
 *         On error both buffers hold empty strings.
 */
ZPK_API int zpk_curve_load(const char *path, char *public_z85, char *secret_z85);

/**
 * Writes a key file in the zcert format: with @p secret_z85 a secret
 * certificate (created with mode 0600), with NULL a public one (mode 0644)
 * to hand to peers. Replaces an existing file. Does not take ownership of
 * any argument.
 * @return 0; ZPK_EINVAL (NULL path or public key, malformed keys, or keys
 *         that do not belong together); -ENOTSUP without CURVE (only when
 *         the pair must be checked); -errno from the system.
 */
ZPK_API int zpk_curve_save(const char *path, const char *public_z85, const char *secret_z85);

/**
 * An authenticator: a ZAP handler (ZMQ RFC 27) on its own thread that
 * admits CURVE clients whose public key is in its list and refuses every
 * other one. A refused client's handshake fails, so it receives nothing.
 * One per context; it serves every CURVE server socket of that context.
 * Sockets with the NULL mechanism (no security) are admitted: libzmq asks
 * ZAP about them only when they have a ZMQ_ZAP_DOMAIN. PLAIN and GSSAPI
 * clients are refused.
 */
typedef struct zpk_curve_auth zpk_curve_auth_t;

/**
 * Starts an authenticator in context @p ctx, admitting the @p n client
 * public keys in @p allowed (Z85). It binds inproc://zeromq.zap.01, so
 * create it before the server socket binds. Caller owns the result and must
 * zpk_curve_auth_destroy() it before terminating @p ctx. Copies the keys;
 * does not take ownership of any argument.
 * @return 0 and *@p out set; ZPK_EINVAL (NULL ctx or out, n > 0 with NULL
 *         allowed, a malformed key); -ENOTSUP without CURVE; -EADDRINUSE
 *         (another ZAP handler runs in @p ctx); ZPK_ENOMEM; other -errno.
 */
ZPK_API int zpk_curve_auth_new(void *ctx, const char *const *allowed, size_t n,
                               zpk_curve_auth_t **out);

/**
 * Number of handshakes the authenticator @p a admitted and refused so far
 * (either pointer may be NULL). NULL @p a gives zeros.
 */
ZPK_API void zpk_curve_auth_counts(zpk_curve_auth_t *a, size_t *admitted, size_t *refused);

/** Stops the authenticator's thread, frees it and sets *@p a to NULL. NULL is a no-op. */
ZPK_API void zpk_curve_auth_destroy(zpk_curve_auth_t **a);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
