/*
 * Maildir delivery (deliver/maildir.c): one message into one account's
 * Maildir, idempotently.
 */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

struct maildir_req {
	const char	*id;		/* queue id */
	uint32_t	 rcptidx;	/* recipient index in the envelope */
	uint64_t	 arrival;	/* Unix seconds */
	uint64_t	 offset;	/* where the message starts in fd */
	const char	*mailbox;	/* "domain/user", relative */
	const char	*rcpt;		/* recipient address */
	const char	*sender;	/* "" or "<>" for the null sender */
	int		 maybe_done;	/* look for the base name first */
	int		 fd;		/* the spool file, read with pread */
};

/* 0 when mailbox is a safe "domain/user", else -1 */
int	maildir_mailbox_valid(const char *);
/* host name for base names: '/' -> \057, ':' -> \072 */
void	maildir_escape_host(const char *, char *, size_t);
/*
 * Stores the message. Returns a deliver_status (ipc.h); out gets the file
 * name stored (DELIVER_OK) or the error text; *size the bytes on disk.
 * *already is set when a previous attempt had stored it.
 */
int	maildir_deliver(const struct maildir_req *, const char *host,
	    char *out, size_t outsz, uint64_t *size, int *already);

#endif
