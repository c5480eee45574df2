/* http.h: the shell's REST client over clonelbd's Unix socket (the only user of libcurl). */
#ifndef CLONELB_CLI_HTTP_H
#define CLONELB_CLI_HTTP_H

#include <jansson.h>

struct cli_http;

/*
 * Prepares a client for the API on Unix socket @socket_path (nothing is
 * connected yet). Returns 0 and *ret (release with cli_http_close()), or a
 * negative errno with *ret_err.
 */
int cli_http_open(const char *socket_path, struct cli_http **ret, char **ret_err);

/* Closes the client. Accepts NULL. */
void cli_http_close(struct cli_http *h);

/* A cli_request_fn (see cli.h) for @ctx, a struct cli_http. */
int cli_http_request(void *ctx, const char *method, const char *path, const char *tenant,
		     const json_t *body, json_t **ret_body, char **ret_err);

#endif
