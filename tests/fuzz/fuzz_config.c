/*
 * libFuzzer target for config_parse() (facteur.conf). Every setting is
 * looked up, globally and for a listener, and the effective configuration
 * dumped and parsed again must dump the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define X(n, t, d, s)	{ #n, t },
static const struct {
	const char	*name;
	int		 type;
} settings[] = {
	CONFIG_SETTINGS(X)
};
#undef X

static int
word(const char *w, void *arg)
{
	if (*w == '\0' || strpbrk(w, ", \t") != NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*lst[] = { NULL, "smtp", "submission",
				    "smtps", "local", "other" };
	struct config		*c, *c2;
	char			 err[512], *d1, *d2;
	size_t			 i, l;

	if ((c = config_parse((const char *)data, size, "fuzz.conf", err,
	    sizeof(err))) == NULL) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	if (strlen(config_text(c)) != size ||
	    memcmp(config_text(c), data, size) != 0)
		abort();
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		for (l = 0; l < sizeof(lst) / sizeof(lst[0]); l++) {
			if (config_str(c, lst[l], settings[i].name) == NULL)
				abort();
			switch (settings[i].type) {
			case CT_NUM:
			case CT_TIME:
			case CT_SIZE:
				if (config_num(c, lst[l],
				    settings[i].name) < 0)
					abort();
				break;
			case CT_BOOL:
				(void)config_bool(c, lst[l], settings[i].name);
				break;
			case CT_LIST:
				(void)config_list(c, lst[l], settings[i].name,
				    word, NULL);
				break;
			}
		}
	}
	(void)config_is_sandbox(c);
	d1 = config_dump(c);
	if ((c2 = config_parse(d1, strlen(d1), "dump", err,
	    sizeof(err))) == NULL)
		abort();
	d2 = config_dump(c2);
	if (strcmp(d1, d2) != 0)
		abort();
	free(d1);
	free(d2);
	config_free(c2);
	config_free(c);
	return 0;
}
