/*
 * libFuzzer target for the DATA/BDAT state machine (smtpd/smtp_data.c):
 * the bytes a client sends after 354, fed in pieces of arbitrary sizes.
 * Besides not crashing, every line handed on must end in CRLF and hold no
 * other CR or LF, so that what reaches the spool can never smuggle a line
 * end; and the size counted must be the bytes handed on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtp_data.h"

struct sink {
	uint64_t	bytes;
};

static void
sink_line(void *arg, const char *line, size_t len)
{
	struct sink	*s = arg;
	size_t		 i;

	if (len < 2 || line[len - 2] != '\r' || line[len - 1] != '\n')
		abort();
	for (i = 0; i + 2 < len; i++)
		if (line[i] == '\n')
			abort();
	s->bytes += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data	 d;
	struct sink		 s = { 0 };
	size_t			 off, chunk, n;
	int			 flags;

	if (size < 2)
		return 0;
	flags = data[0] & DATA_F_BARELF;	/* RAW has other rules */
	chunk = (data[1] % 64) + 1;
	data += 2;
	size -= 2;
	smtp_data_init(&d, flags, 200, 4096, sink_line, &s);
	for (off = 0; off < size && !d.done; off += n) {
		n = size - off < chunk ? size - off : chunk;
		n = smtp_data_feed(&d, (const char *)data + off, n);
		if (n == 0)
			break;
	}
	smtp_data_finish(&d);
	if (d.size != s.bytes)
		abort();
	smtp_data_free(&d);
	return 0;
}
