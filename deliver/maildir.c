/*
 * Delivery into a Maildir (the maildir(5) convention as used by qmail,
 * Dovecot and mutt), the only way deliver writes mail.
 *
 * Paths are relative to the mail root (deliver runs chrooted or chdir'ed
 * there): "domain/user/{tmp,new,cur}/". The base name is
 * "<arrival>.<queueid>_<rcptindex>.<host>", the file name
 * "<base>,S=<bytes on disk>,W=<bytes with CRLF line ends>".
 *
 * Order (DESIGN.md, the mail store): write tmp/<base>, fsync it, rename
 * into new/<name> (the commit point), fsync new/, then report success.
 * A retried delivery (DELIVER_F_MAYBE_DONE) first looks for "<base>," in
 * new/ and cur/ (cur/ names carry ":2,FLAGS"): a message is stored at most
 * once. The spool keeps CRLF; the Maildir file has LF line ends, with
 * Return-Path (RFC 5321 4.4) and Delivered-To prepended.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"
#include "maildir.h"

#define CHUNK	(64 * 1024)

struct out {
	int		 fd;
	char		*buf;
	size_t		 len;
	uint64_t	 bytes;		/* written to the file */
	uint64_t	 lf;		/* line feeds written */
};

int
maildir_mailbox_valid(const char *mb)
{
	const char	*p, *slash;

	if ((slash = strchr(mb, '/')) == NULL || strchr(slash + 1, '/'))
		return -1;
	if (slash == mb || slash[1] == '\0')
		return -1;			/* empty domain or user */
	if (mb[0] == '.' || slash[1] == '.')	/* ".", "..", hidden */
		return -1;
	if (strstr(mb, "..") != NULL)
		return -1;
	if (strlen(mb) > 255 + 1 + 128)
		return -1;
	for (p = mb; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e || (*p >= 'A' && *p <= 'Z'))
			return -1;
	return 0;
}

void
maildir_escape_host(const char *in, char *out, size_t outsz)
{
	size_t	n = 0;

	for (; *in != '\0' && n + 5 < outsz; in++) {
		if (*in == '/') {
			memcpy(out + n, "\\057", 4);
			n += 4;
		} else if (*in == ':') {
			memcpy(out + n, "\\072", 4);
			n += 4;
		} else
			out[n++] = *in;
	}
	out[n] = '\0';
}

static int
md_mkdir(const char *path, const char *parent)
{
	if (mkdir(path, 0700) == 0)
		return fsync_dir(parent);	/* the new entry is durable */
	return errno == EEXIST ? 0 : -1;
}

static int
md_mkdirs(const char *mb, char *err, size_t errsz)
{
	char		 dom[PATH_MAX], path[PATH_MAX];
	const char	*sub[] = { "tmp", "new", "cur" };
	size_t		 i;

	strlcpy(dom, mb, sizeof(dom));
	*strchr(dom, '/') = '\0';
	if (md_mkdir(dom, ".") == -1) {
		snprintf(err, errsz, "mkdir %s: %s", dom, strerror(errno));
		return -1;
	}
	if (md_mkdir(mb, dom) == -1) {
		snprintf(err, errsz, "mkdir %s: %s", mb, strerror(errno));
		return -1;
	}
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", mb, sub[i]);
		if (md_mkdir(path, mb) == -1) {
			snprintf(err, errsz, "mkdir %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* 1 found (name in out), 0 not found, -1 error */
static int
md_find(const char *mb, const char *base, char *out, size_t outsz,
    char *err, size_t errsz)
{
	const char	*sub[] = { "new", "cur" };
	char		 path[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	size_t		 bl = strlen(base), i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", mb, sub[i]);
		if ((d = opendir(path)) == NULL) {
			snprintf(err, errsz, "opendir %s: %s", path,
			    strerror(errno));
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, base, bl) == 0 &&
			    de->d_name[bl] == ',') {
				strlcpy(out, de->d_name, outsz);
				closedir(d);
				return 1;
			}
		}
		closedir(d);
	}
	return 0;
}

static int
out_flush(struct out *o)
{
	if (o->len == 0)
		return 0;
	if (write_all(o->fd, o->buf, o->len) == -1)
		return -1;
	o->bytes += o->len;
	o->len = 0;
	return 0;
}

static int
out_putc(struct out *o, char c)
{
	if (o->len == CHUNK && out_flush(o) == -1)
		return -1;
	o->buf[o->len++] = c;
	if (c == '\n')
		o->lf++;
	return 0;
}

static int
out_puts(struct out *o, const char *s)
{
	for (; *s != '\0'; s++)
		if (out_putc(o, *s) == -1)
			return -1;
	return 0;
}

/* the message from the spool, CRLF -> LF; -1 with errno (EIO: short) */
static int
md_copy(const struct maildir_req *req, struct out *o)
{
	char		*in;
	uint64_t	 off = req->offset;
	ssize_t		 n, i;
	int		 cr = 0;

	in = xmalloc(CHUNK);
	for (;;) {
		n = pread(req->fd, in, CHUNK, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		off += n;
		for (i = 0; i < n; i++) {
			if (cr) {
				cr = 0;
				if (in[i] == '\n') {
					if (out_putc(o, '\n') == -1)
						goto fail;
					continue;
				}
				if (out_putc(o, '\r') == -1)
					goto fail;
			}
			if (in[i] == '\r')
				cr = 1;
			else if (out_putc(o, in[i]) == -1)
				goto fail;
		}
	}
	if (cr && out_putc(o, '\r') == -1)
		goto fail;
	free(in);
	return 0;
 fail:
	free(in);
	return -1;
}

static int
addr_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
maildir_deliver(const struct maildir_req *req, const char *host,
    char *out, size_t outsz, uint64_t *size, int *already)
{
	char		 base[1024], name[1100], hdr[2 * 1024];
	char		 tmp[PATH_MAX], dst[PATH_MAX];
	struct out	 o;
	struct stat	 st;
	const char	*sender, *what;
	int		 r;

	*size = 0;
	*already = 0;
	if (maildir_mailbox_valid(req->mailbox) == -1) {
		snprintf(out, outsz, "invalid mailbox");
		return DELIVER_PERMFAIL;
	}
	if (!addr_ok(req->rcpt) || !addr_ok(req->sender)) {
		snprintf(out, outsz, "invalid address");
		return DELIVER_PERMFAIL;
	}
	if (md_mkdirs(req->mailbox, out, outsz) == -1)
		return DELIVER_TEMPFAIL;
	snprintf(base, sizeof(base), "%" PRIu64 ".%s_%" PRIu32 ".%s",
	    req->arrival, req->id, req->rcptidx, host);
	if (req->maybe_done) {
		r = md_find(req->mailbox, base, name, sizeof(name), out,
		    outsz);
		if (r == -1)
			return DELIVER_TEMPFAIL;
		if (r == 1) {
			strlcpy(out, name, outsz);
			*already = 1;
			return DELIVER_OK;
		}
	}

	/* a leftover of ours in tmp/ from an interrupted attempt */
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", req->mailbox, base);
	if (unlink(tmp) == 0)
		log_info("%s: removed leftover %s", req->id, tmp);
	memset(&o, 0, sizeof(o));
	o.fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (o.fd == -1) {
		snprintf(out, outsz, "open %s: %s", tmp, strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	o.buf = xmalloc(CHUNK);
	sender = req->sender;
	if (strcmp(sender, "<>") == 0)
		sender = "";
	snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: %s\n",
	    sender, req->rcpt);
	what = "write";
	if (out_puts(&o, hdr) == -1 || md_copy(req, &o) == -1 ||
	    out_flush(&o) == -1)
		goto fail;
	if (fstat(req->fd, &st) == 0 && (uint64_t)st.st_size < req->offset) {
		errno = EINVAL;
		what = "read spool file";
		goto fail;
	}
	what = "fsync";
	if (fsync(o.fd) == -1)
		goto fail;
	what = "close";
	if (close(o.fd) == -1) {
		o.fd = -1;
		goto fail;
	}
	o.fd = -1;
	snprintf(name, sizeof(name), "%s,S=%" PRIu64 ",W=%" PRIu64, base,
	    o.bytes, o.bytes + o.lf);
	snprintf(dst, sizeof(dst), "%s/new/%s", req->mailbox, name);
	what = "rename";
	if (rename(tmp, dst) == -1)
		goto fail;
	snprintf(dst, sizeof(dst), "%s/new", req->mailbox);
	if (fsync_dir(dst) == -1) {
		/* stored, maybe not durably: the retry will find it */
		snprintf(out, outsz, "fsync %s: %s", dst, strerror(errno));
		free(o.buf);
		return DELIVER_TEMPFAIL;
	}
	free(o.buf);
	strlcpy(out, name, outsz);
	*size = o.bytes;
	return DELIVER_OK;
 fail:
	snprintf(out, outsz, "%s %s: %s", what, tmp, strerror(errno));
	if (o.fd != -1)
		close(o.fd);
	unlink(tmp);
	free(o.buf);
	return DELIVER_TEMPFAIL;
}
