/*
 * Run modes (DESIGN.md "Run modes"): which account, root directory and
 * working directory each daemon gets, and the directories they need.
 *
 * system:  smtpd as facteur_user chrooted to empty_dir, queue as
 *	    queue_user chrooted to spool_dir, deliver as vmail_user chrooted
 *	    to mail_dir, auth as auth_user in "/". Needs root; a missing
 *	    account stops facteurd (accounts are made by make install).
 * sandbox: every daemon as the invoking user (as sandbox_user when
 *	    facteurd runs as root), no chroot, chdir to the same places.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "util.h"

static const char *const path_settings[] = {
	"spool_dir", "mail_dir", "run_dir", "empty_dir", "daemon_directory",
	"users_file", "log_file",
};

/* setting that names each daemon's account in system mode */
static const char *const proc_account[PROC_COUNT] = {
	NULL, "facteur_user", "queue_user", "vmail_user", "auth_user",
	"facteur_user", "vmail_user"
};

static void	privsep_set(struct privsep *, uid_t, gid_t, const char *,
		    const char *);
static int	privsep_sandbox_owner(struct master *, char *, size_t);
static void	dir_mkdir_p(const char *);
static void	dir_prepare(const char *, mode_t, uid_t, gid_t);
static void	dir_check_empty(const char *);

static void
privsep_set(struct privsep *ps, uid_t uid, gid_t gid, const char *root,
    const char *workdir)
{
	ps->uid = uid;
	ps->gid = gid;
	ps->chroot = xstrdup(root);
	ps->workdir = xstrdup(workdir);
}

int
privsep_setup(struct master *m, char *err, size_t errsz)
{
	const struct config	*conf = m->conf;
	const char		*spool, *mail, *empty, *name;
	char			*users_dir;
	struct passwd		*pw;
	size_t			 i;
	int			 p;

	for (i = 0; i < sizeof(path_settings) / sizeof(path_settings[0]); i++)
		if (config_str(conf, NULL, path_settings[i])[0] != '/') {
			snprintf(err, errsz, "%s must be an absolute path: '%s'",
			    path_settings[i],
			    config_str(conf, NULL, path_settings[i]));
			return -1;
		}
	spool = config_str(conf, NULL, "spool_dir");
	mail = config_str(conf, NULL, "mail_dir");
	empty = config_str(conf, NULL, "empty_dir");

	if (m->sandbox) {
		uid_t	uid = getuid();
		gid_t	gid = getgid();

		if (geteuid() == 0) {
			if (privsep_sandbox_owner(m, err, errsz) == -1)
				return -1;
			pw = getpwnam(config_str(conf, NULL, "sandbox_user"));
			uid = pw->pw_uid;
			gid = pw->pw_gid;
		}
		m->ctl_uid = uid;
		privsep_set(&m->privsep[PROC_SMTPD], uid, gid, "", empty);
		privsep_set(&m->privsep[PROC_QUEUE], uid, gid, "", spool);
		privsep_set(&m->privsep[PROC_DELIVER], uid, gid, "", mail);
		/* auth opens its files relative to the users file's
		   directory (auth.c: auth_file_path) */
		users_dir = xstrdup(config_str(conf, NULL, "users_file"));
		*strrchr(users_dir, '/') = '\0';
		privsep_set(&m->privsep[PROC_AUTH], uid, gid, "",
		    users_dir[0] != '\0' ? users_dir : "/");
		free(users_dir);
		privsep_set(&m->privsep[PROC_POPD], uid, gid, "", empty);
		privsep_set(&m->privsep[PROC_POPD_MAIL], uid, gid, "", mail);
		return 0;
	}

	if (geteuid() != 0) {
		snprintf(err, errsz, "system mode needs root (run_mode = "
		    "system); use -S or run_mode = sandbox to run as a user");
		return -1;
	}
	m->ctl_uid = 0;
	for (p = PROC_SMTPD; p < PROC_COUNT; p++) {
		name = config_str(conf, NULL, proc_account[p]);
		if ((pw = getpwnam(name)) == NULL) {
			snprintf(err, errsz, "account %s (%s) does not exist: "
			    "run make install or create it", name,
			    proc_account[p]);
			return -1;
		}
		if (pw->pw_uid == 0 || pw->pw_gid == 0) {
			snprintf(err, errsz, "account %s (%s) must not be root "
			    "or in group 0", name, proc_account[p]);
			return -1;
		}
		switch (p) {
		case PROC_SMTPD:
		case PROC_POPD:
			privsep_set(&m->privsep[p], pw->pw_uid, pw->pw_gid,
			    empty, "/");
			break;
		case PROC_QUEUE:
			privsep_set(&m->privsep[p], pw->pw_uid, pw->pw_gid,
			    spool, "/");
			break;
		case PROC_DELIVER:
		case PROC_POPD_MAIL:
			privsep_set(&m->privsep[p], pw->pw_uid, pw->pw_gid,
			    mail, "/");
			break;
		case PROC_AUTH:
			privsep_set(&m->privsep[p], pw->pw_uid, pw->pw_gid,
			    "", "/");
			break;
		}
	}
	return 0;
}

/* Sandbox mode started as root: sandbox_user must own the data dir. */
static int
privsep_sandbox_owner(struct master *m, char *err, size_t errsz)
{
	const char	*user = config_str(m->conf, NULL, "sandbox_user");
	char		 buf[PATH_MAX], *dir;
	struct passwd	*pw;
	struct stat	 sb;

	if (user[0] == '\0') {
		snprintf(err, errsz, "sandbox mode started as root needs "
		    "sandbox_user (the account that owns the data directory)");
		return -1;
	}
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsz, "account %s (sandbox_user) does not "
		    "exist", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsz, "sandbox_user %s must not be root", user);
		return -1;
	}
	strlcpy(buf, config_str(m->conf, NULL, "spool_dir"), sizeof(buf));
	dir = dirname(buf);
	if (stat(dir, &sb) == -1) {
		snprintf(err, errsz, "data directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (sb.st_uid != pw->pw_uid) {
		snprintf(err, errsz, "sandbox_user %s must own the data "
		    "directory %s (owned by uid %u)", user, dir,
		    (unsigned int)sb.st_uid);
		return -1;
	}
	return 0;
}

/* Creates the directories each daemon needs, with the right owners. */
void
privsep_dirs(struct master *m)
{
	const struct config	*conf = m->conf;
	const char		*empty = config_str(conf, NULL, "empty_dir");
	uid_t			 uid = m->privsep[PROC_SMTPD].uid;
	gid_t			 gid = m->privsep[PROC_SMTPD].gid;

	dir_prepare(config_str(conf, NULL, "spool_dir"), 0700,
	    m->privsep[PROC_QUEUE].uid, m->privsep[PROC_QUEUE].gid);
	dir_prepare(config_str(conf, NULL, "mail_dir"), 0700,
	    m->privsep[PROC_DELIVER].uid, m->privsep[PROC_DELIVER].gid);
	if (m->sandbox) {
		dir_prepare(empty, 0755, uid, gid);
		dir_prepare(config_str(conf, NULL, "run_dir"), 0755, uid, gid);
	} else {
		dir_prepare(empty, 0755, 0, 0);
		dir_check_empty(empty);
		dir_prepare(config_str(conf, NULL, "run_dir"), 0755, 0, 0);
	}
}

/* mkdir -p of the parents of path (0755, owned by whoever we are) */
static void
dir_mkdir_p(const char *path)
{
	char	 buf[PATH_MAX], *p;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		fatalx("%s: path too long", path);
	for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			fatal("mkdir %s", buf);
		*p = '/';
	}
}

static void
dir_prepare(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat	sb;

	dir_mkdir_p(path);
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &sb) == -1)
		fatal("%s", path);
	if (!S_ISDIR(sb.st_mode))
		fatalx("%s: not a directory", path);
	if (geteuid() == 0) {
		if ((sb.st_uid != uid || sb.st_gid != gid) &&
		    chown(path, uid, gid) == -1)
			fatal("chown %s", path);
	} else if (sb.st_uid != geteuid())
		fatalx("%s is owned by uid %u, not by uid %u running "
		    "facteurd", path, (unsigned int)sb.st_uid,
		    (unsigned int)geteuid());
	if ((sb.st_mode & 07777) != mode && chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

static void
dir_check_empty(const char *path)
{
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(path)) == NULL)
		fatal("%s", path);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			fatalx("empty_dir %s is not empty (found %s)", path,
			    de->d_name);
	closedir(d);
}

/*
 * auth reads users_file as auth_user: say so at start if it cannot
 * (facteurd changes no file it does not own).
 */
void
privsep_check_users(struct master *m)
{
	const struct privsep	*ps = &m->privsep[PROC_AUTH];
	const char		*path = config_str(m->conf, NULL, "users_file");
	struct stat		 sb;
	int			 ok;

	if (stat(path, &sb) == -1) {
		log_warn("users_file %s", path);
		return;
	}
	if (sb.st_uid == ps->uid)
		ok = sb.st_mode & S_IRUSR;
	else if (sb.st_gid == ps->gid)
		ok = sb.st_mode & S_IRGRP;
	else
		ok = sb.st_mode & S_IROTH;
	if (!ok) {
		struct passwd	*pw = getpwuid(ps->uid);
		struct group	*gr = getgrgid(ps->gid);
		char		 user[64], group[64];

		if (pw != NULL)
			strlcpy(user, pw->pw_name, sizeof(user));
		else
			snprintf(user, sizeof(user), "%u", (unsigned)ps->uid);
		if (gr != NULL)
			strlcpy(group, gr->gr_name, sizeof(group));
		else
			snprintf(group, sizeof(group), "%u", (unsigned)ps->gid);
		log_warnx("users_file %s is not readable by %s (auth): every "
		    "recipient will get a temporary failure; e.g. chgrp %s "
		    "%s && chmod 0640 %s", path, user, group, path, path);
	}
}
