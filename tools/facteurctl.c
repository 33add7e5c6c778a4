/*
 * facteurctl: the administrator's command. Reads facteur.conf (-c FILE,
 * else $FACTEUR_CONF, else SYSCONFDIR/facteur/facteur.conf) and runs one
 * command: users (ctl_user.c), the queue (ctl_queue.c) and the daemons'
 * status (ctl_status.c) through facteurd's control socket, one message's
 * log lines (ctl_log.c), the effective configuration. Called as "mailq"
 * it lists the queue, like Postfix's mailq.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

#define CTL_DEFAULT_CONF	SYSCONFDIR "/facteur/facteur.conf"

const char	*ctl_progname = "facteurctl";

static void
usage(void)
{
	if (strcmp(ctl_progname, "mailq") == 0) {
		fprintf(stderr, "usage: mailq [-c config] [--json]\n");
		exit(1);
	}
	fprintf(stderr,
	    "usage: facteurctl [-c config] command [argument ...]\n"
	    "commands:\n"
	    "    user add ADDRESS      add an account (password on the "
	    "terminal or stdin)\n"
	    "    user passwd ADDRESS   change an account's password\n"
	    "    user del ADDRESS      remove an account\n"
	    "    user list             list the accounts\n"
	    "    queue [list] [--json] list the mail queue (as mailq)\n"
	    "    queue show ID [--json]\n"
	    "                          one message: envelope, recipients, "
	    "headers\n"
	    "    queue flush [ID]      retry deferred mail now\n"
	    "    queue hold SELECTOR   put messages on hold\n"
	    "    queue release SELECTOR\n"
	    "                          release held messages\n"
	    "    queue delete SELECTOR delete messages\n"
	    "    queue requeue SELECTOR\n"
	    "                          resolve the recipients again, retry "
	    "now\n"
	    "        SELECTOR: ID ..., ALL, --from ADDRESS, --to ADDRESS\n"
	    "    status [--json]       the daemons, queue sizes, counters\n"
	    "    log [-f FILE] ID      one message's lines in the log\n"
	    "    config                print the effective configuration\n"
	    "The queue commands also work without \"queue\" "
	    "(facteurctl hold ID).\n");
	exit(1);
}

/* removes --json (or -j) from argv; returns 1 when it was there */
static int
take_json(int *argc, char **argv)
{
	int	i, j, found = 0;

	for (i = j = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--json") == 0 ||
		    strcmp(argv[i], "-j") == 0) {
			found = 1;
			continue;
		}
		argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return found;
}

static const char *
base_name(const char *path)
{
	const char	*p = strrchr(path, '/');

	return p != NULL ? p + 1 : path;
}

static struct config *
load_config(const char *path)
{
	struct config	*conf;
	char		 err[1024];

	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", ctl_progname, err);
		exit(1);
	}
	return conf;
}

static const struct {
	const char	*name;
	uint32_t	 type;
} selectors[] = {
	{ "hold",	IPC_CTL_QUEUE_HOLD },
	{ "release",	IPC_CTL_QUEUE_RELEASE },
	{ "delete",	IPC_CTL_QUEUE_DELETE },
	{ "requeue",	IPC_CTL_QUEUE_REQUEUE },
};

static int
is_queue_command(const char *cmd)
{
	size_t	i;

	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 ||
	    strcmp(cmd, "flush") == 0)
		return 1;
	for (i = 0; i < sizeof(selectors) / sizeof(selectors[0]); i++)
		if (strcmp(cmd, selectors[i].name) == 0)
			return 1;
	return 0;
}

static int
cmd_queue(const struct config *conf, int argc, char **argv)
{
	size_t	i;
	int	json;

	json = take_json(&argc, argv);
	if (argc == 0 || strcmp(argv[0], "list") == 0) {
		if (argc > 1)
			usage();
		if (json)
			return ctl_queue_list_json(conf) == 0 ? 0 : 1;
		return ctl_queue_list(conf) == 0 ? 0 : 1;
	}
	if (strcmp(argv[0], "show") == 0) {
		if (argc != 2)
			usage();
		return ctl_queue_show(conf, argv[1], json) == 0 ? 0 : 1;
	}
	if (json)
		usage();
	if (strcmp(argv[0], "flush") == 0) {
		if (argc > 2)
			usage();
		return ctl_queue_flush(conf, argc == 2 ? argv[1] : NULL) == 0 ?
		    0 : 1;
	}
	for (i = 0; i < sizeof(selectors) / sizeof(selectors[0]); i++)
		if (strcmp(argv[0], selectors[i].name) == 0)
			return ctl_queue_select(conf, selectors[i].type,
			    argc - 1, argv + 1) == 0 ? 0 : 1;
	usage();
	return 1;
}

static int
cmd_status(const struct config *conf, int argc, char **argv)
{
	int	json = take_json(&argc, argv);

	if (argc != 0)
		usage();
	if (json)
		return ctl_status_json(conf) == 0 ? 0 : 1;
	return ctl_status(conf) == 0 ? 0 : 1;
}

static int
cmd_config(const struct config *conf, int argc, char **argv)
{
	char	*text;

	if (argc != 0)
		usage();
	text = config_dump(conf);
	fputs(text, stdout);
	free(text);
	return fflush(stdout) == EOF ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct config	*conf;
	const char	*path = NULL;
	int		 ch, r, json;

	ctl_progname = strcmp(base_name(argv[0]), "mailq") == 0 ?
	    "mailq" : "facteurctl";
	log_init(ctl_progname, 0);
	/* mailq --json: before getopt, which knows no long options */
	json = strcmp(ctl_progname, "mailq") == 0 ? take_json(&argc, argv) : 0;
	while ((ch = getopt(argc, argv, "+C:c:hv")) != -1) {
		switch (ch) {
		case 'C':
		case 'c':
			path = optarg;
			break;
		case 'v':	/* mailq -v: accepted, nothing more to say */
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (path == NULL)
		path = getenv("FACTEUR_CONF");
	if (path == NULL || *path == '\0')
		path = CTL_DEFAULT_CONF;

	if (strcmp(ctl_progname, "mailq") == 0) {
		if (argc != 0)
			usage();
		conf = load_config(path);
		if (json)
			r = ctl_queue_list_json(conf) == 0 ? 0 : 1;
		else
			r = ctl_queue_list(conf) == 0 ? 0 : 1;
		config_free(conf);
		return r;
	}
	if (argc == 0)
		usage();
	if (strcmp(argv[0], "user") != 0 && strcmp(argv[0], "queue") != 0 &&
	    strcmp(argv[0], "status") != 0 && strcmp(argv[0], "config") != 0 &&
	    strcmp(argv[0], "log") != 0 && !is_queue_command(argv[0]))
		usage();
	conf = load_config(path);
	if (strcmp(argv[0], "user") == 0)
		r = ctl_user(conf, argc - 1, argv + 1);
	else if (strcmp(argv[0], "queue") == 0)
		r = cmd_queue(conf, argc - 1, argv + 1);
	else if (is_queue_command(argv[0]))
		r = cmd_queue(conf, argc, argv);
	else if (strcmp(argv[0], "status") == 0)
		r = cmd_status(conf, argc - 1, argv + 1);
	else if (strcmp(argv[0], "log") == 0)
		r = ctl_log(conf, argc - 1, argv + 1);
	else
		r = cmd_config(conf, argc - 1, argv + 1);
	config_free(conf);
	return r;
}
