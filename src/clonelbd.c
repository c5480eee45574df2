/* clonelbd.c: the daemon's entry: flags, start order (store, clone engine, data plane, API), clean stop. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/session.h"
#include "clone/clone.h"
#include "config/store.h"
#include "config/users.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"
#include "proxy/px.h"
#include "se/bgp.h"
#include "se/se.h"

#define DEFAULT_DB "/var/lib/clonelb/config.db"
#define DEFAULT_SOCKET "/run/clonelb/clonelb.sock"
#define DEFAULT_WEB_ROOT "/usr/local/share/clonelb/web"
#define DEFAULT_BIRD "/usr/sbin/bird"
#define DEFAULT_SE_GROUP "Default-Group"

struct daemon {
	struct cfg_store *store;
	struct clone_engine *ce;
	struct px *px;
	struct se_bgp *bgp;
	struct se *se;
	pthread_mutex_t apply_lock; /* one applier at a time; guards applied_* */
	uint64_t applied_rev;       /* store revision the data plane runs */
	bool applied_once;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: clonelbd [--db PATH] [--store sqlite:PATH|etcd://HOST:PORT[,HOST:PORT...]]\n"
		"                [--store-ca FILE --store-cert FILE --store-key FILE]\n"
		"                [--se-name NAME] [--se-group NAME]\n"
		"                [--socket PATH] [--listen ADDR:PORT --token-file PATH\n"
		"                [--tls-cert FILE --tls-key FILE]] [--workers N] [--worker-sched POLICY]\n"
		"                [--log-level LEVEL] [--web-root DIR] [--bird PATH]\n"
"                [--admin-password-file PATH] [--session-lifetime SECONDS]\n"
		"  --db PATH          configuration database (default " DEFAULT_DB ")\n"
		"  --store SPEC       sqlite:PATH (as --db), or etcd://HOST:PORT,...: the SE group's\n"
		"                     configuration in etcd, shared by every clonelbd on it\n"
		"  --store-ca FILE    CA of the etcd cluster's certificates (etcd over HTTPS)\n"
		"  --store-cert FILE  client certificate for etcd (PEM), with --store-key\n"
		"  --store-key FILE   its private key (PEM)\n"
		"  --se-name NAME     this service engine's name (default: the host name)\n"
		"  --se-group NAME    its SE group (default " DEFAULT_SE_GROUP ")\n"
		"  --socket PATH      REST API Unix socket, mode 0600 (default " DEFAULT_SOCKET ")\n"
		"  --listen ADDR:PORT also serve the API and web UI over HTTPS (users log in)\n"
		"  --token-file PATH  file holding a bearer token for scripts on HTTPS\n"
		"  --tls-cert FILE    HTTPS certificate chain (PEM); without it and --tls-key, a\n"
		"                     self-signed pair is made once beside the database\n"
		"  --tls-key FILE     HTTPS private key (PEM)\n"
		"  --workers N        proxy worker threads (default: one per CPU)\n"
		"  --worker-sched POLICY\n"
		"                     batch (default): a woken worker does not preempt the task on\n"
		"                     its CPU; normal: the kernel's default policy\n"
		"  --log-level LEVEL  error, warn, info (default) or debug\n"
		"  --web-root DIR     web UI files (default " DEFAULT_WEB_ROOT
		" or web/dist beside the binary)\n"
		"  --bird PATH        BIRD 2 daemon announcing the VIPs of route health\n"
		"                     injection (default " DEFAULT_BIRD "; birdc beside it)\n"
		"  --admin-password-file PATH\n"
		"                     first start: the admin user's password (else one is made\n"
		"                     and printed once)\n"
		"  --session-lifetime SECONDS\n"
		"                     a login session lasts this long (default %d)\n",
		API_SESSION_LIFETIME);
}

/*
 * What this SE runs of snapshot @snap (taken over): the virtual services of
 * its SE group only (docs/architecture.md section 10). New reference.
 */
static json_t *group_view(struct daemon *d, json_t *snap)
{
	json_t *view, *vss, *vs;
	size_t i;

	if (!d->se)
		return snap;
	view = json_copy(snap);
	vss = json_array();
	json_array_foreach(json_object_get(snap, "virtualservice"), i, vs)
		if (se_serves(d->se, snap, vs))
			json_array_append(vss, vs);
	json_object_set_new(view, "virtualservice", vss);
	json_decref(snap);
	return view;
}

/*
 * Hands the configuration up to revision @rev to the clone engine, then the
 * data plane: the engine first, so a new service's first SYN is already
 * cloned. One applier at a time, and never backwards: the snapshot taken
 * under apply_lock is at least as new as any applied before it, so changes
 * reach the data plane in commit order; a change that a newer snapshot
 * already carried is not applied twice.
 */
static void apply_upto(struct daemon *d, uint64_t rev)
{
	uint64_t at;
	json_t *snap;

	pthread_mutex_lock(&d->apply_lock);
	if (d->applied_rev < rev || !d->applied_once) {
		snap = group_view(d, cfg_snapshot(d->store, &at));
		se_apply(d->se, snap);
		/* VIPs on lo before the listeners bind them. */
		se_bgp_apply(d->bgp, snap);
		if (d->ce)
			clone_apply(d->ce, snap);
		px_apply(d->px, snap);
		se_bgp_kick(d->bgp);
		json_decref(snap);
		d->applied_rev = at;
		d->applied_once = true;
	}
	pthread_mutex_unlock(&d->apply_lock);
}

static void on_change(void *ctx, const char *type, enum cfg_op op, const json_t *obj,
		      uint64_t rev)
{
	static const char *const ops[] = {"created", "updated", "deleted"};

	if (!type) {
		log_info("config", "configuration read again from the store at revision %llu",
			 (unsigned long long)rev);
		apply_upto(ctx, rev);
		return;
	}
	log_info("config", "%s '%s' %s", type, json_string_value(json_object_get(obj, "name")),
		 ops[op]);
	apply_upto(ctx, rev);
}

static bool store_is_etcd(const char *store)
{
	return store && strncmp(store, "etcd://", 7) == 0;
}

/* The first line of @path (the token, the admin password), for @flag's messages. */
static char *read_secret(const char *flag, const char *path, char **ret_err)
{
	char buf[512];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		*ret_err = xasprintf("%s: %s: %s", flag, path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	if (!*buf) {
		*ret_err = xasprintf("%s: %s is empty", flag, path);
		return NULL;
	}
	return xstrdup(buf);
}

/* The web UI's files: --web-root, else the installed ones, else the tree's. */
static char *find_web_root(const char *flag, const char *argv0)
{
	char self[4096];
	ssize_t n;

	if (flag)
		return xstrdup(flag);
	if (access(DEFAULT_WEB_ROOT "/index.html", R_OK) == 0)
		return xstrdup(DEFAULT_WEB_ROOT);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			char *p = xasprintf("%s/../web/dist", self);
			char *idx = xasprintf("%s/index.html", p);
			int ok = access(idx, R_OK) == 0;
			free(idx);
			if (ok)
				return p;
			free(p);
		}
	}
	return NULL;
}

/* Each client connection costs two descriptors: take all the operator allows
 * (the soft limit up to the hard one), never more; the data plane budgets it. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("daemon", "cannot raise the open files limit: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"socket", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		{"token-file", required_argument, NULL, 't'},
		{"workers", required_argument, NULL, 'w'},
		{"worker-sched", required_argument, NULL, 'W'},
		{"log-level", required_argument, NULL, 'v'},
		{"web-root", required_argument, NULL, 'r'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"admin-password-file", required_argument, NULL, 'P'},
		{"session-lifetime", required_argument, NULL, 'L'},
		{"bird", required_argument, NULL, 'B'},
		{"store", required_argument, NULL, 'S'},
		{"store-ca", required_argument, NULL, 'A'},
		{"store-cert", required_argument, NULL, 'E'},
		{"store-key", required_argument, NULL, 'Y'},
		{"se-name", required_argument, NULL, 'N'},
		{"se-group", required_argument, NULL, 'G'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *db = DEFAULT_DB, *sock = DEFAULT_SOCKET, *listen = NULL, *token_file = NULL,
		   *web_root_flag = NULL, *tls_cert = NULL, *tls_key = NULL, *admin_pw_file = NULL,
		   *store = NULL,
		   *se_name = NULL, *se_group = DEFAULT_SE_GROUP, *bird = DEFAULT_BIRD;
	struct cfg_store_tls store_tls = {0};
	char host[256] = "";
	struct px_conn_hook hook = clone_conn_hook_ops;
	struct daemon d = {.apply_lock = PTHREAD_MUTEX_INITIALIZER};
	struct api *api = NULL;
	struct api_config ac;
	unsigned workers = 0, session_lifetime = 0;
	enum px_sched sched = PX_SCHED_BATCH;
	char *err = NULL, *token = NULL, *admin_pw = NULL, *generated = NULL, *web_root = NULL,
	     *db_dir = NULL, *run_prefix = NULL, *end;
	sigset_t sigs;
	int c, sig, r, status = 1, netns_fd = -1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'w': {
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 256) {
				fprintf(stderr, "clonelbd: --workers: invalid value '%s' (1..256)\n",
					optarg);
				return 2;
			}
			workers = (unsigned)n;
			break;
		}
		case 'W':
			if (!strcmp(optarg, "batch")) {
				sched = PX_SCHED_BATCH;
			} else if (!strcmp(optarg, "normal")) {
				sched = PX_SCHED_NORMAL;
			} else {
				fprintf(stderr,
					"clonelbd: --worker-sched: invalid value '%s' (batch, normal)\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			if (log_set_level(optarg) < 0) {
				fprintf(stderr,
					"clonelbd: --log-level: invalid value '%s' "
					"(error, warn, info, debug)\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			web_root_flag = optarg;
			break;
		case 'C':
			tls_cert = optarg;
			break;
		case 'K':
			tls_key = optarg;
			break;
		case 'P':
			admin_pw_file = optarg;
			break;
		case 'L': {
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 30L * 24 * 3600) {
				fprintf(stderr,
					"clonelbd: --session-lifetime: invalid value '%s' (seconds, "
					"1..2592000)\n",
					optarg);
				return 2;
			}
			session_lifetime = (unsigned)n;
			break;
		}
		case 'B':
			bird = optarg;
			break;
		case 'S':
			store = optarg;
			break;
		case 'A':
			store_tls.ca = optarg;
			break;
		case 'E':
			store_tls.cert = optarg;
			break;
		case 'Y':
			store_tls.key = optarg;
			break;
		case 'N':
			se_name = optarg;
			break;
		case 'G':
			se_group = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clonelbd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (token_file && !(token = read_secret("--token-file", token_file, &err)))
		goto out;
	if (admin_pw_file && !(admin_pw = read_secret("--admin-password-file", admin_pw_file, &err)))
		goto out;
	if (!store || strncmp(store, "etcd://", 7) != 0) {
		if (store_tls.ca || store_tls.cert || store_tls.key) {
			err = xasprintf("--store-ca, --store-cert and --store-key are for --store "
					"etcd://...");
			goto out;
		}
	}
	if (!!store_tls.cert != !!store_tls.key) {
		err = xasprintf("--store-cert and --store-key go together");
		goto out;
	}
	if (store && strncmp(store, "sqlite:", 7) == 0)
		db = store + 7;
	if (!se_name) {
		gethostname(host, sizeof(host) - 1);
		se_name = *host ? host : "localhost";
	}
	if (se_check_name("--se-name", se_name, &err) < 0 ||
	    se_check_name("--se-group", se_group, &err) < 0)
		goto out;
	/* Before anything touches the kernel: the tc filters, maps and routes of
	 * a network namespace belong to one clonelbd (a second one's start-up
	 * cleanup would remove the live one's filters). */
	netns_fd = netif_claim_netns(NETIF_NETNS_CLAIM, &err);
	if (netns_fd == -EADDRINUSE) {
		char *owner = err;

		err = xasprintf("another clonelbd is running in this network namespace (%s); it owns "
				"the tc filters and routes here: stop it, or start this one in "
				"another network namespace",
				owner);
		free(owner);
		goto out;
	} else if (netns_fd < 0) {
		err = xasprintf("claiming this network namespace: %s", strerror(-netns_fd));
		goto out;
	}

	/* Signals are taken by sigwait() below; threads started from here on inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if (strchr(db, '/')) {
		char *dir = xstrdup(db);
		*strrchr(dir, '/') = 0;
		if (*dir)
			mkdir(dir, 0700);
		free(dir);
	}
	r = store ? cfg_store_open_spec(store, &store_tls, &d.store, &err)
		  : cfg_store_open(db, &d.store, &err);
	if (r < 0)
		goto out;
	/* Tenant admin, the roles and user admin exist before anyone logs in. */
	r = cfg_users_seed(d.store, admin_pw, &generated, &err);
	if (r < 0) {
		char *why = err;
		err = xasprintf("%s%s", admin_pw_file ? "--admin-password-file: " : "", why);
		free(why);
		goto out;
	}
	if (generated) {
		/* Shown this once; only its hash is stored. */
		log_warn("users", "user 'admin' created with the generated password %s (change it: "
			 "clonelb -c 'configure user admin' -c 'password NEW' -c 'save')",
			 generated);
		explicit_bzero(generated, strlen(generated));
	} else if (admin_pw_file) {
		log_info("users", "--admin-password-file is applied when user 'admin' is first "
			 "created");
	}
	r = clone_start(&d.ce, &err);
	if (r < 0) {
		/* The proxy still serves; cloning is reported as unavailable. */
		log_error("clone", "clone engine unavailable, traffic will not be cloned: %s", err);
		free(err);
		err = NULL;
		d.ce = NULL;
	}
	r = se_start(&(struct se_config){.name = se_name, .group = se_group, .store = d.store,
					 .ce = d.ce},
		     &d.se, &err);
	if (r < 0)
		goto out;
	clone_set_se_uuid(d.ce, se_uuid(d.se));
	hook.ctx = d.ce;
	r = px_start(workers, sched, d.ce ? &hook : NULL, &d.px, &err);
	if (r < 0)
		goto out;
	/* BIRD's files sit beside the API socket: clonelb.sock, clonelb.bird.ctl. */
	run_prefix = xstrdup(sock);
	if (strlen(run_prefix) > 5 && !strcmp(run_prefix + strlen(run_prefix) - 5, ".sock"))
		run_prefix[strlen(run_prefix) - 5] = 0;
	r = se_bgp_start(&(struct se_bgp_config){.bird = bird, .run_prefix = run_prefix,
						  .se_group = se_group,
						  .px = d.px},
			 &d.bgp, &err);
	if (r < 0)
		goto out;
	px_set_health_hook(d.px, se_bgp_kick, d.bgp);
	/* The listener first: a change committed while the first snapshot is
	 * applied is then applied after it, not lost. */
	cfg_store_set_listener(d.store, on_change, &d);
	apply_upto(&d, 0);

	web_root = find_web_root(web_root_flag, argv[0]);
	/* The self-signed HTTPS pair lives beside the store. */
	db_dir = xstrdup(strchr(db, '/') ? db : ".");
	if (strrchr(db_dir, '/'))
		*strrchr(db_dir, '/') = 0;
	ac = (struct api_config){.socket_path = sock, .listen = listen, .token = token,
				 .session_lifetime = session_lifetime,
				 .tls_cert = tls_cert, .tls_key = tls_key,
				 .tls_dir = *db_dir ? db_dir : "/",
				 .web_root = web_root, .store = d.store, .px = d.px, .ce = d.ce,
				 .se = d.se};
	r = api_start(&ac, &api, &err);
	if (r < 0)
		goto out;
	log_info("clonelbd", "ready: SE %s of group %s, store %s%s, API on %s%s%s", se_name,
		 se_group, store_is_etcd(store) ? "" : "sqlite:", store_is_etcd(store) ? store : db,
		 sock, listen ? " and https://" : "", listen ? listen : "");

	for (;;) {
		if (sigwait(&sigs, &sig) == 0 && (sig == SIGTERM || sig == SIGINT))
			break;
	}
	log_info("clonelbd", "stopping on signal %d", sig);
	status = 0;
out:
	if (err) {
		fprintf(stderr, "clonelbd: %s\n", err);
		free(err);
	}
	/* No change is applied any more (the etcd watch keeps running until
	 * the store closes): what the listener uses can go. */
	if (d.store)
		cfg_store_set_listener(d.store, NULL, NULL);
	/* Routes first: the routers send nothing more before the service stops. */
	se_bgp_stop(d.bgp);
	api_stop(api);
	/* The lease first: the standby takes the VIPs over at once. */
	se_stop(d.se);
	px_stop(d.px);
	/* After the data plane (its health hook calls it), and out of reach of a
	 * late apply (an etcd watch may still deliver one). */
	pthread_mutex_lock(&d.apply_lock);
	se_bgp_free(d.bgp);
	d.bgp = NULL;
	pthread_mutex_unlock(&d.apply_lock);
	clone_stop(d.ce);
	cfg_store_close(d.store);
	free(token);
	if (admin_pw)
		explicit_bzero(admin_pw, strlen(admin_pw));
	free(admin_pw);
	free(generated);
	free(web_root);
	free(db_dir);
	free(run_prefix);
	if (netns_fd >= 0)
		close(netns_fd);
	return status;
}
