/* session.c: the web UI's login sessions, so the cookie never carries the API token. */
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
	time_t opened;
};

struct api_sessions {
	pthread_mutex_t lock;
	struct session s[API_SESSIONS_MAX];
};

static time_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct api_sessions *api_sessions_new(void)
{
	struct api_sessions *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
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

/* No early exit: the time taken does not tell how much of an id was right. */
static bool same_id(const char *a, const char *b)
{
	unsigned char d = 0;

	for (size_t i = 0; i < API_SESSION_ID_LEN; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

int api_session_open(struct api_sessions *s, char ret_id[API_SESSION_ID_LEN + 1])
{
	unsigned char raw[API_SESSION_ID_LEN / 2];
	struct session *slot = NULL;
	time_t t = now();

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(ret_id + 2 * i, "%02x", raw[i]);
	pthread_mutex_lock(&s->lock);
	/* A free or expired slot, else the oldest session gives way. */
	for (size_t i = 0; i < API_SESSIONS_MAX; i++) {
		struct session *e = &s->s[i];
		if (!e->id[0] || t - e->opened >= API_SESSION_LIFETIME) {
			slot = e;
			break;
		}
		if (!slot || e->opened < slot->opened)
			slot = e;
	}
	memcpy(slot->id, ret_id, API_SESSION_ID_LEN + 1);
	slot->opened = t;
	pthread_mutex_unlock(&s->lock);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

bool api_session_valid(struct api_sessions *s, const char *id)
{
	bool ok = false;
	time_t t = now();

	if (!id || strlen(id) != API_SESSION_ID_LEN)
		return false;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < API_SESSIONS_MAX; i++) {
		struct session *e = &s->s[i];
		if (e->id[0] && t - e->opened < API_SESSION_LIFETIME)
			ok |= same_id(e->id, id);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

void api_session_close(struct api_sessions *s, const char *id)
{
	if (!id || strlen(id) != API_SESSION_ID_LEN)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < API_SESSIONS_MAX; i++)
		if (s->s[i].id[0] && same_id(s->s[i].id, id))
			memset(&s->s[i], 0, sizeof(s->s[i]));
	pthread_mutex_unlock(&s->lock);
}
