/*
 * zpk dump / zpk pack: a MessagePack stream to JSON lines and back, in
 * constant memory on streams of any length (the streaming unpacker reads
 * the input in 64 KiB pieces; each object is printed and freed before the
 * next; pack holds one line at a time).
 *
 * dump prints the lossless JSON form by default, so `zpk dump | zpk pack`
 * gives back the identical bytes for canonical input and
 * `zpk pack | zpk dump` gives back the same JSON values.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmqpack.h>
#include <zmqpack/json.h>

#include "zpk.h"

static void s_dump_help(FILE *f)
{
    fprintf(f,
        "usage: zpk dump [OPTIONS] [FILE]\n"
        "\n"
        "Reads a stream of MessagePack objects from FILE (or stdin, or '-') and prints\n"
        "each as one line of JSON, as soon as it is complete, in constant memory.\n"
        "The default form is lossless (bin, ext, timestamps, non-string keys, float32,\n"
        "NaN and big uints are tagged as {\"$bin\": ...} and the like; see\n"
        "zmqpack/json.h), so 'zpk pack' turns the output back into the same bytes.\n"
        "\n"
        "options:\n"
        "  -p, --plain         readable, lossy JSON (bin as base64, timestamps as text)\n"
        "  -s, --sort-keys     sort object keys (with --plain)\n"
        "  -i, --indent N      pretty-print with N spaces (not JSON lines any more)\n"
        "  -n, --count N       stop after N objects\n"
        "  --max-buffer SIZE   largest object accepted (default 100M; e.g. 1G)\n"
        "  -h, --help          this text\n"
        "\n"
        "exit codes: 0 the whole stream was read; 1 malformed or truncated input, or\n"
        "an I/O error (the offset is printed); 2 bad arguments.\n");
}

static void s_pack_help(FILE *f)
{
    fprintf(f,
        "usage: zpk pack [OPTIONS] [FILE]\n"
        "\n"
        "Reads JSON lines from FILE (or stdin, or '-'): one JSON value per line, empty\n"
        "lines skipped. Writes each as one MessagePack object to stdout. The tags of\n"
        "'zpk dump' ({\"$bin\": ...}, {\"$timestamp\": ...}, ...) are read back.\n"
        "\n"
        "options:\n"
        "  --no-tags           read {\"$bin\": ...} and friends as ordinary maps\n"
        "  --single-float      write JSON reals as float 32 instead of float 64\n"
        "  -f, --force         write to stdout even when it is a terminal\n"
        "  -h, --help          this text\n"
        "\n"
        "exit codes: 0 every line was packed; 1 invalid JSON (line and column are\n"
        "printed) or an I/O error; 2 bad arguments.\n");
}

/* Opens FILE or stdin ("-" or absent); prints the error and returns -1. */
static int s_open_input(const char *cmd, const char *path)
{
    if (!path || !strcmp(path, "-"))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        zt_fail(cmd, -errno, "cannot open '%s'", path);
    return fd;
}

/*
 * The unpacker's source: read(2) on the input, flushing stdout first, so
 * that every complete object is printed before zpk waits for more input
 * (a live stream shows up as it arrives).
 */
static ptrdiff_t s_read_input(void *ud, void *buf, size_t size)
{
    int fd = *(const int *)ud;
    fflush(stdout);
    for (;;) {
        ssize_t n = read(fd, buf, size);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

int zt_cmd_dump(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plain", no_argument, NULL, 'p'},
        {"sort-keys", no_argument, NULL, 's'},
        {"indent", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"max-buffer", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned flags = ZPK_JSON_LOSSLESS;
    long count = -1, indent = 0;
    size_t max_buffer = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "psi:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            flags &= ~ZPK_JSON_LOSSLESS;
            break;
        case 's':
            flags |= ZPK_JSON_SORT_KEYS;
            break;
        case 'i':
            if (!zt_parse_long(optarg, 1, 31, &indent))
                return zt_usage("dump", "--indent takes 1..31, not '%s'", optarg);
            break;
        case 'n':
            if (!zt_parse_long(optarg, 0, LONG_MAX, &count))
                return zt_usage("dump", "bad --count '%s'", optarg);
            break;
        case 'm':
            if (!zt_parse_size(optarg, &max_buffer) || max_buffer == 0)
                return zt_usage("dump", "bad --max-buffer '%s'", optarg);
            break;
        case 'h':
            s_dump_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage("dump", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return zt_usage("dump", "takes at most one FILE");
    if (indent)
        flags |= ZPK_JSON_INDENT(indent);
    int fd = s_open_input("dump", argv[optind]);
    if (fd < 0)
        return ZT_EXIT_ERROR;

    zpk_limits_t lim;
    zpk_limits_default(&lim, max_buffer);
    zpk_unpacker_t *u = zpk_unpacker_new(&lim, 0);
    if (!u) {
        if (fd > 0)
            close(fd);
        return zt_fail("dump", ZPK_ENOMEM, "cannot create the unpacker");
    }
    zpk_unpacker_set_source(u, s_read_input, &fd, 64 * 1024);
    int rc = ZT_EXIT_OK;
    for (long n = 0; count < 0 || n < count; n++) {
        zpk_doc_t *doc = NULL;
        int e = zpk_unpacker_next(u, &doc);
        if (e == ZPK_EOUTOFDATA) {
            size_t left = zpk_unpacker_buffered(u);
            if (left)
                rc = zt_fail("dump", e, "the input ends inside an object at offset %llu "
                             "(%zu bytes of it)", (unsigned long long)zpk_unpacker_tell(u), left);
            break;
        }
        if (e) {
            const zpk_error_t *err = zpk_unpacker_error(u);
            if (err)
                rc = zt_fail("dump", e, "object %ld at offset %zu%s%s", n + 1, err->offset,
                             err->text[0] ? ": " : "", err->text);
            else
                rc = zt_fail("dump", e, "reading the input");
            break;
        }
        char *text = NULL;
        size_t len = 0;
        e = zpk_json_dumps(zpk_doc_root(doc), flags, &text, &len);
        zpk_doc_destroy(&doc);
        if (e) {
            rc = zt_fail("dump", e, "object %ld", n + 1);
            break;
        }
        text[len] = '\n'; /* replaces the NUL: one line, one write */
        size_t w = fwrite(text, 1, len + 1, stdout);
        zpk_free(text);
        if (w != len + 1) {
            rc = zt_fail("dump", -errno, "writing stdout");
            break;
        }
    }
    zpk_unpacker_destroy(&u);
    if (fd > 0)
        close(fd);
    if (fflush(stdout) != 0 && rc == ZT_EXIT_OK)
        rc = zt_fail("dump", -errno, "writing stdout");
    return rc;
}

static int s_stdout_sink(void *ud, const void *data, size_t n)
{
    return fwrite(data, 1, n, ud) == n ? 0 : (errno ? -errno : ZPK_EIO);
}

int zt_cmd_pack(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"no-tags", no_argument, NULL, 't'},
        {"single-float", no_argument, NULL, 's'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool single = false, force = false, no_tags = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            no_tags = true;
            break;
        case 's':
            single = true;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            s_pack_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage("pack", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return zt_usage("pack", "takes at most one FILE");
    if (!force && zt_isatty(1))
        return zt_usage("pack", "refusing to write MessagePack to a terminal "
                        "(redirect stdout, or use --force)");
    FILE *in = stdin;
    const char *path = argv[optind];
    if (path && strcmp(path, "-")) {
        in = fopen(path, "rb");
        if (!in)
            return zt_fail("pack", -errno, "cannot open '%s'", path);
    }
    zpk_writer_t w;
    zpk_writer_init_sink(&w, s_stdout_sink, stdout, 64 * 1024);
    if (single)
        zpk_writer_set_flags(&w, ZPK_WRITER_SINGLE_FLOAT);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = ZT_EXIT_OK;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == len)
            continue;
        zpk_error_t err;
        zpk_error_clear(&err);
        int e;
        if (no_tags) {
            json_error_t jerr;
            json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!j) {
                e = ZPK_EFORMAT;
                zt_fail("pack", e, "line %ld, column %d: %s", lineno, jerr.column, jerr.text);
                rc = ZT_EXIT_ERROR;
                break;
            }
            e = zpk_json_to_msgpack_ex(j, ZPK_JSON_NO_TAGS, &w, &err);
            json_decref(j);
        } else {
            e = zpk_json_loads_to_writer(line, len, &w, &err);
        }
        if (e) {
            rc = zt_fail("pack", e, "line %ld, column %zu%s%s", lineno, err.offset + 1,
                         err.text[0] ? ": " : "", err.text);
            break;
        }
    }
    if (rc == ZT_EXIT_OK && ferror(in))
        rc = zt_fail("pack", -errno, "reading the input");
    int e = zpk_writer_finish(&w);
    if (e && rc == ZT_EXIT_OK)
        rc = zt_fail("pack", e, "writing stdout");
    zpk_writer_free(&w);
    free(line);
    if (in != stdin)
        fclose(in);
    if (fflush(stdout) != 0 && rc == ZT_EXIT_OK)
        rc = zt_fail("pack", -errno, "writing stdout");
    return rc;
}
