/*
 * facteurctl: the administrator's command. Reads facteur.conf (-c FILE,
 * else $FACTEUR_CONF, else SYSCONFDIR/facteur/facteur.conf) and runs one
 * command: users (ctl_user.c), the queue and the daemons' status through
 * facteurd's control socket (ctl_queue.c), the effective configuration.
 * Called as "mailq" it lists the queue, like Postfix's mailq.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "util.h"

#define CTL_DEFAULT_CONF	SYSCONFDIR "/facteur/facteur.conf"

const char	*ctl_progname = "facteurctl";

static void
usage(void)
{
	if (strcmp(ctl_progname, "mailq") == 0) {
		fprintf(stderr, "usage: mailq [-c config]\n");
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
	    "    queue [list]          list the mail queue (as mailq)\n"
	    "    queue flush [ID]      retry deferred mail now\n"
	    "    status                show the daemons\n"
	    "    config                print the effective configuration\n");
	exit(1);
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

static int
cmd_queue(const struct config *conf, int argc, char **argv)
{
	if (argc == 0 || strcmp(argv[0], "list") == 0) {
		if (argc > 1)
			usage();
		return ctl_queue_list(conf) == 0 ? 0 : 1;
	}
	if (strcmp(argv[0], "flush") == 0) {
		if (argc > 2)
			usage();
		return ctl_queue_flush(conf, argc == 2 ? argv[1] : NULL) == 0 ?
		    0 : 1;
	}
	usage();
	return 1;
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
	int		 ch, r;

	ctl_progname = strcmp(base_name(argv[0]), "mailq") == 0 ?
	    "mailq" : "facteurctl";
	log_init(ctl_progname, 0);
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
		r = ctl_queue_list(conf) == 0 ? 0 : 1;
		config_free(conf);
		return r;
	}
	if (argc == 0)
		usage();
	if (strcmp(argv[0], "user") != 0 && strcmp(argv[0], "queue") != 0 &&
	    strcmp(argv[0], "status") != 0 && strcmp(argv[0], "config") != 0)
		usage();
	conf = load_config(path);
	if (strcmp(argv[0], "user") == 0)
		r = ctl_user(conf, argc - 1, argv + 1);
	else if (strcmp(argv[0], "queue") == 0)
		r = cmd_queue(conf, argc - 1, argv + 1);
	else if (strcmp(argv[0], "status") == 0) {
		if (argc != 1)
			usage();
		r = ctl_status(conf) == 0 ? 0 : 1;
	} else
		r = cmd_config(conf, argc - 1, argv + 1);
	config_free(conf);
	return r;
}
