/* access.h: what an identified user may do, in which tenant: the built-in roles applied to each API request. */
#ifndef CLONELB_API_ACCESS_H
#define CLONELB_API_ACCESS_H

#include <jansson.h>
#include <microhttpd.h>

#include "api/auth.h"
#include "config/store.h"

/*
 * Whether @who may do @method on @url (/api/..., /metrics), and in which
 * tenant: from X-Avi-Tenant-UUID, else X-Avi-Tenant (a name, a uuid, or "*"
 * for every tenant, System-Admin only), else admin when the user may use
 * it, else its first tenant. Users, tenants and roles live in tenant admin;
 * roles are read-only for everyone. Returns 0 and *ret_tenant (caller
 * frees), or the HTTP status (401, 403, 404) with *ret_err (caller frees).
 */
unsigned api_access_permit(struct cfg_store *st, const struct api_who *who,
			   struct MHD_Connection *c, const char *method, const char *url,
			   char **ret_tenant, char **ret_err);

/*
 * Hides from a user without System-Admin the tenants it has no access to, in
 * the answer *@out (status *@status) of GET @url: a collection loses them,
 * one of them becomes 404.
 */
void api_access_filter(struct cfg_store *st, const struct api_who *who, const char *method,
		       const char *url, unsigned *status, json_t **out);

#endif
