"""The steps the planner can choose: one frozen dataclass per kind of step.

Each class says, as class constants, the cluster phase it implies (``default_phase``) and
whether executing it changes anything (``mutates``). A step whose phase depends on why it was
chosen (removing a member to scale down or to heal) carries ``phase_name``::

    RemoveMember("pod demo-2 is gone", member_id=0x1f, pod="demo-2", phase_name="Healing").phase
    # 'Healing'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "Action",
    "AddMember",
    "Bootstrap",
    "CreatePod",
    "DeletePod",
    "MoveLeader",
    "PromoteMember",
    "RecreatePod",
    "Refuse",
    "RemoveMember",
    "RestoreMember",
    "RollbackMember",
    "Steady",
    "UpgradeMember",
    "Wait",
]


@dataclass(frozen=True)
class Action:
    """Base of every planned step; ``reason`` says why, in words for Events and conditions."""

    reason: str
    phase_name: str = field(default="", kw_only=True)
    """Overrides ``default_phase`` where the same step serves several phases."""

    default_phase: ClassVar[str] = "Running"
    mutates: ClassVar[bool] = True
    """Whether executing this action changes anything (Events are recorded for those)."""

    @property
    def phase(self) -> str:
        """The phase reported in status while this step is the next one."""
        return self.phase_name or self.default_phase


@dataclass(frozen=True)
class _PodStep(Action):
    """A step on one pod, named by ``pod``."""

    pod: str


@dataclass(frozen=True)
class _PodVersionStep(_PodStep):
    """A step that starts ``pod`` on etcd ``version``."""

    version: str


@dataclass(frozen=True)
class _MemberStep(_PodStep):
    """A step on a registered member: its etcd ``member_id`` and its ``pod``."""

    member_id: int


@dataclass(frozen=True)
class Bootstrap(_PodVersionStep):
    """Create the seed pod with ``--initial-cluster-state=new`` (the cluster has never formed)."""

    default_phase: ClassVar[str] = "Creating"


@dataclass(frozen=True)
class RestoreMember(_PodVersionStep):
    """Create the pod of an initial member of a restored cluster, its data dir restored from
    the snapshot with ``members`` as the initial cluster (``spec.bootstrap.fromBackup``)."""

    members: tuple[str, ...]
    default_phase: ClassVar[str] = "Creating"


@dataclass(frozen=True)
class CreatePod(_PodVersionStep):
    """Create the pod of a member already registered in etcd (state ``existing``).

    ``sealed``: the member has started before (its pod comes back on its volume), whether or
    not the live member list could be read."""

    sealed: bool = False
    default_phase: ClassVar[str] = "Scaling"


@dataclass(frozen=True)
class AddMember(_PodVersionStep):
    """``member add`` (as a learner where supported) before the new member's pod exists.

    ``version`` is what the new member runs: the cluster's current (lowest) version, so a
    member never joins on a version the cluster has not been upgraded to yet.
    """

    peer_url: str
    learner: bool
    default_phase: ClassVar[str] = "Scaling"


@dataclass(frozen=True)
class PromoteMember(_MemberStep):
    """``member promote`` of a learner that has caught up with the leader."""

    default_phase: ClassVar[str] = "Scaling"


@dataclass(frozen=True)
class RemoveMember(_MemberStep):
    """``member remove``; then its pod (``""`` for a member that maps to no pod) is deleted."""

    peer_url: str = ""
    """The member's peer URL as planned: checked against the live member list first."""
    default_phase: ClassVar[str] = "Scaling"

    @property
    def replacement(self) -> bool:
        """A removal to replace a lost or broken member (bounded by the replacement budget)."""
        return self.phase == "Healing"


@dataclass(frozen=True)
class DeletePod(_PodStep):
    """Delete a pod that is not (or no longer) a member."""

    default_phase: ClassVar[str] = "Scaling"


@dataclass(frozen=True)
class MoveLeader(Action):
    """Transfer leadership before the leader is removed or restarted."""

    from_id: int
    to_id: int
    default_phase: ClassVar[str] = "Scaling"


@dataclass(frozen=True)
class UpgradeMember(_MemberStep):
    """Restart one member on a new version, keeping its data."""

    version: str
    default_phase: ClassVar[str] = "Upgrading"


@dataclass(frozen=True)
class RecreatePod(_MemberStep):
    """Delete a started member's pod but keep its volume: the heal step recreates the pod from
    the current spec on the same data, so the member restarts with new settings."""

    default_phase: ClassVar[str] = "Upgrading"


@dataclass(frozen=True)
class RollbackMember(_MemberStep):
    """Put a member whose new image cannot be pulled or started back on its previous version.

    Its data is intact (the pod was never deleted), so it restarts as the same member; the
    failed version is recorded in status and not tried again until ``spec.version`` changes.
    """

    version: str
    failed_version: str
    default_phase: ClassVar[str] = "Upgrading"


@dataclass(frozen=True)
class Wait(Action):
    """Nothing safe to do now; look again later.

    ``degraded`` flags quorum trouble; ``code`` names a condition reason worth a Warning Event
    (``ImagePullBackOff``, ``ReplacementBudgetExhausted``), ``""`` for an ordinary wait.
    """

    degraded: bool = False
    code: str = ""
    mutates: ClassVar[bool] = False


@dataclass(frozen=True)
class Refuse(Action):
    """The spec asks for something unsafe or unsupported, or the etcd answering is not this
    cluster; nothing is done.

    ``code`` is the reason reported in the ``Progressing`` condition and the Warning Event.
    """

    code: str = "UpgradeRefused"
    mutates: ClassVar[bool] = False


@dataclass(frozen=True)
class Steady(Action):
    """The cluster matches its spec."""

    mutates: ClassVar[bool] = False
