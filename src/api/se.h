/* se.h: read-only views of the service engine itself for the API (its interfaces). */
#ifndef CLONELB_API_SE_H
#define CLONELB_API_SE_H

#include <jansson.h>

/*
 * The SE's network interfaces, loopback excepted, sorted by name, each with
 * the IPv4 and IPv6 subnets configured on it (link-local ones aside):
 * [{"name": "tap0", "subnets": ["10.10.3.0/24", "fd00:10:3::/64"]}]. An
 * interface without such an address has an empty list. On error returns NULL with errno set. New reference.
 */
json_t *api_se_interfaces(void);

#endif
