/*
 * Maildir file names (maildir(5); Dovecot's and Courier's extensions):
 *
 *	<base>[,S=<size>][,W=<vsize>][:2,<flags>]
 *
 * The base name identifies a message for ever: renaming a file to change
 * its flags, or moving it from new/ to cur/, keeps it. The ",S=" and ",W="
 * fields are size hints, not identity: they are left out of the base.
 * Flags: the standard letters DFPRST (sorted, uppercase) and the keyword
 * letters a-z (Dovecot: index into the folder's keyword list).
 *
 * RFC 1939 7 (UIDL): 1 to 70 characters in 0x21-0x7e; longer or odd
 * base names get a stable hash.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store.h"

static uint32_t
flag_bit(char c)
{
	switch (c) {
	case 'D':
		return STORE_F_DRAFT;
	case 'F':
		return STORE_F_FLAGGED;
	case 'P':
		return STORE_F_PASSED;
	case 'R':
		return STORE_F_REPLIED;
	case 'S':
		return STORE_F_SEEN;
	case 'T':
		return STORE_F_TRASHED;
	}
	return 0;
}

/* "S=123" -> 123; -1 when the field is not a size field of that letter */
static int
size_field(const char *f, size_t len, char letter, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (len < 3 || f[0] != letter || f[1] != '=')
		return -1;
	for (i = 2; i < len; i++) {
		if (f[i] < '0' || f[i] > '9' || v > UINT64_MAX / 10 - 1)
			return -1;
		v = v * 10 + (uint64_t)(f[i] - '0');
	}
	*out = v;
	return 0;
}

int
store_name_parse(const char *name, struct store_name *sn)
{
	const char	*info, *p, *end, *comma;
	size_t		 len, n, blen;

	memset(sn, 0, sizeof(*sn));
	sn->size = sn->vsize = UINT64_MAX;
	len = strlen(name);
	if (len == 0 || len > STORE_NAME_MAX || name[0] == '.' ||
	    strchr(name, '/') != NULL)
		return -1;
	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	if ((info = strchr(name, ':')) != NULL) {
		if (strncmp(info, ":2,", 3) == 0) {
			for (p = info + 3; *p != '\0'; p++) {
				if (*p >= 'a' && *p <= 'z')
					sn->keywords |= 1U << (*p - 'a');
				else
					sn->flags |= flag_bit(*p);
			}
		}
		end = info;
	} else
		end = name + len;
	if (end == name)
		return -1;

	/* the first field, then the fields that are not sizes */
	comma = memchr(name, ',', (size_t)(end - name));
	if (comma == NULL)
		comma = end;
	blen = (size_t)(comma - name);
	memcpy(sn->base, name, blen);
	p = comma;
	while (p < end) {
		p++;				/* the comma */
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		n = (size_t)(comma - p);
		if (size_field(p, n, 'S', &sn->size) == -1 &&
		    size_field(p, n, 'W', &sn->vsize) == -1) {
			sn->base[blen++] = ',';
			memcpy(sn->base + blen, p, n);
			blen += n;
		}
		p = comma;
	}
	sn->base[blen] = '\0';
	return blen == 0 ? -1 : 0;
}

void
store_uidl(const char *base, char *out, size_t outsz)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	const char		*p;
	size_t			 len = strlen(base);
	int			 plain = len >= 1 && len <= STORE_UIDL_MAX;
	char			 buf[2 + 32 + 1];

	for (p = base; plain && *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			plain = 0;
	if (plain) {
		strlcpy(out, base, outsz);
		return;
	}
	if (EVP_Digest(base, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 16)
		abort();
	buf[0] = 'H';
	for (i = 0; i < 16; i++) {
		buf[1 + 2 * i] = hex[md[i] >> 4];
		buf[2 + 2 * i] = hex[md[i] & 0xf];
	}
	buf[33] = '\0';
	strlcpy(out, buf, outsz);
}

int
store_path_valid(const char *mb)
{
	const char	*p, *slash;

	if ((slash = strchr(mb, '/')) == NULL || strchr(slash + 1, '/'))
		return -1;
	if (slash == mb || slash[1] == '\0')
		return -1;
	if (mb[0] == '.' || slash[1] == '.' || strstr(mb, "..") != NULL)
		return -1;
	if (strlen(mb) > 255 + 1 + 128)
		return -1;
	for (p = mb; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return -1;
	return 0;
}
