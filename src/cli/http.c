/* http.c: the shell's REST client: HTTP/1.1 + JSON over clonelbd's Unix socket, with libcurl. */
#include "cli/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct cli_http {
	CURL *curl;
	char *socket_path;
};

struct buf {
	char *data;
	size_t len;
};

/* Answers larger than this are not an answer clonelbd gives. */
#define MAX_ANSWER (64u << 20)

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n > MAX_ANSWER)
		return 0;
	b->data = realloc(b->data, b->len + n + 1);
	if (!b->data)
		abort();
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = 0;
	return n;
}

int cli_http_open(const char *socket_path, struct cli_http **ret, char **ret_err)
{
	struct cli_http *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*ret_err = xstrdup("cannot initialise libcurl");
		return -ENOMEM;
	}
	h = xcalloc(1, sizeof(*h));
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		*ret_err = xstrdup("cannot initialise libcurl");
		return -ENOMEM;
	}
	h->socket_path = xstrdup(socket_path);
	*ret = h;
	return 0;
}

void cli_http_close(struct cli_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h->socket_path);
	free(h);
	curl_global_cleanup();
}

int cli_http_request(void *ctx, const char *method, const char *path, const char *tenant,
		     const json_t *body, json_t **ret_body, char **ret_err)
{
	struct cli_http *h = ctx;
	struct curl_slist *hdrs = NULL;
	struct buf b = {0};
	char *url, *text = NULL, *th;
	long status = 0;
	CURLcode rc;

	/* Reset keeps the connection cache, so one socket serves a whole session. */
	curl_easy_reset(h->curl);
	url = xasprintf("http://localhost%s", path);
	th = xasprintf("X-Avi-Tenant: %s", tenant ? tenant : "admin");
	hdrs = curl_slist_append(hdrs, th);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	/* No "Expect: 100-continue" round trip for larger bodies (certificates). */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &b);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h->curl);
	curl_slist_free_all(hdrs);
	free(text);
	free(url);
	free(th);
	if (rc != CURLE_OK) {
		*ret_err = xasprintf("cannot talk to clonelbd on %s: %s (is clonelbd running? "
				     "--socket PATH)",
				     h->socket_path, curl_easy_strerror(rc));
		free(b.data);
		return rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	*ret_body = NULL;
	if (b.len) {
		json_error_t jerr;
		json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
		if (!v) {
			/* Keep what the server said, short, as the error text. */
			char *line = strndup(
			    b.data, strcspn(b.data, "\r\n") > 200 ? 200 : strcspn(b.data, "\r\n"));
			v = json_pack("{s:s}", "error",
				      status >= 300 ? line : "answer is not JSON");
			free(line);
		}
		*ret_body = v;
	}
	free(b.data);
	return (int)status;
}
