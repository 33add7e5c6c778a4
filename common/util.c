/*
 * Small helpers shared by every program: allocation that cannot fail,
 * fd and directory helpers, clocks.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("malloc");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("calloc");
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if ((p = reallocarray(old, n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("reallocarray");
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("vasprintf");
	return n;
}

int
fd_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int
fd_cloexec(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/*
 * Replies go out as soon as they are written: without this, the first
 * reply after a TLS 1.3 handshake (whose session tickets are still
 * unacknowledged) waits for the client's delayed ACK, 40 ms on Linux.
 * Harmless on a Unix socket (it fails and is ignored).
 */
void
fd_nodelay(int fd)
{
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
fsync_dir(const char *path)
{
	int	fd, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

char *
str_lower(char *s)
{
	char	*p;

	for (p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	return s;
}

/* "127.0.0.1:25", "[::1]:25", "*:25" or ":25" (any address) */
int
parse_hostport(const char *s, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char	*colon, *end;
	size_t		 hlen;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		hlen = end - s - 1;
		s++;
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hlen = colon - s;
	}
	if (hlen >= hostsz || strlen(colon + 1) >= portsz ||
	    colon[1] == '\0')
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "*") == 0)
		host[0] = '\0';
	strlcpy(port, colon + 1, portsz);
	for (end = port; *end; end++)
		if (!isdigit((unsigned char)*end))
			return -1;
	return 0;
}

uint64_t
now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

uint64_t
mono_msec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
