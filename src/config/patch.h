/* patch.h: the reference product's PATCH, {"add"|"replace"|"delete": {fields}}, applied to an object. */
#ifndef CLONELB_CONFIG_PATCH_H
#define CLONELB_CONFIG_PATCH_H

#include <jansson.h>
#include <stdbool.h>

#include "config/schema.h"

/* Whether PATCH body @body is of the reference's form (has "add", "replace"
 * or "delete"), rather than today's merge of fields. */
bool cfg_patch_is_ops(const json_t *body);

/*
 * Checks the form of @body (one of add, replace, delete; nothing beside it;
 * its value an object). Returns 0 with *ret_op ("add", ...) and *ret_fields
 * (borrowed from @body), or -EINVAL with *ret_err naming the field.
 */
int cfg_patch_form(const json_t *body, const char **ret_op, json_t **ret_fields, char **ret_err);

/*
 * The object @old of schema @s after operation @op with @fields (references
 * already in the form @old stores them):
 *   replace  each field given takes the value given (null clears it);
 *   add      list fields get the elements given appended (one equal to an
 *            element already there is skipped), sub-objects get their fields
 *            added, other fields take the value given;
 *   delete   list fields lose the elements that match one given (an object
 *            matches when the fields given are equal; elements that are not
 *            there are no error), sub-objects lose the fields given, other
 *            fields are cleared (their default comes back).
 * name is renamed by add and replace; tenant_ref and uuid must be the
 * object's; url and _last_modified are ignored. The result is not checked
 * against the schema. Returns 0 and *ret (new reference), or -EINVAL with
 * *ret_err naming the field ("add.servers: expected a list, got 5").
 */
int cfg_patch_apply(const struct cfg_schema *s, const json_t *old, const char *op,
		    const json_t *fields, json_t **ret, char **ret_err);

#endif
