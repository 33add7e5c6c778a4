/*
 * A tiny test harness for the C unit tests: TAP lines on stdout.
 *
 *	CHECK(cond, "name %d", i);	"ok N - name" or
 *					"not ok N - name # file:line"
 *	CHECK_STR(got, want, "name");	string equality, shows both on failure
 *	CHECK_NUM(got, want, "name");	integer equality, shows both
 *	return t_done();		"1..N", "prog: N passed, N failed",
 *					exit status 1 if anything failed
 *
 * Names are printf formats so table-driven tests can number their rows.
 * Include it in exactly one file per test program.
 */
#ifndef FACTEUR_T_H
#define FACTEUR_T_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	t_count, t_failed;

extern char	*program_invocation_short_name;

static void t_report(int, const char *, int, const char *, ...)
    __attribute__((format(printf, 4, 5), unused));

static void
t_vreport(int ok, const char *file, int line, const char *fmt, va_list ap)
{
	t_count++;
	if (!ok)
		t_failed++;
	printf("%sok %d - ", ok ? "" : "not ", t_count);
	vprintf(fmt, ap);
	if (!ok)
		printf(" # %s:%d", file, line);
	printf("\n");
	fflush(stdout);
}

static void
t_report(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	t_vreport(ok, file, line, fmt, ap);
	va_end(ap);
}

/* prints a diagnostic line (TAP comment) */
#define T_NOTE(...)	do { printf("# "); printf(__VA_ARGS__); \
			printf("\n"); } while (0)

#define CHECK(cond, ...) \
	t_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_STR(got, want, ...) do {					\
	const char *t_g_ = (got), *t_w_ = (want);			\
	int t_ok_ = (t_g_ == NULL && t_w_ == NULL) ||			\
	    (t_g_ != NULL && t_w_ != NULL && strcmp(t_g_, t_w_) == 0);	\
	t_report(t_ok_, __FILE__, __LINE__, __VA_ARGS__);		\
	if (!t_ok_)							\
		T_NOTE("got \"%s\", want \"%s\"",			\
		    t_g_ ? t_g_ : "(null)", t_w_ ? t_w_ : "(null)");	\
} while (0)

#define CHECK_NUM(got, want, ...) do {					\
	long long t_g_ = (long long)(got), t_w_ = (long long)(want);	\
	t_report(t_g_ == t_w_, __FILE__, __LINE__, __VA_ARGS__);	\
	if (t_g_ != t_w_)						\
		T_NOTE("got %lld, want %lld", t_g_, t_w_);		\
} while (0)

static int __attribute__((unused))
t_done(void)
{
	printf("1..%d\n", t_count);
	printf("%s: %d passed, %d failed\n", program_invocation_short_name,
	    t_count - t_failed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
