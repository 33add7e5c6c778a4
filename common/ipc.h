/*
 * IPC between facteur's daemons, in the spirit of OpenBSD's imsg.
 *
 * Every channel is an AF_UNIX SOCK_SEQPACKET socketpair created by facteurd:
 * one frame is one datagram, so framing is kept by the kernel and a frame
 * carries at most one file descriptor (SCM_RIGHTS). A frame is a header
 * followed by a payload of at most IPC_MAX_PAYLOAD bytes. Payloads are
 * sequences of fields written with ipc_put_*() and read back with
 * ipc_get_*(), which validate every length: a peer is never trusted.
 *
 * The first frame on every channel is IPC_HELLO (version, build id, role);
 * ipc.c sends and checks it itself. A mismatch closes the channel.
 *
 * Every message type is listed here, in ranges per subsystem. The comment
 * after each gives its payload, in order, and whether an fd rides along.
 * Types: u32, u64, str (u32 length + bytes, no NUL inside).
 */
#ifndef FACTEUR_IPC_H
#define FACTEUR_IPC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

#define IPC_VERSION		1
#define IPC_MAX_PAYLOAD		(60 * 1024)
#define IPC_MAX_STR		(IPC_MAX_PAYLOAD - 1024)

struct ipc_hdr {
	uint32_t	type;
	uint32_t	len;		/* payload length */
	uint32_t	reqid;		/* echoed in the reply */
	uint32_t	pid;		/* sender's pid */
};

enum ipc_type {
	/* 1-99: every channel, and master <-> daemon */
	IPC_HELLO = 1,		/* u32 version, str build id, u32 proc id */
	IPC_CONFIG,		/* M->D: str config text (already validated),
				   str config file name */
	IPC_PRIVSEP,		/* M->D: u32 uid, u32 gid, str chroot dir ("" none),
				   str work dir (chdir there when not chrooted) */
	IPC_PEER,		/* M->D: u32 proc id of the peer; fd = channel */
	IPC_LISTENER,		/* M->smtpd: str listener name ("smtp",
				   "submission", "smtps", "local"), str address
				   as configured; fd = bound listening socket */
	IPC_START,		/* M->D: everything for start-up was sent */
	IPC_READY,		/* D->M: privileges dropped, serving */
	IPC_LOG,		/* D->M: u32 syslog priority, str line */
	IPC_RELOAD,		/* M->D: str config text; apply to new sessions */
	IPC_STATS,		/* M->D: ask; D->M: str "key=value ..." */
	IPC_TLS_MATERIAL,	/* M->smtpd/popd: str certificate chain (PEM),
				   str private key (PEM); after CONFIG at start
				   and after every RELOAD, only when tls_cert
				   and tls_key are set. Daemons build their
				   SSL_CTX from it (common/tls.h). */

	/* 100-199: smtpd <-> auth (and later popd/imapd <-> auth) */
	IPC_AUTH_RCPT = 100,	/* smtpd->auth: str address (already parsed,
				   lower-cased domain) */
	IPC_AUTH_RCPT_RESULT,	/* auth->smtpd: u32 auth_rcpt_status,
				   str mailbox ("domain/user" when LOCAL) */
	IPC_AUTH_LOGIN,		/* smtpd/popd->auth: str service ("smtp",
				   "pop3", "imap"), str client address,
				   str user name as typed, str password */
	IPC_AUTH_LOGIN_RESULT,	/* auth->: u32 auth_login_status, str canonical
				   address ("alice@example.test"), str mailbox
				   ("example.test/alice"); failures are answered
				   late (auth_fail_delay, more for repeated
				   failures from one client address) */
	IPC_AUTH_SENDER,	/* smtpd->auth: str authenticated address,
				   str envelope sender */
	IPC_AUTH_SENDER_RESULT,	/* auth->smtpd: u32 0 the sender belongs to
				   that user, 1 it does not, 2 try later */
	IPC_AUTH_EXPAND,	/* queue->auth: str recipient address; auth
				   resolves aliases, virtual aliases,
				   catch-alls, sub-addresses, :include:,
				   recursively with loop detection. (A
				   RCPT_RESULT mailbox "@alias/expand" means
				   LOCAL, to be expanded by queue.) */
	IPC_AUTH_EXPAND_RESULT,	/* auth->queue: u32 auth_expand_status,
				   u32 n, then n times: u32 auth_expand_status
				   of the item, str final address, str mailbox
				   ("domain/user" when OK, "-" when REMOTE,
				   "" otherwise) */

	/* 200-299: smtpd <-> queue */
	IPC_QUEUE_CREATE = 200,	/* smtpd->queue: str envelope text
				   (envelope.h, without the id line) */
	IPC_QUEUE_CREATED,	/* queue->smtpd: u32 status (0 ok, else
				   queue_status), str queue id; fd = the tmp file,
				   O_WRONLY|O_APPEND, envelope already written */
	IPC_QUEUE_COMMIT,	/* smtpd->queue: str queue id, u64 message
				   size (bytes smtpd wrote after the envelope) */
	IPC_QUEUE_COMMITTED,	/* queue->smtpd: u32 queue_status, str queue id */
	IPC_QUEUE_ABORT,	/* smtpd->queue: str queue id (no reply) */

	/* 300-399: queue <-> deliver */
	IPC_DELIVER = 300,	/* queue->deliver: str queue id, u32 rcpt index,
				   u64 arrival time, u64 body offset in the file,
				   str mailbox ("domain/user"), str recipient
				   address, str sender address, u32 flags
				   (DELIVER_F_*); fd = committed file, O_RDONLY */
	IPC_DELIVER_RESULT,	/* deliver->queue: str queue id, u32 rcpt index,
				   u32 deliver_status, str text (error or the
				   base name stored) */

	/* 400-499: control socket (facteurctl/mailq <-> facteurd <-> queue) */
	IPC_CTL_QUEUE_LIST = 400, /* ->queue: nothing */
	IPC_CTL_QUEUE_ENTRY,	/* queue->: str one listing record (see
				   queue.h); streamed, many frames */
	IPC_CTL_QUEUE_END,	/* queue->: u32 count */
	IPC_CTL_QUEUE_FLUSH,	/* ->queue: str queue id or "" for all;
				   reply IPC_CTL_QUEUE_END */
	IPC_CTL_STATUS,		/* tool->facteurd: nothing; facteurd->tool:
				   u32 count, then count str, one per daemon:
				   "name=smtpd pid=N uptime=S restarts=N" */
	IPC_CTL_QUEUE_SHOW,	/* ->queue: str queue id; queue->: one
				   IPC_CTL_QUEUE_ENTRY (the listing record),
				   then IPC_CTL_QUEUE_TEXT frames (the message
				   headers, in chunks), then IPC_CTL_QUEUE_END
				   (1, or 0 when there is no such message) */
	IPC_CTL_QUEUE_TEXT,	/* queue->: str a chunk of text */
	IPC_CTL_QUEUE_HOLD,	/* ->queue: str selector; reply
				   IPC_CTL_QUEUE_END(u32 messages affected).
				   Selector: "ID", "ALL", "from=ADDR",
				   "to=ADDR" (same for the three below) */
	IPC_CTL_QUEUE_RELEASE,
	IPC_CTL_QUEUE_DELETE,
	IPC_CTL_QUEUE_REQUEUE,	/* re-resolve recipients and retry now */

	/* 500-599: popd (pre-login) <-> popd-mail */
	IPC_POP_SESSION = 500,	/* popd->popd-mail: str canonical address,
				   str mailbox ("domain/user"), str client
				   address, u32 flags (POP_SESSION_F_*),
				   str bytes the client already sent after its
				   login command (pipelined); fd = the client
				   socket, or for TLS one end of a socketpair
				   that popd relays to the TLS session */
	IPC_POP_SESSION_END,	/* popd-mail->popd: nothing; reqid = the
				   IPC_POP_SESSION's: that session is over
				   (popd counts sessions per client address) */
};

#define POP_SESSION_F_TLS	0x1

enum auth_rcpt_status {
	AUTH_RCPT_LOCAL = 0,	/* a local account: mailbox set */
	AUTH_RCPT_NOUSER,	/* local domain, no such user: 550 5.1.1 */
	AUTH_RCPT_NOTLOCAL,	/* not one of our domains: relay rules apply */
	AUTH_RCPT_TEMPFAIL,	/* try again later: 451 4.3.0 */
};

enum auth_expand_status {
	AUTH_EXPAND_OK = 0,	/* a local mailbox (item), or done (whole) */
	AUTH_EXPAND_NOUSER,	/* no such user: 5.1.1 */
	AUTH_EXPAND_REMOTE,	/* not one of our domains: relay */
	AUTH_EXPAND_LOOP,	/* alias loop: 5.4.6 */
	AUTH_EXPAND_TEMPFAIL,	/* try again later (whole answer) */
	AUTH_EXPAND_TOOBIG,	/* too many recipients: 5.3.4 */
};

enum auth_login_status {
	AUTH_LOGIN_OK = 0,
	AUTH_LOGIN_FAIL,	/* 535 5.7.8 / -ERR [AUTH] */
	AUTH_LOGIN_TEMPFAIL,	/* 454 4.7.0 / -ERR [SYS/TEMP] */
};

enum queue_status {
	QUEUE_OK = 0,
	QUEUE_TEMPFAIL,		/* 451 4.3.0 */
	QUEUE_NOSPACE,		/* 452 4.3.1 */
	QUEUE_REJECT,		/* 554 5.6.0: message refused (bad envelope) */
};

enum deliver_status {
	DELIVER_OK = 0,
	DELIVER_TEMPFAIL,	/* retry later */
	DELIVER_PERMFAIL,	/* bounce */
};

#define DELIVER_F_MAYBE_DONE	0x1	/* may have been stored before: look
					   for the base name first */

/* --- payload encoding --- */
struct ipc_wbuf {
	uint8_t		data[IPC_MAX_PAYLOAD];
	size_t		len;
	int		error;		/* set when a put did not fit */
};

struct ipc_rbuf {
	const uint8_t	*p;
	size_t		 left;
	int		 error;		/* set on short or bad field */
};

void	 ipc_wbuf_init(struct ipc_wbuf *);
void	 ipc_put_u32(struct ipc_wbuf *, uint32_t);
void	 ipc_put_u64(struct ipc_wbuf *, uint64_t);
void	 ipc_put_str(struct ipc_wbuf *, const char *);
void	 ipc_put_strn(struct ipc_wbuf *, const char *, size_t);

void	 ipc_rbuf_init(struct ipc_rbuf *, const void *, size_t);
uint32_t ipc_get_u32(struct ipc_rbuf *);
uint64_t ipc_get_u64(struct ipc_rbuf *);
/* copies a str field into dst (NUL-terminated); error if it does not fit or
   holds a NUL byte */
void	 ipc_get_str(struct ipc_rbuf *, char *dst, size_t dstsz);
/* returns a malloc'd copy of a str field (NULL and error set on failure) */
char	*ipc_get_strdup(struct ipc_rbuf *);
/* 0 when every field was read and nothing is left over, else -1 */
int	 ipc_get_end(struct ipc_rbuf *);

/* --- frames on a channel --- */
struct ipc_msg {
	struct ipc_hdr	 hdr;
	const uint8_t	*data;		/* hdr.len bytes, valid during the call */
	int		 fd;		/* -1 or a received fd: the handler owns it
					   (close it if not kept) */
};

struct ipc_chan;
typedef void	ipc_msg_cb(struct ipc_chan *, struct ipc_msg *, void *);
typedef void	ipc_close_cb(struct ipc_chan *, void *);

/*
 * Wraps fd (one end of a SEQPACKET socketpair), sends HELLO as self, and
 * expects HELLO from a peer of role peer. msg_cb is called for every frame
 * after HELLO; close_cb when the peer is gone or broke the protocol (the
 * channel must then be freed by the owner, usually from close_cb).
 */
struct ipc_chan	*ipc_chan_new(struct event_base *, int fd, int self, int peer,
		    ipc_msg_cb *, ipc_close_cb *, void *arg);
void		 ipc_chan_free(struct ipc_chan *);
int		 ipc_chan_peer(struct ipc_chan *);
/* frames queued and not yet written (flow control for long listings) */
size_t		 ipc_chan_pending(struct ipc_chan *);

/*
 * Sends one frame. fd (or -1) is not taken: the caller still owns and
 * closes it (ipc_send dups it when the frame must wait). Returns 0, or -1
 * when the channel is dead or the payload is too large.
 */
int	ipc_send(struct ipc_chan *, uint32_t type, uint32_t reqid, int fd,
	    const void *data, size_t len);
int	ipc_sendw(struct ipc_chan *, uint32_t type, uint32_t reqid, int fd,
	    const struct ipc_wbuf *);
/* Blocking best-effort flush of queued frames (used before exit). */
void	ipc_flush(struct ipc_chan *);

const char	*ipc_build_id(void);
const char	*ipc_type_name(uint32_t);

#endif
