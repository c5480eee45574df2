/* session.h: the web UI's login sessions: a random id in the cookie stands for the token. */
#ifndef CLONELB_API_SESSION_H
#define CLONELB_API_SESSION_H

#include <stdbool.h>
#include <stddef.h>

/* Sessions held at once; a new login past this ends the oldest one. */
#define API_SESSIONS_MAX 64
/* A session ends this long after its login (seconds). */
#define API_SESSION_LIFETIME (12 * 3600)
/* Characters of a session id (hex of 32 random bytes). */
#define API_SESSION_ID_LEN 64

struct api_sessions;

/* A new, empty table. Release with api_sessions_free(). */
struct api_sessions *api_sessions_new(void);

/* Releases @s (NULL accepted). */
void api_sessions_free(struct api_sessions *s);

/*
 * Opens a session and writes its id (API_SESSION_ID_LEN hex characters and a
 * NUL) to @ret_id. Returns 0, or -EIO when the system has no randomness to give.
 */
int api_session_open(struct api_sessions *s, char ret_id[API_SESSION_ID_LEN + 1]);

/* True if @id names a live session. Thread-safe, constant time in @id. */
bool api_session_valid(struct api_sessions *s, const char *id);

/* Ends the session @id if it exists. */
void api_session_close(struct api_sessions *s, const char *id);

#endif
