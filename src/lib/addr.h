/* addr.h: a socket address of either family (IPv4 or IPv6) and its text forms ("a.b.c.d", "[x::y]:port"). */
#ifndef CLONELB_LIB_ADDR_H
#define CLONELB_LIB_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* One address with its port; the family is in sa.sa_family. */
union addr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* Room for an address in text, and for "[address]:port". */
#define ADDR_STRLEN INET6_ADDRSTRLEN
#define ADDR_PORT_STRLEN (INET6_ADDRSTRLEN + 8)

/*
 * Parses @text, an IPv4 ("10.0.0.1") or IPv6 ("fd00::1") address, with
 * inet_pton() (no port, no brackets, no zone). Returns AF_INET or AF_INET6
 * and, when @ret is not NULL, the address with port 0 in *ret; -EINVAL when
 * @text is neither (then *ret is untouched).
 */
int addr_parse(const char *text, union addr_any *ret);

/* The length to hand to bind()/connect() for @a's family. */
socklen_t addr_len(const union addr_any *a);

/* The port of @a in host byte order, and setting it. */
uint16_t addr_port(const union addr_any *a);
void addr_set_port(union addr_any *a, uint16_t port);

/* Whether @a and @b are the same family, address and port. */
bool addr_equal(const union addr_any *a, const union addr_any *b);

/* Whether @a is the unspecified address (0.0.0.0 or ::) or has no family. */
bool addr_is_any(const union addr_any *a);

/* The unspecified address of family @af (AF_INET or AF_INET6), port 0. */
void addr_any_of(int af, union addr_any *ret);

/*
 * The canonical text of @a's address alone ("fd00::1", RFC 5952 lower case,
 * as inet_ntop() writes it), in @buf; returns @buf ("?" for no family).
 */
const char *addr_ntop(const union addr_any *a, char buf[ADDR_STRLEN]);

/* "a.b.c.d:port" or "[x::y]:port" of @a in @buf; returns @buf. */
const char *addr_ntop_port(const union addr_any *a, char buf[ADDR_PORT_STRLEN]);

/* Canonical text of address @text (either family) in @buf, or NULL when it
 * is not one. IPv6 text has many spellings: stored and compared, it is this. */
const char *addr_canonical(const char *text, char buf[ADDR_STRLEN]);

/* Whether @a is an IPv6 link-local address (fe80::/10), which means nothing
 * without an interface. */
bool addr_is_link_local(const union addr_any *a);

#endif
