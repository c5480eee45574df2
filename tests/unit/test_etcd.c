/* test_etcd.c: the etcd client's encodings and the --store grammar (no etcd needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/store.h"
#include "config/store_etcd.h"

static void test_base64_round_trip(void **state)
{
	static const char *const texts[] = {"", "f", "fo", "foo", "/clonelb/obj/pool-1", "{\"a\":1}"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *j = cfg_etcd_key(texts[i]);
		size_t n = 99;
		char *back = cfg_etcd_unb64(json_string_value(j), &n);

		assert_non_null(back);
		assert_int_equal(n, strlen(texts[i]));
		assert_string_equal(back, texts[i]);
		free(back);
		json_decref(j);
	}
	json_t *j = cfg_etcd_key("foo");
	assert_string_equal(json_string_value(j), "Zm9v"); /* the gateway's own example */
	json_decref(j);
	assert_null(cfg_etcd_unb64("Zm9", NULL));
}

static void test_prefix_end_and_int(void **state)
{
	json_t *j = cfg_etcd_prefix_end("/clonelb/");
	char *end = cfg_etcd_unb64(json_string_value(j), NULL);

	assert_string_equal(end, "/clonelb0");
	free(end);
	json_decref(j);
	j = json_string("9007199254740993");
	assert_true(cfg_etcd_int(j) == 9007199254740993LL);
	json_decref(j);
	assert_int_equal(cfg_etcd_int(NULL), 0);
}

static void test_bad_endpoints_are_named(void **state)
{
	static const char *const bad[] = {"10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", ":2379",
					  "10.0.0.1:2379,host:x", "user@host:2379", "host:2379/x"};
	struct cfg_etcd *e = NULL;
	char *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_etcd_new(bad[i], NULL, &e, &err), -EINVAL);
		assert_non_null(strstr(err, "--store: invalid etcd endpoint"));
		free(err);
		err = NULL;
	}
	assert_int_equal(cfg_etcd_new("10.0.0.1:2379,[::1]:2379", NULL, &e, &err), 0);
	assert_string_equal(cfg_etcd_where(e), "etcd://10.0.0.1:2379,[::1]:2379");
	cfg_etcd_free(e);
}

static void test_store_spec(void **state)
{
	struct cfg_store *st = NULL;
	char *err = NULL;

	assert_int_equal(cfg_store_open_spec("zookeeper://x", NULL, &st, &err), -EINVAL);
	assert_string_equal(err, "--store: invalid value 'zookeeper://x' (sqlite:PATH or "
				 "etcd://HOST:PORT[,HOST:PORT...])");
	free(err);
	err = NULL;
	assert_int_equal(cfg_store_open_spec("etcd://", NULL, &st, &err), -EINVAL);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_prefix_end_and_int),
		cmocka_unit_test(test_bad_endpoints_are_named),
		cmocka_unit_test(test_store_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
