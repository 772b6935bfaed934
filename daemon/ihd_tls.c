/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_tls.c: the server TLS context (OpenSSL 3) for turns: and, later,
 * wss:. TLS 1.2 and newer only, the certificate chain and key from
 * tls.cert / tls.key, checked against each other at start so a mismatch is
 * a start-up error and not a failed handshake later.
 */
#include "ihd.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

static void tls_error(char *err, size_t errlen, const char *what, const char *path)
{
    char detail[256] = "unknown OpenSSL error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    snprintf(err, errlen, "%s: %s: %s", what, path, detail);
    ERR_clear_error();
}

int ihd_tls_ctx_new(const cmn_settings_t *s, void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!s->tls.cert || !s->tls.cert[0])
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_error(err, errlen, "tls", "context");
        return CMN_EIO;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->tls.cert) != 1) {
        tls_error(err, errlen, "tls.cert", s->tls.cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s->tls.key, SSL_FILETYPE_PEM) != 1) {
        tls_error(err, errlen, "tls.key", s->tls.key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(err, errlen, "tls.key does not match tls.cert", s->tls.key);
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return CMN_EINVAL;
}

void ihd_tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}
