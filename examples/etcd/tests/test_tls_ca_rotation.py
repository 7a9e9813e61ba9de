"""CA rotation as pure functions: the phases, the CA Secret they write, the member restarts.

Rules followed: etcd ``client/pkg/transport/listener.go`` (the key pair is loaded on every
handshake through ``GetCertificate``/``GetClientCertificate``, but ``ClientCAs``/``RootCAs``
come from ``NewCertPool`` once, when the listener is built: a member trusts a new CA only
after a restart); etcd's runtime-reconfiguration guide (add a member as a learner, promote it
once in sync, then remove the old one: the voters never drop below the cluster's size).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from etcd_operator import carotation, tls
from etcd_operator.actions import AddMember, MoveLeader, RecreatePod, RemoveMember, Steady, Wait
from etcd_operator.carotation import Advance, Hold, RotationObserved, plan_rotation
from etcd_operator.certificates import issue_ca, issued_by
from etcd_operator.models import (
    CARotationStatus,
    EtcdCluster,
    EtcdClusterSpec,
    TLSSpec,
    TLSStatus,
)
from etcd_operator.planner import Observed, plan
from test_planner import healthy_cluster, member, observed, pod

from opframe import Condition, Secret, get_condition

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CLUSTER = EtcdCluster(
    metadata={"name": "demo", "namespace": "ns", "uid": "u"},
    spec=EtcdClusterSpec(tls=TLSSpec(auto_generate=True)),
)


def _rotation(**kw: object) -> RotationObserved:
    return RotationObserved(**kw)  # type: ignore[arg-type]


# -- the phases -------------------------------------------------------------------------


def test_a_new_token_starts_a_rotation_and_a_handled_one_does_not() -> None:
    step = plan_rotation(_rotation(requested="2026-01"))
    assert isinstance(step, Advance) and step.to == "TrustBoth"
    assert "etcd.opframe.dev/rotate-ca=2026-01" in step.reason
    assert plan_rotation(_rotation(requested="2026-01", handled="2026-01")) is None
    assert plan_rotation(_rotation()) is None


def test_a_ca_two_thirds_into_its_lifetime_starts_a_rotation() -> None:
    step = plan_rotation(_rotation(ca_due=True, ca_expires=NOW))
    assert isinstance(step, Advance) and step.to == "TrustBoth"
    assert "two thirds" in step.reason and "2026-01-01T00:00:00Z" in step.reason


def test_trust_both_holds_until_every_member_restarted_onto_both_cas() -> None:
    step = plan_rotation(_rotation(phase="TrustBoth", stale=("demo-1", "demo-2")))
    assert isinstance(step, Hold) and "demo-1, demo-2" in step.reason
    assert "phase 1/3" in step.reason and not step.warn
    step = plan_rotation(_rotation(phase="TrustBoth"))
    assert step == Advance("NewLeaves", step.reason)  # type: ignore[union-attr]


def test_no_phase_ends_while_a_member_is_not_a_healthy_voter() -> None:
    for phase in carotation.PHASES:
        step = plan_rotation(_rotation(phase=phase, unsettled="demo-3 not a healthy voter yet"))
        assert isinstance(step, Hold) and "demo-3" in step.reason


def test_a_phase_waiting_long_warns() -> None:
    long = carotation.STALL_AFTER + 1
    step = plan_rotation(_rotation(phase="TrustBoth", unsettled="demo-1 down", phase_age=long))
    assert isinstance(step, Hold) and step.warn
    # A roll making progress (every member healthy) is no reason to warn.
    step = plan_rotation(_rotation(phase="DropOld", stale=("demo-0",), phase_age=long))
    assert isinstance(step, Hold) and not step.warn


def test_old_ca_is_dropped_only_once_every_member_presents_new_leaves() -> None:
    step = plan_rotation(_rotation(phase="NewLeaves", old_leaves=("demo-2",)))
    assert isinstance(step, Hold) and "demo-2" in step.reason and "old CA" in step.reason
    step = plan_rotation(_rotation(phase="NewLeaves", old_leaves=None))
    assert isinstance(step, Hold)  # unknown is not "all new"
    step = plan_rotation(_rotation(phase="NewLeaves", old_leaves=()))
    assert isinstance(step, Advance) and step.to == "DropOld"


def test_rotation_completes_once_no_member_trusts_the_old_ca() -> None:
    step = plan_rotation(_rotation(phase="DropOld", stale=("demo-0",)))
    assert isinstance(step, Hold) and "the new CA alone" in step.reason
    step = plan_rotation(_rotation(phase="DropOld"))
    assert isinstance(step, Advance) and step.to == ""


# -- the CA Secret ----------------------------------------------------------------------


def _ca_secret() -> Secret:
    ca = issue_ca("demo etcd CA", NOW)
    return tls._tls_secret(CLUSTER, "demo-ca", ca, ca.cert)


def _bundle(secret: Secret) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(secret.decoded()["ca.crt"])


def _walk(secret: Secret, *phases: str) -> list[Secret]:
    out = []
    for to in phases:
        secret = carotation.rotated_secret(
            CLUSTER,
            secret,
            Advance(to, "why"),
            "t1",
            NOW,  # type: ignore[arg-type]
        )
        out.append(secret)
    return out


def test_ca_secret_through_the_three_phases() -> None:
    start = _ca_secret()
    old = x509.load_pem_x509_certificate(start.decoded()["tls.crt"])
    both, leaves, dropped, done = _walk(start, "TrustBoth", "NewLeaves", "DropOld", "")
    # 1: the old CA still signs; the bundle trusts both.
    assert both.decoded()["tls.crt"] == start.decoded()["tls.crt"]
    new = x509.load_pem_x509_certificate(both.decoded()["next.crt"])
    assert [c.serial_number for c in _bundle(both)] == [old.serial_number, new.serial_number]
    assert (both.metadata.annotations or {})[carotation.PHASE_ANNOTATION] == "TrustBoth"
    assert (both.metadata.annotations or {})[carotation.TOKEN_ANNOTATION] == "t1"
    # 2: the new CA signs, the old key is gone, the bundle still trusts both.
    assert leaves.decoded()["tls.crt"] == new.public_bytes(Encoding.PEM)
    assert leaves.decoded()["tls.key"] != start.decoded()["tls.key"]
    assert "next.crt" not in (leaves.data or {}) and "next.key" not in (leaves.data or {})
    assert len(_bundle(leaves)) == 2
    # 3: the bundle is the new CA alone.
    assert [c.serial_number for c in _bundle(dropped)] == [new.serial_number]
    # Done: the phase annotations go, the token handled stays.
    notes = done.metadata.annotations or {}
    assert carotation.PHASE_ANNOTATION not in notes and notes[carotation.TOKEN_ANNOTATION] == "t1"


def test_phase_is_read_back_from_the_ca_secret_after_an_operator_restart() -> None:
    (both,) = _walk(_ca_secret(), "TrustBoth")
    o = carotation.observe_rotation(
        CLUSTER, both, observed(3, *healthy_cluster(3)), NOW + dt.timedelta(seconds=30)
    )
    assert o.phase == "TrustBoth" and o.handled == "t1" and o.phase_age == 30
    assert o.unsettled == "" and not o.ca_due


def test_no_phase_ends_before_the_leaf_secrets_hold_the_ca_bundle() -> None:
    (both,) = _walk(_ca_secret(), "TrustBoth")
    view = observed(3, *healthy_cluster(3))
    bundle = both.decoded()["ca.crt"]
    o = carotation.observe_rotation(CLUSTER, both, view, NOW, trust=tls.trust_of([b"old"] * 2))
    assert "trust bundle" in o.unsettled and isinstance(plan_rotation(o), Hold)
    o = carotation.observe_rotation(CLUSTER, both, view, NOW, trust=tls.trust_of([bundle] * 2))
    assert o.unsettled == "" and isinstance(plan_rotation(o), Advance)


def test_leaves_issued_after_new_leaves_are_signed_by_the_new_ca() -> None:
    _, leaves = _walk(_ca_secret(), "TrustBoth", "NewLeaves")
    signing = tls.KeyPair(leaves.decoded()["tls.crt"], leaves.decoded()["tls.key"])
    dns, ips = tls.sans(CLUSTER, "peer")
    leaf = tls.issue_leaf(signing, "demo-peer", "peer", dns, ips, NOW, dt.timedelta(hours=1))
    assert issued_by(leaf, signing)
    old = tls.KeyPair(_ca_secret().decoded()["tls.crt"], b"")
    assert not issued_by(leaf, old)


def test_status_and_condition_say_which_phase_runs() -> None:
    (both,) = _walk(_ca_secret(), "TrustBoth")
    status = carotation.status_of(both, Hold("restarting demo-2"), NOW)
    assert status is not None and status.phase == "TrustBoth" and status.reason == "why"
    state = tls.TLSState(status=TLSStatus(mode="Generated", ca_rotation=status))
    conditions: list[Condition] = []
    tls.report(conditions, state, 1)
    ready = get_condition(conditions, "CertificatesReady")
    assert ready is not None and ready.status == "True" and ready.reason == "RotatingCA"
    assert "TrustBoth" in (ready.message or "") and "demo-2" in (ready.message or "")
    assert carotation.status_of(_ca_secret(), None, NOW) is None


def test_unsettled_names_learners_and_missing_members() -> None:
    pods, members = healthy_cluster(3)
    learner = (*members, member(3, learner=True))
    assert "demo-3" in carotation.unsettled(observed(3, pods, learner))
    assert "spec.size is 3" in carotation.unsettled(observed(3, pods, members[:2]))
    assert carotation.unsettled(observed(3, pods, None)) == "no member answers"


# -- member restarts (planner rule 14) --------------------------------------------------


def _stale(o: Observed, *pods: int) -> Observed:
    from dataclasses import replace

    return replace(o, stale_trust=frozenset(f"demo-{i}" for i in pods))


def test_trust_is_a_digest_of_what_members_mount() -> None:
    assert tls.trust_of([]) == ""
    assert tls.trust_of([b"a", b"b"]) != tls.trust_of([b"a", b"c"])
    assert tls.trust_of([b"a", b"b"]) == tls.trust_of([b"a", b"b"])


def test_no_stale_member_no_restart() -> None:
    assert isinstance(plan(observed(3, *healthy_cluster(3))), Steady)


def test_persistent_members_restart_on_their_volume_followers_first() -> None:
    o = _stale(observed(3, *healthy_cluster(3, leader=0), persistent_storage=True), 0, 1, 2)
    step = plan(o)
    assert isinstance(step, RecreatePod) and step.pod == "demo-2"
    assert "trust bundle" in step.reason
    step = plan(_stale(o, 0))
    assert isinstance(step, MoveLeader) and step.from_id == member(0).id


def test_restart_waits_for_every_member_to_be_healthy() -> None:
    pods, members = healthy_cluster(3)
    sick = (members[0], members[1], member(2, healthy=False))
    step = plan(_stale(observed(3, pods, sick, persistent_storage=True), 0))
    assert isinstance(step, Wait) and not isinstance(step, RecreatePod)


def test_emptydir_members_are_replaced_by_surge_never_removed_first() -> None:
    step = plan(_stale(observed(3, *healthy_cluster(3)), 0, 1, 2))
    assert isinstance(step, AddMember) and step.pod == "demo-3" and step.learner
    assert step.phase == "Upgrading"


def test_after_the_surge_member_is_promoted_a_stale_follower_goes() -> None:
    pods, members = healthy_cluster(4, leader=0)
    step = plan(_stale(observed(3, pods, members), 0, 1, 2))
    # Not the new demo-3 (highest ordinal, fresh trust) and not the leader.
    assert isinstance(step, RemoveMember) and step.pod == "demo-2"
    assert step.phase == "Upgrading"


def test_a_surge_learner_is_promoted_before_anything_else() -> None:
    pods, members = healthy_cluster(3)
    o = observed(3, (*pods, pod(3)), (*members, member(3, learner=True)))
    step = plan(_stale(o, 0, 1, 2))
    assert type(step).__name__ == "PromoteMember"


def test_one_member_on_emptydir_keeps_its_data_through_the_surge() -> None:
    pods, members = healthy_cluster(1)
    step = plan(_stale(observed(1, pods, members), 0))
    assert isinstance(step, AddMember) and step.pod == "demo-1"
    # Promoted: two voters; leadership moves to the new member, then the old one goes.
    pods2, members2 = healthy_cluster(2, leader=0)
    step = plan(_stale(observed(1, pods2, members2), 0))
    assert isinstance(step, MoveLeader) and step.to_id == member(1).id
    pods3, members3 = healthy_cluster(2, leader=1)
    step = plan(_stale(observed(1, pods3, members3), 0))
    assert isinstance(step, RemoveMember) and step.pod == "demo-0"


def test_ca_rotation_status_model_round_trips() -> None:
    s = CARotationStatus(phase="NewLeaves", since=NOW, reason="r", message="m")
    assert CARotationStatus.model_validate(s.to_dict()) == s


def test_status_patch_clears_a_finished_rotation() -> None:
    """RFC 7386: a merge patch leaves a key it does not name as it was, so a nested field
    cleared in the new status (``tls.caRotation`` once done) must be sent as null."""
    from etcd_operator.reconciler import _merge_patch

    old = {"phase": "Running", "tls": {"mode": "Generated", "caRotation": {"phase": "DropOld"}}}
    new = {"phase": "Running", "tls": {"mode": "Generated"}}
    assert _merge_patch(old, new) == {
        "phase": "Running",
        "tls": {"mode": "Generated", "caRotation": None},
    }
    assert _merge_patch({"a": 1, "b": [1]}, {"b": [2]}) == {"a": None, "b": [2]}


def test_one_member_on_a_claim_restarts_on_its_volume() -> None:
    """Its data is on the claim: a short outage, as for an upgrade, and no data lost."""
    step = plan(_stale(observed(1, *healthy_cluster(1), persistent_storage=True), 0))
    assert isinstance(step, RecreatePod) and step.pod == "demo-0"


def test_a_restart_never_starts_while_a_member_is_missing() -> None:
    pods, members = healthy_cluster(3)
    # demo-2 was just restarted on its claim: its pod is being recreated.
    step = plan(_stale(observed(3, pods[:2], members, persistent_storage=True), 0, 1))
    assert not isinstance(step, RecreatePod) and step.pod == "demo-2"  # type: ignore[attr-defined]
