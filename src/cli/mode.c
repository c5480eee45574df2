/* mode.c: what the commands of a configuration mode do: set, no, save, exit, where. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

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
		char *p = L->field->kind == CFG_OBJECT
				  ? xasprintf("%s%s%s", path, *path ? "." : "", L->field->name)
				  : xasprintf("%s%s%s[%ld]", path, *path ? "." : "", L->field->name,
					      idx + 1);
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
	return cli_fail(sh, -EINVAL, msg);
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
		cli_level_push(sh, f->sub, f, json_object(), -1);
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
		cli_level_push(sh, f->sub, f, json_deep_copy(json_array_get(list, (size_t)idx)),
			       idx);
		return 0;
	}
	L = cli_level_push(sh, f->sub, f, json_object(), -1);
	json_object_set_new(L->obj, key->name, kv);
	L->dirty = true;
	fputs("New object being created\n", sh->out);
	return 0;
}

/*
 * "<object field>": opens the mode of a single sub-object (performance_limits).
 * "<object field> <field> <value>...": sets one field of it in one line
 * (http_monitor http_request GET / HTTP/1.1); "<object field> <value>" sets
 * its field of the same name (certificate @/etc/ssl/web.pem).
 */
static int cmd_object(struct cli_shell *sh, const struct cfg_field *f, int argc, char **argv)
{
	struct cli_level *P = &sh->lv[sh->depth - 1], *L;
	json_t *cur = json_object_get(P->obj, f->name);
	const struct cfg_field *sf = NULL;
	const char *verb;
	char *err = NULL;
	int r, skip = 1;

	if (sh->depth >= CLI_MAX_DEPTH)
		return cli_error(sh, "%s: modes nested too deep", f->name);
	if (argc > 1) {
		if (cli_word_match(argv[1], NULL, f->sub, &verb, &sf, &err) == 0) {
			skip = 2;
		} else if (cfg_field_find(f->sub, f->name)) {
			sf = cfg_field_find(f->sub, f->name);
		} else {
			return cli_fail(sh, -EINVAL, prefixed(f->name, err));
		}
		free(err);
		if (sf->kind == CFG_OBJECT || sf->kind == CFG_OBJLIST)
			return cli_error(sh, "%s.%s: enter '%s' and then '%s'", f->name, sf->name,
					 f->name, sf->name);
	}
	L = cli_level_push(sh, f->sub, f,
			   json_is_object(cur) ? json_deep_copy(cur) : json_object(), 0);
	if (!sf)
		return 0;
	r = cli_mode_set(sh, sf, argc - skip + 1, argv + skip - 1);
	if (r == 0 && sh->depth > 1 && &sh->lv[sh->depth - 1] == L) {
		json_object_set(P->obj, f->name, L->obj);
		P->dirty = true;
	}
	if (&sh->lv[sh->depth - 1] == L)
		cli_level_pop(sh);
	return r;
}

/* "<field> <value>": sets a field of the current mode. */
int cli_mode_set(struct cli_shell *sh, const struct cfg_field *f, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	json_t *v = NULL, *cur = json_object_get(L->obj, f->name);
	char *text = NULL, *err = NULL;
	int r;

	if (f->flags & CFG_F_READONLY)
		return cli_error(sh, "%s: set by clonelb (%s), not a setting", f->name, f->help);
	if (f->kind == CFG_OBJLIST)
		return cmd_list_elem(sh, f, argc, argv);
	if (f->kind == CFG_OBJECT)
		return cmd_object(sh, f, argc, argv);
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
				fprintf(sh->out, "%s: %s is already in the list\n", f->name,
					argv[i]);
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
int cli_mode_no(struct cli_shell *sh, int argc, char **argv)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	const struct cfg_field *f;
	const char *verb;
	char *err = NULL;
	json_t *list, *kv;

	if (argc < 2)
		return cli_error(sh, "no: expected a field name (try help)");
	if (cli_word_match(argv[1], NULL, L->schema, &verb, &f, &err) < 0)
		return cli_fail(sh, -EINVAL, err);
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
		return cli_fail(sh, r, err);
	}
	free(path);
	if (f->kind == CFG_OBJECT) {
		json_object_set(P->obj, f->name, L->obj);
		P->dirty = true;
		cli_level_pop(sh);
		return 0;
	}
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
	cli_level_pop(sh);
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
		cli_level_pop(sh);
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
		cli_fail(sh, r, err);
		/* A script goes on at the top level, as its next lines expect. */
		if (sh->batch)
			cli_level_pop(sh);
		return r;
	}
	cli_level_pop(sh);
	return 0;
}

/* "save" (see cli.h). */
int cli_mode_save(struct cli_shell *sh)
{
	int r = sh->depth > 1 ? save_elem(sh) : save_object(sh);

	/* In a script the block is spoiled anyway; leaving the mode keeps the
	 * following lines in the mode they were written for. */
	if (r < 0 && sh->batch && sh->depth > 1) {
		sh->spoiled = true;
		cli_level_pop(sh);
	}
	return r;
}

/* "exit" in a mode (see cli.h). */
int cli_mode_exit(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];

	if (L->dirty) {
		char *what =
		    sh->depth > 1 ? level_path(sh) : xasprintf("%s %s", L->schema->name, L->name);
		fprintf(sh->err, "Warning: unsaved changes to %s dropped (save keeps them)\n",
			what);
		free(what);
	}
	cli_level_pop(sh);
	return 0;
}

/* Prints the fields entered so far at the current level. */
int cli_mode_where(struct cli_shell *sh)
{
	struct cli_level *L = &sh->lv[sh->depth - 1];
	json_t *o = json_deep_copy(L->obj);

	if (sh->depth == 1) {
		json_object_set_new(o, "name", json_string(L->name));
		if (L->orig)
			json_object_set(o, "uuid", json_object_get(L->orig, "uuid"));
	}
	char *path = level_path(sh);
	bool is_new = sh->depth == 1 ? !sh->lv[0].orig : L->index < 0;
	fprintf(sh->out, "%s %s%s%s%s%s\n", sh->lv[0].schema->name, sh->lv[0].name,
		*path ? ": " : "", path, is_new ? " (new)" : "",
		L->dirty ? " (unsaved changes)" : "");
	free(path);
	cli_print_object(sh, L->schema, o, sh->depth == 1);
	json_decref(o);
	return 0;
}
