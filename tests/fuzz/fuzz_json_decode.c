/* fuzz_json_decode.c: libFuzzer target for the API's body decoder and the object checks behind it. */
#include <stdint.h>
#include <stdlib.h>

#include "api/api.h"
#include "config/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *obj = NULL;
	char *err = NULL;

	if (api_decode_body((const char *)data, size, &obj, &err) < 0) {
		/* Every refusal must explain itself. */
		if (!err)
			abort();
		free(err);
		return 0;
	}
	for (size_t i = 0; cfg_types[i]; i++) {
		json_t *copy = json_deep_copy(obj);
		err = NULL;
		if (cfg_check_object(cfg_types[i], copy, true, "", &err) < 0) {
			if (!err)
				abort();
			free(err);
		} else {
			/* Whatever passes must format back without crashing. */
			for (size_t f = 0; f < cfg_types[i]->nfields; f++) {
				const struct cfg_field *fd = &cfg_types[i]->fields[f];
				free(cfg_value_format(fd, json_object_get(copy, fd->name)));
			}
		}
		json_decref(copy);
	}
	json_decref(obj);
	return 0;
}
