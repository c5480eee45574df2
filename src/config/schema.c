/* schema.c: the object types of docs/architecture.md section 3 as tables of fields, and the lookups over them. */
#include "config/schema.h"

#include <string.h>

#define NF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const lb_algorithms[] = {"LB_ALGORITHM_ROUND_ROBIN",
					    "LB_ALGORITHM_LEAST_CONNECTIONS", NULL};
static const char *const hm_types[] = {"HEALTH_MONITOR_TCP", "HEALTH_MONITOR_HTTP",
				       "HEALTH_MONITOR_HTTPS", NULL};
static const char *const http_codes[] = {"HTTP_1XX", "HTTP_2XX", "HTTP_3XX",
					 "HTTP_4XX", "HTTP_5XX", "HTTP_ANY", NULL};
static const char *const cloud_vtypes[] = {"CLOUD_LINUXSERVER", NULL};
static const char *const clone_encaps[] = {"CLONE_ENCAP_NONE", "CLONE_ENCAP_VXLAN", "CLONE_ENCAP_GENEVE",
					   "CLONE_ENCAP_ERSPAN_II", "CLONE_ENCAP_ERSPAN_III", NULL};
static const char *const cert_types[] = {"SSL_CERTIFICATE_TYPE_VIRTUALSERVICE", NULL};

/* Traffic clone profile: filters, truncation and flow budget (docs/clone-engine.md). */
static const char *const clone_filter_actions[] = {"CLONE_FILTER_ACCEPT", "CLONE_FILTER_REJECT",
						   NULL};
static const char *const clone_dirs[] = {"CLONE_DIR_BOTH", "CLONE_DIR_TO_SERVER",
					 "CLONE_DIR_FROM_SERVER", NULL};
static const char *const clone_budget_actions[] = {"CLONE_BUDGET_HEADERS", "CLONE_BUDGET_STOP",
						   NULL};
static const struct cfg_field clone_filter_fields[] = {
	{"rule_number", CFG_UINT, CFG_F_REQUIRED | CFG_F_KEY,
	 "order of the rule: the lowest number is tried first, the first match decides", 1, 32766},
	{"action", CFG_ENUM, CFG_F_REQUIRED, "what a matching connection's frames get", 0, 0,
	 clone_filter_actions},
	{"direction", CFG_ENUM, 0, "frames the rule matches: both directions, SE to server, server to SE",
	 0, 0, clone_dirs, NULL, NULL, "\"CLONE_DIR_BOTH\""},
	{"client_prefix", CFG_PREFIX, 0, "client addresses the rule matches (absent: any)"},
	{"server_port_start", CFG_UINT, 0, "first pool server port the rule matches (absent: 1)", 1,
	 65535},
	{"server_port_end", CFG_UINT, 0, "last pool server port the rule matches (absent: 65535)", 1,
	 65535},
};
static const struct cfg_schema clone_filter_schema = {
	"filters", "a rule that decides which frames are cloned", clone_filter_fields,
	NF(clone_filter_fields)};

static const struct cfg_field clone_server_fields[] = {
	{"ip_address", CFG_IPADDR, CFG_F_REQUIRED | CFG_F_KEY,
	 "IP address of the clone server (a dummy one is fine for a pure sniffer)"},
	{"subnet", CFG_PREFIX, 0, "subnet of the SE interface the clones leave by"},
	{"mac", CFG_MAC, 0, "MAC address of the clone server; resolved by ARP when absent"},
	{"network_ref", CFG_IFNAME, 0, "SE interface the clones leave by (instead of subnet)"},
	/* Encapsulated delivery (docs/clone-engine.md): a routed collector. */
	{"encap_type", CFG_ENUM, 0, "how clones reach the server: CLONE_ENCAP_NONE (directly connected) or "
	 "wrapped in VXLAN, GENEVE, ERSPAN type II or III to a routed collector", 0, 0, clone_encaps},
	{"vni", CFG_UINT, 0, "VXLAN or GENEVE network identifier", 0, 16777215},
	{"dst_port", CFG_UINT, 0, "UDP port of the collector (VXLAN 4789, GENEVE 6081)", 1, 65535},
	{"erspan_session_id", CFG_UINT, 0, "ERSPAN session id", 0, 1023},
};
static const struct cfg_schema clone_server_schema = {
	"clone_servers", "a server that receives the cloned frames", clone_server_fields,
	NF(clone_server_fields)};

static const struct cfg_field tcp_fields[] = {
	{"clone_servers", CFG_OBJLIST, 0, "servers that receive the clones, in round-robin order", 0,
	 10, NULL, NULL, &clone_server_schema, "[]"},
	{"preserve_client_ip", CFG_BOOL, 0,
	 "clones carry the client's IP instead of the SE's back-end IP", 0, 0, NULL, NULL, NULL,
	 "false"},
	{"plaintext_for_tls_pools", CFG_BOOL, 0,
	 "a pool that speaks TLS is cloned as a synthesized plaintext flow, not its encrypted wire", 0,
	 0, NULL, NULL, NULL, "false"},
	{"cloud_ref", CFG_REF, 0, "cloud of the profile", 0, 0, NULL, "cloud", NULL,
	 "\"Default-Cloud\""},
	{"filters", CFG_OBJLIST, 0, "rules deciding what is cloned (none: everything)", 0, 16, NULL,
	 NULL, &clone_filter_schema, "[]"},
	{"snaplen", CFG_UINT, 0, "bytes of each frame a clone keeps (0: all)", 0, 65535, NULL, NULL,
	 NULL, "0"},
	{"max_bytes_per_flow", CFG_UINT, 0,
	 "payload bytes of a connection cloned whole, then budget_action (0: no limit)", 0,
	 1099511627776LL, NULL, NULL, NULL, "0"},
	{"budget_action", CFG_ENUM, 0,
	 "after max_bytes_per_flow: frames cut to their headers, or only SYN/FIN/RST", 0, 0,
	 clone_budget_actions, NULL, NULL, "\"CLONE_BUDGET_HEADERS\""},
};

static const struct cfg_field server_fields[] = {
	{"ip", CFG_IPADDR, CFG_F_REQUIRED | CFG_F_KEY, "IP address of the pool server"},
	{"port", CFG_UINT, 0, "port (default: the pool's default_server_port)", 1, 65535},
	{"enabled", CFG_BOOL, 0, "server takes new connections", 0, 0, NULL, NULL, NULL, "true"},
};
static const struct cfg_schema server_schema = {"servers", "a pool member", server_fields,
						NF(server_fields)};

static const struct cfg_field pool_fields[] = {
	{"servers", CFG_OBJLIST, 0, "pool members", 0, 1000, NULL, NULL, &server_schema, "[]"},
	{"default_server_port", CFG_UINT, 0, "port of servers that set none", 1, 65535, NULL, NULL,
	 NULL, "80"},
	{"lb_algorithm", CFG_ENUM, 0, "load-balancing algorithm", 0, 0, lb_algorithms, NULL, NULL,
	 "\"LB_ALGORITHM_ROUND_ROBIN\""},
	{"health_monitor_refs", CFG_REFLIST, 0, "health monitors", 0, 0, NULL, "healthmonitor", NULL,
	 "[]"},
	/* TLS to the servers (docs/dataplane.md, "Back-end TLS"). */
	{"ssl_profile_ref", CFG_REF, 0, "speak TLS to the servers with this profile (unset: TCP)", 0,
	 0, NULL, "sslprofile"},
	{"pki_profile_ref", CFG_REF, 0, "verify the servers' certificates (unset: unverified)", 0, 0,
	 NULL, "pkiprofile"},
	{"ssl_key_and_certificate_ref", CFG_REF, 0, "client certificate shown to the servers", 0, 0,
	 NULL, "sslkeyandcertificate"},
	{"sni_enabled", CFG_BOOL, 0, "send server_name as SNI", 0, 0, NULL, NULL, NULL, "true"},
	{"server_name", CFG_STRING, 0,
	 "name the servers' certificates must carry, sent as SNI (unset: the server's address)"},
};

static const struct cfg_field hm_http_fields[] = {
	{"http_request", CFG_STRING, 0, "request line (and headers) the monitor sends", 0, 0, NULL,
	 NULL, NULL, "\"HEAD / HTTP/1.0\""},
	{"http_response_code", CFG_ENUMLIST, 0, "HTTP status classes that count as up", 0, 0,
	 http_codes, NULL, NULL, "[\"HTTP_2XX\", \"HTTP_3XX\"]"},
	{"http_response", CFG_STRING, 0,
	 "text the first 2 KiB of the answer must hold too (unset: the status is enough)"},
};
static const struct cfg_schema hm_http_schema = {"http_monitor", "an HTTP monitor's request",
						 hm_http_fields, NF(hm_http_fields)};

static const struct cfg_field hm_tcp_fields[] = {
	{"tcp_request", CFG_STRING, 0, "data sent once connected (unset: connecting is the check)"},
	{"tcp_response", CFG_STRING, 0,
	 "text the first 2 KiB of the answer must hold (unset: no answer needed)"},
};
static const struct cfg_schema hm_tcp_schema = {"tcp_monitor", "a TCP monitor's exchange",
						hm_tcp_fields, NF(hm_tcp_fields)};

static const struct cfg_field hm_fields[] = {
	{"type", CFG_ENUM, CFG_F_REQUIRED, "monitor type", 0, 0, hm_types},
	{"send_interval", CFG_UINT, 0, "seconds between checks", 1, 3600, NULL, NULL, NULL, "10"},
	{"receive_timeout", CFG_UINT, 0, "seconds to wait for an answer", 1, 2400, NULL, NULL, NULL,
	 "4"},
	{"successful_checks", CFG_UINT, 0, "successes to mark a server up", 1, 50, NULL, NULL, NULL,
	 "2"},
	{"failed_checks", CFG_UINT, 0, "failures to mark a server down", 1, 50, NULL, NULL, NULL,
	 "2"},
	{"monitor_port", CFG_UINT, 0, "port the checks go to (0 or unset: the server's)", 0, 65535},
	/* Type-specific settings nest as the reference writes them. */
	{"http_monitor", CFG_OBJECT, 0, "what an HTTP monitor sends and expects", 0, 0, NULL, NULL,
	 &hm_http_schema},
	{"https_monitor", CFG_OBJECT, 0, "what an HTTPS monitor sends and expects", 0, 0, NULL, NULL,
	 &hm_http_schema},
	{"tcp_monitor", CFG_OBJECT, 0, "what a TCP monitor sends and expects", 0, 0, NULL, NULL,
	 &hm_tcp_schema},
};

/* A certificate's parsed names; set by clonelb from the PEM. */
static const struct cfg_field cert_name_fields[] = {
	{"common_name", CFG_STRING, CFG_F_READONLY, "CN"},
	{"organization", CFG_STRING, CFG_F_READONLY, "O"},
	{"organization_unit", CFG_STRING, CFG_F_READONLY, "OU"},
	{"locality", CFG_STRING, CFG_F_READONLY, "L"},
	{"state", CFG_STRING, CFG_F_READONLY, "ST"},
	{"country", CFG_STRING, CFG_F_READONLY, "C"},
	{"email_address", CFG_STRING, CFG_F_READONLY, "emailAddress"},
	{"distinguished_name", CFG_STRING, CFG_F_READONLY, "the whole name"},
};
static const struct cfg_schema cert_name_schema = {"certificate_name", "a certificate's name",
						   cert_name_fields, NF(cert_name_fields)};

static const struct cfg_field cert_pem_fields[] = {
	{"certificate", CFG_PEM, CFG_F_REQUIRED, "certificate chain (PEM)"},
	{"subject", CFG_OBJECT, CFG_F_READONLY, "subject (from the PEM)", 0, 0, NULL, NULL,
	 &cert_name_schema},
	{"issuer", CFG_OBJECT, CFG_F_READONLY, "issuer (from the PEM)", 0, 0, NULL, NULL,
	 &cert_name_schema},
	{"not_before", CFG_STRING, CFG_F_READONLY, "start of validity (from the PEM)"},
	{"not_after", CFG_STRING, CFG_F_READONLY, "end of validity (from the PEM)"},
	{"serial_number", CFG_STRING, CFG_F_READONLY, "serial number (from the PEM)"},
	{"fingerprint", CFG_STRING, CFG_F_READONLY, "SHA-1 fingerprint (from the PEM)"},
	{"signature_algorithm", CFG_STRING, CFG_F_READONLY, "signature algorithm (from the PEM)"},
	{"self_signed", CFG_BOOL, CFG_F_READONLY, "issued by its own key (from the PEM)"},
};
static const struct cfg_schema cert_pem_schema = {"certificate", "the certificate and what it says",
						  cert_pem_fields, NF(cert_pem_fields)};

static const struct cfg_field cert_fields[] = {
	{"type", CFG_ENUM, 0, "what the certificate is for", 0, 0, cert_types, NULL, NULL,
	 "\"SSL_CERTIFICATE_TYPE_VIRTUALSERVICE\""},
	{"certificate", CFG_OBJECT, CFG_F_REQUIRED, "the certificate chain and its parsed fields", 0,
	 0, NULL, NULL, &cert_pem_schema},
	{"key", CFG_PEM, CFG_F_REQUIRED | CFG_F_SECRET, "private key (PEM, write-only)"},
};

static const struct cfg_field vip_fields[] = {
	{"ip_address", CFG_IPADDR, CFG_F_REQUIRED | CFG_F_KEY, "virtual IP address"},
};
static const struct cfg_schema vip_schema = {"vip", "a virtual IP", vip_fields, NF(vip_fields)};

static const struct cfg_field service_fields[] = {
	{"port", CFG_UINT, CFG_F_REQUIRED | CFG_F_KEY, "listening port", 1, 65535},
	{"enable_ssl", CFG_BOOL, 0, "terminate TLS on this port", 0, 0, NULL, NULL, NULL, "false"},
	/* The reference returns it equal to port; a range is refused by rules_service.c. */
	{"port_range_end", CFG_UINT, 0, "last port of a range (only port itself)", 1, 65535},
};
static const struct cfg_schema service_schema = {"services", "a listening port", service_fields,
						 NF(service_fields)};

static const struct cfg_field perf_fields[] = {
	{"max_concurrent_connections", CFG_UINT, 0,
	 "client connections the service holds at once; more wait in the kernel backlog (0: no "
	 "limit)",
	 0, 10000000, NULL, NULL, NULL, "0"},
};
static const struct cfg_schema perf_schema = {"performance_limits", "limits of the service",
					      perf_fields, NF(perf_fields)};

static const struct cfg_field vs_fields[] = {
	{"vip", CFG_OBJLIST, 0, "virtual IPs (or vsvip_ref)", 0, 16, NULL, NULL, &vip_schema, "[]"},
	{"services", CFG_OBJLIST, CFG_F_NONEMPTY, "listening ports", 0, 64, NULL, NULL,
	 &service_schema, "[]"},
	{"pool_ref", CFG_REF, 0, "pool of back-end servers", 0, 0, NULL, "pool"},
	{"ssl_key_and_certificate_refs", CFG_REFLIST, 0, "certificates for enable_ssl services", 0,
	 0, NULL, "sslkeyandcertificate", NULL, "[]"},
	{"traffic_clone_profile_ref", CFG_REF, 0, "traffic clone profile", 0, 0, NULL,
	 "trafficcloneprofile"},
	{"enabled", CFG_BOOL, 0, "virtual service accepts connections", 0, 0, NULL, NULL, NULL,
	 "true"},
	{"performance_limits", CFG_OBJECT, 0, "limits of the service", 0, 0, NULL, NULL,
	 &perf_schema},
	{"vsvip_ref", CFG_REF, 0, "shared virtual IPs (instead of vip)", 0, 0, NULL, "vsvip"},
	{"se_group_ref", CFG_REF, 0, "SE group whose SEs serve the service", 0, 0, NULL,
	 "serviceenginegroup", NULL, "\"Default-Group\""},
	{"enable_rhi", CFG_BOOL, 0,
	 "announce each VIP /32 over BGP while the service is up and its pool has a healthy "
	 "member",
	 0, 0, NULL, NULL, NULL, "false"},
	{"ssl_profile_ref", CFG_REF, 0, "TLS versions and suites of enable_ssl services", 0, 0,
	 NULL, "sslprofile", NULL, "\"System-Standard\""},
};

/* cloud: read-only, the one Linux server cloud. vsvip: virtual IPs that
 * services share (virtualservice.vsvip_ref). */
static const struct cfg_field cloud_fields[] = {
	{"vtype", CFG_ENUM, 0, "cloud type", 0, 0, cloud_vtypes, NULL, NULL,
	 "\"CLOUD_LINUXSERVER\""},
};
static const struct cfg_schema cloud_schema = {
	"cloud", "clonelb has one cloud, Default-Cloud", cloud_fields,
	NF(cloud_fields), CFG_T_READONLY | CFG_T_SHARED,
	"[{\"name\": \"Default-Cloud\", \"uuid\": \"" CFG_DEFAULT_CLOUD_UUID "\", "
	"\"tenant_ref\": \"admin\", \"vtype\": \"CLOUD_LINUXSERVER\", "
	"\"_last_modified\": \"0\"}]"};

static const struct cfg_field vsvip_vip_fields[] = {
	{"vip_id", CFG_STRING, CFG_F_REQUIRED | CFG_F_KEY, "identifier of the VIP within the vsvip"},
	{"ip_address", CFG_IPADDR, CFG_F_REQUIRED, "virtual IP address"},
	{"enabled", CFG_BOOL, 0, "the VIP is served", 0, 0, NULL, NULL, NULL, "true"},
};
static const struct cfg_schema vsvip_vip_schema = {"vip", "a virtual IP", vsvip_vip_fields,
						   NF(vsvip_vip_fields)};
static const struct cfg_field vsvip_fields[] = {
	{"vip", CFG_OBJLIST, CFG_F_NONEMPTY, "virtual IPs", 0, 16, NULL, NULL, &vsvip_vip_schema,
	 "[]"},
	{"cloud_ref", CFG_REF, 0, "cloud of the VIPs", 0, 0, NULL, "cloud", NULL,
	 "\"Default-Cloud\""},
};
static const struct cfg_schema vsvip_schema = {"vsvip", "virtual IPs shared by virtual services",
					       vsvip_fields, NF(vsvip_fields)};

/* SE groups and routing (docs/architecture.md, "SE groups"). */
static const char *const ha_modes[] = {"HA_MODE_SHARED", "HA_MODE_LEGACY_ACTIVE_STANDBY", NULL};

static const struct cfg_field seg_fields[] = {
	{"ha_mode", CFG_ENUM, 0,
	 "HA_MODE_SHARED: every SE serves and announces every VIP (ECMP); "
	 "HA_MODE_LEGACY_ACTIVE_STANDBY: one SE holds each VIP",
	 0, 0, ha_modes, NULL, NULL, "\"HA_MODE_SHARED\""},
};
static const struct cfg_schema seg_schema = {"serviceenginegroup",
					     "a group of SEs that share virtual services", seg_fields,
					     NF(seg_fields)};

static const struct cfg_field peer_fields[] = {
	{"peer_ip", CFG_IPADDR, CFG_F_REQUIRED | CFG_F_KEY, "address of the BGP neighbour"},
	{"remote_as", CFG_UINT, CFG_F_REQUIRED, "AS number of the neighbour", 1, 4294967295LL},
	{"subnet", CFG_PREFIX, 0, "directly connected subnet the neighbour is on"},
	{"bfd", CFG_BOOL, 0, "BFD on the session: a dead SE is noticed in under a second", 0, 0,
	 NULL, NULL, NULL, "true"},
};
static const struct cfg_schema peer_schema = {"peers", "a BGP neighbour (a top-of-rack router)",
					      peer_fields, NF(peer_fields)};

static const struct cfg_field bgp_fields[] = {
	{"local_as", CFG_UINT, 0, "AS number of the SEs", 1, 4294967295LL, NULL, NULL, NULL,
	 "65000"},
	{"hold_time", CFG_UINT, 0, "BGP hold time in seconds (3..65535)", 3, 65535, NULL, NULL,
	 NULL, "9"},
	{"keepalive_interval", CFG_UINT, 0, "BGP keepalive interval in seconds", 1, 21845, NULL,
	 NULL, NULL, "3"},
	{"peers", CFG_OBJLIST, 0, "BGP neighbours the VIPs are announced to", 0, 64, NULL, NULL,
	 &peer_schema, "[]"},
};
static const struct cfg_schema bgp_schema = {"bgp_profile", "BGP of route health injection",
					     bgp_fields, NF(bgp_fields)};

static const struct cfg_field vrf_fields[] = {
	{"bgp_profile", CFG_OBJECT, 0, "BGP peering of the SEs", 0, 0, NULL, NULL, &bgp_schema},
};
static const struct cfg_schema vrf_schema = {"vrfcontext", "routing context (only 'global')",
					     vrf_fields, NF(vrf_fields)};

static const struct cfg_schema tcp_schema = {"trafficcloneprofile",
					     "copies a virtual service's back-end frames to clone servers",
					     tcp_fields, NF(tcp_fields)};
static const struct cfg_schema pool_schema = {"pool", "a pool of back-end servers", pool_fields,
					      NF(pool_fields)};
static const struct cfg_schema hm_schema = {"healthmonitor", "a health check for pool servers",
					    hm_fields, NF(hm_fields)};
static const struct cfg_schema cert_schema = {"sslkeyandcertificate", "a TLS key and certificate",
					      cert_fields, NF(cert_fields)};
static const struct cfg_schema vs_schema = {"virtualservice", "a load-balanced service",
					    vs_fields, NF(vs_fields)};

/* TLS profiles (docs/api.md, "TLS profiles"): sslprofile says which
 * versions and suites a TLS side offers, pkiprofile which CAs a back-end
 * server's certificate must chain to. rules_tls.c checks them with OpenSSL. */
static const char *const ssl_versions[] = {"SSL_VERSION_TLS1_2", "SSL_VERSION_TLS1_3", NULL};
static const struct cfg_field ssl_version_fields[] = {
	{"type", CFG_ENUM, CFG_F_REQUIRED | CFG_F_KEY, "TLS version", 0, 0, ssl_versions},
};
static const struct cfg_schema ssl_version_schema = {"accepted_versions", "a TLS version",
						     ssl_version_fields, NF(ssl_version_fields)};
static const struct cfg_field sslprofile_fields[] = {
	{"accepted_versions", CFG_OBJLIST, CFG_F_NONEMPTY, "TLS versions offered", 0, 2, NULL, NULL,
	 &ssl_version_schema, "[{\"type\": \"SSL_VERSION_TLS1_2\"}, {\"type\": \"SSL_VERSION_TLS1_3\"}]"},
	{"accepted_ciphers", CFG_STRING, 0, "TLS 1.2 suites (an OpenSSL cipher string)", 0, 0, NULL,
	 NULL, NULL, "\"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1\""},
	{"ciphersuites", CFG_STRING, 0, "TLS 1.3 suites (OpenSSL names, colon-separated)", 0, 0,
	 NULL, NULL, NULL,
	 "\"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256\""},
};
static const struct cfg_schema sslprofile_schema = {
	"sslprofile", "TLS versions and suites (built in: System-Standard)", sslprofile_fields,
	NF(sslprofile_fields)};
static const struct cfg_field ca_cert_fields[] = {
	{"certificate", CFG_PEM, CFG_F_REQUIRED, "a trusted CA certificate (PEM)"},
};
static const struct cfg_schema ca_cert_schema = {"ca_certs", "a trusted CA", ca_cert_fields,
						 NF(ca_cert_fields)};
static const struct cfg_field pkiprofile_fields[] = {
	{"ca_certs", CFG_OBJLIST, CFG_F_NONEMPTY, "CAs a server certificate must chain to", 0, 64,
	 NULL, NULL, &ca_cert_schema, "[]"},
};
static const struct cfg_schema pkiprofile_schema = {
	"pkiprofile", "how back-end server certificates are verified", pkiprofile_fields,
	NF(pkiprofile_fields)};

/* Users, tenants and roles (docs/api.md, "Users, tenants and roles"). They
 * live in tenant admin; src/config/users.c holds their rules. */
static const char *const privilege_types[] = {"NO_ACCESS", "READ_ACCESS", "WRITE_ACCESS", NULL};
static const struct cfg_field tenant_fields[] = {
	{"description", CFG_STRING, 0, "what the tenant is for"},
	{"local", CFG_BOOL, 0, "the tenant's objects are its own", 0, 0, NULL, NULL, NULL, "true"},
};
static const struct cfg_field privilege_fields[] = {
	{"resource", CFG_STRING, CFG_F_REQUIRED | CFG_F_KEY, "object type, or * for every type"},
	{"type", CFG_ENUM, CFG_F_REQUIRED, "what the role may do with it", 0, 0, privilege_types},
};
static const struct cfg_schema privilege_schema = {"privileges", "what a role allows",
						   privilege_fields, NF(privilege_fields)};
static const struct cfg_field role_fields[] = {
	{"privileges", CFG_OBJLIST, 0, "what the role allows (built-in roles are read-only)", 0, 64,
	 NULL, NULL, &privilege_schema, "[]"},
};
static const struct cfg_field access_fields[] = {
	{"tenant_ref", CFG_REF, CFG_F_REQUIRED | CFG_F_KEY, "tenant the user may use", 0, 0, NULL,
	 "tenant"},
	{"role_ref", CFG_REF, CFG_F_REQUIRED, "role the user has in it", 0, 0, NULL, "role"},
};
static const struct cfg_schema access_schema = {"access", "a tenant and the user's role in it",
						access_fields, NF(access_fields)};
static const struct cfg_field user_fields[] = {
	{"username", CFG_STRING, 0, "login name (the object's name)"},
	{"password", CFG_STRING, CFG_F_SECRET, "password (write-only; stored as a salted hash)"},
	{"full_name", CFG_STRING, 0, "the person's name"},
	{"email", CFG_STRING, 0, "the person's e-mail address"},
	{"access", CFG_OBJLIST, 0, "tenants the user may use, with a role in each", 0, 64, NULL, NULL,
	 &access_schema, "[]"},
};
static const struct cfg_schema tenant_schema = {"tenant", "a tenant: a separate set of objects",
						tenant_fields, NF(tenant_fields), CFG_T_SHARED};
#define ROLE(name, uuid, all, tenant, user)                                                      \
	"{\"name\": \"" name "\", \"uuid\": \"role-" uuid "\", \"tenant_ref\": \"admin\", "           \
	"\"_last_modified\": \"0\", \"privileges\": [{\"resource\": \"*\", \"type\": \"" all "\"}, "   \
	"{\"resource\": \"tenant\", \"type\": \"" tenant "\"}, {\"resource\": \"user\", \"type\": \"" user \
	"\"}]}"
static const struct cfg_schema role_schema = {
	"role", "built in: System-Admin, Tenant-Admin, Application-Operator", role_fields,
	NF(role_fields), CFG_T_READONLY | CFG_T_SHARED,
	"[" ROLE("System-Admin", "7e2e3e94-1ba2-4438-9c69-c56fc17f2b38", "WRITE_ACCESS",
		 "WRITE_ACCESS", "WRITE_ACCESS") ", "
	ROLE("Tenant-Admin", "357d2e01-a5b4-415c-a953-8e3885680b3d", "WRITE_ACCESS", "READ_ACCESS",
	     "NO_ACCESS") ", "
	ROLE("Application-Operator", "6ecf39dd-4110-457a-b68c-a3aed323daf5", "READ_ACCESS",
	     "READ_ACCESS", "NO_ACCESS") "]"};
#undef ROLE
static const struct cfg_schema user_schema = {"user", "a user of the API, the shell and the web UI",
					      user_fields, NF(user_fields), CFG_T_SHARED};

/* Order matters: objects are loaded and shown referenced types first. */
const struct cfg_schema *const cfg_types[] = {&cloud_schema, &hm_schema, &cert_schema,
					      &sslprofile_schema, &pkiprofile_schema,
					      &tcp_schema, &pool_schema, &vsvip_schema,
					      &seg_schema, &vrf_schema, &vs_schema, &tenant_schema,
					      &role_schema, &user_schema, NULL};

const struct cfg_schema *cfg_type_find(const char *name)
{
	for (size_t i = 0; cfg_types[i]; i++)
		if (name && strcmp(cfg_types[i]->name, name) == 0)
			return cfg_types[i];
	return NULL;
}

const struct cfg_field *cfg_field_find(const struct cfg_schema *s, const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}

const struct cfg_field *cfg_key_field(const struct cfg_schema *s)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].flags & CFG_F_KEY)
			return &s->fields[i];
	return NULL;
}

bool cfg_is_meta_field(const char *name)
{
	static const char *const meta[] = {CFG_META_FIELDS, NULL};

	for (size_t i = 0; meta[i]; i++)
		if (strcmp(meta[i], name) == 0)
			return true;
	return false;
}

bool cfg_kind_is_scalar_list(enum cfg_kind k)
{
	return k == CFG_ENUMLIST || k == CFG_REFLIST;
}
