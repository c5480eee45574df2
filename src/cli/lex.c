/* lex.c: the shell's tokenizer: blanks, quotes, backslashes and comments. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct words {
	char **v;
	int n, cap;
};

static void words_push(struct words *w, const char *s, size_t len)
{
	if (w->n + 2 > w->cap) {
		w->cap = w->cap ? 2 * w->cap : 8;
		w->v = realloc(w->v, (size_t)w->cap * sizeof(*w->v));
		if (!w->v)
			abort();
	}
	w->v[w->n] = xmalloc(len + 1);
	memcpy(w->v[w->n], s, len);
	w->v[w->n][len] = 0;
	w->n++;
	w->v[w->n] = NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int cli_lex(const char *line, bool lenient, char ***ret_argv, int *ret_argc, bool *ret_open,
	    char **ret_err)
{
	struct words w = {0};
	size_t len = strlen(line);
	char *buf = xmalloc(len + 1); /* a word is never longer than the line */
	const char *p = line;
	bool open = false;

	for (;;) {
		size_t n = 0;
		char quote = 0;

		while (is_blank(*p))
			p++;
		if (!*p || *p == '#') {
			open = false;
			break;
		}
		/* Inside a word until an unquoted blank or the end. */
		while (*p && (quote || !is_blank(*p))) {
			char c = *p++;

			if (quote == '\'') {
				if (c == '\'')
					quote = 0;
				else
					buf[n++] = c;
			} else if (c == '\\') {
				/* A trailing backslash stands for itself. */
				if (*p)
					buf[n++] = *p++;
				else
					buf[n++] = c;
			} else if (quote == '"') {
				if (c == '"')
					quote = 0;
				else
					buf[n++] = c;
			} else if (c == '\'' || c == '"') {
				quote = c;
			} else {
				buf[n++] = c;
			}
		}
		if (quote && !lenient) {
			if (ret_err)
				*ret_err = xasprintf("unterminated %s quote in '%s'",
						     quote == '"' ? "double" : "single", line);
			free(buf);
			cli_argv_free(w.v);
			return -EINVAL;
		}
		words_push(&w, buf, n);
		if (!*p) {
			open = true;
			break;
		}
	}
	free(buf);
	if (!w.v) {
		w.v = xcalloc(1, sizeof(*w.v));
	}
	*ret_argv = w.v;
	*ret_argc = w.n;
	if (ret_open)
		*ret_open = open;
	return 0;
}

void cli_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}
