/* px_conf.c: turns a configuration snapshot into an immutable generation of services, pools and servers; load-balancing picks. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "proxy/px_int.h"

/* Finds object @name of @type in @snap within @tenant (borrowed), or NULL. */
static const json_t *snap_find(const json_t *snap, const char *type, const char *tenant,
			       const char *name)
{
	const json_t *arr = json_object_get(snap, type), *o;
	size_t i;

	if (!name)
		return NULL;
	json_array_foreach(arr, i, o)
	{
		const char *t = json_string_value(json_object_get(o, "tenant_ref"));
		const char *n = json_string_value(json_object_get(o, "name"));
		const char *u = json_string_value(json_object_get(o, "uuid"));
		if (t && tenant && strcmp(t, tenant) != 0)
			continue;
		if ((n && strcmp(n, name) == 0) || (u && strcmp(u, name) == 0))
			return o;
	}
	return NULL;
}

static int parse_addr(const json_t *ipobj, union addr_any *ret)
{
	return addr_parse(json_string_value(json_object_get(ipobj, "addr")), ret) < 0 ? -EINVAL
										  : 0;
}

/* The SE's own address the kernel would use towards @dst, of @dst's family
 * (the pool's, whatever the client's), so back-end sockets can be bound (and
 * their port known) before connect(). The unspecified address when there is
 * no route. */
static void route_source(const union addr_any *dst, union addr_any *ret)
{
	union addr_any a = *dst;
	socklen_t len = sizeof(*ret);
	int fd;

	addr_any_of(dst->sa.sa_family, ret);
	fd = socket(dst->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	if (addr_port(&a) == 0)
		addr_set_port(&a, 9);
	if (connect(fd, &a.sa, addr_len(&a)) == 0 && getsockname(fd, &ret->sa, &len) == 0)
		addr_set_port(ret, 0);
	else
		addr_any_of(dst->sa.sa_family, ret);
	close(fd);
}

/* Drops a reference to @s; the last one frees it. Accepts NULL. */
void px_server_unref(struct px_server *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (unsigned i = 0; i < s->nhs; i++) {
		SSL_free(s->hs[i].ssl);
		if (s->hs[i].fd != -1)
			px_health_fd_close(s->hs[i].fd);
	}
	free(s->hs);
	SSL_SESSION_free(s->tls_sess);
	pthread_mutex_destroy(&s->tls_lock);
	free(s);
}

/* Drops a reference to @p and, with the last one, to its servers. Accepts NULL. */
void px_pool_unref(struct px_pool *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	for (unsigned i = 0; i < p->nsrv; i++)
		px_server_unref(p->srv[i]);
	for (unsigned i = 0; i < p->nmon; i++) {
		free(p->mon[i].name);
		free(p->mon[i].request);
		free(p->mon[i].response);
	}
	free(p->mon);
	free(p->srv);
	free(p->name);
	SSL_CTX_free(p->sctx);
	free(p->sni);
	free(p->server_name);
	free(p->tls_err);
	json_decref(p->conf);
	free(p);
}

static void stats_unref(struct px_vs_stats *st)
{
	if (!st || atomic_fetch_sub(&st->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&st->lock);
	free(st->listen_err);
	free(st);
}

/* Drops a reference to @vs; the last one frees its contexts and releases its
 * pool and counters. Accepts NULL. */
void px_vs_unref(struct px_vs *vs)
{
	if (!vs || atomic_fetch_sub(&vs->refs, 1) != 1)
		return;
	px_pool_unref(vs->pool);
	for (unsigned i = 0; i < vs->nctx; i++)
		SSL_CTX_free(vs->ctx[i]);
	free(vs->ctx);
	free(vs->vip);
	free(vs->svc);
	free(vs->uuid);
	free(vs->name);
	free(vs->ssl_err);
	stats_unref(vs->st);
	json_decref(vs->conf);
	free(vs);
}

/* Drops a reference to generation @g and, with the last one, to everything in it.
 * Accepts NULL. */
void px_gen_unref(struct px_gen *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (unsigned i = 0; i < g->nvs; i++)
		px_vs_unref(g->vs[i]);
	for (unsigned i = 0; i < g->npool; i++)
		px_pool_unref(g->pool[i]);
	free(g->vs);
	free(g->pool);
	json_decref(g->snap);
	free(g);
}

/* Records why a listener of @vs cannot be opened (NULL: it can), for the runtime
 * view. Thread-safe; the message is copied. */
void px_vs_set_listen_err(struct px_vs *vs, const char *err)
{
	pthread_mutex_lock(&vs->st->lock);
	if (!err || !vs->st->listen_err || strcmp(err, vs->st->listen_err) != 0) {
		free(vs->st->listen_err);
		vs->st->listen_err = err ? xstrdup(err) : NULL;
	}
	pthread_mutex_unlock(&vs->st->lock);
}

/* Builds the HTTP request a monitor sends from its configured request line. */
static char *hm_request(const char *line)
{
	if (!line || !*line)
		line = "HEAD / HTTP/1.0";
	if (strstr(line, "\r\n\r\n"))
		return xstrdup(line);
	/* A request line alone: finish it so HTTP/1.1 servers accept it too. */
	return xasprintf("%s\r\n%sConnection: close\r\nUser-Agent: clonelb-health\r\n\r\n", line,
			 strstr(line, "Host:") ? "" : "Host: clonelb\r\n");
}

static void hm_parse(const json_t *hm, struct px_hmon *m)
{
	const char *type = json_string_value(json_object_get(hm, "type"));
	/* HTTPS: an HTTP check over the pool's TLS to the server (px_health.c). */
	bool tls = type && strcmp(type, "HEALTH_MONITOR_HTTPS") == 0;
	/* The type's settings, nested as the reference writes them. */
	const json_t *http = json_object_get(hm, tls ? "https_monitor" : "http_monitor");
	const json_t *codes = json_object_get(http, "http_response_code"), *c;
	json_int_t v;
	size_t i;

	m->id = json_integer_value(json_object_get(hm, "_id"));
	m->name = xstrdup(json_string_value(json_object_get(hm, "name")) ?: "?");
	m->type = tls || (type && strcmp(type, "HEALTH_MONITOR_HTTP") == 0) ? PX_HM_HTTP : PX_HM_TCP;
	m->tls = tls;
	v = json_integer_value(json_object_get(hm, "send_interval"));
	m->interval_ms = (unsigned)(v > 0 ? v : 10) * 1000;
	v = json_integer_value(json_object_get(hm, "receive_timeout"));
	m->timeout_ms = (unsigned)(v > 0 ? v : 4) * 1000;
	v = json_integer_value(json_object_get(hm, "successful_checks"));
	m->rise = v > 0 ? (unsigned)v : 2;
	v = json_integer_value(json_object_get(hm, "failed_checks"));
	m->fall = v > 0 ? (unsigned)v : 2;
	m->request = m->type == PX_HM_HTTP
			     ? hm_request(json_string_value(json_object_get(http, "http_request")))
			     : NULL;
	m->response = NULL;
	v = json_integer_value(json_object_get(hm, "monitor_port"));
	m->port = htons((uint16_t)(v > 0 && v < 65536 ? v : 0));
	if (m->type == PX_HM_HTTP) {
		const char *rs = json_string_value(json_object_get(http, "http_response"));
		m->response = rs && *rs ? xstrdup(rs) : NULL;
	} else {
		const json_t *tcp = json_object_get(hm, "tcp_monitor");
		const char *rq = json_string_value(json_object_get(tcp, "tcp_request"));
		const char *rs = json_string_value(json_object_get(tcp, "tcp_response"));
		m->request = rq && *rq ? xstrdup(rq) : NULL;
		m->response = rs && *rs ? xstrdup(rs) : NULL;
	}
	m->codes = 0;
	json_array_foreach(codes, i, c)
	{
		const char *s = json_string_value(c);
		if (!s)
			continue;
		if (strcmp(s, "HTTP_ANY") == 0)
			m->codes |= 0x3e;
		else if (strlen(s) == 8 && s[5] >= '1' && s[5] <= '5')
			m->codes |= 1u << (s[5] - '0');
	}
	if (!json_is_array(codes))
		m->codes = (1u << 2) | (1u << 3);
}

/* Pools are built in snapshot order, which is "_id" order: a binary search
 * finds one, so a change costs no scan of every pool per pool. The scan
 * stays for lists in any other order. */
static struct px_pool *find_pool_id(struct px_pool *const *pools, unsigned n, int64_t id)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (pools[mid]->id == id)
			return pools[mid];
		if (pools[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (unsigned i = 0; i < n; i++)
		if (pools[i]->id == id)
			return pools[i];
	return NULL;
}

/* Whether @prev was built from @pj itself (the store shares unchanged
 * objects between snapshots) and from the same monitor objects. */
static bool pool_unchanged(const struct px_pool *prev, const json_t *snap, const json_t *pj,
			   const char *tenant)
{
	const json_t *mons = json_object_get(prev->conf, "monitors"), *r;
	size_t i, n = 0;

	/* The profiles of a TLS pool are compared by pool_build(). */
	if (json_object_get(prev->conf, "pool") != pj || prev->tls)
		return false;
	json_array_foreach(json_object_get(pj, "health_monitor_refs"), i, r)
	{
		const json_t *hm = snap_find(snap, "healthmonitor", tenant, json_string_value(r));
		if (hm && json_array_get(mons, n++) != hm)
			return false;
	}
	return n == json_array_size(mons);
}

static struct px_server *old_server(const struct px_pool *old, const union addr_any *a)
{
	for (unsigned i = 0; old && i < old->nsrv; i++)
		if (addr_equal(&old->srv[i]->addr, a))
			return old->srv[i];
	return NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static struct px_pool *pool_build(const json_t *snap, const json_t *pj, const struct px_gen *old)
{
	const char *tenant = json_string_value(json_object_get(pj, "tenant_ref"));
	int64_t id = json_integer_value(json_object_get(pj, "_id"));
	const json_t *refs = json_object_get(pj, "health_monitor_refs"), *r, *sj;
	json_t *mons = json_array(), *conf;
	struct px_pool *prev = old ? find_pool_id(old->pool, old->npool, id) : NULL, *p;
	json_int_t dport = json_integer_value(json_object_get(pj, "default_server_port"));
	const char *lb = json_string_value(json_object_get(pj, "lb_algorithm"));
	size_t i;

	if (prev && pool_unchanged(prev, snap, pj, tenant)) {
		json_decref(mons);
		atomic_fetch_add(&prev->refs, 1);
		return prev;
	}
	json_array_foreach(refs, i, r)
	{
		const json_t *hm = snap_find(snap, "healthmonitor", tenant, json_string_value(r));
		if (hm)
			json_array_append(mons, (json_t *)hm);
	}
	/* The TLS profiles and the client certificate are part of the pool: a
	 * change of one builds it again. sslprofile by uuid in any tenant
	 * (admin's System-Standard). */
	const json_t *sp = snap_find(snap, "sslprofile", NULL, jstr(pj, "ssl_profile_ref"));
	const json_t *pk = snap_find(snap, "pkiprofile", tenant, jstr(pj, "pki_profile_ref"));
	const json_t *kc = snap_find(snap, "sslkeyandcertificate", tenant,
				     jstr(pj, "ssl_key_and_certificate_ref"));
	conf = json_pack("{sOsos[OOO]}", "pool", (json_t *)pj, "monitors", mons, "tls",
			 sp ? (json_t *)sp : json_null(), pk ? (json_t *)pk : json_null(),
			 kc ? (json_t *)kc : json_null());
	if (prev && json_equal(prev->conf, conf)) {
		json_decref(conf);
		atomic_fetch_add(&prev->refs, 1);
		return prev;
	}
	p = xcalloc(1, sizeof(*p));
	atomic_init(&p->refs, 1);
	p->id = id;
	p->name = xstrdup(json_string_value(json_object_get(pj, "name")) ?: "?");
	p->lb = lb && strcmp(lb, "LB_ALGORITHM_LEAST_CONNECTIONS") == 0 ? PX_LB_LC : PX_LB_RR;
	p->conf = conf;
	p->src = pj;
	px_tls_pool_setup(p, pj, sp, pk, kc);
	p->nmon = (unsigned)json_array_size(mons);
	p->mon = xcalloc(p->nmon + 1, sizeof(*p->mon));
	json_array_foreach(mons, i, r)
	{
		hm_parse(r, &p->mon[i]);
		p->mon[i].pool = p;
	}
	/* Health state carries over only while the monitors are the same. */
	bool same_mons = prev && json_equal(json_object_get(prev->conf, "monitors"), mons);

	const json_t *servers = json_object_get(pj, "servers");
	p->srv = xcalloc(json_array_size(servers) + 1, sizeof(*p->srv));
	json_array_foreach(servers, i, sj)
	{
		union addr_any a;
		json_int_t port = json_integer_value(json_object_get(sj, "port"));
		const json_t *en = json_object_get(sj, "enabled");
		struct px_server *s;

		if (parse_addr(json_object_get(sj, "ip"), &a) < 0)
			continue;
		addr_set_port(&a, (uint16_t)(port > 0 ? port : dport > 0 ? dport : 80));
		if (old_server(p, &a))
			continue; /* a duplicate member */
		s = same_mons ? old_server(prev, &a) : NULL;
		if (s) {
			atomic_fetch_add(&s->refs, 1);
		} else {
			/* New monitors start from the member's last known health
			 * (a DOWN server must earn its way back), others from UP. */
			struct px_server *was = old_server(prev, &a);
			bool up = !was || !p->nmon || atomic_load(&was->up);
			s = xcalloc(1, sizeof(*s));
			atomic_init(&s->refs, 1);
			pthread_mutex_init(&s->tls_lock, NULL);
			s->addr = a;
			route_source(&a, &s->src);
			atomic_init(&s->up, up);
			s->nhs = p->nmon;
			s->hs = xcalloc(p->nmon + 1, sizeof(*s->hs));
			for (unsigned k = 0; k < p->nmon; k++) {
				s->hs[k].ev.kind = PX_EV_CHECK;
				s->hs[k].srv = s;
				s->hs[k].idx = k;
				s->hs[k].up = up;
				s->hs[k].why = up ? NULL : "down before the monitors changed";
				s->hs[k].fd = -1;
			}
		}
		atomic_store(&s->enabled, !json_is_false(en));
		p->srv[p->nsrv++] = s;
	}
	return p;
}

/* Like find_pool_id(), for the services of @g. */
static struct px_vs *find_vs_id(const struct px_gen *g, int64_t id)
{
	unsigned lo = 0, hi = g ? g->nvs : 0;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (g->vs[mid]->id == id)
			return g->vs[mid];
		if (g->vs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (unsigned i = 0; g && i < g->nvs; i++)
		if (g->vs[i]->id == id)
			return g->vs[i];
	return NULL;
}

static struct px_vs *vs_build(const json_t *snap, const json_t *vj, struct px_gen *g,
			      const struct px_gen *old)
{
	const char *tenant = json_string_value(json_object_get(vj, "tenant_ref"));
	const char *pref = json_string_value(json_object_get(vj, "pool_ref"));
	int64_t id = json_integer_value(json_object_get(vj, "_id"));
	struct px_vs *prev = find_vs_id(old, id), *vs;
	struct px_pool *pool = prev && prev->pool ? find_pool_id(g->pool, g->npool, prev->pool->id)
						  : NULL;
	json_t *certs = json_array(), *conf;
	const json_t *pj, *x, *e, *vsvip, *sslp;
	size_t i;

	/* The pool of the last generation, when it still is the one referenced
	 * (by uuid), saves a search of every pool. */
	pj = pool ? json_object_get(pool->conf, "pool") : NULL;
	if (!pj || !pref || !tenant ||
	    strcmp(pref, json_string_value(json_object_get(pj, "uuid")) ?: "") ||
	    strcmp(tenant, json_string_value(json_object_get(pj, "tenant_ref")) ?: "")) {
		pool = NULL;
		pj = snap_find(snap, "pool", tenant, pref);
		if (pj)
			pool = find_pool_id(g->pool, g->npool,
					    json_integer_value(json_object_get(pj, "_id")));
	}
	json_array_foreach(json_object_get(vj, "ssl_key_and_certificate_refs"), i, x)
	{
		const json_t *c =
			snap_find(snap, "sslkeyandcertificate", tenant, json_string_value(x));
		if (c)
			json_array_append(certs, (json_t *)c);
	}
	/* A vsvip's addresses are the service's: a change of the vsvip is a
	 * change of the service, which is built again on them. */
	vsvip = snap_find(snap, "vsvip", tenant, json_string_value(json_object_get(vj, "vsvip_ref")));
	/* By uuid, in any tenant: a tenant's services use admin's System-Standard. */
	sslp = snap_find(snap, "sslprofile", NULL,
			 json_string_value(json_object_get(vj, "ssl_profile_ref")));
	/* The profile is part of the certificates' contexts: a change of it
	 * builds them again. */
	if (sslp)
		json_array_append(certs, (json_t *)sslp);
	conf = json_pack("{sOsosO?}", "vs", (json_t *)vj, "certs", certs, "vsvip", (json_t *)vsvip);
	if (prev && prev->pool == pool && json_equal(prev->conf, conf)) {
		json_decref(conf);
		atomic_fetch_add(&prev->refs, 1);
		return prev;
	}
	vs = xcalloc(1, sizeof(*vs));
	atomic_init(&vs->refs, 1);
	vs->id = id;
	vs->uuid = xstrdup(json_string_value(json_object_get(vj, "uuid")) ?: "");
	vs->name = xstrdup(json_string_value(json_object_get(vj, "name")) ?: "?");
	vs->enabled = !json_is_false(json_object_get(vj, "enabled"));
	vs->max_conns = (long)json_integer_value(json_object_get(
		json_object_get(vj, "performance_limits"), "max_concurrent_connections"));
	vs->conf = conf;
	vs->src = vj;
	if (pool) {
		atomic_fetch_add(&pool->refs, 1);
		vs->pool = pool;
	}
	if (prev) {
		vs->st = prev->st;
		atomic_fetch_add(&vs->st->refs, 1);
	} else {
		vs->st = xcalloc(1, sizeof(*vs->st));
		atomic_init(&vs->st->refs, 1);
		pthread_mutex_init(&vs->st->lock, NULL);
	}
	x = json_object_get(vsvip ? vsvip : vj, "vip");
	vs->vip = xcalloc(json_array_size(x) + 1, sizeof(*vs->vip));
	json_array_foreach(x, i, e)
	{
		if (json_is_false(json_object_get(e, "enabled")))
			continue;
		if (parse_addr(json_object_get(e, "ip_address"), &vs->vip[vs->nvip]) == 0)
			vs->nvip++;
	}
	x = json_object_get(vj, "services");
	vs->svc = xcalloc(json_array_size(x) + 1, sizeof(*vs->svc));
	json_array_foreach(x, i, e)
	{
		json_int_t port = json_integer_value(json_object_get(e, "port"));
		if (port <= 0 || port > 65535)
			continue;
		vs->svc[vs->nsvc].port = (uint16_t)port;
		vs->svc[vs->nsvc].ssl = json_is_true(json_object_get(e, "enable_ssl"));
		vs->nsvc++;
	}
	/* Certificates are reused when unchanged: building an SSL_CTX is not free. */
	bool same_certs = prev && json_equal(json_object_get(prev->conf, "certs"), certs);
	if (same_certs && prev->nctx) {
		vs->ctx = xcalloc(prev->nctx, sizeof(*vs->ctx));
		for (unsigned k = 0; k < prev->nctx; k++) {
			SSL_CTX_up_ref(prev->ctx[k]);
			vs->ctx[vs->nctx++] = prev->ctx[k];
		}
		px_tls_setup_vs(vs);
	} else if (json_array_size(certs)) {
		vs->ctx = xcalloc(json_array_size(certs), sizeof(*vs->ctx));
		json_array_foreach(certs, i, x)
		{
			char *err = NULL;
			SSL_CTX *ctx;
			if (x == sslp)
				continue;
			if (px_tls_ctx(json_string_value(json_object_get(
					       json_object_get(x, "certificate"), "certificate")),
				       json_string_value(json_object_get(x, "key")), sslp, &ctx,
				       &err) < 0) {
				px_log("virtual service %s: certificate %s: %s", vs->name,
				       json_string_value(json_object_get(x, "name")), err);
				if (!vs->ssl_err)
					vs->ssl_err = xasprintf(
						"certificate %s: %s",
						json_string_value(json_object_get(x, "name")), err);
				free(err);
				continue;
			}
			vs->ctx[vs->nctx++] = ctx;
		}
		px_tls_setup_vs(vs);
	}
	if (!vs->nctx && !vs->ssl_err)
		for (unsigned k = 0; k < vs->nsvc; k++)
			if (vs->svc[k].ssl)
				vs->ssl_err = xstrdup("enable_ssl without a usable certificate");
	return vs;
}

/*
 * Builds the generation for @snap, reusing from @old every pool, server and
 * service whose configuration did not change, so their counters, health and
 * live connections carry on. Never fails: what cannot be used is logged and
 * left out. Returns a new reference.
 */
/* The "_id"s of the objects that differ between the id-ordered lists @a and
 * @b (changed, added or removed), found by pointer: only those are looked
 * into. *ret_n is their number; caller frees. */
static int64_t *changed_ids(const json_t *a, const json_t *b, size_t *ret_n)
{
	size_t i = 0, j = 0, na = json_array_size(a), nb = json_array_size(b), n = 0;
	int64_t *ids = xcalloc(na + nb + 1, sizeof(*ids));

	while (i < na || j < nb) {
		const json_t *x = json_array_get(a, i), *y = json_array_get(b, j);
		int64_t ix = x ? json_integer_value(json_object_get(x, "_id")) : INT64_MAX;
		int64_t iy = y ? json_integer_value(json_object_get(y, "_id")) : INT64_MAX;

		if (x && x == y) {
			i++, j++;
			continue;
		}
		ids[n++] = ix < iy ? ix : iy;
		i += ix <= iy;
		j += iy <= ix;
	}
	*ret_n = n;
	return ids;
}

/* Whether pool @p uses a monitor of @ids. */
static bool uses_monitor(const struct px_pool *p, const int64_t *ids, size_t n)
{
	for (unsigned k = 0; k < p->nmon; k++)
		for (size_t c = 0; c < n; c++)
			if (p->mon[k].id == ids[c])
				return true;
	return false;
}

struct px_gen *px_gen_build(const json_t *snap, const struct px_gen *old, unsigned seq)
{
	const json_t *pools = json_object_get(snap, "pool");
	const json_t *vss = json_object_get(snap, "virtualservice"), *o;
	struct px_gen *g = xcalloc(1, sizeof(*g));
	/* The store shares unchanged objects, and unchanged lists, between
	 * snapshots: an object that is the very one the old generation was
	 * built from, with none of the monitors it uses changed (or, for a
	 * service, no certificate changed), is reused without being looked into. */
	bool known = old && old->snap;
	size_t nhm = 0;
	int64_t *hm_changed = known ? changed_ids(json_object_get(old->snap, "healthmonitor"),
						  json_object_get(snap, "healthmonitor"), &nhm)
				    : NULL;
	bool same_certs = old && old->snap &&
			  json_object_get(old->snap, "sslkeyandcertificate") ==
				  json_object_get(snap, "sslkeyandcertificate") &&
			  json_object_get(old->snap, "sslprofile") ==
				  json_object_get(snap, "sslprofile");
	/* A TLS pool is looked into when a profile or certificate changed. */
	bool same_tls = same_certs && old->snap &&
			json_object_get(old->snap, "pkiprofile") == json_object_get(snap, "pkiprofile");
	/* A service on a vsvip is looked into when any vsvip changed. */
	bool same_vsvips = old && old->snap &&
			   json_object_get(old->snap, "vsvip") == json_object_get(snap, "vsvip");
	unsigned j = 0;
	size_t i;

	atomic_init(&g->refs, 1);
	g->seq = seq;
	g->snap = json_incref((json_t *)snap);
	g->pool = xcalloc(json_array_size(pools) + 1, sizeof(*g->pool));
	json_array_foreach(pools, i, o)
	{
		/* Both lists are in _id order: j follows i through the old one. */
		struct px_pool *p = old && j < old->npool ? old->pool[j] : NULL;

		if (p && known && p->src == o && !uses_monitor(p, hm_changed, nhm) &&
		    (same_tls || !p->tls)) {
			atomic_fetch_add(&p->refs, 1);
		} else {
			p = pool_build(snap, o, old);
			while (old && j < old->npool && old->pool[j]->id < p->id)
				j++;
		}
		if (old && j < old->npool && old->pool[j]->id == p->id)
			j++;
		g->pool[g->npool++] = p;
	}
	g->vs = xcalloc(json_array_size(vss) + 1, sizeof(*g->vs));
	j = 0;
	json_array_foreach(vss, i, o)
	{
		struct px_vs *v = old && j < old->nvs ? old->vs[j] : NULL;

		if (v && same_certs && v->src == o &&
		    (same_vsvips || !json_object_get(o, "vsvip_ref")) &&
		    (!v->pool || find_pool_id(g->pool, g->npool, v->pool->id) == v->pool)) {
			atomic_fetch_add(&v->refs, 1);
		} else {
			v = vs_build(snap, o, g, old);
			while (old && j < old->nvs && old->vs[j]->id < v->id)
				j++;
		}
		if (old && j < old->nvs && old->vs[j]->id == v->id)
			j++;
		g->vs[g->nvs++] = v;
	}
	free(hm_changed);
	return g;
}

static bool usable(struct px_server *s)
{
	return atomic_load_explicit(&s->enabled, memory_order_relaxed) &&
	       atomic_load_explicit(&s->up, memory_order_relaxed);
}

static bool candidate(struct px_server *s, struct px_server *const *tried, unsigned ntried)
{
	if (!usable(s))
		return false;
	for (unsigned k = 0; k < ntried; k++)
		if (tried[k] == s)
			return false;
	return true;
}

/*
 * Picks a server of @p for a new connection: round robin or least
 * connections over enabled, healthy members, skipping the @ntried servers
 * in @tried. The cursor counts turns among the candidates only, so a member
 * that is down or disabled hands its share evenly to the others instead of
 * passing its turn to the member after it. Lock-free. Returns a borrowed
 * server, or NULL when none is usable.
 */
struct px_server *px_pool_pick(struct px_pool *p, struct px_server *const *tried, unsigned ntried)
{
	struct px_server *best = NULL;
	long best_cur = 0;
	unsigned n = 0, turn, c = 0, best_rank = 0;

	if (!p || !p->nsrv)
		return NULL;
	for (unsigned i = 0; i < p->nsrv; i++)
		n += candidate(p->srv[i], tried, ntried);
	if (!n)
		return NULL;
	turn = atomic_fetch_add_explicit(&p->rr, 1, memory_order_relaxed) % n;
	for (unsigned i = 0; i < p->nsrv; i++) {
		struct px_server *s = p->srv[i];
		unsigned rank;
		long cur;

		if (!candidate(s, tried, ntried))
			continue;
		/* Candidate c's place in this turn's order: 0 for the one whose turn it is. */
		rank = (c++ + n - turn) % n;
		if (p->lb == PX_LB_RR) {
			if (rank == 0)
				return s;
			continue;
		}
		cur = atomic_load_explicit(&s->cur, memory_order_relaxed);
		if (!best || cur < best_cur || (cur == best_cur && rank < best_rank)) {
			best = s;
			best_cur = cur;
			best_rank = rank;
		}
	}
	/* A member changed state between the two passes: take any candidate. */
	if (!best)
		for (unsigned i = 0; i < p->nsrv && !best; i++)
			if (candidate(p->srv[i], tried, ntried))
				best = p->srv[i];
	return best;
}

/* Returns whether @p has at least one enabled, healthy member (and, for a
 * TLS pool, the TLS to reach it). */
bool px_pool_has_usable(const struct px_pool *p)
{
	/* TLS that cannot be set up reaches no server (p->tls_err). */
	if (p && p->tls && !p->sctx)
		return false;
	for (unsigned i = 0; p && i < p->nsrv; i++)
		if (usable(p->srv[i]))
			return true;
	return false;
}

static json_t *addr_json(const union addr_any *a)
{
	char buf[ADDR_STRLEN];

	return json_pack("{ssss}", "addr", addr_ntop(a, buf), "type",
			 a->sa.sa_family == AF_INET6 ? "V6" : "V4");
}

/* The runtime view of @vs (see px_runtime()). New reference. */
json_t *px_vs_runtime(const struct px_vs *vs)
{
	json_t *r, *members = json_array(), *svcs = json_array(), *vips = json_array();
	const struct px_pool *p = vs->pool;

	for (unsigned i = 0; i < vs->nvip; i++)
		json_array_append_new(vips, json_pack("{so}", "ip_address", addr_json(&vs->vip[i])));
	for (unsigned i = 0; i < vs->nsvc; i++)
		json_array_append_new(svcs, json_pack("{sisb}", "port", vs->svc[i].port,
						      "enable_ssl", vs->svc[i].ssl));
	for (unsigned i = 0; p && i < p->nsrv; i++) {
		struct px_server *s = p->srv[i];
		json_t *m = json_pack("{sosisbsssIsIsI}", "ip", addr_json(&s->addr), "port",
				      addr_port(&s->addr), "enabled", atomic_load(&s->enabled),
				      "health", atomic_load(&s->up) ? "UP" : "DOWN",
				      "current_connections", (json_int_t)atomic_load(&s->cur),
				      "total_connections", (json_int_t)atomic_load(&s->total),
				      "connect_failures", (json_int_t)atomic_load(&s->fails));
		json_t *checks = json_array();
		for (unsigned k = 0; k < s->nhs && k < p->nmon; k++) {
			/* Read without the health thread's cooperation: a torn
			 * reason is impossible (static strings), a stale one harmless. */
			const struct px_hstate *h = &s->hs[k];
			json_t *c = json_pack("{sssbsI}", "health_monitor", p->mon[k].name, "up", h->up,
					      "checks_skipped", (json_int_t)atomic_load(&h->skipped));
			if (!h->up && h->why)
				json_object_set_new(c, "reason", json_string(h->why));
			json_array_append_new(checks, c);
		}
		json_object_set_new(m, "health_monitors", checks);
		const char *tw = atomic_load(&s->tls_why);
		if (p->tls)
			json_object_set_new(m, "tls_error", tw ? json_string(tw) : json_null());
		json_array_append_new(members, m);
	}
	pthread_mutex_lock(&vs->st->lock);
	const char *lerr = vs->st->listen_err;
	r = json_pack("{sssssbsososIsIsIsIs{sIsI}}", "uuid", vs->uuid, "name", vs->name, "enabled",
		      vs->enabled, "vip", vips, "services", svcs, "connections_current",
		      (json_int_t)atomic_load(&vs->st->cur), "connections_total",
		      (json_int_t)atomic_load(&vs->st->total), "connections_refused",
		      (json_int_t)atomic_load(&vs->st->refused), "connections_failed",
		      (json_int_t)atomic_load(&vs->st->failed), "connections", "current",
		      (json_int_t)atomic_load(&vs->st->cur), "total",
		      (json_int_t)atomic_load(&vs->st->total));
	json_object_set_new(r, "listen_error", lerr ? json_string(lerr) : json_null());
	/* At the limit, connections wait in the kernel backlog (px_worker.c). */
	json_object_set_new(r, "connections_waiting",
			    json_integer((json_int_t)atomic_load(&vs->st->waiting)));
	json_object_set_new(r, "connections_limited",
			    json_integer((json_int_t)atomic_load(&vs->st->limited)));
	json_object_set_new(r, "max_concurrent_connections", json_integer(vs->max_conns));
	pthread_mutex_unlock(&vs->st->lock);
	json_object_set_new(r, "ssl_error", vs->ssl_err ? json_string(vs->ssl_err) : json_null());
	if (p) {
		json_t *pr = json_pack("{sssssbso}", "name", p->name, "lb_algorithm",
				       p->lb == PX_LB_LC ? "LB_ALGORITHM_LEAST_CONNECTIONS"
							 : "LB_ALGORITHM_ROUND_ROBIN",
				       "up", px_pool_has_usable(p), "members", members);
		/* What the connections to the servers are: plain, verified TLS,
		 * or TLS whose server certificates nobody checks. */
		json_object_set_new(pr, "server_tls", p->tls ? px_tls_pool_json(p) : json_null());
		json_object_set_new(r, "pool", pr);
	}
	else {
		json_object_set_new(r, "pool", json_null());
		json_decref(members);
	}
	return r;
}
