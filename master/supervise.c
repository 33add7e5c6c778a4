/*
 * Starting and supervising the daemons (DESIGN.md "Processes", "IPC").
 *
 * Each daemon is exec'd from daemon_directory with its master channel (a
 * SOCK_SEQPACKET socketpair) on fd 3, then gets, in order (daemon.h):
 * IPC_CONFIG, IPC_PRIVSEP, IPC_LISTENER* (smtpd), IPC_PEER per running
 * peer, IPC_START; it answers IPC_READY once its privileges are dropped.
 * Peers: smtpd-auth, smtpd-queue, queue-deliver. A daemon that dies is
 * restarted (after 0.1 s, doubling while it keeps dying within 10 s of its
 * start, up to restart_backoff_max) and fresh peer channels go to it and
 * to its running peers. Stop: SIGTERM to all, SIGKILL after 5 s.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define RESTART_MIN_MS		100	/* first restart */
#define RESTART_QUICK_MS	10000	/* dying sooner doubles the delay */
#define STOP_GRACE_SEC		5

static const int peer_pairs[][2] = {
	{ PROC_SMTPD, PROC_AUTH },
	{ PROC_SMTPD, PROC_QUEUE },
	{ PROC_QUEUE, PROC_DELIVER },
	{ PROC_QUEUE, PROC_AUTH },
	{ PROC_POPD, PROC_AUTH },
	{ PROC_POPD, PROC_POPD_MAIL },
};

static struct ipc_wbuf	 wbuf;		/* one frame at a time */
static struct event	*stop_ev;

static int	supervise_spawn(struct master *, struct daemon_slot *);
static void	supervise_exec(struct master *, struct daemon_slot *, int,
		    const char *) __attribute__((noreturn));
static void	supervise_link(struct master *, int, int);
static void	supervise_link_peers(struct master *, int);
static void	supervise_send_start(struct daemon_slot *);
static void	supervise_send_tls(struct master *, struct daemon_slot *);
static int	supervise_running(const struct daemon_slot *);
static int	supervise_all_gone(struct master *);
static void	supervise_schedule(struct master *, struct daemon_slot *);
static void	supervise_restart(int, short, void *);
static void	supervise_stop_timeout(int, short, void *);
static void	supervise_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	supervise_closed(struct ipc_chan *, void *);

/* Daemons of a service nobody listens for are not started. */
static int
supervise_wanted(struct master *m, int proc)
{
	size_t	i;

	if (proc != PROC_POPD && proc != PROC_POPD_MAIL)
		return 1;
	for (i = 0; i < m->nlisteners; i++)
		if (listener_proc(m->listeners[i].name) == PROC_POPD)
			return 1;
	return 0;
}

void
supervise_start(struct master *m)
{
	struct daemon_slot	*s;
	int			 p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		s = &m->slots[p];
		s->proc = p;
		s->disabled = !supervise_wanted(m, p);
		s->restart_ev = evtimer_new(m->base, supervise_restart, s);
		if (s->restart_ev == NULL)
			fatalx("evtimer_new failed");
	}
	for (p = PROC_SMTPD; p < PROC_COUNT; p++)
		if (!m->slots[p].disabled &&
		    supervise_spawn(m, &m->slots[p]) == -1)
			supervise_schedule(m, &m->slots[p]);
	for (p = 0; p < (int)(sizeof(peer_pairs) / sizeof(peer_pairs[0])); p++)
		supervise_link(m, peer_pairs[p][0], peer_pairs[p][1]);
	for (p = PROC_SMTPD; p < PROC_COUNT; p++)
		supervise_send_start(&m->slots[p]);
}

static int
supervise_running(const struct daemon_slot *s)
{
	return s->pid > 0 && s->chan != NULL;
}

/* The master channel to a daemon that is up and serving, or NULL. */
struct ipc_chan *
supervise_chan(int proc)
{
	struct daemon_slot	*s;

	if (proc <= PROC_MASTER || proc >= PROC_COUNT)
		return NULL;
	s = &env->slots[proc];
	return (supervise_running(s) && s->ready) ? s->chan : NULL;
}

/*
 * Forks and execs one daemon and sends it everything but its peers and
 * IPC_START. Returns -1 when the fork failed.
 */
static int
supervise_spawn(struct master *m, struct daemon_slot *s)
{
	const struct privsep	*ps = &m->privsep[s->proc];
	char			*path;
	pid_t			 pid;
	size_t			 i;
	int			 sp[2];

	if (xasprintf(&path, "%s/%s",
	    config_str(m->boot_conf, NULL, "daemon_directory"),
	    proc_name(s->proc)) == -1)
		fatal("asprintf");
	if (access(path, X_OK) == -1)
		log_warn("daemon %s: cannot execute %s", proc_name(s->proc),
		    path);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("daemon %s: socketpair", proc_name(s->proc));
		free(path);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("daemon %s: fork", proc_name(s->proc));
		close(sp[0]);
		close(sp[1]);
		free(path);
		return -1;
	}
	if (pid == 0)
		supervise_exec(m, s, sp[1], path);
	free(path);
	close(sp[1]);

	s->pid = pid;
	s->ready = 0;
	s->start_ms = mono_msec();
	s->start_sec = now_sec();
	s->chan = ipc_chan_new(m->base, sp[0], PROC_MASTER, s->proc,
	    supervise_msg, supervise_closed, s);
	if (s->chan == NULL) {
		log_warnx("daemon %s: cannot set up its channel",
		    proc_name(s->proc));
		close(sp[0]);
		kill(pid, SIGKILL);
		return 0;	/* SIGCHLD restarts it */
	}
	log_debug("daemon %s spawned pid=%d", proc_name(s->proc), (int)pid);

	ipc_wbuf_init(&wbuf);
	ipc_put_str(&wbuf, m->conf_text);
	ipc_put_str(&wbuf, m->conf_path);
	if (ipc_sendw(s->chan, IPC_CONFIG, 0, -1, &wbuf) == -1)
		log_warnx("daemon %s: cannot send the configuration (%zu "
		    "bytes)", proc_name(s->proc), strlen(m->conf_text));

	ipc_wbuf_init(&wbuf);
	ipc_put_u32(&wbuf, ps->uid);
	ipc_put_u32(&wbuf, ps->gid);
	ipc_put_str(&wbuf, ps->chroot);
	ipc_put_str(&wbuf, ps->workdir);
	ipc_sendw(s->chan, IPC_PRIVSEP, 0, -1, &wbuf);

	if (m->tls_cert != NULL && (s->proc == PROC_SMTPD ||
	    s->proc == PROC_POPD))
		supervise_send_tls(m, s);

	for (i = 0; i < m->nlisteners; i++) {
		if (listener_proc(m->listeners[i].name) != s->proc)
			continue;
		ipc_wbuf_init(&wbuf);
		ipc_put_str(&wbuf, m->listeners[i].name);
		ipc_put_str(&wbuf, m->listeners[i].addr);
		ipc_sendw(s->chan, IPC_LISTENER, 0, m->listeners[i].fd, &wbuf);
	}
	return 0;
}

/* The certificate chain and key, read by facteurd (the daemons cannot). */
static void
supervise_send_tls(struct master *m, struct daemon_slot *s)
{
	ipc_wbuf_init(&wbuf);
	ipc_put_str(&wbuf, m->tls_cert);
	ipc_put_str(&wbuf, m->tls_key);
	if (ipc_sendw(s->chan, IPC_TLS_MATERIAL, 0, -1, &wbuf) == -1)
		log_warnx("daemon %s: cannot send the TLS certificate and key",
		    proc_name(s->proc));
	explicit_bzero(wbuf.data, wbuf.len);
}

/* In the child: the master channel on fd 3, nothing else open but 0-2. */
static void
supervise_exec(struct master *m, struct daemon_slot *s, int fd,
    const char *path)
{
	char		*argv[3];
	sigset_t	 set;

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* keep a terminal's ^C for facteurd, which stops everyone in order */
	(void)setpgid(0, 0);
	if (fd == DAEMON_MASTER_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(fd, DAEMON_MASTER_FD) == -1)
		_exit(127);
	closefrom(DAEMON_MASTER_FD + 1);

	argv[0] = (char *)proc_name(s->proc);
	argv[1] = m->debug ? "-d" : NULL;
	argv[2] = NULL;
	execv(path, argv);
	dprintf(STDERR_FILENO, "facteurd: exec %s: %s\n", path,
	    strerror(errno));
	_exit(127);
}

/* A fresh channel between two running daemons. */
static void
supervise_link(struct master *m, int a, int b)
{
	struct daemon_slot	*sa = &m->slots[a], *sb = &m->slots[b];
	int			 sp[2];

	if (!supervise_running(sa) || !supervise_running(sb))
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("peers %s-%s: socketpair", proc_name(a),
		    proc_name(b));
		return;
	}
	ipc_wbuf_init(&wbuf);
	ipc_put_u32(&wbuf, b);
	ipc_sendw(sa->chan, IPC_PEER, 0, sp[0], &wbuf);
	ipc_wbuf_init(&wbuf);
	ipc_put_u32(&wbuf, a);
	ipc_sendw(sb->chan, IPC_PEER, 0, sp[1], &wbuf);
	close(sp[0]);
	close(sp[1]);
	log_debug("peers %s-%s linked", proc_name(a), proc_name(b));
}

/* After a restart of proc: link it with every running peer. */
static void
supervise_link_peers(struct master *m, int proc)
{
	size_t	i;

	for (i = 0; i < sizeof(peer_pairs) / sizeof(peer_pairs[0]); i++) {
		if (peer_pairs[i][0] == proc)
			supervise_link(m, proc, peer_pairs[i][1]);
		else if (peer_pairs[i][1] == proc)
			supervise_link(m, peer_pairs[i][0], proc);
	}
}

static void
supervise_send_start(struct daemon_slot *s)
{
	if (supervise_running(s))
		ipc_send(s->chan, IPC_START, 0, -1, NULL, 0);
}

static int
supervise_all_gone(struct master *m)
{
	int	p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++)
		if (m->slots[p].pid > 0)
			return 0;
	return 1;
}

void
supervise_sigchld(struct master *m)
{
	struct daemon_slot	*s;
	pid_t			 pid;
	int			 status, p;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		s = NULL;
		for (p = PROC_SMTPD; p < PROC_COUNT; p++)
			if (m->slots[p].pid == pid)
				s = &m->slots[p];
		if (s == NULL)
			continue;
		if (WIFSIGNALED(status))
			log_info("daemon %s pid=%d killed by signal %d",
			    proc_name(s->proc), (int)pid, WTERMSIG(status));
		else
			log_info("daemon %s pid=%d exited status=%d%s",
			    proc_name(s->proc), (int)pid,
			    WEXITSTATUS(status), WEXITSTATUS(status) == 127 ?
			    " (could not exec?)" : "");
		if (s->chan != NULL) {
			ipc_chan_free(s->chan);
			s->chan = NULL;
			if (s->proc == PROC_QUEUE)
				control_queue_gone();
			control_stats_gone(s->proc);
		}
		s->pid = 0;
		s->ready = 0;
		if (m->stopping) {
			if (supervise_all_gone(m))
				master_shutdown();
			continue;
		}
		supervise_schedule(m, s);
	}
}

static void
supervise_schedule(struct master *m, struct daemon_slot *s)
{
	struct timeval	tv;
	uint64_t	max;

	max = (uint64_t)config_num(m->conf, NULL, "restart_backoff_max") *
	    1000;
	if (max < RESTART_MIN_MS)
		max = RESTART_MIN_MS;
	if (s->backoff_ms == 0 ||
	    mono_msec() - s->start_ms >= RESTART_QUICK_MS)
		s->backoff_ms = RESTART_MIN_MS;
	else if ((s->backoff_ms *= 2) > max)
		s->backoff_ms = max;
	tv.tv_sec = s->backoff_ms / 1000;
	tv.tv_usec = (s->backoff_ms % 1000) * 1000;
	evtimer_add(s->restart_ev, &tv);
	log_info("daemon %s restarting in %.1fs", proc_name(s->proc),
	    s->backoff_ms / 1000.0);
}

static void
supervise_restart(int fd, short ev, void *arg)
{
	struct daemon_slot	*s = arg;

	if (env->stopping || s->pid > 0)
		return;
	s->restarts++;
	if (supervise_spawn(env, s) == -1) {
		s->start_ms = mono_msec();
		supervise_schedule(env, s);
		return;
	}
	supervise_link_peers(env, s->proc);
	supervise_send_start(s);
}

/* A frame from a daemon on its master channel. */
static void
supervise_msg(struct ipc_chan *chan, struct ipc_msg *msg, void *arg)
{
	struct daemon_slot	*s = arg;
	struct ipc_rbuf		 rb;
	char			*line;
	uint32_t		 pri;

	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	switch (msg->hdr.type) {
	case IPC_READY:
		s->ready = 1;
		log_info("daemon %s started pid=%d", proc_name(s->proc),
		    (int)s->pid);
		break;
	case IPC_LOG:
		pri = ipc_get_u32(&rb);
		line = ipc_get_strdup(&rb);
		if (line != NULL && ipc_get_end(&rb) == 0)
			logsink_daemon_line(s->proc, s->pid, pri, line);
		else
			log_warnx("daemon %s: bad IPC_LOG frame",
			    proc_name(s->proc));
		free(line);
		break;
	case IPC_STATS:
		control_stats_reply(s->proc, msg);
		break;
	case IPC_CTL_QUEUE_ENTRY:
	case IPC_CTL_QUEUE_TEXT:
	case IPC_CTL_QUEUE_END:
		if (s->proc == PROC_QUEUE) {
			control_queue_reply(msg);
			break;
		}
		/* FALLTHROUGH */
	default:
		log_warnx("daemon %s sent unexpected %s", proc_name(s->proc),
		    ipc_type_name(msg->hdr.type));
		break;
	}
	if (msg->fd != -1)
		close(msg->fd);
}

/* The daemon closed its channel or broke the protocol: it must go. */
static void
supervise_closed(struct ipc_chan *chan, void *arg)
{
	struct daemon_slot	*s = arg;

	ipc_chan_free(chan);
	s->chan = NULL;
	s->ready = 0;
	if (s->proc == PROC_QUEUE)
		control_queue_gone();
	control_stats_gone(s->proc);
	if (s->pid > 0) {
		log_debug("daemon %s pid=%d: channel closed",
		    proc_name(s->proc), (int)s->pid);
		kill(s->pid, SIGTERM);
	}
}

void
supervise_reload(struct master *m)
{
	int	p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		if (!supervise_running(&m->slots[p]))
			continue;
		ipc_wbuf_init(&wbuf);
		ipc_put_str(&wbuf, m->conf_text);
		if (ipc_sendw(m->slots[p].chan, IPC_RELOAD, 0, -1, &wbuf) == -1)
			log_warnx("daemon %s: cannot send the configuration",
			    proc_name(p));
		if (m->tls_cert != NULL && (p == PROC_SMTPD || p == PROC_POPD))
			supervise_send_tls(m, &m->slots[p]);
	}
}

void
supervise_stop(struct master *m)
{
	struct timeval	tv = { STOP_GRACE_SEC, 0 };
	int		p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		if (m->slots[p].restart_ev != NULL)
			evtimer_del(m->slots[p].restart_ev);
		if (m->slots[p].pid > 0)
			kill(m->slots[p].pid, SIGTERM);
	}
	if (supervise_all_gone(m))
		master_shutdown();
	if ((stop_ev = evtimer_new(m->base, supervise_stop_timeout, m)) ==
	    NULL)
		fatalx("evtimer_new failed");
	evtimer_add(stop_ev, &tv);
}

static void
supervise_stop_timeout(int fd, short ev, void *arg)
{
	struct master	*m = arg;
	int		 p;

	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		if (m->slots[p].pid <= 0)
			continue;
		log_warnx("daemon %s pid=%d did not stop in %ds: killing it",
		    proc_name(p), (int)m->slots[p].pid, STOP_GRACE_SEC);
		kill(m->slots[p].pid, SIGKILL);
		waitpid(m->slots[p].pid, NULL, 0);
		m->slots[p].pid = 0;
	}
	master_shutdown();
}
