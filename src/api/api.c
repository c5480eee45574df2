/* api.c: REST API server (libmicrohttpd): routing, authentication, JSON in and out. */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "api/se.h"
#include "api/route.h"
#include "api/static.h"
#include "config/schema.h"
#include "lib/util.h"

struct api_listener {
	struct api *api;
	bool tcp; /* requests must carry the token */
	struct MHD_Daemon *d;
};

struct api {
	struct api_config cfg;
	struct api_router router;
	struct api_listener unix_l, tcp_l;
	char *socket_path;
};

/* Per-request upload buffer. */
struct req {
	char *buf;
	size_t len;
	bool too_big;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
				 char *body)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sends @v (stolen) as JSON with @status. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
	char *body = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	char *withnl = xasprintf("%s\n", body ? body : "null");

	free(body);
	json_decref(v);
	return send_text(c, status, "application/json", withnl);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s}", "error", msg ? msg : "error"));
}

static unsigned status_of(int r)
{
	switch (r) {
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	case -EEXIST:
	case -EBUSY:
		return MHD_HTTP_CONFLICT;
	case -E2BIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* Sends the result of a store call: @obj on success, else the error. */
static enum MHD_Result reply(struct MHD_Connection *c, int r, unsigned ok, json_t *obj, char *err)
{
	enum MHD_Result ret;

	if (r >= 0)
		return send_json(c, ok, obj);
	ret = send_error(c, status_of(r), err);
	free(err);
	return ret;
}

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

/* A value a cookie can carry unquoted (RFC 6265 cookie-octet). */
static bool cookie_safe(const char *s)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || strchr("\",;\\", *s))
			return false;
	return true;
}

/* Token check for TCP: "Authorization: Bearer <token>" or the UI's cookie. */
static bool authorized(struct api_listener *l, struct MHD_Connection *c)
{
	const char *h, *cookie;

	if (!l->tcp)
		return true; /* the Unix socket is mode 0600: root only */
	if (!l->api->cfg.token || !*l->api->cfg.token)
		return false;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h && strncmp(h, "Bearer ", 7) == 0 && token_equal(h + 7, l->api->cfg.token))
		return true;
	cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "clonelb_token");
	return cookie && token_equal(cookie, l->api->cfg.token);
}

/*
 * POST /api/login {"token": "..."}: the web UI's login. A right token gets 204
 * and the HttpOnly cookie that authorizes the UI's later requests; a wrong
 * one 401 with an error naming the field. POST /api/logout clears the cookie.
 */
static enum MHD_Result login(struct api_listener *l, struct MHD_Connection *c, const char *url,
			     const char *method, struct req *rq)
{
	const char *want = l->api->cfg.token, *tok;
	struct MHD_Response *r;
	enum MHD_Result ret;
	json_t *body = NULL;
	char *err = NULL, *cookie;

	if (strcmp(method, "POST"))
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method is not allowed on this path (POST)");
	if (strcmp(url, "/api/logout") == 0) {
		cookie = xstrdup("clonelb_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	} else {
		if (api_decode_body(rq->buf, rq->len, &body, &err) < 0)
			return reply(c, -EINVAL, 0, NULL, err);
		tok = json_string_value(json_object_get(body, "token"));
		if (!tok || !*tok) {
			json_decref(body);
			return send_error(c, MHD_HTTP_BAD_REQUEST, "token: enter the API token");
		}
		if (!l->tcp || !want || !token_equal(tok, want)) {
			json_decref(body);
			return send_error(c, MHD_HTTP_UNAUTHORIZED,
					  l->tcp ? "token: wrong token"
						 : "token: log in on the --listen address");
		}
		json_decref(body);
		if (!cookie_safe(want))
			return send_error(c, MHD_HTTP_BAD_REQUEST,
					  "token: has characters a cookie cannot carry; use a token "
					  "of letters and digits");
		cookie = xasprintf("clonelb_token=%s; Path=/; HttpOnly; SameSite=Strict", want);
	}
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Set-Cookie", cookie);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
	MHD_destroy_response(r);
	free(cookie);
	return ret;
}

static json_t *view_runtime(void *ctx, const char *vs_uuid)
{
	return px_runtime(((struct api *)ctx)->cfg.px, vs_uuid);
}

static json_t *view_clone_stats(void *ctx, const char *vs_uuid, bool detail)
{
	return clone_stats(((struct api *)ctx)->cfg.ce, vs_uuid, detail);
}

static enum MHD_Result metrics(struct api *api, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "# HELP clonelb_config_objects Configured objects by type.\n"
		   "# TYPE clonelb_config_objects gauge\n");
	for (size_t i = 0; cfg_types[i]; i++) {
		json_t *all = NULL;
		char *err = NULL;
		if (cfg_list(api->cfg.store, cfg_types[i]->name, "*", &all, &err) == 0)
			fprintf(f, "clonelb_config_objects{type=\"%s\"} %zu\n", cfg_types[i]->name,
				json_array_size(all));
		json_decref(all);
		free(err);
	}
	if (api->cfg.px)
		px_metrics(api->cfg.px, f);
	if (api->cfg.ce)
		clone_metrics(api->cfg.ce, f);
	fclose(f);
	return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf);
}

/* Answers /api/... through api_route(): the body is read, size-checked and
 * decoded here, the rest is the router's. */
static enum MHD_Result route_api(struct api *api, struct MHD_Connection *c, const char *url,
				 const char *method, struct req *rq)
{
	const char *tenant = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Avi-Tenant");
	const char *d = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "detail");
	json_t *body = NULL, *out = NULL;
	char *err = NULL;
	unsigned status;

	if (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
		if (rq->too_big) {
			err = xasprintf("request body: larger than the limit of %d bytes (1 MiB)",
					API_MAX_BODY);
			return reply(c, -E2BIG, 0, NULL, err);
		}
		int r = api_decode_body(rq->buf, rq->len, &body, &err);
		if (r < 0)
			return reply(c, r, 0, NULL, err);
	}
	struct api_query q = {
		.detail = d && (!strcmp(d, "1") || !strcmp(d, "true")),
		.name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name"),
		.page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page"),
		.page_size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page_size"),
		.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match"),
	};
	status = api_route(&api->router, method, url, tenant, &q, body, &out);
	json_decref(body);
	if (status == MHD_HTTP_NO_CONTENT)
		return send_text(c, status, "application/json", xstrdup(""));
	return send_json(c, status, out);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct api_listener *l = cls;
	struct req *rq = *con_cls;
	if (!rq) {
		*con_cls = rq = xcalloc(1, sizeof(*rq));
		return MHD_YES;
	}
	if (*upload_size) {
		/* Keep reading past the limit so the client gets a clean 413. */
		if (rq->len + *upload_size > API_MAX_BODY) {
			rq->too_big = true;
		} else {
			rq->buf = realloc(rq->buf, rq->len + *upload_size + 1);
			if (!rq->buf)
				abort();
			memcpy(rq->buf + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->buf[rq->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (strcmp(url, "/api/login") == 0 || strcmp(url, "/api/logout") == 0)
		return login(l, c, url, method, rq);
	if (strncmp(url, "/api/", 5) && strcmp(url, "/api") && strcmp(url, "/metrics"))
		return api_static(l->api->cfg.web_root, c, url, authorized(l, c));
	if (!authorized(l, c))
		return send_error(c, MHD_HTTP_UNAUTHORIZED,
				  "missing or wrong token: send Authorization: Bearer <token>");
	if (strcmp(url, "/metrics") == 0)
		return metrics(l->api, c);

	return route_api(l->api, c, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq) {
		free(rq->buf);
		free(rq);
		*con_cls = NULL;
	}
}

static int start_listener(struct api_listener *l, int fd, char **ret_err)
{
	l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
					MHD_USE_ERROR_LOG,
				0, NULL, NULL, handle, l, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	if (!l->d) {
		*ret_err = xasprintf("cannot start the API server");
		close(fd);
		return -EIO;
	}
	return 0;
}

/* Creates the Unix socket, mode 0600, refusing to steal a live one. */
static int unix_socket(const char *path, char **ret_err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir = xstrdup(path), *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_err = xasprintf("--socket: path too long: %s", path);
		free(dir);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	free(dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		*ret_err = xasprintf("--socket: %s is in use by a running clonelbd", path);
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path);
	/* The umask makes the socket 0600 from the moment it exists. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r == -1 || chmod(path, 0600) == -1 || listen(fd, 128) == -1) {
		r = -errno;
		*ret_err = xasprintf("--socket: %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

static int tcp_socket(const char *spec, char **ret_err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char *host = xstrdup(spec), *colon = strrchr(host, ':'), *end;
	long port;
	int fd, one = 1, r;

	if (!colon) {
		*ret_err = xasprintf("--listen: expected ADDR:PORT, got '%s'", spec);
		free(host);
		return -EINVAL;
	}
	*colon = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		*ret_err = xasprintf("--listen: invalid address or port in '%s'", spec);
		free(host);
		return -EINVAL;
	}
	free(host);
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 128) == -1) {
		r = -errno;
		*ret_err = xasprintf("--listen: %s: %s", spec, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

int api_start(const struct api_config *cfg, struct api **ret, char **ret_err)
{
	struct api *api = xcalloc(1, sizeof(*api));
	int fd, r;

	api->cfg = *cfg;
	api->router = (struct api_router){.store = cfg->store,
					  .runtime = cfg->px ? view_runtime : NULL,
					  .clone_stats = cfg->ce ? view_clone_stats : NULL,
					  .se_uuid = cfg->ce ? clone_se_uuid(cfg->ce) : NULL,
					  .ctx = api};
	api->unix_l.api = api->tcp_l.api = api;
	api->tcp_l.tcp = true;
	if (cfg->listen && (!cfg->token || !*cfg->token)) {
		*ret_err = xasprintf("--listen %s needs --token-file with a non-empty token",
				     cfg->listen);
		free(api);
		return -EINVAL;
	}
	fd = unix_socket(cfg->socket_path, ret_err);
	if (fd < 0) {
		free(api);
		return fd;
	}
	api->socket_path = xstrdup(cfg->socket_path);
	r = start_listener(&api->unix_l, fd, ret_err);
	if (r < 0)
		goto fail;
	if (cfg->listen) {
		fd = tcp_socket(cfg->listen, ret_err);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		r = start_listener(&api->tcp_l, fd, ret_err);
		if (r < 0)
			goto fail;
	}
	*ret = api;
	return 0;
fail:
	api_stop(api);
	return r;
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	if (api->tcp_l.d)
		MHD_stop_daemon(api->tcp_l.d);
	if (api->unix_l.d)
		MHD_stop_daemon(api->unix_l.d);
	if (api->socket_path)
		unlink(api->socket_path);
	free(api->socket_path);
	free(api);
}
