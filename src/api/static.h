/* static.h: the web UI's static files, served by clonelbd itself. */
#ifndef CLONELB_API_STATIC_H
#define CLONELB_API_STATIC_H

#include <microhttpd.h>
#include <stdbool.h>

/*
 * Serves @url from directory @root (NULL: 404). Paths with ".." are refused.
 * When @authorized is false only the login page and its assets are served;
 * any other page gets the login page.
 */
enum MHD_Result api_static(const char *root, struct MHD_Connection *c, const char *url,
			   bool authorized);

#endif
