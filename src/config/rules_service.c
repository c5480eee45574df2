/* rules_service.c: the rules of what serves clients: virtual services and their VIP:ports, shared VIPs, pools, health monitors, and the routing context that announces VIPs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config/rules_int.h"
#include "config/schema.h"
#include "lib/addr.h"
#include "lib/util.h"

/* The VIP:port of @svc is taken by @o: named only when @o is of the same
 * tenant, so a conflict reveals nothing of another tenant's objects. */
static int vip_taken(const json_t *obj, const json_t *o, const json_t *vip, const json_t *svc,
		     size_t k, char **ret_err)
{
	const char *addr = rules_str(json_object_get(vip, "ip_address"), "addr");
	long long port = (long long)json_integer_value(json_object_get(svc, "port"));

	/* [x::y]:port: an IPv6 address's colons stay apart from the port's. */
	const char *l = strchr(addr, ':') ? "[" : "", *r = *l ? "]" : "";

	if (strcmp(rules_str(o, "tenant_ref"), rules_str(obj, "tenant_ref")) == 0)
		*ret_err = xasprintf("services[%zu].port: %s%s%s:%lld is already used by "
				     "virtualservice '%s'",
				     k + 1, l, addr, r, port, rules_str(o, "name"));
	else
		*ret_err = xasprintf("services[%zu].port: %s%s%s:%lld is already used by a "
				     "virtual service of another tenant",
				     k + 1, l, addr, r, port);
	return -EEXIST;
}

/*
 * No element of list @list of @obj may have a link-local IPv6 address at
 * @field ("ip" or "ip_address"): fe80::/10 names no host without an
 * interface, which a pool server or a VIP does not have.
 */
static int no_link_local(const json_t *obj, const char *list, const char *field, char **ret_err)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(obj, list), i, e)
	{
		const char *ip = rules_str(json_object_get(e, field), "addr");
		union addr_any a;

		if (addr_parse(ip, &a) == AF_INET6 && addr_is_link_local(&a)) {
			*ret_err = xasprintf("%s[%zu].%s: %s is link-local, which needs an interface: "
					     "give a global or unique local address",
					     list, i + 1, field, ip);
			return -EINVAL;
		}
	}
	return 0;
}

/* The VIPs @vs listens on: its own vip list, or that of its vsvip; with
 * @vsvip set, a vsvip of that uuid is taken to be @vsvip (a change being
 * checked). Borrowed; NULL (no VIP) iterates as an empty list. */
static const json_t *vips_of(const json_t *vs, const struct cfg_cache *all, const json_t *vsvip)
{
	const char *ref = json_string_value(json_object_get(vs, "vsvip_ref"));
	const json_t *vv;

	if (!ref)
		return json_object_get(vs, "vip");
	vv = vsvip && !strcmp(ref, rules_str(vsvip, "uuid")) ? vsvip
							     : cfg_cache_find_uuid(all, ref);
	return json_object_get(vv, "vip");
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

int cfg_rules_virtualservice(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	bool inline_vip = json_array_size(json_object_get(obj, "vip")) > 0;
	bool shared_vip = json_object_get(obj, "vsvip_ref") != NULL;
	json_t *svc;
	size_t i;
	int r = no_link_local(obj, "vip", "ip_address", ret_err);

	if (r < 0)
		return r;
	if (inline_vip == shared_vip) {
		*ret_err = xstrdup(inline_vip ? "vsvip_ref: a virtual service has vip or vsvip_ref, "
						"not both"
					      : "vip: at least one entry is required (or set "
						"vsvip_ref)");
		return -EINVAL;
	}
	json_array_foreach(json_object_get(obj, "services"), i, svc)
	{
		json_t *end = json_object_get(svc, "port_range_end");
		if (end && !json_equal(end, json_object_get(svc, "port"))) {
			*ret_err = xasprintf("services[%zu].port_range_end: not supported by clonelb "
					     "(got %lld; only the port itself, %lld)",
					     i + 1, (long long)json_integer_value(end),
					     (long long)json_integer_value(json_object_get(svc, "port")));
			return -EINVAL;
		}
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
int cfg_rules_vsvip(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	json_t *vips = json_object_get(obj, "vip"), *o;
	size_t i, j;
	int r = no_link_local(obj, "vip", "ip_address", ret_err);

	if (r < 0)
		return r;
	for (i = 0; i < json_array_size(vips); i++)
		for (j = i + 1; j < json_array_size(vips); j++) {
			const json_t *x = json_object_get(json_array_get(vips, i), "ip_address");
			const json_t *y = json_object_get(json_array_get(vips, j), "ip_address");
			if (json_equal(json_object_get(x, "addr"), json_object_get(y, "addr"))) {
				*ret_err = xasprintf("vip[%zu].ip_address: %s is vip[%zu]'s already",
						     j + 1, rules_str(y, "addr"), i + 1);
				return -EINVAL;
			}
		}
	json_array_foreach(cfg_cache_list(all, cfg_type_find("virtualservice")), i, o)
	{
		if (strcmp(rules_str(o, "vsvip_ref"), rules_str(obj, "uuid")))
			continue;
		r = check_vip_ports(o, vips, all, obj, ret_err);
		if (r < 0) {
			char *why = *ret_err;
			*ret_err = xasprintf("vip: virtualservice '%s' uses this vsvip: %s",
					     rules_str(o, "name"), why);
			free(why);
			return r;
		}
	}
	return 0;
}

/* A pool server is a host the SE reaches without naming an interface. */
int cfg_rules_pool(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	return no_link_local(obj, "servers", "ip", ret_err);
}

/* An answer must be able to come before the next check is sent. */
int cfg_rules_healthmonitor(json_t *obj, const struct cfg_cache *all, char **ret_err)
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

/* One routing context, global, in tenant admin; BGP timers that BGP accepts. */
int cfg_rules_vrfcontext(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	json_t *bgp = json_object_get(obj, "bgp_profile"), *p;
	json_int_t hold = json_integer_value(json_object_get(bgp, "hold_time"));
	json_int_t ka = json_integer_value(json_object_get(bgp, "keepalive_interval"));
	size_t i;

	if (strcmp(rules_str(obj, "name"), "global") != 0) {
		*ret_err = xasprintf("name: only vrfcontext 'global' exists (got '%s')",
				     rules_str(obj, "name"));
		return -EINVAL;
	}
	if (strcmp(rules_str(obj, "tenant_ref"), "admin") != 0) {
		*ret_err = xasprintf("tenant_ref: vrfcontext 'global' belongs to tenant 'admin' "
				     "(got '%s')",
				     rules_str(obj, "tenant_ref"));
		return -EINVAL;
	}
	if (bgp && ka >= hold) {
		*ret_err = xasprintf("bgp_profile.keepalive_interval: %lld must be less than "
				     "hold_time (%lld)",
				     (long long)ka, (long long)hold);
		return -EINVAL;
	}
	json_array_foreach(json_object_get(bgp, "peers"), i, p)
	{
		json_t *sn = json_object_get(p, "subnet");
		const char *ip = rules_str(json_object_get(p, "peer_ip"), "addr");
		uint32_t ip_be = 0, net_be = 0, m;
		int mask = (int)json_integer_value(json_object_get(sn, "mask"));

		if (!sn)
			continue;
		cfg_parse_ipv4(ip, &ip_be);
		cfg_parse_ipv4(rules_str(json_object_get(sn, "ip_addr"), "addr"), &net_be);
		m = mask ? htonl(~0u << (32 - mask)) : 0;
		if ((ip_be & m) != (net_be & m)) {
			*ret_err = xasprintf("bgp_profile.peers[%zu].peer_ip: %s is not in subnet "
					     "%s/%d",
					     i + 1, ip,
					     rules_str(json_object_get(sn, "ip_addr"), "addr"),
					     mask);
			return -EINVAL;
		}
	}
	return 0;
}

/* Monitors before the reference's shape held http_request and
 * http_response_code beside type; they belong in the monitor of the type
 * (and never applied to a TCP monitor). An HTTP monitor always has one. */
void cfg_rules_upgrade_healthmonitor(json_t *obj)
{
	const char *type = rules_str(obj, "type");
	const char *sub = !strcmp(type, "HEALTH_MONITOR_HTTP")	  ? "http_monitor"
			  : !strcmp(type, "HEALTH_MONITOR_HTTPS") ? "https_monitor"
								  : NULL;
	static const char *const moved[] = {"http_request", "http_response_code"};
	json_t *m = sub ? json_object_get(obj, sub) : NULL;

	if (sub && !json_is_object(m) && !json_is_null(m)) {
		m = json_object();
		json_object_set_new(obj, sub, m);
	}
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(obj, moved[i]);
		if (v && m && !json_is_null(v))
			json_object_set(m, moved[i], v);
		json_object_del(obj, moved[i]);
	}
}
