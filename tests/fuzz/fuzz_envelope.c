/*
 * libFuzzer target for envelope_parse() (the spool file header and the
 * IPC_QUEUE_CREATE text). A parsed envelope, formatted again, must parse
 * to the same text; the %XX decoder is fed the raw input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 env, env2;
	char		*t1, *t2, *s, out[512];
	const char	*err;
	ssize_t		 n, n1, n2;

	n = envelope_parse((const char *)data, size, &env, &err);
	if (n == -1) {
		if (err == NULL || env.nrcpt != 0 || env.rcpt != NULL)
			abort();
	} else {
		if ((size_t)n > size || env.nrcpt == 0)
			abort();
		if ((n1 = envelope_format(&env, &t1)) == -1)
			abort();
		if (envelope_parse(t1, n1, &env2, &err) != n1)
			abort();
		if ((n2 = envelope_format(&env2, &t2)) != n1 ||
		    memcmp(t1, t2, n1) != 0)
			abort();
		free(t1);
		free(t2);
		envelope_clear(&env2);
		envelope_clear(&env);
	}

	/* the value codec on the raw bytes */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (envelope_decode(s, out, sizeof(out)) == 0) {
		char	enc[sizeof(out) * 3], back[sizeof(out)];

		envelope_encode(out, enc, sizeof(enc));
		if (envelope_decode(enc, back, sizeof(back)) != 0 ||
		    strcmp(out, back) != 0)
			abort();
	}
	(void)queueid_valid(s);
	free(s);
	return 0;
}
