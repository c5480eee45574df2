/* memapi.h: an in-memory REST API for unit tests and the fuzzer (not linked into clonelb). */
#ifndef CLONELB_CLI_MEMAPI_H
#define CLONELB_CLI_MEMAPI_H

#include <jansson.h>

struct cli_memapi;

/* An empty store. Release with cli_memapi_free(). */
struct cli_memapi *cli_memapi_new(void);

/* Frees the store. Accepts NULL. */
void cli_memapi_free(struct cli_memapi *m);

/*
 * A cli_request_fn (see cli.h) for @ctx, a struct cli_memapi: the routes of
 * the REST API with the schema's checks (cfg_check_object()), names unique
 * per type and tenant, secrets never returned, views of virtual services
 * with zero counters. It knows nothing of references or interfaces.
 */
int cli_memapi_request(void *ctx, const char *method, const char *path, const char *tenant,
		       const json_t *body, json_t **ret_body, char **ret_err);

/* Requests answered so far. */
unsigned cli_memapi_requests(const struct cli_memapi *m);

#endif
