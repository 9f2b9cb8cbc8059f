/*
 * Seed tutorial, client side: packs tuples ("hello", 11, 2.3) with the
 * MessagePack writer (a jansson-style format string) and sends them to seed_server over a plain TCP socket,
 * one byte per send() with Nagle's algorithm off, so the server really does
 * receive most of them a byte at a time.
 *
 *   usage: seed_client PORT [COUNT [PAUSE_US]]
 *
 * COUNT tuples (default 5); PAUSE_US microseconds between two bytes
 * (default 0), so that each byte arrives on its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmqpack.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: seed_client PORT [COUNT [PAUSE_US]]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int count = argc > 2 ? atoi(argv[2]) : 5;
    int pause_us = argc > 3 ? atoi(argv[3]) : 0;

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("seed_client: connect");
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    /* One growable writer, reset for each tuple: no allocation after the first. */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 64);
    for (int i = 0; i < count; i++) {
        zpk_writer_reset(&w);
        /* A tuple travels as an array: "[sid]" is [str, int, double]. */
        int rc = zpk_pack_fmt(&w, "[sid]", "hello", 11 + i, 2.3);
        if (rc != 0) {
            fprintf(stderr, "seed_client: %s\n", zpk_strerror(rc));
            return 1;
        }
        const uint8_t *p = zpk_writer_data(&w);
        for (size_t k = 0; k < zpk_writer_size(&w); k++) {
            if (send(fd, p + k, 1, 0) != 1) {
                perror("seed_client: send");
                return 1;
            }
            if (pause_us > 0)
                usleep((useconds_t)pause_us);
        }
    }
    zpk_writer_free(&w);
    close(fd);
    return 0;
}
