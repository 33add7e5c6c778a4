/*
 * The mail store: one Maildir folder (maildir(5), Maildir++), its
 * facteur-uidlist (the durable IMAP identity: UIDVALIDITY, UIDNEXT,
 * base name -> UID, keyword names) and its LMDB index
 * facteur-index.lmdb (a cache: per UID the file name, flags, keywords,
 * sizes, internal date, modseq; HIGHESTMODSEQ). DESIGN.md "The mail
 * store" and "LMDB rules".
 *
 * Paths are relative to the process's root (mail_dir): "domain/user".
 * A message is identified by its base name (store_name.c); the files may
 * be renamed, moved from new/ to cur/, added or removed by other programs
 * at any time: store_sync() re-reads new/ and cur/ and brings the
 * uidlist and the index up to date in one LMDB write transaction.
 */
#ifndef FACTEUR_STORE_H
#define FACTEUR_STORE_H

#include <stddef.h>
#include <stdint.h>

/* standard Maildir flags (the letters after ":2,") */
#define STORE_F_DRAFT		0x01	/* D */
#define STORE_F_FLAGGED		0x02	/* F */
#define STORE_F_PASSED		0x04	/* P */
#define STORE_F_REPLIED		0x08	/* R */
#define STORE_F_SEEN		0x10	/* S */
#define STORE_F_TRASHED		0x20	/* T */
#define STORE_F_NEW		0x40	/* the file is in new/ */

#define STORE_NAME_MAX		255
#define STORE_UIDL_MAX		70	/* RFC 1939 7: 1 to 70 characters */
#define STORE_KEYWORDS_MAX	26	/* Dovecot's letters a-z */

struct store_msg {
	uint32_t	 uid;
	uint32_t	 flags;		/* STORE_F_* */
	uint32_t	 keywords;	/* bit i: keyword i of the folder */
	uint64_t	 size;		/* bytes on disk (S=) */
	uint64_t	 vsize;		/* octets with CRLF line ends (W=) */
	uint64_t	 idate;		/* internal date: file mtime */
	uint64_t	 modseq;
	char		*name;		/* "new/NAME" or "cur/NAME" */
	char		*base;		/* the identity (store_name_base) */
};

struct store_mailbox;

/*
 * Opens the folder at path (relative), creating the Maildir when it does
 * not exist yet, and its index (rebuilt when missing or corrupt), then
 * syncs. mapsize is the LMDB map size. NULL with err set on failure.
 */
struct store_mailbox	*store_open(const char *path, size_t mapsize,
			    char *err, size_t errsz);
void			 store_close(struct store_mailbox *);
/* re-reads the directory; 0, or -1 with err set (temporary failure) */
int			 store_sync(struct store_mailbox *, char *err,
			    size_t errsz);

/* the messages as of the last sync, in UID order */
size_t			 store_count(const struct store_mailbox *);
const struct store_msg	*store_get(const struct store_mailbox *, size_t);
uint32_t		 store_uidvalidity(const struct store_mailbox *);
uint32_t		 store_uidnext(const struct store_mailbox *);
uint64_t		 store_highestmodseq(const struct store_mailbox *);
/* keyword name of bit i, or NULL */
const char		*store_keyword(const struct store_mailbox *, int);

/*
 * Opens a message for reading (O_RDONLY). When another program renamed
 * it since the last sync (flags, new/ -> cur/), it is looked up again by
 * base name and msg->name is updated. -1 with errno (ENOENT: gone).
 */
int	store_msg_open(struct store_mailbox *, size_t idx);
/* unlinks a message's file (ENOENT is success); the index forgets it at
   the next sync; 0 or -1 with errno */
int	store_msg_remove(struct store_mailbox *, size_t idx);

/* --- store_name.c: Maildir file names (pure functions) --- */
struct store_name {
	char		base[STORE_NAME_MAX + 1];
	uint64_t	size;		/* S=, or UINT64_MAX when absent */
	uint64_t	vsize;		/* W=, or UINT64_MAX when absent */
	uint32_t	flags;		/* from ":2,..." */
	uint32_t	keywords;	/* letters a-z */
};
/* parses a file name (no directory); -1 when it is not a message file
   (".", "..", hidden files, empty, too long, '/' inside) */
int	store_name_parse(const char *, struct store_name *);
/* the POP3 UIDL of a base name: itself when 1-70 characters in
   0x21-0x7e, else a stable hash ("H" + 32 hex digits, SHA-256 based) */
void	store_uidl(const char *base, char *out, size_t outsz);
/* "domain/user" safe as a relative path; 0 or -1 */
int	store_path_valid(const char *);

/* --- store_io.c: message text as sent to a client --- */
struct store_crlf {
	int	bol;		/* at the beginning of a line */
	int	dotstuff;	/* POP3: double a leading '.' */
};
void	store_crlf_init(struct store_crlf *, int dotstuff);
/*
 * Converts LF line ends to CRLF (every LF, as deliver counts W=) and
 * byte-stuffs leading dots when asked. Appends to out (at most 2 * inlen
 * + 1 bytes); returns the bytes written.
 */
size_t	store_crlf(struct store_crlf *, const char *in, size_t inlen,
	    char *out);
/* octets of the CRLF form of buf (no dot-stuffing): len + count of LF */
uint64_t store_crlf_size(const char *, size_t);

/* --- uidlist.c: the facteur-uidlist file --- */
struct uidlist_ent {
	uint32_t	 uid;
	char		*base;
};
struct uidlist {
	uint32_t		 uidvalidity;
	uint32_t		 uidnext;
	uint64_t		 modseq;	/* HIGHESTMODSEQ when written */
	char			*keywords[STORE_KEYWORDS_MAX];
	int			 nkeywords;
	struct uidlist_ent	*ent;
	size_t			 nent;
	size_t			 cap;
	int			 sorted;	/* ent sorted by base */
};
void	uidlist_init(struct uidlist *);
void	uidlist_clear(struct uidlist *);
/* parses the text of a file; -1 when it is not a valid uidlist */
int	uidlist_parse(struct uidlist *, const char *, size_t);
/* formats it (malloc'd, NUL-terminated) */
char	*uidlist_format(const struct uidlist *, size_t *);
/* sorts by base and checks: unique bases, unique UIDs below uidnext */
int	uidlist_check(struct uidlist *);
/* the UID of base, or 0 (sorts first when needed); *idx its position */
uint32_t uidlist_find(struct uidlist *, const char *, size_t *idx);
/* appends (the list is sorted again at the next find or check) */
void	uidlist_add(struct uidlist *, uint32_t, const char *);
/* removes the entries whose base is not marked in keep[] (same order) */
void	uidlist_keep(struct uidlist *, const char *keep);

#endif
