/* table.c: the shell's +---+ tables, and the Field/Value rows of any JSON value. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct cli_table {
	int ncols;
	char **cells; /* nrows * ncols, row 0 is the header */
	size_t nrows, cap;
};

struct cli_table *cli_table_new(int ncols, const char *const *headers)
{
	struct cli_table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	cli_table_add(t, headers);
	return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cells = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(*t->cells));
		if (!t->cells)
			abort();
	}
	for (int c = 0; c < t->ncols; c++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] =
		    xstrdup(cells[c] ? cells[c] : "");
	t->nrows++;
}

void cli_table_add_fv(struct cli_table *t, int indent, const char *field, const char *value)
{
	char *f = xasprintf("%*s%s", 2 * indent, "", field);
	const char *cells[2] = {f, value};

	cli_table_add(t, cells);
	free(f);
}

/* Width of the widest line of @s. */
static size_t cell_width(const char *s)
{
	size_t w = 0;

	while (*s) {
		size_t n = strcspn(s, "\n");
		if (n > w)
			w = n;
		s += n;
		if (*s)
			s++;
	}
	return w;
}

static void print_rule(const size_t *w, int ncols, FILE *out)
{
	for (int c = 0; c < ncols; c++) {
		fputc('+', out);
		for (size_t i = 0; i < w[c] + 2; i++)
			fputc('-', out);
	}
	fputs("+\n", out);
}

/* Prints one row; cells with several lines continue on the rows below. */
static void print_row(char *const *cells, const size_t *w, int ncols, FILE *out)
{
	const char *pos[ncols];
	bool more = true;

	for (int c = 0; c < ncols; c++)
		pos[c] = cells[c];
	while (more) {
		more = false;
		for (int c = 0; c < ncols; c++) {
			size_t n = strcspn(pos[c], "\n");
			fprintf(out, "| %-*.*s ", (int)w[c], (int)n, pos[c]);
			pos[c] += n;
			if (*pos[c])
				pos[c]++;
			if (*pos[c])
				more = true;
		}
		fputs("|\n", out);
	}
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
	size_t w[t->ncols];

	for (int c = 0; c < t->ncols; c++) {
		w[c] = 0;
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = cell_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	print_rule(w, t->ncols, out);
	for (size_t r = 0; r < t->nrows; r++) {
		print_row(&t->cells[r * (size_t)t->ncols], w, t->ncols, out);
		if (r == 0)
			print_rule(w, t->ncols, out);
	}
	print_rule(w, t->ncols, out);
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* "10.0.0.1" for {"addr", "type"}, "10.0.0.0/24" for {"ip_addr", "mask"}, else NULL. */
static char *address_text(const json_t *v)
{
	const json_t *addr = json_object_get(v, "addr");
	const json_t *ip = json_object_get(v, "ip_addr");

	if (json_is_string(addr) && json_object_size(v) <= 2)
		return xstrdup(json_string_value(addr));
	if (json_is_object(ip) && json_is_integer(json_object_get(v, "mask")) &&
	    json_object_size(v) == 2 && json_is_string(json_object_get(ip, "addr")))
		return xasprintf("%s/%lld", json_string_value(json_object_get(ip, "addr")),
				 (long long)json_integer_value(json_object_get(v, "mask")));
	return NULL;
}

void cli_table_add_json(struct cli_table *t, int indent, const char *name, const json_t *v)
{
	char *text;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		text = address_text(v);
		if (text) {
			cli_table_add_fv(t, indent, name, text);
			free(text);
			return;
		}
		if (name)
			cli_table_add_fv(t, indent, name, "");
		json_object_foreach((json_t *)v, k, x)
		    cli_table_add_json(t, name ? indent + 1 : indent, k, x);
		return;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;

		json_array_foreach(v, i, x)
		{
			char *sub = xasprintf("%s[%zu]", name ? name : "", i + 1);
			cli_table_add_json(t, indent, sub, x);
			free(sub);
		}
		return;
	}
	text = cfg_value_format(NULL, v);
	cli_table_add_fv(t, indent, name ? name : "", text);
	free(text);
}
