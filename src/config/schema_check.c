/* schema_check.c: the syntax checks every path (API, shell, store) shares: a value of each field kind, a whole object against its type, and the shell's text form of a value. */
#include "config/schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/refschema.h"
#include "lib/addr.h"
#include "lib/util.h"

int cfg_parse_ipv4(const char *s, unsigned int *ret_be_addr)
{
	struct in_addr a;

	/* inet_pton rejects 10.0.0.256, leading junk and short forms. */
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	if (ret_be_addr)
		*ret_be_addr = a.s_addr;
	return 0;
}

int cfg_parse_mac(const char *s, unsigned char ret_mac[6])
{
	unsigned char m[6];

	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		if (i < 5 && p[2] != ':')
			return -EINVAL;
		m[i] = (unsigned char)strtoul((char[]){p[0], p[1], 0}, NULL, 16);
	}
	if (ret_mac)
		memcpy(ret_mac, m, 6);
	return 0;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]) || s[i] == '/' || s[i] == ':')
			return false;
	return true;
}

static bool enum_ok(const char *const *enums, const char *v)
{
	for (size_t i = 0; enums[i]; i++)
		if (strcmp(enums[i], v) == 0)
			return true;
	return false;
}

static char *enum_list(const char *const *enums)
{
	char buf[512] = "";

	for (size_t i = 0; enums[i]; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? ", " : "",
			 enums[i]);
	return xstrdup(buf);
}

/* "IPv6" when @text is spelt like one (it has a colon), else "IPv4": a
 * message never calls an IPv6 address an invalid IPv4 one. */
static const char *family_word(const char *text)
{
	return strchr(text, ':') ? "IPv6" : "IPv4";
}

/* An address object @v at @path has no key but @a and @b. */
static int only_keys(const char *path, const json_t *v, const char *a, const char *b,
		     char **ret_err)
{
	const char *k;
	json_t *x;

	json_object_foreach((json_t *)v, k, x)
	{
		if (strcmp(k, a) && strcmp(k, b)) {
			*ret_err = xasprintf("%s: unknown field '%s'", path, k);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Checks an {"addr", "type"} object: @addr is an IPv4 or IPv6 address, @type
 * (filled in when absent) says which, and @addr is replaced by its canonical
 * text, so one IPv6 address is stored, compared and shown one way. On success
 * *ret_af is AF_INET or AF_INET6.
 */
static int check_ipaddr(const char *path, json_t *v, int *ret_af, char **ret_err)
{
	const char *addr, *type;
	char canon[ADDR_STRLEN], *shown;
	union addr_any parsed;
	int af;

	if (!json_is_object(v)) {
		shown = json_short(v);
		*ret_err = xasprintf("%s: expected {\"addr\": \"a.b.c.d\" or \"x::y\", \"type\": "
				     "\"V4\" or \"V6\"}, got %s",
				     path, shown);
		free(shown);
		return -EINVAL;
	}
	addr = json_string_value(json_object_get(v, "addr"));
	type = json_string_value(json_object_get(v, "type"));
	if (!addr) {
		*ret_err = xasprintf("%s.addr: missing IP address", path);
		return -EINVAL;
	}
	if (json_object_get(v, "type") && (!type || (strcmp(type, "V4") && strcmp(type, "V6")))) {
		shown = json_short(json_object_get(v, "type"));
		*ret_err = xasprintf("%s.type: unsupported address type %s (V4 or V6)", path, shown);
		free(shown);
		return -EINVAL;
	}
	af = addr_parse(addr, &parsed);
	if (af < 0) {
		*ret_err = xasprintf("%s: invalid %s address '%s'", path, family_word(addr), addr);
		return -EINVAL;
	}
	/* ::ffff:a.b.c.d is an IPv4 host seen through an IPv6 socket: on the
	 * wire it is IPv4, so it is configured as what it is. */
	if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&parsed.in6.sin6_addr)) {
		char v4[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &parsed.in6.sin6_addr.s6_addr[12], v4, sizeof(v4));
		*ret_err = xasprintf("%s: '%s' is an IPv4-mapped address: give the IPv4 address "
				     "%s (type V4)",
				     path, addr, v4);
		return -EINVAL;
	}
	if (type && strcmp(type, af == AF_INET6 ? "V6" : "V4")) {
		*ret_err = xasprintf("%s.type: '%s' is an %s address, not %s (type %s)", path, addr,
				     af == AF_INET6 ? "IPv6" : "IPv4", type,
				     af == AF_INET6 ? "V6" : "V4");
		return -EINVAL;
	}
	if (only_keys(path, v, "addr", "type", ret_err) < 0)
		return -EINVAL;
	addr_canonical(addr, canon);
	if (strcmp(canon, addr))
		json_object_set_new(v, "addr", json_string(canon));
	if (!type)
		json_object_set_new(v, "type", json_string(af == AF_INET6 ? "V6" : "V4"));
	if (ret_af)
		*ret_af = af;
	return 0;
}

static int check_prefix(const char *path, json_t *v, char **ret_err)
{
	json_t *ip = json_object_get(v, "ip_addr"), *mask = json_object_get(v, "mask");
	char *sub;
	int r, af = AF_INET, max;

	if (!json_is_object(v) || !ip) {
		char *shown = json_short(v);
		*ret_err = xasprintf("%s: expected {\"ip_addr\": {\"addr\": ..., \"type\": \"V4\" "
				     "or \"V6\"}, \"mask\": N}, got %s",
				     path, shown);
		free(shown);
		return -EINVAL;
	}
	sub = xasprintf("%s.ip_addr", path);
	r = check_ipaddr(sub, ip, &af, ret_err);
	free(sub);
	if (r < 0)
		return r;
	max = af == AF_INET6 ? 128 : 32;
	if (!json_is_integer(mask) || json_integer_value(mask) < 0 ||
	    json_integer_value(mask) > max) {
		char *shown = json_short(mask);
		*ret_err = xasprintf("%s.mask: invalid prefix length %s (0..%d%s)", path, shown, max,
				     af == AF_INET6 ? " for IPv6" : "");
		free(shown);
		return -EINVAL;
	}
	return only_keys(path, v, "ip_addr", "mask", ret_err);
}

static int check_string(const char *path, json_t *v, size_t maxlen, char **ret_err)
{
	const char *s = json_string_value(v);

	if (!s) {
		char *shown = json_short(v);
		*ret_err = xasprintf("%s: expected a string, got %s", path, shown);
		free(shown);
		return -EINVAL;
	}
	if (strlen(s) > maxlen) {
		*ret_err = xasprintf("%s: longer than %zu characters", path, maxlen);
		return -EINVAL;
	}
	return 0;
}

static int check_scalar(const struct cfg_field *f, const char *path, json_t *v, char **ret_err)
{
	const char *s;
	char *shown = NULL;
	int r = 0;

	switch (f->kind) {
	case CFG_STRING:
	case CFG_REF:
	case CFG_REFLIST:
		/* A reference's URL form holds a host, a type, a uuid and a name. */
		r = check_string(path, v, f->kind == CFG_STRING ? 255 : 1024, ret_err);
		if (r == 0 && f->kind != CFG_STRING && !*json_string_value(v)) {
			*ret_err = xasprintf("%s: empty reference", path);
			r = -EINVAL;
		}
		return r;
	case CFG_PEM:
		r = check_string(path, v, 64 * 1024, ret_err);
		if (r == 0 && !strstr(json_string_value(v), "-----BEGIN ")) {
			*ret_err = xasprintf("%s: not PEM text (no -----BEGIN line)", path);
			r = -EINVAL;
		}
		return r;
	case CFG_BOOL:
		if (json_is_boolean(v))
			return 0;
		shown = json_short(v);
		*ret_err = xasprintf("%s: expected true or false, got %s", path, shown);
		break;
	case CFG_UINT:
		if (json_is_integer(v) && json_integer_value(v) >= f->min &&
		    json_integer_value(v) <= f->max)
			return 0;
		shown = json_short(v);
		*ret_err = xasprintf("%s: invalid value %s (an integer %lld..%lld)", path, shown,
				     f->min, f->max);
		break;
	case CFG_ENUM:
	case CFG_ENUMLIST:
		s = json_string_value(v);
		if (s && enum_ok(f->enums, s))
			return 0;
		shown = json_short(v);
		{
			char *all = enum_list(f->enums);
			*ret_err = xasprintf("%s: invalid value %s (one of %s)", path, shown, all);
			free(all);
		}
		break;
	case CFG_IPADDR:
		return check_ipaddr(path, v, NULL, ret_err);
	case CFG_PREFIX:
		return check_prefix(path, v, ret_err);
	case CFG_MAC:
		s = json_string_value(v);
		if (s && cfg_parse_mac(s, NULL) == 0)
			return 0;
		shown = json_short(v);
		*ret_err = xasprintf("%s: invalid MAC address %s (expected xx:xx:xx:xx:xx:xx)", path,
				     shown);
		break;
	case CFG_IFNAME:
		s = json_string_value(v);
		if (s && ifname_ok(s))
			return 0;
		shown = json_short(v);
		*ret_err = xasprintf("%s: invalid interface name %s", path, shown);
		break;
	default:
		*ret_err = xasprintf("%s: internal error: field kind %d", path, f->kind);
		break;
	}
	free(shown);
	return -EINVAL;
}

static int check_field(const struct cfg_field *f, const char *path, json_t *v, char **ret_err)
{
	size_t i;
	json_t *e;
	int r;

	if (f->kind == CFG_OBJECT) {
		if (!json_is_object(v)) {
			char *shown = json_short(v);
			*ret_err = xasprintf("%s: expected an object, got %s", path, shown);
			free(shown);
			return -EINVAL;
		}
		return cfg_check_object(f->sub, v, false, path, ret_err);
	}
	if (f->kind == CFG_OBJLIST || cfg_kind_is_scalar_list(f->kind)) {
		if (!json_is_array(v)) {
			char *shown = json_short(v);
			*ret_err = xasprintf("%s: expected a list, got %s", path, shown);
			free(shown);
			return -EINVAL;
		}
		if (f->kind == CFG_OBJLIST && f->max && json_array_size(v) > (size_t)f->max) {
			*ret_err = xasprintf("%s: %zu entries, at most %lld allowed", path,
					     json_array_size(v), f->max);
			return -EINVAL;
		}
		if ((f->flags & CFG_F_NONEMPTY) && json_array_size(v) == 0) {
			*ret_err = xasprintf("%s: at least one entry is required", path);
			return -EINVAL;
		}
		json_array_foreach(v, i, e)
		{
			char *sub = xasprintf("%s[%zu]", path, i + 1);
			if (f->kind == CFG_OBJLIST)
				r = cfg_check_object(f->sub, e, false, sub, ret_err);
			else
				r = check_scalar(f, sub, e, ret_err);
			free(sub);
			if (r < 0)
				return r;
		}
		/* Key fields identify elements: no two elements may share one. */
		const struct cfg_field *key = f->kind == CFG_OBJLIST ? cfg_key_field(f->sub) : f;
		for (size_t a = 0; key && a < json_array_size(v); a++) {
			for (size_t b = a + 1; b < json_array_size(v); b++) {
				json_t *x = json_array_get(v, a), *y = json_array_get(v, b);
				if (f->kind == CFG_OBJLIST) {
					x = json_object_get(x, key->name);
					y = json_object_get(y, key->name);
				}
				if (x && y && json_equal(x, y)) {
					char *shown = cfg_value_format(key, x);
					*ret_err = xasprintf("%s: duplicate entry %s", path, shown);
					free(shown);
					return -EINVAL;
				}
			}
		}
		return 0;
	}
	return check_scalar(f, path, v, ret_err);
}

int cfg_check_object(const struct cfg_schema *s, json_t *obj, bool top, const char *path,
		     char **ret_err)
{
	const char *k;
	json_t *v;
	void *tmp;
	int r;

	if (!json_is_object(obj)) {
		*ret_err = xasprintf("%s: expected an object", path && *path ? path : s->name);
		return -EINVAL;
	}
	json_object_foreach_safe(obj, tmp, k, v)
	{
		const struct cfg_field *f;
		char *sub;

		if (top && cfg_is_meta_field(k))
			continue;
		sub = path && *path ? xasprintf("%s.%s", path, k) : xstrdup(k);
		f = cfg_field_find(s, k);
		if (!f) {
			/* A field of the reference clonelb does not implement:
			 * the policy of refschema.h decides. */
			r = cfg_ref_check(s, k, v, top ? s->name : NULL, sub, ret_err);
			if (r == -ENOENT)
				*ret_err = xasprintf("%s: unknown field '%s' of %s", sub, k, s->name);
			else if (r == CFG_REF_DROP)
				json_object_del(obj, k);
			free(sub);
			if (r < 0)
				return -EINVAL;
			continue;
		}
		/* null clears a field, as "no <field>" does in the shell. */
		if (json_is_null(v)) {
			free(sub);
			continue;
		}
		r = check_field(f, sub, v, ret_err);
		if (r < 0 && f->kind == CFG_ENUM && json_is_string(v)) {
			/* A value the reference has and clonelb lacks says so. */
			char *all = enum_list(f->enums), *at = top ? xasprintf("%s.%s", s->name, sub)
								  : xstrdup(sub);
			char *msg = cfg_ref_enum_unsupported(s, k, json_string_value(v), at, all);
			if (msg) {
				free(*ret_err);
				*ret_err = msg;
			}
			free(at);
			free(all);
		}
		free(sub);
		if (r < 0)
			return r;
	}
	/* Drop explicit nulls, then fill defaults and check required fields. */
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		json_t *cur = json_object_get(obj, f->name);

		if (cur && json_is_null(cur)) {
			json_object_del(obj, f->name);
			cur = NULL;
		}
		if (!cur && f->dflt)
			json_object_set_new(obj, f->name, json_loads(f->dflt, JSON_DECODE_ANY, NULL));
		if (!json_object_get(obj, f->name) && (f->flags & CFG_F_REQUIRED)) {
			*ret_err = path && *path ? xasprintf("%s.%s: required field missing", path,
							     f->name)
						 : xasprintf("%s: required field missing", f->name);
			return -EINVAL;
		}
		if ((f->flags & CFG_F_NONEMPTY) && top &&
		    json_array_size(json_object_get(obj, f->name)) == 0) {
			*ret_err = xasprintf("%s: at least one entry is required", f->name);
			return -EINVAL;
		}
	}
	return 0;
}

int cfg_value_parse(const struct cfg_field *f, const char *text, json_t **ret, char **ret_err)
{
	json_t *v = NULL;
	char *end;
	int r;

	switch (f->kind) {
	case CFG_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on"))
			v = json_true();
		else if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off"))
			v = json_false();
		break;
	case CFG_UINT: {
		errno = 0;
		long long n = strtoll(text, &end, 10);
		if (*text && !*end && errno == 0)
			v = json_integer(n);
		else
			v = json_string(text); /* rejected below with the value shown */
		break;
	}
	case CFG_IPADDR:
		/* The type follows the address; a wrong one is refused below. */
		v = json_pack("{s:s, s:s}", "addr", text, "type", strchr(text, ':') ? "V6" : "V4");
		break;
	case CFG_PREFIX: {
		const char *slash = strchr(text, '/');
		if (!slash) {
			*ret_err = xasprintf("%s: invalid subnet '%s' (expected a.b.c.d/len or "
					     "x::y/len)",
					     f->name, text);
			return -EINVAL;
		}
		char *addr = strndup(text, (size_t)(slash - text));
		errno = 0;
		long long m = strtoll(slash + 1, &end, 10);
		if (!slash[1] || *end || errno) {
			*ret_err = xasprintf("%s: invalid prefix length '%s' in '%s'", f->name,
					     slash + 1, text);
			free(addr);
			return -EINVAL;
		}
		v = json_pack("{s:{s:s, s:s}, s:I}", "ip_addr", "addr", addr, "type",
			      strchr(addr, ':') ? "V6" : "V4", "mask", (json_int_t)m);
		free(addr);
		break;
	}
	case CFG_OBJLIST:
		*ret_err = xasprintf("%s: is a list of objects; enter it on its own", f->name);
		return -EINVAL;
	case CFG_OBJECT:
		*ret_err = xasprintf("%s: is an object; enter it on its own", f->name);
		return -EINVAL;
	default:
		v = json_string(text);
		break;
	}
	if (!v) {
		*ret_err = xasprintf("%s: invalid value '%s'", f->name, text);
		return -EINVAL;
	}
	r = check_scalar(f, f->name, v, ret_err);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}

char *cfg_value_format(const struct cfg_field *f, const json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("");
	if (f && f->flags & CFG_F_SECRET)
		return xstrdup("<hidden>");
	if (f && f->kind == CFG_IPADDR && json_is_object(v))
		return xstrdup(json_string_value(json_object_get(v, "addr"))
				       ? json_string_value(json_object_get(v, "addr"))
				       : "");
	if (f && f->kind == CFG_PREFIX && json_is_object(v)) {
		const char *a =
			json_string_value(json_object_get(json_object_get(v, "ip_addr"), "addr"));
		return xasprintf("%s/%lld", a ? a : "?",
				 (long long)json_integer_value(json_object_get(v, "mask")));
	}
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_true(v))
		return xstrdup("True");
	if (json_is_false(v))
		return xstrdup("False");
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
