/* cli.h: what the command files share: flag parsing helpers and the commands. */
#ifndef HW_CLI_H
#define HW_CLI_H

#include "headwise.h"

/* Each command takes the arguments after its name and returns the exit status. */
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Print "headwise <cmd>: <message>" to stderr as one line; returns 1 (or 2 for usage). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse the value of flag argv[*i] (advancing *i); non-zero on error (already reported). */
int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out);
int cli_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, long *out);
int cli_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, double *out);

#endif
