/*
 * facteur.conf: parsing, checking and lookups (see config.h).
 *
 * The text is "name = value" lines. '#' starts a comment at the start of a
 * line or after whitespace; trailing whitespace is trimmed; a value may be
 * empty. "listener.name = value" overrides a scopable setting for one
 * listener. Every value is checked against its type when the file is
 * parsed, so lookups never fail. Values live in arrays indexed like the
 * CONFIG_SETTINGS table: slot 0 is the global value, slots 1.. the
 * per-listener overrides.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define CONFIG_MAX_FILE	(1024 * 1024)

struct setting {
	const char	*name;
	int		 type;
	const char	*def;
	int		 scopable;
};

#define X(n, t, d, s)	{ #n, t, d, s },
static const struct setting settings[] = {
	CONFIG_SETTINGS(X)
};
#undef X
#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

static const char *listeners[] = { "smtp", "submission", "smtps", "local",
    "pop3", "pop3s", "imap", "imaps" };
#define NLISTENERS	(sizeof(listeners) / sizeof(listeners[0]))
#define NSLOTS		(NLISTENERS + 1)

struct config {
	char		*text;
	size_t		 len;
	char		*hostname;		/* effective hostname */
	char		*val[NSLOTS][NSETTINGS];	/* NULL: not set */
	long long	 num[NSLOTS][NSETTINGS];	/* NUM, TIME, SIZE, BOOL */
};

static int	 setting_index(const char *, size_t);
static int	 listener_index(const char *, size_t);
static int	 parse_value(int, const char *, long long *);
static const char *type_hint(int);
static int	 parse_line(struct config *, char *, const char *, size_t,
		    char *, size_t);
static int	 lookup(const struct config *, const char *, const char *,
		    int *, int *);

static int
setting_index(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NSETTINGS; i++)
		if (strlen(settings[i].name) == len &&
		    memcmp(settings[i].name, name, len) == 0)
			return i;
	return -1;
}

static int
listener_index(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NLISTENERS; i++)
		if (strlen(listeners[i]) == len &&
		    memcmp(listeners[i], name, len) == 0)
			return i;
	return -1;
}

static const char *
type_hint(int type)
{
	switch (type) {
	case CT_NUM:
		return "a number";
	case CT_BOOL:
		return "yes or no";
	case CT_TIME:
		return "a time: seconds, or a number with s, m, h, d or w";
	case CT_SIZE:
		return "a size: bytes, or a number with k, m or g";
	case CT_MODE:
		return "system or sandbox";
	default:
		return "text";
	}
}

/* digits only, no sign, no overflow; 0 or -1 */
static int
parse_digits(const char *s, size_t n, long long *out)
{
	long long	v = 0;
	size_t		i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (LLONG_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
parse_scaled(const char *s, long long *out, const char *suffixes,
    const long long *mult)
{
	size_t		 n = strlen(s);
	const char	*p;
	long long	 v, m = 1;

	if (n > 0 && (p = strchr(suffixes, s[n - 1])) != NULL) {
		m = mult[p - suffixes];
		n--;
	}
	if (parse_digits(s, n, &v) == -1)
		return -1;
	if (v > LLONG_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

/* Checks value s against type; numeric types also yield *out. 0 or -1. */
static int
parse_value(int type, const char *s, long long *out)
{
	static const long long	tmult[] = { 1, 60, 3600, 86400, 604800 };
	static const long long	smult[] = { 1024, 1024, 1048576, 1048576,
				    1073741824LL, 1073741824LL };

	*out = 0;
	switch (type) {
	case CT_STR:
	case CT_LIST:
		return 0;
	case CT_NUM:
		return parse_digits(s, strlen(s), out);
	case CT_TIME:
		return parse_scaled(s, out, "smhdw", tmult);
	case CT_SIZE:
		return parse_scaled(s, out, "kKmMgG", smult);
	case CT_BOOL:
		if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") ||
		    !strcasecmp(s, "on") || !strcmp(s, "1"))
			*out = 1;
		else if (!strcasecmp(s, "no") || !strcasecmp(s, "false") ||
		    !strcasecmp(s, "off") || !strcmp(s, "0"))
			*out = 0;
		else
			return -1;
		return 0;
	case CT_MODE:
		if (!strcmp(s, "system"))
			*out = 0;
		else if (!strcmp(s, "sandbox"))
			*out = 1;
		else
			return -1;
		return 0;
	}
	return -1;
}

/* Text settings that take one word of a fixed list. */
static const struct {
	const char	*name;
	const char	*choices;
} choice_settings[] = {
	{ "allow_plaintext_auth",	"never loopback always" },
	{ "require_auth",		"yes no auto" },
};

static const char *
setting_choices(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(choice_settings) / sizeof(choice_settings[0]);
	    i++)
		if (strcmp(choice_settings[i].name, name) == 0)
			return choice_settings[i].choices;
	return NULL;
}

static int
is_choice(const char *choices, const char *value)
{
	size_t	n = strlen(value);
	const char *p;

	for (p = choices; *p != '\0'; p += strcspn(p, " "), p += *p == ' ')
		if (n > 0 && strncmp(p, value, n) == 0 &&
		    (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * One line (NUL-terminated, without its newline, modified in place).
 * 0, or -1 with "name:lineno: problem" in err.
 */
static int
parse_line(struct config *conf, char *line, const char *fname, size_t lineno,
    char *err, size_t errsz)
{
	char		*p, *eq, *name, *value, *end, *dot;
	const char	*choices;
	int		 idx, slot = 0, l;
	long long	 num;

	/* comments: '#' at the start or after whitespace */
	for (p = line; *p != '\0'; p++) {
		if (*p == '#' && (p == line || is_space((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	/* trim */
	while (is_space((unsigned char)*line))
		line++;
	end = line + strlen(line);
	while (end > line && is_space((unsigned char)end[-1]))
		*--end = '\0';
	if (*line == '\0')
		return 0;

	if ((eq = strchr(line, '=')) == NULL) {
		snprintf(err, errsz, "%s:%zu: missing '='", fname, lineno);
		return -1;
	}
	name = line;
	end = eq;
	while (end > name && is_space((unsigned char)end[-1]))
		end--;
	*end = '\0';
	value = eq + 1;
	while (is_space((unsigned char)*value))
		value++;

	if (*name == '\0') {
		snprintf(err, errsz, "%s:%zu: missing setting name before '='",
		    fname, lineno);
		return -1;
	}
	if ((dot = strchr(name, '.')) != NULL) {
		if ((l = listener_index(name, dot - name)) == -1) {
			snprintf(err, errsz, "%s:%zu: '%.*s' is not a listener "
			    "(smtp, submission, smtps, local, pop3, pop3s, imap, imaps)",
			    fname, lineno,
			    (int)(dot - name), name);
			return -1;
		}
		slot = l + 1;
		name = dot + 1;
	}
	if ((idx = setting_index(name, strlen(name))) == -1) {
		snprintf(err, errsz, "%s:%zu: unknown setting '%s'", fname,
		    lineno, name);
		return -1;
	}
	if (slot != 0 && !settings[idx].scopable) {
		snprintf(err, errsz, "%s:%zu: %s cannot be scoped", fname,
		    lineno, name);
		return -1;
	}
	if (parse_value(settings[idx].type, value, &num) == -1) {
		snprintf(err, errsz, "%s:%zu: bad value '%s' for %s (%s)",
		    fname, lineno, value, name, type_hint(settings[idx].type));
		return -1;
	}
	if ((choices = setting_choices(name)) != NULL &&
	    !is_choice(choices, value)) {
		snprintf(err, errsz, "%s:%zu: bad value '%s' for %s (one of: "
		    "%s)", fname, lineno, value, name, choices);
		return -1;
	}
	free(conf->val[slot][idx]);
	conf->val[slot][idx] = xstrdup(value);
	conf->num[slot][idx] = num;
	return 0;
}

struct config *
config_parse(const char *text, size_t len, const char *name, char *err,
    size_t errsz)
{
	struct config	*conf;
	char		 hn[256];
	const char	*p, *nl, *end = text + len;
	char		*line;
	size_t		 i, lineno = 0, n;

	if (errsz > 0)
		err[0] = '\0';
	conf = xcalloc(1, sizeof(*conf));
	conf->text = xmalloc(len + 1);
	memcpy(conf->text, text, len);
	conf->text[len] = '\0';
	conf->len = len;

	for (i = 0; i < NSETTINGS; i++) {
		conf->val[0][i] = xstrdup(settings[i].def);
		if (parse_value(settings[i].type, settings[i].def,
		    &conf->num[0][i]) == -1)
			fatalx("config: bad default for %s", settings[i].name);
	}

	for (p = text; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		n = nl - p;
		if (memchr(p, '\0', n) != NULL) {
			snprintf(err, errsz, "%s:%zu: NUL byte in line", name,
			    lineno);
			goto fail;
		}
		line = xmalloc(n + 1);
		memcpy(line, p, n);
		line[n] = '\0';
		if (parse_line(conf, line, name, lineno, err, errsz) == -1) {
			free(line);
			goto fail;
		}
		free(line);
	}

	i = setting_index("hostname", strlen("hostname"));
	if (conf->val[0][i][0] != '\0')
		conf->hostname = xstrdup(conf->val[0][i]);
	else {
		if (gethostname(hn, sizeof(hn)) == -1)
			strlcpy(hn, "localhost", sizeof(hn));
		hn[sizeof(hn) - 1] = '\0';
		conf->hostname = xstrdup(hn);
	}
	return conf;

fail:
	config_free(conf);
	return NULL;
}

struct config *
config_load(const char *path, char *err, size_t errsz)
{
	struct config	*conf;
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_size > CONFIG_MAX_FILE) {
		snprintf(err, errsz, "%s: file too large", path);
		close(fd);
		return NULL;
	}
	buf = xmalloc(CONFIG_MAX_FILE + 1);
	for (;;) {
		r = read(fd, buf + len, CONFIG_MAX_FILE + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		len += r;
		if (len > CONFIG_MAX_FILE) {
			snprintf(err, errsz, "%s: file too large", path);
			free(buf);
			close(fd);
			return NULL;
		}
	}
	close(fd);
	conf = config_parse(buf, len, path, err, errsz);
	free(buf);
	return conf;
}

void
config_free(struct config *conf)
{
	size_t	s, i;

	if (conf == NULL)
		return;
	for (s = 0; s < NSLOTS; s++)
		for (i = 0; i < NSETTINGS; i++)
			free(conf->val[s][i]);
	free(conf->hostname);
	free(conf->text);
	free(conf);
}

const char *
config_text(const struct config *conf)
{
	return conf->text;
}

static void
dump_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t	n = strlen(s);

	while (*len + n + 1 > *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		*buf = xreallocarray(*buf, *cap, 1);
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

char *
config_dump(const struct config *conf)
{
	const char	*v;
	char		*buf = NULL, *line;
	size_t		 len = 0, cap = 0, i, l;

	dump_add(&buf, &len, &cap, "");
	for (i = 0; i < NSETTINGS; i++) {
		v = strcmp(settings[i].name, "hostname") == 0 ?
		    conf->hostname : conf->val[0][i];
		/* "name = #x" would read back as a comment */
		xasprintf(&line, "%s =%s%s\n", settings[i].name,
		    v[0] == '#' ? "" : " ", v);
		dump_add(&buf, &len, &cap, line);
		free(line);
		for (l = 0; l < NLISTENERS; l++) {
			if (conf->val[l + 1][i] == NULL)
				continue;
			v = conf->val[l + 1][i];
			xasprintf(&line, "%s.%s =%s%s\n", listeners[l],
			    settings[i].name, v[0] == '#' ? "" : " ", v);
			dump_add(&buf, &len, &cap, line);
			free(line);
		}
	}
	return buf;
}

/* finds the slot and index holding the effective value of name */
static int
lookup(const struct config *conf, const char *listener, const char *name,
    int *slotp, int *idxp)
{
	int	idx, l;

	if ((idx = setting_index(name, strlen(name))) == -1)
		fatalx("config: unknown setting '%s'", name);
	*idxp = idx;
	*slotp = 0;
	if (listener != NULL && settings[idx].scopable &&
	    (l = listener_index(listener, strlen(listener))) != -1 &&
	    conf->val[l + 1][idx] != NULL)
		*slotp = l + 1;
	return settings[idx].type;
}

const char *
config_str(const struct config *conf, const char *listener, const char *name)
{
	int	slot, idx;

	lookup(conf, listener, name, &slot, &idx);
	if (strcmp(name, "hostname") == 0)
		return conf->hostname;
	return conf->val[slot][idx];
}

long long
config_num(const struct config *conf, const char *listener, const char *name)
{
	int	slot, idx, type;

	type = lookup(conf, listener, name, &slot, &idx);
	if (type != CT_NUM && type != CT_TIME && type != CT_SIZE)
		fatalx("config: %s is not a number", name);
	return conf->num[slot][idx];
}

int
config_bool(const struct config *conf, const char *listener, const char *name)
{
	int	slot, idx, type;

	type = lookup(conf, listener, name, &slot, &idx);
	if (type != CT_BOOL)
		fatalx("config: %s is not yes/no", name);
	return conf->num[slot][idx] != 0;
}

int
config_list(const struct config *conf, const char *listener,
    const char *name, int (*fn)(const char *, void *), void *arg)
{
	char	*copy, *p, *word;
	int	 slot, idx, type, ret = 0;

	type = lookup(conf, listener, name, &slot, &idx);
	if (type != CT_LIST && type != CT_STR)
		fatalx("config: %s is not a list", name);
	copy = xstrdup(conf->val[slot][idx]);
	p = copy;
	while ((word = strsep(&p, ", \t")) != NULL) {
		if (*word == '\0')
			continue;
		if ((ret = fn(word, arg)) != 0)
			break;
	}
	free(copy);
	return ret;
}

int
config_is_sandbox(const struct config *conf)
{
	int	slot, idx;

	lookup(conf, NULL, "run_mode", &slot, &idx);
	return conf->num[0][idx] == 1;
}
