/* vip.h: the VIP addresses an SE holds: on lo (HA_MODE_SHARED), or on a front interface (active/standby). */
#ifndef CLONELB_SE_VIP_H
#define CLONELB_SE_VIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"

/* The label of every address clonelbd adds to lo: what a later run (after
 * a crash) recognises as its own and removes. */
#define SE_VIP_LABEL "lo:clonelb"
/* The address protocol (IFA_PROTO) of the same addresses: the mark an IPv6
 * address, which has no label, is recognised by. */
#define SE_VIP_PROTO 0xc1

/* At most this many VIPs are held on lo at once. */
#define SE_VIP_MAX 1024

/*
 * Makes the /32 and /128 addresses on lo marked as ours exactly @want (@nwant
 * IPv4 or IPv6 addresses, port 0): adds those missing, removes the
 * others. An address already on an interface of this network namespace
 * without the label belongs to the operator and is neither added nor removed.
 * se_vip_sync(NULL, 0, ...) removes every address clonelbd added. Returns 0,
 * or -errno with *ret_err (caller frees) naming the address.
 */
int se_vip_sync(const union addr_any *want, size_t nwant, char **ret_err);

/*
 * The same steps one at a time, for the active/standby VIPs (se_elect.c),
 * which sit on a front interface. se_vip_addr_change() adds (@add) or
 * removes @a as a /32 or /128 on interface @ifindex, an IPv4 one labelled
 * @label (NULL: none), both families with address protocol @proto, an IPv6
 * one without duplicate address detection. se_vip_marked() lists the /32 and
 * /128 addresses of every interface whose address protocol is @proto: up to
 * @max in @out and their interfaces in @out_if (may be NULL), how many in
 * *ret_n. Both return 0 or -errno (-EEXIST: already there, -EADDRNOTAVAIL:
 * already gone).
 */
int se_vip_addr_change(unsigned ifindex, const union addr_any *a, bool add, const char *label,
		       uint8_t proto);
int se_vip_marked(uint8_t proto, union addr_any *out, unsigned *out_if, size_t max, size_t *ret_n);

#endif
