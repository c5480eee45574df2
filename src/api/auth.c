/* auth.c: authentication (sessions with CSRF, Basic, bearer token), login rate limits, and what each user may do in which tenant. */
#include "api/auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config/schema.h"
#include "config/users.h"
#include "lib/util.h"
#include "log.h"

#ifndef CLONELB_VERSION
#define CLONELB_VERSION "unknown"
#endif

/* Client addresses whose login attempts are counted at once; the one
 * seen least recently gives way. */
#define LIMIT_SLOTS 256

/* The web UI's cookie, and the reference's two names for one session id. */
#define WEB_COOKIE "clonelb_session"
static const char *const session_cookies[] = {"sessionid", "avi-sessionid", WEB_COOKIE};

struct bucket {
	unsigned char addr[16];
	bool used;
	double tokens, at;
};

struct api_auth {
	struct cfg_store *store;
	char *token;
	struct api_sessions *sessions;
	pthread_mutex_t lock; /* the buckets */
	struct bucket buckets[LIMIT_SLOTS];
};

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct api_auth *api_auth_new(const struct api_auth_config *cfg)
{
	struct api_auth *a = xcalloc(1, sizeof(*a));

	a->store = cfg->store;
	a->token = cfg->token && *cfg->token ? xstrdup(cfg->token) : NULL;
	a->sessions = api_sessions_new(cfg->session_lifetime);
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void api_auth_free(struct api_auth *a)
{
	if (!a)
		return;
	api_sessions_free(a->sessions);
	if (a->token) {
		OPENSSL_cleanse(a->token, strlen(a->token));
		free(a->token);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
}

bool api_auth_is_login(const char *url)
{
	return !strcmp(url, "/login") || !strcmp(url, "/logout") || !strcmp(url, "/api/login") ||
	       !strcmp(url, "/api/logout");
}

/* ---- login attempts per client address ---- */

/* The client's address as 16 bytes (IPv4 mapped), or false when it has none. */
static bool client_addr(struct MHD_Connection *c, unsigned char out[16])
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	memset(out, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa && sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The client's address as text, for the logs. */
static void addr_text(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
	unsigned char a[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	strcpy(out, "?");
	if (!client_addr(c, a))
		return;
	if (memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
}

/*
 * The bucket of @c's address, refilled to now; the lock is held. A client
 * has API_LOGIN_BURST attempts and gets one back every API_LOGIN_REFILL
 * seconds.
 */
static struct bucket *bucket_of(struct api_auth *a, struct MHD_Connection *c)
{
	unsigned char addr[16];
	struct bucket *b = NULL;
	double t = mono();

	if (!client_addr(c, addr))
		return NULL;
	for (size_t i = 0; i < LIMIT_SLOTS; i++) {
		struct bucket *e = &a->buckets[i];
		if (e->used && memcmp(e->addr, addr, 16) == 0) {
			b = e;
			break;
		}
		if (!b || !e->used || (b->used && e->at < b->at))
			b = e;
	}
	if (!b->used || memcmp(b->addr, addr, 16)) {
		memcpy(b->addr, addr, 16);
		b->used = true;
		b->tokens = API_LOGIN_BURST;
		b->at = t;
	}
	b->tokens += (t - b->at) / API_LOGIN_REFILL;
	if (b->tokens > API_LOGIN_BURST)
		b->tokens = API_LOGIN_BURST;
	b->at = t;
	return b;
}

/*
 * Whether @c may try to log in now; with @spend, the attempt is counted.
 * When not, *ret_retry is the seconds until it may.
 */
static bool attempt(struct api_auth *a, struct MHD_Connection *c, bool spend, unsigned *ret_retry)
{
	struct bucket *b;
	bool ok = true;

	pthread_mutex_lock(&a->lock);
	b = bucket_of(a, c);
	if (b && b->tokens < 1) {
		double wait = (1 - b->tokens) * API_LOGIN_REFILL;

		/* Rounded up by hand: clonelbd does not link libm. */
		*ret_retry = (unsigned)wait + ((double)(unsigned)wait < wait);
		ok = false;
	} else if (b && spend) {
		b->tokens -= 1;
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

/* ---- credentials ---- */

/* Compares without an early exit so the time taken does not tell how much
 * of a guess was right. */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return d == 0;
}

/* True if @password is @user's (the stored hash is read with its secret). */
static bool password_ok(struct api_auth *a, const char *user, const char *password)
{
	json_t *snap = cfg_snapshot(a->store, NULL);
	const json_t *u = cfg_snap_find(snap, "user", CFG_TENANT_ADMIN, user);
	bool ok = cfg_password_verify(password,
				      u ? json_string_value(json_object_get(u, "password")) : NULL);

	json_decref(snap);
	return ok;
}

static bool user_exists(struct api_auth *a, const char *user)
{
	json_t *o = NULL;
	char *err = NULL;
	int r = cfg_get(a->store, "user", user, CFG_TENANT_ADMIN, &o, &err);

	/* By name only: a uuid is not a login name. */
	r = r == 0 && strcmp(str(o, "name"), user) == 0;
	json_decref(o);
	free(err);
	return r;
}

static void refuse(struct api_who *w, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct api_who *w, unsigned status, const char *fmt, ...)
{
	va_list ap;

	w->ok = false;
	w->status = status;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

/* "Authorization: Basic base64(user:password)". */
static void basic(struct api_auth *a, struct MHD_Connection *c, const char *b64,
		  struct api_who *w)
{
	size_t n = strlen(b64);
	unsigned char *raw = xmalloc(n / 4 * 3 + 4);
	int len = n % 4 == 0 && n <= 2048 ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n)
					  : -1;
	char *colon;

	if (len < 0) {
		free(raw);
		refuse(w, MHD_HTTP_UNAUTHORIZED, "Authorization: Basic credentials are not base64");
		return;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n && b64[--n] == '=' && len > 0)
		len--;
	raw[len] = 0;
	colon = strchr((char *)raw, ':');
	if (!colon) {
		refuse(w, MHD_HTTP_UNAUTHORIZED, "Authorization: Basic needs user:password");
	} else if (!attempt(a, c, false, &w->retry_after)) {
		refuse(w, MHD_HTTP_TOO_MANY_REQUESTS,
		       "login: too many failed attempts from this address; retry in %u s",
		       w->retry_after);
	} else {
		*colon = 0;
		if (strlen((char *)raw) < API_USER_MAX && password_ok(a, (char *)raw, colon + 1)) {
			w->ok = true;
			snprintf(w->user, sizeof(w->user), "%s", (char *)raw);
		} else {
			char from[INET6_ADDRSTRLEN];
			addr_text(c, from);
			attempt(a, c, true, &w->retry_after);
			refuse(w, MHD_HTTP_UNAUTHORIZED,
			       "Authorization: wrong user name or password");
			log_rl(LOG_WARN, "auth", "Basic credentials refused from %s", from);
		}
	}
	OPENSSL_cleanse(raw, (size_t)len);
	free(raw);
}

static bool unsafe(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
}

void api_auth_identify(struct api_auth *a, struct MHD_Connection *c, bool tcp, const char *method,
		       const char *url, struct api_who *ret)
{
	const char *h, *id = NULL, *csrf;
	struct api_session_info info;
	enum api_session_state st;

	memset(ret, 0, sizeof(*ret));
	if (!tcp) {
		ret->ok = ret->all = true; /* the Unix socket is mode 0600: root only */
		return;
	}
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h && strncmp(h, "Bearer ", 7) == 0) {
		if (a->token && token_equal(h + 7, a->token))
			ret->ok = ret->all = true;
		else
			refuse(ret, MHD_HTTP_UNAUTHORIZED,
			       "missing or wrong token: send Authorization: Bearer <token>");
		return;
	}
	if (h && strncasecmp(h, "Basic ", 6) == 0) {
		basic(a, c, h + 6 + strspn(h + 6, " "), ret);
		return;
	}
	/* The first live session among the cookies (a browser may still hold
	 * an ended one under another name), else the most telling state. */
	st = API_SESSION_UNKNOWN;
	for (size_t i = 0; st != API_SESSION_LIVE && i < sizeof(session_cookies) /
								      sizeof(session_cookies[0]);
	     i++) {
		const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, session_cookies[i]);
		enum api_session_state s = v ? api_session_find(a->sessions, v, &info)
					     : API_SESSION_UNKNOWN;
		if (v)
			id = v;
		if (s > st)
			st = s;
	}
	if (!id) {
		refuse(ret, MHD_HTTP_UNAUTHORIZED,
		       "missing or wrong token: send Authorization: Bearer <token>, or log in "
		       "(POST /login)");
		return;
	}
	if (st == API_SESSION_EXPIRED) {
		refuse(ret, 419, "session expired: log in again (POST /login)");
		return;
	}
	if (st != API_SESSION_LIVE) {
		refuse(ret, MHD_HTTP_UNAUTHORIZED, "session unknown or ended: log in (POST /login)");
		return;
	}
	/* A cookie goes with every request the browser makes, also those a
	 * page of another site makes it send: a change must also show the
	 * session's CSRF token, which only the session's own pages can read.
	 * Logout needs none: forcing one is no harm. */
	csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRFToken");
	if (unsafe(method) && !api_auth_is_login(url)) {
		if (!csrf) {
			refuse(ret, MHD_HTTP_FORBIDDEN,
			       "CSRF: X-CSRFToken header missing (send the value of the csrftoken "
			       "cookie with every %s)",
			       method);
			return;
		}
		if (strlen(csrf) != API_SESSION_ID_LEN || !token_equal(csrf, info.csrf)) {
			refuse(ret, MHD_HTTP_FORBIDDEN,
			       "CSRF: X-CSRFToken does not match this session's csrftoken cookie");
			return;
		}
	}
	ret->ok = true;
	ret->all = !info.user[0];
	snprintf(ret->user, sizeof(ret->user), "%s", info.user);
}

/* Queues @status with @body (JSON, stolen; NULL: empty) and the @ncookies
 * Set-Cookie headers of @cookies, plus Retry-After when @retry. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, json_t *body,
			       char **cookies, size_t ncookies, unsigned retry)
{
	char *text = body ? json_dumps(body, JSON_INDENT(2)) : NULL;
	char *withnl = text ? xasprintf("%s\n", text) : xstrdup("");
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(withnl), withnl, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;
	char rbuf[16];

	if (body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	for (size_t i = 0; i < ncookies; i++)
		MHD_add_response_header(r, "Set-Cookie", cookies[i]);
	if (retry) {
		snprintf(rbuf, sizeof(rbuf), "%u", retry);
		MHD_add_response_header(r, "Retry-After", rbuf);
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	free(text);
	json_decref(body);
	return ret;
}

enum MHD_Result api_auth_refuse(struct MHD_Connection *c, const struct api_who *who)
{
	return respond(c, who->status, json_pack("{s:s}", "error", who->msg), NULL, 0,
		       who->status == MHD_HTTP_TOO_MANY_REQUESTS ? who->retry_after : 0);
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return respond(c, status, json_pack("{s:s}", "error", msg), NULL, 0, 0);
}

/* ---- POST /login, /logout ---- */

static int unhex_digit(int ch)
{
	return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

/* Decodes one form value in place ('+' is a space, %XX a byte). */
static void form_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%' && unhex_digit(s[1]) >= 0 && unhex_digit(s[2]) >= 0) {
			*o++ = (char)(unhex_digit(s[1]) * 16 + unhex_digit(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* The login body, JSON or application/x-www-form-urlencoded, as a JSON
 * object of strings. NULL with *ret_err when it is neither. */
static json_t *login_body(struct MHD_Connection *c, const char *body, size_t len, char **ret_err)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	json_t *out;
	char *copy, *save = NULL, *kv;

	if ((ct && strncasecmp(ct, "application/json", 16) == 0) || (len && body[0] == '{')) {
		json_error_t e;
		out = json_loadb(body ? body : "", len, 0, &e);
		if (!json_is_object(out)) {
			json_decref(out);
			*ret_err = xasprintf("request body: invalid JSON at line %d, column %d: %s",
					     e.line, e.column, e.text);
			return NULL;
		}
		return out;
	}
	out = json_object();
	copy = strndup(body ? body : "", len);
	for (kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = 0;
		form_unescape(kv);
		form_unescape(eq + 1);
		json_object_set_new(out, kv, json_string(eq + 1));
	}
	OPENSSL_cleanse(copy, len);
	free(copy);
	return out;
}

/* The tenants @user (a public user object) may use, as [{name, uuid}]. */
static json_t *tenants_of(struct api_auth *a, const json_t *user, bool sysadmin)
{
	json_t *all = NULL, *out = json_array(), *t;
	char *err = NULL;
	size_t i;

	cfg_list(a->store, "tenant", CFG_TENANT_ADMIN, &all, &err);
	free(err);
	json_array_foreach(all, i, t)
	{
		if (sysadmin || cfg_user_role_in(user, str(t, "name")))
			json_array_append_new(out, json_pack("{s:O, s:O}", "name",
							     json_object_get(t, "name"), "uuid",
							     json_object_get(t, "uuid")));
	}
	json_decref(all);
	return out;
}

/* The 200 answer of POST /login for @user ("" for the API token). */
static json_t *login_answer(struct api_auth *a, const char *user)
{
	json_t *u = NULL;
	char *err = NULL;
	bool sys = true;

	if (*user && cfg_get(a->store, "user", user, CFG_TENANT_ADMIN, &u, &err) == 0)
		sys = cfg_user_is_sysadmin(u);
	free(err);
	if (!u)
		u = json_pack("{s:s, s:s}", "name", "", "username", "");
	json_object_set_new(u, "is_superuser", json_boolean(sys));
	return json_pack("{s:o, s:o, s:{s:s, s:s, s:s}, s:s, s:{s:i}}", "tenants",
			 tenants_of(a, u, sys), "user", u, "version", "Version",
			 API_REFERENCE_VERSION, "ProductName", "clonelb", "clonelb", CLONELB_VERSION,
			 "session_cookie_name", "sessionid", "controller", "session_lifetime",
			 (int)api_sessions_lifetime(a->sessions));
}

static enum MHD_Result logout(struct api_auth *a, struct MHD_Connection *c, bool web)
{
	char *gone[] = {
		"sessionid=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
		"avi-sessionid=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
		"csrftoken=; Path=/; Secure; SameSite=Strict; Max-Age=0",
		WEB_COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
	};

	for (size_t i = 0; i < sizeof(session_cookies) / sizeof(session_cookies[0]); i++)
		api_session_close(a->sessions, MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
									   session_cookies[i]));
	return web ? respond(c, MHD_HTTP_NO_CONTENT, NULL, gone + 2, 2, 0)
		   : respond(c, MHD_HTTP_OK, json_object(), gone, 3, 0);
}

enum MHD_Result api_auth_login(struct api_auth *a, struct MHD_Connection *c, bool tcp,
			       const char *url, const char *body, size_t len)
{
	bool web = strncmp(url, "/api/", 5) == 0;
	const char *user, *pw, *tok;
	char id[API_SESSION_ID_LEN + 1], csrf[API_SESSION_ID_LEN + 1];
	char *err = NULL, *cookies[3], from[INET6_ADDRSTRLEN];
	unsigned retry = 0, lifetime = api_sessions_lifetime(a->sessions);
	enum MHD_Result ret;
	json_t *in;
	bool ok;

	if (strstr(url, "logout"))
		return logout(a, c, web);
	in = login_body(c, body, len, &err);
	if (!in) {
		ret = fail(c, MHD_HTTP_BAD_REQUEST, err);
		free(err);
		return ret;
	}
	user = json_string_value(json_object_get(in, "username"));
	pw = json_string_value(json_object_get(in, "password"));
	tok = json_string_value(json_object_get(in, "token"));
	if (user && !*user)
		user = NULL;
	if (!tcp) {
		json_decref(in);
		return fail(c, MHD_HTTP_UNAUTHORIZED,
			    web ? "token: log in on the --listen address"
				: "login: log in on the --listen address (the Unix socket needs none)");
	}
	if (!user && !(web && tok && *tok)) {
		json_decref(in);
		return fail(c, MHD_HTTP_BAD_REQUEST,
			    web && !pw ? "token: enter the API token, or a user name and password"
				       : "username: required, with password or token");
	}
	if (user && !(pw && *pw) && !(tok && *tok)) {
		json_decref(in);
		return fail(c, MHD_HTTP_BAD_REQUEST, "password: required (or token)");
	}
	addr_text(c, from);
	if (!attempt(a, c, true, &retry)) {
		char *msg = xasprintf("login: too many attempts from this address; retry in %u s",
				      retry);
		log_rl(LOG_WARN, "auth", "login attempts from %s refused for %u s (too many)", from,
		       retry);
		json_decref(in);
		ret = respond(c, MHD_HTTP_TOO_MANY_REQUESTS, json_pack("{s:s}", "error", msg), NULL,
			      0, retry);
		free(msg);
		return ret;
	}
	if (user && strlen(user) >= API_USER_MAX)
		ok = false;
	else if (user && pw && *pw)
		ok = password_ok(a, user, pw);
	else
		/* The daemon's API token stands for any existing user (its holder
		 * is System-Admin already), or, alone, for itself. */
		ok = a->token && token_equal(tok, a->token) && (!user || user_exists(a, user));
	if (!ok) {
		bool by_token = !(user && pw && *pw);
		log_rl(LOG_WARN, "auth", "login refused from %s (wrong %s)", from,
		       by_token ? "token" : "user name or password");
		json_decref(in);
		return fail(c, MHD_HTTP_UNAUTHORIZED,
			    by_token ? (a->token ? "token: wrong token"
						 : "token: this clonelbd has no API token "
						   "(--token-file)")
				     : "password: wrong user name or password");
	}
	if (api_session_open(a->sessions, user ? user : "", id, csrf) < 0) {
		json_decref(in);
		return fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "login: no randomness for a session");
	}
	if (user)
		log_info("auth", "user '%s' logged in from %s", user, from);
	else
		log_info("auth", "a session was opened with the API token from %s", from);
	/* csrftoken is readable by the session's own pages (not HttpOnly):
	 * they copy it into X-CSRFToken. */
	cookies[0] = xasprintf("csrftoken=%s; Path=/; Max-Age=%u; Secure; SameSite=Strict", csrf,
			       lifetime);
	if (web) {
		/* The session's cookie first, as the web UI's clients have read it. */
		cookies[1] = cookies[0];
		cookies[0] = xasprintf(WEB_COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
				       id);
		cookies[2] = NULL;
		ret = respond(c, MHD_HTTP_NO_CONTENT, NULL, cookies, 2, 0);
	} else {
		cookies[1] = xasprintf("sessionid=%s; Path=/; Max-Age=%u; Secure; HttpOnly; "
				       "SameSite=Strict",
				       id, lifetime);
		cookies[2] = xasprintf("avi-sessionid=%s; Path=/; Max-Age=%u; Secure; HttpOnly; "
				       "SameSite=Strict",
				       id, lifetime);
		ret = respond(c, MHD_HTTP_OK, login_answer(a, user ? user : ""), cookies, 3, 0);
	}
	for (size_t i = 0; i < 3; i++)
		free(cookies[i]);
	explicit_bzero(id, sizeof(id));
	explicit_bzero(csrf, sizeof(csrf));
	json_decref(in);
	return ret;
}

char *api_auth_user_before(struct api_auth *a, const char *method, const char *url)
{
	const char *key = strncmp(url, "/api/user/", 10) == 0 ? url + 10 : NULL;
	json_t *o = NULL;
	char *err = NULL, *name = NULL;

	if (!key || !*key || strchr(key, '/') || !unsafe(method) || !strcmp(method, "POST"))
		return NULL;
	if (cfg_get(a->store, "user", key, CFG_TENANT_ADMIN, &o, &err) == 0)
		name = xstrdup(str(o, "name"));
	json_decref(o);
	free(err);
	return name;
}

void api_auth_user_changed(struct api_auth *a, char *before, const json_t *body,
			   unsigned status, const json_t *out)
{
	if (before && (status == MHD_HTTP_NO_CONTENT ||
		       (status == MHD_HTTP_OK && (json_object_get(body, "password") ||
						  strcmp(str(out, "name"), before)))))
		api_sessions_end_user(a->sessions, before);
	free(before);
}
