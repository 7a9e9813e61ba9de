"""The Deployment controller's arithmetic as a table (pure functions, no server).

Rules from kubernetes ``pkg/controller/deployment/util/deployment_util.go``
(``ResolveFenceposts``, ``NewRSNewReplicas``, ``EqualIgnoreHash``), ``rolling.go``
(``reconcileOldReplicaSets``), ``sync.go`` (``scale``) and ``pkg/controller/controller_utils.go``
(``ComputeHash``, ``ActivePods`` ordering).
"""

from __future__ import annotations

import pytest

from opframe.testing.controllers import _rollout as ro
from opframe.testing.controllers._util import compute_hash, selector_matches
from opframe.testing.controllers.replicaset import deletion_order
from tests.controllers._helpers import Obj


def _d(replicas: int, surge: object = "25%", unavailable: object = "25%") -> Obj:
    rolling = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "metadata": {"name": "d", "generation": 1},
        "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                                                     "rollingUpdate": rolling}},
    }  # fmt: skip


def _rs(name: str, replicas: int, available: int, created: str = "2026-01-01T00:00:00Z") -> Obj:
    return {
        "metadata": {"name": name, "creationTimestamp": created, "annotations": {}},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "availableReplicas": available},
    }


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable rounds down
        (4, "25%", "25%", (1, 1)),
        (1, "25%", "25%", (1, 0)),
        (3, 0, 0, (0, 1)),  # both zero: unavailable becomes 1 so the rollout can move
        (5, 2, "0%", (2, 0)),
        (10, "50%", 1, (5, 1)),
    ],
)
def test_fenceposts_round_surge_up_and_unavailable_down(
    replicas: int, surge: object, unavailable: object, expected: tuple[int, int]
) -> None:
    assert ro.fenceposts(_d(replicas, surge, unavailable)) == expected


def test_recreate_has_no_fenceposts() -> None:
    d = {"metadata": {}, "spec": {"replicas": 3, "strategy": {"type": "Recreate"}}}
    assert ro.fenceposts(d) == (0, 0)


def test_new_replicaset_grows_to_replicas_plus_surge_in_total() -> None:
    d = _d(10)  # surge 3
    old, new = _rs("old", 10, 10), _rs("new", 0, 0)
    assert ro.new_rs_replicas(d, [old, new], new) == 3
    grown = _rs("new", 3, 0)
    assert ro.new_rs_replicas(d, [old, grown], grown) == 3  # at 13 pods: no room


def test_old_replicasets_shrink_only_while_min_available_holds() -> None:
    d = _d(10)  # minAvailable 8
    old, new = _rs("old", 10, 10), _rs("new", 3, 0)
    # 13 pods, 3 new unavailable: 13 - 8 - 3 = 2 may go.
    assert ro.old_scale_down(d, [old, new], [old], new) == {"old": 8}


def test_unhealthy_old_pods_go_before_available_ones() -> None:
    d = _d(4, surge=0, unavailable=1)  # minAvailable 3
    broken, healthy, new = _rs("a", 2, 0), _rs("b", 2, 2, "2026-01-02T00:00:00Z"), _rs("n", 0, 0)
    # All pods 4, max scaled down 4 - 3 - 0 = 1 -> one unhealthy pod of "a" goes first.
    assert ro.old_scale_down(d, [broken, healthy, new], [broken, healthy], new) == {"a": 1}


def test_templates_equal_ignoring_the_pod_template_hash() -> None:
    a = {"metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}}, "spec": {"x": 1}}
    b = {"metadata": {"labels": {"app": "x"}}, "spec": {"x": 1}}
    assert ro.template_equal(a, b)
    assert not ro.template_equal(a, {**b, "spec": {"x": 2}})


def test_hash_changes_with_the_template_and_with_the_collision_count() -> None:
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
    h = compute_hash(t, None)
    assert h == compute_hash(dict(t), None)  # deterministic
    assert h != compute_hash(t, 1) != compute_hash(t, 2)
    assert h != compute_hash({**t, "spec": {"containers": [{"name": "d"}]}}, None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")  # SafeEncodeString: no vowels


def test_proportional_scaling_shares_new_replicas_by_size() -> None:
    """sync.go scale: 10 -> 15 mid-rollout (surge 3 -> 4) with 8 old + 5 new pods."""
    d = _d(15)
    d["status"] = {"replicas": 13}
    old = _rs("old", 8, 8)
    new = _rs("new", 5, 0, "2026-01-02T00:00:00Z")
    for rs in (old, new):
        rs["metadata"]["annotations"][ro.MAX_REPLICAS] = "13"
    sizes = ro.proportional_scale(d, new, [old])
    assert sum(sizes.values()) == 19  # replicas + surge
    assert sizes["old"] > 8 and sizes["new"] > 5


def test_one_active_replicaset_takes_all_replicas() -> None:
    assert ro.proportional_scale(_d(7), _rs("new", 3, 3), [_rs("old", 0, 0)]) == {"new": 7}


def _pod(name: str, *, node: str = "n", phase: str = "Running", ready: bool = True) -> Obj:
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def test_replicaset_deletes_unscheduled_then_pending_then_unready_pods_first() -> None:
    pods = [_pod("ready"), _pod("unready", ready=False), _pod("pending", phase="Pending"),
            _pod("unscheduled", node="", phase="Pending")]  # fmt: skip
    order = [p["metadata"]["name"] for p in deletion_order(pods)]
    assert order == ["unscheduled", "pending", "unready", "ready"]


def test_empty_selector_selects_nothing() -> None:
    assert not selector_matches({}, {"app": "x"})
    assert selector_matches({"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                            {"app": "x"})  # fmt: skip


def test_templates_compare_semantically_null_and_empty_as_absent() -> None:
    """kubectl rollout undo sends ``creationTimestamp: null``: still the same template."""
    a = {"metadata": {"creationTimestamp": None, "labels": {"app": "x"}}, "spec": {"r": {}}}
    b = {"metadata": {"labels": {"app": "x", "pod-template-hash": "h"}}, "spec": {}}
    assert ro.template_equal(a, b)
