/* clone_stats.c: traffic_clone_stats JSON and Prometheus lines from the per-CPU counters of the clone program. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clone/clone_int.h"
#include "lib/util.h"

/*
 * Hands out a counter slot that no server holds and that has rested
 * CLONE_SLOT_QUARANTINE_MS since its release (@now, ms), searching round
 * robin so released slots rest as long as possible. Returns the slot;
 * -EAGAIN when the only free slots are still resting (thousands of resets
 * within the quarantine: ask again a little later); -ENOSPC when all are
 * held (more servers than slots, which CLONE_MAX_SRV < slots rules out).
 */
int clone_slot_take(struct clone_slots *sl, uint64_t now)
{
	uint32_t i, k;

	if (sl->n_used >= CLONE_STAT_SLOTS)
		return -ENOSPC;
	for (i = 0; i < CLONE_STAT_SLOTS; i++) {
		k = (sl->next + i) % CLONE_STAT_SLOTS;
		if (sl->used[k])
			continue;
		if (sl->released_ms[k] && now - sl->released_ms[k] < CLONE_SLOT_QUARANTINE_MS)
			continue;
		sl->used[k] = true;
		sl->n_used++;
		sl->next = (k + 1) % CLONE_STAT_SLOTS;
		return (int)k;
	}
	return -EAGAIN;
}

/* Gives @slot back at @now (ms); it rests before clone_slot_take() hands it out. */
void clone_slot_release(struct clone_slots *sl, uint32_t slot, uint64_t now)
{
	if (slot >= CLONE_STAT_SLOTS || !sl->used[slot])
		return;
	sl->used[slot] = false;
	sl->n_used--;
	/* 0 means "never used": a release at boot time must not look like it. */
	sl->released_ms[slot] = now ? now : 1;
}

/* Sets every CPU's counters of @slot to zero. */
void clone_stats_zero(struct clone_engine *ce, uint32_t slot)
{
	struct clone_stat *zero = xcalloc((size_t)ce->ncpus, sizeof(*zero));

	bpf_map_update_elem(ce->stats_fd, &slot, zero, BPF_ANY);
	free(zero);
	clone_plain_zero(ce, slot);
}

/* Reads the counters of @slot, one struct per possible CPU, into @ret_percpu
 * (ce->ncpus entries). Returns 0 or -errno. */
int clone_stats_read(struct clone_engine *ce, uint32_t slot, struct clone_stat *ret_percpu)
{
	return bpf_map_lookup_elem(ce->stats_fd, &slot, ret_percpu) == 0 ? 0 : -errno;
}

static void add(struct clone_stat *sum, const struct clone_stat *s)
{
	sum->total += s->total;
	sum->succeeded += s->succeeded;
	sum->mbuf_alloc_failed += s->mbuf_alloc_failed;
	sum->driver_failures += s->driver_failures;
	sum->no_mac += s->no_mac;
	sum->no_interface += s->no_interface;
	sum->bytes += s->bytes;
	sum->bytes_failed += s->bytes_failed;
	sum->filtered += s->filtered;
	sum->truncated += s->truncated;
	sum->budget_skipped += s->budget_skipped;
	sum->mtu_truncated += s->mtu_truncated;
	sum->failover += s->failover;
	sum->not_preserved += s->not_preserved;
}

static char *mac_str(const uint8_t m[6])
{
	return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static json_t *srv_json(struct clone_engine *ce, const struct clone_srv_state *s, const struct clone_stat *st)
{
	json_t *o = json_object();
	char *mac = s->has_mac ? mac_str(s->mac) : NULL;

	/* An address as the reference writes every address: {addr, type}. */
	json_object_set_new(o, "ip", json_pack("{s:s, s:s}", "addr", s->ip, "type",
					       strchr(s->ip, ':') ? "V6" : "V4"));
	json_object_set_new(o, "num_total_pkts_cloned", json_integer((json_int_t)st->total));
	json_object_set_new(o, "num_mbuf_alloc_failed", json_integer((json_int_t)st->mbuf_alloc_failed));
	json_object_set_new(o, "num_driver_failures", json_integer((json_int_t)st->driver_failures));
	json_object_set_new(o, "num_succeeded", json_integer((json_int_t)st->succeeded));
	json_object_set_new(o, "num_no_mac", json_integer((json_int_t)st->no_mac));
	json_object_set_new(o, "num_no_interface", json_integer((json_int_t)st->no_interface));
	json_object_set_new(o, "num_filtered", json_integer((json_int_t)st->filtered));
	json_object_set_new(o, "num_truncated", json_integer((json_int_t)st->truncated));
	json_object_set_new(o, "num_budget_skipped", json_integer((json_int_t)st->budget_skipped));
	json_object_set_new(o, "num_mtu_truncated", json_integer((json_int_t)st->mtu_truncated));
	json_object_set_new(o, "num_failover", json_integer((json_int_t)st->failover));
	json_object_set_new(o, "num_client_ip_not_preserved",
			    json_integer((json_int_t)st->not_preserved));
	json_object_set_new(o, "bytes", json_integer((json_int_t)st->bytes));
	json_object_set_new(o, "bytes_failed", json_integer((json_int_t)st->bytes_failed));
	json_object_set_new(o, "interface", json_string(s->ifname));
	json_object_set_new(o, "mac", json_string(mac ? mac : ""));
	clone_health_json(ce, s, o);
	free(mac);
	return o;
}

static json_t *proc_entry(struct clone_engine *ce, const struct clone_vs_state *vs, const char *proc,
			  json_t *servers)
{
	json_t *o = json_object();

	json_object_set_new(o, "se_uuid", json_string(ce->se_uuid));
	json_object_set_new(o, "proc_id", json_string(proc));
	json_object_set_new(o, "clone_srvr_stats", servers);
	json_object_set_new(o, "last_reset", json_string(vs ? vs->last_reset : ""));
	return o;
}

static struct clone_vs_state *find_vs(struct clone_engine *ce, const char *uuid)
{
	int i;

	for (i = 0; i < CLONE_MAX_VS; i++)
		if (ce->vs[i].used && strcmp(ce->vs[i].uuid, uuid) == 0)
			return &ce->vs[i];
	return NULL;
}

static bool known(struct clone_engine *ce, const char *uuid)
{
	int i;

	for (i = 0; i < ce->n_known_vs; i++)
		if (strcmp(ce->known_vs[i], uuid) == 0)
			return true;
	return false;
}

/* See clone.h. */
json_t *clone_stats(struct clone_engine *ce, const char *vs_uuid, bool detail)
{
	struct clone_stat *percpu, sums[CLONE_SRV_PER_VS];
	struct clone_vs_state *vs;
	json_t *list, *agg;
	int i, c;

	if (!ce || !vs_uuid)
		return NULL;
	percpu = xcalloc((size_t)ce->ncpus * CLONE_SRV_PER_VS, sizeof(*percpu));
	pthread_rwlock_rdlock(&ce->lock);
	vs = find_vs(ce, vs_uuid);
	if (!vs && !known(ce, vs_uuid)) {
		pthread_rwlock_unlock(&ce->lock);
		free(percpu);
		return NULL;
	}
	list = json_array();
	agg = json_array();
	memset(sums, 0, sizeof(sums));
	for (i = 0; vs && i < vs->n_order; i++) {
		struct clone_srv_state *s = &vs->srv[vs->order[i]];
		struct clone_stat *row = &percpu[(size_t)i * (size_t)ce->ncpus];

		if (clone_stats_read(ce, s->stat_slot, row) < 0)
			memset(row, 0, sizeof(*row) * (size_t)ce->ncpus);
		for (c = 0; c < ce->ncpus; c++)
			add(&sums[i], &row[c]);
		clone_plain_add_unsent(ce, s->stat_slot, &sums[i]);
		json_array_append_new(agg, srv_json(ce, s, &sums[i]));
	}
	json_array_append_new(list, proc_entry(ce, vs, "PROC_Aggregate", agg));
	for (c = 0; detail && c < ce->ncpus; c++) {
		json_t *servers = json_array();
		char proc[32];

		for (i = 0; vs && i < vs->n_order; i++)
			json_array_append_new(servers, srv_json(ce, &vs->srv[vs->order[i]],
								&percpu[(size_t)i * (size_t)ce->ncpus + (size_t)c]));
		snprintf(proc, sizeof(proc), "PROC_%d", c);
		json_array_append_new(list, proc_entry(ce, vs, proc, servers));
	}
	pthread_rwlock_unlock(&ce->lock);
	free(percpu);
	return list;
}

static const char *const event_names[CLONE_EV_MAX] = {
	[CLONE_EV_FRAMES] = "frames_seen",
	[CLONE_EV_OWN_CLONE] = "own_clone",
	[CLONE_EV_SHORT] = "short",
	[CLONE_EV_NOT_IPV4] = "not_ip",
	[CLONE_EV_NOT_TCP] = "not_tcp",
	[CLONE_EV_FRAGMENT] = "fragment",
	[CLONE_EV_NOT_REGISTERED] = "not_registered",
	[CLONE_EV_EXPIRED] = "expired",
	[CLONE_EV_REUSED] = "reused",
	[CLONE_EV_STALE] = "stale",
	[CLONE_EV_NO_STAT] = "no_stat",
	[CLONE_EV_REWRITE_FAILED] = "rewrite_failed",
	[CLONE_EV_RESTORE_FAILED] = "restore_failed",
	[CLONE_EV_UNDELIVERED] = "undelivered",
	[CLONE_EV_FOREIGN_MARK] = "foreign_mark",
	[CLONE_EV_EXT_HEADERS] = "ipv6_extension_headers",
	[CLONE_EV_PLAINTEXT] = "plaintext_replaced",
};

/* Writes @s with the characters a Prometheus label value cannot hold escaped. */
static void label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* Writes one Prometheus family of every clone server: @what 0 = frames by
 * result, 1 = bytes, 2 = frames not cloned whole, by reason. Called with the
 * lock held. */
static void metric_family(struct clone_engine *ce, FILE *out, int what, struct clone_stat *percpu)
{
	static const char *const results[] = {"succeeded", "mbuf_alloc_failed", "driver_failures"};
	static const char *const reasons[] = {"filtered", "truncated", "budget_skipped", "mtu_truncated",
					      "no_mac", "no_interface", "failover"};
	static const char *const family[] = {"clonelb_clone_frames_total", "clonelb_clone_bytes_total",
					     "clonelb_clone_frames_not_whole_total"};
	int i, j, c, k;

	for (i = 0; i < CLONE_MAX_VS; i++) {
		struct clone_vs_state *vs = &ce->vs[i];

		for (j = 0; vs->used && j < vs->n_order; j++) {
			struct clone_srv_state *s = &vs->srv[vs->order[j]];
			struct clone_stat sum = {0};
			uint64_t v[7];
			int n = what == 0 ? 3 : what == 1 ? 1 : 7;

			if (clone_stats_read(ce, s->stat_slot, percpu) < 0)
				continue;
			for (c = 0; c < ce->ncpus; c++)
				add(&sum, &percpu[c]);
			clone_plain_add_unsent(ce, s->stat_slot, &sum);
			if (what == 0) {
				v[0] = sum.succeeded;
				v[1] = sum.mbuf_alloc_failed;
				v[2] = sum.driver_failures;
			} else if (what == 1) {
				v[0] = sum.bytes;
			} else {
				v[0] = sum.filtered;
				v[1] = sum.truncated;
				v[2] = sum.budget_skipped;
				v[3] = sum.mtu_truncated;
				v[4] = sum.no_mac;
				v[5] = sum.no_interface;
				v[6] = sum.failover;
			}
			for (k = 0; k < n; k++) {
				/* Each SE of a group counts its own frames: the se label
				 * keeps their series apart when one Prometheus scrapes all. */
				fprintf(out, "%s{se=\"", family[what]);
				label(out, ce->se_uuid);
				fputs("\",tenant=\"", out);
				label(out, vs->tenant[0] ? vs->tenant : "admin");
				fputs("\",virtualservice=\"", out);
				label(out, vs->name);
				if (what == 1)
					fprintf(out, "\",clone_server=\"%s\"} %llu\n", s->ip, (unsigned long long)v[k]);
				else
					fprintf(out, "\",clone_server=\"%s\",%s=\"%s\"} %llu\n", s->ip,
						what == 0 ? "result" : "reason", what == 0 ? results[k] : reasons[k],
						(unsigned long long)v[k]);
			}
		}
	}
}

/* See clone.h. */
void clone_metrics(struct clone_engine *ce, FILE *out)
{
	struct clone_stat *percpu;
	uint64_t *ev;
	int c, k;

	if (!ce || !out)
		return;
	percpu = xcalloc((size_t)ce->ncpus, sizeof(*percpu));
	ev = xcalloc((size_t)ce->ncpus, sizeof(*ev));
	pthread_rwlock_rdlock(&ce->lock);
	fputs("# HELP clonelb_clone_frames_total Frames of cloned services per clone server, by result.\n"
	      "# TYPE clonelb_clone_frames_total counter\n",
	      out);
	metric_family(ce, out, 0, percpu);
	fputs("# HELP clonelb_clone_bytes_total Bytes cloned successfully per clone server.\n"
	      "# TYPE clonelb_clone_bytes_total counter\n",
	      out);
	metric_family(ce, out, 1, percpu);
	fputs("# HELP clonelb_clone_frames_not_whole_total Frames of cloned services per clone server not cloned whole, by reason (see docs/clone-engine.md).\n"
	      "# TYPE clonelb_clone_frames_not_whole_total counter\n",
	      out);
	metric_family(ce, out, 2, percpu);
	pthread_rwlock_unlock(&ce->lock);
	clone_health_metrics(ce, out);
	clone_plain_metrics(ce, out);
	fprintf(out, "# HELP clonelb_clone_attached_interfaces Interfaces the clone program is attached to.\n"
		     "# TYPE clonelb_clone_attached_interfaces gauge\n"
		     "clonelb_clone_attached_interfaces %d\n",
		atomic_load(&ce->n_attached));
	/* How the engine's state is kept: the write lock is taken only when
	 * something changed, never on a quiet round of the resolver. */
	fprintf(out, "# HELP clonelb_clone_engine_write_locks_total Times the clone engine's state was swapped under its write lock.\n"
		     "# TYPE clonelb_clone_engine_write_locks_total counter\n"
		     "clonelb_clone_engine_write_locks_total %llu\n"
		     "# HELP clonelb_clone_resolver_rounds_total Rounds of the clone servers' neighbour resolver.\n"
		     "# TYPE clonelb_clone_resolver_rounds_total counter\n"
		     "clonelb_clone_resolver_rounds_total %llu\n"
		     "# HELP clonelb_clone_neighbour_events_total Kernel neighbour-table notifications about clone servers.\n"
		     "# TYPE clonelb_clone_neighbour_events_total counter\n"
		     "clonelb_clone_neighbour_events_total %llu\n"
		     "# HELP clonelb_clone_engine_slow_steps_under_write_lock_total Slow steps (netlink, tc, ARP, getifaddrs) taken holding the write lock; always 0 unless there is a bug.\n"
		     "# TYPE clonelb_clone_engine_slow_steps_under_write_lock_total counter\n"
		     "clonelb_clone_engine_slow_steps_under_write_lock_total %llu\n",
		(unsigned long long)atomic_load(&ce->n_write_locks),
		(unsigned long long)atomic_load(&ce->n_resolver_rounds),
		(unsigned long long)atomic_load(&ce->n_neigh_events),
		(unsigned long long)atomic_load(&ce->n_slow_under_lock));
	fputs("# HELP clonelb_clone_program_events_total Frames the clone program saw, by outcome.\n"
	      "# TYPE clonelb_clone_program_events_total counter\n",
	      out);
	for (k = 0; k < CLONE_EV_MAX; k++) {
		uint32_t key = (uint32_t)k;
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(ce->events_fd, &key, ev) < 0)
			continue;
		for (c = 0; c < ce->ncpus; c++)
			sum += ev[c];
		fprintf(out, "clonelb_clone_program_events_total{event=\"%s\"} %llu\n", event_names[k],
			(unsigned long long)sum);
	}
	free(percpu);
	free(ev);
}
