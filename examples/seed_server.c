/*
 * Seed tutorial, server side: a plain TCP server (POSIX sockets, no zmq)
 * that feeds whatever it receives into zmqpack's streaming unpacker and
 * prints each MessagePack tuple as soon as it is complete.
 *
 * TCP is a byte stream: a message may arrive in one piece, split in two,
 * or one byte at a time (seed_client sends it that way on purpose). The
 * unpacker does not care: it keeps its parse state between feeds and hands
 * out an object only when its last byte has arrived.
 *
 *   usage: seed_server [PORT]      (PORT 0 or none: any free port)
 *
 * It prints "listening on tcp://127.0.0.1:PORT", serves one client until
 * it disconnects, then exits: 0 when at least one tuple arrived and the
 * stream ended on an object boundary, 1 otherwise.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmqpack.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;

    /* 1. An ordinary TCP listening socket on the loopback interface. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1) != 0) {
        perror("seed_server: bind");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("listening on tcp://127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int fd = accept(lfd, NULL, NULL);
    close(lfd);
    if (fd < 0) {
        perror("seed_server: accept");
        return 1;
    }

    /* 2. One streaming unpacker per connection, default limits. */
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    if (!u) {
        fprintf(stderr, "seed_server: %s\n", zpk_strerror(ZPK_ENOMEM));
        return 1;
    }
    long tuples = 0, feeds = 0;
    int rc = 0;
    for (;;) {
        /* 3. recv() straight into the unpacker's buffer: no extra copy. */
        size_t avail;
        void *buf = zpk_unpacker_reserve(u, 4096, &avail);
        if (!buf) {
            rc = ZPK_ENOMEM;
            break;
        }
        ssize_t n = recv(fd, buf, avail, 0);
        if (n <= 0)
            break;  /* the client is done (or the connection failed) */
        zpk_unpacker_commit(u, (size_t)n);
        feeds++;

        /* 4. Take out every object that is now complete. */
        zpk_doc_t *doc;
        while ((rc = zpk_unpacker_next(u, &doc)) == 0) {
            /* The tuple ("hello", 11, 2.3): [str, int, double]. */
            const char *word;
            int number;
            double real;
            int urc = zpk_unpack_fmt(zpk_doc_root(doc), "[sid]", &word, &number, &real);
            if (urc == 0)
                printf("(\"%s\", %d, %g)\n", word, number, real);
            else
                printf("not a (str, int, float) tuple: %s\n", zpk_strerror(urc));
            tuples++;
            zpk_doc_destroy(&doc);
        }
        if (rc != ZPK_EOUTOFDATA)
            break;  /* a real error: the peer sent bytes that are not MessagePack */
        rc = 0;     /* "need more data" is the normal state between feeds */
    }
    close(fd);
    size_t left = zpk_unpacker_buffered(u);
    zpk_unpacker_destroy(&u);
    fprintf(stderr, "seed_server: %ld tuples from %ld recv() calls\n", tuples, feeds);
    if (rc != 0) {
        fprintf(stderr, "seed_server: %s\n", zpk_strerror(rc));
        return 1;
    }
    if (left) {
        fprintf(stderr, "seed_server: the stream ended inside an object (%zu bytes)\n", left);
        return 1;
    }
    return tuples > 0 ? 0 : 1;
}
