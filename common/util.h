/*
 * Small helpers every program uses: allocation that cannot fail (out of
 * memory is fatal), string and number helpers, fd helpers.
 */
#ifndef FACTEUR_UTIL_H
#define FACTEUR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* libbsd's sys/cdefs.h leaves __unused undefined (Debian #522773), and
   sys/tree.h's generated functions use it */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* fd helpers: 0 or -1 with errno */
int	 fd_nonblock(int);
int	 fd_cloexec(int);
void	 fd_nodelay(int);	/* TCP_NODELAY on a TCP socket */
/* fsync a directory by path; 0 or -1 with errno */
int	 fsync_dir(const char *);
/* write all of buf, retrying on EINTR/short writes; 0 or -1 */
int	 write_all(int, const void *, size_t);

/* ASCII-only lowercase in place; returns s */
char	*str_lower(char *);
/* parses "127.0.0.1:25", "[::1]:25", "*:25" into host and port */
int	 parse_hostport(const char *, char *host, size_t, char *port, size_t);

/* now in seconds / milliseconds (CLOCK_REALTIME / CLOCK_MONOTONIC) */
uint64_t now_sec(void);
uint64_t mono_msec(void);

#endif
