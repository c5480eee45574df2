/* se.c: this SE in its group: identity, a lease with the registration, stats and VIPs bound to it, and the thread that keeps them. */
#include "se/se.h"

#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/store_etcd.h"
#include "lib/util.h"
#include "log.h"
#include "se/se_int.h"

#define K_SE CFG_ETCD_PREFIX "se/"
#define K_ALIVE CFG_ETCD_PREFIX "alive/"
#define K_STATS CFG_ETCD_PREFIX "stats/"

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

int se_check_name(const char *flag, const char *v, char **ret_err)
{
	size_t i, n = strlen(v);

	for (i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~' || strchr("/?#%", v[i]))
			break;
	if (n && n <= 255 && i == n)
		return 0;
	*ret_err = xasprintf("%s: invalid name '%s' (1-255 printable characters, no spaces or "
			     "/ ? # %%)",
			     flag, v);
	return -EINVAL;
}

void se_uuid_of(const char *name, char *buf, size_t size)
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)name, strlen(name), h);
	snprintf(buf, size, "%s:se-%02x%02x%02x%02x%02x%02x", name, h[0], h[1], h[2], h[3], h[4],
		 h[5]);
}

const char *se_uuid(const struct se *se)
{
	return se->uuid;
}

const char *se_group(const struct se *se)
{
	return se->group;
}

const char *se_group_of(const json_t *snap, const json_t *vs)
{
	const char *ref = json_string_value(json_object_get(vs, "se_group_ref"));
	const json_t *g;
	size_t i;

	if (!ref)
		return "Default-Group";
	json_array_foreach(json_object_get(snap, "serviceenginegroup"), i, g)
		if (strcmp(str(g, "uuid"), ref) == 0)
			return str(g, "name");
	return ref;
}

bool se_serves(const struct se *se, const json_t *snap, const json_t *vs)
{
	return strcmp(se_group_of(snap, vs), se->group) == 0;
}

static json_t *entry(const char *name, const char *uuid, const char *group, bool up)
{
	return json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", name, "uuid", uuid, "se_group_ref",
			 group, "oper_status", "state", up ? "OPER_UP" : "OPER_DOWN");
}

int se_list(struct se *se, json_t **ret, char **ret_err)
{
	json_t *regs = NULL, *alive = NULL, *kv, *out;
	size_t i;
	int r;

	if (!se->e) {
		*ret = json_pack("[o]", entry(se->name, se->uuid, se->group, true));
		return 0;
	}
	r = cfg_etcd_range(se->e, K_SE, &regs, NULL, ret_err);
	if (r == 0)
		r = cfg_etcd_range(se->e, K_ALIVE, &alive, NULL, ret_err);
	if (r < 0) {
		json_decref(regs);
		return r;
	}
	out = json_array();
	json_array_foreach(regs, i, kv)
	{
		json_t *reg = json_loads(str(kv, "value"), 0, NULL), *a;
		const char *name = str(kv, "key") + strlen(K_SE);
		bool up = false;
		size_t j;

		json_array_foreach(alive, j, a) up |= strcmp(str(a, "key") + strlen(K_ALIVE), name) == 0;
		if (reg)
			json_array_append_new(out, entry(name, str(reg, "uuid"), str(reg, "se_group_ref"),
							 up));
		json_decref(reg);
	}
	json_decref(regs);
	json_decref(alive);
	*ret = out;
	return 0;
}

json_t *se_clone_stats(struct se *se, const char *vs_uuid, json_t *local)
{
	json_t *out = local ? local : json_array(), *kvs = NULL, *kv;
	char *err = NULL;
	size_t i;

	if (se->e && cfg_etcd_range(se->e, K_STATS, &kvs, NULL, &err) == 0) {
		json_array_foreach(kvs, i, kv)
		{
			json_t *all, *e;

			if (strcmp(str(kv, "key") + strlen(K_STATS), se->name) == 0)
				continue; /* ours is live, in @local */
			all = json_loads(str(kv, "value"), 0, NULL);
			e = json_object_get(all, vs_uuid);
			if (e)
				json_array_append(out, e);
			json_decref(all);
		}
	}
	/* etcd unreachable: this SE's own entries still answer. */
	free(err);
	json_decref(kvs);
	if (json_array_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* The counters of every service this SE clones, as {vs_uuid: entry}. */
static char *stats_text(struct se *se)
{
	json_t *vss = NULL, *vs, *all = json_object();
	char *err = NULL, *text;
	size_t i;

	if (cfg_list(se->st, "virtualservice", "*", &vss, &err) == 0) {
		json_array_foreach(vss, i, vs)
		{
			json_t *l = clone_stats(se->ce, str(vs, "uuid"), false);
			if (json_array_size(l))
				json_object_set(all, str(vs, "uuid"), json_array_get(l, 0));
			json_decref(l);
		}
	}
	free(err);
	json_decref(vss);
	text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	return text;
}

/* Grants the lease and puts what is bound to it; 0 or -errno. */
static int register_se(struct se *se)
{
	char *err = NULL, *k = NULL, *v = NULL;
	int r = cfg_etcd_lease_grant(se->e, SE_LEASE_TTL, &se->lease, &err);

	if (r == 0) {
		k = xasprintf(K_SE "%s", se->name);
		json_t *reg = json_pack("{s:s, s:s}", "uuid", se->uuid, "se_group_ref", se->group);

		v = json_dumps(reg, JSON_COMPACT);
		json_decref(reg);
		r = cfg_etcd_put(se->e, k, v, 0, &err);
		free(k);
		free(v);
	}
	if (r == 0) {
		k = xasprintf(K_ALIVE "%s", se->name);
		r = cfg_etcd_put(se->e, k, se->uuid, se->lease, &err);
		free(k);
	}
	if (r < 0) {
		se_note(se, "registration", err);
		se->lease = 0;
	} else {
		log_info("se", "SE %s (%s) registered in group %s with lease %llx", se->name, se->uuid,
			 se->group, (unsigned long long)se->lease);
		se_note(se, "registration", NULL);
		free(se->published);
		se->published = NULL;
	}
	free(err);
	return r;
}

void se_note(struct se *se, const char *what, const char *err)
{
	if (err && !se->failing) {
		log_warn("se", "%s: %s (the SE keeps serving its last configuration)", what, err);
		se->failing = true;
	} else if (!err && se->failing) {
		log_info("se", "%s: etcd answers again", what);
		se->failing = false;
	}
}

/* One round of the thread: lease, registration, stats, elections. */
static void tick(struct se *se)
{
	char *err = NULL;
	int64_t ttl = 0;

	if (!se->e) {
		/* One SE on SQLite: it holds every VIP of its group. */
		se_elect_run(se);
		return;
	}
	if (se->lease && cfg_etcd_lease_keepalive(se->e, se->lease, &ttl, &err) == 0 && !ttl) {
		log_warn("se", "lease %llx expired: registering again", (unsigned long long)se->lease);
		se->lease = 0;
		se_elect_lost(se);
	} else if (se->lease) {
		se_note(se, "lease keepalive", err);
		if (err)
			cfg_store_reconnect(se->st);
	}
	free(err);
	err = NULL;
	if (!se->lease && register_se(se) < 0)
		return;
	if (se->ce) {
		char *text = stats_text(se), *k = xasprintf(K_STATS "%s", se->name);

		if (!se->published || strcmp(text, se->published)) {
			if (cfg_etcd_put(se->e, k, text, se->lease, &err) == 0) {
				free(se->published);
				se->published = text;
				text = NULL;
			}
			se_note(se, "stats", err);
			free(err);
		}
		free(text);
		free(k);
	}
	se_elect_run(se);
}

/* Logs the store's watch going away and coming back, once each. */
static void watch_status(struct se *se)
{
	char *why = NULL;
	bool up = !se->e || cfg_store_following(se->st, &why);

	if (!up && se->following)
		log_warn("store", "%s; writes answer 503, the data plane keeps the last "
			 "configuration", why);
	else if (up && !se->following)
		log_info("store", "following %s again: changes are applied", cfg_store_kind(se->st));
	se->following = up;
	free(why);
}

static void *se_main(void *p)
{
	struct se *se = p;
	struct timespec until;

	pthread_mutex_lock(&se->lock);
	while (!se->stopping) {
		pthread_mutex_unlock(&se->lock);
		watch_status(se);
		tick(se);
		pthread_mutex_lock(&se->lock);
		if (se->stopping || se->kicked) {
			se->kicked = false;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&se->cond, &se->lock, &until);
		se->kicked = false;
	}
	pthread_mutex_unlock(&se->lock);
	return NULL;
}

int se_start(const struct se_config *c, struct se **ret, char **ret_err)
{
	struct se *se = xcalloc(1, sizeof(*se));
	pthread_condattr_t ca;

	se->name = xstrdup(c->name);
	se->group = xstrdup(c->group);
	se->st = c->store;
	se->e = cfg_store_etcd(c->store);
	se->ce = c->ce;
	se->following = true;
	se_uuid_of(se->name, se->uuid, sizeof(se->uuid));
	pthread_mutex_init(&se->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&se->cond, &ca);
	pthread_condattr_destroy(&ca);
	se_elect_init(se);
	if (se->e)
		register_se(se);
	if (pthread_create(&se->thread, NULL, se_main, se) != 0) {
		*ret_err = xasprintf("se: cannot start the SE thread");
		se_stop(se);
		return -EAGAIN;
	}
	se->started = true;
	*ret = se;
	return 0;
}

void se_apply(struct se *se, const json_t *snap)
{
	if (!se)
		return;
	pthread_mutex_lock(&se->lock);
	json_decref(se->snap);
	se->snap = json_incref((json_t *)snap);
	se->kicked = true;
	pthread_cond_signal(&se->cond);
	pthread_mutex_unlock(&se->lock);
}

void se_stop(struct se *se)
{
	char *err = NULL;

	if (!se)
		return;
	pthread_mutex_lock(&se->lock);
	se->stopping = true;
	pthread_cond_signal(&se->cond);
	pthread_mutex_unlock(&se->lock);
	if (se->started)
		pthread_join(se->thread, NULL);
	se_elect_release(se);
	/* The registration, stats and held VIPs go with the lease, at once:
	 * the other SE takes over without waiting for the TTL. */
	if (se->e && se->lease && cfg_etcd_lease_revoke(se->e, se->lease, &err) < 0)
		log_warn("se", "revoking lease: %s", err);
	free(err);
	se_elect_free(se);
	json_decref(se->snap);
	free(se->published);
	free(se->name);
	free(se->group);
	pthread_mutex_destroy(&se->lock);
	pthread_cond_destroy(&se->cond);
	free(se);
}
