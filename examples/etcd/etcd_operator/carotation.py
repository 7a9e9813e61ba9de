"""Rotation of the generated CA: a trust bundle of both CAs, new leaves, then the old CA dropped.

etcd loads its key pair on every handshake but its trusted CAs once, at start
(``client/pkg/transport/listener.go``: ``GetCertificate`` reloads the files, ``ClientCAs`` and
``RootCAs`` come from ``NewCertPool`` when the listener is built). A member therefore trusts a
new CA only after a restart, and leaves signed by a CA some member does not trust yet would
split the cluster. The rotation runs in three phases, each recorded on the CA Secret
(``<cluster>-ca``, annotations ``etcd.opframe.dev/ca-rotation*``), so an operator restarted
mid-way resumes where it was, and each step is idempotent:

1. ``TrustBoth``: a new CA is issued into the CA Secret (``next.crt``/``next.key``) while the
   old one still signs; every ``ca.crt`` becomes old + new. Members restart, one at a time and
   quorum-guarded (:mod:`etcd_operator.planner`, rule 14), until each was started with that
   bundle (the pod annotation :data:`etcd_operator.tls.TRUST_ANNOTATION`).
2. ``NewLeaves``: the new CA becomes the signing CA (``tls.crt``/``tls.key``; the old key is
   gone from the Secret); the leaves are reissued by it and swap in place (no restart). The
   phase ends when every member presents certificates of the new CA on its client and peer
   ports (checked by a TLS handshake, so the kubelet's volume update is observed, not assumed).
3. ``DropOld``: every ``ca.crt`` becomes the new CA alone; members restart again, so that none
   trusts the old CA any more. Then the rotation is complete.

It starts when the user sets the annotation ``etcd.opframe.dev/rotate-ca`` on the EtcdCluster
to a new token (any string; the token handled is kept on the CA Secret), or by itself when the
CA is two thirds into its lifetime. :func:`plan_rotation` decides, as a pure function;
:func:`advance` writes the CA Secret.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from etcd_operator.certificates import KeyPair, issue_ca, issued_by, renew_at
from etcd_operator.models import CARotationStatus, EtcdCluster
from etcd_operator.naming import PEER_PORT, pod_of_peer_url
from etcd_operator.planner import Observed
from etcd_operator.tls import ClientTLS, endpoint_host_port, trust_of
from opframe import Context, Secret

__all__ = [
    "PHASES",
    "ROTATE_CA_ANNOTATION",
    "Advance",
    "Hold",
    "RotationObserved",
    "advance",
    "observe_rotation",
    "old_leaves",
    "phase_of",
    "plan_rotation",
    "rotated_secret",
    "status_of",
    "unsettled",
]

Phase = Literal["TrustBoth", "NewLeaves", "DropOld"]
PHASES: tuple[Phase, ...] = ("TrustBoth", "NewLeaves", "DropOld")
ROTATE_CA_ANNOTATION = "etcd.opframe.dev/rotate-ca"
"""On the EtcdCluster: set it to a new token (any string) to rotate the generated CA."""
PHASE_ANNOTATION = "etcd.opframe.dev/ca-rotation"
SINCE_ANNOTATION = "etcd.opframe.dev/ca-rotation-since"
REASON_ANNOTATION = "etcd.opframe.dev/ca-rotation-reason"
TOKEN_ANNOTATION = "etcd.opframe.dev/ca-rotation-token"
NEXT_CERT, NEXT_KEY = "next.crt", "next.key"
STALL_AFTER = 120.0
"""Seconds a phase may wait before each further wait is a Warning Event."""


@dataclass(frozen=True)
class RotationObserved:
    """What the rotation's next step depends on."""

    phase: Phase | Literal[""] = ""
    """The phase recorded on the CA Secret (``""``: no rotation under way)."""
    requested: str = ""
    """The ``etcd.opframe.dev/rotate-ca`` token on the EtcdCluster."""
    handled: str = ""
    """The last token a rotation was started for (on the CA Secret)."""
    ca_due: bool = False
    """The CA is two thirds into its lifetime."""
    ca_expires: dt.datetime | None = None
    stale: tuple[str, ...] = ()
    """Member pods started with another trust bundle than their Secrets hold now."""
    old_leaves: tuple[str, ...] | None = ()
    """Member pods presenting a certificate the signing CA did not issue (``None``: unknown)."""
    unsettled: str = ""
    """Why the members are not all healthy voters at the spec's size (``""``: they are)."""
    phase_age: float = 0.0
    """Seconds since the phase began."""


@dataclass(frozen=True)
class Advance:
    """Move the rotation to phase ``to`` (``""``: the rotation is complete)."""

    to: Phase | Literal[""]
    reason: str


@dataclass(frozen=True)
class Hold:
    """The phase cannot end yet; ``warn`` when it has waited for long (a Warning Event)."""

    reason: str
    warn: bool = False


def _label(phase: Phase) -> str:
    return f"phase {PHASES.index(phase) + 1}/3 ({phase})"


def plan_rotation(o: RotationObserved) -> Advance | Hold | None:
    """The next step of the CA rotation (``None``: no rotation, none due).

    >>> plan_rotation(RotationObserved(requested="1"))
    Advance(to='TrustBoth', reason='requested by etcd.opframe.dev/rotate-ca=1')
    """
    if not o.phase:
        if o.requested and o.requested != o.handled:
            return Advance("TrustBoth", f"requested by {ROTATE_CA_ANNOTATION}={o.requested}")
        if o.ca_due:
            until = f" (it expires at {o.ca_expires:%Y-%m-%dT%H:%M:%SZ})" if o.ca_expires else ""
            return Advance("TrustBoth", f"the CA is two thirds into its lifetime{until}")
        return None
    warn = o.phase_age > STALL_AFTER
    label = _label(o.phase)
    if o.stale:
        bundle = "the old and the new CA" if o.phase != "DropOld" else "the new CA alone"
        return Hold(
            f"{label}: restarting member(s) {', '.join(o.stale)} one at a time, so that each "
            f"trusts {bundle} (etcd loads its trusted CAs at start only)",
            warn=warn and bool(o.unsettled),
        )
    if o.unsettled:
        return Hold(f"{label} waits for every member to be healthy: {o.unsettled}", warn=warn)
    if o.phase == "TrustBoth":
        return Advance("NewLeaves", "every member trusts the old and the new CA")
    if o.phase == "NewLeaves":
        if o.old_leaves is None:
            return Hold(f"{label}: the certificates members present could not be read", warn)
        if o.old_leaves:
            return Hold(
                f"{label}: member(s) {', '.join(o.old_leaves)} still present certificates "
                "of the old CA (the kubelet updates secret volumes in place, etcd loads them "
                "on new handshakes)",
                warn=warn,
            )
        return Advance("DropOld", "every member presents certificates of the new CA")
    return Advance("", "every member was restarted trusting the new CA alone")


def unsettled(o: Observed) -> str:
    """Why the members are not all healthy voters at the spec's size (``""``: they are)."""
    if o.members is None:
        return "no member answers"
    bad = [
        pod_of_peer_url(o.cluster, m.peer_url) or f"{m.id:x}"
        for m in o.members
        if not m.healthy or m.learner or not m.started
    ]
    if bad:
        return f"{', '.join(bad)} not a healthy voter yet"
    if len(o.members) != o.size:
        return f"{len(o.members)} members, spec.size is {o.size}"
    return ""


def _annotations(secret: Secret | None) -> dict[str, str]:
    return dict((secret.metadata.annotations or {}) if secret is not None else {})


def phase_of(secret: Secret | None) -> Phase | Literal[""]:
    """The rotation phase recorded on the CA Secret (``""``: none under way)."""
    value = _annotations(secret).get(PHASE_ANNOTATION, "")
    for p in PHASES:
        if value == p:
            return p
    return ""


def _since(secret: Secret | None) -> dt.datetime | None:
    text = _annotations(secret).get(SINCE_ANNOTATION, "")
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _signing_ca(secret: Secret | None) -> KeyPair | None:
    data = secret.decoded() if secret is not None else {}
    cert, key = data.get("tls.crt"), data.get("tls.key")
    return KeyPair(cert, key) if cert and key else None


def observe_rotation(
    cluster: EtcdCluster,
    ca_secret: Secret | None,
    observed: Observed,
    now: dt.datetime,
    old_leaves: tuple[str, ...] | None = (),
    trust: str | None = None,
) -> RotationObserved:
    """The rotation's inputs from the CA Secret, the EtcdCluster and the planner's view.

    ``trust`` is :func:`etcd_operator.tls.trust_of` what the leaf Secrets hold now: until it
    is the CA Secret's bundle, no phase may end (members would be compared against a bundle
    that is not the one the phase is about)."""
    ca = _signing_ca(ca_secret)
    cert = ca.certificate if ca is not None else None
    since = _since(ca_secret)
    waiting = unsettled(observed)
    bundle = ca_secret.decoded().get("ca.crt", b"") if ca_secret is not None else b""
    if trust is not None and trust != trust_of([bundle, bundle]):
        waiting = "the leaf Secrets do not hold the CA Secret's trust bundle yet"
    return RotationObserved(
        phase=phase_of(ca_secret),
        requested=(cluster.metadata.annotations or {}).get(ROTATE_CA_ANNOTATION, ""),
        handled=_annotations(ca_secret).get(TOKEN_ANNOTATION, ""),
        ca_due=cert is not None and now >= renew_at(cert),
        ca_expires=cert.not_valid_after_utc if cert is not None else None,
        stale=tuple(sorted(observed.stale_trust)),
        old_leaves=old_leaves,
        unsettled=waiting,
        phase_age=(now - since).total_seconds() if since else 0.0,
    )


def status_of(
    ca_secret: Secret | None, step: Advance | Hold | None, now: dt.datetime
) -> CARotationStatus | None:
    """``status.tls.caRotation`` after ``step`` (``None``: no rotation under way)."""
    phase = step.to if isinstance(step, Advance) else phase_of(ca_secret)
    if not phase:
        return None
    notes = _annotations(ca_secret)
    return CARotationStatus(
        phase=phase,
        since=now if isinstance(step, Advance) else _since(ca_secret),
        reason=step.reason
        if isinstance(step, Advance) and step.to == "TrustBoth"
        else notes.get(REASON_ANNOTATION, ""),
        message=step.reason if step is not None else "",
    )


def rotated_secret(
    cluster: EtcdCluster, ca_secret: Secret, step: Advance, requested: str, now: dt.datetime
) -> Secret:
    """The CA Secret after ``step``: ``tls.crt``/``tls.key`` always hold the signing CA,
    ``ca.crt`` the trust bundle every leaf Secret copies."""
    data = dict(ca_secret.data or {})
    notes = _annotations(ca_secret)
    if step.to == "TrustBoth":
        new = issue_ca(f"{cluster.name} etcd CA {now:%Y%m%dT%H%M%SZ}", now)
        old = ca_secret.decoded()["tls.crt"]
        data[NEXT_CERT], data[NEXT_KEY] = _b64(new.cert), _b64(new.key)
        data["ca.crt"] = _b64(old.rstrip(b"\n") + b"\n" + new.cert)
        notes[REASON_ANNOTATION] = step.reason
        if requested:
            notes[TOKEN_ANNOTATION] = requested
    elif step.to == "NewLeaves":
        # The old key goes now: nothing is signed by the old CA from here on.
        data["tls.crt"], data["tls.key"] = data.pop(NEXT_CERT), data.pop(NEXT_KEY)
    elif step.to == "DropOld":
        data["ca.crt"] = data["tls.crt"]
    if step.to:
        notes[PHASE_ANNOTATION] = step.to
        notes[SINCE_ANNOTATION] = now.isoformat()
    else:
        for key in (PHASE_ANNOTATION, SINCE_ANNOTATION, REASON_ANNOTATION):
            notes.pop(key, None)
    updated = ca_secret.model_copy(deep=True)
    updated.data = data
    updated.metadata.annotations = notes or None
    return updated


async def advance(
    ctx: Context,
    cluster: EtcdCluster,
    ca_secret: Secret,
    step: Advance,
    requested: str,
    now: dt.datetime,
) -> None:
    """Write the CA Secret for ``step`` (a replace: a concurrent change is a conflict, and
    the next reconcile plans again from what is there)."""
    await ctx.client.replace(rotated_secret(cluster, ca_secret, step, requested, now))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def old_leaves(
    endpoints: dict[str, str], ca_secret: Secret | None, creds: ClientTLS | None
) -> tuple[str, ...] | None:
    """Member pods whose client or peer port presents a certificate the signing CA did not
    issue; ``None`` when it cannot be told (no CA, no client certificate, a port unreachable).

    The handshake presents the operator's client certificate: members require one on both
    ports (``--client-cert-auth``, ``--peer-client-cert-auth``; TLS 1.2 asks for it before the
    handshake completes).
    """
    ca = _signing_ca(ca_secret)
    if ca is None or creds is None or not endpoints:
        return None
    context = _handshake_context(creds)
    checks = []
    for pod, url in sorted(endpoints.items()):
        host, port = endpoint_host_port(url)
        checks += [(pod, host, port), (pod, host, PEER_PORT)]
    presented = await asyncio.gather(*(_presented(context, h, p) for _, h, p in checks))
    old: set[str] = set()
    for (pod, _, _), cert in zip(checks, presented, strict=True):
        if cert is None:
            return None
        if not issued_by(KeyPair(cert, b""), ca):
            old.add(pod)
    return tuple(sorted(old))


def _handshake_context(creds: ClientTLS) -> ssl.SSLContext:
    """A context that presents the operator's certificate and accepts whatever the member
    presents (only to read it: nothing is sent over the connection)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with tempfile.TemporaryDirectory() as d:
        cert, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        cert.write_bytes(creds.cert)
        key.touch(mode=0o600)
        key.write_bytes(creds.key)
        ctx.load_cert_chain(cert, key)
    return ctx


async def _presented(context: ssl.SSLContext, host: str, port: int) -> bytes | None:
    """The PEM certificate presented at ``host:port`` (``None``: no handshake)."""
    try:
        async with asyncio.timeout(2.0):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    return ssl.DER_cert_to_PEM_cert(der).encode() if der else None
