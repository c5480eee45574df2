/* clone_harness.c: drives the clone engine without the daemon: a line protocol on stdin that plays the proxy's part. */
/*
 * Commands (one per line; each answers one line on stdout):
 *   apply FILE                      clone_apply() with the JSON snapshot in FILE
 *   conn VS_ID CLIENT_IP SERVER_IP PORT N PATH
 *                                   N back-end connections the way the proxy opens
 *                                   them (on_connect, connect: the kernel picks the
 *                                   port), each sending an HTTP GET of PATH, reading
 *                                   to EOF, on_close, close;
 *                                   answers "ok COUNT BYTES PORT,PORT,..." (local ports)
 *   open SLOT VS_ID CLIENT_IP SERVER_IP PORT
 *                                   on_connect, connect, and keep it open
 *   finish SLOT PATH                the GET on an open connection, then on_close, close
 *   hc SERVER_IP PORT [LOCAL_PORT]  a "health check": connect, GET, close, not registered;
 *                                   from LOCAL_PORT if given (to reuse a 4-tuple)
 *   stats UUID [detail]             clone_stats() as JSON
 *   metrics                         clone_metrics(), ending with a line "."
 *   churn N VS_ID                   N synthetic entries written into the connection
 *                                   map as the program learns them (no traffic);
 *                                   answers "ok ENTRIES" with the size of the
 *                                   connection map afterwards
 *   sleep MS                        waits MS milliseconds
 *   quit                            clone_stop() and exit
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "clone/clone.h"
#include "clone/clone_int.h"

static int http_get(int fd, const char *host, const char *path)
{
	char req[512], buf[16384];
	ssize_t n;
	long total = 0;

	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: clone-harness\r\n\r\n",
		 path, host);
	if (send(fd, req, strlen(req), 0) == -1)
		return -errno;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		total += n;
	return n == -1 ? -errno : (int)total;
}

/* An open back-end connection and what the hook was told about it. */
struct hconn {
	struct px_conn_info ci;
	char server[64];
};

/* on_connect, connect: the proxy's way (no bind: the source address and port
 * are the kernel's choice). Returns 0 or -errno. */
static int conn_open(struct clone_engine *ce, struct hconn *hc, long vs_id, const char *client,
		     const char *server, int port)
{
	struct px_conn_info *ci = &hc->ci;
	socklen_t len = sizeof(ci->local);
	int fd, r;

	memset(hc, 0, sizeof(*hc));
	snprintf(hc->server, sizeof(hc->server), "%s", server);
	ci->vs_id = vs_id;
	ci->vs_uuid = "";
	ci->client.in.sin_family = AF_INET;
	inet_pton(AF_INET, client, &ci->client.in.sin_addr);
	ci->client.in.sin_port = htons(40000);
	ci->server.in.sin_family = AF_INET;
	inet_pton(AF_INET, server, &ci->server.in.sin_addr);
	ci->server.in.sin_port = htons((uint16_t)port);
	ci->local.in.sin_family = AF_INET;
	ci->fd = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return -errno;
	ci->fd = fd;
	clone_conn_hook_ops.on_connect(ce, ci);
	if (connect(fd, (struct sockaddr *)&ci->server, sizeof(ci->server)) == -1) {
		r = -errno;
		clone_conn_hook_ops.on_close(ce, ci);
		close(fd);
		ci->fd = -1;
		return r;
	}
	getsockname(fd, (struct sockaddr *)&ci->local, &len);
	return 0;
}

/* GET @path, read to EOF, on_close, close. Returns the bytes read or -errno. */
static int conn_finish(struct clone_engine *ce, struct hconn *hc, const char *path)
{
	int r = http_get(hc->ci.fd, hc->server, path);

	clone_conn_hook_ops.on_close(ce, &hc->ci);
	close(hc->ci.fd);
	hc->ci.fd = -1;
	return r;
}

int main(void)
{
	static struct hconn open_conns[16];
	struct clone_engine *ce;
	char line[1024], *err = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (clone_start(&ce, &err) < 0) {
		printf("error %s\n", err);
		return 1;
	}
	printf("ready %s\n", clone_se_uuid(ce));
	while (fgets(line, sizeof(line), stdin)) {
		char a[256] = "", b[256] = "", c[256] = "";
		long id, n, i;
		int port, r, ok = 0;
		long bytes = 0;

		if (sscanf(line, "apply %255s", a) == 1) {
			json_error_t je;
			json_t *snap = json_load_file(a, 0, &je);

			if (!snap) {
				printf("error %s\n", je.text);
				continue;
			}
			clone_apply(ce, snap);
			json_decref(snap);
			printf("ok\n");
		} else if (sscanf(line, "conn %ld %255s %255s %d %ld %255s", &id, a, b, &port, &n, c) == 6) {
			char ports[8192] = "";
			size_t used = 0;

			for (i = 0; i < n; i++) {
				struct hconn hc;

				r = conn_open(ce, &hc, id, a, b, port);
				if (r == 0)
					used += (size_t)snprintf(ports + used, used < sizeof(ports) ? sizeof(ports) - used : 0,
								 "%s%u", used ? "," : "", ntohs(hc.ci.local.in.sin_port));
				if (r == 0)
					r = conn_finish(ce, &hc, c);
				if (r < 0) {
					fprintf(stderr, "conn %ld: %s\n", i, strerror(-r));
					continue;
				}
				ok++;
				bytes += r;
			}
			printf("ok %d %ld %s\n", ok, bytes, used ? ports : "-");
		} else if (sscanf(line, "open %ld %ld %255s %255s %d", &n, &id, a, b, &port) == 5) {
			if (n < 0 || n >= (long)(sizeof(open_conns) / sizeof(open_conns[0]))) {
				printf("error slot\n");
				continue;
			}
			r = conn_open(ce, &open_conns[n], id, a, b, port);
			if (r < 0)
				printf("error %s\n", strerror(-r));
			else
				printf("ok %u\n", ntohs(open_conns[n].ci.local.in.sin_port));
		} else if (sscanf(line, "finish %ld %255s", &n, c) == 2) {
			if (n < 0 || n >= (long)(sizeof(open_conns) / sizeof(open_conns[0])) ||
			    open_conns[n].ci.fd < 0) {
				printf("error slot\n");
				continue;
			}
			r = conn_finish(ce, &open_conns[n], c);
			if (r < 0)
				printf("error %s\n", strerror(-r));
			else
				printf("ok %d\n", r);
		} else if (sscanf(line, "hc %255s %d %ld", a, &port, &n) >= 2) {
			struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
			struct sockaddr_in me = {.sin_family = AF_INET};
			socklen_t len = sizeof(me);
			int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

			inet_pton(AF_INET, a, &sin.sin_addr);
			if (sscanf(line, "hc %*s %*d %ld", &n) == 1) {
				setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
				me.sin_port = htons((uint16_t)n);
				if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == -1)
					fprintf(stderr, "hc bind %ld: %s\n", n, strerror(errno));
			}
			r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
			getsockname(fd, (struct sockaddr *)&me, &len);
			if (r == 0)
				r = http_get(fd, a, "/");
			close(fd);
			printf("ok %d %u\n", r, ntohs(me.sin_port));
		} else if (sscanf(line, "stats %255s %255s", a, c) >= 1) {
			json_t *st = clone_stats(ce, a, strcmp(c, "detail") == 0);
			char *s = st ? json_dumps(st, JSON_COMPACT) : NULL;

			printf("%s\n", s ? s : "null");
			free(s);
			json_decref(st);
		} else if (strncmp(line, "metrics", 7) == 0) {
			clone_metrics(ce, stdout);
			printf(".\n");
		} else if (sscanf(line, "churn %ld %ld", &n, &id) == 2) {
			/* Entries as the program enters them from a socket's SYN;
			 * the map's bound is the LRU's, whoever writes. */
			struct clone_conn_key key;
			struct clone_conn val;

			memset(&key, 0, sizeof(key));
			memset(&val, 0, sizeof(val));
			val.srv_index = (uint32_t)id; /* any: these frames never come */
			for (i = 0; i < n; i++) {
				key.local_ip = htonl(0x0a0a0201u);
				key.local_port = htons((uint16_t)(10000 + i % 50000));
				key.server_ip = htonl(0x0a0a0200u + 11u + (uint32_t)(i / 50000));
				key.server_port = htons(80);
				val.client_ip = htonl(0x0a0a0100u | (uint32_t)(i & 0xff));
				bpf_map_update_elem(ce->conns_fd, &key, &val, BPF_ANY);
			}
			printf("ok %d\n", clone_conn_count(ce));
		} else if (sscanf(line, "sleep %ld", &n) == 1) {
			usleep((useconds_t)n * 1000);
			printf("ok\n");
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			printf("error unknown command\n");
		}
	}
	clone_stop(ce);
	printf("bye\n");
	return 0;
}
