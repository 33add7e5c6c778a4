/*
 * The hand-over of an authenticated session from a pre-login half (popd,
 * later imapd) to its mail half (popd-mail, later imapd-mail), DESIGN.md
 * "Processes": the pre-login half never touches a mailbox, the mail half
 * never parses anything sent before login.
 *
 * The frame (IPC_POP_SESSION for POP3) carries the canonical address, the
 * mailbox, the client address, flags, the bytes the client pipelined
 * after its login command, and the fd: the client socket itself for a
 * cleartext session, or one end of a socketpair that the pre-login half
 * relays to and from the TLS session (handover_relay).
 */
#ifndef FACTEUR_HANDOVER_H
#define FACTEUR_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define HANDOVER_F_TLS		0x1	/* = POP_SESSION_F_TLS */
#define HANDOVER_PENDING_MAX	(16 * 1024)

struct ipc_wbuf;
struct ipc_msg;
struct bufferevent;
struct event_base;

struct handover {
	char		 address[ADDR_MAX];
	char		 mailbox[ADDR_MAX];
	char		 client[64];
	uint32_t	 flags;
	char		*pending;	/* malloc'd, npending bytes */
	size_t		 npending;
	int		 fd;
};

/* the payload (not the fd); -1 when it does not fit */
int	handover_encode(struct ipc_wbuf *, const struct handover *);
/* validates and decodes a frame; takes msg->fd on success; 0 or -1 */
int	handover_decode(struct ipc_msg *, struct handover *);
void	handover_clear(struct handover *);

/*
 * Relays between a TLS bufferevent (taken: freed, with its socket, when
 * either side closes) and a new socketpair; *mailfd gets the other end,
 * to be passed to the mail half (the caller closes its copy once sent).
 * done(arg) is called once the relay is over. 0 or -1 with errno.
 */
struct handover_relay;
struct handover_relay *handover_relay_new(struct event_base *,
	    struct bufferevent *tls, int *mailfd, void (*done)(void *),
	    void *arg);
/* ends a relay now (both sides closed); done is not called */
void	handover_relay_free(struct handover_relay *);

#endif
