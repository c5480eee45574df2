/* store.h: the SQLite configuration store; every change is one transaction, validated first. */
#ifndef CLONELB_CONFIG_STORE_H
#define CLONELB_CONFIG_STORE_H

#include <jansson.h>

struct cfg_store;

enum cfg_op { CFG_OP_CREATE, CFG_OP_UPDATE, CFG_OP_DELETE };

/* Called after each committed change, on the thread that made it. */
typedef void (*cfg_change_fn)(void *ctx, const char *type, enum cfg_op op, const json_t *obj);

/*
 * Opens (creating if needed) the database at @path, in WAL mode. Returns 0 and
 * *ret (release with cfg_store_close()), or a negative errno with *ret_err.
 */
int cfg_store_open(const char *path, struct cfg_store **ret, char **ret_err);

/* Closes the store. Accepts NULL. */
void cfg_store_close(struct cfg_store *st);

/* Sets the function told about every committed change (one at a time). */
void cfg_store_set_listener(struct cfg_store *st, cfg_change_fn fn, void *ctx);

/*
 * The operations of the REST API. @type is a top-level type name, @key a name
 * or uuid; @tenant scopes name lookups (NULL: "admin"). Results are new
 * references without secret fields. Each returns 0, or a negative errno with
 * *ret_err (caller frees) naming the field and the value:
 *   -EINVAL bad input (400), -ENOENT no such object (404),
 *   -EEXIST duplicate name / -EBUSY in use (409), -EIO store failure (500).
 * A failed call changes nothing.
 */
int cfg_list(struct cfg_store *st, const char *type, const char *tenant, json_t **ret,
	     char **ret_err);
int cfg_get(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	    json_t **ret, char **ret_err);
int cfg_create(struct cfg_store *st, const char *type, const json_t *body, json_t **ret,
	       char **ret_err);
/* PUT: @body replaces the object (absent fields take defaults). */
int cfg_replace(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		const json_t *body, json_t **ret, char **ret_err);
/* PATCH: fields of @body replace those of the object; null clears one. */
int cfg_patch(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	      const json_t *body, json_t **ret, char **ret_err);
int cfg_delete(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	       char **ret_err);

/*
 * The whole configuration for the data plane and the clone engine:
 * {"<type>": [object, ...], ...} for every type, objects complete (secrets
 * included), references by name, each with an integer "_id" that is unique
 * and stable for the object's life. New reference; never NULL.
 */
json_t *cfg_snapshot(struct cfg_store *st);

/* Returns the first object of @snap of @type named @name in @tenant, or NULL (borrowed). */
const json_t *cfg_snap_find(const json_t *snap, const char *type, const char *tenant,
			    const char *name);

#endif
