/*
 * The DATA phase as a pure state machine: feed it the bytes a client
 * sends after "354", get the message back line by line (dot-unstuffed,
 * every line ended by CRLF), learn where the end of DATA is and whether
 * the message must be refused. No I/O: unit tested.
 */
#ifndef FACTEUR_SMTP_DATA_H
#define FACTEUR_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

#define DATA_F_BARELF	0x1	/* LF.LF and the mixed forms end DATA too */
#define DATA_F_RAW	0x2	/* BDAT (RFC 3030): no dot-stuffing and no
				   end marker; the caller counts the octets */

enum smtp_data_status {
	DATA_OK = 0,
	DATA_TOOBIG,		/* over max size: 552 5.3.4 */
	DATA_LINELONG,		/* a line over max_line: 554 5.6.0 */
	DATA_SMUGGLE,		/* bare CR/LF around a dot line: 554 5.5.2 */
};

/* receives message text; the line always ends with CRLF */
typedef void	smtp_data_out(void *arg, const char *line, size_t len);

struct smtp_data {
	int		 flags;
	size_t		 maxline;	/* longest line, line end excluded */
	uint64_t	 maxsize;	/* 0: no limit */
	smtp_data_out	*out;
	void		*arg;

	char		*line;		/* current partial line */
	size_t		 len;
	size_t		 cap;
	int		 prev;		/* how the previous line ended */
	int		 skipping;	/* in a line that is too long */
	int		 skipcr;	/* its last byte so far was CR */
	int		 done;		/* end of DATA seen */
	int		 status;	/* first refusal, enum smtp_data_status */
	uint64_t	 size;		/* bytes given to out */
	uint64_t	 nlines;
};

void	smtp_data_init(struct smtp_data *, int flags, size_t maxline,
	    uint64_t maxsize, smtp_data_out *, void *arg);
/*
 * Consumes bytes up to and including the end of DATA (then d->done is
 * set and the rest belongs to the next command). Returns the number of
 * bytes consumed. After a refusal no more text reaches out, but the
 * input is read to the end.
 */
size_t	smtp_data_feed(struct smtp_data *, const char *buf, size_t len);
/* BDAT LAST: the text after the last line end becomes a last line */
void	smtp_data_finish(struct smtp_data *);
void	smtp_data_free(struct smtp_data *);
const char *smtp_data_reply(int status);

#endif
