/* store.h: the configuration store's interface, one for both implementations (SQLite, etcd); every change is one transaction, validated first. */
#ifndef CLONELB_CONFIG_STORE_H
#define CLONELB_CONFIG_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_store;
struct cfg_etcd;

enum cfg_op { CFG_OP_CREATE, CFG_OP_UPDATE, CFG_OP_DELETE };

/*
 * Called after each committed change, outside the store's lock: @rev is the
 * revision the change created (SQLite: commits from 1 since the store was
 * opened, on the thread that made it; etcd: the cluster's revision, on the
 * watch thread, in revision order, for the changes of every node). Calls of
 * two threads may overlap; a listener that needs commit order compares
 * revisions. @type and @obj are NULL when the whole configuration was read
 * again (etcd: a resync after the watch fell behind a compaction).
 */
typedef void (*cfg_change_fn)(void *ctx, const char *type, enum cfg_op op, const json_t *obj,
			      uint64_t rev);

/*
 * Opens (creating if needed) the database at @path, in WAL mode, and loads
 * every object. A store that fails PRAGMA integrity_check, or holds a row
 * that does not load (no uuid, a body that is not a valid object of its
 * type, ...), is refused: -EIO with *ret_err naming the file and the damage.
 * Returns 0 and *ret (release with cfg_store_close()).
 */
int cfg_store_open(const char *path, struct cfg_store **ret, char **ret_err);

/* TLS client settings for an etcd store (each NULL: none). */
struct cfg_store_tls {
	const char *ca, *cert, *key;
};

/*
 * Opens the store @spec names: "sqlite:PATH" (cfg_store_open()) or
 * "etcd://HOST:PORT[,HOST:PORT...]" (the configuration of an SE group in
 * etcd, docs/architecture.md section 10; @tls may be NULL). An etcd store
 * loads the whole configuration, then follows the cluster's changes from a
 * watch of its own. Returns 0 and *ret, or -errno with *ret_err: -EINVAL
 * for a bad @spec, -EAGAIN when etcd cannot be reached, -EIO when what it
 * holds does not load.
 */
int cfg_store_open_spec(const char *spec, const struct cfg_store_tls *tls, struct cfg_store **ret,
			char **ret_err);

/* "sqlite" or "etcd". */
const char *cfg_store_kind(const struct cfg_store *st);

/* The etcd client of an etcd store (for SE registration and stats), or NULL. */
struct cfg_etcd *cfg_store_etcd(struct cfg_store *st);

/*
 * Whether the store's cache follows its source: always for SQLite; for etcd
 * while the watch is open. When not, *ret_why (may be NULL; caller frees)
 * says why, and writes answer -EAGAIN.
 */
bool cfg_store_following(struct cfg_store *st, char **ret_why);

/* Tells an etcd store that a call to the cluster failed elsewhere (the SE's
 * lease keepalive): its watch is opened again, so a partition that leaves
 * the stream silently open is noticed. Nothing for SQLite. */
void cfg_store_reconnect(struct cfg_store *st);

/* Closes the store. Accepts NULL. */
void cfg_store_close(struct cfg_store *st);

/* Sets the function told about every committed change (NULL: none). When it
 * returns, the previous function is not running and is never called again. */
void cfg_store_set_listener(struct cfg_store *st, cfg_change_fn fn, void *ctx);

/* What a collection GET asks for: NULL name for every object; at most
 * @limit objects (0: no limit) after skipping @offset. */
struct cfg_filter {
	const char *name;
	size_t offset, limit;
};

/*
 * The operations of the REST API. @type is a top-level type name, @key a name
 * or uuid. @tenant (NULL: "admin") scopes every lookup, by name and by uuid:
 * an object of another tenant is "not found", and no message names it.
 * "*" means every tenant and is for reads (cfg_list, cfg_get) only.
 * Results are new references without secret fields. Each returns 0, or a
 * negative errno with *ret_err (caller frees) naming the field and the value:
 *   -EINVAL bad input (400), -ENOENT no such object (404),
 *   -EEXIST duplicate name / -EBUSY in use / -ESTALE If-Match failed (409),
 *   -EIO store failure (500), -EAGAIN store unavailable (503: etcd cannot
 *   be reached; reads still answer from the last configuration known).
 * A failed call changes nothing.
 */
int cfg_list(struct cfg_store *st, const char *type, const char *tenant, json_t **ret,
	     char **ret_err);
/* cfg_list() with @f applied; *ret_count is the number of matches before paging. */
int cfg_list_filtered(struct cfg_store *st, const char *type, const char *tenant,
		      const struct cfg_filter *f, json_t **ret, size_t *ret_count, char **ret_err);
int cfg_get(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	    json_t **ret, char **ret_err);
/* POST: the object is created in @tenant; a tenant_ref of @body must name it. */
int cfg_create(struct cfg_store *st, const char *type, const char *tenant, const json_t *body,
	       json_t **ret, char **ret_err);
/*
 * PUT: @body replaces the object (absent fields take defaults). PATCH: fields
 * of @body replace those of the object; null clears one. Both read, merge,
 * check and write in one transaction. @if_match (NULL: none) is the
 * _last_modified the client saw (quotes allowed, "*" matches any): when the
 * object changed since, -ESTALE and nothing is written.
 */
int cfg_replace(struct cfg_store *st, const char *type, const char *key, const char *tenant,
		const char *if_match, const json_t *body, json_t **ret, char **ret_err);
int cfg_patch(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	      const char *if_match, const json_t *body, json_t **ret, char **ret_err);
int cfg_delete(struct cfg_store *st, const char *type, const char *key, const char *tenant,
	       char **ret_err);

/*
 * The whole configuration for the data plane and the clone engine:
 * {"<type>": [object, ...], ...} for every type, each list in "_id" order,
 * objects complete (secrets included), references by uuid (a reference that
 * names nothing, in a store edited by hand, may hold a name), each with an
 * integer "_id" that is unique and stable for the object's life. Read-only:
 * the objects are shared with the store (an object never changes once in a
 * snapshot; a change replaces it), so an unchanged object is the same
 * json_t in consecutive snapshots. *ret_rev (may be NULL) is the revision
 * the snapshot shows. New reference; never NULL.
 */
json_t *cfg_snapshot(struct cfg_store *st, uint64_t *ret_rev);

/*
 * The uuid and the name (each malloc'd, caller frees; either pointer may be
 * NULL) of the object of @type whose uuid, or else name, is @key, in any
 * tenant: what an answer needs to write a reference as a URL with #name.
 * Returns 0, or -ENOENT (nothing set).
 */
int cfg_ref_lookup(struct cfg_store *st, const char *type, const char *key, char **ret_uuid,
		   char **ret_name);

/* Returns the first object of @snap of @type whose name or uuid (what a
 * reference holds) is @name, in @tenant, or NULL (borrowed). */
const json_t *cfg_snap_find(const json_t *snap, const char *type, const char *tenant,
			    const char *name);

#endif
