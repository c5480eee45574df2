/* decode.c: request body to JSON object, kept apart from the server so the fuzz target can reach it. */
#include <errno.h>

#include "api/api.h"
#include "lib/util.h"

int api_decode_body(const char *data, size_t len, json_t **ret, char **ret_err)
{
	json_error_t e;
	json_t *v;

	if (!data || len == 0) {
		*ret_err = xasprintf("request body: empty, expected a JSON object");
		return -EINVAL;
	}
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
	if (!v) {
		*ret_err = xasprintf("request body: invalid JSON at line %d, column %d: %s", e.line,
				     e.column, e.text);
		return -EINVAL;
	}
	if (!json_is_object(v)) {
		*ret_err = xasprintf("request body: expected a JSON object");
		json_decref(v);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}
