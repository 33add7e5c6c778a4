/*
 * auth: the directory. Answers smtpd's questions about recipients
 * (IPC_AUTH_RCPT: is this a local account, which mailbox, or a remote
 * address, or no such user) from the users file (users.c). Runs as
 * auth_user, not chrooted: users_file is opened by its absolute path.
 *
 * Decode, act, reply: every IPC_AUTH_RCPT gets exactly one
 * IPC_AUTH_RCPT_RESULT with the same reqid; a malformed request gets
 * AUTH_RCPT_TEMPFAIL (smtpd answers 451, never a permanent refusal).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "auth.h"
#include "auth_login.h"
#include "users.h"
#include "aliases.h"
#include "util.h"

struct domain_list {
	char	**v;
	size_t	  n;
};

static struct users	*users;
static struct aliases	*aliases;
static uint64_t		 stat_lookups, stat_local, stat_nouser, stat_remote,
			 stat_tempfail;

static void	auth_config(const struct config *, int);
static int	auth_domain_add(const char *, void *);
static void	auth_start(void);
static void	auth_msg(struct ipc_chan *, int, struct ipc_msg *);
static void	auth_rcpt(struct ipc_chan *, struct ipc_msg *);
static void	auth_stats(char *, size_t);
static void	auth_expand(struct ipc_chan *, struct ipc_msg *);

static const struct daemon_ops auth_ops = {
	.proc = PROC_AUTH,
	.config = auth_config,
	.msg = auth_msg,
	.start = auth_start,
	.stats = auth_stats,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &auth_ops);
}

static int
auth_domain_add(const char *word, void *arg)
{
	struct domain_list	*dl = arg;

	dl->v = xreallocarray(dl->v, dl->n + 1, sizeof(char *));
	dl->v[dl->n++] = xstrdup(word);
	return 0;
}

/*
 * In sandbox mode facteurd makes the users file's directory our working
 * directory (the chdir happens before the uid change), and the files in
 * it are opened by relative paths: the sandbox account then needs no
 * search permission on the parents (a checkout under a 0700 /root).
 */
const char *
auth_file_path(const struct config *conf, const char *setting)
{
	const char	*ufile = config_str(conf, NULL, "users_file");
	const char	*path = config_str(conf, NULL, setting);
	const char	*slash = strrchr(ufile, '/');
	size_t		 dirlen;

	if (!config_is_sandbox(conf) || slash == NULL || slash == ufile)
		return path;
	dirlen = slash - ufile;
	if (strncmp(path, ufile, dirlen) == 0 && path[dirlen] == '/' &&
	    strchr(path + dirlen + 1, '/') == NULL && path[dirlen + 1] != '\0')
		return path + dirlen + 1;
	return path;
}

static void
auth_config(const struct config *conf, int reload)
{
	const char		*path = auth_file_path(conf, "users_file");
	struct domain_list	 dl = { NULL, 0 };
	size_t			 i;

	if (users == NULL || reload) {
		users_free(users);
		users = users_new(path);
	}
	config_list(conf, NULL, "domains", auth_domain_add, &dl);
	users_set_domains(users, (const char *const *)dl.v, dl.n);
	if (aliases == NULL)
		aliases = aliases_new();
	aliases_config(aliases, conf);
	for (i = 0; i < dl.n; i++)
		free(dl.v[i]);
	free(dl.v);
	auth_login_config(conf, users);
	if (reload && daemon_started())
		users_refresh(users, 2);
}

static void
auth_start(void)
{
	users_refresh(users, 2);
}

static void
auth_msg(struct ipc_chan *chan, int from, struct ipc_msg *msg)
{
	switch (msg->hdr.type) {
	case IPC_AUTH_EXPAND:
		auth_expand(chan, msg);
		break;
	case IPC_AUTH_RCPT:
		auth_rcpt(chan, msg);
		break;
	case IPC_AUTH_LOGIN:
		auth_login(chan, from, msg);
		break;
	case IPC_AUTH_SENDER:
		auth_sender(chan, msg);
		break;
	default:
		log_warnx("unexpected %s from %s",
		    ipc_type_name(msg->hdr.type), proc_name(from));
		break;
	}
	if (msg->fd != -1)
		close(msg->fd);
}

static void
auth_rcpt(struct ipc_chan *chan, struct ipc_msg *msg)
{
	static const char *const names[] = {
		"local", "nouser", "notlocal", "tempfail"
	};
	struct ipc_rbuf	 rb;
	struct ipc_wbuf	 wb;
	char		 addr[ADDR_MAX * 2 + 8], mailbox[ADDR_MAX];
	int		 status;

	mailbox[0] = '\0';
	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	ipc_get_str(&rb, addr, sizeof(addr));
	if (ipc_get_end(&rb) == -1) {
		log_warnx("bad AUTH_RCPT frame (%u bytes)", msg->hdr.len);
		status = AUTH_RCPT_TEMPFAIL;
	} else
		status = aliases_rcpt(aliases, users, addr, mailbox,
		    sizeof(mailbox));

	stat_lookups++;
	switch (status) {
	case AUTH_RCPT_LOCAL:
		stat_local++;
		break;
	case AUTH_RCPT_NOUSER:
		stat_nouser++;
		break;
	case AUTH_RCPT_NOTLOCAL:
		stat_remote++;
		break;
	default:
		stat_tempfail++;
		break;
	}
	log_debug("rcpt=<%s> status=%s mailbox=%s", addr, names[status],
	    mailbox[0] ? mailbox : "-");

	ipc_wbuf_init(&wb);
	ipc_put_u32(&wb, status);
	ipc_put_str(&wb, status == AUTH_RCPT_LOCAL ? mailbox : "");
	if (ipc_sendw(chan, IPC_AUTH_RCPT_RESULT, msg->hdr.reqid, -1,
	    &wb) == -1)
		log_warnx("cannot answer AUTH_RCPT reqid=%u", msg->hdr.reqid);
}

/*
 * IPC_AUTH_EXPAND from queue: the recipient's final addresses (aliases.c).
 * An answer that does not fit in one frame is AUTH_EXPAND_TOOBIG.
 */
static void
auth_expand(struct ipc_chan *chan, struct ipc_msg *msg)
{
	static struct ipc_wbuf	 wb;
	struct ipc_rbuf		 rb;
	struct alias_item	*it = NULL;
	char			 addr[ADDR_MAX * 2 + 8];
	size_t			 n = 0, i;
	int			 status;

	ipc_rbuf_init(&rb, msg->data, msg->hdr.len);
	ipc_get_str(&rb, addr, sizeof(addr));
	if (ipc_get_end(&rb) == -1) {
		log_warnx("bad AUTH_EXPAND frame (%u bytes)", msg->hdr.len);
		status = AUTH_EXPAND_TEMPFAIL;
	} else
		status = aliases_expand(aliases, users, addr, &it, &n);
	for (;;) {
		ipc_wbuf_init(&wb);
		ipc_put_u32(&wb, status);
		ipc_put_u32(&wb, status == AUTH_EXPAND_OK ? n : 0);
		for (i = 0; status == AUTH_EXPAND_OK && i < n; i++) {
			ipc_put_u32(&wb, it[i].status);
			ipc_put_str(&wb, it[i].addr);
			ipc_put_str(&wb, it[i].mailbox);
		}
		if (!wb.error || status != AUTH_EXPAND_OK)
			break;
		status = AUTH_EXPAND_TOOBIG;
	}
	log_debug("expand=<%s> status=%d n=%zu", addr, status, n);
	if (ipc_sendw(chan, IPC_AUTH_EXPAND_RESULT, msg->hdr.reqid, -1,
	    &wb) == -1)
		log_warnx("cannot answer AUTH_EXPAND reqid=%u", msg->hdr.reqid);
	free(it);
}

static void
auth_stats(char *buf, size_t bufsz)
{
	char	u[128], al[64];

	users_stats(users, u, sizeof(u));
	aliases_stats(aliases, al, sizeof(al));
	strlcat(u, " ", sizeof(u));
	strlcat(u, al, sizeof(u));
	snprintf(buf, bufsz, "%s lookups=%llu local=%llu nouser=%llu "
	    "notlocal=%llu tempfail=%llu", u,
	    (unsigned long long)stat_lookups, (unsigned long long)stat_local,
	    (unsigned long long)stat_nouser, (unsigned long long)stat_remote,
	    (unsigned long long)stat_tempfail);
}
