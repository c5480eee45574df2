/* log.h: the daemon's logger: one line per event on stderr, filtered by --log-level. */
#ifndef CLONELB_LOG_H
#define CLONELB_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Sets the most verbose level printed. Returns -EINVAL for an unknown name. */
int log_set_level(const char *name);

/* Prints "LEVEL module: message" to stderr if @level is enabled. Thread-safe. */
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)

#endif
