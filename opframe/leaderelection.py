"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm.

Several replicas of an operator run; one holds the Lease and reconciles, the others wait::

    elector = LeaderElector(client, LeaderElectionConfig(name="web-operator", namespace="ops"))
    await elector.acquire()          # returns once this process leads
    try:
        ...                          # run controllers while `await elector.hold()` renews
    finally:
        await elector.release()      # hand over at once instead of after lease_duration

The rules (as client-go's ``leaderelection`` package):

- a candidate takes the Lease when nobody holds it, or when the holder's record has not
  changed for ``leaseDurationSeconds`` *as measured by the candidate's own clock* from when it
  first saw that record (clocks of different machines are never compared);
- every write carries the Lease's ``resourceVersion``, so two candidates racing for it cannot
  both win (the loser gets ``409 Conflict``);
- the leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it stops
  leading (:class:`LeadershipLost`). Since ``renew_deadline < lease_duration``, it has stopped
  before anyone else may take over, so two leaders never overlap;
- releasing clears ``holderIdentity`` so a standby takes over on its next try.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from opframe._logging import logger_for
from opframe.client import Client
from opframe.errors import AlreadyExists, ApiError, Conflict, NotFound, OpframeError
from opframe.fencing import NotLeader
from opframe.kinds import Lease, LeaseSpec
from opframe.metrics import Metrics
from opframe.resource import ObjectMeta

__all__ = ["LeaderElectionConfig", "LeaderElector", "LeadershipLost", "default_identity"]

# client-go's JitterFactor for the acquire loop: waits between retry_period and 2.2x that.
_JITTER = 1.2


def default_identity() -> str:
    """``<hostname>_<uuid>``, as controller-runtime: unique even for two processes on one host."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Where the Lease lives and how leadership is timed.

    Attributes:
        name: the Lease's name (one per operator, e.g. ``"web-operator"``).
        namespace: the Lease's namespace.
        identity: this candidate's identity (default: hostname plus a random uuid).
        lease_duration: how long a standby waits after the last renewal it saw before taking
            over (seconds; written to the Lease rounded up to whole seconds).
        renew_deadline: how long the leader keeps trying to renew before it gives up leading.
        retry_period: how often candidates try to acquire and the leader renews.
        release_on_cancel: clear the Lease's holder on shutdown so a standby takes over at once.
    """

    name: str
    namespace: str = "default"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("LeaderElectionConfig needs the Lease's name")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > _JITTER * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 * retry_period")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")


class LeadershipLost(OpframeError):
    """The leader could not renew its Lease within ``renew_deadline``; it no longer leads.

    A manager stops its controllers and raises this from ``run()``, so that the process exits
    and restarts as a standby (as controller-runtime does).
    """


class LeaderElector:
    """Acquires, renews and releases one Lease for one candidate.

    Args:
        client: the API client.
        config: the Lease and its timing.
        metrics: where to report ``leader_election_master_status``.
    """

    def __init__(
        self, client: Client, config: LeaderElectionConfig, *, metrics: Metrics | None = None
    ) -> None:
        self.client = client
        self.config = config
        self._metrics = metrics
        self._leading = False
        self._lease: Lease | None = None  # our last successful write
        self._observed: tuple[object, ...] | None = None  # the last holder record we saw
        self._observed_at = 0.0  # our clock when it changed
        self._renewed_at = 0.0  # our clock when the last successful write was *sent*
        self._log = logger_for(
            "leaderelection", lease=f"{config.namespace}/{config.name}", identity=config.identity
        )
        if metrics is not None:
            metrics.set_leader(config.name, False)

    @property
    def is_leader(self) -> bool:
        """True between a successful :meth:`acquire` and losing or releasing the Lease."""
        return self._leading

    def holds_lease(self) -> bool:
        """Leading, and the last renewal was sent less than ``renew_deadline`` ago.

        Measured on this process's monotonic clock from when the renewal request was sent;
        a standby may take over only ``lease_duration`` (longer) after it saw that renewal.
        """
        if not self._leading:
            return False
        loop = asyncio.get_running_loop()
        return loop.time() - self._renewed_at < self.config.renew_deadline

    def fence(self) -> None:
        """Raise :class:`~opframe.fencing.NotLeader` unless :meth:`holds_lease` (see
        :mod:`opframe.fencing` for what this does and does not guarantee)."""
        if self.holds_lease():
            return
        cfg = self.config
        if not self._leading:
            raise NotLeader(f"not the leader of lease {cfg.namespace}/{cfg.name}: write refused")
        age = asyncio.get_running_loop().time() - self._renewed_at
        raise NotLeader(
            f"lease {cfg.namespace}/{cfg.name} last renewed {age:.1f}s ago, past "
            f"renew_deadline={cfg.renew_deadline}s: write refused (another replica may lead)"
        )

    async def acquire(self) -> None:
        """Try every ``retry_period`` (jittered) until this candidate holds the Lease."""
        self._log.info("waiting to acquire the lease")
        while True:
            if await self._try_acquire_or_renew():
                self._set_leading(True)
                self._log.info("acquired the lease")
                return
            period = self.config.retry_period
            await asyncio.sleep(period + random.uniform(0, _JITTER * period))

    async def hold(self) -> NoReturn:
        """Renew the Lease every ``retry_period`` until cancelled.

        Raises:
            LeadershipLost: no renewal succeeded within ``renew_deadline``; leadership is
                already given up (``is_leader`` is False) when this is raised.
        """
        loop = asyncio.get_running_loop()
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.retry_period)
            deadline = self._renewed_at + cfg.renew_deadline
            while True:
                remaining = deadline - loop.time()
                renewed = False
                if remaining > 0:
                    try:
                        async with asyncio.timeout(remaining):
                            renewed = await self._try_acquire_or_renew()
                    except TimeoutError:
                        renewed = False
                if renewed:
                    break
                if loop.time() >= deadline:
                    self._set_leading(False)
                    self._log.error("could not renew the lease within %ss", cfg.renew_deadline)
                    raise LeadershipLost(
                        f"lost the lease {cfg.namespace}/{cfg.name}: no renewal within "
                        f"renew_deadline={cfg.renew_deadline}s"
                    )
                await asyncio.sleep(min(cfg.retry_period, max(0.0, deadline - loop.time())))

    async def release(self) -> None:
        """Give the Lease up (clear ``holderIdentity``) if this candidate holds it.

        Best effort, bounded by ``renew_deadline``: a failure is logged, and the Lease then
        expires after ``lease_duration`` as if the process had died.
        """
        was_leading = self._leading
        self._set_leading(False)
        lease = self._lease
        if not was_leading or lease is None or not self.config.release_on_cancel:
            return
        now = datetime.now(UTC)
        lease.spec = LeaseSpec(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=now,
            renew_time=now,
            lease_transitions=lease.spec.lease_transitions,
        )
        try:
            async with asyncio.timeout(self.config.renew_deadline):
                await self.client.replace(lease)
        except Conflict:
            self._log.info("lease changed before release; someone else holds it already")
        except (ApiError, OSError, TimeoutError) as exc:
            self._log.warning("could not release the lease, it will expire instead: %s", exc)
        else:
            self._log.info("released the lease")
        self._lease = None

    # -- internals ----------------------------------------------------------------------------

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        if self._metrics is not None:
            self._metrics.set_leader(self.config.name, leading)

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        now = datetime.now(UTC)
        duration = max(1, math.ceil(cfg.lease_duration))
        try:
            lease = await self.client.get(Lease, cfg.name, cfg.namespace)
        except NotFound:
            fresh = Lease(
                metadata=ObjectMeta(name=cfg.name, namespace=cfg.namespace),
                spec=LeaseSpec(
                    holder_identity=cfg.identity,
                    lease_duration_seconds=duration,
                    acquire_time=now,
                    renew_time=now,
                    lease_transitions=0,
                ),
            )
            return await self._write(self.client.create(fresh), "creating", sent_at)
        except (ApiError, OSError) as exc:
            self._log.warning("error reading the lease: %s", exc)
            return False

        spec = lease.spec
        record = _holder_record(spec)
        if record != self._observed:
            self._observed = record
            self._observed_at = loop.time()
        holder = spec.holder_identity or ""
        if holder and holder != cfg.identity:
            held_for = spec.lease_duration_seconds or duration
            if self._observed_at + held_for > loop.time():
                return False  # someone else holds a lease that has not expired (by our clock)
        transitions = spec.lease_transitions or 0
        lease.spec = LeaseSpec(
            holder_identity=cfg.identity,
            lease_duration_seconds=duration,
            acquire_time=spec.acquire_time if holder == cfg.identity else now,
            renew_time=now,
            lease_transitions=transitions if holder == cfg.identity else transitions + 1,
        )
        return await self._write(self.client.replace(lease), "updating", sent_at)

    async def _write(self, request: Awaitable[Lease], doing: str, sent_at: float) -> bool:
        """Send a lease write; ``True`` when it was stored (another writer won on a clash)."""
        try:
            lease = await request
        except (AlreadyExists, Conflict):
            return False
        except (ApiError, OSError) as exc:
            self._log.warning("error %s the lease: %s", doing, exc)
            return False
        self._written(lease, sent_at)
        return True

    def _written(self, lease: Lease, sent_at: float) -> None:
        self._lease = lease
        self._observed = _holder_record(lease.spec)
        self._observed_at = sent_at
        # Measured from when the request was sent: the server may have stored it any time
        # after, and a standby's lease clock starts no earlier than that.
        self._renewed_at = sent_at


def _holder_record(spec: LeaseSpec) -> tuple[object, ...]:
    """The fields whose change means the holder is alive (client-go's observed record)."""
    return (
        spec.holder_identity,
        spec.lease_duration_seconds,
        spec.acquire_time,
        spec.renew_time,
        spec.lease_transitions,
    )
