/*
 * libFuzzer target for addr_parse_path() (RFC 5321 4.1.2 paths).
 * Input: one byte of ADDR_F_* flags, then the path. A parsed address,
 * formatted and put back in angle brackets, must parse to the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr	 a, b;
	char		*s, buf[ADDR_MAX + 2], path[ADDR_MAX + 4], local[200];
	const char	*err;
	int		 flags;

	if (size < 1)
		return 0;
	flags = data[0] & (ADDR_F_UTF8 | ADDR_F_NULLOK | ADDR_F_NODOMAIN);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	if (addr_parse_path(s, flags, &a, &err) == 0) {
		addr_format(&a, buf, sizeof(buf));
		if (addr_local_unquoted(&a, local, sizeof(local)) == -1)
			abort();
		if (strlen(a.local) > ADDR_LOCAL_MAX * 2 + 2 ||
		    strlen(a.domain) > ADDR_DOMAIN_MAX)
			abort();
		/* round trip (the source route is dropped, so it fits) */
		path[0] = '<';
		strcpy(path + 1, buf);
		strcat(path, ">");
		if (addr_parse_path(path, flags, &b, &err) != 0 ||
		    strcmp(a.local, b.local) != 0 ||
		    strcmp(a.domain, b.domain) != 0)
			abort();
	} else if (err == NULL || *err == '\0')
		abort();
	free(s);
	return 0;
}
