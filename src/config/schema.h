/* schema.h: the object model of docs/architecture.md section 3 as data, shared by the store, the API and the shell. */
#ifndef CLONELB_CONFIG_SCHEMA_H
#define CLONELB_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum cfg_kind {
	CFG_STRING,   /* free text (printable, <= 255 bytes) */
	CFG_BOOL,     /* true / false */
	CFG_UINT,     /* integer within [min, max] */
	CFG_ENUM,     /* one of enums[] */
	CFG_ENUMLIST, /* list of distinct values of enums[] */
	CFG_IPADDR,   /* {"addr": "10.0.0.1", "type": "V4"} */
	CFG_PREFIX,   /* {"ip_addr": {"addr": "10.0.0.0", "type": "V4"}, "mask": 24} */
	CFG_MAC,      /* "4e:e9:4e:2d:b9:bb" */
	CFG_IFNAME,   /* a Linux interface name */
	CFG_REF,      /* an object of type ref_type, in a form of config/ref.h; stored as its uuid */
	CFG_REFLIST,  /* list of such references */
	CFG_PEM,      /* PEM text */
	CFG_OBJLIST,  /* list of sub-objects described by sub, at most max of them */
	CFG_OBJECT,   /* one sub-object described by sub ("performance_limits") */
};

/* Field flags. */
#define CFG_F_REQUIRED 0x1 /* must be present (after defaults) */
#define CFG_F_SECRET 0x2   /* write-only: never returned by the API or shown by the shell */
#define CFG_F_KEY 0x4      /* identifies an element of its list (shell: "no servers 10.0.0.1") */
#define CFG_F_NONEMPTY 0x8 /* lists: at least one element */
#define CFG_F_READONLY 0x10 /* computed by clonelb from other fields; a given value is replaced */

struct cfg_schema;

struct cfg_field {
	const char *name;
	enum cfg_kind kind;
	unsigned flags;
	const char *help;
	long long min, max;          /* CFG_UINT range; CFG_OBJLIST: max elements (0: no limit) */
	const char *const *enums;    /* CFG_ENUM, CFG_ENUMLIST: NULL-terminated */
	const char *ref_type;        /* CFG_REF, CFG_REFLIST */
	const struct cfg_schema *sub; /* CFG_OBJLIST, CFG_OBJECT */
	const char *dflt;            /* default as JSON text, or NULL */
};

struct cfg_schema {
	const char *name;  /* object type ("pool") or sub-object name ("servers") */
	const char *help;
	const struct cfg_field *fields;
	size_t nfields;
	unsigned flags;      /* top-level types: CFG_T_* */
	const char *builtin; /* JSON array of objects always there and never stored, or NULL */
};

/* Type flags. */
#define CFG_T_READONLY 0x1 /* no create, change or delete (405): only its builtin objects */
#define CFG_T_SHARED 0x2   /* its objects (tenant admin) are visible from every tenant */

/* NULL-terminated list of the top-level object types. */
extern const struct cfg_schema *const cfg_types[];

/* The uuid of the one cloud, Default-Cloud (type cloud, built in). */
#define CFG_DEFAULT_CLOUD_UUID "cloud-0c5f1c34-4c2b-4b8e-9a3e-5d1f0e7b2a10"

/* Fields every top-level object has, handled by the store itself. */
#define CFG_META_FIELDS "name", "uuid", "tenant_ref", "_last_modified", "_id", "url"

/* Whether @name is one of CFG_META_FIELDS. */
bool cfg_is_meta_field(const char *name);

/* Returns the schema of top-level type @name, or NULL. */
const struct cfg_schema *cfg_type_find(const char *name);

/* Returns field @name of @s, or NULL. */
const struct cfg_field *cfg_field_find(const struct cfg_schema *s, const char *name);

/* Returns the key field of sub-object schema @s, or NULL when it has none. */
const struct cfg_field *cfg_key_field(const struct cfg_schema *s);

/* True for kinds whose value is a list of scalars (shell: a value appends). */
bool cfg_kind_is_scalar_list(enum cfg_kind k);

/*
 * Checks object @obj against @s: known fields only, each of the right type and
 * syntax, defaults filled in for absent fields, required fields present.
 * Meta fields are skipped when @top is true. @path prefixes field names in
 * messages ("clone_servers[2].mac"). Returns 0, or -EINVAL with *ret_err set
 * (caller frees) to a message naming the field and the value.
 */
int cfg_check_object(const struct cfg_schema *s, json_t *obj, bool top, const char *path,
		     char **ret_err);

/*
 * Parses the shell's text form of a value of field @f ("10.0.0.1",
 * "10.0.0.0/24", "true", "80") into its JSON form. For list-of-scalar kinds
 * it parses one element. Returns 0 and *ret (new reference), or -EINVAL with
 * *ret_err naming the field and the value.
 */
int cfg_value_parse(const struct cfg_field *f, const char *text, json_t **ret, char **ret_err);

/*
 * Formats JSON value @v of field @f the way the shell prints it
 * ("10.0.0.0/24"). Returns a malloc'd string (caller frees), never NULL.
 */
char *cfg_value_format(const struct cfg_field *f, const json_t *v);

/* Syntax checks, 0 when valid. */
int cfg_parse_ipv4(const char *s, unsigned int *ret_be_addr);
int cfg_parse_mac(const char *s, unsigned char ret_mac[6]);

#endif
