/*
 * Unit tests for common/envelope.c: format/parse round trips, bad input
 * rejected, the %XX encoding, queue ids unique and increasing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "util.h"
#include "t.h"

static void
sample(struct envelope *env)
{
	struct env_rcpt	r;

	envelope_init(env);
	strcpy(env->id, "0692F0A3B41C0A00");
	env->arrival = 1764143000;
	strcpy(env->sender, "alice@example.test");
	strcpy(env->client, "127.0.0.1");
	strcpy(env->helo, "client.example.test");
	strcpy(env->proto, "ESMTP");
	env->body = ENV_BODY_8BITMIME;

	memset(&r, 0, sizeof(r));
	strcpy(r.addr, "bob@example.test");
	strcpy(r.mailbox, "example.test/bob");
	envelope_add_rcpt(env, &r);
	memset(&r, 0, sizeof(r));
	strcpy(r.addr, "\"odd one\"@remote.test");
	strcpy(r.orcpt, "rfc822;odd+20one@remote.test");
	r.notify = ENV_NOTIFY_SUCCESS | ENV_NOTIFY_DELAY;
	envelope_add_rcpt(env, &r);
}

static int
same(const struct envelope *a, const struct envelope *b)
{
	size_t	i;

	if (strcmp(a->id, b->id) || a->arrival != b->arrival ||
	    strcmp(a->sender, b->sender) || strcmp(a->client, b->client) ||
	    strcmp(a->helo, b->helo) || strcmp(a->proto, b->proto) ||
	    strcmp(a->auth, b->auth) || a->body != b->body ||
	    a->smtputf8 != b->smtputf8 || strcmp(a->envid, b->envid) ||
	    a->ret != b->ret || a->nrcpt != b->nrcpt)
		return 0;
	for (i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i].addr, b->rcpt[i].addr) ||
		    strcmp(a->rcpt[i].mailbox, b->rcpt[i].mailbox) ||
		    strcmp(a->rcpt[i].orcpt, b->rcpt[i].orcpt) ||
		    a->rcpt[i].notify != b->rcpt[i].notify)
			return 0;
	return 1;
}

static void
test_roundtrip(void)
{
	struct envelope	 a, b;
	char		*text, *msg;
	const char	*err;
	ssize_t		 n, m;
	const char	*want =
	    "facteur-envelope 1\n"
	    "id 0692F0A3B41C0A00\n"
	    "arrival 1764143000\n"
	    "sender alice@example.test\n"
	    "client 127.0.0.1\n"
	    "helo client.example.test\n"
	    "proto ESMTP\n"
	    "auth -\n"
	    "body 8BITMIME\n"
	    "smtputf8 0\n"
	    "envid -\n"
	    "ret -\n"
	    "rcpt bob@example.test example.test/bob notify=- orcpt=-\n"
	    "rcpt \"odd%20one\"@remote.test - notify=SUCCESS,DELAY "
	    "orcpt=rfc822;odd+20one@remote.test\n"
	    "\n";

	sample(&a);
	n = envelope_format(&a, &text);
	CHECK(n > 0 && (size_t)n == strlen(text), "format returns the length");
	CHECK_STR(text, want, "formatted text");

	/* parse it back, with a message after it */
	xasprintf(&msg, "%sSubject: hi\r\n\r\nbody\r\n", text);
	m = envelope_parse(msg, strlen(msg), &b, &err);
	CHECK_NUM(m, n, "parse returns the envelope length");
	CHECK(m > 0 && same(&a, &b), "round trip");
	CHECK(m > 0 && strncmp(msg + m, "Subject:", 8) == 0,
	    "message starts after the empty line");
	envelope_clear(&b);
	free(msg);
	free(text);

	/* null sender, no id, everything else set */
	strcpy(a.id, "");
	a.sender[0] = '\0';
	strcpy(a.auth, "carol@example.test");
	strcpy(a.envid, "QQ314159 x");
	a.ret = ENV_RET_HDRS;
	a.smtputf8 = 1;
	a.body = ENV_BODY_BINARYMIME;
	strcpy(a.helo, "h\xc3\xa9llo\r\n%");
	a.rcpt[0].notify = ENV_NOTIFY_NEVER;
	n = envelope_format(&a, &text);
	CHECK(n > 0 && strstr(text, "\nsender <>\n") != NULL,
	    "null sender as <>");
	CHECK(n > 0 && strstr(text, "\nid ") == NULL, "no id line");
	CHECK(n > 0 && strstr(text, "\nhelo h%C3%A9llo%0D%0A%25\n") != NULL,
	    "helo encoded");
	m = envelope_parse(text, n, &b, &err);
	CHECK(m == n && same(&a, &b), "round trip of the second envelope");
	if (m != n)
		T_NOTE("%s", err);
	/* the envelope must end exactly at len */
	envelope_clear(&b);
	m = envelope_parse(text, n - 1, &b, &err);
	CHECK(m == -1 && strcmp(err, "truncated envelope") == 0,
	    "one byte short is truncated");
	free(text);
	envelope_clear(&a);
	CHECK(a.nrcpt == 0 && a.rcpt == NULL, "clear frees recipients");
}

static void
test_bad(void)
{
	static const char *head =
	    "facteur-envelope 1\narrival 1\nsender a@b\n";
	static const char *rcpt = "rcpt b@c c/b notify=- orcpt=-\n";
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "", "truncated envelope" },
		{ "facteur-envelope 1\n", "truncated envelope" },
		{ "facteur-envelope 2\n\n", "unsupported envelope version" },
		{ "facteur-envelop 1\n\n", "not an envelope" },
		{ "Subject: hi\n\n", "not an envelope" },
		{ "facteur-envelope 1\narrival 1\nsender a@b\n\n",
		  "envelope without recipients" },
		{ "facteur-envelope 1\nsender a@b\nrcpt b@c -\n\n",
		  "envelope without arrival or sender" },
		{ "facteur-envelope 1\narrival 1\nrcpt b@c -\n\n",
		  "envelope without arrival or sender" },
		{ "facteur-envelope 1\narrival 1\narrival 2\n\n",
		  "duplicate envelope key" },
		{ "facteur-envelope 1\nfoo bar\n\n", "unknown envelope key" },
		{ "facteur-envelope 1\narrival\n\n",
		  "envelope line without a value" },
		{ "facteur-envelope 1\narrival x1\n\n", "bad arrival" },
		{ "facteur-envelope 1\narrival -1\n\n", "bad arrival" },
		{ "facteur-envelope 1\narrival 99999999999999999999\n\n",
		  "bad arrival" },
		{ "facteur-envelope 1\nid 0692f0a3b41c0a00\n\n",
		  "bad queue id" },
		{ "facteur-envelope 1\nid 0692F0A3B41C0A0\n\n",
		  "bad queue id" },
		{ "facteur-envelope 1\nsender -\n\n", "bad sender" },
		{ "facteur-envelope 1\nsender a%00b\n\n", "bad sender" },
		{ "facteur-envelope 1\nsender a%2\n\n", "bad sender" },
		{ "facteur-envelope 1\nsender a%zzb\n\n", "bad sender" },
		{ "facteur-envelope 1\nsender a\x01" "b\n\n", "bad sender" },
		{ "facteur-envelope 1\nsender a b\n\n",
		  "space in envelope value" },
		{ "facteur-envelope 1\nbody 9BIT\n\n", "bad body" },
		{ "facteur-envelope 1\nsmtputf8 2\n\n", "bad smtputf8" },
		{ "facteur-envelope 1\nret ALL\n\n", "bad ret" },
		{ "facteur-envelope 1\nproto ESMTPSAXXXXXXXXXXXX\n\n",
		  "bad proto" },
		{ "facteur-envelope 1\nrcpt b@c\n\n", "bad rcpt line" },
		{ "facteur-envelope 1\nrcpt b@c - a b c\n\n", "bad rcpt line" },
		{ "facteur-envelope 1\nrcpt - -\n\n", "bad rcpt address" },
		{ "facteur-envelope 1\nrcpt b@c ../etc\n\n",
		  "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c c/../b\n\n",
		  "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c c/b/d\n\n", "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c c/.b\n\n", "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c /b\n\n", "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c c/\n\n", "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c c%2Fb%2F..\n\n",
		  "bad rcpt mailbox" },
		{ "facteur-envelope 1\nrcpt b@c - notify=NEVER,DELAY\n\n",
		  "bad rcpt notify" },
		{ "facteur-envelope 1\nrcpt b@c - notify=DELAY,DELAY\n\n",
		  "bad rcpt notify" },
		{ "facteur-envelope 1\nrcpt b@c - notify=SOMETIMES\n\n",
		  "bad rcpt notify" },
		{ "facteur-envelope 1\nrcpt b@c - notify=\n\n",
		  "bad rcpt notify" },
		{ "facteur-envelope 1\nrcpt b@c - notify=- notify=-\n\n",
		  "bad rcpt option" },
		{ "facteur-envelope 1\nrcpt b@c - foo=1\n\n", "bad rcpt option" },
		{ "facteur-envelope 1\nrcpt b@c - orcpt=%\n\n",
		  "bad rcpt orcpt" },
		{ "facteur-envelope 1\nrcpt b@c  notify=-\n\n",
		  "bad rcpt mailbox" },
		{ "facteur-envelope 1\r\narrival 1\r\n\r\n",
		  "unsupported envelope version" },
	};
	struct envelope	 env;
	const char	*err;
	char		*text;
	size_t		 i;
	ssize_t		 r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = envelope_parse(cases[i].text, strlen(cases[i].text), &env,
		    &err);
		CHECK(r == -1, "bad envelope %zu rejected", i);
		CHECK_STR(r == -1 ? err : "(accepted)", cases[i].err,
		    "bad envelope %zu reason", i);
		CHECK(env.nrcpt == 0 && env.rcpt == NULL,
		    "bad envelope %zu left cleared", i);
	}

	/* NUL inside a line */
	xasprintf(&text, "%s%s\n", head, rcpt);
	text[5] = '\0';
	r = envelope_parse(text, strlen(head) + strlen(rcpt) + 1, &env, &err);
	CHECK(r == -1 && strcmp(err, "NUL byte in envelope") == 0,
	    "NUL byte rejected");
	free(text);

	/* the minimum: arrival, sender, one rcpt */
	xasprintf(&text, "%s%s\n", head, rcpt);
	r = envelope_parse(text, strlen(text), &env, &err);
	CHECK(r == (ssize_t)strlen(text), "minimal envelope accepted");
	CHECK(env.nrcpt == 1 && strcmp(env.rcpt[0].mailbox, "c/b") == 0 &&
	    env.body == ENV_BODY_7BIT && env.ret == ENV_RET_NONE,
	    "minimal envelope defaults");
	envelope_clear(&env);
	free(text);

	/* a long line */
	text = xmalloc(10000);
	snprintf(text, 10000, "%s", head);
	memset(text + strlen(head), 'x', 8000);
	strcpy(text + strlen(head) + 8000, "\n\n");
	r = envelope_parse(text, strlen(text), &env, &err);
	CHECK(r == -1 && strcmp(err, "envelope line too long") == 0,
	    "overlong line rejected");
	free(text);
}

static void
test_rcpt_limit(void)
{
	struct envelope	 env;
	struct env_rcpt	 r;
	int		 i, ok = 1;

	envelope_init(&env);
	memset(&r, 0, sizeof(r));
	strcpy(r.addr, "x@y");
	for (i = 0; i < ENVELOPE_MAX_RCPT; i++)
		if (envelope_add_rcpt(&env, &r) == -1)
			ok = 0;
	CHECK(ok && env.nrcpt == ENVELOPE_MAX_RCPT, "add up to the maximum");
	CHECK(envelope_add_rcpt(&env, &r) == -1, "one more is refused");
	envelope_clear(&env);
}

static void
test_encode(void)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "", "-" },
		{ "-", "%2D" },
		{ "--", "--" },
		{ "plain", "plain" },
		{ "a b", "a%20b" },
		{ "100%", "100%25" },
		{ "tab\there", "tab%09here" },
		{ "nl\r\n", "nl%0D%0A" },
		{ "\x7f\x80\xff", "%7F%80%FF" },
		{ "!~", "!~" },
	};
	char	buf[64];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		envelope_encode(cases[i].in, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].out, "encode %zu", i);
		CHECK(envelope_decode(buf, buf, sizeof(buf)) == 0 &&
		    strcmp(buf, cases[i].in) == 0, "decode %zu", i);
	}
	CHECK(envelope_decode("%4a%4A", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "JJ") == 0, "decode lower-case hex");
	CHECK(envelope_decode("%", buf, sizeof(buf)) == -1, "decode lone %%");
	CHECK(envelope_decode("%4", buf, sizeof(buf)) == -1, "decode short %%");
	CHECK(envelope_decode("%00", buf, sizeof(buf)) == -1, "decode %%00");
	CHECK(envelope_decode("a b", buf, sizeof(buf)) == -1, "decode space");
	CHECK(envelope_decode("", buf, sizeof(buf)) == -1, "decode empty");
	CHECK(envelope_decode("abcd", buf, 4) == -1, "decode too long");
	CHECK(envelope_decode("abc", buf, 4) == 0, "decode fits exactly");
	envelope_encode("a b c", buf, 6);
	CHECK_STR(buf, "a%20b", "encode truncates at a whole escape");
}

static void
test_queueid(void)
{
	char	prev[QUEUEID_LEN + 1], id[QUEUEID_LEN + 1];
	int	i, sorted = 1, valid = 1;

	queueid_new(prev);
	CHECK(queueid_valid(prev), "new id is valid");
	CHECK_NUM(strlen(prev), QUEUEID_LEN, "id length");
	for (i = 0; i < 100000; i++) {
		queueid_new(id);
		if (!queueid_valid(id))
			valid = 0;
		if (strcmp(prev, id) >= 0)
			sorted = 0;
		memcpy(prev, id, sizeof(id));
	}
	CHECK(valid, "100k ids valid");
	CHECK(sorted, "100k ids unique and increasing");

	CHECK(queueid_valid("0692F0A3B41C0A00"), "valid id");
	CHECK(!queueid_valid("0692f0a3b41c0a00"), "lower case is invalid");
	CHECK(!queueid_valid("0692F0A3B41C0A0"), "short id");
	CHECK(!queueid_valid("0692F0A3B41C0A000"), "long id");
	CHECK(!queueid_valid("0692F0A3B41C0A0G"), "non-hex id");
	CHECK(!queueid_valid(""), "empty id");
	CHECK(!queueid_valid("../../etc/passw"), "path id");
}

int
main(void)
{
	test_roundtrip();
	test_bad();
	test_rcpt_limit();
	test_encode();
	test_queueid();
	return t_done();
}
