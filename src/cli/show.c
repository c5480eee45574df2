/* show.c: the shell's show and delete commands, and the field table of an object. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static const char *const vs_views[] = {"traffic_clone_stats", "runtime", NULL};

/* Rows of field @f with value @v (never secret: the API does not return those). */
static void add_field_rows(struct cli_table *t, int indent, const struct cfg_field *f,
			   const json_t *v)
{
	char *text;

	if (!v || json_is_null(v))
		return;
	if (f->kind == CFG_OBJECT && json_is_object(v)) {
		cli_table_add_fv(t, indent, f->name, "");
		for (size_t k = 0; k < f->sub->nfields; k++)
			add_field_rows(t, indent + 1, &f->sub->fields[k],
				       json_object_get(v, f->sub->fields[k].name));
		return;
	}
	if ((f->kind == CFG_OBJLIST || cfg_kind_is_scalar_list(f->kind)) && json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			char *name = xasprintf("%s[%zu]", f->name, i + 1);
			if (f->kind == CFG_OBJLIST && json_is_object(e)) {
				cli_table_add_fv(t, indent, name, "");
				for (size_t k = 0; k < f->sub->nfields; k++)
					add_field_rows(t, indent + 1, &f->sub->fields[k],
						       json_object_get(e, f->sub->fields[k].name));
			} else {
				text = cfg_value_format(f, e);
				cli_table_add_fv(t, indent, name, text);
				free(text);
			}
			free(name);
		}
		return;
	}
	text = cfg_value_format(f, v);
	cli_table_add_fv(t, indent, f->name, text);
	free(text);
}

void cli_print_object(struct cli_shell *sh, const struct cfg_schema *s, const json_t *obj, bool top)
{
	static const char *const hdr[] = {"Field", "Value"};
	struct cli_table *t = cli_table_new(2, hdr);
	const char *k;
	json_t *v;

	if (top) {
		cli_table_add_json(t, 0, "name", json_object_get(obj, "name"));
		if (json_object_get(obj, "uuid"))
			cli_table_add_json(t, 0, "uuid", json_object_get(obj, "uuid"));
	}
	for (size_t i = 0; i < s->nfields; i++)
		add_field_rows(t, 0, &s->fields[i], json_object_get(obj, s->fields[i].name));
	/* Whatever the schema does not know is shown too, never hidden. */
	json_object_foreach((json_t *)obj, k, v)
	{
		if (cfg_field_find(s, k) || !strcmp(k, "name") || !strcmp(k, "uuid") ||
		    !strcmp(k, "tenant_ref") || !strcmp(k, "_last_modified"))
			continue;
		cli_table_add_json(t, 0, k, v);
	}
	if (top && json_object_get(obj, "tenant_ref"))
		cli_table_add_json(t, 0, "tenant_ref", json_object_get(obj, "tenant_ref"));
	cli_table_print(t, sh->out);
	cli_table_free(t);
}

static void print_json(struct cli_shell *sh, const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	fprintf(sh->out, "%s\n", s ? s : "null");
	free(s);
}

/* "show <type>": Name and UUID of every object of the type. */
static void print_list(struct cli_shell *sh, const json_t *ans)
{
	static const char *const hdr[] = {"Name", "UUID"};
	struct cli_table *t = cli_table_new(2, hdr);
	json_t *results = json_object_get(ans, "results"), *o;
	size_t i;

	json_array_foreach(results, i, o)
	{
		const char *row[2] = {json_string_value(json_object_get(o, "name")),
				      json_string_value(json_object_get(o, "uuid"))};
		cli_table_add(t, row);
	}
	cli_table_print(t, sh->out);
	cli_table_free(t);
}

/* A view of a virtual service: one Field/Value table per entry of a list. */
static void print_view(struct cli_shell *sh, const json_t *ans)
{
	static const char *const hdr[] = {"Field", "Value"};
	size_t i;
	json_t *e;

	if (!json_is_array(ans)) {
		struct cli_table *t = cli_table_new(2, hdr);
		cli_table_add_json(t, 0, NULL, ans);
		cli_table_print(t, sh->out);
		cli_table_free(t);
		return;
	}
	if (json_array_size(ans) == 0)
		fputs("No entries\n", sh->out);
	json_array_foreach(ans, i, e)
	{
		struct cli_table *t = cli_table_new(2, hdr);
		cli_table_add_json(t, 0, NULL, e);
		cli_table_print(t, sh->out);
		cli_table_free(t);
	}
}

/* "show serviceengine": the SEs of the group's store, one row each. */
static int show_serviceengines(struct cli_shell *sh, bool json)
{
	static const char *const hdr[] = {"Name", "UUID", "SE group", "State"};
	struct cli_table *t;
	json_t *ans = NULL, *e;
	char *err = NULL;
	size_t i;

	if (cli_api(sh, "GET", "/api/serviceengine", NULL, &ans, &err) < 0) {
		cli_error(sh, "%s", err);
		free(err);
		return -EIO;
	}
	if (json) {
		print_json(sh, ans);
		json_decref(ans);
		return 0;
	}
	t = cli_table_new(4, hdr);
	json_array_foreach(json_object_get(ans, "results"), i, e)
	{
		const char *row[4] = {
			json_string_value(json_object_get(e, "name")),
			json_string_value(json_object_get(e, "uuid")),
			json_string_value(json_object_get(e, "se_group_ref")),
			json_string_value(json_object_get(json_object_get(e, "oper_status"), "state"))};
		cli_table_add(t, row);
	}
	cli_table_print(t, sh->out);
	cli_table_free(t);
	json_decref(ans);
	return 0;
}

int cli_cmd_show(struct cli_shell *sh, int argc, char **argv)
{
	const struct cfg_schema *s;
	char *err = NULL, *path, *tname, *key = NULL;
	const char *view = NULL;
	bool json = sh->json, detail = false;
	json_t *ans = NULL;
	int r;

	/* A trailing --json asks for JSON for this one command. */
	if (argc > 1 && !strcmp(argv[argc - 1], "--json")) {
		json = true;
		argc--;
	}
	if (argc < 2)
		return cli_error(sh, "show: expected 'show <type> [<name> [traffic_clone_stats "
				     "[detail] | runtime]]'");
	if (argc == 2 && strcmp(argv[1], "serviceengine") == 0)
		return show_serviceengines(sh, json);
	s = cli_type_match(argv[1], &err);
	if (!s) {
		cli_error(sh, "%s", err);
		free(err);
		return -EINVAL;
	}
	if (argc > 3) {
		const struct cfg_field *f;
		if (strcmp(s->name, "virtualservice") != 0)
			return cli_error(sh, "show %s: unexpected '%s' after the name", s->name,
					 argv[3]);
		if (cli_word_match(argv[3], vs_views, NULL, &view, &f, &err) < 0) {
			free(err);
			return cli_error(sh,
					 "show virtualservice: unknown view '%s' (one of: "
					 "traffic_clone_stats, runtime)",
					 argv[3]);
		}
		if (argc == 5 && !strcmp(view, "traffic_clone_stats") && !strcmp(argv[4], "detail"))
			detail = true;
		else if (argc > 4)
			return cli_error(sh, "show virtualservice %s %s: unexpected '%s'", argv[2],
					 view, argv[4]);
	}
	tname = cli_url_escape(s->name);
	if (argc > 2)
		key = cli_url_escape(argv[2]);
	if (view)
		path = xasprintf("/api/%s/%s/%s%s", tname, key, view, detail ? "?detail=1" : "");
	else if (key)
		path = xasprintf("/api/%s/%s", tname, key);
	else
		path = xasprintf("/api/%s", tname);
	free(tname);
	free(key);
	r = cli_api(sh, "GET", path, NULL, &ans, &err);
	free(path);
	if (r < 0) {
		cli_error(sh, "%s", err);
		free(err);
		return r;
	}
	if (json)
		print_json(sh, ans);
	else if (view)
		print_view(sh, ans);
	else if (argc > 2)
		cli_print_object(sh, s, ans, true);
	else
		print_list(sh, ans);
	json_decref(ans);
	return 0;
}

int cli_cmd_delete(struct cli_shell *sh, int argc, char **argv)
{
	const struct cfg_schema *s;
	char *err = NULL, *path, *tname, *key;
	int r;

	if (argc != 3)
		return cli_error(sh, "delete: expected 'delete <type> <name>'");
	s = cli_type_match(argv[1], &err);
	if (!s) {
		cli_error(sh, "%s", err);
		free(err);
		return -EINVAL;
	}
	tname = cli_url_escape(s->name);
	key = cli_url_escape(argv[2]);
	path = xasprintf("/api/%s/%s", tname, key);
	free(tname);
	free(key);
	r = cli_api(sh, "DELETE", path, NULL, NULL, &err);
	free(path);
	if (r < 0) {
		cli_error(sh, "%s", err);
		free(err);
		return r;
	}
	return 0;
}
