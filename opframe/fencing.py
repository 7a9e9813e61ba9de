"""Leader-guarded writes: re-check the Lease immediately before each write.

Leader election (:mod:`opframe.leaderelection`) makes one replica run the controllers. It
does not stop a reconcile that is already running when the lease is lost: a process frozen
(GC pause, SIGSTOP, a slow node) past its renew deadline wakes up still "inside" a reconcile
that passed its checks long ago. A *fence* narrows that window: before each write, ask
whether this process still holds the Lease **and** renewed it within its renew deadline, and
refuse the write with :class:`NotLeader` otherwise::

    async def reconcile(ctx: Context, cluster: EtcdCluster) -> Result | None:
        plan = decide(...)
        ctx.fence()                          # before a write opframe's client does not make
        await etcd.member_remove(plan.member)
        await ctx.client.patch_status(...)   # ctx.client checks by itself under a Manager
                                             # with leader election

With a :class:`~opframe.Manager` running leader election, ``ctx.client`` is already fenced
(every create, replace, patch, apply, delete and status write checks first) and
``ctx.fence()`` checks the same thing for writes made elsewhere (etcd, cloud APIs). Without
leader election both are no-ops.

What it guarantees: no write *starts* after this process has gone ``renew_deadline`` without
renewing the Lease (by its own monotonic clock), which is before any other candidate may take
the Lease (``lease_duration`` > ``renew_deadline``, measured by the other candidate from when
it saw our last renewal).

What it does **not** guarantee: a write that passed the check can still be delivered late (a
freeze between the check and the send, a slow network, a retry inside the HTTP client) and
land after another leader started. Closing that gap needs the *receiver* to reject stale
leaders: a fencing token bound to the lease (for etcd, a transaction conditioned on a key
written under the leader's lease revision; for Kubernetes objects, ``resourceVersion``
preconditions, which optimistic concurrency gives every update). The fence makes the window
milliseconds wide instead of a whole reconcile wide; it does not make it zero.
"""

from __future__ import annotations

from collections.abc import Callable

from opframe.errors import OpframeError

__all__ = ["Fence", "NotLeader"]

Fence = Callable[[], None]
"""Raises :class:`NotLeader` when writes must stop; returns when they may go on."""


class NotLeader(OpframeError):
    """A write was refused: this process no longer holds (or cannot vouch for) its Lease.

    Not retried by controllers: the new leader reconciles the object from its own cache.
    """


def no_fence() -> None:
    """The fence without leader election: every write may go on."""
