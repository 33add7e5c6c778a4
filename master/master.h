/*
 * facteurd, the master process: what its files share.
 *
 * facteurd.c	options, main, signals, reload
 * privsep.c	run modes: accounts, the uid/gid/root each daemon gets,
 *		directories
 * listen.c	binding the listening sockets handed to smtpd
 * supervise.c	starting daemons, plumbing peer channels, restarts, stop
 * control.c	the control socket (facteurctl, mailq)
 * logsink.c	where log lines end up (syslog, log_file, stderr)
 */
#ifndef FACTEUR_MASTER_H
#define FACTEUR_MASTER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "proc.h"

struct config;
struct event;
struct event_base;
struct ipc_chan;
struct ipc_msg;

/* one listening socket, kept for the life of facteurd */
struct listener {
	char		 name[16];	/* smtp, submission, smtps, local */
	char		 addr[256];	/* as configured */
	int		 fd;
};

/* what a daemon gets in IPC_PRIVSEP */
struct privsep {
	uid_t		 uid;
	gid_t		 gid;
	char		*chroot;	/* "" for none */
	char		*workdir;
};

/* one supervised daemon */
struct daemon_slot {
	int		 proc;		/* PROC_SMTPD ... PROC_AUTH */
	pid_t		 pid;		/* 0 while not running */
	struct ipc_chan	*chan;		/* master channel, NULL when gone */
	int		 ready;		/* IPC_READY received */
	uint64_t	 start_ms;	/* monotonic, for the backoff */
	uint64_t	 start_sec;	/* wall clock, for uptime */
	unsigned int	 restarts;
	uint64_t	 backoff_ms;	/* delay of the next restart */
	struct event	*restart_ev;
	int		 disabled;	/* no listener for its service */
};

struct master {
	struct event_base	*base;
	struct config		*conf;
	struct config		*boot_conf;	/* what was bound and set up */
	char			*conf_path;
	char			*conf_text;	/* what daemons get */
	char			*tls_cert;	/* PEM chain, NULL without TLS */
	char			*tls_key;	/* PEM key */
	int			 debug;		/* -d */
	int			 force_sandbox;	/* -S */
	int			 sandbox;	/* effective run mode */
	uid_t			 ctl_uid;	/* also allowed on control.sock */
	struct privsep		 privsep[PROC_COUNT];
	struct listener		*listeners;
	size_t			 nlisteners;
	struct daemon_slot	 slots[PROC_COUNT];
	char			*pidfile;
	int			 stopping;
	uint64_t		 start_sec;
};

extern struct master	*env;

/* facteurd.c */
char	*master_conf_text(const struct config *);
/* reads tls_cert and tls_key of conf into cert and key (NULL, NULL when
   not configured); -1 with err set when a file cannot be read */
int	 master_tls_load(const struct config *, char **cert, char **key,
	    char *err, size_t errsz);
void	 master_shutdown(void) __attribute__((noreturn));

/* privsep.c */
int	 privsep_setup(struct master *, char *err, size_t errsz);
void	 privsep_dirs(struct master *);
void	 privsep_check_users(struct master *);

/* listen.c */
void	 listen_all(struct master *);
void	 listen_close(struct master *);
/* the daemon that serves a listener ("pop3" -> PROC_POPD) */
int	 listener_proc(const char *name);
/* a short description of the configured addresses, to spot changes */
char	*listen_describe(const struct config *);

/* supervise.c */
void	 supervise_start(struct master *);
void	 supervise_sigchld(struct master *);
void	 supervise_stop(struct master *);
void	 supervise_reload(struct master *);
struct ipc_chan	*supervise_chan(int proc);

/* control.c */
void	 control_listen(struct master *);
void	 control_start(struct master *);
void	 control_close(struct master *);
/* an answer from queue to a forwarded request */
void	 control_queue_reply(struct ipc_msg *);
/* queue is gone: answer every waiting request */
void	 control_queue_gone(void);
/* IPC_STATS from a daemon, for a status request; the daemon is gone */
void	 control_stats_reply(int proc, struct ipc_msg *);
void	 control_stats_gone(int proc);

/* logsink.c */
void	 logsink_open(struct master *);
void	 logsink_reopen(struct master *);
/* stderr is /dev/null from now on (unless -d) */
void	 logsink_daemonized(void);
/* a line from a daemon (IPC_LOG) */
void	 logsink_daemon_line(int proc, pid_t, int priority, const char *);

#endif
