/*
 * store/: Maildir file names (base, sizes, flags), UIDL, mailbox paths,
 * the CRLF / dot-stuffing conversion and its size, the uidlist format.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../store/store.h"

#define NONE	UINT64_MAX

static const struct {
	const char	*name;
	int		 ok;
	const char	*base;
	uint64_t	 size, vsize;
	uint32_t	 flags, keywords;
} names[] = {
	{ "1700000000.0692F0A3B41C0A00_0.mail.example.test,S=120,W=125", 0,
	    "1700000000.0692F0A3B41C0A00_0.mail.example.test", 120, 125, 0,
	    0 },
	{ "1700000000.0692F0A3B41C0A00_0.mail.example.test,S=120,W=125:2,RS",
	    0, "1700000000.0692F0A3B41C0A00_0.mail.example.test", 120, 125,
	    STORE_F_REPLIED | STORE_F_SEEN, 0 },
	{ "1700000000.M1P2.host:2,", 0, "1700000000.M1P2.host", NONE, NONE,
	    0, 0 },
	{ "1700000000.M1P2.host,W=10,S=9:2,FTab", 0, "1700000000.M1P2.host",
	    9, 10, STORE_F_FLAGGED | STORE_F_TRASHED, 3 },
	{ "1.2.host,X=1,S=5", 0, "1.2.host,X=1", 5, NONE, 0, 0 },
	{ "1.2.host,S=abc", 0, "1.2.host,S=abc", NONE, NONE, 0, 0 },
	{ "1.2.host:1,xyz", 0, "1.2.host", NONE, NONE, 0, 0 },
	{ "plain", 0, "plain", NONE, NONE, 0, 0 },
	{ "1.2.h\\057x", 0, "1.2.h\\057x", NONE, NONE, 0, 0 },
	{ ".hidden", -1, NULL, 0, 0, 0, 0 },
	{ ".", -1, NULL, 0, 0, 0, 0 },
	{ "..", -1, NULL, 0, 0, 0, 0 },
	{ "", -1, NULL, 0, 0, 0, 0 },
	{ ":2,S", -1, NULL, 0, 0, 0, 0 },
	{ "a\nb", -1, NULL, 0, 0, 0, 0 },
};

static const struct {
	const char	*path;
	int		 ok;
} paths[] = {
	{ "example.test/alice", 0 }, { "example.test/a.b", 0 },
	{ "example.test", -1 }, { "/example.test/alice", -1 },
	{ "example.test/../x", -1 }, { "../x/y", -1 }, { ".x/y", -1 },
	{ "x/.y", -1 }, { "x/y/z", -1 }, { "x/", -1 }, { "x/a b", -1 },
};

static const struct {
	const char	*in;
	int		 dotstuff;
	const char	*out;
} crlfs[] = {
	{ "a\nb\n", 1, "a\r\nb\r\n" },
	{ ".a\n..b\n.\nc.\n", 1, "..a\r\n...b\r\n..\r\nc.\r\n" },
	{ ".a\n", 0, ".a\r\n" },
	{ "no end", 1, "no end" },
	{ "\n\n", 1, "\r\n\r\n" },
	{ "cr\r\nlf\n", 0, "cr\r\r\nlf\r\n" },
};

static void
test_uidlist(void)
{
	struct uidlist	 ul;
	const char	*text = "facteur-uidlist 1 V1700000000 N4 M99\n"
	    "K $Junk NonJunk\n"
	    "1 b\n"
	    "3 a\n";
	const char	*bad[] = {
		"",
		"facteur-uidlist 2 V1 N2 M0\n",
		"facteur-uidlist 1 V0 N2 M0\n",
		"facteur-uidlist 1 V1 N2 M0\n2 a\n",	/* uid >= uidnext */
		"facteur-uidlist 1 V1 N9 M0\n1 a\n1 b\n", /* uid twice */
		"facteur-uidlist 1 V1 N9 M0\n1 a\n2 a\n", /* base twice */
		"facteur-uidlist 1 V1 N9 M0\nx a\n",
		"facteur-uidlist 1 V1 N9 M0\n1\n",
		"facteur-uidlist 1 V1 N9\n",
	};
	char		*out;
	size_t		 len, i, idx;

	uidlist_init(&ul);
	CHECK_NUM(uidlist_parse(&ul, text, strlen(text)), 0, "uidlist parse");
	CHECK_NUM(ul.uidvalidity, 1700000000, "uidvalidity");
	CHECK_NUM(ul.uidnext, 4, "uidnext");
	CHECK_NUM(ul.modseq, 99, "modseq");
	CHECK_NUM(ul.nkeywords, 2, "keywords");
	CHECK_STR(ul.keywords[1], "NonJunk", "keyword 1");
	CHECK_NUM(uidlist_find(&ul, "a", &idx), 3, "find a");
	CHECK_NUM(uidlist_find(&ul, "b", NULL), 1, "find b");
	CHECK_NUM(uidlist_find(&ul, "c", NULL), 0, "find c");
	out = uidlist_format(&ul, &len);
	CHECK_STR(out, text, "format round trip");
	free(out);
	uidlist_add(&ul, 4, "0");
	ul.uidnext = 5;
	CHECK_NUM(uidlist_check(&ul), 0, "check after add");
	CHECK_NUM(uidlist_find(&ul, "0", NULL), 4, "find added");
	uidlist_clear(&ul);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_NUM(uidlist_parse(&ul, bad[i], strlen(bad[i])), -1,
		    "bad uidlist %zu", i);
	uidlist_clear(&ul);
}

int
main(void)
{
	struct store_name	 sn;
	struct store_crlf	 c;
	char			 out[256], uidl[STORE_UIDL_MAX + 1];
	char			 longbase[200];
	size_t			 i, n, k;
	int			 r;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		r = store_name_parse(names[i].name, &sn);
		CHECK_NUM(r, names[i].ok, "name %zu", i);
		if (r != 0)
			continue;
		CHECK_STR(sn.base, names[i].base, "name %zu base", i);
		CHECK_NUM(sn.size == names[i].size, 1, "name %zu S=", i);
		CHECK_NUM(sn.vsize == names[i].vsize, 1, "name %zu W=", i);
		CHECK_NUM(sn.flags, names[i].flags, "name %zu flags", i);
		CHECK_NUM(sn.keywords, names[i].keywords, "name %zu keywords",
		    i);
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK_NUM(store_path_valid(paths[i].path), paths[i].ok,
		    "path '%s'", paths[i].path);

	store_uidl("1700000000.0692F0A3B41C0A00_0.mail.example.test", uidl,
	    sizeof(uidl));
	CHECK_STR(uidl, "1700000000.0692F0A3B41C0A00_0.mail.example.test",
	    "uidl is the base name");
	memset(longbase, 'x', sizeof(longbase) - 1);
	longbase[sizeof(longbase) - 1] = '\0';
	store_uidl(longbase, uidl, sizeof(uidl));
	CHECK_NUM(strlen(uidl), 33, "long base: hashed");
	CHECK_NUM(uidl[0], 'H', "hash prefix");
	store_uidl(longbase, out, sizeof(out));
	CHECK_STR(out, uidl, "hash is stable");
	store_uidl("a b", uidl, sizeof(uidl));
	CHECK_NUM(strlen(uidl), 33, "space in base: hashed");

	for (i = 0; i < sizeof(crlfs) / sizeof(crlfs[0]); i++) {
		/* whole, then byte by byte: the state carries over */
		store_crlf_init(&c, crlfs[i].dotstuff);
		n = store_crlf(&c, crlfs[i].in, strlen(crlfs[i].in), out);
		out[n] = '\0';
		CHECK_STR(out, crlfs[i].out, "crlf %zu", i);
		store_crlf_init(&c, crlfs[i].dotstuff);
		for (k = n = 0; crlfs[i].in[k] != '\0'; k++)
			n += store_crlf(&c, crlfs[i].in + k, 1, out + n);
		out[n] = '\0';
		CHECK_STR(out, crlfs[i].out, "crlf %zu bytewise", i);
		if (!crlfs[i].dotstuff)
			CHECK_NUM(store_crlf_size(crlfs[i].in,
			    strlen(crlfs[i].in)), strlen(crlfs[i].out),
			    "crlf %zu size", i);
	}
	test_uidlist();
	return t_done();
}
