/* store_etcd_kv.c: the etcd v3 JSON gateway from C: unary calls, base64 keys and values, leases, a streaming watch. */
#include "config/store_etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define MAX_ENDPOINTS 16
/* A unary call that takes longer is treated as a lost cluster: writes then
 * answer 503 quickly instead of hanging the API. */
#define CALL_TIMEOUT_MS 3000
#define CONNECT_TIMEOUT_MS 1000

struct cfg_etcd {
	char *where;
	char *ep[MAX_ENDPOINTS]; /* "http://HOST:PORT" */
	char *shown[MAX_ENDPOINTS]; /* "HOST:PORT" */
	int n;
	atomic_int good; /* the endpoint that answered last */
	char *ca, *cert, *key;
};

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *d, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		char *p;

		b->cap = (b->len + n + 1) * 2;
		p = xmalloc(b->cap);
		if (b->p)
			memcpy(p, b->p, b->len);
		free(b->p);
		b->p = p;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cfg_etcd_new(const char *endpoints, const struct cfg_store_tls *tls, struct cfg_etcd **ret,
		 char **ret_err)
{
	struct cfg_etcd *e = xcalloc(1, sizeof(*e));
	bool https = tls && (tls->ca || tls->cert);
	char *copy = xstrdup(endpoints), *save = NULL, *tok;

	pthread_once(&curl_once, curl_init_once);
	e->where = xasprintf("etcd://%s", endpoints);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':'), *end;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;

		if (!colon || colon == tok || !colon[1] || *end || port < 1 || port > 65535 ||
		    e->n == MAX_ENDPOINTS || strpbrk(tok, "/?#@ ")) {
			*ret_err = xasprintf("--store: invalid etcd endpoint '%s' in '%s' (HOST:PORT, "
					     "at most %d of them, comma-separated)",
					     tok, endpoints, MAX_ENDPOINTS);
			free(copy);
			cfg_etcd_free(e);
			return -EINVAL;
		}
		e->shown[e->n] = xstrdup(tok);
		e->ep[e->n++] = xasprintf("%s://%s", https ? "https" : "http", tok);
	}
	free(copy);
	if (!e->n) {
		*ret_err = xasprintf("--store: no etcd endpoint in 'etcd://%s'", endpoints);
		cfg_etcd_free(e);
		return -EINVAL;
	}
	if (tls) {
		e->ca = tls->ca ? xstrdup(tls->ca) : NULL;
		e->cert = tls->cert ? xstrdup(tls->cert) : NULL;
		e->key = tls->key ? xstrdup(tls->key) : NULL;
	}
	*ret = e;
	return 0;
}

void cfg_etcd_free(struct cfg_etcd *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n; i++) {
		free(e->ep[i]);
		free(e->shown[i]);
	}
	free(e->where);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e);
}

const char *cfg_etcd_where(const struct cfg_etcd *e)
{
	return e->where;
}

static size_t collect(char *d, size_t size, size_t n, void *ctx)
{
	buf_add(ctx, d, size * n);
	return size * n;
}

/* A handle for one request to endpoint @i. */
static CURL *handle(struct cfg_etcd *e, int i, const char *path, const char *body,
		    struct curl_slist *hdrs, char *errbuf)
{
	CURL *c = curl_easy_init();
	char *url = xasprintf("%s%s", e->ep[i], path);

	curl_easy_setopt(c, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (e->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	if (e->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
	errbuf[0] = 0;
	return c;
}

/* Adds "etcd at HOST:PORT: why" to the list of failures @why. */
static void failed(char **why, const char *ep, const char *what)
{
	char *more = xasprintf("%s%setcd at %s: %s", *why ? *why : "", *why ? "; " : "", ep, what);

	free(*why);
	*why = more;
}

int cfg_etcd_call(struct cfg_etcd *e, const char *path, const json_t *req, json_t **ret,
		  char **ret_err)
{
	char *body = json_dumps(req, JSON_COMPACT), *why = NULL;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	int first = atomic_load(&e->good), r = -EAGAIN;

	for (int k = 0; k < e->n; k++) {
		int i = (first + k) % e->n;
		char errbuf[CURL_ERROR_SIZE];
		struct buf b = {0};
		CURL *c = handle(e, i, path, body, hdrs, errbuf);
		long status = 0;
		CURLcode cc;

		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CALL_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		if (cc != CURLE_OK) {
			failed(&why, e->shown[i], errbuf[0] ? errbuf : curl_easy_strerror(cc));
			free(b.p);
			continue;
		}
		json_t *a = b.p ? json_loads(b.p, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(a, "error"));
		if (!a || status >= 500 || (status != 200 && !msg)) {
			/* A member without a leader answers 5xx: try the next one. */
			char *what = xasprintf("HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
			failed(&why, e->shown[i], what);
			free(what);
			json_decref(a);
			free(b.p);
			continue;
		}
		free(b.p);
		atomic_store(&e->good, i);
		if (msg) {
			*ret_err = xasprintf("etcd at %s: %s", e->shown[i], msg);
			json_decref(a);
			r = -EIO;
		} else {
			*ret = a;
			r = 0;
		}
		free(why);
		why = NULL;
		break;
	}
	if (why) {
		*ret_err = xasprintf("store unavailable: %s", why);
		free(why);
	}
	curl_slist_free_all(hdrs);
	free(body);
	return r;
}

json_t *cfg_etcd_b64(const char *s, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	json_t *j;

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	j = json_string(out);
	free(out);
	return j;
}

json_t *cfg_etcd_key(const char *key)
{
	return cfg_etcd_b64(key, strlen(key));
}

json_t *cfg_etcd_prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	size_t n = strlen(end);
	json_t *j;

	/* Printable prefixes only: the last byte never overflows. */
	end[n - 1]++;
	j = cfg_etcd_key(end);
	free(end);
	return j;
}

char *cfg_etcd_unb64(const char *b64, size_t *ret_len)
{
	size_t n = b64 ? strlen(b64) : 0, pad = 0;
	char *out;
	int len;

	if (n % 4)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	len = n ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n) : 0;
	if (len < 0) {
		free(out);
		return NULL;
	}
	while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
		pad++;
	len -= (int)pad;
	out[len] = 0;
	if (ret_len)
		*ret_len = (size_t)len;
	return out;
}

int64_t cfg_etcd_int(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

int cfg_etcd_range(struct cfg_etcd *e, const char *prefix, json_t **ret_kvs, uint64_t *ret_rev,
		   char **ret_err)
{
	json_t *req = json_pack("{s:o, s:o}", "key", cfg_etcd_key(prefix), "range_end",
				cfg_etcd_prefix_end(prefix));
	json_t *a = NULL, *kv, *out;
	size_t i;
	int r = cfg_etcd_call(e, "/v3/kv/range", req, &a, ret_err);

	json_decref(req);
	if (r < 0)
		return r;
	out = json_array();
	json_array_foreach(json_object_get(a, "kvs"), i, kv)
	{
		char *k = cfg_etcd_unb64(json_string_value(json_object_get(kv, "key")), NULL);
		char *v = cfg_etcd_unb64(json_string_value(json_object_get(kv, "value")), NULL);

		json_array_append_new(
			out, json_pack("{s:s, s:s, s:I, s:I, s:I}", "key", k ? k : "", "value",
				       v ? v : "", "create_revision",
				       (json_int_t)cfg_etcd_int(json_object_get(kv, "create_revision")),
				       "mod_revision",
				       (json_int_t)cfg_etcd_int(json_object_get(kv, "mod_revision")),
				       "lease", (json_int_t)cfg_etcd_int(json_object_get(kv, "lease"))));
		free(k);
		free(v);
	}
	if (ret_rev)
		*ret_rev = (uint64_t)cfg_etcd_int(
			json_object_get(json_object_get(a, "header"), "revision"));
	json_decref(a);
	*ret_kvs = out;
	return 0;
}

int cfg_etcd_put(struct cfg_etcd *e, const char *key, const char *value, int64_t lease,
		 char **ret_err)
{
	json_t *req = json_pack("{s:o, s:o}", "key", cfg_etcd_key(key), "value",
				cfg_etcd_key(value)), *a = NULL;
	int r;

	if (lease)
		json_object_set_new(req, "lease", json_sprintf("%lld", (long long)lease));
	r = cfg_etcd_call(e, "/v3/kv/put", req, &a, ret_err);
	json_decref(req);
	json_decref(a);
	return r;
}

int cfg_etcd_lease_grant(struct cfg_etcd *e, int ttl, int64_t *ret_id, char **ret_err)
{
	json_t *req = json_pack("{s:o}", "TTL", json_sprintf("%d", ttl)), *a = NULL;
	int r;

	r = cfg_etcd_call(e, "/v3/lease/grant", req, &a, ret_err);
	json_decref(req);
	if (r == 0) {
		*ret_id = cfg_etcd_int(json_object_get(a, "ID"));
		if (!*ret_id) {
			*ret_err = xasprintf("etcd: lease grant answered no ID");
			r = -EIO;
		}
	}
	json_decref(a);
	return r;
}

int cfg_etcd_lease_keepalive(struct cfg_etcd *e, int64_t id, int64_t *ret_ttl, char **ret_err)
{
	json_t *req = json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)id)), *a = NULL;
	int r = cfg_etcd_call(e, "/v3/lease/keepalive", req, &a, ret_err);

	json_decref(req);
	if (r == 0)
		*ret_ttl = cfg_etcd_int(json_object_get(json_object_get(a, "result"), "TTL"));
	json_decref(a);
	return r;
}

int cfg_etcd_lease_revoke(struct cfg_etcd *e, int64_t id, char **ret_err)
{
	json_t *req = json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)id)), *a = NULL;
	int r = cfg_etcd_call(e, "/v3/lease/revoke", req, &a, ret_err);

	json_decref(req);
	json_decref(a);
	return r;
}

struct watch_ctx {
	struct buf b;
	cfg_etcd_watch_fn fn;
	void *ctx;
	atomic_bool *stop;
	bool ended;   /* fn asked to end */
	bool garbled; /* the stream did not parse */
};

/* Splits the stream into its JSON messages as they arrive. */
static size_t on_stream(char *d, size_t size, size_t n, void *p)
{
	struct watch_ctx *w = p;
	size_t off = 0;

	buf_add(&w->b, d, size * n);
	while (off < w->b.len) {
		json_error_t je;
		json_t *m;

		while (off < w->b.len && strchr(" \r\n\t", w->b.p[off]))
			off++;
		if (off == w->b.len)
			break;
		m = json_loadb(w->b.p + off, w->b.len - off, JSON_DISABLE_EOF_CHECK, &je);
		if (!m && json_error_code(&je) == json_error_premature_end_of_input)
			break; /* incomplete: wait for more */
		if (!m) {
			/* Not the gateway's stream: watching again is all we can do. */
			w->garbled = true;
			return 0;
		}
		off += (size_t)je.position;
		if (w->fn(w->ctx, m)) {
			json_decref(m);
			w->ended = true;
			return 0; /* aborts the transfer */
		}
		json_decref(m);
	}
	memmove(w->b.p, w->b.p + off, w->b.len - off);
	w->b.len -= off;
	return size * n;
}

static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watch_ctx *w = p;

	if (atomic_load(w->stop))
		return 1;
	if (w->fn(w->ctx, NULL)) {
		w->ended = true;
		return 1;
	}
	return 0;
}

int cfg_etcd_watch(struct cfg_etcd *e, const char *prefix, uint64_t start_rev,
		   cfg_etcd_watch_fn fn, void *ctx, atomic_bool *stop, char **ret_err)
{
	json_t *req = json_pack("{s:{s:o, s:o}}", "create_request", "key", cfg_etcd_key(prefix),
				"range_end", cfg_etcd_prefix_end(prefix));
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	struct watch_ctx w = {.fn = fn, .ctx = ctx, .stop = stop};
	int i = atomic_load(&e->good), r;
	char errbuf[CURL_ERROR_SIZE], *body;
	CURLcode cc;
	CURL *c;

	if (start_rev)
		json_object_set_new(json_object_get(req, "create_request"), "start_revision",
				    json_sprintf("%llu", (unsigned long long)start_rev));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	c = handle(e, i, "/v3/watch", body, hdrs, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &w);
	/* A cluster that vanishes without closing the connection (a host
	 * down, a cable cut) is noticed within a few seconds. */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	free(body);
	free(w.b.p);
	if (w.ended || atomic_load(stop))
		return 0;
	/* Next time, another member. */
	atomic_store(&e->good, (i + 1) % e->n);
	*ret_err = xasprintf("store unavailable: etcd at %s: watch ended: %s", e->shown[i],
			     w.garbled	       ? "its stream is not JSON"
			     : cc == CURLE_OK ? "the member closed the stream"
			     : errbuf[0]      ? errbuf
					      : curl_easy_strerror(cc));
	r = -EAGAIN;
	return r;
}
