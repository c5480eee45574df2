/* log.h: the daemon's logger: one line per event on stderr, filtered by --log-level, repeats rate-limited. */
#ifndef CLONELB_LOG_H
#define CLONELB_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the most verbose level printed. Returns -EINVAL for an unknown name. */
int log_set_level(const char *name);

/* Prints "LEVEL module: message" to stderr if @level is enabled. Thread-safe. */
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like log_msg(), for messages that can repeat once per connection, frame or
 * accept: at most one line a second per @cause (any pointer that names the
 * call site; the format string will do). What is held back is counted, and
 * the count is printed as its own line ("... N more like this in the last
 * 1.0 s") when the second is over, by the next call for any cause or by
 * log_rl_flush(). Thread-safe.
 */
void log_vmsg_rl(enum log_level level, const char *module, const void *cause, const char *fmt,
		 va_list ap) __attribute__((format(printf, 4, 0)));
void log_msg_rl(enum log_level level, const char *module, const void *cause, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/* Prints the counts of held-back repeats whose second is over. Cheap; call it
 * from any periodic timer so a burst's count is not left unprinted. */
void log_rl_flush(void);

#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
/* Rate-limited forms, the format string being the cause. */
#define log_rl(level, mod, fmt, ...) log_msg_rl(level, mod, fmt, fmt, ##__VA_ARGS__)

#endif
