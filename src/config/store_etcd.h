/* store_etcd.h: a small etcd v3 client over the JSON gateway (libcurl + jansson), for the etcd store and the SE's registration. */
#ifndef CLONELB_CONFIG_STORE_ETCD_H
#define CLONELB_CONFIG_STORE_ETCD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/store.h"

/* Every key clonelb writes starts with this: one etcd cluster may serve
 * other programs too. The layout under it is in docs/architecture.md. */
#define CFG_ETCD_PREFIX "/clonelb/"

struct cfg_etcd;

/*
 * A client of the cluster at @endpoints ("HOST:PORT[,HOST:PORT...]"), over
 * HTTPS when @tls names a CA or a client certificate, else HTTP. Nothing is
 * sent yet. Returns 0 and *ret (cfg_etcd_free()), or -EINVAL with *ret_err
 * naming the bad endpoint.
 */
int cfg_etcd_new(const char *endpoints, const struct cfg_store_tls *tls, struct cfg_etcd **ret,
		 char **ret_err);

/* Frees @e. Accepts NULL. */
void cfg_etcd_free(struct cfg_etcd *e);

/* "etcd://HOST:PORT,..." as given, for messages. Borrowed. */
const char *cfg_etcd_where(const struct cfg_etcd *e);

/*
 * POSTs @req (a gateway request, borrowed) to @path ("/v3/kv/range") of
 * the first endpoint that answers, starting with the last one that did.
 * Returns 0 and *ret (the decoded answer, new reference); -EAGAIN with
 * *ret_err "store unavailable: etcd at HOST:PORT: <why>[; ...]" when none
 * answers; -EIO with etcd's own message when it answered an error.
 */
int cfg_etcd_call(struct cfg_etcd *e, const char *path, const json_t *req, json_t **ret,
		  char **ret_err);

/* Base64 of @n bytes of @s as a JSON string (what the gateway wants for
 * keys and values). New reference. */
json_t *cfg_etcd_b64(const char *s, size_t n);

/* @key (a C string) as cfg_etcd_b64(). */
json_t *cfg_etcd_key(const char *key);

/* The range end that makes a range of every key starting with @prefix. New reference. */
json_t *cfg_etcd_prefix_end(const char *prefix);

/* Decodes base64 @b64 into a new NUL-terminated buffer (caller frees);
 * *ret_len (may be NULL) gets its length. NULL when @b64 is not base64. */
char *cfg_etcd_unb64(const char *b64, size_t *ret_len);

/* An int64 the gateway sends as a string ("12") or number; absent: 0. */
int64_t cfg_etcd_int(const json_t *v);

/*
 * Every key under @prefix: *ret_kvs an array of {"key", "value" (decoded
 * strings), "create_revision", "mod_revision", "lease" (integers)}, in key
 * order, and *ret_rev (may be NULL) the revision they show. 0 or -errno as
 * cfg_etcd_call().
 */
int cfg_etcd_range(struct cfg_etcd *e, const char *prefix, json_t **ret_kvs, uint64_t *ret_rev,
		   char **ret_err);

/* Puts @key = @value, bound to @lease (0: none). 0 or -errno as cfg_etcd_call(). */
int cfg_etcd_put(struct cfg_etcd *e, const char *key, const char *value, int64_t lease,
		 char **ret_err);

/* Grants a lease of @ttl seconds. 0 and *ret_id, or -errno. */
int cfg_etcd_lease_grant(struct cfg_etcd *e, int ttl, int64_t *ret_id, char **ret_err);

/* Renews lease @id once. 0 and *ret_ttl (0 when the lease has expired:
 * grant a new one), or -errno. */
int cfg_etcd_lease_keepalive(struct cfg_etcd *e, int64_t id, int64_t *ret_ttl, char **ret_err);

/* Revokes lease @id (its keys are deleted at once). 0 or -errno. */
int cfg_etcd_lease_revoke(struct cfg_etcd *e, int64_t id, char **ret_err);

/*
 * Called for each message of a watch stream ({"result": {...}}), and with
 * @msg NULL about once a second while the stream is idle: returns 0 to go
 * on, non-zero to end the watch.
 */
typedef int (*cfg_etcd_watch_fn)(void *ctx, const json_t *msg);

/*
 * Watches every key under @prefix from revision @start_rev, calling @fn for
 * each message, until @fn ends it, *@stop becomes true, or the stream
 * breaks (etcd gone: the connection closes, or TCP keepalives fail). Blocks.
 * Returns 0 when @fn or @stop ended it, else -EAGAIN with *ret_err.
 */
int cfg_etcd_watch(struct cfg_etcd *e, const char *prefix, uint64_t start_rev,
		   cfg_etcd_watch_fn fn, void *ctx, atomic_bool *stop, char **ret_err);

#endif
