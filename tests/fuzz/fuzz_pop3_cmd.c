/*
 * libFuzzer target: the POP3 command line parser and the argument
 * parsers behind it (popd/pop3_parse.c), fed one line as a client could
 * send it (any bytes, any length): keyword lookup, message numbers, TOP
 * arguments, AUTH mechanism and initial response, base64 and SASL PLAIN.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../../popd/pop3_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*args, *ir;
	char		*line, mech[32], user[256], pass[1024];
	uint32_t	 n, m;
	int		 cmd;

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (pop3_cmd_parse(line, size, &cmd, &args) == POP3_P_OK) {
		(void)pop3_cmd_name(cmd);
		(void)pop3_parse_msgno(args, &n);
		(void)pop3_parse_top(args, &n, &m);
		if (pop3_parse_auth(args, mech, sizeof(mech), &ir) == 0 &&
		    ir != NULL)
			(void)pop3_sasl_plain(ir, user, sizeof(user), pass,
			    sizeof(pass));
		/* a continuation line is a bare response */
		(void)pop3_sasl_plain(line, user, sizeof(user), pass,
		    sizeof(pass));
	}
	free(line);
	return 0;
}
