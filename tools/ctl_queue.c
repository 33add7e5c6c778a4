/*
 * The queue as the administrator sees it: facteurctl queue list|show|
 * flush|hold|release|delete|requeue, mailq, sendmail -bp. Requests go to
 * facteurd's control socket (ctl_conn.c), which hands them to the queue
 * daemon; the listing record format is documented in queue/queue.h.
 *
 * The listing is printed the way Postfix's mailq prints it ('!' after the
 * id of a held message, '*' never: facteur has no separate active queue);
 * --json prints one JSON document whose field names follow Postfix's
 * `postqueue -j` (queue_name, queue_id, arrival_time, message_size,
 * sender, recipients[].address, recipients[].delay_reason) plus facteur's
 * per-recipient state (man/facteurctl.8 documents them).
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

#define RCPT_FIELDS	5	/* ADDR,STATE,ATTEMPTS,NEXT,ERROR */

struct entry_rcpt {
	char		*addr;
	char		*state;
	unsigned long	 attempts;
	long long	 next;
	char		*error;		/* "" when none */
	char		*orig;		/* the alias it came from, or "" */
};

/* one listing record, decoded */
struct entry {
	char			 id[64];
	long long		 arrival;
	uint64_t		 size;
	char			*sender;	/* "" for the null sender */
	int			 held;
	struct entry_rcpt	*rcpt;
	size_t			 nrcpt;
	unsigned long		 more;
};

/* --- the listing record --- */

/* a malloc'd decoded copy of an envelope_encode()d value; "-" is "" */
static char *
value_dup(const char *in)
{
	size_t	 sz = strlen(in) + 1;
	char	*out = xmalloc(sz);

	if (envelope_decode(in, out, sz) == -1)
		strlcpy(out, in, sz);
	if (strcmp(out, "-") == 0)
		out[0] = '\0';
	return out;
}

static void
entry_rcpt_parse(struct entry *e, char *val)
{
	struct entry_rcpt	*r;
	char			*field[RCPT_FIELDS], *p = val;
	int			 i;

	for (i = 0; i < RCPT_FIELDS; i++)
		field[i] = NULL;
	for (i = 0; i < RCPT_FIELDS && p != NULL; i++) {
		field[i] = p;
		if ((p = strchr(p, ',')) != NULL)
			*p++ = '\0';
	}
	e->rcpt = xreallocarray(e->rcpt, e->nrcpt + 1, sizeof(*e->rcpt));
	r = &e->rcpt[e->nrcpt++];
	r->addr = value_dup(field[0]);
	r->state = xstrdup(field[1] != NULL ? field[1] : "pending");
	r->attempts = field[2] != NULL ? strtoul(field[2], NULL, 10) : 0;
	r->next = field[3] != NULL ? strtoll(field[3], NULL, 10) : 0;
	r->error = value_dup(field[4] != NULL ? field[4] : "");
	r->orig = xstrdup("");
}

/* "orig=N,ADDR": recipient N came from the alias ADDR */
static void
entry_orig_parse(struct entry *e, char *val)
{
	char		*comma, *end;
	unsigned long	 n;

	if ((comma = strchr(val, ',')) == NULL)
		return;
	*comma = '\0';
	n = strtoul(val, &end, 10);
	if (*val == '\0' || *end != '\0' || n >= e->nrcpt)
		return;
	free(e->rcpt[n].orig);
	e->rcpt[n].orig = value_dup(comma + 1);
}

static void
entry_parse(const char *text, struct entry *e)
{
	char	*copy, *word, *next, *val;

	memset(e, 0, sizeof(*e));
	strlcpy(e->id, "?", sizeof(e->id));
	copy = xstrdup(text);
	for (word = copy; word != NULL; word = next) {
		if ((next = strchr(word, ' ')) != NULL)
			*next++ = '\0';
		if (*word == '\0' || (val = strchr(word, '=')) == NULL)
			continue;
		*val++ = '\0';
		if (strcmp(word, "rcpt") == 0)
			entry_rcpt_parse(e, val);
		else if (strcmp(word, "id") == 0) {
			if (envelope_decode(val, e->id, sizeof(e->id)) == -1)
				strlcpy(e->id, "?", sizeof(e->id));
		} else if (strcmp(word, "arrival") == 0)
			e->arrival = strtoll(val, NULL, 10);
		else if (strcmp(word, "size") == 0)
			e->size = strtoull(val, NULL, 10);
		else if (strcmp(word, "sender") == 0) {
			free(e->sender);
			e->sender = value_dup(val);
			if (strcmp(e->sender, "<>") == 0)
				e->sender[0] = '\0';
		} else if (strcmp(word, "held") == 0)
			e->held = strcmp(val, "0") != 0;
		else if (strcmp(word, "more") == 0)
			e->more = strtoul(val, NULL, 10);
		else if (strcmp(word, "orig") == 0)
			entry_orig_parse(e, val);
		/* other words: added later, ignored (queue/queue.h) */
	}
	if (e->sender == NULL)
		e->sender = xstrdup("");
	free(copy);
}

static void
entry_free(struct entry *e)
{
	size_t	i;

	for (i = 0; i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].state);
		free(e->rcpt[i].error);
		free(e->rcpt[i].orig);
	}
	free(e->rcpt);
	free(e->sender);
}

static int
rcpt_final(const struct entry_rcpt *r)
{
	return strcmp(r->state, "delivered") == 0 ||
	    strcmp(r->state, "bounced") == 0 ||
	    strcmp(r->state, "expanded") == 0;
}

/* Postfix's queue names: hold, deferred (something failed), active */
static const char *
entry_queue_name(const struct entry *e)
{
	size_t	i;

	if (e->held)
		return "hold";
	for (i = 0; i < e->nrcpt; i++)
		if (strcmp(e->rcpt[i].state, "deferred") == 0)
			return "deferred";
	return "active";
}

static void
entry_json(FILE *fp, const struct entry *e, const char *headers)
{
	const struct entry_rcpt	*r;
	size_t			 i;

	fputs("{", fp);
	json_key(fp, "queue_id");
	json_str(fp, e->id);
	fputs(", ", fp);
	json_key(fp, "queue_name");
	json_str(fp, entry_queue_name(e));
	fprintf(fp, ", \"held\": %s, \"arrival_time\": %lld, "
	    "\"message_size\": %" PRIu64 ", ", e->held ? "true" : "false",
	    e->arrival, e->size);
	json_key(fp, "sender");
	json_str(fp, e->sender);
	fputs(", \"recipients\": [", fp);
	for (i = 0; i < e->nrcpt; i++) {
		r = &e->rcpt[i];
		fputs(i ? ", {" : "{", fp);
		json_key(fp, "address");
		json_str(fp, r->addr);
		fputs(", ", fp);
		json_key(fp, "original_address");
		json_str(fp, r->orig[0] != '\0' ? r->orig : r->addr);
		fputs(", ", fp);
		json_key(fp, "state");
		json_str(fp, r->state);
		fprintf(fp, ", \"attempts\": %lu, \"next_attempt\": ",
		    r->attempts);
		if (r->next > 0)
			fprintf(fp, "%lld", r->next);
		else
			fputs("null", fp);
		fputs(", \"delay_reason\": ", fp);
		if (r->error[0] != '\0')
			json_str(fp, r->error);
		else
			fputs("null", fp);
		fputs("}", fp);
	}
	fprintf(fp, "], \"more_recipients\": %lu", e->more);
	if (headers != NULL) {
		fputs(", \"headers\": ", fp);
		json_str(fp, headers);
	}
	fputs("}", fp);
}

/* --- the listing --- */

struct listing {
	unsigned long	 nmsg;
	uint64_t	 bytes;
	FILE		*json;		/* NULL for text */
};

static const char *
sender_shown(const char *s)
{
	return *s == '\0' ? "MAILER-DAEMON" : s;
}

static void
entry_text(struct listing *l, const struct entry *e)
{
	char	when[32];
	time_t	t = e->arrival;
	size_t	i;

	if (l->nmsg == 0)
		printf("%-17s %8s %-20s %s\n", "-Queue ID-", "--Size--",
		    "----Arrival Time----", "-Sender/Recipient-------");
	else
		printf("\n");
	/* asctime's first 20 characters, as Postfix */
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S ", localtime(&t));
	printf("%-16.16s%c %8" PRIu64 " %20.20s %s\n", e->id,
	    e->held ? '!' : ' ', e->size, when, sender_shown(e->sender));
	for (i = 0; i < e->nrcpt; i++) {
		if (rcpt_final(&e->rcpt[i]))
			continue;
		if (e->rcpt[i].error[0] != '\0')
			printf("%47s(%s)\n", "", e->rcpt[i].error);
		printf("%48s%s\n", "", e->rcpt[i].addr);
	}
	if (e->more > 0)
		printf("%48s(%lu more recipient%s)\n", "", e->more,
		    e->more == 1 ? "" : "s");
}

static int
list_frame(void *arg, struct ipc_msg *msg)
{
	struct listing	*l = arg;
	struct ipc_rbuf	 r;
	struct entry	 e;
	char		*text;

	switch (msg->hdr.type) {
	case IPC_CTL_QUEUE_ENTRY:
		ipc_rbuf_init(&r, msg->data, msg->hdr.len);
		text = ipc_get_strdup(&r);
		if (text == NULL || ipc_get_end(&r) == -1) {
			free(text);
			fprintf(stderr, "%s: bad queue entry from facteurd\n",
			    ctl_progname);
			return -1;
		}
		entry_parse(text, &e);
		free(text);
		if (l->json != NULL) {
			fputs(l->nmsg ? ",\n  " : "\n  ", l->json);
			entry_json(l->json, &e, NULL);
		} else
			entry_text(l, &e);
		l->nmsg++;
		l->bytes += e.size;
		entry_free(&e);
		return 0;
	case IPC_CTL_QUEUE_END:
		return ctl_queue_end_count(msg) == -1 ? -1 : 1;
	default:
		return ctl_unexpected(msg);
	}
}

int
ctl_queue_list(const struct config *conf)
{
	struct listing	l;
	struct ipc_wbuf	w;

	memset(&l, 0, sizeof(l));
	ipc_wbuf_init(&w);
	if (ctl_request(conf, IPC_CTL_QUEUE_LIST, &w, list_frame, &l) == -1) {
		fflush(stdout);
		return -1;
	}
	if (l.nmsg == 0)
		printf("Mail queue is empty\n");
	else
		printf("\n-- %" PRIu64 " Kbytes in %lu Request%s.\n",
		    (l.bytes + 1023) / 1024, l.nmsg, l.nmsg == 1 ? "" : "s");
	return fflush(stdout) == EOF ? -1 : 0;
}

/* The whole document is built in memory: a failure prints no half. */
int
ctl_queue_list_json(const struct config *conf)
{
	struct listing	 l;
	struct ipc_wbuf	 w;
	char		*doc = NULL;
	size_t		 docsz = 0;
	int		 r;

	memset(&l, 0, sizeof(l));
	if ((l.json = open_memstream(&doc, &docsz)) == NULL) {
		fprintf(stderr, "%s: open_memstream: %s\n", ctl_progname,
		    strerror(errno));
		return -1;
	}
	fputs("{\"messages\": [", l.json);
	ipc_wbuf_init(&w);
	r = ctl_request(conf, IPC_CTL_QUEUE_LIST, &w, list_frame, &l);
	fprintf(l.json, "%s], \"count\": %lu, \"bytes\": %" PRIu64 "}\n",
	    l.nmsg ? "\n" : "", l.nmsg, l.bytes);
	fclose(l.json);
	if (r == 0)
		fputs(doc, stdout);
	free(doc);
	if (r == -1)
		return -1;
	return fflush(stdout) == EOF ? -1 : 0;
}

/* --- queue ids --- */

int
ctl_queueid_arg(const char *arg, char *buf, size_t bufsz)
{
	size_t	i;

	if (strlen(arg) != QUEUEID_LEN || bufsz < QUEUEID_LEN + 1)
		return -1;
	for (i = 0; i < QUEUEID_LEN; i++) {
		if (!isxdigit((unsigned char)arg[i]))
			return -1;
		buf[i] = toupper((unsigned char)arg[i]);
	}
	buf[i] = '\0';
	return 0;
}

/* --- flush --- */

static int
count_frame(void *arg, struct ipc_msg *msg)
{
	int64_t	*count = arg;

	if (msg->hdr.type != IPC_CTL_QUEUE_END)
		return ctl_unexpected(msg);
	if ((*count = ctl_queue_end_count(msg)) == -1)
		return -1;
	return 1;
}

int
ctl_queue_flush(const struct config *conf, const char *id)
{
	struct ipc_wbuf	 w;
	char		 qid[QUEUEID_LEN + 1];
	int64_t		 count = 0;

	if (id == NULL)
		id = "";
	if (*id != '\0') {
		if (ctl_queueid_arg(id, qid, sizeof(qid)) == -1) {
			fprintf(stderr, "%s: %s is not a queue id\n",
			    ctl_progname, id);
			return -1;
		}
		id = qid;
	}
	ipc_wbuf_init(&w);
	ipc_put_str(&w, id);
	if (ctl_request(conf, IPC_CTL_QUEUE_FLUSH, &w, count_frame,
	    &count) == -1)
		return -1;
	if (*id != '\0' && count == 0) {
		fprintf(stderr, "%s: %s: no such message, or nothing deferred "
		    "to flush\n", ctl_progname, id);
		return -1;
	}
	printf("%" PRId64 " message%s scheduled for delivery now\n", count,
	    count == 1 ? "" : "s");
	return fflush(stdout) == EOF ? -1 : 0;
}

/* --- show --- */

struct show {
	struct entry	 e;
	int		 have_entry;
	char		*text;		/* the headers, accumulated */
	size_t		 len;
	int64_t		 found;
};

static int
show_frame(void *arg, struct ipc_msg *msg)
{
	struct show	*s = arg;
	struct ipc_rbuf	 r;
	char		*text;
	size_t		 n;

	switch (msg->hdr.type) {
	case IPC_CTL_QUEUE_ENTRY:
	case IPC_CTL_QUEUE_TEXT:
		ipc_rbuf_init(&r, msg->data, msg->hdr.len);
		text = ipc_get_strdup(&r);
		if (text == NULL || ipc_get_end(&r) == -1) {
			free(text);
			fprintf(stderr, "%s: bad %s frame from facteurd\n",
			    ctl_progname, ipc_type_name(msg->hdr.type));
			return -1;
		}
		if (msg->hdr.type == IPC_CTL_QUEUE_ENTRY) {
			if (s->have_entry)
				entry_free(&s->e);
			entry_parse(text, &s->e);
			s->have_entry = 1;
		} else {
			n = strlen(text);
			s->text = xreallocarray(s->text, s->len + n + 1, 1);
			memcpy(s->text + s->len, text, n + 1);
			s->len += n;
		}
		free(text);
		return 0;
	case IPC_CTL_QUEUE_END:
		if ((s->found = ctl_queue_end_count(msg)) == -1)
			return -1;
		return 1;
	default:
		return ctl_unexpected(msg);
	}
}

/* the headers with LF line ends (the spool keeps CRLF) */
static char *
headers_lf(const char *text)
{
	char	*out = xstrdup(text != NULL ? text : ""), *o = out;
	size_t	 i;

	for (i = 0; out[i] != '\0'; i++)
		if (!(out[i] == '\r' && out[i + 1] == '\n'))
			*o++ = out[i];
	*o = '\0';
	return out;
}

static void
date_format(long long secs, char *buf, size_t bufsz)
{
	time_t	t = secs;

	if (secs <= 0) {
		strlcpy(buf, "-", bufsz);
		return;
	}
	strftime(buf, bufsz, "%a, %d %b %Y %H:%M:%S %z", localtime(&t));
}

static void
show_text(const struct entry *e, const char *headers)
{
	const struct entry_rcpt	*r;
	char			 when[64];
	size_t			 i;

	date_format(e->arrival, when, sizeof(when));
	printf("Queue ID: %s%s\n", e->id, e->held ? " (on hold)" : "");
	printf("Queue: %s\n", entry_queue_name(e));
	printf("Arrival: %s\n", when);
	printf("Size: %" PRIu64 "\n", e->size);
	printf("Sender: <%s>\n", e->sender);
	printf("Recipients: %zu%s\n", e->nrcpt + e->more,
	    e->more ? " (not all shown)" : "");
	for (i = 0; i < e->nrcpt; i++) {
		r = &e->rcpt[i];
		printf("  <%s>", r->addr);
		if (r->orig[0] != '\0' && strcmp(r->orig, r->addr) != 0)
			printf(" (for <%s>)", r->orig);
		printf(" %s", r->state);
		if (r->attempts > 0)
			printf(", %lu failed attempt%s", r->attempts,
			    r->attempts == 1 ? "" : "s");
		if (strcmp(r->state, "deferred") == 0 && r->next > 0) {
			date_format(r->next, when, sizeof(when));
			printf(", next attempt %s", when);
		}
		printf("\n");
		if (r->error[0] != '\0')
			printf("    (%s)\n", r->error);
	}
	printf("\n%s", headers);
	if (*headers != '\0' && headers[strlen(headers) - 1] != '\n')
		printf("\n");
}

int
ctl_queue_show(const struct config *conf, const char *id, int json)
{
	struct show	 s;
	struct ipc_wbuf	 w;
	char		 qid[QUEUEID_LEN + 1], *headers;
	int		 r = 0;

	if (ctl_queueid_arg(id, qid, sizeof(qid)) == -1) {
		fprintf(stderr, "%s: %s is not a queue id\n", ctl_progname, id);
		return -1;
	}
	memset(&s, 0, sizeof(s));
	ipc_wbuf_init(&w);
	ipc_put_str(&w, qid);
	if (ctl_request(conf, IPC_CTL_QUEUE_SHOW, &w, show_frame, &s) == -1)
		r = -1;
	else if (s.found == 0 || !s.have_entry) {
		fprintf(stderr, "%s: %s: no such message in the queue\n",
		    ctl_progname, qid);
		r = -1;
	} else {
		headers = headers_lf(s.text);
		if (json) {
			entry_json(stdout, &s.e, headers);
			putchar('\n');
		} else
			show_text(&s.e, headers);
		free(headers);
		if (fflush(stdout) == EOF)
			r = -1;
	}
	if (s.have_entry)
		entry_free(&s.e);
	free(s.text);
	return r;
}

/* --- hold, release, delete, requeue --- */

static const char *
select_done(uint32_t type)
{
	switch (type) {
	case IPC_CTL_QUEUE_HOLD:
		return "put on hold";
	case IPC_CTL_QUEUE_RELEASE:
		return "released from hold";
	case IPC_CTL_QUEUE_DELETE:
		return "deleted";
	default:
		return "requeued";
	}
}

static const char *
select_none(uint32_t type)
{
	switch (type) {
	case IPC_CTL_QUEUE_HOLD:
		return "no such message, or already on hold";
	case IPC_CTL_QUEUE_RELEASE:
		return "no such message, or not on hold";
	default:
		return "no such message";
	}
}

/* one selector ("ID", "ALL", "from=A", "to=A"); count added to *total */
static int
select_one(const struct config *conf, uint32_t type, const char *sel,
    int64_t *total, int is_id)
{
	struct ipc_wbuf	w;
	int64_t		count = 0;

	ipc_wbuf_init(&w);
	ipc_put_str(&w, sel);
	if (w.error) {
		fprintf(stderr, "%s: %s: too long\n", ctl_progname, sel);
		return -1;
	}
	if (ctl_request(conf, type, &w, count_frame, &count) == -1)
		return -1;
	*total += count;
	if (is_id && count == 0) {
		fprintf(stderr, "%s: %s: %s\n", ctl_progname, sel,
		    select_none(type));
		return -1;
	}
	return 0;
}

int
ctl_queue_select(const struct config *conf, uint32_t type, int argc,
    char **argv)
{
	char		 qid[QUEUEID_LEN + 1], *sel;
	const char	*key, *val;
	int64_t		 total = 0;
	int		 i, failed = 0, n = 0;

	for (i = 0; i < argc; i++) {
		key = NULL;
		if (strcmp(argv[i], "--from") == 0 ||
		    strcmp(argv[i], "--to") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: %s needs an address\n",
				    ctl_progname, argv[i]);
				return -1;
			}
			key = argv[i] + 2;
			val = argv[++i];
		} else if (strncmp(argv[i], "--from=", 7) == 0) {
			key = "from";
			val = argv[i] + 7;
		} else if (strncmp(argv[i], "--to=", 5) == 0) {
			key = "to";
			val = argv[i] + 5;
		}
		n++;
		if (key != NULL) {
			/* "<alice@example.test>" as typed from a log line */
			if (val[0] == '<' && strlen(val) > 2 &&
			    val[strlen(val) - 1] == '>') {
				if (xasprintf(&sel, "%s=%.*s", key,
				    (int)strlen(val) - 2, val + 1) == -1)
					fatal("asprintf");
			} else if (xasprintf(&sel, "%s=%s", key, val) == -1)
				fatal("asprintf");
			if (select_one(conf, type, sel, &total, 0) == -1)
				failed = 1;
			free(sel);
		} else if (strcasecmp(argv[i], "ALL") == 0) {
			if (select_one(conf, type, "ALL", &total, 0) == -1)
				failed = 1;
		} else if (ctl_queueid_arg(argv[i], qid, sizeof(qid)) == 0) {
			if (select_one(conf, type, qid, &total, 1) == -1)
				failed = 1;
		} else {
			fprintf(stderr, "%s: %s is not a queue id (or ALL, "
			    "--from ADDRESS, --to ADDRESS)\n", ctl_progname,
			    argv[i]);
			failed = 1;
		}
	}
	if (n == 0) {
		fprintf(stderr, "%s: say which messages: ID ..., ALL, --from "
		    "ADDRESS or --to ADDRESS\n", ctl_progname);
		return -1;
	}
	printf("%" PRId64 " message%s %s\n", total, total == 1 ? "" : "s",
	    select_done(type));
	if (fflush(stdout) == EOF)
		return -1;
	return failed ? -1 : 0;
}
