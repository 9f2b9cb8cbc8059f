/*
 * zpk: make the zmqpack wire visible.
 *
 *   zpk dump [FILE]        MessagePack stream -> JSON lines
 *   zpk pack [FILE]        JSON lines -> MessagePack stream
 *   zpk cat ENDPOINT       print zmqpack (and pyzmq-recipe) messages as JSON lines
 *   zpk pub ENDPOINT       JSON lines on stdin (or .npy files) -> messages
 *   zpk bench              throughput and latency, in the manner of libzmq's perf tools
 *   zpk demo               the main demo: sensor frames between two processes
 *   zpk keygen             a new CURVE keypair (zcert key files)
 *
 * Every subcommand takes --help. Errors go to stderr with zmqpack's error
 * text; the exit codes are listed in zt_main_help() and in zpk.h.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqpack.h>

#include "zpk.h"

const char *zt_argv0 = "zpk";

/* The subcommands this build has, in the order `zpk --help` lists them. */
static const zt_cmd_t s_cmds[] = {
#ifdef ZT_HAVE_STREAM
    {"dump", "MessagePack stream (file or stdin) to JSON lines", zt_cmd_dump},
    {"pack", "JSON lines (file or stdin) to a MessagePack stream", zt_cmd_pack},
#endif
#ifdef ZT_HAVE_NET
    {"cat", "receive messages on a socket and print them as JSON lines", zt_cmd_cat},
    {"pub", "send JSON lines from stdin (or .npy files) as messages", zt_cmd_pub},
#endif
#ifdef ZT_HAVE_BENCH
    {"bench", "throughput and latency between two sockets", zt_cmd_bench},
#endif
#ifdef ZT_HAVE_DEMO
    {"demo", "the main demo: sensor frames from a publisher to a subscriber process", zt_cmd_demo},
#endif
#ifdef ZT_HAVE_KEYGEN
    {"keygen", "a new CURVE keypair as key files (zcert format) or on stdout", zt_cmd_keygen},
#endif
    {NULL, NULL, NULL},
};

static void s_main_help(FILE *f)
{
    fprintf(f, "usage: zpk COMMAND [OPTIONS] [ARGS]\n\n"
               "zpk makes zmqpack's wire visible (zmqpack %s).\n\ncommands:\n",
            zpk_version_string());
    for (size_t i = 0; s_cmds[i].name; i++)
        fprintf(f, "  %-6s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fprintf(f, "\n'zpk COMMAND --help' describes each command.\n\n"
               "exit codes:\n"
               "  0  success\n"
               "  1  runtime failure (I/O, malformed data, library error)\n"
               "  2  bad arguments, including an endpoint libzmq refuses (malformed, an\n"
               "     address not on this host, a port in use, a missing ipc folder) and a\n"
               "     host name that does not resolve\n"
               "  3  timeout: nothing arrived (or, with --count N, fewer than N messages),\n"
               "     or no peer took a message, within --timeout\n"
               "  4  a verification failed (checksums in demo and bench)\n");
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0])
        zt_argv0 = argv[0];
    if (argc < 2) {
        s_main_help(stderr);
        return ZT_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            /* "zpk help CMD" is "zpk CMD --help" */
            for (size_t i = 0; s_cmds[i].name; i++)
                if (!strcmp(argv[2], s_cmds[i].name)) {
                    char *av[] = {argv[2], "--help", NULL};
                    return s_cmds[i].run(2, av);
                }
        }
        s_main_help(stdout);
        return ZT_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("zpk %s\n", zpk_version_string());
        return ZT_EXIT_OK;
    }
    for (size_t i = 0; s_cmds[i].name; i++)
        if (!strcmp(name, s_cmds[i].name))
            return s_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "zpk: unknown command '%s' (try 'zpk --help')\n", name);
    return ZT_EXIT_USAGE;
}

/* ---- helpers shared by the subcommands ------------------------------------ */

int zt_fail(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "zpk %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (code != 0)
        fprintf(stderr, ": %s (%s)", zpk_strerror(code), zpk_err_name(code));
    fputc('\n', stderr);
    return ZT_EXIT_ERROR;
}

int zt_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "zpk %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try 'zpk %s --help')\n", cmd);
    return ZT_EXIT_USAGE;
}

bool zt_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool zt_parse_size(const char *s, size_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift) {
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    if (*end || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)v << shift;
    return true;
}

bool zt_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

uint64_t zt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool zt_isatty(int fd)
{
    return isatty(fd) == 1;
}

/*
 * The host of a tcp:// endpoint ("tcp://[src;]host:port", host possibly in
 * brackets) into @p host; false for other transports and wildcard hosts.
 */
static bool s_tcp_host(const char *endpoint, char *host, size_t cap)
{
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *h = endpoint + 6, *semi = strchr(h, ';');
    if (semi)
        h = semi + 1;
    const char *end;
    if (*h == '[') {
        end = strchr(++h, ']');
    } else {
        end = strrchr(h, ':');
    }
    if (!end || end == h || (size_t)(end - h) >= cap)
        return false;
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    return strcmp(host, "*") != 0;
}

int zt_attach(const char *cmd, void *s, const char *endpoint, unsigned flags, char *bound,
              size_t cap)
{
    bool bind = flags & ZT_BIND;
    if ((bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) != 0) {
        int e = zmq_errno();
        fprintf(stderr, "zpk %s: cannot %s '%s': %s%s\n", cmd, bind ? "bind" : "connect",
                endpoint, zmq_strerror(e),
                !bind ? ""
                : e == ENODEV ? " (a bind address is *, an address of this host or an interface name)"
                : e == ENOENT ? " (an ipc path's folder must exist)" : "");
        return e == ENOMEM || e == EMFILE || e == ENFILE || e == ETERM ? ZT_EXIT_ERROR
                                                                        : ZT_EXIT_USAGE;
    }
    /* libzmq resolves a connect's host name later, and then retries for ever:
       a name that does not resolve would only show as a timeout. */
    char host[256];
    if (!bind && s_tcp_host(endpoint, host, sizeof host)) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
        int g = getaddrinfo(host, NULL, &hints, &ai);
        if (g != 0) {
            fprintf(stderr, "zpk %s: cannot connect '%s': host '%s': %s\n", cmd, endpoint,
                    host, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
            return ZT_EXIT_USAGE;
        }
        freeaddrinfo(ai);
    }
    char last[512] = "";
    size_t len = sizeof last;
    if (bind && zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, last, &len) == 0 && (flags & ZT_ANNOUNCE)
        && strcmp(last, endpoint) != 0)
        fprintf(stderr, "zpk %s: bound to %s\n", cmd, last);
    if (bound && cap)
        snprintf(bound, cap, "%s", last[0] ? last : endpoint);
    return 0;
}
