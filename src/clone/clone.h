/* clone.h: the clone engine (user side): eBPF attach/detach, connection registration, stats. */
#ifndef CLONELB_CLONE_CLONE_H
#define CLONELB_CLONE_CLONE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "proxy/px.h"

struct clone_engine;

/*
 * Opens and loads the eBPF objects and removes tc filters an earlier crashed
 * clonelbd left. Nothing is attached until a cloned service exists. Returns 0
 * and *ret (release with clone_stop()), or -errno with *ret_err.
 */
int clone_start(struct clone_engine **ret, char **ret_err);

/*
 * Reconciles with @snap (see cfg_snapshot()): services that have a
 * traffic_clone_profile_ref, their clone servers (interface, MAC), attachment
 * to the interfaces that reach their pools. Resets the stats of every service
 * whose profile changed. Through maps only: the program is not reloaded.
 */
void clone_apply(struct clone_engine *ce, const json_t *snap);

/* The connection hook to hand to px_start(); ctx is the engine. */
extern const struct px_conn_hook clone_conn_hook_ops;

/*
 * traffic_clone_stats of virtual service @vs_uuid, as in docs/architecture.md section 4.1:
 * a list of {se_uuid, proc_id, clone_srvr_stats: [...]}; PROC_Aggregate
 * first, then (with @detail) one entry per CPU. NULL if the service is not
 * known. New reference.
 */
json_t *clone_stats(struct clone_engine *ce, const char *vs_uuid, bool detail);

/*
 * Number of back-end connections in the connection map: open ones and closed
 * ones still in their grace period or not yet evicted. Never more than the
 * map's fixed size (CLONE_CONN_MAX). Returns the count or -errno.
 */
int clone_conn_count(struct clone_engine *ce);

/* Appends Prometheus text lines of the clone engine to @out. */
void clone_metrics(struct clone_engine *ce, FILE *out);

/* The SE's identity as shown in se_uuid ("host:se-<mac>"). Borrowed. */
const char *clone_se_uuid(struct clone_engine *ce);

/* Sets the identity of clone_se_uuid() (the SE's se_uuid in its group);
 * call before the API starts. */
void clone_set_se_uuid(struct clone_engine *ce, const char *uuid);

/* Detaches every filter it attached, frees everything. Accepts NULL. */
void clone_stop(struct clone_engine *ce);

#endif
