/* complete.c: Tab completion of verbs, types, fields, values and names (schema and API). */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct cands {
	char **v;
	int n, cap;
	const char *prefix;
	size_t plen;
};

static void add(struct cands *c, const char *w)
{
	if (!w || strncmp(w, c->prefix, c->plen) != 0)
		return;
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], w))
			return;
	if (c->n + 2 > c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = realloc(c->v, (size_t)c->cap * sizeof(*c->v));
		if (!c->v)
			abort();
	}
	c->v[c->n++] = xstrdup(w);
	c->v[c->n] = NULL;
}

static void add_list(struct cands *c, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		add(c, list[i]);
}

static void add_fields(struct cands *c, const struct cfg_schema *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		add(c, s->fields[i].name);
}

static void add_types(struct cands *c)
{
	for (size_t i = 0; cfg_types[i]; i++)
		add(c, cfg_types[i]->name);
}

/* Names of the existing objects of type @type, asked from the API; nothing on error. */
static void add_names(struct cli_shell *sh, struct cands *c, const char *type)
{
	char *t = cli_url_escape(type), *path = xasprintf("/api/%s", t), *err = NULL;
	json_t *ans = NULL, *o;
	size_t i;

	if (cli_api(sh, "GET", path, NULL, &ans, &err) >= 0) {
		json_array_foreach(json_object_get(ans, "results"), i, o)
		    add(c, json_string_value(json_object_get(o, "name")));
	}
	json_decref(ans);
	free(err);
	free(path);
	free(t);
}

/* The key of every element of list field @f, or every value of a scalar list. */
static void add_keys(struct cands *c, const struct cfg_field *f, const json_t *list)
{
	const struct cfg_field *key = f->kind == CFG_OBJLIST ? cfg_key_field(f->sub) : f;
	size_t i;
	json_t *e;

	if (!key)
		return;
	json_array_foreach(list, i, e)
	{
		char *s = cfg_value_format(
		    key, f->kind == CFG_OBJLIST ? json_object_get(e, key->name) : e);
		add(c, s);
		free(s);
	}
}

/* Values a field takes: booleans, enums, names of referenced objects, element keys. */
static void add_values(struct cli_shell *sh, struct cands *c, const struct cfg_field *f,
		       const json_t *cur)
{
	static const char *const bools[] = {"true", "false", NULL};

	switch (f->kind) {
	case CFG_BOOL:
		add_list(c, bools);
		break;
	case CFG_ENUM:
	case CFG_ENUMLIST:
		add_list(c, f->enums);
		break;
	case CFG_REF:
	case CFG_REFLIST:
		add_names(sh, c, f->ref_type);
		break;
	case CFG_OBJLIST:
		add_keys(c, f, cur);
		break;
	default:
		break;
	}
}

/* Completes word @k of a show/configure/delete command (@verb) whose earlier words are @w. */
static void complete_object_cmd(struct cli_shell *sh, struct cands *c, const char *verb, char **w,
				int k)
{
	const struct cfg_schema *s;
	char *err = NULL;

	if (k == 1) {
		add_types(c);
		return;
	}
	s = cli_type_match(w[1], &err);
	free(err);
	if (!s)
		return;
	if (k == 2) {
		add_names(sh, c, s->name);
	} else if (k == 3 && !strcmp(verb, "show") && !strcmp(s->name, "virtualservice")) {
		add(c, "traffic_clone_stats");
		add(c, "runtime");
	} else if (k == 4 && !strcmp(verb, "show") && !strcmp(w[3], "traffic_clone_stats")) {
		add(c, "detail");
	}
}

int cli_complete(struct cli_shell *sh, const char *line, char ***ret_words, size_t *ret_wordlen)
{
	struct cands c = {0};
	char **w = NULL;
	int argc = 0, k;
	bool open = false;
	const char *verb = NULL;
	const struct cfg_field *f = NULL;
	const struct cfg_schema *s = sh->depth ? sh->lv[sh->depth - 1].schema : NULL;
	const json_t *obj = sh->depth ? sh->lv[sh->depth - 1].obj : NULL;
	char *err = NULL;

	if (cli_lex(line, true, &w, &argc, &open, NULL) < 0) {
		w = xcalloc(1, sizeof(*w));
		argc = 0;
	}
	/* k: index of the word being completed; the words before it are complete. */
	k = open ? argc - 1 : argc;
	c.prefix = open ? w[argc - 1] : "";
	c.plen = strlen(c.prefix);
	c.v = xcalloc(1, sizeof(*c.v));
	if (k == 0) {
		add_list(&c, sh->depth ? cli_mode_verbs : cli_top_verbs);
		if (s)
			add_fields(&c, s);
		goto done;
	}
	if (cli_word_match(w[0], sh->depth ? cli_mode_verbs : cli_top_verbs, s, &verb, &f, &err) <
	    0) {
		free(err);
		/* configure is a top-level verb, but typing it in a mode names the problem. */
		if (strcmp(w[0], "configure") != 0)
			goto done;
		verb = "configure";
	}
	if (verb &&
	    (!strcmp(verb, "show") || !strcmp(verb, "configure") || !strcmp(verb, "delete"))) {
		complete_object_cmd(sh, &c, verb, w, k);
	} else if (verb && !strcmp(verb, "help") && k == 1) {
		add_list(&c, sh->depth ? cli_mode_verbs : cli_top_verbs);
		if (s)
			add_fields(&c, s);
	} else if (verb && !strcmp(verb, "no") && s) {
		const char *v2;
		if (k == 1) {
			add_fields(&c, s);
		} else if (cli_word_match(w[1], NULL, s, &v2, &f, &err) == 0) {
			if (f->kind == CFG_OBJLIST || cfg_kind_is_scalar_list(f->kind))
				add_keys(&c, f, json_object_get(obj, f->name));
		} else {
			free(err);
		}
	} else if (f && f->kind == CFG_OBJECT && f->sub) {
		/* "http_monitor <field> <value>": its fields, then that field's values. */
		const struct cfg_field *sf = NULL;
		const char *v2;
		if (k == 1)
			add_fields(&c, f->sub);
		else if (k == 2 && cli_word_match(w[1], NULL, f->sub, &v2, &sf, &err) == 0)
			add_values(sh, &c, sf, NULL);
		else
			free(err);
	} else if (f && k == 1) {
		add_values(sh, &c, f, json_object_get(obj, f->name));
	} else if (f && k >= 1 && cfg_kind_is_scalar_list(f->kind)) {
		add_values(sh, &c, f, NULL);
	}
done:
	*ret_wordlen = c.plen;
	cli_argv_free(w);
	*ret_words = c.v;
	return c.n;
}
