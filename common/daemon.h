/*
 * The start-up and plumbing every daemon shares (smtpd, queue, deliver,
 * auth). facteurd execs a daemon with its master channel on fd 3
 * (DAEMON_MASTER_FD) and then sends, in order: IPC_CONFIG, IPC_PRIVSEP,
 * any IPC_LISTENER, an IPC_PEER per peer, and IPC_START. daemon.c handles
 * all of these, drops privileges at IPC_START (chroot or chdir, setgroups,
 * setgid, setuid, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG), then calls
 * ops->start and answers IPC_READY.
 *
 * A peer channel may be replaced at any time (the peer was restarted):
 * daemon.c frees the old one, calls ops->peer_gone, and later ops->peer
 * with the new one. The daemon exits when its master channel closes.
 */
#ifndef FACTEUR_DAEMON_H
#define FACTEUR_DAEMON_H

#include "ipc.h"
#include "proc.h"

#define DAEMON_MASTER_FD	3

struct config;
struct event_base;

struct daemon_ops {
	int	proc;		/* PROC_* of this daemon */
	/* config received (reload = 0 at start, 1 on SIGHUP). At start this
	   runs with the privileges facteurd gave (maybe root), before the
	   drop: open what needs them here. The config stays valid until the
	   next call. */
	void	(*config)(const struct config *, int reload);
	/* a listening socket (smtpd) */
	void	(*listener)(const char *name, const char *addr, int fd);
	/* a channel to a peer is up / is gone */
	void	(*peer)(int proc, struct ipc_chan *);
	void	(*peer_gone)(int proc);
	/* a frame from a peer or from facteurd that daemon.c does not handle;
	   the handler owns msg->fd */
	void	(*msg)(struct ipc_chan *, int from_proc, struct ipc_msg *);
	/* privileges are dropped: serve */
	void	(*start)(void);
	/* IPC_STATS: append "key=value " words into buf */
	void	(*stats)(char *buf, size_t bufsz);
};

/* Runs the daemon until facteurd goes away; returns the exit status. */
int			 daemon_main(int argc, char **argv,
			    const struct daemon_ops *);
struct event_base	*daemon_base(void);
const struct config	*daemon_config(void);
struct ipc_chan		*daemon_master(void);
/* current channel to a peer daemon, or NULL while it is down */
struct ipc_chan		*daemon_peer(int proc);
/* 1 once privileges were dropped */
int			 daemon_started(void);

#endif
