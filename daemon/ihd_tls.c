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
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Does <path> contain <marker> in its first MiB? */
static bool file_has(const char *path, const char *marker)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 20;
    char *buf = cmn_malloc(cap + 1);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    buf[n] = '\0';
    /* PEM is text: a NUL ends what strstr sees, so look past each one. */
    bool found = false;
    for (size_t off = 0; off < n && !found; off += strlen(buf + off) + 1)
        found = strstr(buf + off, marker) != NULL;
    cmn_free(buf);
    return found;
}

/* Why OpenSSL refused <path>, as a "found" phrase. The usual slips (a DER
 * file, a certificate given as the key, a wrong file) get plain words;
 * otherwise the first error in OpenSSL's queue is the cause (later ones
 * only name the layer that passed it up, "PEM lib"). */
static const char *pem_found(const char *path, const char *marker, const char *what, char *buf,
                             size_t len)
{
    unsigned long e = ERR_peek_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    if (!file_has(path, marker))
        snprintf(buf, len, "\"%s\", which holds no PEM %s (\"%s\")", path, what, marker);
    else if (!strcmp(what, "private key") && file_has(path, "ENCRYPTED"))
        snprintf(buf, len, "\"%s\", an encrypted key (icehubd asks for no passphrase)", path);
    else
        snprintf(buf, len, "\"%s\", which OpenSSL refuses: %s", path, why ? why : "unknown error");
    ERR_clear_error();
    return buf;
}

/* Never prompt for a passphrase on the terminal: an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return 0;
}

int ihd_tls_ctx_new(const cmn_settings_t *s, void **out, char *err, size_t errlen)
{
    char found[600];
    *out = NULL;
    if (!s->tls.cert || !s->tls.cert[0])
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "tls: cannot make an OpenSSL context: %s",
                 ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        return CMN_EIO;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Read every record the socket holds in one read, not a 5-byte header
     * and then a body per record: TURN over TLS is many small records.
     * (ihd_tcp.c asks SSL_has_pending for what is buffered.) */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->tls.cert) != 1) {
        snprintf(err, errlen, "%s: expected a PEM certificate chain, found %s",
                 cmn_config_source(s, "tls.cert"),
                 pem_found(s->tls.cert, "-----BEGIN CERTIFICATE-----", "certificate", found,
                           sizeof(found)));
        goto fail;
    }
    int ok = SSL_CTX_use_PrivateKey_file(ctx, s->tls.key, SSL_FILETYPE_PEM);
    unsigned long e = ERR_peek_error();
    if (ok != 1 && ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        ok = 2; /* a good key, of another certificate */
    if (ok == 0) {
        snprintf(err, errlen, "%s: expected an unencrypted PEM private key, found %s",
                 cmn_config_source(s, "tls.key"),
                 pem_found(s->tls.key, "PRIVATE KEY-----", "private key", found, sizeof(found)));
        goto fail;
    }
    if (ok == 2 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen,
                 "%s: expected the private key of tls.cert \"%s\", found \"%s\", the key of "
                 "another certificate",
                 cmn_config_source(s, "tls.key"), s->tls.cert, s->tls.key);
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
