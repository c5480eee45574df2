/* log.c: stderr logger with a level filter, and rate limiting of repeated messages per cause. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level max_level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

/*
 * One cause of rate-limited messages. A cause prints at most one line per
 * LOG_RL_WINDOW_MS; later ones within the window only bump @held. The table
 * is small and fixed: the causes are call sites, a few dozen at most; when it
 * is full the slot least recently printed is reused (its count printed first).
 */
#define LOG_RL_WINDOW_MS 1000
#define LOG_RL_SLOTS 64
struct log_rl_slot {
	const void *cause;
	enum log_level level;
	char module[16];
	char last[512];    /* the last line printed, to say what the count is of */
	uint64_t since_ms; /* start of the current window */
	unsigned long held;
};
static struct log_rl_slot rl_slots[LOG_RL_SLOTS];
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

int log_set_level(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strcmp(name, names[i]) == 0) {
			max_level = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

static void vmsg(enum log_level level, const char *module, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vmsg(enum log_level level, const char *module, const char *fmt, va_list ap)
{
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ld %-5s %s: ", ts, now.tv_nsec / 1000000,
		     names[level], module);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line keeps lines of different threads whole. */
	fprintf(stderr, "%s\n", line);
}

static void msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void msg(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(level, module, fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vmsg(level, module, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Prints the held count of @s, if any, and clears it. Called with rl_lock held. */
static void rl_report(struct log_rl_slot *s, uint64_t now)
{
	if (!s->held)
		return;
	msg(s->level, s->module, "%s: %lu more like this in the last %.1f s", s->last, s->held,
	    (double)(now - s->since_ms) / 1000.0);
	s->held = 0;
}

static void rl_flush_locked(uint64_t now)
{
	for (int i = 0; i < LOG_RL_SLOTS; i++)
		if (rl_slots[i].held && now - rl_slots[i].since_ms >= LOG_RL_WINDOW_MS)
			rl_report(&rl_slots[i], now);
}

void log_rl_flush(void)
{
	pthread_mutex_lock(&rl_lock);
	rl_flush_locked(mono_ms());
	pthread_mutex_unlock(&rl_lock);
}

void log_vmsg_rl(enum log_level level, const char *module, const void *cause, const char *fmt,
		 va_list ap)
{
	struct log_rl_slot *s = NULL, *oldest = &rl_slots[0];
	uint64_t now;
	va_list cp;

	if (level > max_level)
		return;
	now = mono_ms();
	pthread_mutex_lock(&rl_lock);
	rl_flush_locked(now);
	for (int i = 0; i < LOG_RL_SLOTS && !s; i++) {
		if (rl_slots[i].cause == cause)
			s = &rl_slots[i];
		else if (rl_slots[i].since_ms < oldest->since_ms)
			oldest = &rl_slots[i];
	}
	if (!s) {
		s = oldest;
		rl_report(s, now);
		s->cause = cause;
		s->since_ms = 0;
	}
	if (s->since_ms && now - s->since_ms < LOG_RL_WINDOW_MS) {
		s->held++;
		pthread_mutex_unlock(&rl_lock);
		return;
	}
	s->since_ms = now;
	s->level = level;
	snprintf(s->module, sizeof(s->module), "%s", module);
	va_copy(cp, ap);
	vsnprintf(s->last, sizeof(s->last), fmt, cp);
	va_end(cp);
	/* Printed under the lock so the count of a window never precedes its line. */
	msg(level, module, "%s", s->last);
	pthread_mutex_unlock(&rl_lock);
}

void log_msg_rl(enum log_level level, const char *module, const void *cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg_rl(level, module, cause, fmt, ap);
	va_end(ap);
}
