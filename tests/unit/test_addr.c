/*
 * Unit tests for common/addr.c (RFC 5321 4.1.2 paths, 4.1.3 literals,
 * 4.5.3.1 lengths, RFC 6531 UTF-8): one row per case, bad input included.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "t.h"

#define U	ADDR_F_UTF8
#define N	ADDR_F_NULLOK
#define P	ADDR_F_NODOMAIN

static const struct {
	const char	*path;
	int		 flags;
	const char	*local;		/* NULL: must fail */
	const char	*domain;	/* or the error when local is NULL */
} cases[] = {
	/* plain */
	{ "<alice@example.test>", 0, "alice", "example.test" },
	{ "<Alice.Smith@Example.TEST>", 0, "Alice.Smith", "example.test" },
	{ "<a@b>", 0, "a", "b" },
	{ "<x!#$%&'*+-/=?^_`{|}~y@example.test>", 0,
	  "x!#$%&'*+-/=?^_`{|}~y", "example.test" },
	{ "<a-b@my-host.example-1.test>", 0, "a-b", "my-host.example-1.test" },
	{ "<user@123.example>", 0, "user", "123.example" },
	/* quoted local parts */
	{ "<\"john doe\"@example.test>", 0, "\"john doe\"", "example.test" },
	{ "<\"a\\\"b\"@example.test>", 0, "\"a\\\"b\"", "example.test" },
	{ "<\"a\\\\b\"@example.test>", 0, "\"a\\\\b\"", "example.test" },
	{ "<\"@\"@example.test>", 0, "\"@\"", "example.test" },
	{ "<\"\"@example.test>", 0, "\"\"", "example.test" },
	{ "<\"a.\"@example.test>", 0, "\"a.\"", "example.test" },
	{ "<\"a\tb\"@example.test>", 0, NULL, "syntax error in local part" },
	{ "<\"abc@example.test>", 0, NULL, "unterminated quoted local part" },
	{ "<\"a\"b@example.test>", 0, NULL, "syntax error in local part" },
	{ "<\"a\\\x01\"@example.test>", 0, NULL, "syntax error in local part" },
	/* source routes: accepted and dropped */
	{ "<@relay.test:bob@example.test>", 0, "bob", "example.test" },
	{ "<@a.test,@b.test:bob@example.test>", 0, "bob", "example.test" },
	{ "<@a.test,b.test:bob@example.test>", 0, NULL,
	  "syntax error in source route" },
	{ "<@a.test bob@example.test>", 0, NULL,
	  "syntax error in source route" },
	{ "<@:bob@example.test>", 0, NULL, "missing domain" },
	{ "<@a_b.test:bob@example.test>", 0, NULL, "syntax error in domain" },
	/* address literals */
	{ "<u@[192.0.2.1]>", 0, "u", "[192.0.2.1]" },
	{ "<u@[0.0.0.0]>", 0, "u", "[0.0.0.0]" },
	{ "<u@[255.255.255.255]>", 0, "u", "[255.255.255.255]" },
	{ "<u@[IPv6:2001:DB8::1]>", 0, "u", "[IPv6:2001:db8::1]" },
	{ "<u@[ipv6:::1]>", 0, "u", "[IPv6:::1]" },
	{ "<u@[IPv6:::ffff:192.0.2.1]>", 0, "u", "[IPv6:::ffff:192.0.2.1]" },
	{ "<u@[256.0.0.1]>", 0, NULL, "bad address literal" },
	{ "<u@[1.2.3]>", 0, NULL, "bad address literal" },
	{ "<u@[1.2.3.4.5]>", 0, NULL, "bad address literal" },
	{ "<u@[1..2.3]>", 0, NULL, "bad address literal" },
	{ "<u@[1.2.3.4]x>", 0, NULL, "bad address literal" },
	{ "<u@[1234.2.3.4]>", 0, NULL, "bad address literal" },
	{ "<u@[]>", 0, NULL, "bad address literal" },
	{ "<u@[IPv6:1:2]>", 0, NULL, "bad IPv6 address literal" },
	{ "<u@[IPv6:1::2::3]>", 0, NULL, "bad IPv6 address literal" },
	{ "<u@[foo:bar]>", 0, NULL, "bad address literal" },
	/* syntax errors */
	{ "alice@example.test", 0, NULL, "missing '<'" },
	{ "", 0, NULL, "missing '<'" },
	{ "<", 0, NULL, "missing '>'" },
	{ "<alice@example.test", 0, NULL, "missing '>'" },
	{ "<alice@example.test> ", 0, NULL, "missing '>'" },
	{ "<<alice@example.test>>", 0, NULL, "syntax error in local part" },
	{ "<alice>", 0, NULL, "missing domain" },
	{ "<alice@>", 0, NULL, "missing domain" },
	{ "<@example.test>", 0, NULL, "syntax error in source route" },
	{ "<.alice@example.test>", 0, NULL, "syntax error in local part" },
	{ "<alice.@example.test>", 0, NULL, "syntax error in local part" },
	{ "<al..ice@example.test>", 0, NULL, "syntax error in local part" },
	{ "<al ice@example.test>", 0, NULL, "syntax error in local part" },
	{ "<al(ice)@example.test>", 0, NULL, "syntax error in local part" },
	{ "<a@b@example.test>", 0, NULL, "syntax error in domain" },
	{ "<alice@example.test.>", 0, NULL, "trailing dot in domain" },
	{ "<alice@.example.test>", 0, NULL, "syntax error in domain" },
	{ "<alice@example..test>", 0, NULL, "syntax error in domain" },
	{ "<alice@-example.test>", 0, NULL, "syntax error in domain" },
	{ "<alice@example-.test>", 0, NULL, "syntax error in domain" },
	{ "<alice@exa_mple.test>", 0, NULL, "syntax error in domain" },
	{ "<alice@exa mple.test>", 0, NULL, "syntax error in domain" },
	/* null path and postmaster */
	{ "<>", N, "", "" },
	{ "<>", 0, NULL, "null path not allowed" },
	{ "<postmaster>", P, "postmaster", "" },
	{ "<PostMaster>", P, "PostMaster", "" },
	{ "<postmaster>", 0, NULL, "missing domain" },
	{ "<postmistress>", P, NULL, "missing domain" },
	{ "<postmaster@example.test>", P, "postmaster", "example.test" },
	/* UTF-8 (RFC 6531) */
	{ "<j\xc3\xb6rg@example.test>", U, "j\xc3\xb6rg", "example.test" },
	{ "<j\xc3\xb6rg@example.test>", 0, NULL,
	  "8-bit address without SMTPUTF8" },
	{ "<u@b\xc3\xbc" "cher.example>", U, "u", "b\xc3\xbc" "cher.example" },
	{ "<u@B\xc3\xbc" "CHER.example>", U, "u", "b\xc3\xbc" "cher.example" },
	{ "<u@b\xc3\xbc" "cher.example>", 0, NULL,
	  "8-bit address without SMTPUTF8" },
	{ "<\xe2\x82\xac@example.test>", U, "\xe2\x82\xac", "example.test" },
	{ "<\xf0\x9f\x93\xab@example.test>", U, "\xf0\x9f\x93\xab",
	  "example.test" },
	{ "<\"\xc3\xa9 x\"@example.test>", U, "\"\xc3\xa9 x\"",
	  "example.test" },
	{ "<\xc3@example.test>", U, NULL, "invalid UTF-8 in local part" },
	{ "<\xc0\xaf@example.test>", U, NULL, "invalid UTF-8 in local part" },
	{ "<\xe0\x80\xaf@example.test>", U, NULL,
	  "invalid UTF-8 in local part" },
	{ "<\xed\xa0\x80@example.test>", U, NULL,
	  "invalid UTF-8 in local part" },
	{ "<\xf4\x90\x80\x80@example.test>", U, NULL,
	  "invalid UTF-8 in local part" },
	{ "<\xff@example.test>", U, NULL, "invalid UTF-8 in local part" },
	{ "<\x80@example.test>", U, NULL, "invalid UTF-8 in local part" },
	{ "<u@\xc3\xc3.example>", U, NULL, "invalid UTF-8 in domain" },
	{ "<\"\xc3\"@example.test>", U, NULL, "invalid UTF-8 in local part" },
};

static void
test_table(void)
{
	struct mailaddr	 a;
	const char	*err;
	size_t		 i;
	int		 r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = addr_parse_path(cases[i].path, cases[i].flags, &a, &err);
		if (cases[i].local != NULL) {
			CHECK(r == 0, "case %zu accepted", i);
			if (r != 0) {
				T_NOTE("%s: %s", cases[i].path, err);
				continue;
			}
			CHECK_STR(a.local, cases[i].local, "case %zu local", i);
			CHECK_STR(a.domain, cases[i].domain, "case %zu domain",
			    i);
		} else {
			CHECK(r == -1, "case %zu rejected", i);
			CHECK_STR(r == -1 ? err : "(accepted)", cases[i].domain,
			    "case %zu error", i);
		}
	}
}

static void
test_lengths(void)
{
	struct mailaddr	 a;
	char		 path[600], local[200], label[100], dom[420];
	const char	*err;
	int		 r;

	/* local part: 64 octets fine, 65 too long */
	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(path, sizeof(path), "<%s@example.test>", local);
	CHECK(addr_parse_path(path, 0, &a, &err) == 0, "local part of 64");
	memset(local, 'l', 65);
	local[65] = '\0';
	snprintf(path, sizeof(path), "<%s@example.test>", local);
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1 && strcmp(err, "local part too long") == 0,
	    "local part of 65");

	/* quoted: 64 content octets, escapes not counted */
	strcpy(local, "\"");
	for (r = 0; r < 32; r++)
		strcat(local, "\\\"a");
	strcat(local, "\"");
	snprintf(path, sizeof(path), "<%s@example.test>", local);
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == 0 && strlen(a.local) == 98, "quoted local part of 64");
	if (r != 0)
		T_NOTE("%s", err);
	strcpy(local + strlen(local) - 1, "x\"");
	snprintf(path, sizeof(path), "<%s@example.test>", local);
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1 && strcmp(err, "local part too long") == 0,
	    "quoted local part of 65");

	/* label: 63 fine, 64 too long */
	memset(label, 'd', 63);
	label[63] = '\0';
	snprintf(path, sizeof(path), "<u@%s.test>", label);
	CHECK(addr_parse_path(path, 0, &a, &err) == 0, "label of 63");
	memset(label, 'd', 64);
	label[64] = '\0';
	snprintf(path, sizeof(path), "<u@%s.test>", label);
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1 && strcmp(err, "domain label too long") == 0,
	    "label of 64");

	/* domain: 4 labels of 63 + 3 dots = 255 fine; path 260 > 256 */
	memset(label, 'd', 63);
	label[63] = '\0';
	snprintf(dom, sizeof(dom), "%s.%s.%s.%s", label, label, label, label);
	CHECK_NUM(strlen(dom), 255, "domain of 255 built");
	snprintf(path, sizeof(path), "<u@%s>", dom);	/* 259 */
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1 && strcmp(err, "path too long") == 0, "path of 259");
	/* a 255-octet domain fits the path limit only with a short local
	   part; check the domain limit itself through a 256-octet domain in
	   a source route */
	snprintf(path, sizeof(path), "<@%s.x:u@a>", dom);
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1, "256-octet domain rejected");
	snprintf(dom, sizeof(dom), "%s.%s.%s.%.59s", label, label, label,
	    label);	/* 251 */
	snprintf(path, sizeof(path), "<u@%s>", dom);	/* 255 */
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == 0 && strlen(a.domain) == 251, "path of 255");
	snprintf(path, sizeof(path), "<u@%s>", dom);
	path[strlen(path) - 1] = 'x';
	strcat(path, ">");				/* 256 */
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == 0, "path of 256");
	path[strlen(path) - 1] = 'x';
	strcat(path, ">");				/* 257 */
	r = addr_parse_path(path, 0, &a, &err);
	CHECK(r == -1 && strcmp(err, "path too long") == 0, "path of 257");
}

static void
test_format(void)
{
	struct mailaddr	 a;
	char		 buf[ADDR_MAX], small[5];
	const char	*err;

	addr_parse_path("<Bob@Example.TEST>", 0, &a, &err);
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "Bob@example.test",
	    "format");
	CHECK_STR(addr_format(&a, small, sizeof(small)), "Bob@",
	    "format truncates");
	addr_parse_path("<>", ADDR_F_NULLOK, &a, &err);
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "", "format null path");
	addr_parse_path("<postmaster>", ADDR_F_NODOMAIN, &a, &err);
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "postmaster",
	    "format postmaster");
	addr_parse_path("<\"a b\\\"c\"@x.test>", 0, &a, &err);
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "\"a b\\\"c\"@x.test",
	    "format keeps quotes");
	CHECK(addr_local_unquoted(&a, buf, sizeof(buf)) == 0, "unquote");
	CHECK_STR(buf, "a b\"c", "unquoted local part");
	CHECK(addr_local_unquoted(&a, small, 3) == -1, "unquote too small");
	addr_parse_path("<plain@x.test>", 0, &a, &err);
	CHECK(addr_local_unquoted(&a, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "plain") == 0, "unquote a dot-string");
	CHECK(addr_local_unquoted(&a, small, 5) == -1,
	    "unquote dot-string too small");
}

int
main(void)
{
	test_table();
	test_lengths();
	test_format();
	return t_done();
}
