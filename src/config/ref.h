/* ref.h: the forms a reference (*_ref, tenant_ref) takes in the reference product's API, parsed and written. */
#ifndef CLONELB_CONFIG_REF_H
#define CLONELB_CONFIG_REF_H

/* How a reference names its target. */
enum cfg_ref_by {
	CFG_REF_BARE, /* "web" or "pool-0b6e...": a name or a uuid */
	CFG_REF_UUID, /* "/api/pool/<uuid>", "https://host/api/pool/<uuid>#web" */
	CFG_REF_NAME, /* "/api/pool?name=web", "/api/pool/?name=web" */
};

struct cfg_ref {
	enum cfg_ref_by by;
	char *type; /* the type the URL names; NULL for CFG_REF_BARE */
	char *key;  /* the uuid, the name, or the bare text (decoded) */
};

/*
 * Parses reference @text in one of the forms docs/api.md lists ("Reference
 * forms"): a name, a uuid, /api/<type>/<uuid>, http(s)://host[:port]/api/<type>/<uuid>[#name],
 * /api/<type>?name=X, /api/<type>/?name=X (also after a scheme and host).
 * Percent escapes in the uuid and the name are decoded. Returns 0 and *ret
 * (release with cfg_ref_clear()), or -EINVAL with *ret_err (caller frees)
 * saying what is wrong with @text; *ret is then untouched.
 */
int cfg_ref_parse(const char *text, struct cfg_ref *ret, char **ret_err);

/* Frees what cfg_ref_parse() allocated. Accepts a zeroed struct. */
void cfg_ref_clear(struct cfg_ref *r);

/*
 * The URL form of a reference: "@base/api/@type/@uuid", with "#@name" when
 * @name is not NULL. @base is "https://host:port", or NULL / "" for a path
 * alone (the Unix socket). Returns a malloc'd string (caller frees).
 */
char *cfg_ref_url(const char *base, const char *type, const char *uuid, const char *name);

#endif
