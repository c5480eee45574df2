/* clone_tc.c: attaching and detaching the clone program on tc clsact hooks, and removing a crashed run's filters. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bpf/clone.skel.h"
#include "clone/clone_int.h"
#include "lib/netif.h"
#include "lib/util.h"

/* Detaches our filter at @handle (CLONE_TC_HANDLE or CLONE_TC_DELIVER_HANDLE,
 * whose priority has the same value) from one hook; -ENOENT when there is none. */
static int detach_at(int ifindex, enum bpf_tc_attach_point where, __u32 handle)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = handle);

	return bpf_tc_detach(&hook, &opts);
}

static int detach_one(int ifindex, enum bpf_tc_attach_point where)
{
	return detach_at(ifindex, where, CLONE_TC_HANDLE);
}

/*
 * Attaches clone_ingress and clone_egress to the clsact hooks of @ifindex
 * (creating the clsact qdisc unless it exists), replacing a filter of ours
 * that is already there. Returns 0, or -errno with *ret_err, having undone
 * whatever it did.
 */
int clone_tc_attach(struct clone_engine *ce, int ifindex, char **ret_err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, in_opts, .handle = CLONE_TC_HANDLE,
			    .priority = CLONE_TC_PRIORITY, .flags = BPF_TC_F_REPLACE);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, eg_opts, .handle = CLONE_TC_HANDLE,
			    .priority = CLONE_TC_PRIORITY, .flags = BPF_TC_F_REPLACE);
	char ifname[IF_NAMESIZE] = "?";
	int r;

	if_indextoname(ifindex, ifname);
	/* One clsact qdisc holds both hooks; it may exist already (ours from a
	 * crash, or somebody else's): share it. */
	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST) {
		*ret_err = xasprintf("clsact qdisc on %s: %s", ifname, strerror(-r));
		return r;
	}
	in_opts.prog_fd = bpf_program__fd(ce->skel->progs.clone_ingress);
	r = bpf_tc_attach(&hook, &in_opts);
	if (r < 0) {
		*ret_err = xasprintf("tc ingress filter on %s: %s", ifname, strerror(-r));
		goto fail;
	}
	hook.attach_point = BPF_TC_EGRESS;
	eg_opts.prog_fd = bpf_program__fd(ce->skel->progs.clone_egress);
	r = bpf_tc_attach(&hook, &eg_opts);
	if (r < 0) {
		*ret_err = xasprintf("tc egress filter on %s: %s", ifname, strerror(-r));
		goto fail_ingress;
	}
	return 0;

fail_ingress:
	detach_one(ifindex, BPF_TC_INGRESS);
fail:
	return r;
}

/* Detaches both of our filters from @ifindex. The clsact qdisc stays: other
 * programs may share it, and an empty one costs nothing. */
void clone_tc_detach(struct clone_engine *ce, int ifindex)
{
	detach_one(ifindex, BPF_TC_INGRESS);
	detach_one(ifindex, BPF_TC_EGRESS);
}

/*
 * Attaches clone_deliver to the egress hook of clone interface @ifindex, at a
 * priority that runs before clone_egress if that is there too. Returns 0 or
 * -errno with *ret_err.
 */
int clone_tc_attach_deliver(struct clone_engine *ce, int ifindex, char **ret_err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CLONE_TC_DELIVER_HANDLE,
			    .priority = CLONE_TC_DELIVER_PRIORITY, .flags = BPF_TC_F_REPLACE);
	char ifname[IF_NAMESIZE] = "?";
	int r;

	if_indextoname(ifindex, ifname);
	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST) {
		*ret_err = xasprintf("clsact qdisc on %s: %s", ifname, strerror(-r));
		return r;
	}
	opts.prog_fd = bpf_program__fd(ce->skel->progs.clone_deliver);
	r = bpf_tc_attach(&hook, &opts);
	if (r < 0)
		*ret_err = xasprintf("tc egress filter clone_deliver on %s: %s", ifname, strerror(-r));
	return r;
}

/* Detaches clone_deliver from @ifindex. */
void clone_tc_detach_deliver(int ifindex)
{
	detach_at(ifindex, BPF_TC_EGRESS, CLONE_TC_DELIVER_HANDLE);
}

/* Whether the filter at our @handle/priority runs one of our programs. */
static int is_ours_at(int ifindex, enum bpf_tc_attach_point where, __u32 handle)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = handle);
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd, ours;

	if (bpf_tc_query(&hook, &opts) < 0)
		return 0;
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	       (strcmp(info.name, "clone_ingress") == 0 || strcmp(info.name, "clone_egress") == 0 ||
		strcmp(info.name, "clone_deliver") == 0);
	close(fd);
	return ours;
}

static int is_ours(int ifindex, enum bpf_tc_attach_point where)
{
	return is_ours_at(ifindex, where, CLONE_TC_HANDLE);
}

/* Whether clone_deliver is on the egress of @ifindex. */
bool clone_tc_deliver_present(int ifindex)
{
	return is_ours_at(ifindex, BPF_TC_EGRESS, CLONE_TC_DELIVER_HANDLE);
}

/* Whether both of our filters are on @ifindex (somebody may have deleted one
 * with tc, or the interface may have been recreated). */
bool clone_tc_present(int ifindex)
{
	return is_ours(ifindex, BPF_TC_INGRESS) && is_ours(ifindex, BPF_TC_EGRESS);
}

/*
 * Removes, on every interface of this network namespace, the filters an
 * earlier clonelbd left (same tc handle and priority, program named
 * clone_ingress, clone_egress or clone_deliver); anybody else's filters are
 * left alone.
 * Returns how many clone_ingress/clone_egress filters it removed (the
 * clone_deliver ones in *ret_deliver), -EBUSY (removing nothing) when another live
 * process holds the namespace's claim (NETIF_NETNS_CLAIM), or -errno if the
 * interfaces cannot be listed.
 */
int clone_tc_remove_stale(int *ret_deliver)
{
	enum bpf_tc_attach_point where[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
	struct if_nameindex *ifs, *i;
	pid_t owner = 0;
	int n = 0, w;

	/* Filters are stale only if no live clonelbd owns this namespace (it
	 * holds the claim for as long as it lives; see clonelbd.c). */
	if (netif_netns_owner(NETIF_NETNS_CLAIM, &owner) == 1 && owner != getpid())
		return -EBUSY;
	ifs = if_nameindex();
	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		for (w = 0; w < 2; w++)
			if (is_ours((int)i->if_index, where[w]) &&
			    detach_one((int)i->if_index, where[w]) == 0)
				n++;
		if (clone_tc_deliver_present((int)i->if_index) &&
		    detach_at((int)i->if_index, BPF_TC_EGRESS, CLONE_TC_DELIVER_HANDLE) == 0)
			(*ret_deliver)++;
	}
	if_freenameindex(ifs);
	return n;
}
