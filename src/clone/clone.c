/* clone.c: placeholder until the clone engine lands: no eBPF, empty stats. */
#include "clone/clone.h"

#include <stdlib.h>

struct clone_engine {
	int unused;
};

const struct px_conn_hook clone_conn_hook_ops = {NULL, NULL, NULL};

int clone_start(struct clone_engine **ret, char **ret_err)
{
	*ret = calloc(1, sizeof(struct clone_engine));
	return *ret ? 0 : -1;
}

void clone_apply(struct clone_engine *ce, const json_t *snap)
{
}

json_t *clone_stats(struct clone_engine *ce, const char *vs_uuid, bool detail)
{
	return NULL;
}

void clone_metrics(struct clone_engine *ce, FILE *out)
{
}

const char *clone_se_uuid(struct clone_engine *ce)
{
	return "localhost:se-000000000000";
}

void clone_stop(struct clone_engine *ce)
{
	free(ce);
}
