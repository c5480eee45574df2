/* se.h: this service engine in its SE group: identity, lease-bound registration, stats published per SE, VIP ownership in active/standby. */
#ifndef CLONELB_SE_SE_H
#define CLONELB_SE_SE_H

#include <jansson.h>
#include <stddef.h>

#include "clone/clone.h"
#include "config/store.h"

struct se;

struct se_config {
	const char *name;  /* --se-name */
	const char *group; /* --se-group */
	struct cfg_store *store;
	struct clone_engine *ce; /* may be NULL: no clone stats to publish */
};

/* Seconds an SE's lease lives without a renewal: how long a dead SE stays
 * OPER_UP, holds its VIPs and keeps its stats visible. */
#define SE_LEASE_TTL 3

/* Checks the value @v of flag @flag (an SE or group name: 1-255 printable
 * characters, no spaces or / ? # %). 0, or -EINVAL with *ret_err. */
int se_check_name(const char *flag, const char *v, char **ret_err);

/* Writes the se_uuid of SE @name to @buf: "<name>:se-<12 hex digits>", the
 * digits from a hash of the name, so it stays the same across restarts. */
void se_uuid_of(const char *name, char *buf, size_t size);

/*
 * Starts the SE's thread: on an etcd store it keeps a lease, registers the SE
 * under it, publishes its clone counters about once a second and runs the
 * VIP elections of se_apply(); on SQLite it only answers se_list(). Returns 0
 * and *ret (se_stop()), or -errno with *ret_err.
 */
int se_start(const struct se_config *c, struct se **ret, char **ret_err);

/* Revokes the lease (registration, stats and held VIPs go at once), removes
 * the VIP addresses it added, stops the thread. Accepts NULL. */
void se_stop(struct se *se);

/* This SE's se_uuid. Borrowed. */
const char *se_uuid(const struct se *se);

/* This SE's group. Borrowed. */
const char *se_group(const struct se *se);

/*
 * GET /api/serviceengine: every SE registered on the store, sorted by name,
 * each {name, uuid, se_group_ref, oper_status: {state: OPER_UP|OPER_DOWN}};
 * on SQLite the one local SE. 0 and *ret (array, new reference), or
 * -EAGAIN with *ret_err when etcd cannot be reached.
 */
int se_list(struct se *se, json_t **ret, char **ret_err);

/*
 * traffic_clone_stats of @vs_uuid across the group: @local (this SE's
 * entries, taken over; may be NULL) followed by the PROC_Aggregate entry
 * every other live SE published for the service, by SE name. New reference,
 * or NULL when no SE has one.
 */
json_t *se_clone_stats(struct se *se, const char *vs_uuid, json_t *local);

/*
 * Takes configuration snapshot @snap (cfg_snapshot()): the virtual services of
 * this SE's group whose group is HA_MODE_LEGACY_ACTIVE_STANDBY have their
 * VIPs elected: the SE holding one adds the address to the interface of its
 * subnet and sends gratuitous ARP; the others leave it. Returns at once; the
 * SE's thread does the work.
 */
void se_apply(struct se *se, const json_t *snap);

/*
 * The name of the SE group of virtual service @vs of snapshot @snap: its
 * se_group_ref (a uuid, or a name in a store written before references held
 * uuids) resolved, Default-Group without one. Borrowed from @snap or @vs.
 */
const char *se_group_of(const json_t *snap, const json_t *vs);

/* Whether @snap's virtual service @vs runs on this SE: its group is this SE's. */
bool se_serves(const struct se *se, const json_t *snap, const json_t *vs);

#endif
