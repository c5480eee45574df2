/* api.c: REST API server (libmicrohttpd): authentication and limits before any body, routing, JSON in and out. */
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

#include "api/access.h"
#include "api/auth.h"
#include "api/cert.h"
#include "api/conns.h"
#include "api/se.h"
#include "api/route.h"
#include "api/static.h"
#include "config/schema.h"
#include "lib/addr.h"
#include "lib/util.h"
#include "log.h"

struct api_listener {
	struct api *api;
	bool tcp; /* HTTPS; requests must carry credentials (auth.c) */
	int fd;   /* listening socket until the acceptor owns it */
	struct MHD_Daemon *d;
	struct api_gate gate;
};

struct api {
	struct api_config cfg;
	struct api_router router;
	struct api_listener unix_l, tcp_l;
	struct api_acceptor *acceptor;
	struct api_auth *auth;
	struct api_cert cert;
	char *socket_path;
};

/* Per-request state, made once the headers are in and checked. */
struct req {
	char *buf;
	size_t len;
	size_t limit;    /* the most body this request may bring */
	bool authorized; /* token, session, Basic, or the Unix socket */
	struct api_who who;
	const char *allow; /* set: the method is not allowed; 405 once the body is in */
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

static json_t *view_runtime(void *ctx, const char *vs_uuid)
{
	return px_runtime(((struct api *)ctx)->cfg.px, vs_uuid);
}

static json_t *view_clone_stats(void *ctx, const char *vs_uuid, bool detail)
{
	return clone_stats(((struct api *)ctx)->cfg.ce, vs_uuid, detail);
}

static int view_serviceengines(void *ctx, json_t **ret, char **ret_err)
{
	return se_list(((struct api *)ctx)->cfg.se, ret, ret_err);
}

static json_t *view_group_stats(void *ctx, const char *vs_uuid, json_t *local)
{
	return se_clone_stats(((struct api *)ctx)->cfg.se, vs_uuid, local);
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
	api_gate_metrics((struct api_gate *const[]){&api->unix_l.gate, &api->tcp_l.gate},
			 api->tcp_l.d ? 2 : 1, f);
	if (api->cfg.px)
		px_metrics(api->cfg.px, f);
	if (api->cfg.ce)
		clone_metrics(api->cfg.ce, f);
	fclose(f);
	return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf);
}

/* MHD_get_connection_values() callback: finds ?include_name, with or
 * without a value (the reference's SDK sends "include_name="). */
static enum MHD_Result find_include_name(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	if (strcmp(key, "include_name") == 0)
		*(bool *)cls = !value || (strcmp(value, "false") && strcmp(value, "0"));
	return MHD_YES;
}

/* "https://<Host>" for references in answers on the HTTPS listener, when the
 * Host header is a plain host[:port] (else the --listen address); NULL on
 * the Unix socket, whose answers write paths alone. Caller frees. */
static char *answer_base(struct api_listener *l, struct MHD_Connection *c)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

	if (!l->tcp)
		return NULL;
	if (!host || !*host || strlen(host) > 255 ||
	    host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			      ".-:[]")])
		host = l->api->cfg.listen;
	return xasprintf("https://%s", host);
}

/* Answers /api/... through api_route(): the body is decoded here, the rest
 * is the router's. */
static enum MHD_Result route_api(struct api_listener *l, struct MHD_Connection *c,
				 const char *url, const char *method, struct req *rq)
{
	struct api *api = l->api;
	bool include_name = false;
	char *base;
	const char *d = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "detail");
	json_t *body = NULL, *out = NULL;
	char *err = NULL, *tenant = NULL;
	unsigned status;

	/* Who may do what in which tenant (access.c), before the body is decoded. */
	status = api_access_permit(api->cfg.store, &rq->who, c, method, url, &tenant, &err);
	if (status) {
		enum MHD_Result ret = send_error(c, status, err);
		free(err);
		return ret;
	}
	base = answer_base(l, c);
	/* An unknown path is 404 whatever its body; HEAD is GET without the body (MHD drops it). */
	if (!strcmp(method, "HEAD"))
		method = "GET";
	if ((!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) &&
	    api_route_allow(url)) {
		int r = api_decode_body(rq->buf, rq->len, &body, &err);
		if (r < 0) {
			free(tenant);
			free(base);
			return reply(c, r, 0, NULL, err);
		}
	}
	struct api_query q = {
		.detail = d && (!strcmp(d, "1") || !strcmp(d, "true")),
		.name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name"),
		.page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page"),
		.page_size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page_size"),
		.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match"),
		.base = base,
	};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, find_include_name, &include_name);
	q.include_name = include_name;
	status = api_route(&api->router, method, url, tenant, &q, body, &out);
	api_access_filter(api->cfg.store, &rq->who, method, url, &status, &out);
	free(tenant);
	free(base);
	json_decref(body);
	if (status == MHD_HTTP_NO_CONTENT)
		return send_text(c, status, "application/json", xstrdup(""));
	return send_json(c, status, out);
}

static bool is_login(const char *url)
{
	return api_auth_is_login(url);
}

static bool is_api(const char *url)
{
	return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0 ||
	       strcmp(url, "/metrics") == 0;
}

/* The schema of a CFG_T_READONLY type @url is under ("/api/cloud/..."), or NULL. */
static const struct cfg_schema *read_only_type(const char *url)
{
	size_t n = strncmp(url, "/api/", 5) ? 0 : strcspn(url + 5, "/");

	for (size_t i = 0; n && cfg_types[i]; i++)
		if ((cfg_types[i]->flags & CFG_T_READONLY) && strlen(cfg_types[i]->name) == n &&
		    !strncmp(url + 5, cfg_types[i]->name, n))
			return cfg_types[i];
	return NULL;
}

/*
 * The methods @url answers, as the Allow header lists them, from the shape of
 * the path (the routes of route.c): known before any body is read, so a wrong
 * method costs nothing. NULL when the path itself is unknown (the router
 * answers 404).
 */
static const char *allowed_methods(const char *url)
{
	if (is_login(url))
		return "POST";
	if (strcmp(url, "/metrics") == 0)
		return "GET";
	if (!is_api(url))
		return "GET, HEAD"; /* the web UI's files */
	if (read_only_type(url) ||
	    strcmp(url, "/api/se/interfaces") == 0 ||
	    (strncmp(url, "/api/serviceengine", 18) == 0 && (!url[18] || url[18] == '/')))
		return "GET";
	return api_route_allow(url);
}

static bool method_listed(const char *list, const char *method)
{
	size_t n;

	if (strcmp(method, "HEAD") == 0)
		method = "GET"; /* wherever GET is, HEAD is too */
	n = strlen(method);

	for (const char *p = list; *p;) {
		if (strncmp(p, method, n) == 0 && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p += strspn(p, ", ");
	}
	return false;
}

static enum MHD_Result send_error_allow(struct MHD_Connection *c, const char *url,
					const char *method, const char *allow)
{
	const struct cfg_schema *ro = read_only_type(url);
	char *msg = ro ? xasprintf("%s is read-only: method %s is not allowed (%s)", ro->name,
				   method, ro->help)
		       : xasprintf("method %s is not allowed on this path", method);
	json_t *v = json_pack("{s:s}", "error", msg);
	char *body = json_dumps(v, JSON_INDENT(2));
	char *withnl = xasprintf("%s\n", body);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(withnl), withnl, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	MHD_destroy_response(r);
	free(body);
	free(msg);
	json_decref(v);
	return ret;
}

/*
 * First call of a request, with its headers and before any byte of its body:
 * the token (401) and the announced length (413) are decided now, so a
 * refused request is answered at once and MHD closes the connection without
 * reading its body. A stranger may bring a body only to the login, and a
 * small one. A wrong method (405) is answered at once when there is no body;
 * with one (within its limit, from an authorized client) it is answered once
 * the body is in, so the client is not reset in the middle of sending it.
 */
static enum MHD_Result begin(struct api_listener *l, struct MHD_Connection *c, const char *url,
			     const char *method, void **con_cls)
{
	const char *allow = allowed_methods(url);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
	struct api_who who;
	bool authz;
	size_t limit;
	struct req *rq;
	char *err;

	bool body = cl ? len > 0
		       : MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;

	/* Credentials and CSRF (auth.c): 401, 403, 419 or 429 before any body. */
	api_auth_identify(l->api->auth, c, l->tcp, method, url, &who);
	authz = who.ok;
	if (is_api(url) && !is_login(url) && !authz)
		return api_auth_refuse(c, &who);
	allow = allow && !method_listed(allow, method) ? allow : NULL;
	if (allow && !body)
		return send_error_allow(c, url, method, allow);
	limit = is_login(url) ? API_MAX_LOGIN_BODY : authz ? API_MAX_BODY : 0;
	if (len > limit) {
		err = limit ? xasprintf("request body: %llu bytes is larger than the limit of %zu "
					"bytes (%zu %s)",
					len, limit, limit >= 1 << 20 ? limit >> 20 : limit >> 10,
					limit >= 1 << 20 ? "MiB" : "KiB")
			    : xstrdup("request body: not accepted before login");
		return reply(c, -E2BIG, 0, NULL, err);
	}
	*con_cls = rq = xcalloc(1, sizeof(*rq));
	rq->limit = limit;
	rq->authorized = authz;
	rq->who = who;
	rq->allow = allow;
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct api_listener *l = cls;
	struct req *rq = *con_cls;

	if (!rq)
		return begin(l, c, url, method, con_cls);
	if (*upload_size) {
		/* Only a body without Content-Length gets here past its limit;
		 * MHD cannot answer in the middle of a body, so the connection
		 * is closed rather than read further. */
		if (*upload_size > rq->limit - rq->len)
			return MHD_NO;
		rq->buf = realloc(rq->buf, rq->len + *upload_size + 1);
		if (!rq->buf)
			abort();
		memcpy(rq->buf + rq->len, upload, *upload_size);
		rq->len += *upload_size;
		rq->buf[rq->len] = 0;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->authorized) {
		/* A whole authorized request: no longer a stranger. */
		api_gate_trust(c);
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, API_TIMEOUT);
	}
	if (rq->allow)
		return send_error_allow(c, url, method, rq->allow);
	if (is_login(url))
		return api_auth_login(l->api->auth, c, l->tcp, url, rq->buf, rq->len);
	if (!is_api(url))
		return api_static(l->api->cfg.web_root, c, url, rq->authorized);
	if (strcmp(url, "/metrics") == 0) {
		char *tenant = NULL, *err = NULL;
		unsigned st = api_access_permit(l->api->cfg.store, &rq->who, c, method, url,
						&tenant, &err);
		free(tenant);
		if (st) {
			enum MHD_Result ret = send_error(c, st, err);
			free(err);
			return ret;
		}
		return metrics(l->api, c);
	}
	return route_api(l, c, url, method, rq);
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

static int start_listener(struct api_listener *l, char **ret_err)
{
	struct api *api = l->api;
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, api->cert.cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, api->cert.key_pem},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)API_TLS_PRIORITIES},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, API_TCP_MAX_PER_ADDR, NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	/* poll(), not epoll: MHD 0.9.75's epoll loop, after a full batch of
	 * events, waits again with the full timeout before it handles any,
	 * which under a flood leaves evicted connections open for seconds.
	 * The caps keep poll()'s sets a few hundred descriptors long. */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | (l->tcp ? MHD_USE_TLS : 0);

	l->gate.name = l->tcp ? "tcp" : "unix";
	l->gate.cap = l->tcp ? API_TCP_MAX_CONN : API_UNIX_MAX_CONN;
	/* The gate keeps the count below the cap; MHD's own limit, which would
	 * close new connections instead of old strangers, stays out of reach. */
	l->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, l, MHD_OPTION_NOTIFY_COMPLETED,
				completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, api_gate_notify,
				&l->gate, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)API_STRANGER_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT,
				4 * l->gate.cap + 256u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)API_CONN_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log,
				NULL, MHD_OPTION_ARRAY, l->tcp ? tls : &tls[4], MHD_OPTION_END);
	if (!l->d) {
		*ret_err = xasprintf("cannot start the API server on the %s listener%s",
				     l->gate.name, l->tcp ? " (TLS certificate or key refused)" : "");
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
	if (r == -1 || chmod(path, 0600) == -1 || listen(fd, 1024) == -1) {
		r = -errno;
		*ret_err = xasprintf("--socket: %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

static int tcp_socket(const char *spec, char **ret_err)
{
	union addr_any sa;
	char *host = xstrdup(spec), *colon = strrchr(host, ':'), *end, *ip = host;
	long port;
	int fd, one = 1, r;

	if (!colon) {
		*ret_err = xasprintf("--listen: expected ADDR:PORT or [IPV6]:PORT, got '%s'", spec);
		free(host);
		return -EINVAL;
	}
	*colon = 0;
	/* [x::y]:port: the brackets keep an IPv6 address's colons from the port's. */
	if (ip[0] == '[' && colon > ip + 1 && colon[-1] == ']') {
		ip++;
		colon[-1] = 0;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || addr_parse(ip, &sa) < 0 ||
	    (sa.sa.sa_family == AF_INET6 && ip == host)) {
		*ret_err = xasprintf("--listen: invalid address or port in '%s' (ADDR:PORT or "
				     "[IPV6]:PORT)",
				     spec);
		free(host);
		return -EINVAL;
	}
	free(host);
	addr_set_port(&sa, (uint16_t)port);
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &sa.sa, addr_len(&sa)) == -1 || listen(fd, 1024) == -1) {
		r = -errno;
		*ret_err = xasprintf("--listen: %s: %s", spec, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

/* The HTTPS listener's certificate, logged so a client can pin it. */
static int load_cert(struct api *api, char **ret_err)
{
	struct api_cert_source src = {.cert_file = api->cfg.tls_cert,
				      .key_file = api->cfg.tls_key,
				      .dir = api->cfg.tls_dir ? api->cfg.tls_dir : "."};
	int r = api_cert_load(&src, &api->cert, ret_err);

	if (r < 0)
		return r;
	log_info("api", "HTTPS certificate %s%s, SHA256 fingerprint %s", api->cert.cert_path,
		 api->cert.generated ? " (self-signed, generated now)" : "",
		 api->cert.fingerprint);
	return 0;
}

int api_start(const struct api_config *cfg, struct api **ret, char **ret_err)
{
	struct api *api = xcalloc(1, sizeof(*api));
	struct api_accept_spec specs[2];
	unsigned n = 0;
	int r;

	api->cfg = *cfg;
	api->router = (struct api_router){.store = cfg->store,
					  .runtime = cfg->px ? view_runtime : NULL,
					  .clone_stats = cfg->ce ? view_clone_stats : NULL,
					  .se_uuid = cfg->se ? se_uuid(cfg->se)
						   : cfg->ce ? clone_se_uuid(cfg->ce) : NULL,
					  .serviceengines = cfg->se ? view_serviceengines : NULL,
					  .group_stats = cfg->se ? view_group_stats : NULL,
					  .ctx = api};
	api->unix_l.api = api->tcp_l.api = api;
	api->unix_l.fd = api->tcp_l.fd = -1;
	api->tcp_l.tcp = true;
	api->auth = api_auth_new(&(struct api_auth_config){
		.store = cfg->store, .token = cfg->token, .session_lifetime = cfg->session_lifetime});
	if (!cfg->listen && (cfg->tls_cert || cfg->tls_key)) {
		*ret_err = xasprintf("%s needs --listen", cfg->tls_cert ? "--tls-cert" : "--tls-key");
		r = -EINVAL;
		goto fail;
	}
	if (cfg->listen) {
		r = load_cert(api, ret_err);
		if (r < 0)
			goto fail;
	}
	r = unix_socket(cfg->socket_path, ret_err);
	if (r < 0)
		goto fail;
	api->unix_l.fd = r;
	api->socket_path = xstrdup(cfg->socket_path);
	if (cfg->listen) {
		r = tcp_socket(cfg->listen, ret_err);
		if (r < 0)
			goto fail;
		api->tcp_l.fd = r;
	}
	r = start_listener(&api->unix_l, ret_err);
	if (r == 0 && cfg->listen)
		r = start_listener(&api->tcp_l, ret_err);
	if (r < 0)
		goto fail;
	specs[n++] = (struct api_accept_spec){api->unix_l.fd, api->unix_l.d, &api->unix_l.gate};
	if (cfg->listen)
		specs[n++] = (struct api_accept_spec){api->tcp_l.fd, api->tcp_l.d, &api->tcp_l.gate};
	r = api_acceptor_start(specs, n, &api->acceptor, ret_err);
	if (r < 0)
		goto fail;
	api->unix_l.fd = api->tcp_l.fd = -1; /* the acceptor's now */
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
	api_acceptor_stop(api->acceptor);
	if (api->unix_l.fd != -1)
		close(api->unix_l.fd);
	if (api->tcp_l.fd != -1)
		close(api->tcp_l.fd);
	if (api->tcp_l.d)
		MHD_stop_daemon(api->tcp_l.d);
	if (api->unix_l.d)
		MHD_stop_daemon(api->unix_l.d);
	if (api->socket_path)
		unlink(api->socket_path);
	free(api->socket_path);
	api_auth_free(api->auth);
	api_cert_free(&api->cert);
	free(api);
}
