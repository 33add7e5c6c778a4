/*
 * Logging. In facteurd, lines go to syslog (LOG_MAIL) when /dev/log exists,
 * else to log_file, and to stderr with -d. In a daemon, lines are sent to
 * facteurd over the master channel (IPC_LOG); before that channel exists,
 * or when it is gone, they go to stderr.
 *
 * One line per event, key=value, the queue id first for anything about a
 * message: "4F2A9C1B0E3D: from=<a@b> size=1234 nrcpt=1".
 */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H

#include <stdarg.h>
#include <syslog.h>

struct ipc_chan;

/* procname prefixes every line ("smtpd"); debug enables log_debug */
void	log_init(const char *procname, int debug);
/* daemons: send lines to facteurd from now on */
void	log_to_channel(struct ipc_chan *);
/* facteurd: where lines end up; sink receives (priority, "proc: text") */
typedef void	log_sink_fn(int priority, const char *line);
void	log_set_sink(log_sink_fn *);

void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* warn: appends ": strerror(errno)"; warnx: does not */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	log_vmsg(int priority, int with_errno, const char *, va_list);

#endif
