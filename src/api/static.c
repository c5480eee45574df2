/* static.c: serves the web UI's files from a directory; unauthenticated visitors get the login page. */
#include "api/static.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript"},
		     {".css", "text/css"},                   {".svg", "image/svg+xml"},
		     {".png", "image/png"},                  {".json", "application/json"},
		     {".ico", "image/x-icon"}};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static enum MHD_Result not_found(struct MHD_Connection *c)
{
	static const char body[] = "{\"error\": \"not found\"}\n";
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
	MHD_destroy_response(r);
	return ret;
}

/* True for what the login page itself needs. */
static bool public_asset(const char *url)
{
	return strcmp(url, "/login.html") == 0 || strncmp(url, "/assets/", 8) == 0 ||
	       strcmp(url, "/favicon.ico") == 0;
}

enum MHD_Result api_static(const char *root, struct MHD_Connection *c, const char *url,
			   bool authorized)
{
	struct MHD_Response *r;
	struct stat sb;
	enum MHD_Result ret;
	char *path;
	int fd;

	if (!root || strstr(url, ".."))
		return not_found(c);
	if (!authorized && !public_asset(url))
		url = "/login.html";
	else if (strcmp(url, "/") == 0)
		url = "/index.html";
	path = xasprintf("%s%s", root, url);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (fd != -1)
			close(fd);
		free(path);
		return not_found(c);
	}
	r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	MHD_add_response_header(r, "Content-Type", content_type(path));
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* The UI loads nothing but its own files and is never framed (an
	 * admin page in a frame invites click-jacking). Revalidate so an
	 * upgraded clonelbd's UI is not mixed with a cached older one. */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
				"base-uri 'none'; form-action 'self'");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	free(path);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
