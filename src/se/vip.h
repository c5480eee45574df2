/* vip.h: the VIP addresses an SE of an HA_MODE_SHARED group holds on lo. */
#ifndef CLONELB_SE_VIP_H
#define CLONELB_SE_VIP_H

#include <stddef.h>
#include <stdint.h>

/* The label of every address clonelbd adds to lo: what a later run (after
 * a crash) recognises as its own and removes. */
#define SE_VIP_LABEL "lo:clonelb"

/* At most this many VIPs are held on lo at once. */
#define SE_VIP_MAX 1024

/*
 * Makes the /32 addresses on lo labelled SE_VIP_LABEL exactly @want (@nwant
 * IPv4 addresses, network byte order): adds those missing, removes the
 * others. An address already on an interface of this network namespace
 * without the label belongs to the operator and is neither added nor removed.
 * se_vip_sync(NULL, 0, ...) removes every address clonelbd added. Returns 0,
 * or -errno with *ret_err (caller frees) naming the address.
 */
int se_vip_sync(const uint32_t *want, size_t nwant, char **ret_err);

#endif
