/*
 * facteurctl status: the daemons facteurd supervises (pid, uptime,
 * restarts) and, from the queue daemon's IPC_STATS words that facteurd
 * appends to its line (master/control.c), the queue's sizes (active,
 * deferred, held) and its counters since it started (received, delivered,
 * deferred, bounced). --json prints the same as one JSON document.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "ipc.h"
#include "util.h"

#define STATUS_MAX_LINES	64
#define STATUS_MAX_WORDS	64

/* one daemon: name=X pid=N uptime=S restarts=N key=value ... */
struct daemon_line {
	char		*copy;
	const char	*key[STATUS_MAX_WORDS];
	const char	*val[STATUS_MAX_WORDS];
	int		 n;
};

struct status {
	struct daemon_line	line[STATUS_MAX_LINES];
	uint32_t		n;
};

/* the queue's words, as shown: key in IPC_STATS, name in the output */
static const struct {
	const char	*key;
	const char	*name;
} queue_sizes[] = {
	{ "queue_active", "active" },
	{ "queue_deferred", "deferred" },
	{ "queue_held", "held" },
}, counters[] = {
	{ "received", "received" },
	{ "delivered", "delivered" },
	{ "deferred", "deferred" },
	{ "bounced", "bounced" },
};

static void
line_parse(struct daemon_line *d, const char *text)
{
	char	*word, *next, *val;

	d->copy = xstrdup(text);
	d->n = 0;
	for (word = d->copy; word != NULL; word = next) {
		if ((next = strchr(word, ' ')) != NULL)
			*next++ = '\0';
		if ((val = strchr(word, '=')) == NULL || word == val)
			continue;
		*val++ = '\0';
		if (d->n < STATUS_MAX_WORDS) {
			d->key[d->n] = word;
			d->val[d->n] = val;
			d->n++;
		}
	}
}

static const char *
line_get(const struct daemon_line *d, const char *key)
{
	int	i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->key[i], key) == 0)
			return d->val[i];
	return NULL;
}

static unsigned long long
line_num(const struct daemon_line *d, const char *key)
{
	const char	*v = line_get(d, key);

	return v != NULL ? strtoull(v, NULL, 10) : 0;
}

static const struct daemon_line *
status_queue(const struct status *st)
{
	const char	*name;
	uint32_t	 i;

	for (i = 0; i < st->n; i++)
		if ((name = line_get(&st->line[i], "name")) != NULL &&
		    strcmp(name, "queue") == 0 &&
		    line_num(&st->line[i], "pid") > 0 &&
		    line_get(&st->line[i], "received") != NULL)
			return &st->line[i];
	return NULL;
}

static int
status_frame(void *arg, struct ipc_msg *msg)
{
	struct status	*st = arg;
	struct ipc_rbuf	 r;
	char		*text;
	uint32_t	 count, i;

	if (msg->hdr.type != IPC_CTL_STATUS)
		return ctl_unexpected(msg);
	ipc_rbuf_init(&r, msg->data, msg->hdr.len);
	count = ipc_get_u32(&r);
	if (r.error || count > STATUS_MAX_LINES) {
		fprintf(stderr, "%s: bad status from facteurd\n",
		    ctl_progname);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if ((text = ipc_get_strdup(&r)) == NULL) {
			fprintf(stderr, "%s: bad status from facteurd\n",
			    ctl_progname);
			return -1;
		}
		line_parse(&st->line[st->n++], text);
		free(text);
	}
	return 1;
}

static void
status_free(struct status *st)
{
	uint32_t	i;

	for (i = 0; i < st->n; i++)
		free(st->line[i].copy);
}

static int
status_get(const struct config *conf, struct status *st)
{
	struct ipc_wbuf	w;

	memset(st, 0, sizeof(*st));
	ipc_wbuf_init(&w);
	if (ctl_request(conf, IPC_CTL_STATUS, &w, status_frame, st) == -1) {
		status_free(st);
		return -1;
	}
	return 0;
}

static void
uptime_format(unsigned long long s, char *buf, size_t bufsz)
{
	if (s >= 86400)
		snprintf(buf, bufsz, "%llud%02lluh", s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, bufsz, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, bufsz, "%llum%02llus", s / 60, s % 60);
	else
		snprintf(buf, bufsz, "%llus", s);
}

/* "N active, N deferred, N held" from the queue's words */
static void
print_words(const struct daemon_line *q, const char *what,
    size_t n, const char *const *keys, const char *const *names)
{
	const char	*v;
	size_t		 i;

	printf("%-13s", what);
	for (i = 0; i < n; i++) {
		v = q != NULL ? line_get(q, keys[i]) : NULL;
		printf("%s%s %s", i ? ", " : "", v != NULL ? v : "-",
		    names[i]);
	}
	printf("\n");
}

int
ctl_status(const struct config *conf)
{
	struct status			 st;
	const struct daemon_line	*d, *q;
	const char			*keys[8], *names[8], *name;
	char				 up[32];
	unsigned long long		 pid;
	uint32_t			 i;
	size_t				 k;

	if (status_get(conf, &st) == -1)
		return -1;
	printf("%-10s %-8s %-8s %s\n", "DAEMON", "PID", "UPTIME",
	    "RESTARTS");
	for (i = 0; i < st.n; i++) {
		d = &st.line[i];
		name = line_get(d, "name");
		if ((pid = line_num(d, "pid")) > 0) {
			uptime_format(line_num(d, "uptime"), up, sizeof(up));
			printf("%-10s %-8llu %-8s %llu\n", name ? name : "?",
			    pid, up, line_num(d, "restarts"));
		} else
			printf("%-10s %-8s %-8s %llu\n", name ? name : "?", "-",
			    "down", line_num(d, "restarts"));
	}
	q = status_queue(&st);
	printf("\n");
	for (k = 0; k < sizeof(queue_sizes) / sizeof(queue_sizes[0]); k++) {
		keys[k] = queue_sizes[k].key;
		names[k] = queue_sizes[k].name;
	}
	print_words(q, "Queue:", k, keys, names);
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		keys[k] = counters[k].key;
		names[k] = counters[k].name;
	}
	print_words(q, "Since start:", k, keys, names);
	if (q == NULL)
		printf("(the queue daemon is not running: no queue "
		    "figures)\n");
	status_free(&st);
	return fflush(stdout) == EOF ? -1 : 0;
}

/* a value as a JSON number when it is one, else as a string */
static void
json_value(FILE *fp, const char *v)
{
	size_t	n = strspn(v, "0123456789");

	if (n > 0 && v[n] == '\0' && n < 19 && (v[0] != '0' || n == 1))
		fputs(v, fp);
	else if (n > 0 && v[n] == '.' && v[n + 1] != '\0' &&
	    strspn(v + n + 1, "0123456789") == strlen(v + n + 1) &&
	    (v[0] != '0' || n == 1))
		fputs(v, fp);
	else
		json_str(fp, v);
}

static void
json_words(FILE *fp, const struct daemon_line *q, size_t n,
    const char *const *keys, const char *const *names)
{
	const char	*v;
	size_t		 i;

	if (q == NULL) {
		fputs("null", fp);
		return;
	}
	fputs("{", fp);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", fp);
		json_key(fp, names[i]);
		if ((v = line_get(q, keys[i])) != NULL)
			json_value(fp, v);
		else
			fputs("null", fp);
	}
	fputs("}", fp);
}

int
ctl_status_json(const struct config *conf)
{
	struct status			 st;
	const struct daemon_line	*d, *q;
	const char			*keys[8], *names[8];
	unsigned long long		 pid;
	uint32_t			 i;
	int				 j, extra;
	size_t				 k;

	if (status_get(conf, &st) == -1)
		return -1;
	fputs("{\"daemons\": [", stdout);
	for (i = 0; i < st.n; i++) {
		d = &st.line[i];
		pid = line_num(d, "pid");
		fputs(i ? ",\n  {" : "\n  {", stdout);
		json_key(stdout, "name");
		json_str(stdout, line_get(d, "name") ? line_get(d, "name") :
		    "?");
		if (pid > 0)
			printf(", \"running\": true, \"pid\": %llu", pid);
		else
			printf(", \"running\": false, \"pid\": null");
		printf(", \"uptime\": %llu, \"restarts\": %llu, \"stats\": {",
		    line_num(d, "uptime"), line_num(d, "restarts"));
		for (j = 0, extra = 0; j < d->n; j++) {
			if (strcmp(d->key[j], "name") == 0 ||
			    strcmp(d->key[j], "pid") == 0 ||
			    strcmp(d->key[j], "uptime") == 0 ||
			    strcmp(d->key[j], "restarts") == 0)
				continue;
			fputs(extra++ ? ", " : "", stdout);
			json_key(stdout, d->key[j]);
			json_value(stdout, d->val[j]);
		}
		fputs("}}", stdout);
	}
	fputs("\n],\n\"queue\": ", stdout);
	q = status_queue(&st);
	for (k = 0; k < sizeof(queue_sizes) / sizeof(queue_sizes[0]); k++) {
		keys[k] = queue_sizes[k].key;
		names[k] = queue_sizes[k].name;
	}
	json_words(stdout, q, k, keys, names);
	fputs(",\n\"messages\": ", stdout);
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		keys[k] = counters[k].key;
		names[k] = counters[k].name;
	}
	json_words(stdout, q, k, keys, names);
	fputs("}\n", stdout);
	status_free(&st);
	return fflush(stdout) == EOF ? -1 : 0;
}
