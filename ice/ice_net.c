/* icehub - SPDX-License-Identifier: MIT
 *
 * ice_net.c: the sockets of the stun and turn checks: name resolution, a
 * connection to a server over UDP, TCP or TLS (OpenSSL) that moves whole
 * STUN or ChannelData messages (stream framing by stun_frame_len), and
 * one request/response transaction with RFC 8489 retransmissions. Every
 * wait has a deadline; nothing here blocks past it.
 */
#include "ice_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn_crypto.h"
#include "common/cmn_sockaddr.h"

double ice_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long long ice_wallclock(void)
{
    return (long long)time(NULL);
}

void ice_tid(uint8_t tid[STUN_TID_LEN])
{
    if (cmn_random(tid, STUN_TID_LEN) < 0)
        abort(); /* no randomness: nothing to probe with */
}

int ice_resolve(const char *host, uint16_t port, cmn_addr_t *out, char *err, size_t errlen)
{
    if (cmn_addr_parse_ip(out, host) == 0) {
        out->port = port;
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return CMN_ENOENT;
    }
    rc = cmn_addr_from_sockaddr(out, res->ai_addr);
    freeaddrinfo(res);
    if (rc < 0) {
        snprintf(err, errlen, "cannot resolve %s: no IPv4 or IPv6 address", host);
        return CMN_ENOENT;
    }
    out->port = port;
    return 0;
}

static int net_wait(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - ice_now();
        if (left <= 0)
            return CMN_EAGAIN;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return CMN_EIO;
    }
}

/* Bind before connecting: to --local-address if given and, for UDP, to a
 * port other sockets of this process may share: each is connected to its
 * own server, so the kernel hands every socket the datagrams of its
 * 4-tuple. */
static int net_bind(ice_conn_t *c, int fd, int family, const ice_conn_req_t *req, char *err,
                    size_t errlen)
{
    cmn_addr_t a = {.family = (uint8_t)(family == AF_INET6 ? CMN_AF_INET6 : CMN_AF_INET)};
    if (req->local_ip && (cmn_addr_parse_ip(&a, req->local_ip) < 0 ||
                          (a.family == CMN_AF_INET6) != (family == AF_INET6))) {
        snprintf(err, errlen, "--local-address %s: not an IP address of the server's family",
                 req->local_ip);
        return CMN_EINVAL;
    }
    if (c->tp != ICE_TP_UDP && !req->local_ip)
        return 0;
    int one = 1;
    a.port = c->tp == ICE_TP_UDP ? req->local_port : 0;
    struct sockaddr_storage ss;
    unsigned sl = cmn_addr_to_sockaddr(&a, &ss);
    if ((c->tp == ICE_TP_UDP && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "bind: %s", strerror(errno));
        return CMN_EIO;
    }
    return 0;
}

/* A non-blocking socket connected to <to> (UDP: the kernel's default
 * route and source; TCP: the handshake within <deadline>). */
static int net_connect(ice_conn_t *c, const ice_conn_req_t *req, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned sl = cmn_addr_to_sockaddr(&req->to, &ss);
    int type = c->tp == ICE_TP_UDP ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return CMN_EIO;
    }
    c->fd = fd;
    int rc = net_bind(c, fd, ss.ss_family, req, err, errlen);
    if (rc < 0)
        return rc;
    if (c->tp != ICE_TP_UDP) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        return CMN_EIO;
    }
    if (c->tp != ICE_TP_UDP) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        rc = net_wait(fd, POLLOUT, req->deadline);
        if (rc < 0)
            return rc;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr) {
            snprintf(err, errlen, "connect: %s", strerror(soerr));
            return CMN_EIO;
        }
    }
    struct sockaddr_storage ls;
    socklen_t ll = sizeof(ls);
    if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
        cmn_addr_from_sockaddr(&c->local, (struct sockaddr *)&ls);
    c->remote = req->to;
    return 0;
}

static void net_ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200];
    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s: %s", what, e ? buf : "connection closed");
    ERR_clear_error();
}

/* Verify the server as a browser would: its name (or IP address) against
 * the certificate, with the system's CAs or <tls->ca>. */
static int net_tls_setup(ice_conn_t *c, const ice_tls_opts_t *tls, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    c->ssl_ctx = ctx;
    if (!ctx) {
        net_ssl_error(err, errlen, "TLS");
        return CMN_EIO;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!tls->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = tls->ca ? SSL_CTX_load_verify_locations(ctx, tls->ca, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            net_ssl_error(err, errlen, "TLS CA file");
            return CMN_EIO;
        }
    }
    SSL *ssl = SSL_new(ctx);
    c->ssl = ssl;
    if (!ssl || !SSL_set_fd(ssl, c->fd)) {
        net_ssl_error(err, errlen, "TLS");
        return CMN_EIO;
    }
    cmn_addr_t ip;
    const char *name = tls->sni ? tls->sni : "";
    if (cmn_addr_parse_ip(&ip, name) == 0) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
    } else if (*name) {
        SSL_set_tlsext_host_name(ssl, name);
        SSL_set1_host(ssl, name);
    }
    return 0;
}

static int net_tls_handshake(ice_conn_t *c, double deadline, char *err, size_t errlen)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK)
                snprintf(err, errlen, "TLS handshake: certificate not trusted: %s",
                         X509_verify_cert_error_string(v));
            else
                net_ssl_error(err, errlen, "TLS handshake");
            return CMN_EIO;
        }
        int rc = net_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
}

int ice_conn_open(ice_conn_t *c, const ice_conn_req_t *req, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->tp = req->tp;
    int rc = net_connect(c, req, err, errlen);
    if (rc == 0 && req->tp == ICE_TP_TLS) {
        rc = net_tls_setup(c, &req->tls, err, errlen);
        if (rc == 0)
            rc = net_tls_handshake(c, req->deadline, err, errlen);
    }
    if (rc < 0)
        ice_conn_close(c);
    return rc;
}

void ice_conn_close(ice_conn_t *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ssl_ctx)
        SSL_CTX_free(c->ssl_ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = c->ssl_ctx = NULL;
    c->fd = -1;
}

static int net_write_all(ice_conn_t *c, const uint8_t *buf, size_t len)
{
    double deadline = ice_now() + 5.0;
    size_t off = 0;
    while (off < len) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, buf + off, (int)(len - off));
            int e = r > 0 ? 0 : SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (net_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
                    return CMN_EIO;
                continue;
            }
            n = r > 0 ? r : -1;
        } else {
            n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (net_wait(c->fd, POLLOUT, deadline) < 0)
                    return CMN_EIO;
                continue;
            }
        }
        if (n <= 0)
            return CMN_EIO;
        off += (size_t)n;
    }
    return 0;
}

int ice_conn_send(ice_conn_t *c, const uint8_t *buf, size_t len)
{
    if (c->tp == ICE_TP_UDP) {
        ssize_t n = send(c->fd, buf, len, 0);
        if (n < 0 && errno == ECONNREFUSED) {
            c->icmp_seen = true;
            return 0; /* an earlier datagram's ICMP error; this one may still go */
        }
        return n == (ssize_t)len ? 0 : CMN_EIO;
    }
    /* RFC 8656 §12.5: ChannelData on a stream is padded to 4 bytes. */
    static const uint8_t zeros[4];
    int rc = net_write_all(c, buf, len);
    if (rc == 0 && stun_is_channel_data(buf, len) && len % 4)
        rc = net_write_all(c, zeros, 4 - len % 4);
    return rc;
}

/* Read what the stream has into c->rbuf. Returns bytes read, 0 for
 * "nothing now", CMN_EIO on close or error. */
static ssize_t net_fill(ice_conn_t *c)
{
    size_t room = sizeof(c->rbuf) - c->rlen;
    if (room == 0)
        return CMN_EIO;
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
        if (r > 0) {
            c->rlen += (size_t)r;
            return r;
        }
        int e = SSL_get_error(c->ssl, r);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : CMN_EIO;
    }
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
    if (n > 0) {
        c->rlen += (size_t)n;
        return n;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : CMN_EIO;
}

/* One whole frame out of c->rbuf, if there is one. */
static ssize_t net_frame(ice_conn_t *c, uint8_t *buf, size_t cap)
{
    ssize_t fl = stun_frame_len(c->rbuf, c->rlen);
    if (fl == CMN_EAGAIN || (fl > 0 && (size_t)fl > c->rlen))
        return CMN_EAGAIN;
    if (fl < 0)
        return CMN_EIO;
    size_t n = (size_t)fl;
    size_t msg = n;
    if (stun_is_channel_data(c->rbuf, n))
        msg = STUN_CHANNEL_HEADER_LEN + cmn_get_u16be(c->rbuf + 2); /* without the padding */
    if (msg > cap)
        return CMN_EIO;
    memcpy(buf, c->rbuf, msg);
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
    return (ssize_t)msg;
}

/* Whatever <c> has now, without waiting. */
static ssize_t net_try(ice_conn_t *c, uint8_t *buf, size_t cap)
{
    if (c->tp == ICE_TP_UDP) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, cap, 0);
            if (n >= 0)
                return n;
            if (errno == ECONNREFUSED) {
                c->icmp_seen = true;
                continue;
            }
            return errno == EAGAIN || errno == EINTR ? CMN_EAGAIN : CMN_EIO;
        }
    }
    for (;;) {
        ssize_t f = net_frame(c, buf, cap);
        if (f != CMN_EAGAIN)
            return f;
        ssize_t n = net_fill(c);
        if (n <= 0)
            return n == 0 ? CMN_EAGAIN : CMN_EIO;
    }
}

ssize_t ice_conn_recv_any(ice_conn_t **c, size_t n, uint8_t *buf, size_t cap, double deadline,
                          size_t *which)
{
    struct pollfd p[4];
    if (n > CMN_ARRAY_LEN(p))
        return CMN_EINVAL;
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            ssize_t r = net_try(c[i], buf, cap);
            if (r != CMN_EAGAIN) {
                *which = i;
                return r;
            }
            p[i] = (struct pollfd){.fd = c[i]->fd, .events = POLLIN};
        }
        double left = deadline - ice_now();
        if (left <= 0)
            return CMN_EAGAIN;
        if (poll(p, n, (int)(left * 1000) + 1) < 0 && errno != EINTR)
            return CMN_EIO;
    }
}

ssize_t ice_conn_recv(ice_conn_t *c, uint8_t *buf, size_t cap, double deadline)
{
    size_t which;
    return ice_conn_recv_any(&c, 1, buf, cap, deadline, &which);
}

int ice_transact(ice_conn_t *c, const uint8_t *req, size_t len, double deadline, uint8_t *out,
                 size_t cap, size_t *outlen)
{
    /* RFC 8489 §6.2.1: RTO 500 ms, doubled after each retransmission, on
     * UDP only; a stream is reliable. Our deadline ends it instead of Rc. */
    double rto = 0.5, next = ice_now() + rto;
    if (ice_conn_send(c, req, len) < 0)
        return CMN_EIO;
    for (;;) {
        double until = c->tp == ICE_TP_UDP ? CMN_MIN(next, deadline) : deadline;
        ssize_t n = ice_conn_recv(c, out, cap, until);
        if (n >= STUN_HEADER_LEN && stun_is_stun(out, (size_t)n) &&
            !memcmp(out + 8, req + 8, STUN_TID_LEN)) {
            *outlen = (size_t)n;
            return 0;
        }
        if (n == CMN_EIO)
            return CMN_EIO;
        double now = ice_now();
        if (now >= deadline)
            return CMN_EAGAIN;
        if (c->tp == ICE_TP_UDP && now >= next) {
            rto *= 2;
            next = now + rto;
            if (ice_conn_send(c, req, len) < 0)
                return CMN_EIO;
        }
    }
}
