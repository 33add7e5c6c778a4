/*
 * facteur-uidlist: the durable record of a folder's IMAP identity (RFC
 * 9051 2.3.1.1: UIDVALIDITY, UIDs strictly ascending, never reused), in
 * the spirit of dovecot-uidlist:
 *
 *	facteur-uidlist 1 V<uidvalidity> N<uidnext> M<highestmodseq>
 *	K <keyword> <keyword> ...		(optional; bit i = word i)
 *	<uid> <base name>			(one per message)
 *
 * Parsing and formatting only; store.c reads and writes the file (tmp +
 * fsync + rename, under an flock).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "store.h"

#define UIDLIST_MAGIC	"facteur-uidlist 1 "

void
uidlist_init(struct uidlist *ul)
{
	memset(ul, 0, sizeof(*ul));
	ul->sorted = 1;
}

void
uidlist_clear(struct uidlist *ul)
{
	size_t	i;
	int	k;

	for (i = 0; i < ul->nent; i++)
		free(ul->ent[i].base);
	free(ul->ent);
	for (k = 0; k < ul->nkeywords; k++)
		free(ul->keywords[k]);
	uidlist_init(ul);
}

void
uidlist_add(struct uidlist *ul, uint32_t uid, const char *base)
{
	if (ul->nent == ul->cap) {
		ul->cap = ul->cap ? ul->cap * 2 : 64;
		ul->ent = xreallocarray(ul->ent, ul->cap, sizeof(*ul->ent));
	}
	ul->ent[ul->nent].uid = uid;
	ul->ent[ul->nent].base = xstrdup(base);
	if (ul->nent > 0 && ul->sorted &&
	    strcmp(ul->ent[ul->nent - 1].base, base) >= 0)
		ul->sorted = 0;
	ul->nent++;
}

static int
ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uidlist_ent *)a)->base,
	    ((const struct uidlist_ent *)b)->base);
}

static void
uidlist_sort(struct uidlist *ul)
{
	if (!ul->sorted && ul->nent > 1)
		qsort(ul->ent, ul->nent, sizeof(*ul->ent), ent_cmp);
	ul->sorted = 1;
}

uint32_t
uidlist_find(struct uidlist *ul, const char *base, size_t *idx)
{
	struct uidlist_ent	key, *e;

	if (ul->nent == 0)
		return 0;
	uidlist_sort(ul);
	key.base = (char *)base;
	e = bsearch(&key, ul->ent, ul->nent, sizeof(*ul->ent), ent_cmp);
	if (e == NULL)
		return 0;
	if (idx != NULL)
		*idx = (size_t)(e - ul->ent);
	return e->uid;
}

void
uidlist_keep(struct uidlist *ul, const char *keep)
{
	size_t	i, j = 0;

	for (i = 0; i < ul->nent; i++) {
		if (keep[i])
			ul->ent[j++] = ul->ent[i];
		else
			free(ul->ent[i].base);
	}
	ul->nent = j;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t	x = ((const struct uidlist_ent *)a)->uid;
	uint32_t	y = ((const struct uidlist_ent *)b)->uid;

	return x < y ? -1 : x > y;
}

int
uidlist_check(struct uidlist *ul)
{
	struct uidlist_ent	*copy;
	size_t			 i;
	int			 r = 0;

	if (ul->uidvalidity == 0 || ul->uidnext == 0)
		return -1;
	uidlist_sort(ul);
	for (i = 0; i < ul->nent; i++) {
		if (ul->ent[i].uid == 0 || ul->ent[i].uid >= ul->uidnext)
			return -1;
		if (i > 0 && strcmp(ul->ent[i - 1].base, ul->ent[i].base) == 0)
			return -1;
	}
	if (ul->nent < 2)
		return 0;
	copy = xreallocarray(NULL, ul->nent, sizeof(*copy));
	memcpy(copy, ul->ent, ul->nent * sizeof(*copy));
	qsort(copy, ul->nent, sizeof(*copy), uid_cmp);
	for (i = 1; i < ul->nent; i++)
		if (copy[i - 1].uid == copy[i].uid)
			r = -1;
	free(copy);
	return r;
}

static int
parse_num(const char **pp, const char *end, uint64_t max, uint64_t *out)
{
	const char	*p = *pp;
	uint64_t	 v = 0;

	if (p >= end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -1;
	}
	*pp = p;
	*out = v;
	return 0;
}

static int
parse_header(struct uidlist *ul, const char *p, const char *end)
{
	uint64_t	v, n, m;

	if ((size_t)(end - p) < sizeof(UIDLIST_MAGIC) - 1 ||
	    memcmp(p, UIDLIST_MAGIC, sizeof(UIDLIST_MAGIC) - 1) != 0)
		return -1;
	p += sizeof(UIDLIST_MAGIC) - 1;
	if (*p++ != 'V' || parse_num(&p, end, UINT32_MAX, &v) == -1)
		return -1;
	if (p >= end || *p++ != ' ' || p >= end || *p++ != 'N' ||
	    parse_num(&p, end, UINT32_MAX, &n) == -1)
		return -1;
	if (p >= end || *p++ != ' ' || p >= end || *p++ != 'M' ||
	    parse_num(&p, end, INT64_MAX, &m) == -1)
		return -1;
	if (p != end || v == 0 || n == 0)
		return -1;
	ul->uidvalidity = (uint32_t)v;
	ul->uidnext = (uint32_t)n;
	ul->modseq = m;
	return 0;
}

static int
parse_keywords(struct uidlist *ul, const char *p, const char *end)
{
	const char	*w;
	char		*kw;

	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		for (w = p; p < end && *p != ' '; p++)
			if ((unsigned char)*p < 0x21 || *p == 0x7f)
				return -1;
		if (ul->nkeywords == STORE_KEYWORDS_MAX)
			return -1;
		kw = xmalloc((size_t)(p - w) + 1);
		memcpy(kw, w, (size_t)(p - w));
		kw[p - w] = '\0';
		ul->keywords[ul->nkeywords++] = kw;
	}
	return 0;
}

int
uidlist_parse(struct uidlist *ul, const char *text, size_t len)
{
	const char	*p = text, *end = text + len, *eol;
	char		 base[STORE_NAME_MAX + 1];
	uint64_t	 uid;
	size_t		 n;
	int		 line = 0;

	uidlist_clear(ul);
	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (line++ == 0) {
			if (parse_header(ul, p, eol) == -1)
				goto bad;
		} else if (p < eol && *p == 'K') {
			if (eol - p < 1 || (eol - p > 1 && p[1] != ' ') ||
			    parse_keywords(ul, p + 1, eol) == -1)
				goto bad;
		} else if (p < eol) {
			if (parse_num(&p, eol, UINT32_MAX, &uid) == -1 ||
			    p >= eol || *p++ != ' ')
				goto bad;
			n = (size_t)(eol - p);
			if (n == 0 || n > STORE_NAME_MAX ||
			    memchr(p, '\0', n) != NULL)
				goto bad;
			memcpy(base, p, n);
			base[n] = '\0';
			uidlist_add(ul, (uint32_t)uid, base);
		}
		p = eol + 1;
	}
	if (line == 0 || uidlist_check(ul) == -1)
		goto bad;
	return 0;
 bad:
	uidlist_clear(ul);
	return -1;
}

char *
uidlist_format(const struct uidlist *ul, size_t *lenp)
{
	struct uidlist_ent	*sorted;
	char			*buf;
	size_t			 cap, len, i;
	int			 k, n;

	cap = 128;
	for (k = 0; k < ul->nkeywords; k++)
		cap += strlen(ul->keywords[k]) + 1;
	for (i = 0; i < ul->nent; i++)
		cap += strlen(ul->ent[i].base) + 12;
	buf = xmalloc(cap);
	n = snprintf(buf, cap, UIDLIST_MAGIC "V%u N%u M%llu\n",
	    ul->uidvalidity, ul->uidnext, (unsigned long long)ul->modseq);
	len = (size_t)n;
	if (ul->nkeywords > 0) {
		buf[len++] = 'K';
		for (k = 0; k < ul->nkeywords; k++) {
			buf[len++] = ' ';
			n = strlen(ul->keywords[k]);
			memcpy(buf + len, ul->keywords[k], n);
			len += n;
		}
		buf[len++] = '\n';
	}
	/* in UID order, like the folder */
	sorted = xreallocarray(NULL, ul->nent ? ul->nent : 1,
	    sizeof(*sorted));
	if (ul->nent > 0) {
		memcpy(sorted, ul->ent, ul->nent * sizeof(*sorted));
		qsort(sorted, ul->nent, sizeof(*sorted), uid_cmp);
	}
	for (i = 0; i < ul->nent; i++) {
		n = snprintf(buf + len, cap - len, "%u %s\n", sorted[i].uid,
		    sorted[i].base);
		len += (size_t)n;
	}
	free(sorted);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}
