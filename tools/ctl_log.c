/*
 * facteurctl log [-f FILE] ID: follows one message through the log, like
 * grepping Postfix's mail.log for a queue id, but also following the
 * messages it caused: a line about message Y that names X (a bounce of X:
 * "Y: ... orig_id=X") or a line about X that names Y ("X: ... bounce=Y")
 * links the two, so a bounce and a double bounce are shown with the
 * message that caused them. Every line mentioning one of the linked
 * queue ids is printed, in the log's order.
 *
 * The log is FILE, else the log_file setting, except that a system-mode
 * facteur that logs to syslog (/dev/log exists) is looked for in
 * /var/log/mail.log, /var/log/maillog, then /var/log/syslog. A rotated
 * FILE.1 next to it is read first.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "envelope.h"
#include "util.h"

#define LOG_MAX_IDS	64
#define LOG_MAX_PASSES	8

struct idset {
	char	id[LOG_MAX_IDS][QUEUEID_LEN + 1];
	int	n;
};

static int
idset_has(const struct idset *s, const char *id)
{
	int	i;

	for (i = 0; i < s->n; i++)
		if (memcmp(s->id[i], id, QUEUEID_LEN) == 0)
			return 1;
	return 0;
}

/* returns 1 when id was added */
static int
idset_add(struct idset *s, const char *id)
{
	if (idset_has(s, id) || s->n >= LOG_MAX_IDS)
		return 0;
	memcpy(s->id[s->n], id, QUEUEID_LEN);
	s->id[s->n][QUEUEID_LEN] = '\0';
	s->n++;
	return 1;
}

static int
is_idchar(int c)
{
	return isdigit(c) || (c >= 'A' && c <= 'F');
}

/*
 * The queue ids in a line: 16 upper-case hex digits not inside a longer
 * word of such characters. ids gets at most max of them; *lead is the
 * index of the line's own id (the first one followed by ':'), or -1.
 */
static int
line_ids(const char *line, char ids[][QUEUEID_LEN + 1], int max,
    int *lead)
{
	const char	*p;
	size_t		 i;
	int		 n = 0;

	*lead = -1;
	for (p = line; *p != '\0' && n < max; p++) {
		if (!is_idchar((unsigned char)*p) ||
		    (p > line && isalnum((unsigned char)p[-1])))
			continue;
		for (i = 0; i < QUEUEID_LEN; i++)
			if (!is_idchar((unsigned char)p[i]))
				break;
		if (i < QUEUEID_LEN || isalnum((unsigned char)p[i])) {
			p += i > 0 ? i - 1 : 0;
			continue;
		}
		memcpy(ids[n], p, QUEUEID_LEN);
		ids[n][QUEUEID_LEN] = '\0';
		if (*lead == -1 && p[QUEUEID_LEN] == ':')
			*lead = n;
		n++;
		p += QUEUEID_LEN - 1;
	}
	return n;
}

/* one pass over a file: links ids, or prints lines (print set) */
static int
log_pass(const char *path, struct idset *set, int print, int *changed,
    unsigned long *printed)
{
	FILE	*fp;
	char	*line = NULL, ids[16][QUEUEID_LEN + 1];
	size_t	 linesz = 0;
	ssize_t	 len;
	int	 n, i, lead, hit;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while ((len = getline(&line, &linesz, fp)) != -1) {
		n = line_ids(line, ids, 16, &lead);
		for (i = 0, hit = -1; i < n && hit == -1; i++)
			if (idset_has(set, ids[i]))
				hit = i;
		if (hit == -1)
			continue;
		if (print) {
			fputs(line, stdout);
			if (len > 0 && line[len - 1] != '\n')
				putchar('\n');
			(*printed)++;
			continue;
		}
		/* link: the line's own id and the ids it names */
		if (lead == -1)
			continue;
		if (idset_has(set, ids[lead])) {
			for (i = 0; i < n; i++)
				if (idset_add(set, ids[i]))
					*changed = 1;
		} else if (idset_add(set, ids[lead]))
			*changed = 1;
	}
	free(line);
	fclose(fp);
	return 0;
}

/* where the log is: path into buf */
static void
log_path(const struct config *conf, char *buf, size_t bufsz)
{
	static const char	*syslog_files[] = {
		"/var/log/mail.log", "/var/log/maillog", "/var/log/syslog"
	};
	const char		*mode = config_str(conf, NULL, "run_mode");
	size_t			 i;

	if (strcmp(mode, "system") == 0 && access("/dev/log", F_OK) == 0)
		for (i = 0; i < sizeof(syslog_files) /
		    sizeof(syslog_files[0]); i++)
			if (access(syslog_files[i], F_OK) == 0) {
				strlcpy(buf, syslog_files[i], bufsz);
				return;
			}
	strlcpy(buf, config_str(conf, NULL, "log_file"), bufsz);
}

int
ctl_log(const struct config *conf, int argc, char **argv)
{
	struct idset	 set;
	char		 path[4096], old[4096 + 8];
	const char	*id = NULL, *files[2];
	unsigned long	 printed = 0;
	int		 i, nfiles = 0, changed, pass;

	path[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			strlcpy(path, argv[++i], sizeof(path));
		else if (id == NULL && argv[i][0] != '-')
			id = argv[i];
		else {
			fprintf(stderr, "usage: %s log [-f file] queue-id\n",
			    ctl_progname);
			return 1;
		}
	}
	if (id == NULL) {
		fprintf(stderr, "usage: %s log [-f file] queue-id\n",
		    ctl_progname);
		return 1;
	}
	memset(&set, 0, sizeof(set));
	if (ctl_queueid_arg(id, set.id[0], sizeof(set.id[0])) == -1) {
		fprintf(stderr, "%s: %s is not a queue id\n", ctl_progname, id);
		return 1;
	}
	set.n = 1;
	if (path[0] == '\0')
		log_path(conf, path, sizeof(path));
	snprintf(old, sizeof(old), "%s.1", path);
	if (access(old, R_OK) == 0)
		files[nfiles++] = old;
	files[nfiles++] = path;
	if (access(path, R_OK) == -1) {
		fprintf(stderr, "%s: %s: %s\n", ctl_progname, path,
		    strerror(errno));
		return 1;
	}
	for (pass = 0; pass < LOG_MAX_PASSES; pass++) {
		changed = 0;
		for (i = 0; i < nfiles; i++)
			log_pass(files[i], &set, 0, &changed, NULL);
		if (!changed)
			break;
	}
	for (i = 0; i < nfiles; i++)
		if (log_pass(files[i], &set, 1, NULL, &printed) == -1) {
			fprintf(stderr, "%s: %s: %s\n", ctl_progname,
			    files[i], strerror(errno));
			return 1;
		}
	if (fflush(stdout) == EOF)
		return 1;
	if (printed == 0) {
		fprintf(stderr, "%s: no line about %s in %s\n", ctl_progname,
		    set.id[0], path);
		return 1;
	}
	return 0;
}
