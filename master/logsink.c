/*
 * Where log lines end up (DESIGN.md "Logging"). facteurd's own lines and
 * the daemons' (IPC_LOG) go to one sink:
 *	- syslog(LOG_MAIL) in system mode when /dev/log exists,
 *	- else log_file, appended (always in sandbox mode: everything of a
 *	  sandbox lives in its own directory),
 *	- and stderr with -d (and before facteurd detaches, so that start-up
 *	  errors are seen).
 * Every line reads "name[pid]: text"; lines written to log_file start
 * with the local time.
 */
#include <sys/types.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define LOG_LINE_MAX	8192

static int	 log_fd = -1;
static int	 use_syslog;
static int	 use_stderr = 1;
static int	 debug;

static void	logsink_emit(int, const char *);
static void	logsink_own(int, const char *);
static int	logsink_open_file(struct master *);

void
logsink_open(struct master *m)
{
	debug = m->debug;
	if (!m->sandbox && access("/dev/log", F_OK) == 0) {
		openlog("facteur", LOG_NDELAY, LOG_MAIL);
		use_syslog = 1;
	} else if (logsink_open_file(m) == -1)
		fatal("log_file %s", config_str(m->conf, NULL, "log_file"));
	log_set_sink(logsink_own);
}

static int
logsink_open_file(struct master *m)
{
	const char	*path = config_str(m->conf, NULL, "log_file");
	int		 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (m->sandbox && geteuid() == 0)
		(void)fchown(fd, m->privsep[PROC_QUEUE].uid,
		    m->privsep[PROC_QUEUE].gid);
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return 0;
}

/* SIGHUP: log_file may have been rotated or renamed. */
void
logsink_reopen(struct master *m)
{
	if (use_syslog)
		return;
	if (logsink_open_file(m) == -1)
		log_warn("reopen log_file %s",
		    config_str(m->conf, NULL, "log_file"));
}

void
logsink_daemonized(void)
{
	use_stderr = debug;
}

/* "facteurd: text" from log.c becomes "facteurd[pid]: text" */
static void
logsink_own(int priority, const char *line)
{
	char	buf[LOG_LINE_MAX];
	size_t	n = strlen("facteurd: ");

	if (strncmp(line, "facteurd: ", n) == 0)
		line += n;
	snprintf(buf, sizeof(buf), "facteurd[%d]: %s", (int)getpid(), line);
	logsink_emit(priority, buf);
}

void
logsink_daemon_line(int proc, pid_t pid, int priority, const char *line)
{
	char		 buf[LOG_LINE_MAX];
	const char	*name = proc_name(proc);
	size_t		 n = strlen(name);

	if (strncmp(line, name, n) == 0 && strncmp(line + n, ": ", 2) == 0)
		line += n + 2;
	snprintf(buf, sizeof(buf), "%s[%d]: %s", name, (int)pid, line);
	logsink_emit(priority, buf);
}

static void
logsink_emit(int priority, const char *line)
{
	char		 buf[LOG_LINE_MAX + 64], stamp[32];
	struct timeval	 tv;
	struct tm	 tm;
	size_t		 off, i, len;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	off = snprintf(buf, sizeof(buf), "%s.%03ld ", stamp,
	    (long)(tv.tv_usec / 1000));
	len = strlcpy(buf + off, line, sizeof(buf) - off - 1);
	if (len > sizeof(buf) - off - 2)
		len = sizeof(buf) - off - 2;
	/* a daemon may log what a client sent: no control characters */
	for (i = off; i < off + len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[off + len] = '\n';
	len += off + 1;

	if (use_syslog)
		syslog(LOG_PRI(priority), "%.*s", (int)(len - off - 1),
		    buf + off);
	else if (log_fd != -1)
		(void)write(log_fd, buf, len);
	if (use_stderr)
		(void)write(STDERR_FILENO, buf + off, len - off);
}
