/*
 * zpk: the zmqpack command-line tool. Shared declarations of the
 * subcommand files. The tool uses only the public API (<zmqpack.h>).
 */
#ifndef ZPK_TOOL_H
#define ZPK_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zmqpack.h>

/*
 * Exit codes, the same for every subcommand (documented in `zpk --help`
 * and README.md).
 */
enum {
    ZT_EXIT_OK = 0,      /* success */
    ZT_EXIT_ERROR = 1,   /* runtime failure: I/O, bad data, library error */
    ZT_EXIT_USAGE = 2,   /* bad arguments */
    ZT_EXIT_TIMEOUT = 3, /* nothing arrived (or no peer) within --timeout */
    ZT_EXIT_CHECK = 4,   /* a verification failed (demo/bench checksums) */
};

/* One subcommand: its name, a one-line summary, its entry point. */
typedef struct zt_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} zt_cmd_t;

/* The program path (argv[0] of main), for commands that exec themselves. */
extern const char *zt_argv0;

/*
 * Error reporting, all to stderr, prefixed "zpk CMD: ". zt_fail() appends
 * ": <zpk_strerror(code)>" when code != 0 and returns ZT_EXIT_ERROR.
 * zt_usage() adds "(try 'zpk CMD --help')" and returns ZT_EXIT_USAGE.
 */
int zt_fail(const char *cmd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int zt_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number in range. */
bool zt_parse_long(const char *s, long min, long max, long *out);
/* A byte count with an optional K, M or G suffix (powers of 1024). */
bool zt_parse_size(const char *s, size_t *out);
bool zt_parse_double(const char *s, double *out);

/*
 * Binds (flags & ZT_BIND) or connects socket @p s to @p endpoint. When
 * libzmq refuses the endpoint (malformed, an address not on this host, a
 * port in use, a missing ipc folder...), or a tcp host name does not
 * resolve, prints "zpk CMD: cannot bind 'EP': <libzmq's text>" and returns
 * ZT_EXIT_USAGE (ZT_EXIT_ERROR for a system failure: no memory, no file
 * descriptors). With ZT_ANNOUNCE, a bind whose endpoint libzmq completed
 * (a port of *) prints "zpk CMD: bound to tcp://127.0.0.1:PORT" on stderr,
 * so a caller learns the port without racing for a "free" one. @p bound
 * (may be NULL) receives the endpoint in use. Returns 0 on success.
 */
#define ZT_BIND 1u
#define ZT_ANNOUNCE 2u
int zt_attach(const char *cmd, void *s, const char *endpoint, unsigned flags, char *bound,
              size_t cap);

/* Monotonic clock in nanoseconds. */
uint64_t zt_now_ns(void);
/* True when the file descriptor is a terminal (progress lines). */
bool zt_isatty(int fd);

/* The subcommands (one file each group). */
int zt_cmd_dump(int argc, char **argv);
int zt_cmd_pack(int argc, char **argv);
int zt_cmd_cat(int argc, char **argv);
int zt_cmd_pub(int argc, char **argv);
int zt_cmd_bench(int argc, char **argv);
int zt_cmd_demo(int argc, char **argv);
int zt_cmd_keygen(int argc, char **argv);

/*
 * zpk cat's readers of messages in formats other than zmqpack's (net.c):
 * each looks at the frames of a message that is neither a zmqpack message
 * nor the pyzmq recipe and, when it knows the format, returns the JSON
 * object cat prints for it ("kind", "format" and what the message holds,
 * with zt_ndarray_summary() for each ndarray); NULL when it does not. The
 * frames are borrowed for the call. zt_readers[] lists them, in the order
 * tried, and ends with NULL: a reader in a file of its own takes one line
 * there.
 */
struct json_t;
typedef struct json_t *(*zt_reader_fn)(const zpk_frame_t *frames, size_t n, unsigned json_flags);
extern const zt_reader_fn zt_readers[];

/*
 * An ndarray as zpk cat shows it: {"dtype", "shape", "order", "codec",
 * "compressed", "raw", and "min", "max", "mean" unless it is empty (of the
 * magnitudes for complex dtypes)}. @p info (may be NULL: codec none) gives
 * the codec and the stored size. The caller owns the result.
 */
struct json_t *zt_ndarray_summary(const zpk_ndarray_t *a, const zpk_ndarray_info_t *info);

/*
 * .npy files (numpy's documented format, versions 1.0, 2.0 and 3.0).
 * zt_npy_parse() reads the header of the file image in @p data (@p len
 * bytes) and fills @p out; data points into @p data. Returns 0, or -1 with
 * a message in @p why (static text).
 */
#define ZT_NPY_MAX_DIMS 32
typedef struct zt_npy {
    char descr[32];        /* e.g. "<f4" */
    bool fortran_order;
    int ndim;
    uint64_t shape[ZT_NPY_MAX_DIMS];
    const uint8_t *data;   /* first payload byte */
    size_t data_len;       /* bytes after the header */
} zt_npy_t;
int zt_npy_parse(const uint8_t *data, size_t len, zt_npy_t *out, const char **why);

#endif
