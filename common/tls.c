/*
 * Server TLS contexts from PEM text (see tls.h for the policy).
 * RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2), RFC 8996 (no TLS 1.0/1.1),
 * RFC 9325 (recommendations: ECDHE + AEAD, server preference).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"

/* TLS 1.2: forward secrecy and AEAD only */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

#define TLS_SID_CTX	"facteur"

void
tls_init(void)
{
	static int	done;

	if (done)
		return;
	done = 1;
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_LOAD_CONFIG, NULL);
}

void
tls_error(char *buf, size_t bufsz)
{
	unsigned long	e;
	char		one[256];
	size_t		n;

	if (bufsz == 0)
		return;
	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		n = strlen(buf);
		if (n > 0 && n + 2 < bufsz)
			strncat(buf, "; ", bufsz - n - 1);
		n = strlen(buf);
		if (n + 1 < bufsz)
			strncat(buf, one, bufsz - n - 1);
	}
	if (buf[0] == '\0')
		snprintf(buf, bufsz, "unknown TLS error");
}

static void
set_err(char *err, size_t errsz, const char *what)
{
	char	detail[512];

	tls_error(detail, sizeof(detail));
	snprintf(err, errsz, "%s: %s", what, detail);
}

/* the leaf certificate, then every other certificate as the chain */
static int
load_chain(SSL_CTX *ctx, const char *pem, char *err, size_t errsz)
{
	BIO	*bio;
	X509	*x;
	int	 n = 0;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		set_err(err, errsz, "certificate");
		return -1;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (n == 0) {
			if (SSL_CTX_use_certificate(ctx, x) != 1) {
				X509_free(x);
				BIO_free(bio);
				set_err(err, errsz, "certificate");
				return -1;
			}
			X509_free(x);
		} else if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			BIO_free(bio);
			set_err(err, errsz, "certificate chain");
			return -1;
		}
		n++;
	}
	BIO_free(bio);
	/* the loop ends on "no start line": expected */
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errsz, "certificate: no PEM certificate found");
		return -1;
	}
	return 0;
}

static int
load_key(SSL_CTX *ctx, const char *pem, char *err, size_t errsz)
{
	BIO		*bio;
	EVP_PKEY	*pk;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		set_err(err, errsz, "private key");
		return -1;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		set_err(err, errsz, "private key");
		return -1;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		EVP_PKEY_free(pk);
		set_err(err, errsz, "private key");
		return -1;
	}
	EVP_PKEY_free(pk);
	if (SSL_CTX_check_private_key(ctx) != 1) {
		set_err(err, errsz, "private key does not match the "
		    "certificate");
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_server_ctx(const char *cert_pem, const char *key_pem, char *err,
    size_t errsz)
{
	SSL_CTX	*ctx;

	tls_init();
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		set_err(err, errsz, "SSL_CTX_new");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		set_err(err, errsz, "TLS policy");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* resumption: tickets (stateless) and a session id context */
	SSL_CTX_set_num_tickets(ctx, 2);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CTX, strlen(TLS_SID_CTX)) != 1) {
		set_err(err, errsz, "session id context");
		goto fail;
	}
	if (load_chain(ctx, cert_pem, err, errsz) == -1 ||
	    load_key(ctx, key_pem, err, errsz) == -1)
		goto fail;
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

const char *
tls_version(SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *
tls_cipher(SSL *ssl)
{
	const char	*c = SSL_get_cipher_name(ssl);

	return c != NULL ? c : "none";
}

void
tls_info(SSL *ssl, char *buf, size_t bufsz)
{
	int	alg = 0, bits;

	bits = SSL_get_cipher_bits(ssl, &alg);
	snprintf(buf, bufsz, "%s with cipher %s (%d/%d bits)",
	    tls_version(ssl), tls_cipher(ssl), bits, alg);
}
