/* vip.h: the VIP addresses an SE of an HA_MODE_SHARED group holds on lo. */
#ifndef CLONELB_SE_VIP_H
#define CLONELB_SE_VIP_H

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

#endif
