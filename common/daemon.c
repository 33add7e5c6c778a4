/*
 * What every daemon does between exec and serving: take the master
 * channel from fd 3, receive the configuration, the privilege drop spec,
 * listening sockets and peer channels from facteurd, drop privileges
 * (DESIGN.md "Run modes"), then hand control to the daemon's callbacks.
 * Peer channels are replaced whenever facteurd restarts a peer.
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

static const struct daemon_ops	*ops;
static struct event_base	*base;
static struct ipc_chan		*master;
static struct ipc_chan		*peers[PROC_COUNT];
static struct config		*cfg;
static int			 started;
static int			 early_peer[PROC_COUNT];	/* fds before START */
static pid_t			 parent;

static struct {
	uid_t	uid;
	gid_t	gid;
	char	chroot[1024];
	char	workdir[1024];
	int	set;
} privsep;

struct event_base *
daemon_base(void)
{
	return base;
}

const struct config *
daemon_config(void)
{
	return cfg;
}

struct ipc_chan *
daemon_master(void)
{
	return master;
}

struct ipc_chan *
daemon_peer(int proc)
{
	if (proc < 0 || proc >= PROC_COUNT)
		return NULL;
	return peers[proc];
}

int
daemon_started(void)
{
	return started;
}

static void
daemon_drop_privileges(void)
{
	if (!privsep.set)
		fatalx("START before PRIVSEP");
	if (privsep.chroot[0] != '\0') {
		if (chroot(privsep.chroot) == -1)
			fatal("chroot %s", privsep.chroot);
		if (chdir("/") == -1)
			fatal("chdir / in %s", privsep.chroot);
	} else if (privsep.workdir[0] != '\0' && chdir(privsep.workdir) == -1)
		fatal("chdir %s", privsep.workdir);

	if (geteuid() == 0 || getuid() != privsep.uid) {
		if (setgroups(1, &privsep.gid) == -1)
			fatal("setgroups");
		if (setresgid(privsep.gid, privsep.gid, privsep.gid) == -1)
			fatal("setresgid %u", (unsigned)privsep.gid);
		if (setresuid(privsep.uid, privsep.uid, privsep.uid) == -1)
			fatal("setresuid %u", (unsigned)privsep.uid);
	}
	if (geteuid() == 0 || getuid() == 0)
		fatalx("refusing to serve as root");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
	/* setuid cleared it: die with facteurd */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1)
		fatal("PR_SET_PDEATHSIG");
	if (getppid() != parent)
		fatalx("facteurd is gone");
#ifdef FACTEUR_ASAN
	/* let LeakSanitizer read our memory maps after the uid change */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
}

static void
daemon_apply_config(struct ipc_rbuf *rb, int reload)
{
	struct config	*ncfg, *old;
	char		*text, name[1024], err[1024];

	text = ipc_get_strdup(rb);
	if (reload)
		strlcpy(name, "(reload)", sizeof(name));
	else
		ipc_get_str(rb, name, sizeof(name));
	if (text == NULL || ipc_get_end(rb) == -1)
		fatalx("bad %s frame from facteurd", reload ? "RELOAD" :
		    "CONFIG");
	ncfg = config_parse(text, strlen(text), name, err, sizeof(err));
	free(text);
	if (ncfg == NULL) {
		if (reload) {
			log_warnx("reload refused: %s", err);
			return;
		}
		fatalx("configuration: %s", err);
	}
	old = cfg;
	cfg = ncfg;
	if (ops->config != NULL)
		ops->config(cfg, reload);
	config_free(old);
}

static void	daemon_peer_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	daemon_peer_close(struct ipc_chan *, void *);

static void
daemon_set_peer(int proc, int fd)
{
	if (!started) {
		/* no frame from a peer before we serve: wire it at START */
		if (early_peer[proc] > 0)
			close(early_peer[proc]);
		early_peer[proc] = fd;
		return;
	}
	if (peers[proc] != NULL) {
		ipc_chan_free(peers[proc]);
		peers[proc] = NULL;
		if (ops->peer_gone != NULL)
			ops->peer_gone(proc);
	}
	peers[proc] = ipc_chan_new(base, fd, ops->proc, proc,
	    daemon_peer_msg, daemon_peer_close, (void *)(intptr_t)proc);
	log_debug("channel to %s is up", proc_name(proc));
	if (ops->peer != NULL)
		ops->peer(proc, peers[proc]);
}

static void
daemon_peer_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	int	proc = (int)(intptr_t)arg;

	if (ops->msg != NULL)
		ops->msg(c, proc, m);
	else if (m->fd != -1)
		close(m->fd);
}

static void
daemon_peer_close(struct ipc_chan *c, void *arg)
{
	int	proc = (int)(intptr_t)arg;

	if (peers[proc] != c)
		return;
	log_debug("channel to %s is down", proc_name(proc));
	peers[proc] = NULL;
	ipc_chan_free(c);
	if (ops->peer_gone != NULL)
		ops->peer_gone(proc);
}

static void
daemon_master_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct ipc_rbuf	 rb;
	char		 name[64], addr[1024], stats[4096];
	uint32_t	 proc;

	ipc_rbuf_init(&rb, m->data, m->hdr.len);
	switch (m->hdr.type) {
	case IPC_CONFIG:
		daemon_apply_config(&rb, 0);
		break;
	case IPC_RELOAD:
		daemon_apply_config(&rb, 1);
		break;
	case IPC_PRIVSEP:
		privsep.uid = ipc_get_u32(&rb);
		privsep.gid = ipc_get_u32(&rb);
		ipc_get_str(&rb, privsep.chroot, sizeof(privsep.chroot));
		ipc_get_str(&rb, privsep.workdir, sizeof(privsep.workdir));
		if (ipc_get_end(&rb) == -1)
			fatalx("bad PRIVSEP frame");
		privsep.set = 1;
		break;
	case IPC_LISTENER:
		ipc_get_str(&rb, name, sizeof(name));
		ipc_get_str(&rb, addr, sizeof(addr));
		if (ipc_get_end(&rb) == -1 || m->fd == -1)
			fatalx("bad LISTENER frame");
		if (ops->listener != NULL)
			ops->listener(name, addr, m->fd);
		else
			close(m->fd);
		m->fd = -1;
		break;
	case IPC_PEER:
		proc = ipc_get_u32(&rb);
		if (ipc_get_end(&rb) == -1 || m->fd == -1 ||
		    proc >= PROC_COUNT || proc == PROC_MASTER ||
		    (int)proc == ops->proc)
			fatalx("bad PEER frame");
		daemon_set_peer(proc, m->fd);
		m->fd = -1;
		break;
	case IPC_START:
		if (cfg == NULL)
			fatalx("START before CONFIG");
		daemon_drop_privileges();
		started = 1;
		if (ops->start != NULL)
			ops->start();
		for (proc = 0; proc < PROC_COUNT; proc++) {
			if (early_peer[proc] > 0) {
				daemon_set_peer(proc, early_peer[proc]);
				early_peer[proc] = 0;
			}
		}
		ipc_send(master, IPC_READY, 0, -1, NULL, 0);
		break;
	case IPC_STATS:
		stats[0] = '\0';
		if (ops->stats != NULL)
			ops->stats(stats, sizeof(stats));
		ipc_send(master, IPC_STATS, m->hdr.reqid, -1, stats,
		    strlen(stats));
		break;
	default:
		if (ops->msg != NULL) {
			ops->msg(c, PROC_MASTER, m);
			return;
		}
		log_warnx("unexpected %s from facteurd",
		    ipc_type_name(m->hdr.type));
		break;
	}
	if (m->fd != -1)
		close(m->fd);
}

static void
daemon_master_close(struct ipc_chan *c, void *arg)
{
	/* facteurd is gone: so are we */
	log_to_channel(NULL);
	exit(0);
}

static void
daemon_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	log_debug("stopping on signal %d", (int)sig);
	event_base_loopbreak(base);
}

int
daemon_main(int argc, char **argv, const struct daemon_ops *dops)
{
	struct event	*ev_term, *ev_int;
	int		 debug = 0, i;

	ops = dops;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-d") == 0)
			debug = 1;
	log_init(proc_name(ops->proc), debug);
	parent = getppid();
	tzset();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	master = ipc_chan_new(base, DAEMON_MASTER_FD, ops->proc, PROC_MASTER,
	    daemon_master_msg, daemon_master_close, NULL);
	log_to_channel(master);

	ev_term = evsignal_new(base, SIGTERM, daemon_sigterm, NULL);
	ev_int = evsignal_new(base, SIGINT, daemon_sigterm, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);

	event_base_dispatch(base);

	ipc_flush(master);
	return 0;
}
