/* test_cli.c: unit tests of the shell (lex, modes, errors, tables, completion), real API. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "api/inproc.h"
#include "cli/cli.h"

struct fixture {
	struct api_inproc *api;
	struct cli_shell *sh;
	char *out, *err;
	size_t outlen, errlen;
	FILE *outf, *errf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cli_backend be;
	char *err = NULL;

	if (api_inproc_open(":memory:", &f->api, &err) < 0)
		fail_msg("api_inproc_open: %s", err);
	be.request = api_inproc_request;
	be.ctx = f->api;
	f->outf = open_memstream(&f->out, &f->outlen);
	f->errf = open_memstream(&f->err, &f->errlen);
	f->sh = cli_shell_new(&be, f->outf, f->errf, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cli_shell_free(f->sh);
	api_inproc_close(f->api);
	fclose(f->outf);
	fclose(f->errf);
	free(f->out);
	free(f->err);
	free(f);
	return 0;
}

/* Runs @line; returns its result. Output so far is in f->out / f->err. */
static int run(struct fixture *f, const char *line)
{
	int r = cli_shell_exec(f->sh, line);

	fflush(f->outf);
	fflush(f->errf);
	return r;
}

/* Clears captured output. */
static void reset_output(struct fixture *f)
{
	fclose(f->outf);
	fclose(f->errf);
	free(f->out);
	free(f->err);
	f->out = f->err = NULL;
	f->outf = open_memstream(&f->out, &f->outlen);
	f->errf = open_memstream(&f->err, &f->errlen);
	f->sh->out = f->outf;
	f->sh->err = f->errf;
}

/* The object as the API holds it (new reference), or NULL. */
static json_t *api_get(struct fixture *f, const char *path)
{
	json_t *body = NULL;
	char *err = NULL;
	int st = api_inproc_request(f->api, "GET", path, "admin", NULL, &body, &err);

	free(err);
	if (st != 200) {
		json_decref(body);
		return NULL;
	}
	return body;
}

static void prompt_is(struct fixture *f, const char *want)
{
	char *p = cli_shell_prompt(f->sh);

	assert_string_equal(p, want);
	free(p);
}

static void test_lex(void **state)
{
	char **argv, *err = NULL;
	int argc;
	bool open;

	(void)state;
	assert_int_equal(
	    cli_lex("  show  'a b' \"c\\\"d\" e\\ f # comment", false, &argv, &argc, &open, &err),
	    0);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[0], "show");
	assert_string_equal(argv[1], "a b");
	assert_string_equal(argv[2], "c\"d");
	assert_string_equal(argv[3], "e f");
	assert_null(argv[4]);
	assert_false(open);
	cli_argv_free(argv);

	assert_int_equal(cli_lex("conf", false, &argv, &argc, &open, &err), 0);
	assert_true(open);
	cli_argv_free(argv);
	assert_int_equal(cli_lex("conf ", false, &argv, &argc, &open, &err), 0);
	assert_false(open);
	assert_int_equal(argc, 1);
	cli_argv_free(argv);

	assert_int_equal(cli_lex("http_request 'GET /", false, &argv, &argc, &open, &err), -EINVAL);
	assert_non_null(strstr(err, "unterminated single quote"));
	free(err);
	assert_int_equal(cli_lex("http_request 'GET /", true, &argv, &argc, &open, NULL), 0);
	assert_string_equal(argv[1], "GET /");
	cli_argv_free(argv);
}

/* The reference transcript of docs/architecture.md section 1.2, through the real API in-process. */
static void test_transcript(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	prompt_is(f, "[admin:clonelb]: > ");
	assert_int_equal(run(f, "configure trafficcloneprofile ids-profile"), 0);
	prompt_is(f, "[admin:clonelb]: trafficcloneprofile> ");
	assert_int_equal(run(f, "clone_servers"), 0);
	assert_string_equal(f->out, "New object being created\n");
	prompt_is(f, "[admin:clonelb]: trafficcloneprofile:clone_servers> ");
	/* The store takes clone servers on a subnet of this host: the loopback's. */
	assert_int_equal(run(f, "ip_address 127.0.0.2"), 0);
	assert_int_equal(run(f, "subnet 127.0.0.0/8"), 0);
	assert_int_equal(run(f, "mac 4e:e9:4e:2d:b9:bb"), 0);
	assert_int_equal(run(f, "save"), 0);
	prompt_is(f, "[admin:clonelb]: trafficcloneprofile> ");
	assert_int_equal(run(f, "preserve_client_ip"), 0);
	assert_int_equal(run(f, "save"), 0);
	prompt_is(f, "[admin:clonelb]: > ");
	assert_string_equal(f->err, "");

	o = api_get(f, "/api/trafficcloneprofile/ids-profile");
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "preserve_client_ip")));
	json_t *cs = json_array_get(json_object_get(o, "clone_servers"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(cs, "ip_address"), "addr")),
	    "127.0.0.2");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(cs, "subnet"), "mask")),
			 8);
	assert_string_equal(json_string_value(json_object_get(cs, "mac")), "4e:e9:4e:2d:b9:bb");
	json_decref(o);

	/* The stats table: Field/Value with the element rows indented. */
	assert_int_equal(run(f, "configure virtualservice web"), 0);
	assert_int_equal(run(f, "vip 10.10.1.10"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "services 80"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "traffic_clone_profile_ref ids-profile"), 0);
	assert_int_equal(run(f, "save"), 0);
	reset_output(f);
	assert_int_equal(run(f, "show virtualservice web traffic_clone_stats"), 0);
	assert_string_equal(f->out, "+-------------------------+----------------+\n"
				    "| Field                   | Value          |\n"
				    "+-------------------------+----------------+\n"
				    "| se_uuid                 | unit:se-0      |\n"
				    "| proc_id                 | PROC_Aggregate |\n"
				    "| clone_srvr_stats[1]     |                |\n"
				    "|   ip                    | 127.0.0.2      |\n"
				    "|   num_total_pkts_cloned | 0              |\n"
				    "|   num_mbuf_alloc_failed | 0              |\n"
				    "|   num_driver_failures   | 0              |\n"
				    "|   num_succeeded         | 0              |\n"
				    "+-------------------------+----------------+\n");
}

static void completes(struct fixture *f, const char *line, const char *const *want);

/* A sub-object's field in one line: "<object> <field> <value>", and
 * "<object> <value>" for its field of the same name. */
static void test_sub_object_one_liners(void **state)
{
	struct fixture *f = *state;
	json_t *o, *m;

	assert_int_equal(run(f, "configure healthmonitor hm"), 0);
	assert_int_equal(run(f, "type HEALTH_MONITOR_HTTP"), 0);
	assert_int_equal(run(f, "http_monitor http_request GET /health HTTP/1.1"), 0);
	assert_int_equal(run(f, "http_monitor http_response_code HTTP_2XX HTTP_4XX"), 0);
	prompt_is(f, "[admin:clonelb]: healthmonitor> ");
	completes(f, "http_monitor http_response_c", (const char *[]){"http_response_code", NULL});
	completes(f, "http_monitor http_response_code HTTP_2",
		  (const char *[]){"HTTP_2XX", NULL});
	assert_int_equal(run(f, "http_monitor http_response_code HTTP_9XX"), -EINVAL);
	assert_non_null(strstr(f->err, "http_monitor.http_response_code: invalid value \"HTTP_9XX\""));
	assert_int_equal(run(f, "http_monitor nosuch 1"), -EINVAL);
	assert_non_null(strstr(f->err, "http_monitor: unknown field 'nosuch' of http_monitor"));
	assert_int_equal(run(f, "save"), 0);
	o = api_get(f, "/api/healthmonitor/hm");
	m = json_object_get(o, "http_monitor");
	assert_string_equal(json_string_value(json_object_get(m, "http_request")),
			    "GET /health HTTP/1.1");
	assert_int_equal(json_array_size(json_object_get(m, "http_response_code")), 2);
	json_decref(o);
	/* A certificate's computed fields are not settings. */
	assert_int_equal(run(f, "configure sslkeyandcertificate c"), 0);
	assert_int_equal(run(f, "certificate not_after 2030"), -EINVAL);
	assert_non_null(strstr(f->err, "not_after: set by clonelb"));
	assert_int_equal(run(f, "certificate @/nonexistent/cert.pem"), -EINVAL);
	assert_non_null(strstr(f->err, "certificate.certificate: cannot read '/nonexistent/cert.pem'"));
	assert_int_equal(run(f, "cancel"), 0);
}

static void test_edit_messages_and_no(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	assert_int_equal(run(f, "configure pool p"), 0);
	assert_int_equal(run(f, "servers 10.0.0.1"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "servers 10.0.0.2"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "default_server_port 8080"), 0);
	assert_int_equal(run(f, "save"), 0);
	reset_output(f);

	/* Editing: an existing element is opened by its key, without a message. */
	assert_int_equal(run(f, "configure pool p"), 0);
	assert_int_equal(run(f, "servers 10.0.0.2"), 0);
	assert_string_equal(f->out, "");
	assert_int_equal(run(f, "enabled false"), 0);
	assert_string_equal(f->out, "Overwriting the previously entered value for enabled\n");
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "no servers 10.0.0.1"), 0);
	assert_int_equal(run(f, "no servers 10.0.0.9"), -EINVAL);
	assert_non_null(strstr(f->err, "Error: servers: no entry 10.0.0.9"));
	assert_int_equal(run(f, "no default_server_port"), 0);
	assert_int_equal(run(f, "lb_algorithm LB_ALGORITHM_LEAST_CONNECTIONS"), 0);
	assert_int_equal(run(f, "save"), 0);
	o = api_get(f, "/api/pool/p");
	assert_int_equal(json_array_size(json_object_get(o, "servers")), 1);
	assert_true(json_is_false(
	    json_object_get(json_array_get(json_object_get(o, "servers"), 0), "enabled")));
	assert_int_equal(json_integer_value(json_object_get(o, "default_server_port")), 80);
	assert_string_equal(json_string_value(json_object_get(o, "lb_algorithm")),
			    "LB_ALGORITHM_LEAST_CONNECTIONS");
	json_decref(o);

	/* where: the location, and whether it is new or changed. */
	assert_int_equal(run(f, "configure pool p"), 0);
	assert_int_equal(run(f, "servers 10.0.0.3"), 0);
	reset_output(f);
	assert_int_equal(run(f, "where"), 0);
	assert_non_null(strstr(f->out, "pool p: servers[2] (new) (unsaved changes)\n+---"));
	assert_non_null(strstr(f->out, "| ip    | 10.0.0.3 |"));
	assert_int_equal(run(f, "cancel"), 0);
	/* Leaving an unchanged existing object at the end of input loses nothing. */
	assert_int_equal(cli_shell_finish(f->sh), 0);
	assert_string_equal(f->err, "");

	/* Scalar lists append, "no <list> <value>" removes one value. The store
	 * takes references only to objects that exist. */
	for (const char *const *hm = (const char *const[]){"a", "b", "c", NULL}; *hm; hm++) {
		char line[64];
		snprintf(line, sizeof(line), "configure healthmonitor %s", *hm);
		assert_int_equal(run(f, line), 0);
		assert_int_equal(run(f, "type HEALTH_MONITOR_TCP"), 0);
		assert_int_equal(run(f, "save"), 0);
	}
	assert_int_equal(run(f, "configure pool p"), 0);
	assert_int_equal(run(f, "health_monitor_refs a b"), 0);
	assert_int_equal(run(f, "health_monitor_refs c"), 0);
	reset_output(f);
	assert_int_equal(run(f, "health_monitor_refs zz"), 0);
	assert_int_equal(run(f, "save"), -EINVAL);
	assert_string_equal(f->err,
			    "Error: health_monitor_refs[4]: healthmonitor 'zz' does not exist\n");
	assert_int_equal(run(f, "no health_monitor_refs zz"), 0);
	assert_int_equal(run(f, "no health_monitor_refs b"), 0);
	assert_int_equal(run(f, "save"), 0);
	o = api_get(f, "/api/pool/p?include_name");
	/* Answers write references as URLs; ?include_name appends the names. */
	json_t *refs = json_object_get(o, "health_monitor_refs");
	assert_int_equal(json_array_size(refs), 2);
	assert_non_null(strstr(json_string_value(json_array_get(refs, 0)), "#a"));
	assert_non_null(strstr(json_string_value(json_array_get(refs, 1)), "#c"));
	assert_int_equal(strncmp(json_string_value(json_array_get(refs, 0)),
				 "/api/healthmonitor/healthmonitor-", 33),
			 0);
	json_decref(o);
}

static void test_bad_values_change_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned before;

	assert_int_equal(run(f, "configure trafficcloneprofile p"), 0);
	assert_int_equal(run(f, "clone_servers"), 0);
	assert_int_equal(run(f, "ip_address 10.0.0.256"), -EINVAL);
	assert_int_equal(run(f, "mac zz"), -EINVAL);
	assert_int_equal(run(f, "subnet 10.0.0.0/33"), -EINVAL);
	assert_int_equal(run(f, "bogus 1"), -EINVAL);
	assert_string_equal(
	    f->err, "Error: clone_servers[1].ip_address: invalid IPv4 address '10.0.0.256'\n"
		    "Error: clone_servers[1].mac: invalid MAC address \"zz\" (expected "
		    "xx:xx:xx:xx:xx:xx)\n"
		    "Error: clone_servers[1].subnet.mask: invalid prefix length 33 (0..32)\n"
		    "Error: unknown field 'bogus' of clone_servers (try help)\n");
	/* Nothing was set: the element still lacks its key. */
	reset_output(f);
	assert_int_equal(run(f, "save"), -EINVAL);
	assert_string_equal(f->err, "Error: clone_servers[1].ip_address: required field missing\n");
	assert_int_equal(run(f, "cancel"), 0);
	before = api_inproc_requests(f->api);
	assert_int_equal(run(f, "cancel"), 0);
	assert_int_equal(api_inproc_requests(f->api), before);
	assert_null(api_get(f, "/api/trafficcloneprofile/p"));
}

static void test_eleventh_and_duplicate(void **state)
{
	struct fixture *f = *state;
	char line[64];

	assert_int_equal(run(f, "configure trafficcloneprofile p"), 0);
	for (int i = 1; i <= 10; i++) {
		snprintf(line, sizeof(line), "clone_servers 10.10.3.%d", i);
		assert_int_equal(run(f, line), 0);
		assert_int_equal(run(f, "save"), 0);
	}
	assert_int_equal(run(f, "clone_servers 10.10.3.11"), 0);
	assert_int_equal(run(f, "save"), -EINVAL);
	assert_non_null(strstr(f->err, "Error: clone_servers: 11 entries, at most 10 allowed\n"));
	assert_int_equal(run(f, "cancel"), 0);
	assert_int_equal(run(f, "clone_servers"), 0);
	assert_int_equal(run(f, "ip_address 10.10.3.4"), 0);
	assert_int_equal(run(f, "save"), -EEXIST);
	assert_non_null(strstr(f->err, "Error: clone_servers: duplicate entry 10.10.3.4\n"));
}

/* In a script, a failed command spoils its configure block: the block is not saved. */
static void test_batch_spoils_block(void **state)
{
	struct fixture *f = *state;

	f->sh->batch = true;
	assert_int_equal(run(f, "configure trafficcloneprofile p"), 0);
	assert_int_equal(run(f, "clone_servers 10.10.3.2"), 0);
	assert_int_equal(run(f, "mac zz"), -EINVAL);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "save"), -ECANCELED);
	assert_non_null(strstr(f->err, "trafficcloneprofile p not saved: an earlier command"));
	prompt_is(f, "[admin:clonelb]: > ");
	assert_null(api_get(f, "/api/trafficcloneprofile/p"));
	/* The next block is fine again. */
	assert_int_equal(run(f, "configure trafficcloneprofile p"), 0);
	assert_int_equal(run(f, "save"), 0);
	json_t *o = api_get(f, "/api/trafficcloneprofile/p");
	assert_non_null(o);
	json_decref(o);
	/* Unsaved at the end of input: dropped, with a warning, counted as a failure. */
	assert_int_equal(run(f, "configure pool q"), 0);
	assert_int_equal(cli_shell_finish(f->sh), -ECANCELED);
	assert_non_null(strstr(f->err, "Warning: pool q not saved (end of input)"));
	assert_null(api_get(f, "/api/pool/q"));
}

static void test_api_error_passes_through(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, "configure healthmonitor hm"), 0);
	assert_int_equal(run(f, "save"), -EINVAL);
	assert_string_equal(f->err, "Error: type: required field missing\n");
	/* Interactive: still in the mode, to fix it. */
	prompt_is(f, "[admin:clonelb]: healthmonitor> ");
	assert_int_equal(run(f, "type HEALTH_MONITOR_TCP"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "delete healthmonitor hm"), 0);
	assert_int_equal(run(f, "delete healthmonitor hm"), -ENOENT);
	assert_non_null(strstr(f->err, "Error: healthmonitor 'hm' not found\n"));

	/* A clone server off every subnet of this host: the store says so, and
	 * the shell stays in the mode to fix it. */
	reset_output(f);
	assert_int_equal(run(f, "configure trafficcloneprofile p"), 0);
	assert_int_equal(run(f, "clone_servers 10.10.3.2"), 0);
	assert_int_equal(run(f, "subnet 10.10.3.0/24"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "save"), -EINVAL);
	assert_non_null(strstr(f->err, "Error: clone_servers[1].subnet: 10.10.3.0/24 is not the "
				       "subnet of any interface of this SE (interfaces: "));
	prompt_is(f, "[admin:clonelb]: trafficcloneprofile> ");
	assert_null(api_get(f, "/api/trafficcloneprofile/p"));
	assert_int_equal(run(f, "clone_servers 10.10.3.2"), 0);
	assert_int_equal(run(f, "network_ref lo"), 0);
	assert_int_equal(run(f, "ip_address 127.0.0.3"), 0);
	assert_int_equal(run(f, "no subnet"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "save"), 0);
	json_t *o = api_get(f, "/api/trafficcloneprofile/p");
	assert_non_null(o);
	json_decref(o);

	/* Names travel escaped ("web%2Bpool") and arrive whole. */
	assert_int_equal(run(f, "configure pool web+pool"), 0);
	assert_int_equal(run(f, "save"), 0);
	o = api_get(f, "/api/pool/web%2Bpool");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "web+pool");
	json_decref(o);
	assert_int_equal(run(f, "delete pool web+pool"), 0);
	assert_null(api_get(f, "/api/pool/web%2Bpool"));
}

static void test_table(void **state)
{
	static const char *const hdr[] = {"Field", "Value"};
	struct cli_table *t = cli_table_new(2, hdr);
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);
	json_t *v = json_loads("{\"a\": [{\"ip\": {\"addr\": \"1.2.3.4\", \"type\": \"V4\"}, "
			       "\"n\": {\"ip_addr\": {\"addr\": \"1.2.0.0\", \"type\": \"V4\"}, "
			       "\"mask\": 16}}], \"b\": true, \"c\": \"x\\ny\"}",
			       0, NULL);

	(void)state;
	cli_table_add_json(t, 0, NULL, v);
	cli_table_print(t, o);
	fclose(o);
	assert_string_equal(buf, "+-------+------------+\n"
				 "| Field | Value      |\n"
				 "+-------+------------+\n"
				 "| a[1]  |            |\n"
				 "|   ip  | 1.2.3.4    |\n"
				 "|   n   | 1.2.0.0/16 |\n"
				 "| b     | True       |\n"
				 "| c     | x          |\n"
				 "|       | y          |\n"
				 "+-------+------------+\n");
	free(buf);
	json_decref(v);
	cli_table_free(t);
}

/* Completes @line and checks the candidates are exactly @want (NULL-terminated). */
static void completes(struct fixture *f, const char *line, const char *const *want)
{
	char **words = NULL;
	size_t wordlen;
	int n = cli_complete(f->sh, line, &words, &wordlen), i;

	for (i = 0; want[i]; i++) {
		if (i >= n)
			fail_msg("'%s': missing candidate '%s' (%d candidates)", line, want[i], n);
		assert_string_equal(words[i], want[i]);
	}
	if (n != i)
		fail_msg("'%s': %d candidates, wanted %d; first extra '%s'", line, n, i, words[i]);
	cli_argv_free(words);
}

static void test_complete(void **state)
{
	struct fixture *f = *state;

	completes(f, "conf", (const char *[]){"configure", NULL});
	completes(f, "configure tr", (const char *[]){"trafficcloneprofile", NULL});
	completes(f, "show virtualservice web ",
		  (const char *[]){"traffic_clone_stats", "runtime", NULL});
	assert_int_equal(run(f, "configure trafficcloneprofile ids-profile"), 0);
	assert_int_equal(run(f, "save"), 0);
	assert_int_equal(run(f, "configure trafficcloneprofile ids-2"), 0);
	assert_int_equal(run(f, "save"), 0);
	completes(f, "configure trafficcloneprofile i",
		  (const char *[]){"ids-profile", "ids-2", NULL});
	completes(f, "show trafficcloneprofile ids-p", (const char *[]){"ids-profile", NULL});
	assert_int_equal(run(f, "configure virtualservice web"), 0);
	completes(f, "traffic_clone_profile_ref ", (const char *[]){"ids-profile", "ids-2", NULL});
	completes(f, "tr", (const char *[]){"traffic_clone_profile_ref", NULL});
	completes(
	    f, "s",
	    (const char *[]){"save", "show", "services", "ssl_key_and_certificate_refs",
			     "se_group_ref", "ssl_profile_ref", NULL});
	completes(f, "enabled ", (const char *[]){"true", "false", NULL});
	assert_int_equal(run(f, "vip 10.10.1.10"), 0);
	assert_int_equal(run(f, "save"), 0);
	completes(f, "vip 10", (const char *[]){"10.10.1.10", NULL});
	completes(f, "no vip ", (const char *[]){"10.10.1.10", NULL});
	completes(f, "no po", (const char *[]){"pool_ref", NULL});
	assert_int_equal(run(f, "cancel"), 0);
	completes(f, "bogus ", (const char *[]){NULL});
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lex),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test_setup_teardown(test_transcript, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edit_messages_and_no, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eleventh_and_duplicate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_spoils_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_api_error_passes_through, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sub_object_one_liners, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
