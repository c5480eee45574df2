/* rules_int.h: the rules of each object type (rules_*.c), as the engine of rules.c calls them. */
#ifndef CLONELB_CONFIG_RULES_INT_H
#define CLONELB_CONFIG_RULES_INT_H

#include <jansson.h>

#include "config/cache.h"

/* The string at @k of object @o; "" when absent or not a string. */
static inline const char *rules_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/*
 * The checks of one type beyond its schema, run by cfg_rules_check() once
 * @obj has passed the engine's (its name is unique, its references are
 * uuids of the same tenant), against the rest of the configuration @all.
 * Each returns 0, or -EINVAL / -EEXIST with *ret_err naming the field and
 * the value. Some complete @obj: a certificate gets the fields parsed out of
 * its PEM.
 */
int cfg_rules_trafficcloneprofile(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_sslkeyandcertificate(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_sslprofile(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_pkiprofile(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_virtualservice(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_vsvip(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_pool(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_healthmonitor(json_t *obj, const struct cfg_cache *all, char **ret_err);
int cfg_rules_vrfcontext(json_t *obj, const struct cfg_cache *all, char **ret_err);

/* Rewrite a row or a body of that type from an earlier shape into today's
 * (cfg_rules_upgrade()); @obj is an object. */
void cfg_rules_upgrade_sslkeyandcertificate(json_t *obj);
void cfg_rules_upgrade_healthmonitor(json_t *obj);

#endif
