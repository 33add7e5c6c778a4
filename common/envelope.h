/*
 * The envelope: who sent a message to whom, and how it arrived.
 *
 * It travels as text (smtpd -> queue in IPC_QUEUE_CREATE) and heads every
 * spool file, so that a committed file describes itself and the index can
 * be rebuilt from spool/queue/ alone. The text is "key value" lines, one
 * per field, values encoded with envelope_encode() (so a value never holds
 * a space, a newline or a non-printable byte), ended by one empty line;
 * the message follows, exactly as received (dot-unstuffed, CRLF):
 *
 *	facteur-envelope 1
 *	id 0692F0A3B41C0A00		(only in spool files)
 *	arrival 1764143000
 *	sender alice@example.test	("<>" for the null sender)
 *	client 127.0.0.1
 *	helo client.example.test
 *	proto ESMTP
 *	auth -				(authenticated identity or "-")
 *	body 8BITMIME			(7BIT, 8BITMIME or BINARYMIME)
 *	smtputf8 0
 *	envid -
 *	ret -				(FULL, HDRS or "-")
 *	rcpt bob@example.test example.test/bob notify=- orcpt=-
 *	<empty line>
 *
 * "rcpt" repeats once per recipient: address, mailbox ("domain/user" for
 * a local account, "-" for a remote one), then key=value options.
 *
 * Queue ids: 16 upper-case hex digits, seconds (9) + microseconds (5) +
 * a counter (2), so they sort by arrival and are never reused on a host.
 */
#ifndef FACTEUR_ENVELOPE_H
#define FACTEUR_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"

#include "addr.h"

#define ENVELOPE_VERSION	1
#define QUEUEID_LEN		16
#define ENVELOPE_MAX_RCPT	10000
#define ENVELOPE_MAX_TEXT	IPC_MAX_STR

enum env_ret { ENV_RET_NONE = 0, ENV_RET_FULL, ENV_RET_HDRS };
enum env_body { ENV_BODY_7BIT = 0, ENV_BODY_8BITMIME, ENV_BODY_BINARYMIME };

#define ENV_NOTIFY_NEVER	0x1
#define ENV_NOTIFY_SUCCESS	0x2
#define ENV_NOTIFY_FAILURE	0x4
#define ENV_NOTIFY_DELAY	0x8

struct env_rcpt {
	char	addr[ADDR_MAX];
	char	mailbox[ADDR_MAX];	/* "" when remote */
	char	orcpt[ADDR_MAX + 16];	/* "" when not given */
	int	notify;			/* 0 when not given */
};

struct envelope {
	char		 id[QUEUEID_LEN + 1];	/* "" until queue assigns it */
	uint64_t	 arrival;
	char		 sender[ADDR_MAX];	/* "" for the null sender */
	char		 client[64];		/* address, or "local" */
	char		 helo[256];
	char		 proto[16];		/* SMTP, ESMTP, ESMTPS, ... */
	char		 auth[ADDR_MAX];	/* "" when not authenticated */
	int		 body;			/* enum env_body */
	int		 smtputf8;
	char		 envid[101];		/* "" when not given */
	int		 ret;			/* enum env_ret */
	size_t		 nrcpt;
	struct env_rcpt	*rcpt;			/* malloc'd array */
};

void	envelope_init(struct envelope *);
void	envelope_clear(struct envelope *);	/* frees rcpt, re-inits */
/* appends a recipient; -1 when ENVELOPE_MAX_RCPT is reached */
int	envelope_add_rcpt(struct envelope *, const struct env_rcpt *);

/* Formats as text (with the "id" line when env->id is set), malloc'd,
   ending with the empty line. Returns its length, or -1. */
ssize_t	envelope_format(const struct envelope *, char **out);
/*
 * Parses text (at most len bytes) up to and including the empty line.
 * Returns the number of bytes the envelope takes (the message starts
 * there), or -1 with a reason in err. Unknown keys are an error.
 */
ssize_t	envelope_parse(const char *text, size_t len, struct envelope *,
	    const char **err);

/* %XX-encodes spaces, '%', and bytes outside 0x21..0x7e ("" -> "-") */
void	envelope_encode(const char *in, char *out, size_t outsz);
int	envelope_decode(const char *in, char *out, size_t outsz);

/* A new queue id into buf (QUEUEID_LEN + 1 bytes) */
void	queueid_new(char *buf);
int	queueid_valid(const char *);

#endif
