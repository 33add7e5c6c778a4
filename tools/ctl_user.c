/*
 * facteurctl user add|passwd|del|list: edits the users file.
 *
 * The file holds one "user@domain:hash" a line (crypt(3) hashes), '#'
 * comments and blank lines, which are kept as they are. New passwords are
 * hashed with yescrypt. The file is rewritten atomically: FILE.tmp in the
 * same directory, fsync, the old file's owner, group and mode, rename,
 * fsync of the directory. The auth daemon sees the change by itself.
 * Addresses are RFC 5321 section 4.1.2 mailboxes with a domain.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "ctl.h"
#include "util.h"

#define PASSWORD_MAX	1024

struct users {
	char		**line;		/* without the newline */
	size_t		  n;
	int		  exists;	/* the file was there */
	struct stat	  st;		/* its owner, group and mode */
};

static void
users_free(struct users *u)
{
	size_t	i;

	for (i = 0; i < u->n; i++)
		free(u->line[i]);
	free(u->line);
	u->line = NULL;
	u->n = 0;
}

static int
users_read(const char *path, struct users *u)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 bufsz = 0;
	ssize_t	 len;

	memset(u, 0, sizeof(*u));
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "%s: cannot open %s: %s\n", ctl_progname,
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &u->st) == -1) {
		fprintf(stderr, "%s: %s: %s\n", ctl_progname, path,
		    strerror(errno));
		fclose(fp);
		return -1;
	}
	u->exists = 1;
	while ((len = getline(&buf, &bufsz, fp)) != -1) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		u->line = xreallocarray(u->line, u->n + 1, sizeof(char *));
		u->line[u->n++] = xstrdup(buf);
	}
	free(buf);
	if (ferror(fp)) {
		fprintf(stderr, "%s: cannot read %s: %s\n", ctl_progname,
		    path, strerror(errno));
		fclose(fp);
		users_free(u);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* the address of an account line into buf; 0, or -1 for comments, blank
   and malformed lines */
static int
users_line_addr(const char *line, char *buf, size_t bufsz)
{
	const char	*p, *colon;
	size_t		 len;

	for (p = line; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0' || *p == '#')
		return -1;
	if ((colon = strchr(p, ':')) == NULL)
		return -1;
	len = colon - p;
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= bufsz)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 0;
}

static ssize_t
users_find(const struct users *u, const char *addr)
{
	char	a[ADDR_MAX + 1];
	size_t	i;

	for (i = 0; i < u->n; i++) {
		if (users_line_addr(u->line[i], a, sizeof(a)) == -1)
			continue;
		if (strcasecmp(a, addr) == 0)
			return i;
	}
	return -1;
}

/* owner and group of a new users file: the account that reads it */
static void
users_new_owner(const struct config *conf, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	const char	*name;

	*uid = geteuid();
	*gid = getegid();
	if (geteuid() != 0)
		return;
	if (config_is_sandbox(conf)) {
		name = config_str(conf, NULL, "sandbox_user");
		if (*name != '\0' && (pw = getpwnam(name)) != NULL) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
		}
		return;
	}
	name = config_str(conf, NULL, "auth_user");
	if ((pw = getpwnam(name)) != NULL)
		*gid = pw->pw_gid;
}

static int
users_write(const struct config *conf, const char *path,
    const struct users *u)
{
	char	*tmp, *dcopy;
	FILE	*fp;
	int	 fd;
	size_t	 i;
	uid_t	 uid;
	gid_t	 gid;
	mode_t	 mode;

	if (u->exists) {
		uid = u->st.st_uid;
		gid = u->st.st_gid;
		mode = u->st.st_mode & 07777;
	} else {
		users_new_owner(conf, &uid, &gid);
		mode = 0640;
	}
	xasprintf(&tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		if (errno == EEXIST)
			fprintf(stderr, "%s: %s exists: another facteurctl is "
			    "editing the users file (remove it if not)\n",
			    ctl_progname, tmp);
		else
			fprintf(stderr, "%s: cannot create %s: %s\n",
			    ctl_progname, tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if ((uid != geteuid() || gid != getegid()) &&
	    fchown(fd, uid, gid) == -1)
		goto fail;
	if (fchmod(fd, mode) == -1)
		goto fail;
	if ((fp = fdopen(fd, "w")) == NULL)
		goto fail;
	for (i = 0; i < u->n; i++)
		fprintf(fp, "%s\n", u->line[i]);
	if (fflush(fp) == EOF || ferror(fp) || fsync(fd) == -1) {
		fclose(fp);
		fd = -1;
		goto fail;
	}
	if (fclose(fp) == EOF) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	dcopy = xstrdup(path);
	if (fsync_dir(dirname(dcopy)) == -1) {
		fprintf(stderr, "%s: fsync %s: %s\n", ctl_progname, dcopy,
		    strerror(errno));
		free(dcopy);
		free(tmp);
		return -1;
	}
	free(dcopy);
	free(tmp);
	return 0;

fail:
	fprintf(stderr, "%s: cannot write %s: %s\n", ctl_progname, tmp,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* "Alice@Example.TEST" -> "alice@example.test", checked as RFC 5321 says */
static int
user_address(const char *arg, char *buf, size_t bufsz)
{
	struct mailaddr	 ma;
	const char	*why = "bad syntax";
	char		*path;
	int		 r;

	if (strchr(arg, '<') != NULL || strchr(arg, '>') != NULL) {
		fprintf(stderr, "%s: invalid address '%s': write it without "
		    "angle brackets\n", ctl_progname, arg);
		return -1;
	}
	xasprintf(&path, "<%s>", arg);
	r = addr_parse_path(path, 0, &ma, &why);
	free(path);
	if (r == -1) {
		fprintf(stderr, "%s: invalid address '%s': %s\n", ctl_progname,
		    arg, why ? why : "bad syntax");
		return -1;
	}
	if (ma.domain[0] == '\0') {
		fprintf(stderr, "%s: invalid address '%s': a domain is "
		    "required\n", ctl_progname, arg);
		return -1;
	}
	if (ma.local[0] == '"') {
		fprintf(stderr, "%s: invalid address '%s': quoted local parts "
		    "are not supported\n", ctl_progname, arg);
		return -1;
	}
	str_lower(ma.local);
	str_lower(ma.domain);
	addr_format(&ma, buf, bufsz);
	return 0;
}

static int
read_tty_line(const char *prompt, char *buf, size_t bufsz)
{
	struct termios	 old, noecho;
	size_t		 len;
	int		 r = 0;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == -1)
		return -1;
	noecho = old;
	noecho.c_lflag &= ~ECHO;
	noecho.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) == -1)
		return -1;
	if (fgets(buf, bufsz, stdin) == NULL)
		r = -1;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (r == -1) {
		fprintf(stderr, "\n");
		return -1;
	}
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	return 0;
}

/* a password: twice without echo on a tty, else one line of stdin */
static int
read_password(char *pw, size_t pwsz)
{
	char	again[PASSWORD_MAX];
	size_t	len;

	if (isatty(STDIN_FILENO)) {
		if (read_tty_line("Password: ", pw, pwsz) == -1 ||
		    read_tty_line("Retype password: ", again,
		    sizeof(again)) == -1) {
			fprintf(stderr, "%s: no password read\n", ctl_progname);
			return -1;
		}
		if (strcmp(pw, again) != 0) {
			explicit_bzero(again, sizeof(again));
			fprintf(stderr, "%s: the passwords do not match\n",
			    ctl_progname);
			return -1;
		}
		explicit_bzero(again, sizeof(again));
	} else {
		if (fgets(pw, pwsz, stdin) == NULL) {
			fprintf(stderr, "%s: no password on standard input\n",
			    ctl_progname);
			return -1;
		}
		len = strlen(pw);
		if (len == pwsz - 1 && pw[len - 1] != '\n') {
			fprintf(stderr, "%s: password too long\n",
			    ctl_progname);
			return -1;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "%s: empty password\n", ctl_progname);
		return -1;
	}
	return 0;
}

/* yescrypt hash of pw, malloc'd, or NULL after printing why */
static char *
hash_password(const char *pw)
{
	char	*setting, *h, *hash;
	void	*data = NULL;
	int	 datasz = 0;

	if ((setting = crypt_gensalt_ra("$y$", 0, NULL, 0)) == NULL) {
		fprintf(stderr, "%s: crypt_gensalt: %s\n", ctl_progname,
		    strerror(errno));
		return NULL;
	}
	h = crypt_ra(pw, setting, &data, &datasz);
	free(setting);
	if (h == NULL || h[0] == '*' || strchr(h, ':') != NULL) {
		fprintf(stderr, "%s: crypt: %s\n", ctl_progname,
		    h == NULL ? strerror(errno) : "hashing failed");
		free(data);
		return NULL;
	}
	hash = xstrdup(h);
	explicit_bzero(data, datasz);
	free(data);
	return hash;
}

static int
user_set_password(const struct config *conf, const char *path,
    struct users *u, const char *addr, ssize_t idx)
{
	char	 pw[PASSWORD_MAX];
	char	*hash, *line;

	if (read_password(pw, sizeof(pw)) == -1) {
		explicit_bzero(pw, sizeof(pw));
		return -1;
	}
	hash = hash_password(pw);
	explicit_bzero(pw, sizeof(pw));
	if (hash == NULL)
		return -1;
	xasprintf(&line, "%s:%s", addr, hash);
	free(hash);
	if (idx == -1) {
		u->line = xreallocarray(u->line, u->n + 1, sizeof(char *));
		u->line[u->n++] = line;
	} else {
		free(u->line[idx]);
		u->line[idx] = line;
	}
	return users_write(conf, path, u);
}

static int
user_list(const struct users *u)
{
	char	a[ADDR_MAX + 1];
	size_t	i;

	for (i = 0; i < u->n; i++)
		if (users_line_addr(u->line[i], a, sizeof(a)) == 0)
			printf("%s\n", a);
	if (fflush(stdout) == EOF)
		return -1;
	return 0;
}

int
ctl_user(const struct config *conf, int argc, char **argv)
{
	struct users	 u;
	const char	*path = config_str(conf, NULL, "users_file");
	const char	*cmd;
	char		 addr[ADDR_MAX + 1];
	ssize_t		 idx;
	int		 r = -1;

	if (argc < 1)
		goto usage;
	cmd = argv[0];
	if (strcmp(cmd, "list") == 0) {
		if (argc != 1)
			goto usage;
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0 ||
	    strcmp(cmd, "del") == 0 || strcmp(cmd, "delete") == 0) {
		if (argc != 2)
			goto usage;
		if (user_address(argv[1], addr, sizeof(addr)) == -1)
			return 1;
	} else
		goto usage;

	if (users_read(path, &u) == -1)
		return 1;
	if (strcmp(cmd, "list") == 0) {
		r = user_list(&u);
		goto done;
	}
	idx = users_find(&u, addr);
	if (strcmp(cmd, "add") == 0) {
		if (idx != -1) {
			fprintf(stderr, "%s: user %s already exists\n",
			    ctl_progname, addr);
			goto done;
		}
		r = user_set_password(conf, path, &u, addr, -1);
	} else if (idx == -1) {
		fprintf(stderr, "%s: user %s does not exist\n", ctl_progname,
		    addr);
	} else if (strcmp(cmd, "passwd") == 0) {
		r = user_set_password(conf, path, &u, addr, idx);
	} else {
		free(u.line[idx]);
		memmove(&u.line[idx], &u.line[idx + 1],
		    (u.n - idx - 1) * sizeof(char *));
		u.n--;
		r = users_write(conf, path, &u);
	}
done:
	users_free(&u);
	return r == 0 ? 0 : 1;

usage:
	fprintf(stderr, "usage: %s user add|passwd|del ADDRESS\n"
	    "       %s user list\n", ctl_progname, ctl_progname);
	return 1;
}
