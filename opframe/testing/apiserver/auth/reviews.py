"""The review APIs: access reviews (authorization.k8s.io) and token/self reviews
(authentication.k8s.io), and the ServiceAccount TokenRequest subresource.

    POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews     kubectl auth can-i
    POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews      kubectl auth can-i --list
    POST /apis/authentication.k8s.io/v1/selfsubjectreviews          kubectl auth whoami
    POST /api/v1/namespaces/NS/serviceaccounts/NAME/token           kubectl create token

Follows ``pkg/registry/authorization/*`` (the spec's attributes are authorized as the
asking or named user; a SubjectAccessReview needs a user or a group; a rules review needs a
namespace), ``pkg/registry/authentication/*`` (TokenReview needs a token; an unknown one is
``invalid bearer token``) and ``pkg/registry/core/serviceaccount/storage/token.go`` with
``pkg/apis/authentication/validation`` (at least 10 minutes, at most 2^32 seconds; default
audience: the issuer; a bound object must exist with the uid given).
"""

from __future__ import annotations

import time
from typing import Any

from opframe.testing.apiserver.auth.authn import Authenticator
from opframe.testing.apiserver.auth.rbac import RbacAuthorizer
from opframe.testing.apiserver.auth.tokens import TokenSigner, bound_claims
from opframe.testing.apiserver.auth.user import Attributes, UserInfo
from opframe.testing.apiserver.errors import StatusError, bad_request, conflict, invalid, not_found
from opframe.testing.apiserver.fielderrors import invalid as invalid_cause
from opframe.testing.apiserver.merge import field_manager
from opframe.testing.apiserver.registry.storage import Store
from opframe.testing.apiserver.registry.writes import now, rfc3339

__all__ = ["Reviews"]

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"


def _managed(obj: dict[str, Any], manager: str, api_version: str, sub: str = "") -> None:
    group, _, _ = api_version.rpartition("/")
    field_manager.update_managed_fields(
        None,
        obj,
        manager=manager,
        operation="Update",
        api_version=api_version,
        subresource=sub,
        time=rfc3339(now()),
        group=group,
        kind=str(obj.get("kind", "")),
    )
    if not obj["metadata"].get("managedFields"):
        obj["metadata"].pop("managedFields", None)


def _invalid(causes: list[Any], group: str) -> StatusError:
    """422 for a review object, which has no name (and, in the message, no kind)."""
    err = invalid("", "", causes, group)
    if err.details is not None:
        err.details.pop("kind", None)
    return err


def _spec(body: Any) -> dict[str, Any]:
    spec = body.get("spec") if isinstance(body, dict) else None
    return spec if isinstance(spec, dict) else {}


def _review_attributes(user: UserInfo, spec: dict[str, Any]) -> Attributes:
    res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict) and not nonres:
        return Attributes(
            user,
            str(res.get("verb", "")),
            True,
            "",
            str(res.get("group", "")),
            str(res.get("version", "")),
            str(res.get("resource", "")),
            str(res.get("subresource", "")),
            str(res.get("namespace", "")),
            str(res.get("name", "")),
        )
    if isinstance(nonres, dict) and not res:
        return Attributes(user, str(nonres.get("verb", "")), False, str(nonres.get("path", "")))
    why = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    raise _invalid([invalid_cause("spec.resourceAttributes", res, why)], AUTHZ)


def _spec_user(spec: dict[str, Any]) -> UserInfo:
    name = str(spec.get("user", "") or "")
    groups = tuple(str(g) for g in spec.get("groups") or [])
    if not name and not groups:
        why = "at least one of user or group must be specified"
        raise _invalid([invalid_cause("spec.user", "", why)], AUTHZ)
    extra = {str(k): tuple(str(x) for x in v) for k, v in (spec.get("extra") or {}).items()}
    return UserInfo(name, str(spec.get("uid", "") or ""), groups, extra)


class Reviews:
    """Answers the review endpoints; ``manager`` is the field manager of the request."""

    def __init__(
        self, store: Store, authn: Authenticator, authz: RbacAuthorizer, signer: TokenSigner
    ) -> None:
        self.store = store
        self.authn = authn
        self.authz = authz
        self.signer = signer

    def _access(self, body: Any, user: UserInfo, kind: str, manager: str) -> dict[str, Any]:
        spec = _spec(body)
        attrs = _review_attributes(user, spec)
        decision = self.authz.authorize(attrs)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        out: dict[str, Any] = {
            "kind": kind,
            "apiVersion": f"{AUTHZ}/v1",
            "metadata": {},
            "spec": spec,
        }
        _managed(out, manager, f"{AUTHZ}/v1")
        out["status"] = status
        return out

    def self_subject_access(self, body: Any, user: UserInfo, manager: str) -> dict[str, Any]:
        """SelfSubjectAccessReview: may the requester do what the spec says?"""
        return self._access(body, user, "SelfSubjectAccessReview", manager)

    def subject_access(self, body: Any, manager: str, namespace: str = "") -> dict[str, Any]:
        """SubjectAccessReview (``namespace``: LocalSubjectAccessReview) for the spec's user."""
        spec = _spec(body)
        subject = _spec_user(spec)
        kind = "LocalSubjectAccessReview" if namespace else "SubjectAccessReview"
        if namespace:
            res = spec.get("resourceAttributes")
            if not isinstance(res, dict) or res.get("namespace", "") != namespace:
                raise bad_request(
                    f"spec.resourceAttributes.namespace must match namespace: {namespace}"
                )
        out = self._access(body, subject, kind, manager)
        if namespace:
            out["metadata"] = {"namespace": namespace, **out["metadata"]}
        return out

    def self_subject_rules(self, body: Any, user: UserInfo) -> dict[str, Any]:
        """SelfSubjectRulesReview: every rule the requester holds in the spec's namespace."""
        spec = _spec(body)
        namespace = str(spec.get("namespace", "") or "")
        if not namespace:
            raise bad_request("no namespace on request")
        resource_rules: list[dict[str, Any]] = []
        url_rules: list[dict[str, Any]] = []
        for rule in self.authz.rules_for(user, namespace):
            if rule.get("nonResourceURLs"):
                url_rules.append(
                    {"verbs": rule.get("verbs", []), "nonResourceURLs": rule["nonResourceURLs"]}
                )
            if rule.get("resources") or rule.get("apiGroups"):
                shown = {
                    k: rule[k]
                    for k in ("verbs", "apiGroups", "resources", "resourceNames")
                    if rule.get(k)
                }
                resource_rules.append(shown)
        return {
            "kind": "SelfSubjectRulesReview",
            "apiVersion": f"{AUTHZ}/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {},
            "status": {
                "resourceRules": resource_rules,
                "nonResourceRules": url_rules,
                "incomplete": False,
            },
        }

    @staticmethod
    def self_subject(user: UserInfo) -> dict[str, Any]:
        """SelfSubjectReview: who the requester is (after impersonation)."""
        return {
            "kind": "SelfSubjectReview",
            "apiVersion": f"{AUTHN}/v1",
            "metadata": {"creationTimestamp": rfc3339(now())},
            "status": {"userInfo": user.as_json()},
        }

    def token_review(self, body: Any, manager: str) -> dict[str, Any]:
        """TokenReview: who a token stands for (``authenticated`` absent when nobody)."""
        spec = _spec(body)
        token = spec.get("token")
        if not token:
            raise bad_request("token is required for TokenReview in authentication")
        audiences = tuple(str(a) for a in spec.get("audiences") or []) or None
        out: dict[str, Any] = {
            "kind": "TokenReview",
            "apiVersion": f"{AUTHN}/v1",
            "metadata": {},
            "spec": spec,
        }
        _managed(out, manager, f"{AUTHN}/v1")
        found = self.authn.token_user(str(token), audiences)
        if found is None:
            out["status"] = {"user": {}, "error": "invalid bearer token"}
        else:
            out["status"] = {
                "authenticated": True,
                "user": found[0].as_json(),
                "audiences": found[1],
            }
        return out

    def _bound_object(self, ref: Any, namespace: str, account: str) -> dict[str, str] | None:
        """The pod or secret a token is bound to (it must exist, run as ``account``)."""
        if not ref:
            return None
        if not isinstance(ref, dict):
            raise bad_request("spec.boundObjectRef must be an object")
        kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
        group = str(ref.get("apiVersion", "v1")).rpartition("/")[0]
        if group or kind not in ("Pod", "Secret"):
            raise bad_request(
                f"cannot bind token to object of type {ref.get('apiVersion')}, Kind={kind}"
            )
        plural = "pods" if kind == "Pod" else "secrets"
        so = self.store.get(f"/{plural}", namespace, ref_name)
        if so is None:
            raise not_found(plural, ref_name)
        if kind == "Pod":
            pod_account = (so.obj.get("spec") or {}).get("serviceAccountName") or "default"
            if pod_account != account:
                raise bad_request(
                    f'cannot bind token for serviceaccount "{account}" to pod running with '
                    f'serviceaccount "{pod_account}"'
                )
        uid = str(so.meta.get("uid", ""))
        if ref.get("uid") and ref["uid"] != uid:
            raise conflict(
                kind,
                ref_name,
                "",
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID "
                f"in record ({uid}). The object might have been deleted and then recreated",
            )
        return {"kind": kind, "name": ref_name, "uid": uid}

    def token_request(self, body: Any, namespace: str, name: str, manager: str) -> dict[str, Any]:
        """TokenRequest: a signed token for ServiceAccount ``namespace/name``."""
        if not isinstance(body, dict):
            raise bad_request("the body must be a TokenRequest object")
        spec = dict(_spec(body))
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = spec["expirationSeconds"] = 3600
        out: dict[str, Any] = {
            "kind": "TokenRequest",
            "apiVersion": f"{AUTHN}/v1",
            "metadata": {},
            "spec": spec,
        }
        sa = self.store.get("/serviceaccounts", namespace, name)
        if sa is None:
            raise not_found("serviceaccounts", name)
        causes = []
        if not isinstance(seconds, int) or seconds < 600:
            causes.append(
                invalid_cause(
                    "spec.expirationSeconds",
                    seconds,
                    "may not specify a duration less than 10 minutes",
                )
            )
        elif seconds > 2**32:
            causes.append(
                invalid_cause(
                    "spec.expirationSeconds",
                    seconds,
                    "may not specify a duration larger than 2^32 seconds",
                )
            )
        if causes:
            # Validation sees the request object, whose name is the body's (usually empty).
            body_name = str((body.get("metadata") or {}).get("name") or "")
            raise invalid("TokenRequest", body_name, causes, AUTHN)
        bound = self._bound_object(spec.get("boundObjectRef"), namespace, name)
        _managed(out, manager, f"{AUTHN}/v1", "token")
        meta = sa.meta
        out["metadata"] = {
            "name": name,
            "namespace": namespace,
            "uid": meta.get("uid"),
            "creationTimestamp": meta.get("creationTimestamp"),
            **(
                {"managedFields": out["metadata"]["managedFields"]}
                if "managedFields" in out["metadata"]
                else {}
            ),
        }
        audiences = [str(a) for a in spec.get("audiences") or []] or list(self.authn.audiences)
        spec["audiences"] = audiences
        spec.setdefault("boundObjectRef", None)
        t = time.time()
        claims = bound_claims(
            namespace,
            name,
            str(meta.get("uid", "")),
            audiences=audiences,
            seconds=int(seconds),
            now=t,
            bound=bound,
        )
        out["status"] = {
            "token": self.signer.issue(claims),
            "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"])),
        }
        return out
