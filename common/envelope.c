/*
 * The envelope as text (see envelope.h): formatting, strict parsing,
 * the %XX value encoding, and queue ids.
 *
 * The DSN fields follow RFC 3461 (NOTIFY, ORCPT, RET, ENVID); the body
 * types RFC 6152 (8BITMIME) and RFC 3030 (BINARYMIME); smtputf8 RFC 6531.
 * Parsing trusts nothing: every key is known, every value checked and
 * bounded, mailboxes cannot name a path outside the mail root.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "util.h"

#define ENVELOPE_MAGIC	"facteur-envelope"

static const char *body_names[] = { "7BIT", "8BITMIME", "BINARYMIME" };
static const char *ret_names[] = { "-", "FULL", "HDRS" };

static const struct {
	const char	*name;
	int		 flag;
} notify_names[] = {
	{ "NEVER", ENV_NOTIFY_NEVER },
	{ "SUCCESS", ENV_NOTIFY_SUCCESS },
	{ "FAILURE", ENV_NOTIFY_FAILURE },
	{ "DELAY", ENV_NOTIFY_DELAY },
};
#define NNOTIFY	(sizeof(notify_names) / sizeof(notify_names[0]))

/* the key lines, each present at most once (rcpt is handled apart) */
enum env_key {
	K_ID, K_ARRIVAL, K_SENDER, K_CLIENT, K_HELO, K_PROTO, K_AUTH, K_BODY,
	K_SMTPUTF8, K_ENVID, K_RET, K_COUNT
};
static const char *key_names[K_COUNT] = {
	"id", "arrival", "sender", "client", "helo", "proto", "auth", "body",
	"smtputf8", "envid", "ret"
};

void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->rcpt = NULL;
}

void
envelope_clear(struct envelope *env)
{
	free(env->rcpt);
	envelope_init(env);
}

int
envelope_add_rcpt(struct envelope *env, const struct env_rcpt *r)
{
	if (env->nrcpt >= ENVELOPE_MAX_RCPT)
		return -1;
	/* grow by powers of two */
	if ((env->nrcpt & (env->nrcpt - 1)) == 0)
		env->rcpt = xreallocarray(env->rcpt,
		    env->nrcpt ? env->nrcpt * 2 : 1, sizeof(*r));
	env->rcpt[env->nrcpt++] = *r;
	return 0;
}

void
envelope_encode(const char *in, char *out, size_t outsz)
{
	static const char	hex[] = "0123456789ABCDEF";
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = 0;

	if (outsz == 0)
		return;
	if (*p == '\0') {
		strlcpy(out, "-", outsz);
		return;
	}
	/* a lone "-" would read back as "" */
	if (p[0] == '-' && p[1] == '\0') {
		strlcpy(out, "%2D", outsz);
		return;
	}
	for (; *p != '\0'; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%') {
			if (n + 1 >= outsz)
				break;
			out[n++] = *p;
		} else {
			if (n + 3 >= outsz)
				break;
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 0xf];
		}
	}
	out[n] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
envelope_decode(const char *in, char *out, size_t outsz)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = 0;
	int			 hi, lo;

	if (outsz == 0)
		return -1;
	if (strcmp(in, "-") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		if (n + 1 >= outsz)
			return -1;
		if (*p == '%') {
			if ((hi = hexval(p[1])) == -1 ||
			    (lo = hexval(p[2])) == -1)
				return -1;
			if (hi == 0 && lo == 0)
				return -1;
			out[n++] = hi << 4 | lo;
			p += 2;
		} else if (*p > 0x20 && *p < 0x7f)
			out[n++] = *p;
		else
			return -1;
	}
	out[n] = '\0';
	return 0;
}

/* appends to a growing string; aborts on out of memory */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static void
sb_add(struct sbuf *sb, const char *s)
{
	size_t	n = strlen(s);

	while (sb->len + n + 1 > sb->cap) {
		sb->cap = sb->cap ? sb->cap * 2 : 1024;
		sb->p = xreallocarray(sb->p, sb->cap, 1);
	}
	memcpy(sb->p + sb->len, s, n + 1);
	sb->len += n;
}

static void
sb_kv(struct sbuf *sb, const char *key, const char *val)
{
	char	enc[ADDR_MAX * 3 + 64];

	envelope_encode(val, enc, sizeof(enc));
	sb_add(sb, key);
	sb_add(sb, " ");
	sb_add(sb, enc);
	sb_add(sb, "\n");
}

ssize_t
envelope_format(const struct envelope *env, char **out)
{
	struct sbuf	 sb = { NULL, 0, 0 };
	char		 line[64], enc[ADDR_MAX * 3 + 64];
	const struct env_rcpt *r;
	size_t		 i, j;
	int		 first;

	*out = NULL;
	if (env->body < 0 || env->body > ENV_BODY_BINARYMIME ||
	    env->ret < 0 || env->ret > ENV_RET_HDRS ||
	    (env->id[0] != '\0' && !queueid_valid(env->id)))
		return -1;

	snprintf(line, sizeof(line), "%s %d\n", ENVELOPE_MAGIC,
	    ENVELOPE_VERSION);
	sb_add(&sb, line);
	if (env->id[0] != '\0')
		sb_kv(&sb, "id", env->id);
	snprintf(line, sizeof(line), "arrival %llu\n",
	    (unsigned long long)env->arrival);
	sb_add(&sb, line);
	if (env->sender[0] == '\0')
		sb_add(&sb, "sender <>\n");
	else
		sb_kv(&sb, "sender", env->sender);
	sb_kv(&sb, "client", env->client);
	sb_kv(&sb, "helo", env->helo);
	sb_kv(&sb, "proto", env->proto);
	sb_kv(&sb, "auth", env->auth);
	sb_add(&sb, "body ");
	sb_add(&sb, body_names[env->body]);
	sb_add(&sb, env->smtputf8 ? "\nsmtputf8 1\n" : "\nsmtputf8 0\n");
	sb_kv(&sb, "envid", env->envid);
	sb_add(&sb, "ret ");
	sb_add(&sb, ret_names[env->ret]);
	sb_add(&sb, "\n");

	for (i = 0; i < env->nrcpt; i++) {
		r = &env->rcpt[i];
		sb_add(&sb, "rcpt ");
		envelope_encode(r->addr, enc, sizeof(enc));
		sb_add(&sb, enc);
		sb_add(&sb, " ");
		envelope_encode(r->mailbox, enc, sizeof(enc));
		sb_add(&sb, enc);
		sb_add(&sb, " notify=");
		if (r->notify == 0)
			sb_add(&sb, "-");
		for (j = 0, first = 1; j < NNOTIFY; j++) {
			if (!(r->notify & notify_names[j].flag))
				continue;
			if (!first)
				sb_add(&sb, ",");
			sb_add(&sb, notify_names[j].name);
			first = 0;
		}
		sb_add(&sb, " orcpt=");
		envelope_encode(r->orcpt, enc, sizeof(enc));
		sb_add(&sb, enc);
		sb_add(&sb, "\n");
	}
	sb_add(&sb, "\n");
	*out = sb.p;
	return sb.len;
}

/* decimal u64, digits only */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t	v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

static int
name_index(const char **names, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/*
 * "domain/user": one '/', both parts non-empty, no dot first, printable
 * ASCII or UTF-8 bytes only. It becomes a path under the mail root.
 */
static int
mailbox_valid(const char *m)
{
	const char		*slash;
	const unsigned char	*p;

	if ((slash = strchr(m, '/')) == NULL || strchr(slash + 1, '/'))
		return 0;
	if (slash == m || slash[1] == '\0' || m[0] == '.' || slash[1] == '.')
		return 0;
	for (p = (const unsigned char *)m; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return 1;
}

static int
parse_notify(const char *s, int *out)
{
	char	buf[64], *p, *w;
	size_t	j;
	int	f = 0;

	if (strcmp(s, "-") == 0) {
		*out = 0;
		return 0;
	}
	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	p = buf;
	while ((w = strsep(&p, ",")) != NULL) {
		for (j = 0; j < NNOTIFY; j++)
			if (strcmp(w, notify_names[j].name) == 0)
				break;
		if (j == NNOTIFY || (f & notify_names[j].flag))
			return -1;
		f |= notify_names[j].flag;
	}
	/* RFC 3461 4.1: NEVER stands alone */
	if ((f & ENV_NOTIFY_NEVER) && f != ENV_NOTIFY_NEVER)
		return -1;
	*out = f;
	return 0;
}

/* "rcpt ADDR MAILBOX [notify=...] [orcpt=...]" (after the key) */
static const char *
parse_rcpt(char *v, struct envelope *env)
{
	struct env_rcpt	 r;
	char		*w[4], *opt;
	int		 i, n = 0, seen_notify = 0, seen_orcpt = 0;

	memset(&r, 0, sizeof(r));
	while (n < 4 && (w[n] = strsep(&v, " ")) != NULL)
		n++;
	if (v != NULL || n < 2)
		return "bad rcpt line";
	if (envelope_decode(w[0], r.addr, sizeof(r.addr)) == -1 ||
	    r.addr[0] == '\0')
		return "bad rcpt address";
	if (envelope_decode(w[1], r.mailbox, sizeof(r.mailbox)) == -1)
		return "bad rcpt mailbox";
	if (r.mailbox[0] != '\0' && !mailbox_valid(r.mailbox))
		return "bad rcpt mailbox";
	for (i = 2; i < n; i++) {
		opt = w[i];
		if (strncmp(opt, "notify=", 7) == 0 && !seen_notify) {
			seen_notify = 1;
			if (parse_notify(opt + 7, &r.notify) == -1)
				return "bad rcpt notify";
		} else if (strncmp(opt, "orcpt=", 6) == 0 && !seen_orcpt) {
			seen_orcpt = 1;
			if (envelope_decode(opt + 6, r.orcpt,
			    sizeof(r.orcpt)) == -1)
				return "bad rcpt orcpt";
		} else
			return "bad rcpt option";
	}
	if (envelope_add_rcpt(env, &r) == -1)
		return "too many recipients";
	return NULL;
}

static const char *
parse_kv(int k, const char *v, struct envelope *env)
{
	int	i;

	switch (k) {
	case K_ID:
		if (!queueid_valid(v))
			return "bad queue id";
		strlcpy(env->id, v, sizeof(env->id));
		return NULL;
	case K_ARRIVAL:
		return parse_u64(v, &env->arrival) == -1 ? "bad arrival" : NULL;
	case K_SENDER:
		if (strcmp(v, "<>") == 0) {
			env->sender[0] = '\0';
			return NULL;
		}
		if (envelope_decode(v, env->sender, sizeof(env->sender)) == -1
		    || env->sender[0] == '\0')
			return "bad sender";
		return NULL;
	case K_CLIENT:
		return envelope_decode(v, env->client, sizeof(env->client)) ==
		    -1 ? "bad client" : NULL;
	case K_HELO:
		return envelope_decode(v, env->helo, sizeof(env->helo)) ==
		    -1 ? "bad helo" : NULL;
	case K_PROTO:
		return envelope_decode(v, env->proto, sizeof(env->proto)) ==
		    -1 ? "bad proto" : NULL;
	case K_AUTH:
		return envelope_decode(v, env->auth, sizeof(env->auth)) ==
		    -1 ? "bad auth" : NULL;
	case K_BODY:
		if ((i = name_index(body_names, 3, v)) == -1)
			return "bad body";
		env->body = i;
		return NULL;
	case K_SMTPUTF8:
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return "bad smtputf8";
		env->smtputf8 = v[0] == '1';
		return NULL;
	case K_ENVID:
		return envelope_decode(v, env->envid, sizeof(env->envid)) ==
		    -1 ? "bad envid" : NULL;
	case K_RET:
		if ((i = name_index(ret_names, 3, v)) == -1)
			return "bad ret";
		env->ret = i;
		return NULL;
	}
	return "unknown key";
}

ssize_t
envelope_parse(const char *text, size_t len, struct envelope *env,
    const char **err)
{
	const char	*p = text, *end = text + len, *nl, *e;
	char		 line[4096], *sp;
	size_t		 n;
	int		 seen[K_COUNT], k, first = 1;

	envelope_init(env);
	memset(seen, 0, sizeof(seen));
	*err = NULL;
	for (;;) {
		if (p >= end || (nl = memchr(p, '\n', end - p)) == NULL) {
			e = "truncated envelope";
			goto fail;
		}
		n = nl - p;
		if (n >= sizeof(line)) {
			e = "envelope line too long";
			goto fail;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (memchr(line, '\0', n) != NULL) {
			e = "NUL byte in envelope";
			goto fail;
		}
		if (first) {
			if (strncmp(line, ENVELOPE_MAGIC " ",
			    sizeof(ENVELOPE_MAGIC)) != 0) {
				e = "not an envelope";
				goto fail;
			}
			if (strcmp(line + sizeof(ENVELOPE_MAGIC), "1") != 0) {
				e = "unsupported envelope version";
				goto fail;
			}
			first = 0;
			continue;
		}
		if (n == 0)
			break;
		if ((sp = strchr(line, ' ')) == NULL) {
			e = "envelope line without a value";
			goto fail;
		}
		*sp++ = '\0';
		if (strcmp(line, "rcpt") == 0) {
			if ((e = parse_rcpt(sp, env)) != NULL)
				goto fail;
			continue;
		}
		if ((k = name_index(key_names, K_COUNT, line)) == -1) {
			e = "unknown envelope key";
			goto fail;
		}
		if (seen[k]++) {
			e = "duplicate envelope key";
			goto fail;
		}
		if (strchr(sp, ' ') != NULL) {
			e = "space in envelope value";
			goto fail;
		}
		if ((e = parse_kv(k, sp, env)) != NULL)
			goto fail;
	}
	if (!seen[K_ARRIVAL] || !seen[K_SENDER]) {
		e = "envelope without arrival or sender";
		goto fail;
	}
	if (env->nrcpt == 0) {
		e = "envelope without recipients";
		goto fail;
	}
	return p - text;

fail:
	envelope_clear(env);
	*err = e;
	return -1;
}

/*
 * 9 hex digits of seconds, 5 of microseconds, 2 of a counter for ids made
 * in the same microsecond. Time never goes backwards here: if the clock
 * does, or the counter runs out, the last time is reused or nudged by one
 * microsecond, so ids stay unique and increasing. Not thread-safe.
 */
void
queueid_new(char *buf)
{
	static uint64_t	last_sec, last_usec;
	static unsigned	counter;
	struct timeval	tv;
	uint64_t	sec, usec;

	gettimeofday(&tv, NULL);
	sec = tv.tv_sec;
	usec = tv.tv_usec;
	if (sec < last_sec || (sec == last_sec && usec <= last_usec)) {
		sec = last_sec;
		usec = last_usec;
		if (++counter > 0xff) {
			counter = 0;
			if (++usec > 999999) {
				usec = 0;
				sec++;
			}
		}
	} else
		counter = 0;
	last_sec = sec;
	last_usec = usec;
	snprintf(buf, QUEUEID_LEN + 1, "%09llX%05llX%02X",
	    (unsigned long long)(sec & 0xfffffffffULL),
	    (unsigned long long)usec, counter);
}

int
queueid_valid(const char *s)
{
	size_t	i;

	for (i = 0; i < QUEUEID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return s[QUEUEID_LEN] == '\0';
}
