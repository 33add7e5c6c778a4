/*
 * TLS for the servers (smtpd, popd, imapd): a server SSL_CTX built from
 * PEM text (facteurd sends it in IPC_TLS_MATERIAL, so a daemon never opens
 * a key file) and a one-line description of a session for logs and trace
 * headers. Nothing protocol-specific here.
 *
 * Policy (RFC 8996, RFC 9325): TLS 1.2 minimum; TLS 1.2 suites are ECDHE
 * with AEAD only; TLS 1.3 suites are OpenSSL's defaults; the server's
 * preference order; session tickets on; no compression, no
 * renegotiation; SSL_OP_IGNORE_UNEXPECTED_EOF (a peer that closes without
 * close_notify is an ordinary EOF, DESIGN.md "Known traps").
 */
#ifndef FACTEUR_TLS_H
#define FACTEUR_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Once per process, before the privilege drop (reads openssl.cnf). */
void	 tls_init(void);

/*
 * A server context from a PEM certificate chain (leaf first) and a PEM
 * private key. Returns NULL with a reason in err on failure (bad PEM,
 * key not matching the certificate, ...).
 */
SSL_CTX	*tls_server_ctx(const char *cert_pem, const char *key_pem, char *err,
	    size_t errsz);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
void	 tls_info(SSL *, char *buf, size_t bufsz);
/* "TLSv1.3" and the cipher name, for key=value logs */
const char *tls_version(SSL *);
const char *tls_cipher(SSL *);

/* The last OpenSSL error queue entries as text (clears the queue). */
void	 tls_error(char *buf, size_t bufsz);

#endif
