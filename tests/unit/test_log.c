/* test_log.c: unit tests of the logger's rate limiting of repeated messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <stdio.h>
#include <time.h>

#include "log.h"

/* Runs @fn with stderr sent to a temporary file; returns what it printed (caller frees). */
static char *captured(void (*fn)(void))
{
	FILE *f = tmpfile();
	int saved = dup(2);
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	dup2(fileno(f), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Waits past the one-second window: the window is the contract under test. */
static void past_window(void)
{
	struct timespec t = {1, 100 * 1000 * 1000};

	nanosleep(&t, NULL);
}

static void burst(void)
{
	for (int i = 0; i < 1000; i++)
		log_rl(LOG_INFO, "test", "accept: %s (%d)", "Too many open files", i);
	/* Another cause is not held back by the first one. */
	log_rl(LOG_INFO, "test", "other cause %d", 1);
	past_window();
	log_rl_flush();
	log_rl(LOG_INFO, "test", "accept: %s (%d)", "Too many open files", 1000);
}

static void test_one_line_a_second_per_cause_then_the_count(void **state)
{
	(void)state;
	char *out = captured(burst);

	/* The first of the burst, the count of the other 999, and the one after the window. */
	assert_int_equal(count(out, "accept: Too many open files (0)\n"), 1);
	assert_int_equal(count(out, "(1)"), 0);
	assert_int_equal(count(out, "accept: Too many open files (999): 999 more like this"), 0);
	assert_int_equal(count(out, "more like this in the last"), 1);
	assert_non_null(strstr(out, "accept: Too many open files (0): 999 more like this"));
	assert_int_equal(count(out, "other cause 1\n"), 1);
	assert_int_equal(count(out, "accept: Too many open files (1000)\n"), 1);
	assert_int_equal(count(out, "\n"), 4);
	free(out);
}

static void below_level(void)
{
	log_set_level("warn");
	log_rl(LOG_INFO, "test", "hidden %d", 1);
	log_rl(LOG_WARN, "test", "shown %d", 1);
	log_set_level("info");
}

static void test_level_filter_applies(void **state)
{
	(void)state;
	char *out = captured(below_level);

	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "shown 1"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line_a_second_per_cause_then_the_count),
		cmocka_unit_test(test_level_filter_applies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
