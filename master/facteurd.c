/*
 * facteurd: the master process. Reads and checks the configuration,
 * prepares the run mode (accounts, directories), binds every listening
 * socket, then starts and supervises the daemons (supervise.c), serves
 * the control socket (control.c) and collects the logs (logsink.c).
 *
 *	facteurd [-dhnS] [-c file]
 *
 * Signals: SIGHUP reloads the configuration (checked first: a bad file
 * is logged and the running configuration kept), SIGTERM and SIGINT stop
 * every daemon and exit.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define DEFAULT_CONF	SYSCONFDIR "/facteur/facteur.conf"

struct master	*env;

static struct master	 master;
static struct event	*ev_sigterm, *ev_sigint, *ev_sighup, *ev_sigchld;

static void	usage(int) __attribute__((noreturn));
static void	master_check_running(struct master *);
static void	master_daemonize(void);
static void	master_write_pidfile(struct master *);
static void	master_signal(int, short, void *);
static void	master_reload(struct master *);
static void	master_reload_warn(const struct config *, const struct config *);

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: facteurd [-dhnS] [-c file]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -d       stay in the foreground, log on stderr too\n"
	    "  -h       this help\n"
	    "  -n       check the configuration file and exit\n"
	    "  -S       sandbox mode (overrides run_mode)\n", DEFAULT_CONF);
	exit(status);
}

int
main(int argc, char *argv[])
{
	char		 err[1024], abspath[PATH_MAX];
	const char	*path = DEFAULT_CONF;
	int		 ch, checkonly = 0;

	env = &master;
	while ((ch = getopt(argc, argv, "c:dhnS")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			env->debug = 1;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'S':
			env->force_sandbox = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	umask(022);
	log_init("facteurd", env->debug);

	if ((env->conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	if (checkonly) {
		printf("%s: ok\n", path);
		exit(0);
	}
	if (realpath(path, abspath) == NULL) {
		fprintf(stderr, "facteurd: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	env->conf_path = xstrdup(abspath);
	env->boot_conf = env->conf;
	env->sandbox = env->force_sandbox || config_is_sandbox(env->conf);
	env->conf_text = master_conf_text(env->conf);
	if (strlen(env->conf_text) > IPC_MAX_STR) {
		fprintf(stderr, "facteurd: %s: too large (%zu bytes without "
		    "comments, at most %d)\n", path, strlen(env->conf_text),
		    IPC_MAX_STR);
		exit(1);
	}
	if (master_tls_load(env->conf, &env->tls_cert, &env->tls_key, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "facteurd: %s\n", err);
		exit(1);
	}
	env->start_sec = now_sec();

	if (privsep_setup(env, err, sizeof(err)) == -1) {
		fprintf(stderr, "facteurd: %s\n", err);
		exit(1);
	}
	if (xasprintf(&env->pidfile, "%s/facteurd.pid",
	    config_str(env->conf, NULL, "run_dir")) == -1)
		fatal("asprintf");
	master_check_running(env);
	privsep_dirs(env);
	logsink_open(env);
	privsep_check_users(env);
	listen_all(env);
	control_listen(env);

	if (!env->debug)
		master_daemonize();
	master_write_pidfile(env);
	signal(SIGPIPE, SIG_IGN);

	if ((env->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	ev_sigterm = evsignal_new(env->base, SIGTERM, master_signal, env);
	ev_sigint = evsignal_new(env->base, SIGINT, master_signal, env);
	ev_sighup = evsignal_new(env->base, SIGHUP, master_signal, env);
	ev_sigchld = evsignal_new(env->base, SIGCHLD, master_signal, env);
	if (ev_sigterm == NULL || ev_sigint == NULL || ev_sighup == NULL ||
	    ev_sigchld == NULL)
		fatalx("evsignal_new failed");
	evsignal_add(ev_sigterm, NULL);
	evsignal_add(ev_sigint, NULL);
	evsignal_add(ev_sighup, NULL);
	evsignal_add(ev_sigchld, NULL);

	log_info("facteurd starting pid=%d mode=%s config=%s", (int)getpid(),
	    env->sandbox ? "sandbox" : "system", env->conf_path);
	control_start(env);
	supervise_start(env);

	event_base_dispatch(env->base);
	master_shutdown();
	return 0;
}

/*
 * The text every daemon parses: the file without its comment lines and
 * blank lines (it must fit in one IPC str). With -S, run_mode = sandbox
 * is appended so that the daemons see the mode facteurd runs in (a later
 * line overrides an earlier one).
 */
char *
master_conf_text(const struct config *conf)
{
	const char	*p, *nl, *q;
	char		*out;
	size_t		 len, off = 0;

	p = config_text(conf);
	len = strlen(p);
	out = xmalloc(len + sizeof("\nrun_mode = sandbox\n"));
	for (; *p != '\0'; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			nl++;
		else
			nl = p + strlen(p);
		for (q = p; q < nl && (*q == ' ' || *q == '\t'); q++)
			;
		if (q == nl || *q == '#' || *q == '\n' || *q == '\r')
			continue;
		memcpy(out + off, p, nl - p);
		off += nl - p;
		if (out[off - 1] != '\n')
			out[off++] = '\n';
	}
	out[off] = '\0';
	if (env->force_sandbox)
		strlcat(out, "run_mode = sandbox\n",
		    len + sizeof("\nrun_mode = sandbox\n"));
	return out;
}

/* Reads a PEM file (a certificate chain or a key) whole. */
static char *
master_read_pem(const char *setting, const char *path, char *err,
    size_t errsz)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0, max = IPC_MAX_PAYLOAD / 2 - 64;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s %s: %s", setting, path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(max + 1);
	while ((n = read(fd, buf + len, max - len)) > 0)
		len += n;
	close(fd);
	if (n == -1 || len == 0 || len >= max ||
	    memchr(buf, '\0', len) != NULL) {
		snprintf(err, errsz, "%s %s: %s", setting, path, n == -1 ?
		    strerror(errno) : len == 0 ? "empty file" :
		    "not a PEM file (or larger than IPC allows)");
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

int
master_tls_load(const struct config *conf, char **cert, char **key,
    char *err, size_t errsz)
{
	const char	*cpath = config_str(conf, NULL, "tls_cert");
	const char	*kpath = config_str(conf, NULL, "tls_key");

	*cert = *key = NULL;
	if (cpath[0] == '\0' && kpath[0] == '\0')
		return 0;
	if (cpath[0] == '\0' || kpath[0] == '\0') {
		snprintf(err, errsz, "tls_cert and tls_key go together: "
		    "set both or neither");
		return -1;
	}
	if ((*cert = master_read_pem("tls_cert", cpath, err, errsz)) == NULL)
		return -1;
	if ((*key = master_read_pem("tls_key", kpath, err, errsz)) == NULL) {
		free(*cert);
		*cert = NULL;
		return -1;
	}
	return 0;
}

static void
master_tls_free(struct master *m)
{
	free(m->tls_cert);
	if (m->tls_key != NULL) {
		explicit_bzero(m->tls_key, strlen(m->tls_key));
		free(m->tls_key);
	}
	m->tls_cert = m->tls_key = NULL;
}

/* Refuse to start over a running instance (it owns the sockets). */
static void
master_check_running(struct master *m)
{
	char	 buf[32];
	ssize_t	 n;
	long	 pid;
	int	 fd;

	if ((fd = open(m->pidfile, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0 || pid == (long)getpid())
		return;
	/* a pid reused by another program is not us */
	snprintf(buf, sizeof(buf), "/proc/%ld/comm", pid);
	if ((fd = open(buf, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0 && strncmp(buf, "facteurd\n", n) != 0)
			return;
	}
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
		fprintf(stderr, "facteurd: already running (pid %ld in %s)\n",
		    pid, m->pidfile);
		exit(1);
	}
}

static void
master_daemonize(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("/dev/null");
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	logsink_daemonized();
}

static void
master_write_pidfile(struct master *m)
{
	char	buf[32];
	int	fd, len;

	fd = open(m->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		fatal("%s", m->pidfile);
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write_all(fd, buf, len) == -1)
		fatal("%s", m->pidfile);
	close(fd);
}

static void
master_signal(int sig, short ev, void *arg)
{
	struct master	*m = arg;

	switch (sig) {
	case SIGCHLD:
		supervise_sigchld(m);
		break;
	case SIGHUP:
		if (!m->stopping)
			master_reload(m);
		break;
	case SIGTERM:
	case SIGINT:
		if (m->stopping)
			break;
		log_info("facteurd stopping on %s",
		    sig == SIGINT ? "SIGINT" : "SIGTERM");
		m->stopping = 1;
		supervise_stop(m);
		break;
	}
}

/* SIGHUP: check the file first; keep running on the old one if bad. */
static void
master_reload(struct master *m)
{
	struct config	*conf;
	char		 err[1024], *text, *cert, *key;

	if ((conf = config_load(m->conf_path, err, sizeof(err))) == NULL) {
		log_warnx("reload failed: %s; keeping the running "
		    "configuration", err);
		return;
	}
	if (master_tls_load(conf, &cert, &key, err, sizeof(err)) == -1) {
		log_warnx("reload failed: %s; keeping the running "
		    "configuration", err);
		config_free(conf);
		return;
	}
	text = master_conf_text(conf);
	if (strlen(text) > IPC_MAX_STR) {
		log_warnx("reload failed: %s: too large (%zu bytes without "
		    "comments, at most %d); keeping the running configuration",
		    m->conf_path, strlen(text), IPC_MAX_STR);
		free(text);
		config_free(conf);
		free(cert);
		if (key != NULL)
			explicit_bzero(key, strlen(key));
		free(key);
		return;
	}
	master_reload_warn(m->boot_conf, conf);
	master_tls_free(m);
	m->tls_cert = cert;
	m->tls_key = key;
	if (m->conf != m->boot_conf)
		config_free(m->conf);
	m->conf = conf;
	free(m->conf_text);
	m->conf_text = text;
	logsink_reopen(m);
	supervise_reload(m);
	log_info("configuration reloaded");
}

/* What a reload cannot change (set up at start): say so. */
static void
master_reload_warn(const struct config *old, const struct config *new)
{
	static const char *const fixed[] = {
		"sandbox_user", "spool_dir", "mail_dir", "run_dir",
		"empty_dir", "daemon_directory", "facteur_user", "queue_user",
		"vmail_user", "auth_user",
	};
	char	*a, *b;
	size_t	 i;

	if (config_is_sandbox(old) != config_is_sandbox(new))
		log_warnx("run_mode changed: restart facteurd to apply it");
	a = listen_describe(old);
	b = listen_describe(new);
	if (strcmp(a, b) != 0)
		log_warnx("listener addresses changed: restart facteurd to "
		    "apply them");
	free(a);
	free(b);
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(config_str(old, NULL, fixed[i]),
		    config_str(new, NULL, fixed[i])) != 0)
			log_warnx("%s changed: restart facteurd to apply it",
			    fixed[i]);
}

/* Every daemon is gone (or stop timed out): clean up and exit. */
void
master_shutdown(void)
{
	control_close(env);
	listen_close(env);
	if (env->pidfile != NULL)
		unlink(env->pidfile);
	log_info("facteurd stopped");
	exit(0);
}
