/* inproc.h: an in-process client of the real REST API and store, for the shell's tests. */
#ifndef CLONELB_API_INPROC_H
#define CLONELB_API_INPROC_H

#include <jansson.h>

struct api_inproc;

/*
 * Opens the configuration store at @db_path (":memory:" for a private,
 * empty one) and a router on it whose service engine is "unit:se-0" and
 * which has no running daemon behind it (views answer from the
 * configuration). Returns 0 and *ret (release with api_inproc_close()), or a
 * negative errno with *ret_err (caller frees); *ret is then untouched.
 */
int api_inproc_open(const char *db_path, struct api_inproc **ret, char **ret_err);

/* Closes the store and frees @a. Accepts NULL. */
void api_inproc_close(struct api_inproc *a);

/* Requests that reached the router so far. */
unsigned api_inproc_requests(const struct api_inproc *a);

/*
 * A cli_request_fn (see cli/cli.h) for @ctx, a struct api_inproc: @path is
 * escaped as on the wire ("/api/pool/web%20pool?detail=1"); the query is
 * split off (detail=1 or detail=true ask for the detailed clone stats; name,
 * page and page_size filter and page collections), the
 * rest unescaped and handed to api_route(). Returns the HTTP status with
 * *ret_body (new reference; NULL for 204). Returns -EINVAL with *ret_err
 * (caller frees), touching nothing else, when there is no method or path;
 * no request is then counted.
 */
int api_inproc_request(void *ctx, const char *method, const char *path, const char *tenant,
		       const json_t *body, json_t **ret_body, char **ret_err);

#endif
