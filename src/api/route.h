/* route.h: the REST API's routes, apart from HTTP, so the shell's tests and fuzzer run the real thing in-process. */
#ifndef CLONELB_API_ROUTE_H
#define CLONELB_API_ROUTE_H

#include <jansson.h>
#include <stdbool.h>

#include "config/store.h"

/* What the routes answer from: the store, and the running daemon's views. */
struct api_router {
	struct cfg_store *store;
	/* Views of a virtual service by uuid; NULL, or returning NULL, when the
	 * daemon has nothing: the routes then answer from the configuration
	 * (zero clone counters, oper_status UNKNOWN). */
	json_t *(*runtime)(void *ctx, const char *vs_uuid);
	json_t *(*clone_stats)(void *ctx, const char *vs_uuid, bool detail);
	const char *se_uuid; /* shown in zero clone counters */
	void *ctx;
};

/*
 * Answers one request on @path ("/api/<type>[/<key>[/<view>]]", already
 * unescaped, without the query). @body is the decoded body of POST, PUT and
 * PATCH (NULL otherwise); @tenant the X-Avi-Tenant value (NULL: admin);
 * @detail the ?detail=1 of traffic_clone_stats. Returns the HTTP status and
 * *ret_body: the answer, {"error": ...} on failure, NULL for 204. New reference.
 */
unsigned api_route(const struct api_router *rt, const char *method, const char *path,
		   const char *tenant, bool detail, const json_t *body, json_t **ret_body);

#endif
