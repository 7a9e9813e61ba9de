"""etcd versions: parsing, ordering, and which upgrades etcd supports.

etcd supports patch upgrades and upgrades by exactly one minor version; it does not support
downgrades or skipping a minor (etcd.io, "Upgrading etcd clusters").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["UpgradeCheck", "Version", "check_upgrade", "supports_learners"]

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


@dataclass(frozen=True, order=True)
class Version:
    """A released etcd version ``major.minor.patch``."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``3.5.1`` or ``v3.5.1`` (a suffix such as ``-0`` of k8s images is ignored)."""
        m = _SEMVER.match(text.strip())
        if m is None:
            raise ValueError(f"not an etcd version: {text!r} (expected MAJOR.MINOR.PATCH)")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class UpgradeCheck:
    """The verdict on moving a member from one version to another."""

    allowed: bool
    reason: str = ""


def check_upgrade(current: str, target: str) -> UpgradeCheck:
    """Whether a member at ``current`` may be moved to ``target``.

    >>> check_upgrade("3.4.23", "3.5.1").allowed
    True
    >>> check_upgrade("3.5.1", "3.4.23").reason
    'downgrade from 3.5.1 to 3.4.23 is not supported'
    """
    cur, tgt = Version.parse(current), Version.parse(target)
    if tgt == cur:
        return UpgradeCheck(True)
    if tgt < cur:
        return UpgradeCheck(False, f"downgrade from {cur} to {tgt} is not supported")
    if tgt.major != cur.major:
        return UpgradeCheck(False, f"upgrade across major versions ({cur} to {tgt}) is unsupported")
    if tgt.minor - cur.minor > 1:
        return UpgradeCheck(
            False,
            f"upgrade from {cur} to {tgt} skips a minor version; "
            f"upgrade to {cur.major}.{cur.minor + 1}.x first",
        )
    return UpgradeCheck(True)


def supports_learners(version: str) -> bool:
    """Learner members (``member add --learner``, ``member promote``) exist from etcd 3.4."""
    v = Version.parse(version)
    return (v.major, v.minor) >= (3, 4)
