/* shell.c: the shell's grammar and configuration modes, driven by the schema table. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

const char *const cli_top_verbs[] = {"configure", "show", "delete", "help", "exit", "quit", NULL};
const char *const cli_mode_verbs[] = {"save", "cancel", "where", "exit", "no",
				      "show", "help", NULL};

static const char *const meta_fields[] = {CFG_META_FIELDS, NULL};

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

static void level_pop(struct cli_shell *sh)
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

static struct cli_level *level_push(struct cli_shell *sh, const struct cfg_schema *s,
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
		level_pop(sh);
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

/* Prints and frees @msg; returns @r. */
static int fail(struct cli_shell *sh, int r, char *msg)
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
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p)) {
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
		if (strncmp(verbs[i], word, len) == 0 && !(verb && !strcmp(verb, verbs[i])))
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
		*ret_err = xasprintf("ambiguous word '%s'%s%s", word, s ? " in " : "",
				     s ? s->name : "");
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

/* The list that lv[i] (a list element) belongs to, in its parent's working copy; may be NULL. */
static json_t *parent_list(struct cli_shell *sh, int i)
{
	return json_object_get(sh->lv[i - 1].obj, sh->lv[i].field->name);
}

/* "clone_servers[2]" for the current mode, "" at object level; caller frees. */
static char *level_path(struct cli_shell *sh)
{
	char *path = xstrdup("");

	for (int i = 1; i < sh->depth; i++) {
		struct cli_level *L = &sh->lv[i];
		long idx = L->index >= 0 ? L->index : (long)json_array_size(parent_list(sh, i));
		char *p = xasprintf("%s%s%s[%ld]", path, *path ? "." : "", L->field->name, idx + 1);
		free(path);
		path = p;
	}
	return path;
}

/* Fails with @msg prefixed by the current mode's path, so it names the element. */
static int fail_here(struct cli_shell *sh, char *msg)
{
	char *path = level_path(sh);

	if (*path) {
		char *m = xasprintf("%s.%s", path, msg);
		free(msg);
		msg = m;
	}
	free(path);
	return fail(sh, -EINVAL, msg);
}

/* "@prefix.@msg"; frees @msg. */
static char *prefixed(const char *prefix, char *msg)
{
	char *m = xasprintf("%s.%s", prefix, msg);

	free(msg);
	return m;
}

/* Index in list @arr of the element whose key field @key equals @kv, or -1. */
static long find_elem(json_t *arr, const struct cfg_field *key, const json_t *kv)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		json_t *x = key ? json_object_get(e, key->name) : e;
		if (x && json_equal(x, (json_t *)kv))
			return (long)i;
	}
	return -1;
}

/* Reads @path for a PEM field's "@file" value. */
static int read_file(const char *path, char **ret, char **ret_err)
{
	/* O_NONBLOCK: opening a FIFO must not hang the shell. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), r;
	struct stat st;
	size_t n = 0;
	char *buf;

	if (fd == -1) {
		r = -errno;
		*ret_err = xasprintf("cannot read '%s': %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		*ret_err = xasprintf("cannot read '%s': not a regular file", path);
		return -EINVAL;
	}
	buf = xmalloc(64 * 1024 + 2);
	for (;;) {
		ssize_t got = read(fd, buf + n, 64 * 1024 + 1 - n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			r = -errno;
			*ret_err = xasprintf("cannot read '%s': %s", path, strerror(errno));
			close(fd);
			free(buf);
			return r;
		}
		n += (size_t)got;
		if (got == 0 || n > 64 * 1024)
			break;
	}
	close(fd);
	if (n > 64 * 1024) {
		free(buf);
		*ret_err = xasprintf("'%s' is larger than 64 KiB", path);
		return -EFBIG;
	}
	buf[n] = 0;
	*ret = buf;
	return 0;
}

/* Joins argv[from..argc-1] with single blanks. */
static char *join(int argc, char **argv, int from)
{
	char *s = xstrdup("");

	for (int i = from; i < argc; i++) {
		char *n = xasprintf("%s%s%s", s, i > from ? " " : "", argv[i]);
		free(s);
		s = n;
	}
	return s;
}

/* "<list>" or "<list> <key>": opens a list element's mode. */
static int cmd_list_elem(struct cli_shell *sh, const struct cfg_field *f, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	const struct cfg_field *key = cfg_key_field(f->sub);
	json_t *list = json_object_get(L->obj, f->name), *kv = NULL;
	char *err = NULL;
	long idx;

	if (sh->depth >= CLI_MAX_DEPTH)
		return cli_error(sh, "%s: modes nested too deep", f->name);
	if (argc > 2)
		return cli_error(sh, "%s: expected '%s' or '%s <%s>', got '%s'", f->name, f->name,
				 f->name, key ? key->name : "key", argv[2]);
	if (argc == 1) {
		level_push(sh, f->sub, f, json_object(), -1);
		fputs("New object being created\n", sh->out);
		return 0;
	}
	if (!key)
		return cli_error(sh, "%s: elements have no key field; enter '%s' alone", f->name,
				 f->name);
	if (cfg_value_parse(key, argv[1], &kv, &err) < 0)
		return fail_here(sh, prefixed(f->name, err));
	idx = find_elem(list, key, kv);
	if (idx >= 0) {
		json_decref(kv);
		level_push(sh, f->sub, f, json_deep_copy(json_array_get(list, (size_t)idx)), idx);
		return 0;
	}
	L = level_push(sh, f->sub, f, json_object(), -1);
	json_object_set_new(L->obj, key->name, kv);
	L->dirty = true;
	fputs("New object being created\n", sh->out);
	return 0;
}

/* "<field> <value>": sets a field of the current mode. */
static int cmd_set(struct cli_shell *sh, const struct cfg_field *f, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	json_t *v = NULL, *cur = json_object_get(L->obj, f->name);
	char *text = NULL, *err = NULL;
	int r;

	if (f->kind == CFG_OBJLIST)
		return cmd_list_elem(sh, f, argc, argv);
	if (argc == 1 && f->kind != CFG_BOOL)
		return cli_error(sh, "%s: expected a value (%s)", f->name, f->help);
	if (cfg_kind_is_scalar_list(f->kind)) {
		/* Each value appends; one bad value and nothing is appended. */
		json_t *add = json_array();
		for (int i = 1; i < argc; i++) {
			if (cfg_value_parse(f, argv[i], &v, &err) < 0) {
				json_decref(add);
				return fail_here(sh, err);
			}
			if (find_elem(cur, NULL, v) >= 0 || find_elem(add, NULL, v) >= 0) {
				fprintf(sh->out, "%s: %s is already in the list\n", f->name, argv[i]);
				json_decref(v);
				continue;
			}
			json_array_append_new(add, v);
		}
		if (!json_is_array(cur)) {
			cur = json_array();
			json_object_set_new(L->obj, f->name, cur);
		}
		json_array_extend(cur, add);
		json_decref(add);
		L->dirty = true;
		return 0;
	}
	if (f->kind == CFG_STRING) {
		text = join(argc, argv, 1);
	} else if (argc > 2) {
		text = join(argc, argv, 1);
		r = cli_error(sh, "%s: expected one value, got '%s'", f->name, text);
		free(text);
		return r;
	} else if (f->kind == CFG_PEM && argv[1][0] == '@') {
		r = read_file(argv[1] + 1, &text, &err);
		if (r < 0) {
			char *m = xasprintf("%s: %s", f->name, err);
			free(err);
			return fail_here(sh, m);
		}
	} else {
		text = xstrdup(argc == 1 ? "true" : argv[1]);
	}
	r = cfg_value_parse(f, text, &v, &err);
	free(text);
	if (r < 0)
		return fail_here(sh, err);
	if (cur && !json_is_null(cur))
		fprintf(sh->out, "Overwriting the previously entered value for %s\n", f->name);
	json_object_set_new(L->obj, f->name, v);
	L->dirty = true;
	return 0;
}

/* "no <field> [<key or value>...]": clears a field, sets a bool false, removes elements. */
static int cmd_no(struct cli_shell *sh, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	const struct cfg_field *f;
	const char *verb;
	char *err = NULL;
	json_t *list, *kv;

	if (argc < 2)
		return cli_error(sh, "no: expected a field name (try help)");
	if (cli_word_match(argv[1], NULL, L->schema, &verb, &f, &err) < 0)
		return fail(sh, -EINVAL, err);
	list = json_object_get(L->obj, f->name);
	if (argc == 2) {
		if (f->kind == CFG_BOOL)
			json_object_set_new(L->obj, f->name, json_false());
		else
			json_object_del(L->obj, f->name);
		L->dirty = true;
		return 0;
	}
	if (f->kind != CFG_OBJLIST && !cfg_kind_is_scalar_list(f->kind))
		return cli_error(sh, "%s: 'no %s' takes no value, got '%s'", f->name, f->name,
				 argv[2]);
	const struct cfg_field *key = f->kind == CFG_OBJLIST ? cfg_key_field(f->sub) : f;
	if (!key)
		return cli_error(sh, "%s: elements have no key field; use 'no %s' to clear it",
				 f->name, f->name);
	/* Check every value first so that a bad one removes nothing. */
	long idx[argc];
	for (int i = 2; i < argc; i++) {
		if (cfg_value_parse(key, argv[i], &kv, &err) < 0)
			return fail_here(sh, f->kind == CFG_OBJLIST ? prefixed(f->name, err) : err);
		idx[i] = find_elem(list, f->kind == CFG_OBJLIST ? key : NULL, kv);
		json_decref(kv);
		if (idx[i] < 0)
			return cli_error(sh, "%s: no entry %s", f->name, argv[i]);
	}
	/* Remove from the end so earlier positions stay valid. */
	for (long pos = (long)json_array_size(list) - 1; pos >= 0; pos--)
		for (int i = 2; i < argc; i++)
			if (idx[i] == pos) {
				json_array_remove(list, (size_t)pos);
				break;
			}
	L->dirty = true;
	return 0;
}

/* Fields of @obj (an object level's working copy) that differ from @orig, null for cleared ones. */
static json_t *object_diff(const struct cfg_schema *s, json_t *obj, json_t *orig)
{
	json_t *d = json_object();

	for (size_t i = 0; i < s->nfields; i++) {
		const char *n = s->fields[i].name;
		json_t *w = json_object_get(obj, n), *o = json_object_get(orig, n);

		if (w && (!o || !json_equal(w, o)))
			json_object_set(d, n, w);
		else if (!w && o)
			json_object_set_new(d, n, json_null());
	}
	return d;
}

/* Saves an element into its parent's list. */
static int save_elem(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[sh->depth - 1], *P = &sh->lv[sh->depth - 2];
	const struct cfg_field *f = L->field, *key = cfg_key_field(L->schema);
	json_t *list = json_object_get(P->obj, f->name), *check;
	char *path = level_path(sh), *err = NULL;
	int r;

	check = json_deep_copy(L->obj);
	r = cfg_check_object(L->schema, check, false, path, &err);
	json_decref(check);
	if (r < 0) {
		free(path);
		return fail(sh, r, err);
	}
	free(path);
	if (key) {
		long other = find_elem(list, key, json_object_get(L->obj, key->name));
		if (other >= 0 && other != L->index) {
			char *shown = cfg_value_format(key, json_object_get(L->obj, key->name));
			cli_error(sh, "%s: duplicate entry %s", f->name, shown);
			free(shown);
			return -EEXIST;
		}
	}
	if (L->index < 0 && f->max && json_array_size(list) >= (size_t)f->max)
		return cli_error(sh, "%s: %zu entries, at most %lld allowed", f->name,
				 json_array_size(list) + 1, f->max);
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(P->obj, f->name, list);
	}
	if (L->index >= 0)
		json_array_set(list, (size_t)L->index, L->obj);
	else
		json_array_append(list, L->obj);
	P->dirty = true;
	level_pop(sh);
	return 0;
}

/* Commits the object through the API: POST when new, PATCH of the changed fields otherwise. */
static int save_object(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[0];
	char *err = NULL, *tname = NULL, *path;
	json_t *body;
	int r;

	if (sh->spoiled) {
		cli_error(sh, "%s %s not saved: an earlier command of this configure block failed",
			  L->schema->name, L->name);
		level_pop(sh);
		return -ECANCELED;
	}
	tname = cli_url_escape(L->schema->name);
	if (!L->orig) {
		body = json_deep_copy(L->obj);
		json_object_set_new(body, "name", json_string(L->name));
		path = xasprintf("/api/%s", tname);
		r = cli_api(sh, "POST", path, body, NULL, &err);
	} else {
		const char *uuid = json_string_value(json_object_get(L->orig, "uuid"));
		char *key = cli_url_escape(uuid ? uuid : L->name);
		body = object_diff(L->schema, L->obj, L->orig);
		path = xasprintf("/api/%s/%s", tname, key);
		free(key);
		r = json_object_size(body) ? cli_api(sh, "PATCH", path, body, NULL, &err) : 0;
	}
	json_decref(body);
	free(path);
	free(tname);
	if (r < 0) {
		fail(sh, r, err);
		/* A script goes on at the top level, as its next lines expect. */
		if (sh->batch)
			level_pop(sh);
		return r;
	}
	level_pop(sh);
	return 0;
}

static int cmd_save(struct cli_shell *sh)
{
	int r = sh->depth > 1 ? save_elem(sh) : save_object(sh);

	/* In a script the block is spoiled anyway; leaving the mode keeps the
	 * following lines in the mode they were written for. */
	if (r < 0 && sh->batch && sh->depth > 1) {
		sh->spoiled = true;
		level_pop(sh);
	}
	return r;
}

static int cmd_exit(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];

	if (L->dirty) {
		char *path = level_path(sh);
		fprintf(sh->err, "Warning: unsaved changes to %s%s%s dropped (save keeps them)\n",
			sh->depth > 1 ? path : L->schema->name, sh->depth > 1 ? "" : " ",
			sh->depth > 1 ? "" : L->name);
		free(path);
	}
	level_pop(sh);
	return 0;
}

/* Prints the fields entered so far at the current level. */
static int cmd_where(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	json_t *o = json_deep_copy(L->obj);

	if (sh->depth == 1) {
		json_object_set_new(o, "name", json_string(L->name));
		if (L->orig)
			json_object_set(o, "uuid", json_object_get(L->orig, "uuid"));
	}
	fprintf(sh->out, "%s %s%s\n", sh->depth == 1 ? L->schema->name : "in",
		sh->depth == 1 ? L->name : "", L->dirty ? " (unsaved changes)" : "");
	cli_print_object(sh, L->schema, o, sh->depth == 1);
	json_decref(o);
	return 0;
}

static const char *kind_text(const struct cfg_field *f)
{
	static const char *const names[] = {
		[CFG_STRING] = "text",        [CFG_BOOL] = "bool",
		[CFG_UINT] = "integer",       [CFG_ENUM] = "one of",
		[CFG_ENUMLIST] = "list of",   [CFG_IPADDR] = "IPv4 address",
		[CFG_PREFIX] = "a.b.c.d/len", [CFG_MAC] = "MAC xx:xx:xx:xx:xx:xx",
		[CFG_IFNAME] = "interface",   [CFG_REF] = "name of a",
		[CFG_REFLIST] = "names of",   [CFG_PEM] = "PEM text or @file",
		[CFG_OBJLIST] = "sub-mode",
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
				snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%s",
					 j ? "|" : " ", f->enums[j]);
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
		return fail(sh, -EINVAL, err);
	tname = cli_url_escape(s->name);
	key = cli_url_escape(argv[2]);
	path = xasprintf("/api/%s/%s", tname, key);
	free(tname);
	free(key);
	r = cli_api(sh, "GET", path, NULL, &obj, &err);
	free(path);
	if (r < 0 && r != -ENOENT) {
		fail(sh, r, err);
		err = NULL;
		if (!sh->batch)
			return r;
		/* A script's block still needs its mode, so that its lines parse;
		 * it will not be saved. */
		obj = NULL;
	}
	free(err);
	L = level_push(sh, s, NULL, json_object(), -1);
	L->name = xstrdup(argv[2]);
	if (r >= 0 && json_is_object(obj)) {
		const char *k;
		json_t *v;
		json_object_foreach(obj, k, v)
			if (!in_list(meta_fields, k))
				json_object_set_new(L->obj, k, json_deep_copy(v));
		free(L->name);
		L->name = xstrdup(json_string_value(json_object_get(obj, "name"))
					  ? json_string_value(json_object_get(obj, "name"))
					  : argv[2]);
		L->orig = obj;
	} else {
		json_decref(obj);
	}
	if (r < 0 && r != -ENOENT)
		sh->spoiled = true;
	return r == -ENOENT ? 0 : r < 0 ? r : 0;
}

static int exec_top(struct cli_shell *sh, int argc, char **argv)
{
	const char *verb;
	const struct cfg_field *f;
	char *err = NULL;

	if (cli_word_match(argv[0], cli_top_verbs, NULL, &verb, &f, &err) < 0)
		return fail(sh, -EINVAL, err);
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
		return fail(sh, -EINVAL, err);
	if (f)
		return cmd_set(sh, f, argc, argv);
	if (argc > 1 && strcmp(verb, "no") && strcmp(verb, "show") && strcmp(verb, "help"))
		return cli_error(sh, "%s: takes no argument, got '%s'", verb, argv[1]);
	if (!strcmp(verb, "save"))
		return cmd_save(sh);
	if (!strcmp(verb, "cancel")) {
		level_pop(sh);
		return 0;
	}
	if (!strcmp(verb, "exit"))
		return cmd_exit(sh);
	if (!strcmp(verb, "where"))
		return cmd_where(sh);
	if (!strcmp(verb, "no"))
		return cmd_no(sh, argc, argv);
	if (!strcmp(verb, "show"))
		return cli_cmd_show(sh, argc, argv);
	return cmd_help(sh, argc, argv);
}

int cli_shell_exec(struct cli_shell *sh, const char *line)
{
	char **argv = NULL, *err = NULL;
	int argc, r;

	if (cli_lex(line, false, &argv, &argc, NULL, &err) < 0) {
		r = fail(sh, -EINVAL, err);
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
	if (sh->depth == 0)
		return 0;
	fprintf(sh->err, "Warning: %s %s not saved (end of input): changes dropped\n",
		sh->lv[0].schema->name, sh->lv[0].name);
	fflush(sh->err);
	while (sh->depth)
		level_pop(sh);
	sh->failed++;
	return -ECANCELED;
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
