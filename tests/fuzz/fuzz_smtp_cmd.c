/*
 * libFuzzer target: smtpd's command line parser and the argument parsers
 * behind it (smtpd/smtp_parse.c), fed one command line as a client could
 * send it (any bytes, any length): MAIL FROM / RCPT TO with SIZE, BODY,
 * DSN (RET, ENVID, NOTIFY, ORCPT: xtext) and SMTPUTF8 parameters, BDAT
 * sizes, AUTH mechanism and initial response, base64 and SASL PLAIN
 * decoding of the response.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "../../smtpd/smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_sasl(const char *resp)
{
	unsigned char	 msg[SMTP_AUTH_MAX];
	char		 authz[256], user[256], pass[1024], x[128];
	long		 n;

	if ((n = smtp_b64_decode(resp, msg, sizeof(msg))) >= 0)
		smtp_sasl_plain(msg, (size_t)n, authz, sizeof(authz), user,
		    sizeof(user), pass, sizeof(pass));
	smtp_xtext_decode(resp, x, sizeof(x));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_args	 m;
	struct smtp_rcpt_args	 r;
	const char		*args, *err, *ir;
	char			*line, helo[256], mech[SMTP_SASL_MECH_MAX + 1];
	unsigned long long	 bsize;
	int			 cmd, last;

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (smtp_cmd_parse(line, size, &cmd, &args) == SMTP_CMD_OK) {
		switch (cmd) {
		case CMD_MAIL:
			smtp_parse_mail(args, &m, &err);
			break;
		case CMD_RCPT:
			smtp_parse_rcpt(args, 0, &r, &err);
			smtp_parse_rcpt(args, ADDR_F_UTF8, &r, &err);
			break;
		case CMD_HELO:
		case CMD_EHLO:
			smtp_parse_helo(args, helo, sizeof(helo));
			break;
		case CMD_BDAT:
			smtp_parse_bdat(args, &bsize, &last);
			break;
		case CMD_AUTH:
			if (smtp_parse_auth(args, mech, sizeof(mech),
			    &ir) == 0 && ir != NULL)
				fuzz_sasl(ir);
			break;
		default:
			/* the argument parsers on any text too */
			smtp_parse_mail(args, &m, &err);
			smtp_parse_rcpt(args, ADDR_F_UTF8, &r, &err);
			smtp_parse_bdat(args, &bsize, &last);
			fuzz_sasl(args);
			break;
		}
	}
	free(line);
	return 0;
}
