/* inproc.c: the REST API in-process: a store, a router, and the path escaping undone. */
#include "api/inproc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/route.h"
#include "config/store.h"
#include "lib/util.h"

struct api_inproc {
	struct cfg_store *store;
	struct api_router router;
	unsigned requests; /* that reached the router */
};

int api_inproc_open(const char *db_path, struct api_inproc **ret, char **ret_err)
{
	struct api_inproc *a = xcalloc(1, sizeof(*a));
	int r = cfg_store_open(db_path, &a->store, ret_err);

	if (r < 0) {
		free(a);
		return r;
	}
	/* No runtime or clone_stats views: the routes answer from the store. */
	a->router = (struct api_router){.store = a->store, .se_uuid = "unit:se-0", .ctx = a};
	*ret = a;
	return 0;
}

void api_inproc_close(struct api_inproc *a)
{
	if (!a)
		return;
	cfg_store_close(a->store);
	free(a);
}

unsigned api_inproc_requests(const struct api_inproc *a) { return a->requests; }

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes the %XX escapes of the first @n bytes of @s into a new string. A
 * '%' not followed by two hex digits stays as it is, as an HTTP server
 * leaves it. Returns NULL when an escape decodes to a NUL byte, which no
 * name can hold.
 */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		int hi = -1, lo = -1;

		if (s[i] == '%' && i + 2 < n) {
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
		}
		if (hi >= 0 && lo >= 0) {
			if (hi == 0 && lo == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

/* The value of @key in query string @q (after '?'), unescaped, or NULL (also
 * for a value holding a NUL escape). Caller frees. */
static char *query_arg(const char *q, const char *key)
{
	size_t klen = strlen(key);

	while (q && *q) {
		size_t len = strcspn(q, "&");

		if (len >= klen && !strncmp(q, key, klen) && (len == klen || q[klen] == '='))
			return len == klen ? xstrdup("") : unescape(q + klen + 1, len - klen - 1);
		q += len;
		if (*q)
			q++;
	}
	return NULL;
}

int api_inproc_request(void *ctx, const char *method, const char *path, const char *tenant,
		       const json_t *body, json_t **ret_body, char **ret_err)
{
	struct api_inproc *a = ctx;
	char *upath, *detail, *name, *page, *page_size, *incl;
	const char *q, *qs;
	struct api_query aq;
	size_t plen;
	unsigned status;

	if (!method || !path) {
		*ret_err = xstrdup("in-process API: a request needs a method and a path");
		return -EINVAL;
	}
	a->requests++;
	q = strchr(path, '?');
	plen = q ? (size_t)(q - path) : strlen(path);
	upath = unescape(path, plen);
	if (!upath) {
		/* What a server answers for a path it cannot take. */
		*ret_body = json_pack("{s:s}", "error", "path: %00 (a NUL byte) is not allowed");
		return 400;
	}
	qs = q ? q + 1 : NULL;
	detail = query_arg(qs, "detail");
	aq = (struct api_query){
		.detail = detail && (!strcmp(detail, "1") || !strcmp(detail, "true")),
		.name = name = query_arg(qs, "name"),
		.page = page = query_arg(qs, "page"),
		.page_size = page_size = query_arg(qs, "page_size"),
	};
	incl = query_arg(qs, "include_name");
	aq.include_name = incl && strcmp(incl, "false") && strcmp(incl, "0");
	status = api_route(&a->router, method, upath, tenant, &aq, body, ret_body);
	free(incl);
	free(detail);
	free(name);
	free(page);
	free(page_size);
	free(upath);
	return (int)status;
}
