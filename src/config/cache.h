/* cache.h: the configuration's objects in memory, indexed by type, uuid and name; what the store and the rules read. */
#ifndef CLONELB_CONFIG_CACHE_H
#define CLONELB_CONFIG_CACHE_H

#include <jansson.h>
#include <stdbool.h>

#include "config/schema.h"

#define CFG_MAX_TYPES 32

/*
 * Every stored object, parsed and checked, so a change reads nothing back
 * from SQLite and looks objects up in constant time. Objects in here never
 * change: an update puts a new object in the old one's place, so snapshots
 * handed out stay valid, and an unchanged object is the same json_t in
 * consecutive snapshots (consumers compare pointers to skip work). Guarded
 * by the store's lock.
 */
struct cfg_cache {
	json_t *by_type; /* type name -> array of its objects, in "_id" order */
	json_t *by_uuid; /* uuid -> object */
	json_t *by_name; /* "type\ntenant\nname" -> object */
	json_t *snap;    /* the last snapshot; its lists are shared until their type changes */
	bool dirty[CFG_MAX_TYPES]; /* types changed since snap (by index in cfg_types) */
};

/* An empty cache but for the builtin objects of the types (cfg_schema.builtin). */
void cfg_cache_init(struct cfg_cache *c);
void cfg_cache_free(struct cfg_cache *c);

/*
 * Adds stored object @id (after every object of a smaller id) from its
 * parts as the store keeps them, checked: known type, uuid, JSON @body that
 * passes its schema and agrees with @uuid, @name and @tenant. Returns 0, or
 * -EIO with *ret_err naming the object and the damage ("row 17 (pool
 * 'web'): no uuid"); @c is then unchanged.
 */
int cfg_cache_load_row(struct cfg_cache *c, long long id, const char *type, const char *uuid,
		       const char *name, const char *tenant, const char *body, char **ret_err);

/* Puts @obj (with "_id"; a reference is taken) in place of @old, or adds it
 * when @old is NULL. */
void cfg_cache_put(struct cfg_cache *c, const struct cfg_schema *s, json_t *obj, const json_t *old);

/* Removes @obj. */
void cfg_cache_remove(struct cfg_cache *c, const struct cfg_schema *s, const json_t *obj);

/* The object of type @s that @key (uuid, or name) names in @tenant ("*":
 * any tenant; objects of CFG_T_SHARED types are in every tenant), borrowed,
 * or NULL. */
json_t *cfg_cache_find(const struct cfg_cache *c, const struct cfg_schema *s, const char *key,
		       const char *tenant);

/* The object of any type and tenant whose uuid is @uuid, borrowed, or NULL. */
json_t *cfg_cache_find_uuid(const struct cfg_cache *c, const char *uuid);

/* The object of type @s named @name in @tenant, borrowed, or NULL. */
json_t *cfg_cache_find_name(const struct cfg_cache *c, const struct cfg_schema *s,
			    const char *tenant, const char *name);

/* The objects of type @s, in "_id" order (borrowed; never NULL). */
const json_t *cfg_cache_list(const struct cfg_cache *c, const struct cfg_schema *s);

/* {"<type>": [object, ...]} of everything in @c (see cfg_snapshot()). New reference. */
json_t *cfg_cache_snapshot(struct cfg_cache *c);

#endif
