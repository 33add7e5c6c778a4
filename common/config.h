/*
 * facteur.conf: "name = value" lines, '#' comments, blank lines ignored.
 * Every setting has a default (the table below is the one list of names
 * and defaults). A setting marked scopable may also be written
 * "listener.name = value" (listeners: smtp, submission, smtps, local,
 * pop3, pop3s, imap, imaps) and
 * then applies to that listener only.
 *
 * Errors name file, line and problem: "facteur.conf:12: unknown setting
 * 'foo'". A later line for the same name overrides an earlier one.
 */
#ifndef FACTEUR_CONFIG_H
#define FACTEUR_CONFIG_H

#include <stddef.h>

enum config_type {
	CT_STR,		/* any text */
	CT_NUM,		/* non-negative integer */
	CT_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CT_TIME,	/* seconds; suffixes s m h d w */
	CT_SIZE,	/* bytes; suffixes k K m M g G (powers of 1024) */
	CT_LIST,	/* words separated by commas and/or spaces */
	CT_MODE,	/* "system" or "sandbox" */
};

#define CONFIG_SCOPED	1

/*
 * X(name, type, default, scopable)
 * Path defaults use the directories given to configure.
 */
#define CONFIG_SETTINGS(X) \
	X(run_mode,		CT_MODE, "system", 0) \
	X(sandbox_user,		CT_STR,	 "", 0) \
	X(hostname,		CT_STR,	 "", 0) \
	X(domains,		CT_LIST, "", 0) \
	X(users_file,		CT_STR,	 SYSCONFDIR "/facteur/users", 0) \
	X(spool_dir,		CT_STR,	 LOCALSTATEDIR "/spool/facteur", 0) \
	X(mail_dir,		CT_STR,	 LOCALSTATEDIR "/mail/facteur", 0) \
	X(run_dir,		CT_STR,	 RUNSTATEDIR "/facteur", 0) \
	X(empty_dir,		CT_STR,	 LOCALSTATEDIR "/lib/facteur/empty", 0) \
	X(log_file,		CT_STR,	 LOCALSTATEDIR "/log/facteur.log", 0) \
	X(daemon_directory,	CT_STR,	 PKGLIBEXECDIR, 0) \
	X(facteur_user,		CT_STR,	 "_facteur", 0) \
	X(queue_user,		CT_STR,	 "_facteurq", 0) \
	X(vmail_user,		CT_STR,	 "_vmail", 0) \
	X(auth_user,		CT_STR,	 "_facteurauth", 0) \
	X(smtp_listen,		CT_LIST, "0.0.0.0:25", 0) \
	X(submission_listen,	CT_LIST, "", 0) \
	X(smtps_listen,		CT_LIST, "", 0) \
	X(pop3_listen,		CT_LIST, "", 0) \
	X(pop3s_listen,		CT_LIST, "", 0) \
	X(tls_cert,		CT_STR,	 "", 0) \
	X(tls_key,		CT_STR,	 "", 0) \
	X(allow_plaintext_auth,	CT_STR,	 "loopback", CONFIG_SCOPED) \
	X(auth_fail_delay,	CT_TIME, "2s", 0) \
	X(auth_fail_delay_max,	CT_TIME, "30s", 0) \
	X(auth_fail_window,	CT_TIME, "15m", 0) \
	X(smtpd_banner,		CT_STR,	 "", CONFIG_SCOPED) \
	X(max_message_size,	CT_SIZE, "35M", CONFIG_SCOPED) \
	X(max_recipients,	CT_NUM,	 "100", CONFIG_SCOPED) \
	X(max_errors,		CT_NUM,	 "10", CONFIG_SCOPED) \
	X(max_sessions,		CT_NUM,	 "100", CONFIG_SCOPED) \
	X(max_sessions_per_ip,	CT_NUM,	 "20", CONFIG_SCOPED) \
	X(max_line_length,	CT_SIZE, "64k", CONFIG_SCOPED) \
	X(command_timeout,	CT_TIME, "5m", CONFIG_SCOPED) \
	X(data_timeout,		CT_TIME, "10m", CONFIG_SCOPED) \
	X(bare_newline_exclusions, CT_LIST, "127.0.0.0/8 ::1", CONFIG_SCOPED) \
	X(queue_retry_min,	CT_TIME, "5m", 0) \
	X(queue_retry_max,	CT_TIME, "1h", 0) \
	X(queue_lifetime,	CT_TIME, "5d", 0) \
	X(queue_commit_threads,	CT_NUM,	 "4", 0) \
	X(lmdb_map_size,	CT_SIZE, "1G", 0) \
	X(restart_backoff_max,	CT_TIME, "30s", 0) \
	X(aliases_file,		CT_STR,	 SYSCONFDIR "/facteur/aliases", 0) \
	X(virtual_aliases_file,	CT_STR,	 SYSCONFDIR "/facteur/virtual", 0) \
	X(recipient_delimiter,	CT_STR,	 "+", 0) \
	X(postmaster_address,	CT_STR,	 "", 0) \
	X(delay_warning_time,	CT_TIME, "4h", 0) \
	X(bounce_size_limit,	CT_SIZE, "50k", 0) \
	X(require_auth,		CT_STR,	 "auto", CONFIG_SCOPED) \
	X(sender_login_check,	CT_BOOL, "yes", CONFIG_SCOPED) \
	X(max_commands,		CT_NUM,	 "1000", CONFIG_SCOPED) \
	X(session_timeout,	CT_TIME, "1h", CONFIG_SCOPED) \
	X(greet_pause,		CT_TIME, "1s", CONFIG_SCOPED) \
	X(greet_pause_exclusions, CT_LIST, "127.0.0.0/8 ::1", CONFIG_SCOPED) \
	X(min_data_rate,	CT_SIZE, "256", CONFIG_SCOPED) \
	X(pop3_timeout,		CT_TIME, "10m", 0) \
	X(mail_index_map_size,	CT_SIZE, "256M", 0)

struct config;

/* Reads and checks a file. On error returns NULL with "file:line: problem"
   (or "file: strerror") in err. */
struct config	*config_load(const char *path, char *err, size_t errsz);
/* Same from text already in memory; name is used in error messages. */
struct config	*config_parse(const char *text, size_t len, const char *name,
		    char *err, size_t errsz);
void		 config_free(struct config *);

/* The file's text as read (what facteurd sends to the daemons) */
const char	*config_text(const struct config *);
/* Effective configuration, one "name = value" a line, malloc'd */
char		*config_dump(const struct config *);

/*
 * Lookups. listener may be NULL; else "listener.name" is looked up first
 * for scopable settings. An unknown name is a programming error (fatalx).
 * config_str never returns NULL; hostname returns gethostname() when unset.
 */
const char	*config_str(const struct config *, const char *listener,
		    const char *name);
long long	 config_num(const struct config *, const char *listener,
		    const char *name);	/* NUM, TIME (seconds), SIZE (bytes) */
int		 config_bool(const struct config *, const char *listener,
		    const char *name);
/* LIST: calls fn for each word; stops and returns its value if non-zero */
int		 config_list(const struct config *, const char *listener,
		    const char *name, int (*fn)(const char *, void *), void *);
int		 config_is_sandbox(const struct config *);

#endif
