/*
 * Base64 (RFC 4648 section 4) as SASL uses it (RFC 4954, RFC 5034):
 * strict, padded, no white space.
 */
#ifndef FACTEUR_BASE64_H
#define FACTEUR_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* Decodes len bytes of in into out (at most outsz bytes, not
   NUL-terminated). Returns the decoded length, or -1 on bad input or when
   out is too small. */
ssize_t	base64_decode(const char *in, size_t len, unsigned char *out,
	    size_t outsz);

#endif
