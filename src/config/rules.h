/* rules.h: the cross-object rules of the store (names, references, tenants, per-type checks). */
#ifndef CLONELB_CONFIG_RULES_H
#define CLONELB_CONFIG_RULES_H

#include <jansson.h>

#include "config/cache.h"
#include "config/schema.h"

/* The schema of a stored object, from its uuid ("<type>-<uuid4>"), or NULL. */
const struct cfg_schema *cfg_rules_type_of(const json_t *obj);

/*
 * Checks and completes the meta fields of @obj (name, tenant_ref, uuid) for a
 * create (@old NULL) or an update. Returns 0 or -EINVAL with *ret_err.
 */
int cfg_rules_meta(const struct cfg_schema *s, json_t *obj, const json_t *old, char **ret_err);

/*
 * Checks @obj against the rest of the configuration @all (every stored
 * object, each with "_id"): unique name, references that exist in the same
 * tenant (rewritten to their uuids; a tenant's to its name), and the rules
 * of its type. Objects of other tenants are invisible: no message names one. Costs lookups, not a pass
 * over every object. Returns 0, or -EINVAL / -EEXIST / -EBUSY with *ret_err
 * naming the field and the value.
 */
int cfg_rules_check(const struct cfg_schema *s, json_t *obj, const json_t *old,
		    const struct cfg_cache *all, char **ret_err);

/*
 * Rewrites every reference of @obj (a whole or partial object of @s, at any
 * depth), in any form of config/ref.h, to the uuid of its target as seen
 * from @tenant (a reference to a tenant: to its name, as tenants are known by
 * name everywhere). Returns 0, or -EINVAL with *ret_err naming the field and the
 * value (a missing target, one of another type); @obj may then be half done.
 */
int cfg_rules_canon_refs(const struct cfg_schema *s, json_t *obj, const char *tenant,
			 const struct cfg_cache *all, char **ret_err);

/*
 * Rewrites @obj (a stored row or a request body of type @s) from the shapes
 * of earlier versions into today's: a certificate's PEM text into
 * {"certificate": PEM, ...}, a monitor's http_request and http_response_code
 * into its http_monitor. Anything else is left as it is.
 */
void cfg_rules_upgrade(const struct cfg_schema *s, json_t *obj);

/* Returns 0 if no object of @all refers to @obj, else -EBUSY with *ret_err. */
int cfg_rules_unreferenced(const struct cfg_schema *s, const json_t *obj,
			   const struct cfg_cache *all, char **ret_err);

/*
 * The built-in objects (Default-Group, vrfcontext global) a store creates
 * when it does not hold them: cfg_rules_builtin(i) returns object @i as a
 * body for a create, in tenant admin, and its type in *ret_type; NULL past
 * the last. New reference.
 */
size_t cfg_rules_builtin_count(void);
json_t *cfg_rules_builtin(size_t i, const char **ret_type);

#endif
