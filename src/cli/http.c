/* http.c: the shell's REST client, with libcurl: clonelbd's Unix socket, or a remote controller over HTTPS with a login session and CSRF token. */
#include "cli/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct cli_http {
	CURL *curl;
	char *socket_path; /* the Unix socket, or NULL for a remote controller */
	/* Remote: where, who, and the session's CSRF token (its cookies stay
	 * in curl's cookie engine). */
	char *url, *user, *password, *token, *ca_file, *csrf;
	bool insecure;
};

struct buf {
	char *data;
	size_t len;
};

/* Answers larger than this are not an answer clonelbd gives. */
#define MAX_ANSWER (64u << 20)
/* The API version the shell speaks, as the reference's SDK sends it. */
#define AVI_VERSION "22.1.1"

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > MAX_ANSWER)
		return 0;
	b->data = realloc(b->data, b->len + n + 1);
	if (!b->data)
		abort();
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

static int new_client(struct cli_http **ret, char **ret_err)
{
	struct cli_http *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*ret_err = xstrdup("cannot initialise libcurl");
		return -ENOMEM;
	}
	h = xcalloc(1, sizeof(*h));
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		curl_global_cleanup();
		*ret_err = xstrdup("cannot initialise libcurl");
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

int cli_http_open(const char *socket_path, struct cli_http **ret, char **ret_err)
{
	int r = new_client(ret, ret_err);

	if (r == 0)
		(*ret)->socket_path = xstrdup(socket_path);
	return r;
}

/* Why a transfer to the controller failed, in words a user can act on. */
static char *transfer_error(const struct cli_http *h, CURLcode rc, const char *errbuf)
{
	const char *detail = *errbuf ? errbuf : curl_easy_strerror(rc);

	if (h->socket_path)
		return xasprintf("cannot talk to clonelbd on %s: %s (is clonelbd running? "
				 "--socket PATH)",
				 h->socket_path, detail);
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return xasprintf("the certificate of %s is not trusted: %s (give its CA with --ca "
				 "FILE, or --insecure to skip the check)",
				 h->url, detail);
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
		return xasprintf("cannot reach the controller %s: %s", h->url, detail);
	default:
		return xasprintf("cannot talk to the controller %s: %s", h->url, detail);
	}
}

/* The csrftoken cookie the controller set, from curl's cookie engine. */
static char *csrf_cookie(CURL *curl)
{
	struct curl_slist *cookies = NULL, *c;
	char *found = NULL;

	curl_easy_getinfo(curl, CURLINFO_COOKIELIST, &cookies);
	/* Netscape format: domain, flag, path, secure, expiry, name, value. */
	for (c = cookies; c; c = c->next) {
		const char *f = c->data;
		for (int i = 0; i < 5 && f; i++) {
			f = strchr(f, '\t');
			if (f)
				f++;
		}
		if (f && strncmp(f, "csrftoken\t", 10) == 0) {
			free(found);
			found = xstrdup(f + 10);
		}
	}
	curl_slist_free_all(cookies);
	return found;
}

/*
 * One request: @body is sent as @ctype. Returns the HTTP status and
 * *ret_body (the answer's text, NUL-terminated, caller frees), or a negative
 * errno with *ret_err.
 */
static int perform(struct cli_http *h, const char *method, const char *path, const char *tenant,
		   const char *body, const char *ctype, struct buf *ret_body, char **ret_err)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *line;
	long status = 0;
	CURLcode rc;

	/* Reset keeps the connection cache, the TLS session and the cookies,
	 * so one connection and one login serve a whole shell session. */
	curl_easy_reset(h->curl);
	memset(ret_body, 0, sizeof(*ret_body));
	url = xasprintf("%s%s", h->socket_path ? "http://localhost" : h->url, path);
	if (tenant) {
		line = xasprintf("X-Avi-Tenant: %s", tenant);
		hdrs = curl_slist_append(hdrs, line);
		free(line);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for larger bodies (certificates). */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (h->socket_path) {
		curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
	} else {
		/* What the reference's SDK sends with each request. */
		hdrs = curl_slist_append(hdrs, "X-Avi-Version: " AVI_VERSION);
		line = xasprintf("Referer: %s", h->url);
		hdrs = curl_slist_append(hdrs, line);
		free(line);
		if (h->csrf) {
			line = xasprintf("X-CSRFToken: %s", h->csrf);
			hdrs = curl_slist_append(hdrs, line);
			free(line);
		}
		curl_easy_setopt(h->curl, CURLOPT_COOKIEFILE, "");
		curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "https");
		if (h->ca_file)
			curl_easy_setopt(h->curl, CURLOPT_CAINFO, h->ca_file);
		if (h->insecure) {
			curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, ret_body);
	if (body) {
		line = xasprintf("Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, line);
		free(line);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h->curl);
	curl_slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK) {
		*ret_err = transfer_error(h, rc, errbuf);
		free(ret_body->data);
		ret_body->data = NULL;
		return rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	return (int)status;
}

/* The "error" of a JSON answer, else its first line. Caller frees. */
static char *answer_error(const struct buf *b, int status)
{
	json_t *v = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	const char *e = json_string_value(json_object_get(v, "error"));
	char *out = e ? xstrdup(e)
		      : b->len ? strndup(b->data, strcspn(b->data, "\r\n"))
			       : xasprintf("HTTP %d", status);

	json_decref(v);
	return out;
}

/* POST /login, form-encoded, as the reference's SDK does. */
static int login(struct cli_http *h, char **ret_err)
{
	char *user = curl_easy_escape(h->curl, h->user, 0);
	char *secret = curl_easy_escape(h->curl, h->password ? h->password : h->token, 0);
	char *form = xasprintf("username=%s&%s=%s", user, h->password ? "password" : "token",
			       secret);
	struct buf b;
	int status;

	curl_free(user);
	curl_free(secret);
	free(h->csrf);
	h->csrf = NULL;
	status = perform(h, "POST", "/login", NULL, form, "application/x-www-form-urlencoded", &b,
			 ret_err);
	explicit_bzero(form, strlen(form));
	free(form);
	if (status < 0)
		return status;
	if (status != 200) {
		char *why = answer_error(&b, status);
		*ret_err = xasprintf("login to %s as '%s' refused (HTTP %d): %s", h->url, h->user,
				     status, why);
		free(why);
		free(b.data);
		return status == 401 || status == 403 ? -EACCES : -EIO;
	}
	free(b.data);
	h->csrf = csrf_cookie(h->curl);
	if (!h->csrf) {
		*ret_err = xasprintf("login to %s: the answer set no csrftoken cookie (is it a "
				     "clonelb controller?)",
				     h->url);
		return -EPROTO;
	}
	return 0;
}

int cli_http_open_remote(const struct cli_remote *r, struct cli_http **ret, char **ret_err)
{
	struct cli_http *h;
	int rc;

	if (strncmp(r->url, "https://", 8) || !r->url[8]) {
		*ret_err = xasprintf("--controller: expected https://HOST[:PORT], got '%s'", r->url);
		return -EINVAL;
	}
	rc = new_client(&h, ret_err);
	if (rc < 0)
		return rc;
	h->url = xstrdup(r->url);
	/* "https://host:port/" and "https://host:port" name the same controller. */
	while (strlen(h->url) > 8 && h->url[strlen(h->url) - 1] == '/')
		h->url[strlen(h->url) - 1] = 0;
	h->user = xstrdup(r->user);
	h->password = r->password ? xstrdup(r->password) : NULL;
	h->token = r->token ? xstrdup(r->token) : NULL;
	h->ca_file = r->ca_file ? xstrdup(r->ca_file) : NULL;
	h->insecure = r->insecure;
	rc = login(h, ret_err);
	if (rc < 0) {
		cli_http_close(h);
		return rc;
	}
	*ret = h;
	return 0;
}

void cli_http_close(struct cli_http *h)
{
	struct buf b;
	char *err = NULL;

	if (!h)
		return;
	if (h->csrf && perform(h, "POST", "/logout", NULL, NULL, NULL, &b, &err) >= 0)
		free(b.data);
	free(err);
	curl_easy_cleanup(h->curl);
	free(h->socket_path);
	free(h->url);
	free(h->user);
	if (h->password)
		explicit_bzero(h->password, strlen(h->password));
	free(h->password);
	if (h->token)
		explicit_bzero(h->token, strlen(h->token));
	free(h->token);
	free(h->ca_file);
	free(h->csrf);
	free(h);
	curl_global_cleanup();
}

int cli_http_request(void *ctx, const char *method, const char *path, const char *tenant,
		     const json_t *body, json_t **ret_body, char **ret_err)
{
	struct cli_http *h = ctx;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct buf b;
	int status;

	status = perform(h, method, path, tenant ? tenant : "admin", text, "application/json", &b,
			 ret_err);
	/* An ended or expired session: log in again once, as the SDK does. */
	if (!h->socket_path && (status == 401 || status == 419)) {
		free(b.data);
		status = login(h, ret_err);
		if (status == 0)
			status = perform(h, method, path, tenant ? tenant : "admin", text,
					 "application/json", &b, ret_err);
	}
	free(text);
	if (status < 0)
		return status;
	*ret_body = NULL;
	if (b.len) {
		json_error_t jerr;
		json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
		if (!v) {
			/* Keep what the server said, short, as the error text. */
			char *line = strndup(
			    b.data, strcspn(b.data, "\r\n") > 200 ? 200 : strcspn(b.data, "\r\n"));
			v = json_pack("{s:s}", "error",
				      status >= 300 ? line : "answer is not JSON");
			free(line);
		}
		*ret_body = v;
	}
	free(b.data);
	return status;
}
