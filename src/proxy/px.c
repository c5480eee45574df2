/* px.c: placeholder until the data plane lands: accepts configuration, serves nothing. */
#include "proxy/px.h"

#include <stdlib.h>

struct px {
	int unused;
};

int px_start(unsigned workers, const struct px_conn_hook *hook, struct px **ret, char **ret_err)
{
	*ret = calloc(1, sizeof(struct px));
	return *ret ? 0 : -1;
}

void px_apply(struct px *px, const json_t *snap)
{
}

json_t *px_runtime(struct px *px, const char *vs_uuid)
{
	return NULL;
}

void px_metrics(struct px *px, FILE *out)
{
}

void px_stop(struct px *px)
{
	free(px);
}
