/* session.c: login sessions: random ids for cookies, each with a user and a CSRF token, ending a fixed time after login. */
#include "api/session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/util.h"

struct session {
	char id[API_SESSION_ID_LEN + 1]; /* "" when the slot is free */
	struct api_session_info info;
	time_t opened;
};

struct api_sessions {
	pthread_mutex_t lock;
	unsigned lifetime;
	struct session s[API_SESSIONS_MAX];
};

static time_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct api_sessions *api_sessions_new(unsigned lifetime)
{
	struct api_sessions *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->lifetime = lifetime ? lifetime : API_SESSION_LIFETIME;
	return s;
}

void api_sessions_free(struct api_sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	explicit_bzero(s->s, sizeof(s->s));
	free(s);
}

unsigned api_sessions_lifetime(const struct api_sessions *s)
{
	return s->lifetime;
}

/* No early exit: the time taken does not tell how much of an id was right. */
static bool same_id(const char *a, const char *b)
{
	unsigned char d = 0;

	for (size_t i = 0; i < API_SESSION_ID_LEN; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

static int random_hex(char out[API_SESSION_ID_LEN + 1])
{
	unsigned char raw[API_SESSION_ID_LEN / 2];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

int api_session_open(struct api_sessions *s, const char *user, char ret_id[API_SESSION_ID_LEN + 1],
		     char ret_csrf[API_SESSION_ID_LEN + 1])
{
	struct session *slot = NULL;
	time_t t = now();

	if (random_hex(ret_id) < 0 || random_hex(ret_csrf) < 0)
		return -EIO;
	pthread_mutex_lock(&s->lock);
	/* A free slot, else the oldest session gives way (an expired one is
	 * older than any live one). Expired ones stay until then, so their
	 * owner is told "expired" (419) rather than "unknown" (401). */
	for (size_t i = 0; i < API_SESSIONS_MAX; i++) {
		struct session *e = &s->s[i];
		if (!e->id[0]) {
			slot = e;
			break;
		}
		if (!slot || e->opened < slot->opened)
			slot = e;
	}
	memset(slot, 0, sizeof(*slot));
	memcpy(slot->id, ret_id, API_SESSION_ID_LEN + 1);
	memcpy(slot->info.csrf, ret_csrf, API_SESSION_ID_LEN + 1);
	snprintf(slot->info.user, sizeof(slot->info.user), "%s", user ? user : "");
	slot->opened = t;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

enum api_session_state api_session_find(struct api_sessions *s, const char *id,
					struct api_session_info *ret)
{
	enum api_session_state st = API_SESSION_UNKNOWN;
	time_t t = now();

	if (!id || strlen(id) != API_SESSION_ID_LEN)
		return st;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < API_SESSIONS_MAX; i++) {
		struct session *e = &s->s[i];
		if (!e->id[0] || !same_id(e->id, id))
			continue;
		if (t - e->opened < (time_t)s->lifetime) {
			st = API_SESSION_LIVE;
			if (ret)
				*ret = e->info;
		} else {
			st = API_SESSION_EXPIRED;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return st;
}

void api_session_close(struct api_sessions *s, const char *id)
{
	if (!id || strlen(id) != API_SESSION_ID_LEN)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < API_SESSIONS_MAX; i++)
		if (s->s[i].id[0] && same_id(s->s[i].id, id))
			explicit_bzero(&s->s[i], sizeof(s->s[i]));
	pthread_mutex_unlock(&s->lock);
}
