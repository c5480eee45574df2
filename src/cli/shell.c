/* shell.c: the shell's grammar: verbs, types and fields from the schema, dispatch, prompt. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

const char *const cli_top_verbs[] = {"configure", "show", "delete", "help", "exit", "quit", NULL};
const char *const cli_mode_verbs[] = {"save", "cancel", "where", "exit",
				      "no",   "show",	"help",	 NULL};

struct cli_shell *cli_shell_new(const struct cli_backend *be, FILE *out, FILE *err,
				const char *tenant)
{
	struct cli_shell *sh = xcalloc(1, sizeof(*sh));

	sh->be = *be;
	sh->out = out;
	sh->err = err;
	sh->tenant = xstrdup(tenant ? tenant : "admin");
	return sh;
}

void cli_level_pop(struct cli_shell *sh)
{
	struct cli_level *L;

	if (sh->depth == 0)
		return;
	L = &sh->lv[--sh->depth];
	json_decref(L->obj);
	json_decref(L->orig);
	free(L->name);
	memset(L, 0, sizeof(*L));
	if (sh->depth == 0)
		sh->spoiled = false;
}

struct cli_level *cli_level_push(struct cli_shell *sh, const struct cfg_schema *s,
				 const struct cfg_field *f, json_t *obj, long index)
{
	struct cli_level *L = &sh->lv[sh->depth++];

	memset(L, 0, sizeof(*L));
	L->schema = s;
	L->field = f;
	L->obj = obj;
	L->index = index;
	return L;
}

void cli_shell_free(struct cli_shell *sh)
{
	if (!sh)
		return;
	while (sh->depth)
		cli_level_pop(sh);
	free(sh->tenant);
	free(sh);
}

int cli_error(struct cli_shell *sh, const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", sh->err);
	va_start(ap, fmt);
	vfprintf(sh->err, fmt, ap);
	va_end(ap);
	fputc('\n', sh->err);
	fflush(sh->err);
	sh->failed++;
	return -EINVAL;
}

int cli_fail(struct cli_shell *sh, int r, char *msg)
{
	cli_error(sh, "%s", msg ? msg : "unknown error");
	free(msg);
	return r < 0 ? r : -EINVAL;
}

char *cli_url_escape(const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(name) + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = 0;
	return out;
}

int cli_api(struct cli_shell *sh, const char *method, const char *path, const json_t *body,
	    json_t **ret_body, char **ret_err)
{
	json_t *ans = NULL;
	char *err = NULL;
	const char *msg;
	int st;

	st = sh->be.request(sh->be.ctx, method, path, sh->tenant, body, &ans, &err);
	if (st < 0) {
		*ret_err = err ? err : xasprintf("%s %s: %s", method, path, strerror(-st));
		return st;
	}
	free(err);
	if (st >= 200 && st < 300) {
		if (ret_body)
			*ret_body = ans;
		else
			json_decref(ans);
		return st;
	}
	msg = json_string_value(json_object_get(ans, "error"));
	*ret_err = msg ? xstrdup(msg) : xasprintf("HTTP status %d from %s %s", st, method, path);
	json_decref(ans);
	switch (st) {
	case 400:
		return -EINVAL;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	default:
		return -EIO;
	}
}

static bool in_list(const char *const *list, const char *w)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], w) == 0)
			return true;
	return false;
}

int cli_word_match(const char *word, const char *const *verbs, const struct cfg_schema *s,
		   const char **ret_verb, const struct cfg_field **ret_field, char **ret_err)
{
	const char *verb = NULL;
	const struct cfg_field *field = NULL;
	size_t len = strlen(word), n = 0;

	if (verbs && in_list(verbs, word)) {
		*ret_verb = word;
		*ret_field = NULL;
		return 0;
	}
	if (s && cfg_field_find(s, word)) {
		*ret_verb = NULL;
		*ret_field = cfg_field_find(s, word);
		return 0;
	}
	/* An unambiguous prefix is as good as the whole word. */
	for (size_t i = 0; len && verbs && verbs[i]; i++)
		if (strncmp(verbs[i], word, len) == 0)
			verb = verbs[i], n++;
	for (size_t i = 0; len && s && i < s->nfields; i++)
		if (strncmp(s->fields[i].name, word, len) == 0)
			field = &s->fields[i], n++;
	if (n == 1) {
		*ret_verb = field ? NULL : verb;
		*ret_field = field;
		return 0;
	}
	if (n > 1) {
		*ret_err =
		    xasprintf("ambiguous word '%s'%s%s", word, s ? " in " : "", s ? s->name : "");
		return -EINVAL;
	}
	if (s)
		*ret_err = xasprintf("unknown field '%s' of %s (try help)", word, s->name);
	else
		*ret_err = xasprintf("unknown command '%s' (try help)", word);
	return -ENOENT;
}

const struct cfg_schema *cli_type_match(const char *word, char **ret_err)
{
	const struct cfg_schema *found = NULL;
	size_t n = 0, len = strlen(word);

	if (cfg_type_find(word))
		return cfg_type_find(word);
	for (size_t i = 0; len && cfg_types[i]; i++)
		if (strncmp(cfg_types[i]->name, word, len) == 0)
			found = cfg_types[i], n++;
	if (n == 1)
		return found;
	*ret_err = xasprintf("%s object type '%s' (one of: trafficcloneprofile, virtualservice, "
			     "pool, healthmonitor, sslkeyandcertificate)",
			     n ? "ambiguous" : "unknown", word);
	return NULL;
}

static const char *kind_text(const struct cfg_field *f)
{
	static const char *const names[] = {
	    [CFG_STRING] = "text",	  [CFG_BOOL] = "bool",
	    [CFG_UINT] = "integer",	  [CFG_ENUM] = "one of",
	    [CFG_ENUMLIST] = "list of",
	    [CFG_IPADDR] = "IP address (a.b.c.d or x::y)",
	    [CFG_PREFIX] = "a.b.c.d/len or x::y/len", [CFG_MAC] = "MAC xx:xx:xx:xx:xx:xx",
	    [CFG_IFNAME] = "interface",	  [CFG_REF] = "name of a",
	    [CFG_REFLIST] = "names of",	  [CFG_PEM] = "PEM text or @file",
	    [CFG_OBJLIST] = "sub-mode",	  [CFG_OBJECT] = "sub-mode",
	};
	return names[f->kind];
}

static int cmd_help(struct cli_shell *sh, int argc, char **argv)
{
	FILE *o = sh->out;

	if (sh->depth == 0) {
		fputs("configure <type> <name>   create or edit an object (enters its mode)\n"
		      "show <type>               table of all objects of a type\n"
		      "show <type> <name>        fields of one object\n"
		      "show virtualservice <name> traffic_clone_stats [detail]\n"
		      "show virtualservice <name> runtime\n"
		      "delete <type> <name>      delete an object\n"
		      "exit, quit                leave the shell\n"
		      "types:",
		      o);
		for (size_t i = 0; cfg_types[i]; i++)
			fprintf(o, " %s", cfg_types[i]->name);
		fputc('\n', o);
		return 0;
	}
	const struct cfg_schema *s = sh->lv[sh->depth - 1].schema;
	fprintf(o, "%s: %s\n", s->name, s->help);
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		char extra[256] = "";
		if (f->enums)
			for (size_t j = 0; f->enums[j]; j++)
				snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
					 "%s%s", j ? "|" : " ", f->enums[j]);
		if (f->ref_type)
			snprintf(extra, sizeof(extra), " %s", f->ref_type);
		if (f->kind == CFG_UINT)
			snprintf(extra, sizeof(extra), " %lld..%lld", f->min, f->max);
		fprintf(o, "  %-28s %s%s%s%s: %s\n", f->name, kind_text(f), extra,
			f->flags & CFG_F_REQUIRED ? ", required" : "",
			f->flags & CFG_F_KEY ? ", key" : "", f->help);
	}
	fputs("save (commit this level), cancel (drop it), where (fields entered), exit,\n"
	      "no <field> (clear; bool: false), no <list> <key> (remove an element), show ...\n",
	      o);
	(void)argc;
	(void)argv;
	return 0;
}

static int cmd_configure(struct cli_shell *sh, int argc, char **argv)
{
	const struct cfg_schema *s;
	struct cli_level *L;
	char *err = NULL, *tname, *key, *path;
	json_t *obj = NULL;
	int r;

	if (sh->depth > 0)
		return cli_error(sh, "configure: save or cancel %s first", sh->lv[0].schema->name);
	if (argc != 3)
		return cli_error(sh, "configure: expected 'configure <type> <name>'");
	s = cli_type_match(argv[1], &err);
	if (!s)
		return cli_fail(sh, -EINVAL, err);
	tname = cli_url_escape(s->name);
	key = cli_url_escape(argv[2]);
	path = xasprintf("/api/%s/%s?include_name", tname, key);
	free(tname);
	free(key);
	r = cli_api(sh, "GET", path, NULL, &obj, &err);
	free(path);
	/* The mode edits references by name, as they are typed. */
	if (r >= 0)
		cli_refs_to_names(s, obj, true);
	if (r < 0 && r != -ENOENT) {
		cli_fail(sh, r, err);
		err = NULL;
		if (!sh->batch)
			return r;
		/* A script's block still needs its mode, so that its lines parse;
		 * it will not be saved. */
		obj = NULL;
	}
	free(err);
	L = cli_level_push(sh, s, NULL, json_object(), -1);
	L->name = xstrdup(argv[2]);
	if (r >= 0 && json_is_object(obj)) {
		const char *k;
		json_t *v;
		json_object_foreach(obj, k, v) if (!cfg_is_meta_field(k))
		    json_object_set_new(L->obj, k, json_deep_copy(v));
		free(L->name);
		L->name = xstrdup(json_string_value(json_object_get(obj, "name"))
				      ? json_string_value(json_object_get(obj, "name"))
				      : argv[2]);
		L->orig = obj;
	} else {
		json_decref(obj);
	}
	if (r == -ENOENT)
		return 0; /* a new object */
	if (r < 0)
		sh->spoiled = true;
	return r < 0 ? r : 0;
}

static int exec_top(struct cli_shell *sh, int argc, char **argv)
{
	const char *verb;
	const struct cfg_field *f;
	char *err = NULL;

	if (cli_word_match(argv[0], cli_top_verbs, NULL, &verb, &f, &err) < 0)
		return cli_fail(sh, -EINVAL, err);
	if (!strcmp(verb, "configure"))
		return cmd_configure(sh, argc, argv);
	if (!strcmp(verb, "show"))
		return cli_cmd_show(sh, argc, argv);
	if (!strcmp(verb, "delete"))
		return cli_cmd_delete(sh, argc, argv);
	if (!strcmp(verb, "help"))
		return cmd_help(sh, argc, argv);
	sh->quit = true; /* exit, quit */
	return 0;
}

static int exec_mode(struct cli_shell *sh, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	const char *verb;
	const struct cfg_field *f;
	char *err = NULL;

	if (!strcmp(argv[0], "configure"))
		return cmd_configure(sh, argc, argv);
	if (cli_word_match(argv[0], cli_mode_verbs, L->schema, &verb, &f, &err) < 0)
		return cli_fail(sh, -EINVAL, err);
	if (f)
		return cli_mode_set(sh, f, argc, argv);
	if (argc > 1 && strcmp(verb, "no") && strcmp(verb, "show") && strcmp(verb, "help"))
		return cli_error(sh, "%s: takes no argument, got '%s'", verb, argv[1]);
	if (!strcmp(verb, "save"))
		return cli_mode_save(sh);
	if (!strcmp(verb, "cancel")) {
		cli_level_pop(sh);
		return 0;
	}
	if (!strcmp(verb, "exit"))
		return cli_mode_exit(sh);
	if (!strcmp(verb, "where"))
		return cli_mode_where(sh);
	if (!strcmp(verb, "no"))
		return cli_mode_no(sh, argc, argv);
	if (!strcmp(verb, "show"))
		return cli_cmd_show(sh, argc, argv);
	return cmd_help(sh, argc, argv);
}

int cli_shell_exec(struct cli_shell *sh, const char *line)
{
	char **argv = NULL, *err = NULL;
	int argc, r;

	if (cli_lex(line, false, &argv, &argc, NULL, &err) < 0) {
		r = cli_fail(sh, -EINVAL, err);
	} else if (argc == 0) {
		r = 0;
	} else {
		r = sh->depth ? exec_mode(sh, argc, argv) : exec_top(sh, argc, argv);
	}
	if (r < 0 && sh->batch && sh->depth > 0)
		sh->spoiled = true;
	cli_argv_free(argv);
	fflush(sh->out);
	return r;
}

int cli_shell_finish(struct cli_shell *sh)
{
	bool unsaved = sh->depth > 0 && (!sh->lv[0].orig || sh->spoiled);

	for (int i = 0; i < sh->depth; i++)
		unsaved = unsaved || sh->lv[i].dirty;
	if (unsaved) {
		fprintf(sh->err, "Warning: %s %s not saved (end of input): changes dropped\n",
			sh->lv[0].schema->name, sh->lv[0].name);
		fflush(sh->err);
		sh->failed++;
	}
	while (sh->depth)
		cli_level_pop(sh);
	return unsaved ? -ECANCELED : 0;
}

char *cli_shell_prompt(const struct cli_shell *sh)
{
	char *mode = xstrdup(""), *p;

	for (int i = 0; i < sh->depth; i++) {
		const char *n = i ? sh->lv[i].field->name : sh->lv[i].schema->name;
		p = xasprintf("%s%s%s", mode, i ? ":" : "", n);
		free(mode);
		mode = p;
	}
	p = xasprintf("[%s:clonelb]: %s> ", sh->tenant, mode);
	free(mode);
	return p;
}
