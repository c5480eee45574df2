/* ref.c: reference forms (name, uuid, /api/<type>/<uuid>, URL with #name, ?name=): parsing and the URL written in answers. */
#include "config/ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Decodes the percent escapes of @s[0..n); NULL when one is malformed or
 * decodes to a NUL. */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *p = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*p++ = s[i];
			continue;
		}
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]))
			goto bad;
		char hex[3] = {s[i + 1], s[i + 2], 0};
		*p = (char)strtoul(hex, NULL, 16);
		if (!*p)
			goto bad;
		p++;
		i += 2;
	}
	*p = 0;
	return out;
bad:
	free(out);
	return NULL;
}

/* The "?name=X" query of a reference: only name is known. */
static int parse_query(const char *text, const char *q, char **ret_name, char **ret_err)
{
	char *name = NULL;

	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);

		if (eq && (size_t)(eq - q) == 4 && strncmp(q, "name", 4) == 0 && !name) {
			name = unescape(eq + 1, n - 5);
			if (!name || !*name) {
				*ret_err = xasprintf("'%s': empty or malformed name= value", text);
				free(name);
				return -EINVAL;
			}
		} else if (n) {
			*ret_err = xasprintf("'%s': unknown query parameter '%.*s' (a reference "
					     "takes only name=)",
					     text, (int)(eq ? (size_t)(eq - q) : n), q);
			free(name);
			return -EINVAL;
		}
		q += n + (q[n] == '&');
	}
	if (!name) {
		*ret_err = xasprintf("'%s': expected /api/<type>?name=<name>", text);
		return -EINVAL;
	}
	*ret_name = name;
	return 0;
}

int cfg_ref_parse(const char *text, struct cfg_ref *ret, char **ret_err)
{
	const char *p = text, *t, *end;
	struct cfg_ref r = {0};
	size_t n;

	if (!text || !*text) {
		*ret_err = xstrdup("empty reference");
		return -EINVAL;
	}
	if (strncmp(p, "https://", 8) == 0 || strncmp(p, "http://", 7) == 0) {
		/* The host is the client's business: any host and port name this
		 * controller's objects, as the reference product's do. */
		p = strchr(p + 7 + (p[4] == 's'), '/');
		if (!p) {
			*ret_err = xasprintf("'%s': expected https://host/api/<type>/<uuid>", text);
			return -EINVAL;
		}
	} else if (*p != '/') {
		if (strpbrk(p, "/?#%") || strlen(p) > 255) {
			*ret_err = xasprintf("'%s': not a name, a uuid or /api/<type>/<uuid>", text);
			return -EINVAL;
		}
		ret->by = CFG_REF_BARE;
		ret->type = NULL;
		ret->key = xstrdup(p);
		return 0;
	}
	if (strncmp(p, "/api/", 5) != 0) {
		*ret_err = xasprintf("'%s': expected /api/<type>/<uuid> or /api/<type>?name=<name>",
				     text);
		return -EINVAL;
	}
	t = p + 5;
	n = strcspn(t, "/?#");
	if (n == 0) {
		*ret_err = xasprintf("'%s': no object type after /api/", text);
		return -EINVAL;
	}
	r.type = strndup(t, n);
	p = t + n;
	if (*p == '/' && p[1] != '?') {
		p++;
		n = strcspn(p, "/?#");
		end = p + n;
		if (n == 0 || *end == '/' || *end == '?') {
			*ret_err = xasprintf("'%s': expected /api/%s/<uuid>", text, r.type);
			goto fail;
		}
		/* "#name" after the uuid is what ?include_name adds: informative,
		 * the uuid decides. */
		r.by = CFG_REF_UUID;
		r.key = unescape(p, n);
	} else if (*p == '?' || (*p == '/' && p[1] == '?')) {
		p += *p == '/' ? 2 : 1;
		n = strcspn(p, "#");
		char *q = strndup(p, n);
		int e = parse_query(text, q, &r.key, ret_err);
		free(q);
		if (e < 0)
			goto fail;
		r.by = CFG_REF_NAME;
	} else {
		*ret_err = xasprintf("'%s': expected /api/%s/<uuid> or /api/%s?name=<name>", text,
				     r.type, r.type);
		goto fail;
	}
	if (!r.key || !*r.key) {
		*ret_err = xasprintf("'%s': malformed percent escape", text);
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	cfg_ref_clear(&r);
	return -EINVAL;
}

void cfg_ref_clear(struct cfg_ref *r)
{
	free(r->type);
	free(r->key);
	r->type = r->key = NULL;
}

char *cfg_ref_url(const char *base, const char *type, const char *uuid, const char *name)
{
	return xasprintf("%s/api/%s/%s%s%s", base ? base : "", type, uuid, name ? "#" : "",
			 name ? name : "");
}
