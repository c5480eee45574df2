/* px_ring.c: a worker's io_uring, which hands the kernel a batch of socket receives, or of sends, in one system call. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "proxy/px_int.h"

struct px_ring {
	struct io_uring ur;
	unsigned depth;
	unsigned queued; /* operations prepared since the last px_ring_run() */
	/* Of each prepared operation, in order: the caller's data, and whether
	 * its completion was reaped. */
	uint64_t *data;
	bool *reaped;
};

/*
 * The relay needs every operation of a batch done when px_ring_run() returns:
 * its buffers are reused at once. A receive or send with MSG_DONTWAIT on a
 * non-blocking socket completes within the submitting system call, with
 * -EAGAIN when the socket has nothing (or no room), instead of waiting in the
 * ring. This checks that the kernel behaves so, on a socket pair: a receive
 * on an empty socket and a one-byte send must both have completed when
 * io_uring_submit() returns. Returns 0, or -errno with *ret_why.
 */
static int ring_probe(struct px_ring *r, const char **ret_why)
{
	static char rbuf[1]; /* static: an operation left in the ring keeps it valid */
	struct io_uring_sqe *q;
	struct io_uring_cqe *c;
	int sp[2], got = 0, ok = 0, ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == -1) {
		*ret_why = "socketpair() failed";
		return -errno;
	}
	q = io_uring_get_sqe(&r->ur);
	io_uring_prep_recv(q, sp[0], rbuf, sizeof(rbuf), MSG_DONTWAIT);
	io_uring_sqe_set_data64(q, 0);
	q = io_uring_get_sqe(&r->ur);
	io_uring_prep_send(q, sp[1], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	io_uring_sqe_set_data64(q, 1);
	ret = io_uring_submit(&r->ur);
	while (ret == 2 && io_uring_peek_cqe(&r->ur, &c) == 0) {
		ok += c->user_data == 0 ? c->res == -EAGAIN : c->res == 1;
		got++;
		io_uring_cqe_seen(&r->ur, c);
	}
	close(sp[0]);
	close(sp[1]);
	if (ret < 0) {
		*ret_why = "it refuses a socket receive or send";
		return ret;
	}
	if (got != 2 || ok != 2) {
		*ret_why = "its socket receives and sends do not complete at once";
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Opens a ring for batches of up to @depth operations and checks that it
 * completes socket operations at once (ring_probe()). Returns 0 with *ret
 * (release with px_ring_close()), or -errno with *ret_why, a static string
 * saying why it cannot be used.
 */
int px_ring_open(unsigned depth, struct px_ring **ret, const char **ret_why)
{
	struct px_ring *r = xcalloc(1, sizeof(*r));
	int err;

	err = io_uring_queue_init(depth, &r->ur, 0);
	if (err < 0) {
		/* ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or a
		 * seccomp filter; ENOMEM: RLIMIT_MEMLOCK on older kernels. */
		*ret_why = strerror(-err);
		free(r);
		return err;
	}
	err = ring_probe(r, ret_why);
	if (err < 0) {
		io_uring_queue_exit(&r->ur);
		free(r);
		return err;
	}
	r->depth = depth;
	r->data = xcalloc(depth, sizeof(*r->data));
	r->reaped = xcalloc(depth, sizeof(*r->reaped));
	*ret = r;
	return 0;
}

/* Closes @r; NULL is accepted. */
void px_ring_close(struct px_ring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ur);
	free(r->data);
	free(r->reaped);
	free(r);
}

/* The next submission queue entry, for operation @data; NULL when the ring
 * holds @depth operations already. */
static struct io_uring_sqe *ring_sqe(struct px_ring *r, uint64_t data)
{
	struct io_uring_sqe *q = r->queued < r->depth ? io_uring_get_sqe(&r->ur) : NULL;

	if (!q)
		return NULL;
	io_uring_sqe_set_data64(q, r->queued);
	r->data[r->queued] = data;
	r->reaped[r->queued++] = false;
	return q;
}

/*
 * Prepares a receive of up to @len bytes from socket @fd into @buf, which
 * must stay valid until px_ring_run(); @data comes back with its result.
 * Returns 0, or -EBUSY when the ring holds @depth operations already.
 */
int px_ring_recv(struct px_ring *r, int fd, void *buf, size_t len, uint64_t data)
{
	struct io_uring_sqe *q = ring_sqe(r, data);

	if (!q)
		return -EBUSY;
	io_uring_prep_recv(q, fd, buf, len, MSG_DONTWAIT);
	return 0;
}

/* Prepares a send of @len bytes of @buf to socket @fd with @flags (plus
 * MSG_DONTWAIT and MSG_NOSIGNAL), as px_ring_recv() does a receive. */
int px_ring_send(struct px_ring *r, int fd, const void *buf, size_t len, int flags, uint64_t data)
{
	struct io_uring_sqe *q = ring_sqe(r, data);

	if (!q)
		return -EBUSY;
	io_uring_prep_send(q, fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
	return 0;
}

/*
 * Submits what was prepared and reaps every completion, calling @done with
 * each operation's data and result (bytes, or -errno). Returns 0, or -errno
 * when the ring must be given up (px_ring_close()): then the operations that
 * got no @done call were never run, and the caller runs them with plain
 * system calls; one the kernel took but whose completion cannot be reaped
 * gets -EIO, as its effect is unknown.
 */
int px_ring_run(struct px_ring *r, void (*done)(void *ctx, uint64_t data, int res), void *ctx)
{
	unsigned want = r->queued, got = 0;
	int ret, err = 0;

	if (!want)
		return 0;
	r->queued = 0;
	do
		ret = io_uring_submit(&r->ur);
	while (ret == -EINTR);
	if (ret < 0)
		return ret;
	/* MSG_DONTWAIT makes each operation complete inside the submission
	 * (ring_probe()); waiting is only a safeguard. */
	while (got < (unsigned)ret) {
		struct io_uring_cqe *c;

		err = io_uring_peek_cqe(&r->ur, &c);
		if (err == -EAGAIN)
			err = io_uring_wait_cqe(&r->ur, &c);
		if (err == -EINTR)
			continue;
		if (err < 0)
			break;
		if (c->user_data < want && !r->reaped[c->user_data]) {
			r->reaped[c->user_data] = true;
			done(ctx, r->data[c->user_data], c->res);
			got++;
		}
		io_uring_cqe_seen(&r->ur, c);
	}
	if (err < 0)
		for (unsigned i = 0; i < (unsigned)ret; i++)
			if (!r->reaped[i])
				done(ctx, r->data[i], -EIO);
	/* Entries the kernel did not take would run at the next submission,
	 * on buffers reused by then: the ring cannot go on. */
	if (err < 0 || (unsigned)ret < want)
		return err < 0 ? err : -EBUSY;
	return 0;
}
