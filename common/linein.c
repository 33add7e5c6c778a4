/*
 * Command lines from a libevent input buffer (linein.h).
 */
#include <sys/types.h>

#include <event2/buffer.h>

#include "linein.h"

int
linein_get(struct evbuffer *in, char *buf, size_t bufsz, size_t *len,
    int *skipping)
{
	struct evbuffer_ptr	eol;
	size_t			avail, eollen, n;
	int			was;

	for (;;) {
		if ((avail = evbuffer_get_length(in)) == 0)
			return 0;
		eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (avail <= bufsz - 2)
				return 0;
			/* no end in sight and already too long */
			was = *skipping;
			*skipping = 1;
			evbuffer_drain(in, avail);
			return was ? 0 : -1;
		}
		n = (size_t)eol.pos;
		if (*skipping || n >= bufsz - 1) {
			was = *skipping;
			*skipping = 0;
			evbuffer_drain(in, n + 1);
			if (!was)
				return -1;
			continue;
		}
		evbuffer_remove(in, buf, n + 1);
		buf[n] = '\0';
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
		*len = n;
		return 1;
	}
}
