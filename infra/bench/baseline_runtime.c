/*
 * baseline_runtime.c - the cold-start floor for infra/bench/coldstart.py.
 *
 * A "hello world" AWS Lambda custom runtime reduced to the one thing every
 * runtime must do before Lambda counts it as initialised: read
 * AWS_LAMBDA_RUNTIME_API, connect to it and send
 *
 *     GET /2018-06-01/runtime/invocation/next HTTP/1.1
 *
 * then block reading the (never arriving, in the benchmark) response.
 *
 * There is no allocator warm-up, no async runtime, no TLS, no logging set-up
 * and no DNS lookup for IP literals, so the time from exec to that request is
 * as close as a process can get to "exec + connect + write". A function binary
 * measured side by side with it shows how much init time is its own.
 *
 * Build:  gcc -O2 -o baseline_runtime baseline_runtime.c
 * Exit:   0 when the server closes the connection (or answers), 1 on error.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
    fprintf(stderr, "baseline_runtime: %s: %s\n", what, errno ? strerror(errno) : "invalid");
    return 1;
}

/* Connect to host:port. IP literals skip the resolver entirely (as hyper does). */
static int connect_to(const char *host, const char *port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(port));
    if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
            return fd;
        close(fd);
        return -1;
    }

    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api || !*api) {
        errno = 0;
        return die("AWS_LAMBDA_RUNTIME_API is not set");
    }

    /* "host:port" - split on the last colon. */
    char host[256];
    const char *colon = strrchr(api, ':');
    size_t hlen = colon ? (size_t)(colon - api) : 0;
    if (!colon || hlen == 0 || hlen >= sizeof host || !colon[1]) {
        errno = 0;
        return die("AWS_LAMBDA_RUNTIME_API is not host:port");
    }
    memcpy(host, api, hlen);
    host[hlen] = '\0';

    int fd = connect_to(host, colon + 1);
    if (fd < 0)
        return die("connect");

    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: baseline_runtime\r\n"
                     "\r\n",
                     api);
    if (n < 0 || (size_t)n >= sizeof req) {
        errno = 0;
        return die("request too long");
    }
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, req + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return die("write");
        }
        off += (int)w;
    }

    /* Block until the server answers or hangs up (the benchmark kills us first). */
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        close(fd);
        return r < 0 ? die("read") : 0;
    }
}
