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
	/* GET /api/serviceengine (NULL: the path is unknown): 0 and *ret (the
	 * list), or -errno with *ret_err. */
	int (*serviceengines)(void *ctx, json_t **ret, char **ret_err);
	/* The other SEs' entries appended to this SE's traffic_clone_stats
	 * @local (taken over); NULL: @local alone. */
	json_t *(*group_stats)(void *ctx, const char *vs_uuid, json_t *local);
	void *ctx;
};

/* What a request carries besides method, path, tenant and body. Every field
 * may be NULL / false: the value as received, checked by the routes. */
struct api_query {
	bool detail;           /* ?detail=1 of traffic_clone_stats */
	const char *name;      /* ?name=: collections list only the object of that name */
	const char *page;      /* ?page=K (from 1) */
	const char *page_size; /* ?page_size=N (1..API_MAX_PAGE_SIZE) */
	const char *if_match;  /* If-Match: the _last_modified a PUT or PATCH expects */
	/* How answers write references and url: "<base>/api/<type>/<uuid>",
	 * base "https://host:port" (the request's Host), NULL for a path alone;
	 * with include_name (?include_name) "#<name>" follows. */
	const char *base;
	bool include_name;
};

/* Largest page a collection answers; without page or page_size a collection
 * answers whole. */
#define API_MAX_PAGE_SIZE 200
/* page_size when only page is given. */
#define API_DEFAULT_PAGE_SIZE 25

/*
 * Answers one request on @path ("/api/<type>[/<key>[/<view>]]", already
 * unescaped, without the query). @body is the decoded body of POST, PUT and
 * PATCH (NULL otherwise); @tenant the X-Avi-Tenant value (NULL: admin); @q
 * the query parameters and If-Match (NULL: none). Collections answer
 * {"count", "results", "next"}. Objects in answers carry "url" and their
 * references (tenant_ref too) in URL form; references in @body may take any
 * form of config/ref.h. Returns the HTTP status and *ret_body: the
 * answer, {"error": ...} on failure, NULL for 204. New reference.
 */
unsigned api_route(const struct api_router *rt, const char *method, const char *path,
		   const char *tenant, const struct api_query *q, const json_t *body,
		   json_t **ret_body);

/*
 * The methods @path (as api_route() takes it) answers, as an Allow header
 * lists them ("GET, POST"); NULL when the path is not one of the API's (the
 * router answers 404). Decided on the path alone, before any body is read.
 */
const char *api_route_allow(const char *path);

#endif
