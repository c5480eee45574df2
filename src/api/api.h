/* api.h: the REST API (docs/api.md) over a Unix socket and, optionally, HTTPS with a token on TCP. */
#ifndef CLONELB_API_API_H
#define CLONELB_API_API_H

#include "clone/clone.h"
#include "config/store.h"
#include "proxy/px.h"
#include "se/se.h"

struct api;

struct api_config {
	const char *socket_path; /* Unix socket, created mode 0600 */
	const char *listen;      /* "ADDR:PORT" for HTTPS, or NULL */
	const char *token;       /* Authorization: Bearer <token> on TCP, or NULL: none */
	unsigned session_lifetime; /* seconds a login session lasts; 0: the default */
	const char *tls_cert;    /* --tls-cert PEM file, or NULL */
	const char *tls_key;     /* --tls-key PEM file, or NULL */
	const char *tls_dir;     /* where the self-signed pair is kept without them */
	const char *web_root;    /* directory of the web UI's static files, or NULL */
	struct cfg_store *store;
	struct px *px;           /* may be NULL */
	struct clone_engine *ce; /* may be NULL */
	struct se *se;           /* this SE in its group (GET /api/serviceengine), or NULL */
};

/* Largest request body accepted; larger ones get 413. */
#define API_MAX_BODY (1024 * 1024)
/* Largest body of the login paths, the one body read before credentials are known. */
#define API_MAX_LOGIN_BODY 4096

/*
 * The bounds that hold under attack (docs/api.md, "Limits"). A connection
 * that has not yet completed an authorized request is a stranger: it has
 * API_STRANGER_TIMEOUT seconds of silence before it is closed and gives way
 * to a new connection when its listener is full. Each listener has its own
 * cap, so a flood of the TCP side never reaches the Unix socket. Descriptors
 * the API may hold: the two caps, plus the accept loop's queue and spare.
 */
#define API_UNIX_MAX_CONN 64
#define API_TCP_MAX_CONN 256
#define API_TCP_MAX_PER_ADDR 16
#define API_STRANGER_TIMEOUT 5
#define API_TIMEOUT 60
/* MHD's per-connection memory: request line, headers, its own buffers. */
#define API_CONN_MEMORY (32 * 1024)
/* GnuTLS priorities of the HTTPS listener: TLS 1.3 and TLS 1.2 with ECDHE
 * and AEAD ciphers only (forward secret, no CBC, no static RSA). */
#define API_TLS_PRIORITIES                                                             \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:+AEAD:+SIGN-ALL:+GROUP-X25519:+GROUP-SECP256R1:"            \
	"+GROUP-SECP384R1:+COMP-NULL:+CTYPE-X509:%SERVER_PRECEDENCE"

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
