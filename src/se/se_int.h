/* se_int.h: the SE's state shared by its files (se.c, se_elect.c, se_garp.c). */
#ifndef CLONELB_SE_SE_INT_H
#define CLONELB_SE_SE_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "se/se.h"

struct se_elect;

struct se {
	char *name, *group;
	char uuid[320];
	struct cfg_store *st;
	struct cfg_etcd *e; /* NULL on SQLite: one SE, nothing to share */
	struct clone_engine *ce;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards stopping, kicked, snap */
	pthread_cond_t cond;
	bool stopping, kicked;
	json_t *snap; /* the configuration last applied (se_apply()) */
	/* The SE thread's own: */
	int64_t lease;
	char *published; /* stats text last written */
	bool failing;    /* etcd calls fail: logged once */
	bool following;  /* the store's watch was up at the last look */
	struct se_elect *el;
};

/* Logs the first failure of @what (@err) and the first success after. */
void se_note(struct se *se, const char *what, const char *err);

/* Elections of active/standby VIPs (se_elect.c), on the SE thread. */
void se_elect_init(struct se *se);
/* One round: holds what this SE wins, adds and removes addresses, sends
 * gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6) for
 * addresses just taken. */
void se_elect_run(struct se *se);
/* The lease expired: nothing is held any more (the keys are gone). */
void se_elect_lost(struct se *se);
/* Removes every VIP address this SE added (on stop). */
void se_elect_release(struct se *se);
void se_elect_free(struct se *se);

/*
 * Sends one gratuitous ARP request for @ip_be (network order) out of
 * @ifname through a raw AF_PACKET socket: sender and target address @ip_be,
 * sender MAC the interface's, to the broadcast address, so every neighbour
 * on the segment moves the address to this MAC. 0 or -errno.
 */
int se_garp_send(const char *ifname, uint32_t ip_be);

/*
 * The IPv6 counterpart: sends one unsolicited neighbour advertisement for
 * @ip (an address of @ifname, usable: no duplicate address detection
 * pending) out of @ifname to all nodes (ff02::1), from @ip, with the
 * override flag and the interface's MAC as target link-layer address, so
 * every neighbour that has an entry for @ip moves it to this MAC. 0 or
 * -errno.
 */
int se_na_send(const char *ifname, const struct in6_addr *ip);

#endif
