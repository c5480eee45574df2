/* api.h: the REST API (DESIGN.md section 4) over a Unix socket and, optionally, token-protected TCP. */
#ifndef CLONELB_API_API_H
#define CLONELB_API_API_H

#include "clone/clone.h"
#include "config/store.h"
#include "proxy/px.h"

struct api;

struct api_config {
	const char *socket_path; /* Unix socket, created mode 0600 */
	const char *listen;      /* "ADDR:PORT" for TCP, or NULL */
	const char *token;       /* required on TCP: Authorization: Bearer <token> */
	const char *web_root;    /* directory of the web UI's static files, or NULL */
	struct cfg_store *store;
	struct px *px;           /* may be NULL */
	struct clone_engine *ce; /* may be NULL */
};

/* Largest request body accepted; larger ones get 413. */
#define API_MAX_BODY (1024 * 1024)

/*
 * Starts serving on the configured sockets (own threads). Returns 0 and *ret
 * (stop with api_stop()), or -errno with *ret_err.
 */
int api_start(const struct api_config *cfg, struct api **ret, char **ret_err);

/* Stops serving and removes the Unix socket. Accepts NULL. */
void api_stop(struct api *api);

/*
 * Decodes a request body into a JSON object. Returns 0 and *ret, or -EINVAL
 * with *ret_err ("request body: invalid JSON at line 1, column 5: ...").
 * Exposed for the fuzz target.
 */
int api_decode_body(const char *data, size_t len, json_t **ret, char **ret_err);

#endif
