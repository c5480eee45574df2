/* http.h: the shell's REST client: clonelbd's Unix socket, or a remote controller over HTTPS with a login session (the only user of libcurl). */
#ifndef CLONELB_CLI_HTTP_H
#define CLONELB_CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>

struct cli_http;

/*
 * Prepares a client for the API on Unix socket @socket_path (nothing is
 * connected yet). Returns 0 and *ret (release with cli_http_close()), or a
 * negative errno with *ret_err.
 */
int cli_http_open(const char *socket_path, struct cli_http **ret, char **ret_err);

/* A remote controller and how to log in to it. */
struct cli_remote {
	const char *url;      /* "https://HOST:PORT" */
	const char *user;     /* login name */
	const char *password; /* or NULL */
	const char *token;    /* or NULL: log in with username and token */
	const char *ca_file;  /* CA certificates that verify the controller, or NULL: the system's */
	bool insecure;        /* do not verify the controller's certificate */
};

/*
 * Logs in to the controller @r as its SDK does (POST /login, form-encoded
 * username with password or token) and keeps the session and its CSRF
 * token for every request; a request answered 401 or 419 logs in again
 * once. Returns 0 and *ret, or a negative errno with *ret_err saying what
 * failed: the controller cannot be reached, its certificate is not trusted,
 * or the login was refused (the controller's reason).
 */
int cli_http_open_remote(const struct cli_remote *r, struct cli_http **ret, char **ret_err);

/* Closes the client (logging out of a remote controller). Accepts NULL. */
void cli_http_close(struct cli_http *h);

/* A cli_request_fn (see cli.h) for @ctx, a struct cli_http. */
int cli_http_request(void *ctx, const char *method, const char *path, const char *tenant,
		     const json_t *body, json_t **ret_body, char **ret_err);

#endif
