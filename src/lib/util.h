/* util.h: small allocation, string and JSON helpers shared by every module (no globals, no logging). */
#ifndef CLONELB_LIB_UTIL_H
#define CLONELB_LIB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Allocation that cannot fail: on out-of-memory the process aborts, as a
 * half-applied configuration would be worse than a restart. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Compact JSON text of @v for error messages, cut at 80 characters; "null"
 * for NULL. Caller frees. */
char *json_short(const json_t *v);

/* Current time as an ISO-8601 UTC string with microseconds. Caller frees. */
char *now_iso8601(void);

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

/* Fills @buf (>= 37 bytes) with a random version-4 UUID. */
void uuid_v4(char buf[37]);

#endif
