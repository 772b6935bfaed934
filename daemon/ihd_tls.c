/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_tls.c: the server TLS context (OpenSSL 3) for turns:, and the
 * certificate swap for the wss: listeners. TLS 1.2 and newer only, the
 * certificate chain and key from tls.cert / tls.key, checked against each
 * other when a configuration snapshot is loaded (at start and on SIGHUP), so
 * a mismatch is an error then and not a failed handshake later.
 *
 * Reload without dropping anyone: a context is reference counted, each
 * snapshot holds one, and every SSL holds one of the context it was made
 * from, so a connection keeps its certificate after the snapshot is gone.
 */
#include "ihd.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

void *ihd_tls_ctx_ref(void *ctx)
{
    if (ctx)
        SSL_CTX_up_ref(ctx);
    return ctx;
}

void ihd_tls_describe(void *ctx, char *buf, size_t len)
{
    buf[0] = '\0';
    X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    if (!x)
        return;
    char cn[128] = "?";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    struct tm tm;
    char when[32] = "?";
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "CN=%s, expires %s", cn, when);
}

int ihd_tls_ctx_copy_cert(void *to, void *from)
{
    X509 *x = SSL_CTX_get0_certificate(from);
    EVP_PKEY *k = SSL_CTX_get0_privatekey(from);
    STACK_OF(X509) *chain = NULL;
    if (!x || !k || SSL_CTX_get0_chain_certs(from, &chain) != 1)
        return CMN_EIO;
    /* The pair was checked when <from> was made: the three calls only
     * take references. */
    if (SSL_CTX_use_certificate(to, x) != 1 || SSL_CTX_use_PrivateKey(to, k) != 1 ||
        SSL_CTX_set1_chain(to, chain) != 1) {
        ERR_clear_error();
        return CMN_EIO;
    }
    return 0;
}
