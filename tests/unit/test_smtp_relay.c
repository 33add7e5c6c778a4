/*
 * Open-relay resistance, as a unit: the classic relay-test addresses go
 * through smtpd's RCPT parser (smtpd/smtp_parse.c) and auth's recipient
 * lookup (auth/users.c), and the reply an unauthenticated client on the
 * smtp listener would get is checked. None may be accepted unless it
 * names a local account: percent hack, bang path, source route, quoted
 * local part holding an @, IP literal, trailing dot, mixed case.
 *
 * Decisions: a local domain whose local part is not an account is 550
 * 5.1.1 (user unknown; the % and ! forms are never routed); a domain we
 * do not serve is 554 5.7.1 (relay access denied); a syntax error is
 * 501 5.1.3; a source route is dropped (RFC 5321 4.1.2, Appendix C) and
 * the final address decides.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "ipc.h"
#include "../../auth/users.h"
#include "../../smtpd/smtp_parse.h"
#include "t.h"

static const struct {
	const char	*rcpt;		/* RCPT TO: argument */
	const char	*reply;		/* reply code to an unauthenticated
					   client on port 25 */
} cases[] = {
	{ "TO:<alice@example.test>", "250" },
	{ "TO:<Alice@EXAMPLE.test>", "250" },
	{ "TO:<\"alice\"@example.test>", "250" },
	{ "TO:<postmaster>", "250" },
	{ "TO:<@other.test:alice@example.test>", "250" },
	{ "TO:<user%other.test@example.test>", "550" },
	{ "TO:<alice%other.test@example.test>", "550" },
	{ "TO:<user%other.test>", "501" },
	{ "TO:<other.test!user@example.test>", "550" },
	{ "TO:<other.test!alice@example.test>", "550" },
	{ "TO:<other.test!user>", "501" },
	{ "TO:<@a.test:user@b.test>", "554" },
	{ "TO:<@example.test:user@other.test>", "554" },
	{ "TO:<@example.test,@a.test:user@other.test>", "554" },
	{ "TO:<\"user@other.test\"@example.test>", "550" },
	{ "TO:<\"alice@other.test\"@example.test>", "550" },
	{ "TO:<\"user%other.test\"@example.test>", "550" },
	{ "TO:<user@[127.0.0.1]>", "554" },
	{ "TO:<alice@[127.0.0.1]>", "554" },
	{ "TO:<user@[IPv6:::1]>", "554" },
	{ "TO:<user@other.test.>", "501" },
	{ "TO:<alice@example.test.>", "501" },
	{ "TO:<user@OTHER.test>", "554" },
	{ "TO:<user@Other.Test>", "554" },
	{ "TO:<USER@EXAMPLE.TEST>", "550" },
	{ "TO:<user@other.test@example.test>", "501" },
	{ "TO:<user@example.test@other.test>", "501" },
	{ "TO:<user@other.test>@example.test", "501" },
	{ "TO:<user@example.test.other.test>", "554" },
	{ "TO:<user@sub.example.test>", "554" },
	{ "TO:<user\\@other.test@example.test>", "501" },
};

static const char *
decide(struct users *u, const char *args)
{
	struct smtp_rcpt_args	 rc;
	const char		*err;
	char			 addr[ADDR_MAX], mailbox[ADDR_MAX];

	if (smtp_parse_rcpt(args, 0, &rc, &err) != SMTP_P_OK)
		return "501";
	if (rc.addr.domain[0] == '\0')
		strlcpy(rc.addr.domain, "example.test",
		    sizeof(rc.addr.domain));
	addr_format(&rc.addr, addr, sizeof(addr));
	switch (users_lookup(u, addr, mailbox, sizeof(mailbox))) {
	case AUTH_RCPT_LOCAL:
		return "250";
	case AUTH_RCPT_NOUSER:
		return "550";
	case AUTH_RCPT_NOTLOCAL:
		return "554";
	default:
		return "451";
	}
}

int
main(void)
{
	const char	*domains[] = { "example.test" };
	char		 path[] = "/tmp/facteur-relay-XXXXXX";
	struct users	*u;
	FILE		*fp;
	size_t		 i;
	int		 fd;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		perror(path);
		return 1;
	}
	fprintf(fp, "alice@example.test:$6$salt$x\n"
	    "postmaster@example.test:$6$salt$x\n");
	fclose(fp);
	u = users_new(path);
	users_set_domains(u, domains, 1);
	users_refresh(u, 2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(decide(u, cases[i].rcpt), cases[i].reply,
		    "RCPT %s", cases[i].rcpt);
	users_free(u);
	unlink(path);
	return t_done();
}
