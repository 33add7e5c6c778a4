/*
 * Command lines from a libevent input buffer, as the line protocols read
 * them: a line ends at LF (a CR before it is dropped, so netcat's bare LF
 * works), and a line longer than the caller's buffer is refused once and
 * skipped to its end.
 */
#ifndef FACTEUR_LINEIN_H
#define FACTEUR_LINEIN_H

#include <stddef.h>

struct evbuffer;

/*
 * Takes the next line from in into buf (NUL-terminated, *len bytes).
 * Returns 1 for a line, 0 when no whole line is there yet, -1 once for a
 * line too long for buf (answer it; its bytes are discarded). *skipping
 * is the caller's state between calls (start with 0).
 */
int	linein_get(struct evbuffer *in, char *buf, size_t bufsz, size_t *len,
	    int *skipping);

#endif
