/* rules.c: rules that need more than one object or the host: references, tenants, clone server interfaces, certificates. */
#include "config/rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/users.h"
#include "config/ref.h"
#include "lib/addr.h"
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
	/* SE groups are the provider's: a tenant without a group of that name
	 * uses admin's (every tenant's services land on Default-Group). */
	if (!t && strcmp(ts->name, "serviceenginegroup") == 0)
		t = cfg_cache_find(all, ts, ref.key, "admin");
	/* So are the built-in TLS profiles (System-Standard): the only ones a
	 * tenant shares, so a delete in admin never misses a referrer. */
	if (!t && strcmp(ts->name, "sslprofile") == 0 && !strcmp(ref.key, "System-Standard"))
		t = cfg_cache_find_name(all, ts, "admin", ref.key);
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

/* What a reference to @t stores: its uuid; a tenant's name, as tenants are
 * known by name everywhere (X-Avi-Tenant, every object's tenant_ref). */
static json_t *ref_key(const json_t *t)
{
	const struct cfg_schema *ts = cfg_rules_type_of(t);

	return json_object_get(t, ts && !strcmp(ts->name, "tenant") ? "name" : "uuid");
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
				json_object_set(obj, f->name, ref_key(t));
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
				json_array_set(v, j, ref_key(t));
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
 * @net/@mask: not the SE's own address, nor the subnet's network or
 * broadcast address (frames to those would never reach a clone server).
 */
static int check_clone_host(size_t n, const char *ip, const union addr_any *a,
			    const union addr_any *net, int mask, char **ret_err)
{
	char ifname[IF_NAMESIZE] = "", nets[ADDR_STRLEN];
	const char *what = netif_host_problem(a, mask);

	addr_ntop(net, nets);
	if (what) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is the %s address of subnet %s/%d, "
				     "not a host",
				     n, ip, what, nets, mask);
		return -EINVAL;
	}
	if (netif_is_local(a, ifname) == 1) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is an address of this SE "
				     "(interface '%s'), not a clone server",
				     n, ip, ifname);
		return -EINVAL;
	}
	return 0;
}

/* Whether the first @len bits of @a and @b (same family) are equal. */
static bool in_prefix(const union addr_any *a, const union addr_any *b, int len)
{
	const unsigned char *x = a->sa.sa_family == AF_INET6 ? a->in6.sin6_addr.s6_addr
							     : (const unsigned char *)&a->in.sin_addr;
	const unsigned char *y = b->sa.sa_family == AF_INET6 ? b->in6.sin6_addr.s6_addr
							     : (const unsigned char *)&b->in.sin_addr;

	for (int i = 0; len > 0; i++, len -= 8) {
		unsigned char m = len >= 8 ? 0xff : (unsigned char)(0xff << (8 - len));
		if ((x[i] & m) != (y[i] & m))
			return false;
	}
	return true;
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
		union addr_any a;
		int r;

		if (addr_parse(ip, &a) < 0)
			addr_any_of(AF_INET, &a);
		/* Encapsulated: a collector any number of hops away, which
		 * the routing table must reach; the directly-connected rules
		 * below are for CLONE_ENCAP_NONE only. */
		if (json_object_get(cs, "encap_type") &&
		    strcmp(json_string_value(json_object_get(cs, "encap_type")), "CLONE_ENCAP_NONE") != 0) {
			const char *encap = json_string_value(json_object_get(cs, "encap_type"));
			struct netif_route rt;

			/* An IPv6 collector gets an IPv6 outer header; a
			 * link-local one is on no route. */
			if (addr_is_link_local(&a)) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: collector %s is "
						     "link-local: encap_type %s needs an address a route "
						     "leads to",
						     i + 1, ip, encap);
				return -EINVAL;
			}
			r = netif_route_get(&a, &rt);
			if (r < 0) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: collector %s is not "
						     "reachable by a route from this SE (encap_type %s): %s",
						     i + 1, ip, encap, strerror(-r));
				return -EINVAL;
			}
			if (netif_is_local(&a, ifname) == 1) {
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
		/* fe80::/64 is on every interface: only the name says which. */
		if (addr_is_link_local(&a) && !netref) {
			*ret_err = xasprintf("clone_servers[%zu].network_ref: clone server %s is "
					     "link-local: set network_ref to the interface it is on",
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
			union addr_any n;
			int r2;

			if (addr_parse(net, &n) < 0)
				addr_any_of(AF_INET, &n);
			if (n.sa.sa_family != a.sa.sa_family) {
				*ret_err = xasprintf("clone_servers[%zu].subnet: %s/%d is an %s subnet "
						     "but ip_address %s is an %s address",
						     i + 1, net, mask,
						     n.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4", ip,
						     a.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4");
				return -EINVAL;
			}
			/* A link-local subnet is on every interface: the named one counts. */
			if (netref && addr_is_link_local(&n)) {
				r2 = netif_prefix_on(netref, &n, NULL, NULL, NULL);
				snprintf(ifname, sizeof(ifname), "%s", netref);
			} else {
				r2 = netif_for_prefix(&n, mask, ifname, NULL);
			}
			if (r2 < 0) {
				char *have = netif_describe();
				*ret_err = xasprintf("clone_servers[%zu].subnet: %s/%d is not the "
						     "subnet of any interface of this SE "
						     "(interfaces: %s)",
						     i + 1, net, mask, have);
				free(have);
				return -EINVAL;
			}
			if (!in_prefix(&a, &n, mask)) {
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
			r = check_clone_host(i + 1, ip, &a, &n, mask, ret_err);
			if (r < 0)
				return r;
		} else {
			/* network_ref alone: the address must still be on one of
			 * that interface's subnets (directly connected). */
			union addr_any net;
			int mask = 0;

			if (netif_prefix_on(netref, &a, &net, &mask, NULL) < 0) {
				char *have = netif_describe();
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is not in a "
						     "subnet of interface '%s' (network_ref; "
						     "interfaces: %s)",
						     i + 1, ip, netref, have);
				free(have);
				return -EINVAL;
			}
			r = check_clone_host(i + 1, ip, &a, &net, mask, ret_err);
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

/* The parts of certificate name @n, as the reference's SSLCertificateDescription. */
static json_t *cert_name(X509_NAME *n)
{
	static const struct {
		const char *field;
		int nid;
	} parts[] = {
		{"common_name", NID_commonName},	  {"organization", NID_organizationName},
		{"organization_unit", NID_organizationalUnitName},
		{"locality", NID_localityName},	  {"state", NID_stateOrProvinceName},
		{"country", NID_countryName},	  {"email_address", NID_pkcs9_emailAddress},
	};
	json_t *o = json_object();
	BIO *b = BIO_new(BIO_s_mem());
	char buf[256], *dn;
	long len;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (X509_NAME_get_text_by_NID(n, parts[i].nid, buf, sizeof(buf)) > 0)
			json_object_set_new(o, parts[i].field, json_string(buf));
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &dn);
	if (len > 0 && len < 256)
		json_object_set_new(o, "distinguished_name", json_stringn(dn, (size_t)len));
	BIO_free(b);
	return o;
}

static json_t *cert_time(const ASN1_TIME *t)
{
	struct tm tm;
	char buf[32];

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return json_string("");
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return json_string(buf);
}

/* Sets the fields the reference parses out of a certificate in @c (the
 * "certificate" object): what a client sent for them is replaced. */
static void cert_describe(json_t *c, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char fp[3 * EVP_MAX_MD_SIZE + 1] = "";
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *serial = bn ? BN_bn2dec(bn) : NULL;

	size_t at = 0;

	X509_digest(x, EVP_sha1(), md, &mdlen);
	for (unsigned int i = 0; i < mdlen; i++)
		at += (size_t)sprintf(fp + at, "%s%02X", i ? ":" : "", md[i]);
	json_object_set_new(c, "subject", cert_name(X509_get_subject_name(x)));
	json_object_set_new(c, "issuer", cert_name(X509_get_issuer_name(x)));
	json_object_set_new(c, "not_before", cert_time(X509_get0_notBefore(x)));
	json_object_set_new(c, "not_after", cert_time(X509_get0_notAfter(x)));
	json_object_set_new(c, "serial_number", json_string(serial ? serial : ""));
	json_object_set_new(c, "fingerprint", json_string(fp));
	json_object_set_new(c, "signature_algorithm",
			    json_string(OBJ_nid2ln(X509_get_signature_nid(x)) ?: ""));
	json_object_set_new(c, "self_signed", json_boolean(X509_check_issued(x, x) == X509_V_OK));
	OPENSSL_free(serial);
	BN_free(bn);
}

static X509 *cert_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

/* Certificates before the reference's shape held the PEM text itself. */
static void upgrade_certificate(json_t *obj)
{
	json_t *c = json_object_get(obj, "certificate");
	X509 *x;

	if (!json_is_string(c))
		return;
	x = cert_parse(json_string_value(c));
	c = json_pack("{s:O}", "certificate", c);
	if (x)
		cert_describe(c, x);
	X509_free(x);
	json_object_set_new(obj, "certificate", c);
}

/* Monitors before the reference's shape held http_request and
 * http_response_code beside type; they belong in the monitor of the type
 * (and never applied to a TCP monitor). An HTTP monitor always has one. */
static void upgrade_healthmonitor(json_t *obj)
{
	const char *type = str(obj, "type");
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

void cfg_rules_upgrade(const struct cfg_schema *s, json_t *obj)
{
	if (!json_is_object(obj))
		return;
	if (strcmp(s->name, "sslkeyandcertificate") == 0)
		upgrade_certificate(obj);
	else if (strcmp(s->name, "healthmonitor") == 0)
		upgrade_healthmonitor(obj);
}

static int check_certificate(json_t *obj, char **ret_err)
{
	json_t *c = json_object_get(obj, "certificate");
	const char *key_pem = str(obj, "key");
	X509 *x = cert_parse(str(c, "certificate"));
	EVP_PKEY *k = NULL;
	BIO *b;
	int r = 0;

	if (!x) {
		*ret_err = xasprintf("certificate.certificate: not a valid PEM certificate");
		return -EINVAL;
	}
	cert_describe(c, x);
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

/* Whether OpenSSL takes the cipher string in @field of @obj, tried on a
 * scratch context: 0 when it selects at least one suite. */
static int check_suites(const json_t *obj, const char *field, char **ret_err)
{
	const json_t *v = json_object_get(obj, field);
	SSL_CTX *ctx;
	int ok;

	if (!json_is_string(v))
		return 0;
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		*ret_err = xasprintf("%s: cannot check it (out of memory)", field);
		return -ENOMEM;
	}
	ok = strcmp(field, "ciphersuites") == 0
		     ? SSL_CTX_set_ciphersuites(ctx, json_string_value(v))
		     : SSL_CTX_set_cipher_list(ctx, json_string_value(v));
	/* An empty TLS 1.3 list is accepted by OpenSSL and offers nothing. */
	if (ok == 1 && !*json_string_value(v))
		ok = 0;
	ERR_clear_error();
	SSL_CTX_free(ctx);
	if (ok == 1)
		return 0;
	*ret_err = xasprintf("%s: '%s' is not a cipher list OpenSSL accepts (no suite selected)",
			     field, json_string_value(v));
	return -EINVAL;
}

static int check_sslprofile(json_t *obj, char **ret_err)
{
	int r = check_suites(obj, "accepted_ciphers", ret_err);

	return r < 0 ? r : check_suites(obj, "ciphersuites", ret_err);
}

static int check_pkiprofile(json_t *obj, char **ret_err)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(obj, "ca_certs"), i, e)
	{
		X509 *x = cert_parse(str(e, "certificate"));
		char *shown;

		if (x) {
			X509_free(x);
			continue;
		}
		ERR_clear_error();
		shown = json_short(json_object_get(e, "certificate"));
		*ret_err = xasprintf("ca_certs[%zu].certificate: not a valid PEM certificate (got %s)",
				     i + 1, shown);
		free(shown);
		return -EINVAL;
	}
	return 0;
}

/* The VIP:port of @svc is taken by @o: named only when @o is of the same
 * tenant, so a conflict reveals nothing of another tenant's objects. */
static int vip_taken(const json_t *obj, const json_t *o, const json_t *vip, const json_t *svc,
		     size_t k, char **ret_err)
{
	const char *addr = str(json_object_get(vip, "ip_address"), "addr");
	long long port = (long long)json_integer_value(json_object_get(svc, "port"));

	/* [x::y]:port: an IPv6 address's colons stay apart from the port's. */
	const char *l = strchr(addr, ':') ? "[" : "", *r = *l ? "]" : "";

	if (strcmp(str(o, "tenant_ref"), str(obj, "tenant_ref")) == 0)
		*ret_err = xasprintf("services[%zu].port: %s%s%s:%lld is already used by "
				     "virtualservice '%s'",
				     k + 1, l, addr, r, port, str(o, "name"));
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
		const char *ip = str(json_object_get(e, field), "addr");
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
	vv = vsvip && !strcmp(ref, str(vsvip, "uuid")) ? vsvip : cfg_cache_find_uuid(all, ref);
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

/* The built-in objects every store holds from its first open: type, name, body. */
static const char *const builtins[][3] = {
	{"serviceenginegroup", "Default-Group", "{\"name\": \"Default-Group\"}"},
	{"vrfcontext", "global", "{\"name\": \"global\", \"bgp_profile\": {}}"},
	/* Forward-secret AEAD only, TLS 1.2 and 1.3: the schema's defaults. */
	{"sslprofile", "System-Standard", "{\"name\": \"System-Standard\"}"},
};

size_t cfg_rules_builtin_count(void)
{
	return sizeof(builtins) / sizeof(builtins[0]);
}

json_t *cfg_rules_builtin(size_t i, const char **ret_type)
{
	if (i >= cfg_rules_builtin_count())
		return NULL;
	*ret_type = builtins[i][0];
	return json_loads(builtins[i][2], 0, NULL);
}

static bool is_builtin(const struct cfg_schema *s, const json_t *obj)
{
	for (size_t i = 0; i < cfg_rules_builtin_count(); i++)
		if (strcmp(builtins[i][0], s->name) == 0 && strcmp(builtins[i][1], str(obj, "name")) == 0 &&
		    strcmp(str(obj, "tenant_ref"), "admin") == 0)
			return true;
	return false;
}

/* One routing context, global, in tenant admin; BGP timers that BGP accepts. */
static int check_vrfcontext(json_t *obj, char **ret_err)
{
	json_t *bgp = json_object_get(obj, "bgp_profile"), *p;
	json_int_t hold = json_integer_value(json_object_get(bgp, "hold_time"));
	json_int_t ka = json_integer_value(json_object_get(bgp, "keepalive_interval"));
	size_t i;

	if (strcmp(str(obj, "name"), "global") != 0) {
		*ret_err = xasprintf("name: only vrfcontext 'global' exists (got '%s')",
				     str(obj, "name"));
		return -EINVAL;
	}
	if (strcmp(str(obj, "tenant_ref"), "admin") != 0) {
		*ret_err = xasprintf("tenant_ref: vrfcontext 'global' belongs to tenant 'admin' "
				     "(got '%s')",
				     str(obj, "tenant_ref"));
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
		const char *ip = str(json_object_get(p, "peer_ip"), "addr");
		uint32_t ip_be = 0, net_be = 0, m;
		int mask = (int)json_integer_value(json_object_get(sn, "mask"));

		if (!sn)
			continue;
		cfg_parse_ipv4(ip, &ip_be);
		cfg_parse_ipv4(str(json_object_get(sn, "ip_addr"), "addr"), &net_be);
		m = mask ? htonl(~0u << (32 - mask)) : 0;
		if ((ip_be & m) != (net_be & m)) {
			*ret_err = xasprintf("bgp_profile.peers[%zu].peer_ip: %s is not in subnet "
					     "%s/%d",
					     i + 1, ip, str(json_object_get(sn, "ip_addr"), "addr"),
					     mask);
			return -EINVAL;
		}
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
	if (strcmp(s->name, "sslprofile") == 0)
		return check_sslprofile(obj, ret_err);
	if (strcmp(s->name, "pkiprofile") == 0)
		return check_pkiprofile(obj, ret_err);
	if (strcmp(s->name, "virtualservice") == 0) {
		r = no_link_local(obj, "vip", "ip_address", ret_err);
		return r < 0 ? r : check_virtualservice(obj, all, ret_err);
	}
	if (strcmp(s->name, "pool") == 0)
		return no_link_local(obj, "servers", "ip", ret_err);
	if (strcmp(s->name, "healthmonitor") == 0)
		return check_healthmonitor(obj, ret_err);
	if (strcmp(s->name, "vsvip") == 0) {
		r = no_link_local(obj, "vip", "ip_address", ret_err);
		return r < 0 ? r : check_vsvip(obj, all, ret_err);
	}
	if (strcmp(s->name, "vrfcontext") == 0)
		return check_vrfcontext(obj, ret_err);
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

	if (is_builtin(s, obj)) {
		*ret_err = xasprintf("%s '%s' is built in and cannot be deleted or renamed", s->name,
				     name);
		return -EBUSY;
	}

	if (strcmp(s->name, "tenant") == 0)
		return cfg_tenant_unused(obj, all, ret_err);
	/* Only the types with a reference field to @s are looked at. */
	for (size_t t = 0; cfg_types[t]; t++) {
		const struct cfg_schema *os = cfg_types[t];

		if (!may_refer(os, s->name))
			continue;
		json_array_foreach(cfg_cache_list(all, os), i, o)
		{
			/* An admin SE group also serves the tenants without their own. */
			bool shared = strcmp(s->name, "serviceenginegroup") == 0 &&
				      strcmp(tenant, "admin") == 0 &&
				      !cfg_cache_find_name(all, s, str(o, "tenant_ref"), name);

			if (strcmp(str(o, "tenant_ref"), tenant) && !shared)
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
