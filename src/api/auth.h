/* auth.h: who a request is (session cookie with CSRF, Basic, bearer token, Unix socket), what it may do, and the login endpoints. */
#ifndef CLONELB_API_AUTH_H
#define CLONELB_API_AUTH_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "api/session.h"
#include "config/store.h"

/* Login attempts a client address may make at once, and how fast it gets
 * them back (one every API_LOGIN_REFILL seconds). */
#define API_LOGIN_BURST 10
#define API_LOGIN_REFILL 6
/* The reference API version whose object model clonelb answers (POST /login's "version"). */
#define API_REFERENCE_VERSION "22.1.1"

struct api_auth;

struct api_auth_config {
	struct cfg_store *store;
	const char *token;         /* the --token-file token, or NULL: no bearer token */
	unsigned session_lifetime; /* seconds; 0: API_SESSION_LIFETIME */
};

/* Who a request is, decided from its headers before any body is read. */
struct api_who {
	bool ok;                 /* identified (and, for a cookie, its CSRF token right) */
	unsigned status;         /* when !ok: 401, 403, 419 or 429 */
	unsigned retry_after;    /* with 429: seconds */
	char msg[256];           /* when !ok: why, for {"error": ...} */
	bool all;                /* the Unix socket or the API token: System-Admin, no user object */
	char user[API_USER_MAX]; /* the user, when !all */
};

/* A new authenticator. Release with api_auth_free(). */
struct api_auth *api_auth_new(const struct api_auth_config *cfg);

/* Releases @a (NULL accepted). */
void api_auth_free(struct api_auth *a);

/* True for the login and logout paths (/login, /logout, /api/login, /api/logout). */
bool api_auth_is_login(const char *url);

/*
 * Identifies the request on @c into *ret: on the Unix socket (@tcp false)
 * it is trusted (root); on TCP, "Authorization: Bearer <token>", then
 * "Authorization: Basic" (user and password; failures count against the
 * client's login attempts), then a session cookie (sessionid, avi-sessionid
 * or clonelb_session), which for POST, PUT, PATCH and DELETE also needs
 * X-CSRFToken equal to the session's csrftoken. Never reads a body.
 */
void api_auth_identify(struct api_auth *a, struct MHD_Connection *c, bool tcp, const char *method,
		       const char *url, struct api_who *ret);

/* Answers a request that api_auth_identify() refused (@who->ok false). */
enum MHD_Result api_auth_refuse(struct MHD_Connection *c, const struct api_who *who);

/*
 * Answers the login and logout paths, with the request's whole @body.
 * POST /login (the reference's): form-encoded or JSON username with password
 * or token: 200 with the user and "version", and the cookies csrftoken,
 * sessionid and avi-sessionid. POST /api/login (the web UI's): the same
 * credentials, or only the API token: 204 and the cookies clonelb_session
 * and csrftoken. Logout ends the session of the request's cookie.
 */
enum MHD_Result api_auth_login(struct api_auth *a, struct MHD_Connection *c, bool tcp,
			       const char *url, const char *body, size_t len);

#endif
