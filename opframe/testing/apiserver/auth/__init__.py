"""Authentication, RBAC authorization and admission for the embedded API server.

    auth = Auth(store, writer, registry, state_dir / "pki", admin_token="t")
    user, attrs = auth.admit(request)        # 401/403 StatusError, else who and what
    resp = await auth.route(request, user)   # the review APIs and TokenRequest, else None

``authorization="RBAC"`` (the default) enforces RBAC as kube-apiserver with
``--authorization-mode RBAC``; ``"AlwaysAllow"`` lets every authenticated or anonymous
request through (writes of RBAC objects are then not checked for escalation either).
"""

from __future__ import annotations

import base64
import contextvars
import copy
from pathlib import Path
from typing import Any

from aiohttp import web

from opframe.testing.apiserver.auth import podsecurity
from opframe.testing.apiserver.auth.authn import Authenticator
from opframe.testing.apiserver.auth.bootstrap import aggregate, bootstrap_objects
from opframe.testing.apiserver.auth.certs import client_certificate
from opframe.testing.apiserver.auth.escalation import check_binding_write, check_role_write
from opframe.testing.apiserver.auth.rbac import CLUSTER_ROLES, RBAC, Decision, RbacAuthorizer
from opframe.testing.apiserver.auth.reviews import AUTHN, AUTHZ, Reviews
from opframe.testing.apiserver.auth.tokens import TokenSigner, legacy_claims
from opframe.testing.apiserver.auth.user import (
    MASTERS,
    Attributes,
    UserInfo,
    request_attributes,
)
from opframe.testing.apiserver.errors import StatusError, invalid, method_not_allowed
from opframe.testing.apiserver.fielderrors import invalid as invalid_cause
from opframe.testing.apiserver.http.options import write_options
from opframe.testing.apiserver.http.request import decode_body
from opframe.testing.apiserver.http.responses import json_response
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry
from opframe.testing.apiserver.registry.storage import Store
from opframe.testing.apiserver.registry.writes import WriteOptions, Writer

__all__ = ["AUTHORIZATION_MODES", "Auth", "UserInfo", "forbidden_error"]

AUTHORIZATION_MODES = ("RBAC", "AlwaysAllow")
ADMIN = UserInfo("opframe-admin", "opframe-admin", (MASTERS,))

#: The user of the request being served (``None``: the server's own writes).
CURRENT_USER: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar(
    "opframe_current_user", default=None
)


def forbidden_error(attrs: Attributes, reason: str = "") -> StatusError:
    """The 403 the authorization filter answers (filters/authorization.go wording)."""
    who = attrs.user.name
    if not attrs.resource_request:
        msg = f'User "{who}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        where = (
            f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        )
        msg = (
            f'User "{who}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}" {where}'
        )
    if reason:
        msg = f"{msg}: {reason}"
    qualified = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
    if not attrs.resource_request or not attrs.resource:
        head = "forbidden"
    elif attrs.name:
        head = f'{qualified} "{attrs.name}" is forbidden'
    else:
        head = f"{qualified} is forbidden"
    fields = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource}
    details: dict[str, Any] = {k: v for k, v in fields.items() if v}  # omitempty
    return StatusError(403, "Forbidden", f"{head}: {msg}", details)


class Auth:
    """Who may do what on one API server."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        registry: Registry,
        pki_dir: Path,
        *,
        admin_token: str,
        authorization: str = "RBAC",
    ) -> None:
        if authorization not in AUTHORIZATION_MODES:
            raise ValueError(
                f"authorization={authorization!r}: use one of {', '.join(AUTHORIZATION_MODES)}"
            )
        self.store = store
        self.writer = writer
        self.registry = registry
        self.mode = authorization
        self.pki_dir = pki_dir
        self.signer = TokenSigner(pki_dir)
        self.authz = RbacAuthorizer(store)
        self.authn = Authenticator(store, self.signer, {admin_token: ADMIN})
        self.reviews = Reviews(store, self.authn, self.authz, self.signer)
        writer.admission_hooks.append(self._admit_write)

    # -- policy ----------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create the bootstrap roles and bindings that do not exist yet; aggregate."""
        for obj in bootstrap_objects():
            plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
            rt = self.registry.find_plural(plural, RBAC)
            if rt is None or self.store.get(f"{RBAC}/{plural}", "", obj["metadata"]["name"]):
                continue
            self.writer.create(rt, copy.deepcopy(obj), "", WriteOptions(manager="kube-apiserver"))
        self.aggregate()

    def aggregate(self) -> None:
        """The clusterrole-aggregation controller: refresh every aggregated ClusterRole,
        until none changes (edit aggregates view, admin aggregates edit)."""
        rt = self.registry.find_plural("clusterroles", RBAC)
        if rt is None:
            return
        for _ in range(10):
            if not self._aggregate_once(rt):
                return

    def _aggregate_once(self, rt: ResourceType) -> bool:
        changed = False
        for so in list(self.store.iter_sorted(CLUSTER_ROLES, "")):
            if not so.obj.get("aggregationRule"):
                continue
            roles = [r.obj for r in self.store.iter_sorted(CLUSTER_ROLES, "")]
            rules = aggregate(so.obj, roles)
            current = self.store.get(CLUSTER_ROLES, "", so.meta["name"])
            if current is None or rules == (current.obj.get("rules") or []):
                continue
            new = copy.deepcopy(current.obj)
            new["rules"] = rules
            if not rules:  # as stored: an empty list reads back as none
                new.pop("rules", None)
            token = CURRENT_USER.set(None)
            try:
                opts = WriteOptions(manager="clusterrole-aggregation-controller")
                self.writer.update(rt, new, current, opts)
            finally:
                CURRENT_USER.reset(token)
            changed = True
        return changed

    def authorize(self, attrs: Attributes) -> Decision:
        """The decision for ``attrs`` under this server's authorization mode."""
        if self.mode == "AlwaysAllow":
            return Decision(True)
        return self.authz.authorize(attrs)

    # -- requests --------------------------------------------------------------------------

    def admit(self, request: web.Request) -> tuple[UserInfo, Attributes]:
        """Authenticate, impersonate and authorize ``request``; sets :data:`CURRENT_USER`."""
        peer = None
        transport = request.transport
        if transport is not None:
            ssl_obj = transport.get_extra_info("ssl_object")
            if ssl_obj is not None:
                peer = ssl_obj.getpeercert()
        user = self.authn.authenticate(request.headers, peer)
        if any(k.lower().startswith("impersonate-") for k in request.headers):
            user = self.authn.impersonate(
                user,
                request.headers,
                lambda a: self.authorize(a).allowed,
                forbidden_error,
            )
        attrs = request_attributes(user, request.method, request.path, request.query)
        decision = self.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)
        CURRENT_USER.set(user)
        return user, attrs

    def after(self, attrs: Attributes) -> None:
        """Run the controllers a served write may concern (ClusterRole aggregation)."""
        if attrs.resource == "clusterroles" and attrs.verb not in ("get", "list", "watch"):
            self.aggregate()

    async def route(self, request: web.Request, user: UserInfo) -> web.StreamResponse | None:
        """Answer the review APIs and TokenRequest; ``None`` for every other path."""
        parts = [p for p in request.path.split("/") if p]
        manager, _, _ = write_options(
            request.query, "CreateOptions", request.headers.get("User-Agent", "")
        )
        if (
            len(parts) == 7
            and parts[:3] == ["api", "v1", "namespaces"]
            and parts[4] == "serviceaccounts"
            and parts[6] == "token"
        ):
            if request.method != "POST":
                raise method_not_allowed()
            body = await self._body(request, "TokenRequest")
            out = self.reviews.token_request(body, parts[3], parts[5], manager)
            return json_response(201, out)
        if len(parts) < 4 or parts[0] != "apis" or parts[1] not in (AUTHZ, AUTHN):
            return None
        if parts[2] != "v1":
            return None
        tail = parts[3:]
        if parts[1] == AUTHZ:
            if tail == ["selfsubjectaccessreviews"]:
                body = await self._post(request, "SelfSubjectAccessReview")
                return json_response(201, self.reviews.self_subject_access(body, user, manager))
            if tail == ["selfsubjectrulesreviews"]:
                body = await self._post(request, "SelfSubjectRulesReview")
                return json_response(201, self.reviews.self_subject_rules(body, user))
            if tail == ["subjectaccessreviews"]:
                body = await self._post(request, "SubjectAccessReview")
                return json_response(201, self.reviews.subject_access(body, manager))
            local = len(tail) == 3 and tail[0] == "namespaces"
            if local and tail[2] == "localsubjectaccessreviews":
                body = await self._post(request, "LocalSubjectAccessReview")
                return json_response(201, self.reviews.subject_access(body, manager, tail[1]))
            return None
        if tail == ["tokenreviews"]:
            body = await self._post(request, "TokenReview")
            return json_response(201, self.reviews.token_review(body, manager))
        if tail == ["selfsubjectreviews"]:
            await self._post(request, "SelfSubjectReview")
            return json_response(201, self.reviews.self_subject(user))
        return None

    async def _post(self, request: web.Request, kind: str) -> Any:
        if request.method != "POST":
            raise method_not_allowed()
        return await self._body(request, kind)

    @staticmethod
    async def _body(request: web.Request, kind: str) -> Any:
        media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        raw = await request.read()
        if media == "application/vnd.kubernetes.protobuf":
            from opframe.testing.apiserver import protobuf

            group = AUTHZ if kind.endswith(("AccessReview", "RulesReview")) else AUTHN
            return protobuf.decode_request(raw, f"{group}/v1", kind)
        return decode_body(raw, media or "json", kind) or {}

    def client_certificate(self, user: str, groups: list[str], out_dir: Path) -> tuple[Path, Path]:
        """A client certificate and key for ``user`` in ``groups``, signed by the server CA."""
        return client_certificate(self.pki_dir, user, groups, out_dir)

    def _admit_pod_security(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
    ) -> None:
        if rt.plural == "pods" and (old is not None or opts.subresource):
            return  # only new pods (and their specs are immutable but for images)
        namespace = str((obj.get("metadata") or {}).get("namespace", ""))
        ns = self.store.get("/namespaces", "", namespace) if namespace else None
        labels = (ns.meta.get("labels") or {}) if ns is not None else {}
        if not any(str(k).startswith(podsecurity.PREFIX) for k in labels):
            return
        podsecurity.admit_pod_security(rt.group, rt.plural, obj, labels, opts.warnings)

    def _admit_namespace(
        self, obj: dict[str, Any], old: dict[str, Any] | None, opts: WriteOptions
    ) -> None:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        causes = [invalid_cause(f, v, d) for f, v, d in podsecurity.label_causes(labels)]
        if causes:
            raise invalid("Namespace", str(meta.get("name", "")), causes)
        key = podsecurity.PREFIX + "enforce"
        old_labels = ((old or {}).get("metadata") or {}).get("labels") or {}
        level = labels.get(key)
        if old is None or not level or level == old_labels.get(key):
            return
        version = labels.get(key + "-version") or "latest"
        name = str(meta.get("name", ""))
        bad = []
        for so in self.store.iter_sorted("/pods", name):
            found = podsecurity.violations(so.obj.get("spec") or {}, so.meta, str(level))
            if found:
                bad.append(f"{so.meta['name']}: {', '.join(found)}")
        if bad:
            opts.warnings.append(
                f'existing pods in namespace "{name}" violate the new PodSecurity enforce '
                f'level "{level}:{version}"'
            )
            opts.warnings.extend(bad)

    def _fill_legacy_token(self, secret: dict[str, Any]) -> None:
        """The token controller: a ``kubernetes.io/service-account-token`` Secret naming an
        existing ServiceAccount gets a legacy token, the namespace and the CA."""
        if secret.get("type") != "kubernetes.io/service-account-token":
            return
        meta = secret.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        sa_name = annotations.get("kubernetes.io/service-account.name")
        namespace = str(meta.get("namespace", ""))
        sa = self.store.get("/serviceaccounts", namespace, str(sa_name or ""))
        if sa is None or not meta.get("name"):
            return
        uid = str(sa.meta.get("uid", ""))
        annotations["kubernetes.io/service-account.uid"] = uid
        meta["annotations"] = annotations
        token = self.signer.issue(legacy_claims(namespace, str(sa_name), uid, meta["name"]))
        data = dict(secret.get("data") or {})
        data["token"] = base64.b64encode(token.encode()).decode()
        data["namespace"] = base64.b64encode(namespace.encode()).decode()
        ca = self.pki_dir / "ca.crt"
        if ca.exists():
            data["ca.crt"] = base64.b64encode(ca.read_bytes()).decode()
        secret["data"] = data

    # -- admission -------------------------------------------------------------------------

    def _admit_write(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
    ) -> None:
        if rt.group == "" and rt.plural == "secrets" and old is None:
            self._fill_legacy_token(obj)
            return
        if rt.group == "" and rt.plural == "namespaces":
            self._admit_namespace(obj, old, opts)
            return
        if not rt.group == RBAC:
            self._admit_pod_security(rt, obj, old, opts)
            return
        user = CURRENT_USER.get()
        if user is None or self.mode == "AlwaysAllow" or rt.group != RBAC:
            return
        namespace = str((obj.get("metadata") or {}).get("namespace", "")) if rt.namespaced else ""
        if rt.plural in ("roles", "clusterroles"):
            check_role_write(self.authz, user, rt.plural, namespace, obj, old)
        elif rt.plural in ("rolebindings", "clusterrolebindings"):
            check_binding_write(self.authz, user, rt.plural, namespace, obj, old)
