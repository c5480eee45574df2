/* session.h: login sessions: a random id in a cookie stands for a user (or the API token), with its CSRF token. */
#ifndef CLONELB_API_SESSION_H
#define CLONELB_API_SESSION_H

#include <stdbool.h>
#include <stddef.h>

/* Sessions held at once; a new login past this ends the oldest one. */
#define API_SESSIONS_MAX 256
/* Default lifetime of a session from its login (seconds; --session-lifetime). */
#define API_SESSION_LIFETIME (8 * 3600)
/* Characters of a session id and of a CSRF token (hex of 32 random bytes). */
#define API_SESSION_ID_LEN 64
/* Longest user name a session holds (names are at most 255 bytes). */
#define API_USER_MAX 256

struct api_sessions;

/* What a live session stands for. */
struct api_session_info {
	char user[API_USER_MAX];            /* "" for a login with the daemon's API token */
	char csrf[API_SESSION_ID_LEN + 1]; /* what X-CSRFToken must carry */
};

enum api_session_state {
	API_SESSION_UNKNOWN, /* no such id (or long forgotten) */
	API_SESSION_EXPIRED, /* it was a session; its lifetime is over */
	API_SESSION_LIVE,
};

/* A new, empty table whose sessions last @lifetime seconds from their login.
 * Release with api_sessions_free(). */
struct api_sessions *api_sessions_new(unsigned lifetime);

/* Releases @s (NULL accepted). */
void api_sessions_free(struct api_sessions *s);

/*
 * Opens a session for @user ("" for the API token) and writes its id and
 * CSRF token (API_SESSION_ID_LEN hex characters and a NUL each) to @ret_id
 * and @ret_csrf. Returns 0, or -EIO when the system has no randomness.
 */
int api_session_open(struct api_sessions *s, const char *user, char ret_id[API_SESSION_ID_LEN + 1],
		     char ret_csrf[API_SESSION_ID_LEN + 1]);

/* The state of session @id, and for a live one what it stands for in
 * *ret (may be NULL). Thread-safe, constant time in @id. */
enum api_session_state api_session_find(struct api_sessions *s, const char *id,
					struct api_session_info *ret);

/* Ends the session @id if it exists. */
void api_session_close(struct api_sessions *s, const char *id);

/* The lifetime of @s's sessions in seconds. */
unsigned api_sessions_lifetime(const struct api_sessions *s);

#endif
