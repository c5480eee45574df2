/* clone_harness.c: drives the clone engine without the daemon: a line protocol on stdin that plays the proxy's part. */
/*
 * Commands (one per line; each answers one line on stdout):
 *   apply FILE                      clone_apply() with the JSON snapshot in FILE
 *   conn VS_ID CLIENT_IP SERVER_IP PORT N
 *                                   N back-end connections the way the proxy opens
 *                                   them (bind, on_connect, connect), each sending an
 *                                   HTTP GET, reading to EOF, close, on_close
 *   hc SERVER_IP PORT               a "health check": connect/close, not registered
 *   stats UUID [detail]             clone_stats() as JSON
 *   metrics                         clone_metrics(), ending with a line "."
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

#include "clone/clone.h"

static int http_get(int fd, const char *host)
{
	char req[256], buf[4096];
	ssize_t n;
	long total = 0;

	snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: clone-harness\r\n\r\n", host);
	if (send(fd, req, strlen(req), 0) == -1)
		return -errno;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		total += n;
	return n == -1 ? -errno : (int)total;
}

static int one_conn(struct clone_engine *ce, long vs_id, const char *client, const char *server, int port)
{
	struct px_conn_info ci;
	socklen_t len = sizeof(ci.local);
	int fd, r;

	memset(&ci, 0, sizeof(ci));
	ci.vs_id = vs_id;
	ci.vs_uuid = "";
	ci.client.sin_family = AF_INET;
	inet_pton(AF_INET, client, &ci.client.sin_addr);
	ci.client.sin_port = htons(40000);
	ci.server.sin_family = AF_INET;
	inet_pton(AF_INET, server, &ci.server.sin_addr);
	ci.server.sin_port = htons((uint16_t)port);
	ci.local.sin_family = AF_INET;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return -errno;
	/* Bind to the address that reaches the server, as the proxy does. */
	if (bind(fd, (struct sockaddr *)&ci.local, sizeof(ci.local)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ci.local, &len) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	ci.fd = fd;
	clone_conn_hook_ops.on_connect(ce, &ci);
	if (connect(fd, (struct sockaddr *)&ci.server, sizeof(ci.server)) == -1) {
		r = -errno;
		close(fd);
		clone_conn_hook_ops.on_close(ce, &ci);
		return r;
	}
	/* The kernel picked the source address at connect(). */
	getsockname(fd, (struct sockaddr *)&ci.local, &len);
	r = http_get(fd, server);
	close(fd);
	clone_conn_hook_ops.on_close(ce, &ci);
	return r;
}

int main(void)
{
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
		} else if (sscanf(line, "conn %ld %255s %255s %d %ld", &id, a, b, &port, &n) == 5) {
			for (i = 0; i < n; i++) {
				r = one_conn(ce, id, a, b, port);
				if (r < 0)
					printf("# conn %ld: %s\n", i, strerror(-r));
				else {
					ok++;
					bytes += r;
				}
			}
			printf("ok %d %ld\n", ok, bytes);
		} else if (sscanf(line, "hc %255s %d", a, &port) == 2) {
			struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			inet_pton(AF_INET, a, &sin.sin_addr);
			r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
			if (r == 0)
				r = http_get(fd, a);
			close(fd);
			printf("ok %d\n", r);
		} else if (sscanf(line, "stats %255s %255s", a, c) >= 1) {
			json_t *st = clone_stats(ce, a, strcmp(c, "detail") == 0);
			char *s = st ? json_dumps(st, JSON_COMPACT) : NULL;

			printf("%s\n", s ? s : "null");
			free(s);
			json_decref(st);
		} else if (strncmp(line, "metrics", 7) == 0) {
			clone_metrics(ce, stdout);
			printf(".\n");
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
