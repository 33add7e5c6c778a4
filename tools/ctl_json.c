/*
 * JSON output of facteurctl --json (RFC 8259): strings are escaped as
 * section 7 requires, and bytes that are not well-formed UTF-8 (RFC 3629)
 * become U+FFFD so that the document is always valid JSON.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* length of the well-formed UTF-8 sequence at p (n bytes left), or 0 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t		len, i;
	unsigned int	cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
json_strn(FILE *fp, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, len;

	putc('"', fp);
	while (i < n) {
		switch (p[i]) {
		case '"':
			fputs("\\\"", fp);
			break;
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				fprintf(fp, "\\u%04x", p[i]);
				break;
			}
			if ((len = utf8_len(p + i, n - i)) == 0) {
				fputs("\\ufffd", fp);
				break;
			}
			fwrite(p + i, 1, len, fp);
			i += len;
			continue;
		}
		i++;
	}
	putc('"', fp);
}

void
json_str(FILE *fp, const char *s)
{
	json_strn(fp, s, strlen(s));
}

void
json_key(FILE *fp, const char *key)
{
	json_str(fp, key);
	fputs(": ", fp);
}
