/*
 * auth: what its files share beyond users.h, aliases.h and auth_login.h.
 */
#ifndef FACTEUR_AUTH_H
#define FACTEUR_AUTH_H

struct config;

/* the path to open for a file setting (relative in sandbox mode when the
   file sits beside users_file, our working directory then) */
const char	*auth_file_path(const struct config *, const char *setting);

#endif
