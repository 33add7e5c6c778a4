/*
 * libFuzzer target: smtpd's command line parser and the MAIL FROM / RCPT
 * TO argument parsers (smtpd/smtp_parse.c), fed one command line as a
 * client could send it (any bytes, any length).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtpd/smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_args	 m;
	struct smtp_rcpt_args	 r;
	const char		*args, *err;
	char			*line, helo[256];
	int			 cmd;

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
			smtp_parse_rcpt(args, &r, &err);
			break;
		case CMD_HELO:
		case CMD_EHLO:
			smtp_parse_helo(args, helo, sizeof(helo));
			break;
		default:
			/* the argument parsers on any text too */
			smtp_parse_mail(args, &m, &err);
			smtp_parse_rcpt(args, &r, &err);
			break;
		}
	}
	free(line);
	return 0;
}
