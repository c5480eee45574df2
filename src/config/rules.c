/* rules.c: rules that need more than one object or the host: references, tenants, clone server interfaces, certificates. */
#include "config/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/users.h"
#include "config/ref.h"
#include "lib/netif.h"
#include "lib/util.h"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

const struct cfg_schema *cfg_rules_type_of(const json_t *obj)
{
	const char *uuid = str(obj, "uuid");

	if (strcmp(uuid, "admin") == 0) /* the built-in tenant (cfg_rules_meta) */
		return cfg_type_find("tenant");
	for (size_t i = 0; cfg_types[i]; i++) {
		size_t n = strlen(cfg_types[i]->name);
		if (strncmp(uuid, cfg_types[i]->name, n) == 0 && uuid[n] == '-')
			return cfg_types[i];
	}
	return NULL;
}

static int check_name(const char *field, const json_t *v, char **ret_err)
{
	const char *s = json_string_value(v);
	char *shown;

	if (s && *s && strlen(s) <= 255) {
		size_t i;
		for (i = 0; s[i]; i++)
			if (!isgraph((unsigned char)s[i]) || s[i] == '/' || s[i] == '?' ||
			    s[i] == '#' || s[i] == '%')
				break;
		if (!s[i])
			return 0;
	}
	shown = json_short(v);
	*ret_err = xasprintf("%s: invalid name %s (1-255 printable characters, no spaces or / ? # %%)",
			     field, shown);
	free(shown);
	return -EINVAL;
}

int cfg_rules_meta(const struct cfg_schema *s, json_t *obj, const json_t *old, char **ret_err)
{
	json_t *name = json_object_get(obj, "name"), *uuid = json_object_get(obj, "uuid");
	int r;

	if (!name) {
		*ret_err = xasprintf("name: required field missing");
		return -EINVAL;
	}
	r = check_name("name", name, ret_err);
	if (r < 0)
		return r;
	if (!json_object_get(obj, "tenant_ref"))
		json_object_set_new(obj, "tenant_ref", json_string("admin"));
	r = check_name("tenant_ref", json_object_get(obj, "tenant_ref"), ret_err);
	if (r < 0)
		return r;
	if (old) {
		if (uuid && !json_equal(uuid, json_object_get(old, "uuid"))) {
			char *shown = json_short(uuid);
			*ret_err = xasprintf("uuid: cannot be changed (got %s)", shown);
			free(shown);
			return -EINVAL;
		}
		if (!json_equal(json_object_get(obj, "tenant_ref"), json_object_get(old, "tenant_ref"))) {
			*ret_err = xasprintf("tenant_ref: cannot be changed (from '%s' to '%s')",
					     str(old, "tenant_ref"), str(obj, "tenant_ref"));
			return -EINVAL;
		}
		json_object_set(obj, "uuid", json_object_get(old, "uuid"));
		json_object_set(obj, "_id", json_object_get(old, "_id"));
	} else {
		char u[37];
		/* The store assigns uuids; the type prefix tells what a row is. */
		uuid_v4(u);
		json_object_del(obj, "_id");
		/* As in the reference product, the built-in tenant's uuid is its name:
		 * "/api/tenant/admin" is what its SDK and playbooks write. */
		if (strcmp(s->name, "tenant") == 0 && strcmp(str(obj, "name"), "admin") == 0)
			json_object_set_new(obj, "uuid", json_string("admin"));
		else
			json_object_set_new(obj, "uuid", json_sprintf("%s-%s", s->name, u));
	}
	json_object_del(obj, "_last_modified");
	json_object_del(obj, "url"); /* what answers add: a GET PUT back carries it */
	return 0;
}

/* The object reference @v of field @f names, for a change in @tenant, or
 * NULL with *ret_err. Objects of other tenants are invisible, to references
 * as to every lookup: no message tells them from missing ones. */
static const json_t *ref_target(const struct cfg_field *f, const char *path, const json_t *v,
				const char *tenant, const struct cfg_cache *all, char **ret_err)
{
	const struct cfg_schema *ts = cfg_type_find(f->ref_type);
	const char *text = json_string_value(v);
	struct cfg_ref ref;
	const json_t *t = NULL, *other;
	char *why = NULL;

	if (!ts || !text) {
		*ret_err = xasprintf("%s: expected a reference to a %s", path, f->ref_type);
		return NULL;
	}
	if (cfg_ref_parse(text, &ref, &why) < 0) {
		*ret_err = xasprintf("%s: %s", path, why);
		free(why);
		return NULL;
	}
	if (ref.type && strcmp(ref.type, ts->name)) {
		*ret_err = xasprintf("%s: '%s' refers to a %s, not a %s", path, text, ref.type,
				     ts->name);
		cfg_ref_clear(&ref);
		return NULL;
	}
	if (ref.by == CFG_REF_NAME)
		t = cfg_cache_find_name(all, ts, ts->flags & CFG_T_SHARED ? "admin" : tenant,
					ref.key);
	else if (ref.by == CFG_REF_UUID) {
		t = cfg_cache_find(all, ts, ref.key, tenant);
		if (t && strcmp(str(t, "uuid"), ref.key))
			t = NULL; /* found by name: the path form takes a uuid */
	} else
		t = cfg_cache_find(all, ts, ref.key, tenant);
	if (!t && ref.by != CFG_REF_NAME && (other = cfg_cache_find_uuid(all, ref.key)) &&
	    cfg_rules_type_of(other) != ts &&
	    (!strcmp(str(other, "tenant_ref"), tenant) ||
	     (cfg_rules_type_of(other)->flags & CFG_T_SHARED)))
		*ret_err = xasprintf("%s: '%s' is a %s, not a %s", path, text,
				     cfg_rules_type_of(other)->name, ts->name);
	else if (!t)
		*ret_err = xasprintf("%s: %s '%s' does not exist", path, ts->name, text);
	cfg_ref_clear(&ref);
	return t;
}

/* Rewrites every reference of @obj (of schema @s; @path prefixes field
 * names) to its target's uuid, recursing into sub-objects. */
static int canon_refs(const struct cfg_schema *s, json_t *obj, const char *path,
		      const char *tenant, const struct cfg_cache *all, char **ret_err)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		json_t *v = json_object_get(obj, f->name), *e;
		char *sub = *path ? xasprintf("%s.%s", path, f->name) : xstrdup(f->name);
		const json_t *t;
		size_t j;
		int r = 0;

		if (v && f->kind == CFG_REF && !json_is_null(v)) {
			t = ref_target(f, sub, v, tenant, all, ret_err);
			if (t)
				json_object_set(obj, f->name, json_object_get(t, "uuid"));
			r = t ? 0 : -EINVAL;
		} else if (f->kind == CFG_REFLIST && json_is_array(v)) {
			json_array_foreach(v, j, e)
			{
				char *el = xasprintf("%s[%zu]", sub, j + 1);
				t = ref_target(f, el, e, tenant, all, ret_err);
				free(el);
				if (!t) {
					r = -EINVAL;
					break;
				}
				json_array_set(v, j, json_object_get(t, "uuid"));
			}
		} else if (f->kind == CFG_OBJECT && json_is_object(v)) {
			r = canon_refs(f->sub, v, sub, tenant, all, ret_err);
		} else if (f->kind == CFG_OBJLIST && json_is_array(v)) {
			json_array_foreach(v, j, e)
			{
				char *el = xasprintf("%s[%zu]", sub, j + 1);
				r = json_is_object(e) ? canon_refs(f->sub, e, el, tenant, all, ret_err)
						      : 0;
				free(el);
				if (r < 0)
					break;
			}
		}
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_rules_canon_refs(const struct cfg_schema *s, json_t *obj, const char *tenant,
			 const struct cfg_cache *all, char **ret_err)
{
	return canon_refs(s, obj, "", tenant, all, ret_err);
}

static int check_refs(const struct cfg_schema *s, json_t *obj, const struct cfg_cache *all,
		      char **ret_err)
{
	return canon_refs(s, obj, "", str(obj, "tenant_ref"), all, ret_err);
}

/*
 * @ip of clone_servers[@n] must be a host of the directly connected subnet
 * @net_be/@mask: not the SE's own address, nor the subnet's network or
 * broadcast address (frames to those would never reach a clone server).
 */
static int check_clone_host(size_t n, const char *ip, uint32_t ip_be, uint32_t net_be, int mask,
			    char **ret_err)
{
	char ifname[IF_NAMESIZE] = "", net[INET_ADDRSTRLEN];
	const char *what = netif_host_part_problem(ip_be, mask);

	inet_ntop(AF_INET, &net_be, net, sizeof(net));
	if (what) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is the %s address of subnet %s/%d, "
				     "not a host",
				     n, ip, what, net, mask);
		return -EINVAL;
	}
	if (netif_addr_is_local(ip_be, ifname) == 1) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is an address of this SE "
				     "(interface '%s'), not a clone server",
				     n, ip, ifname);
		return -EINVAL;
	}
	return 0;
}

/* A clone server must leave by an interface of this host on its subnet. */
static int check_clone_servers(json_t *obj, char **ret_err)
{
	json_t *cs;
	size_t i;

	json_array_foreach(json_object_get(obj, "clone_servers"), i, cs)
	{
		json_t *subnet = json_object_get(cs, "subnet");
		const char *netref = json_string_value(json_object_get(cs, "network_ref"));
		const char *ip = str(json_object_get(cs, "ip_address"), "addr");
		char ifname[IF_NAMESIZE] = "";
		uint32_t ip_be = 0;
		int r;

		cfg_parse_ipv4(ip, &ip_be);
		/* Encapsulated: a collector any number of hops away, which
		 * the routing table must reach; the directly-connected rules
		 * below are for CLONE_ENCAP_NONE only. */
		if (json_object_get(cs, "encap_type") &&
		    strcmp(json_string_value(json_object_get(cs, "encap_type")), "CLONE_ENCAP_NONE") != 0) {
			const char *encap = json_string_value(json_object_get(cs, "encap_type"));
			struct netif_route rt;

			r = netif_route_get(ip_be, &rt);
			if (r < 0) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: collector %s is not "
						     "reachable by a route from this SE (encap_type %s): %s",
						     i + 1, ip, encap, strerror(-r));
				return -EINVAL;
			}
			if (netif_addr_is_local(ip_be, ifname) == 1) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is an address of this SE "
						     "(interface '%s'), not a collector",
						     i + 1, ip, ifname);
				return -EINVAL;
			}
			continue;
		}
		if (!subnet && !netref) {
			*ret_err = xasprintf("clone_servers[%zu]: set subnet or network_ref for "
					     "clone server %s (the SE interface the clones leave by)",
					     i + 1, ip);
			return -EINVAL;
		}
		if (netref && netif_exists(netref) < 0) {
			char *have = netif_describe();
			*ret_err = xasprintf("clone_servers[%zu].network_ref: no interface '%s' on "
					     "this SE (interfaces: %s)",
					     i + 1, netref, have);
			free(have);
			return -EINVAL;
		}
		if (subnet) {
			const char *net = str(json_object_get(subnet, "ip_addr"), "addr");
			int mask = (int)json_integer_value(json_object_get(subnet, "mask"));
			uint32_t net_be = 0, m = mask ? htonl(~0u << (32 - mask)) : 0;

			cfg_parse_ipv4(net, &net_be);
			if (netif_for_subnet(net_be, mask, ifname, NULL) < 0) {
				char *have = netif_describe();
				*ret_err = xasprintf("clone_servers[%zu].subnet: %s/%d is not the "
						     "subnet of any interface of this SE "
						     "(interfaces: %s)",
						     i + 1, net, mask, have);
				free(have);
				return -EINVAL;
			}
			if ((ip_be & m) != (net_be & m)) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is not in "
						     "subnet %s/%d",
						     i + 1, ip, net, mask);
				return -EINVAL;
			}
			if (netref && strcmp(netref, ifname)) {
				*ret_err = xasprintf("clone_servers[%zu].network_ref: subnet %s/%d is "
						     "on interface '%s', not '%s'",
						     i + 1, net, mask, ifname, netref);
				return -EINVAL;
			}
			r = check_clone_host(i + 1, ip, ip_be, net_be & m, mask, ret_err);
			if (r < 0)
				return r;
		} else {
			/* network_ref alone: the address must still be on one of
			 * that interface's subnets (directly connected). */
			uint32_t net_be = 0;
			int mask = 0;

			if (netif_subnet_on(netref, ip_be, &net_be, &mask, NULL) < 0) {
				char *have = netif_describe();
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is not in a "
						     "subnet of interface '%s' (network_ref; "
						     "interfaces: %s)",
						     i + 1, ip, netref, have);
				free(have);
				return -EINVAL;
			}
			r = check_clone_host(i + 1, ip, ip_be, net_be, mask, ret_err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/*
 * The profile's filters, snaplen and budget (docs/clone-engine.md): a rule's
 * client_prefix is a network (no host bits), its port range runs upwards, and
 * a snaplen keeps at least a minimal frame. Duplicate rule numbers are caught
 * by the schema (rule_number is the key of filters[]).
 */
static int check_clone_filters(json_t *obj, char **ret_err)
{
	json_int_t snap = json_integer_value(json_object_get(obj, "snaplen"));
	json_t *fl;
	size_t i;

	if (snap > 0 && snap < 64) {
		*ret_err = xasprintf("snaplen: %lld is shorter than a minimal frame (0 keeps all of "
				     "each frame, else at least 64)",
				     (long long)snap);
		return -EINVAL;
	}
	json_array_foreach(json_object_get(obj, "filters"), i, fl)
	{
		json_t *pfx = json_object_get(fl, "client_prefix");
		json_t *ps = json_object_get(fl, "server_port_start");
		json_t *pe = json_object_get(fl, "server_port_end");

		if (pfx) {
			const char *a = str(json_object_get(pfx, "ip_addr"), "addr");
			int mask = (int)json_integer_value(json_object_get(pfx, "mask"));
			uint32_t be = 0, m = mask ? htonl(~0u << (32 - mask)) : 0, net;
			char shown[INET_ADDRSTRLEN];

			cfg_parse_ipv4(a, &be);
			net = be & m;
			if (net != be) {
				inet_ntop(AF_INET, &net, shown, sizeof(shown));
				*ret_err = xasprintf("filters[%zu].client_prefix: %s/%d has host bits set "
						     "(the network is %s/%d)",
						     i + 1, a, mask, shown, mask);
				return -EINVAL;
			}
		}
		if (ps && pe && json_integer_value(pe) < json_integer_value(ps)) {
			*ret_err = xasprintf("filters[%zu].server_port_end: %lld is below "
					     "server_port_start %lld (an inverted port range)",
					     i + 1, (long long)json_integer_value(pe),
					     (long long)json_integer_value(ps));
			return -EINVAL;
		}
	}
	return 0;
}

static int check_certificate(json_t *obj, char **ret_err)
{
	const char *cert_pem = str(obj, "certificate"), *key_pem = str(obj, "key");
	BIO *b = BIO_new_mem_buf(cert_pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	EVP_PKEY *k = NULL;
	int r = 0;

	BIO_free(b);
	if (!x) {
		*ret_err = xasprintf("certificate: not a valid PEM certificate");
		return -EINVAL;
	}
	b = BIO_new_mem_buf(key_pem, -1);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k) {
		*ret_err = xasprintf("key: not a valid unencrypted PEM private key");
		r = -EINVAL;
	} else if (X509_check_private_key(x, k) != 1) {
		*ret_err = xasprintf("key: does not match the certificate");
		r = -EINVAL;
	}
	EVP_PKEY_free(k);
	X509_free(x);
	return r;
}

/* The VIP:port of @svc is taken by @o: named only when @o is of the same
 * tenant, so a conflict reveals nothing of another tenant's objects. */
static int vip_taken(const json_t *obj, const json_t *o, const json_t *vip, const json_t *svc,
		     size_t k, char **ret_err)
{
	const char *addr = str(json_object_get(vip, "ip_address"), "addr");
	long long port = (long long)json_integer_value(json_object_get(svc, "port"));

	if (strcmp(str(o, "tenant_ref"), str(obj, "tenant_ref")) == 0)
		*ret_err = xasprintf("services[%zu].port: %s:%lld is already used by "
				     "virtualservice '%s'",
				     k + 1, addr, port, str(o, "name"));
	else
		*ret_err = xasprintf("services[%zu].port: %s:%lld is already used by a virtual "
				     "service of another tenant",
				     k + 1, addr, port);
	return -EEXIST;
}

/* The VIPs @vs listens on: its own vip list, or that of its vsvip; with
 * @vsvip set, a vsvip of that uuid is taken to be @vsvip (a change being
 * checked). Borrowed; never NULL. */
static const json_t *vips_of(const json_t *vs, const struct cfg_cache *all, const json_t *vsvip)
{
	static json_t *none;
	const char *ref = json_string_value(json_object_get(vs, "vsvip_ref"));
	const json_t *vv;

	if (!none)
		none = json_array();
	if (!ref)
		return json_object_get(vs, "vip") ? json_object_get(vs, "vip") : none;
	vv = vsvip && !strcmp(ref, str(vsvip, "uuid")) ? vsvip : cfg_cache_find_uuid(all, ref);
	return json_object_get(vv, "vip") ? json_object_get(vv, "vip") : none;
}

/* No two services may listen on the same VIP and port: @obj, listening on
 * @vips, against every other virtual service (@vsvip as in vips_of()). */
static int check_vip_ports(const json_t *obj, const json_t *vips, const struct cfg_cache *all,
			   const json_t *vsvip, char **ret_err)
{
	json_t *svc, *vip, *o, *ov, *os;
	size_t i, j, k, a, b;

	json_array_foreach(cfg_cache_list(all, cfg_type_find("virtualservice")), i, o)
	{
		if (json_equal(json_object_get(o, "uuid"), json_object_get(obj, "uuid")))
			continue;
		json_array_foreach(vips, j, vip)
		{
			json_array_foreach(vips_of(o, all, vsvip), a, ov)
			{
				if (!json_equal(json_object_get(json_object_get(vip, "ip_address"), "addr"),
						json_object_get(json_object_get(ov, "ip_address"), "addr")))
					continue;
				json_array_foreach(json_object_get(obj, "services"), k, svc)
				{
					json_array_foreach(json_object_get(o, "services"), b, os)
					{
						if (json_equal(json_object_get(svc, "port"),
							       json_object_get(os, "port")))
							return vip_taken(obj, o, vip, svc, k, ret_err);
					}
				}
			}
		}
	}
	return 0;
}

static int check_virtualservice(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	bool inline_vip = json_array_size(json_object_get(obj, "vip")) > 0;
	bool shared_vip = json_object_get(obj, "vsvip_ref") != NULL;
	json_t *svc;
	size_t i;

	if (inline_vip == shared_vip) {
		*ret_err = xstrdup(inline_vip ? "vsvip_ref: a virtual service has vip or vsvip_ref, "
						"not both"
					      : "vip: at least one entry is required (or set "
						"vsvip_ref)");
		return -EINVAL;
	}
	json_array_foreach(json_object_get(obj, "services"), i, svc)
	{
		if (json_is_true(json_object_get(svc, "enable_ssl")) &&
		    json_array_size(json_object_get(obj, "ssl_key_and_certificate_refs")) == 0) {
			*ret_err = xasprintf("services[%zu].enable_ssl: port %lld terminates TLS but "
					     "ssl_key_and_certificate_refs is empty",
					     i + 1,
					     (long long)json_integer_value(json_object_get(svc, "port")));
			return -EINVAL;
		}
	}
	return check_vip_ports(obj, vips_of(obj, all, NULL), all, NULL, ret_err);
}

/* A vsvip's addresses are distinct, and the services that use it still
 * listen on VIP:ports of their own once it changes. */
static int check_vsvip(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	json_t *vips = json_object_get(obj, "vip"), *o;
	size_t i, j;
	int r;

	for (i = 0; i < json_array_size(vips); i++)
		for (j = i + 1; j < json_array_size(vips); j++) {
			const json_t *x = json_object_get(json_array_get(vips, i), "ip_address");
			const json_t *y = json_object_get(json_array_get(vips, j), "ip_address");
			if (json_equal(json_object_get(x, "addr"), json_object_get(y, "addr"))) {
				*ret_err = xasprintf("vip[%zu].ip_address: %s is vip[%zu]'s already",
						     j + 1, str(y, "addr"), i + 1);
				return -EINVAL;
			}
		}
	json_array_foreach(cfg_cache_list(all, cfg_type_find("virtualservice")), i, o)
	{
		if (strcmp(str(o, "vsvip_ref"), str(obj, "uuid")))
			continue;
		r = check_vip_ports(o, vips, all, obj, ret_err);
		if (r < 0) {
			char *why = *ret_err;
			*ret_err = xasprintf("vip: virtualservice '%s' uses this vsvip: %s",
					     str(o, "name"), why);
			free(why);
			return r;
		}
	}
	return 0;
}

static int check_healthmonitor(json_t *obj, char **ret_err)
{
	json_int_t si = json_integer_value(json_object_get(obj, "send_interval"));
	json_int_t rt = json_integer_value(json_object_get(obj, "receive_timeout"));

	if (rt >= si && si > 1) {
		*ret_err = xasprintf("receive_timeout: %lld must be less than send_interval (%lld)",
				     (long long)rt, (long long)si);
		return -EINVAL;
	}
	return 0;
}

int cfg_rules_check(const struct cfg_schema *s, json_t *obj, const json_t *old,
		    const struct cfg_cache *all, char **ret_err)
{
	const json_t *same = cfg_cache_find_name(all, s, str(obj, "tenant_ref"), str(obj, "name"));
	int r;

	if (same && !json_equal(json_object_get(same, "uuid"), json_object_get(obj, "uuid"))) {
		*ret_err = xasprintf("name: %s '%s' already exists in tenant '%s'", s->name,
				     str(obj, "name"), str(obj, "tenant_ref"));
		return -EEXIST;
	}
	/* References hold uuids: a rename needs no care for them. */
	r = check_refs(s, obj, all, ret_err);
	if (r == 0)
		r = cfg_users_check(s, obj, old, all, ret_err);
	if (r < 0)
		return r;
	if (strcmp(s->name, "trafficcloneprofile") == 0) {
		r = check_clone_servers(obj, ret_err);
		return r < 0 ? r : check_clone_filters(obj, ret_err);
	}
	if (strcmp(s->name, "sslkeyandcertificate") == 0)
		return check_certificate(obj, ret_err);
	if (strcmp(s->name, "virtualservice") == 0)
		return check_virtualservice(obj, all, ret_err);
	if (strcmp(s->name, "healthmonitor") == 0)
		return check_healthmonitor(obj, ret_err);
	if (strcmp(s->name, "vsvip") == 0)
		return check_vsvip(obj, all, ret_err);
	return 0;
}

/* Whether a reference of @o (of schema @s), at any depth, names the object
 * of type @type with @uuid (or, as rows written before references held
 * uuids might, its @name); *ret_field is the field. */
static bool refers_to(const struct cfg_schema *s, const json_t *o, const char *type,
		      const char *uuid, const char *name, const char **ret_field)
{
	for (size_t f = 0; f < s->nfields; f++) {
		const struct cfg_field *fd = &s->fields[f];
		json_t *v = json_object_get(o, fd->name), *e;
		size_t j;

		if (!v)
			continue;
		if (fd->sub && (fd->kind == CFG_OBJECT || fd->kind == CFG_OBJLIST)) {
			if (fd->kind == CFG_OBJECT && refers_to(fd->sub, v, type, uuid, name, ret_field))
				return true;
			json_array_foreach(v, j, e)
			{
				if (refers_to(fd->sub, e, type, uuid, name, ret_field))
					return true;
			}
			continue;
		}
		if (!fd->ref_type || strcmp(fd->ref_type, type))
			continue;
		/* A single reference is looked at as a list of one. */
		size_t n = fd->kind == CFG_REF ? 1 : json_array_size(v);
		for (j = 0; j < n; j++) {
			const char *x = json_string_value(fd->kind == CFG_REF ? v : json_array_get(v, j));
			if (x && (!strcmp(x, uuid) || !strcmp(x, name))) {
				*ret_field = fd->name;
				return true;
			}
		}
	}
	return false;
}

/* Whether schema @s has a reference field to @type at any depth. */
static bool may_refer(const struct cfg_schema *s, const char *type)
{
	for (size_t f = 0; f < s->nfields; f++) {
		const struct cfg_field *fd = &s->fields[f];
		if ((fd->ref_type && !strcmp(fd->ref_type, type)) ||
		    (fd->sub && may_refer(fd->sub, type)))
			return true;
	}
	return false;
}

int cfg_rules_unreferenced(const struct cfg_schema *s, const json_t *obj,
			   const struct cfg_cache *all, char **ret_err)
{
	const char *name = str(obj, "name"), *tenant = str(obj, "tenant_ref");
	const char *field = NULL;
	size_t i;
	json_t *o;

	if (strcmp(s->name, "tenant") == 0)
		return cfg_tenant_unused(obj, all, ret_err);
	/* Only the types with a reference field to @s are looked at. */
	for (size_t t = 0; cfg_types[t]; t++) {
		const struct cfg_schema *os = cfg_types[t];

		if (!may_refer(os, s->name))
			continue;
		json_array_foreach(cfg_cache_list(all, os), i, o)
		{
			if (strcmp(str(o, "tenant_ref"), tenant))
				continue;
			if (refers_to(os, o, s->name, str(obj, "uuid"), name, &field)) {
				*ret_err = xasprintf("%s '%s' is in use by %s '%s' (%s)", s->name, name,
						     os->name, str(o, "name"), field);
				return -EBUSY;
			}
		}
	}
	return 0;
}
