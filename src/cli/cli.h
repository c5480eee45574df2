/* cli.h: the clonelb shell's modules: tokenizer, grammar, modes, completion, tables. */
#ifndef CLONELB_CLI_CLI_H
#define CLONELB_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "config/schema.h"

/* ---- tokenizer (lex.c) ---- */

/*
 * Splits @line into words: blanks separate words, single quotes keep text as
 * is, double quotes and backslashes escape, and '#' at the start of a word
 * begins a comment. With @lenient an unterminated quote closes at the end of
 * the line (completion works on half-typed lines); otherwise it is an error.
 * Returns 0 with *ret_argv (NULL-terminated, free with cli_argv_free()) and
 * *ret_argc, and, when @ret_open is not NULL, whether the line ends inside a
 * word (true) or after a blank (false). On error returns -EINVAL with
 * *ret_err set (caller frees) and touches nothing else.
 */
int cli_lex(const char *line, bool lenient, char ***ret_argv, int *ret_argc, bool *ret_open,
	    char **ret_err);

/* Frees a word list from cli_lex() or cli_complete(). Accepts NULL. */
void cli_argv_free(char **argv);

/* ---- the API, as the shell sees it ---- */

/*
 * One REST request. @path is already escaped ("/api/pool/web%20pool"), @body
 * is NULL or the JSON body, @tenant goes in X-Avi-Tenant. Returns the HTTP
 * status (>= 100) with *ret_body set to the decoded JSON answer (a new
 * reference, NULL when the answer is empty; a non-JSON answer arrives as
 * {"error": text}), or a negative errno with *ret_err (caller frees) when no
 * answer came.
 */
typedef int (*cli_request_fn)(void *ctx, const char *method, const char *path, const char *tenant,
			      const json_t *body, json_t **ret_body, char **ret_err);

struct cli_backend {
	cli_request_fn request;
	void *ctx;
};

/* ---- the shell: grammar (shell.c), modes (mode.c), show and delete (show.c) ---- */

#define CLI_MAX_DEPTH 8

/* One configuration mode: the object being configured or one of its list elements. */
struct cli_level {
	const struct cfg_schema *schema;
	const struct cfg_field
	    *field;   /* the CFG_OBJLIST field of the parent; NULL at object level */
	json_t *obj;  /* working copy, only the fields set so far */
	long index;   /* element position in the parent's list, -1 for a new one */
	json_t *orig; /* object level: the object as loaded, NULL when new */
	char *name;   /* object level: the object's name */
	bool dirty;   /* something changed at this level */
};

struct cli_shell {
	struct cli_backend be;
	FILE *out, *err;
	char *tenant;
	bool json;  /* show prints the API's JSON instead of tables */
	bool batch; /* -c/-f: an error inside a configure block spoils the block */
	int depth;  /* 0: top level; lv[0..depth-1] are the open modes */
	struct cli_level lv[CLI_MAX_DEPTH];
	bool spoiled;	 /* batch: a command of the open configure block failed */
	bool quit;	 /* "exit" at the top level */
	unsigned failed; /* commands that failed so far */
};

/*
 * Creates a shell that talks to the API through @be and writes output to
 * @out and errors to @err (neither is closed). @tenant NULL means "admin".
 * Release with cli_shell_free().
 */
struct cli_shell *cli_shell_new(const struct cli_backend *be, FILE *out, FILE *err,
				const char *tenant);

/* Frees the shell and every open mode. Accepts NULL. */
void cli_shell_free(struct cli_shell *sh);

/*
 * Runs one command line in the current mode. Returns 0 on success (an empty
 * or comment line succeeds), or a negative errno after printing "Error: ..."
 * to sh->err; sh->failed counts failures.
 */
int cli_shell_exec(struct cli_shell *sh, const char *line);

/*
 * End of input: leaves every open mode. Returns 0 when nothing was lost, or
 * -ECANCELED (counted as a failure, with a warning on sh->err) when a new
 * object or unsaved changes were dropped.
 */
int cli_shell_finish(struct cli_shell *sh);

/* The prompt for the current mode, "[admin:clonelb]: pool:servers> ". Caller frees. */
char *cli_shell_prompt(const struct cli_shell *sh);

/*
 * Sends one request and turns an error answer into a message: returns the
 * HTTP status (2xx) with *ret_body (may be NULL), or a negative errno with
 * *ret_err set to the API's own "error" text (or a transport message).
 */
int cli_api(struct cli_shell *sh, const char *method, const char *path, const json_t *body,
	    json_t **ret_body, char **ret_err);

/* Percent-escapes @name for use as one URL path segment. Caller frees. */
char *cli_url_escape(const char *name);

/* Prints "Error: @msg" (and counts the failure). Returns -EINVAL for convenience. */
int cli_error(struct cli_shell *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Verbs of the top level and of the configuration modes, NULL-terminated. */
extern const char *const cli_top_verbs[];
extern const char *const cli_mode_verbs[];

/*
 * Resolves @word to a top-level type: the exact name or a unique prefix.
 * Returns the schema, or NULL with *ret_err (caller frees) naming the word.
 */
const struct cfg_schema *cli_type_match(const char *word, char **ret_err);

/*
 * Resolves @word among @verbs (may be NULL) and the fields of @s (may be
 * NULL): an exact name wins, else a unique prefix. Returns 0 with *ret_verb
 * or *ret_field set (the other NULL), or -ENOENT / -EINVAL (ambiguous) with
 * *ret_err naming the word.
 */
int cli_word_match(const char *word, const char *const *verbs, const struct cfg_schema *s,
		   const char **ret_verb, const struct cfg_field **ret_field, char **ret_err);

/* Prints "Error: @msg", frees @msg and counts the failure. Returns @r when negative, else -EINVAL.
 */
int cli_fail(struct cli_shell *sh, int r, char *msg);

/*
 * Opens a mode for @obj (taken over) of schema @s: an object (@f NULL) or an
 * element of list field @f of the current mode, at @index (-1: new). The
 * caller checks depth < CLI_MAX_DEPTH. Returns the new level.
 */
struct cli_level *cli_level_push(struct cli_shell *sh, const struct cfg_schema *s,
				 const struct cfg_field *f, json_t *obj, long index);

/* Leaves the current mode, dropping its working copy. Does nothing at the top level. */
void cli_level_pop(struct cli_shell *sh);

/*
 * The commands of a mode (mode.c); each runs in the current mode (depth > 0)
 * and returns 0 or a negative errno after printing the error:
 *   cli_mode_set    "<field> [<value>...]", or an object list's sub-mode
 *   cli_mode_no     "no <field> [<key or value>...]"
 *   cli_mode_save   commits the level: an element into its list, an object
 *                   through the API; in batch mode a failed save leaves the level
 *   cli_mode_exit   leaves the level, warning about unsaved changes
 *   cli_mode_where  prints the level's fields
 */
int cli_mode_set(struct cli_shell *sh, const struct cfg_field *f, int argc, char **argv);
int cli_mode_no(struct cli_shell *sh, int argc, char **argv);
int cli_mode_save(struct cli_shell *sh);
int cli_mode_exit(struct cli_shell *sh);
int cli_mode_where(struct cli_shell *sh);

/* show and delete (show.c). Each returns 0 or a negative errno after printing the error. */
int cli_cmd_show(struct cli_shell *sh, int argc, char **argv);
int cli_cmd_delete(struct cli_shell *sh, int argc, char **argv);

/*
 * Rewrites the references of @obj (schema @s, at any depth; with @top its
 * tenant_ref too, and its url dropped), which answers write as URLs, to the
 * names that ?include_name appends to them, so the shell shows and takes
 * names. A reference without "#name" keeps its uuid.
 */
void cli_refs_to_names(const struct cfg_schema *s, json_t *obj, bool top);

/* Prints the field table of @obj (an object of schema @s, or a list element). */
void cli_print_object(struct cli_shell *sh, const struct cfg_schema *s, const json_t *obj,
		      bool top);

/* ---- completion (complete.c) ---- */

/*
 * Completes the last word of @line (the text left of the cursor) in the
 * shell's current mode: verbs, types, field names, enum values and existing
 * object names (asked from the API). Returns the number of candidates, all
 * starting with the word typed so far, in *ret_words (NULL-terminated, free
 * with cli_argv_free()), and the length of that word in *ret_wordlen.
 */
int cli_complete(struct cli_shell *sh, const char *line, char ***ret_words, size_t *ret_wordlen);

/* ---- tables (table.c) ---- */

struct cli_table;

/* A table with @ncols columns named @headers. Release with cli_table_free(). */
struct cli_table *cli_table_new(int ncols, const char *const *headers);

/* Appends a row of ncols cells (copied; NULL prints as empty). */
void cli_table_add(struct cli_table *t, const char *const *cells);

/* Appends a Field/Value row with the field indented by 2 * @indent spaces. */
void cli_table_add_fv(struct cli_table *t, int indent, const char *field, const char *value);

/*
 * Prints the table with +---+ borders, a header row, and columns as wide as
 * their widest cell. A cell with newlines continues on the next lines.
 */
void cli_table_print(const struct cli_table *t, FILE *out);

/* Frees the table. Accepts NULL. */
void cli_table_free(struct cli_table *t);

/*
 * Adds the rows of any JSON value @v named @name to a Field/Value table:
 * objects and lists open indented rows ("clone_srvr_stats[1]"), IP address
 * and prefix objects print as "10.0.0.1" and "10.0.0.0/24".
 */
void cli_table_add_json(struct cli_table *t, int indent, const char *name, const json_t *v);

#endif
