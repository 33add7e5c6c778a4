/*
 * Logging for every program. facteurd installs a sink (syslog, log file,
 * stderr); a daemon sends its lines to facteurd as IPC_LOG frames once its
 * master channel is up, and writes to stderr before that and after it is
 * gone, so that nothing said at start-up or at a fatal error is lost.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define LOG_LINE_MAX	4096

static const char	*log_procname = "facteur";
static int		 log_debug_on;
static struct ipc_chan	*log_chan;
static log_sink_fn	*log_sink;

void
log_init(const char *procname, int debug)
{
	log_procname = procname;
	log_debug_on = debug;
}

void
log_to_channel(struct ipc_chan *chan)
{
	log_chan = chan;
}

void
log_set_sink(log_sink_fn *fn)
{
	log_sink = fn;
}

static void
log_emit(int priority, const char *line)
{
	struct ipc_wbuf	 wb;
	char		 ts[32];
	time_t		 t;

	if (log_sink != NULL) {
		log_sink(priority, line);
		return;
	}
	if (log_chan != NULL) {
		ipc_wbuf_init(&wb);
		ipc_put_u32(&wb, priority);
		ipc_put_str(&wb, line);
		if (ipc_sendw(log_chan, IPC_LOG, 0, -1, &wb) == 0)
			return;
	}
	t = time(NULL);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", localtime(&t));
	fprintf(stderr, "%s %s\n", ts, line);
}

void
log_vmsg(int priority, int with_errno, const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 64];
	char	*p;
	int	saved = errno;

	if (priority == LOG_DEBUG && !log_debug_on)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* one event, one line: never let a newline from data split it */
	for (p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (with_errno)
		snprintf(line, sizeof(line), "%s: %s: %s", log_procname, msg,
		    strerror(saved));
	else
		snprintf(line, sizeof(line), "%s: %s", log_procname, msg);
	log_emit(priority, line);
	errno = saved;
}

#define LOG_FN(name, prio, with_errno)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
							\
	va_start(ap, fmt);				\
	log_vmsg(prio, with_errno, fmt, ap);		\
	va_end(ap);					\
}

LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_notice, LOG_NOTICE, 0)
LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	if (log_chan != NULL)
		ipc_flush(log_chan);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	if (log_chan != NULL)
		ipc_flush(log_chan);
	exit(1);
}
