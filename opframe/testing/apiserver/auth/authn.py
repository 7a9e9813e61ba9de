"""Authentication: who sent a request, then whom it impersonates.

    authn = Authenticator(store, signer, {"s3cret": UserInfo("admin", groups=("system:masters",))})
    user = authn.authenticate(headers, peer_cert)   # 401 StatusError for a bad credential

Order as kube-apiserver's union authenticator: a client certificate signed by the cluster CA
(CN = user, O = groups), then the bearer token (static tokens, then ServiceAccount JWTs);
no credential at all is ``system:anonymous`` in ``system:unauthenticated``. Authenticated
users get ``system:authenticated``. Impersonation follows
``staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go``: every header is
authorized (verb ``impersonate`` on users, groups, uids, userextras or serviceaccounts)
before the request goes on as the impersonated user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from opframe.testing.apiserver.auth.tokens import ISSUER, LEGACY_ISSUER, TokenSigner
from opframe.testing.apiserver.auth.user import (
    ANONYMOUS,
    AUTHENTICATED,
    UNAUTHENTICATED,
    Attributes,
    UserInfo,
    service_account_user,
    split_service_account,
)
from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.registry.storage import Store

__all__ = ["Authenticator", "unauthorized"]

_IMPERSONATE_EXTRA = "impersonate-extra-"


def unauthorized() -> StatusError:
    """The 401 answer to a credential nobody recognises."""
    return StatusError(401, "Unauthorized", "Unauthorized", None)


def _with_authenticated(user: UserInfo) -> UserInfo:
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)


class Authenticator:
    """Turns request credentials into a :class:`UserInfo`."""

    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        static_tokens: Mapping[str, UserInfo],
        *,
        audiences: tuple[str, ...] = (ISSUER,),
    ) -> None:
        self.store = store
        self.signer = signer
        self.static_tokens = dict(static_tokens)
        self.audiences = audiences

    # -- tokens ----------------------------------------------------------------------------

    def token_user(
        self, token: str, audiences: tuple[str, ...] | None = None
    ) -> tuple[UserInfo, list[str]] | None:
        """The user a bearer token stands for and the audiences it was accepted for."""
        wanted = audiences or self.audiences
        static = self.static_tokens.get(token)
        if static is not None:
            return _with_authenticated(static), list(wanted)
        claims = self.signer.verify(token)
        if claims is None:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            user = self._legacy_user(claims)
            return (_with_authenticated(user), list(wanted)) if user else None
        if claims.get("iss") != ISSUER:
            return None
        aud = claims.get("aud")
        aud_list = [aud] if isinstance(aud, str) else list(aud or [])
        accepted = [a for a in wanted if a in aud_list]
        if not accepted:
            return None
        user = self._bound_user(claims)
        return (_with_authenticated(user), accepted) if user else None

    def _service_account(self, namespace: str, name: str, uid: str) -> bool:
        so = self.store.get("/serviceaccounts", namespace, name)
        return so is not None and so.meta.get("uid") == uid and not so.meta.get("deletionTimestamp")

    def _legacy_user(self, claims: dict[str, Any]) -> UserInfo | None:
        ns = str(claims.get("kubernetes.io/serviceaccount/namespace", ""))
        name = str(claims.get("kubernetes.io/serviceaccount/service-account.name", ""))
        uid = str(claims.get("kubernetes.io/serviceaccount/service-account.uid", ""))
        secret = str(claims.get("kubernetes.io/serviceaccount/secret.name", ""))
        if not self._service_account(ns, name, uid):
            return None
        so = self.store.get("/secrets", ns, secret)
        if so is None or so.meta.get("deletionTimestamp"):
            return None
        base = service_account_user(ns, name, uid)
        return UserInfo(
            base.name,
            uid,
            base.groups,
            {"authentication.kubernetes.io/credential-id": (f"Secret={so.meta.get('uid')}",)},
        )

    def _bound_user(self, claims: dict[str, Any]) -> UserInfo | None:
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            return None
        ns = str(private.get("namespace", ""))
        sa = private.get("serviceaccount") or {}
        name, uid = str(sa.get("name", "")), str(sa.get("uid", ""))
        if not self._service_account(ns, name, uid):
            return None
        extra: dict[str, tuple[str, ...]] = {
            "authentication.kubernetes.io/credential-id": (f"JTI={claims.get('jti', '')}",)
        }
        for kind, key in (("pod", "/pods"), ("secret", "/secrets")):
            ref = private.get(kind)
            if not isinstance(ref, dict):
                continue
            so = self.store.get(key, ns, str(ref.get("name", "")))
            if so is None or so.meta.get("uid") != ref.get("uid"):
                return None
            if so.meta.get("deletionTimestamp"):
                return None
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = (str(ref.get("name")),)
                extra["authentication.kubernetes.io/pod-uid"] = (str(ref.get("uid")),)
        base = service_account_user(ns, name, uid)
        return UserInfo(base.name, uid, base.groups, extra)

    # -- requests --------------------------------------------------------------------------

    def authenticate(
        self, headers: Mapping[str, str], peer_cert: dict[str, Any] | None
    ) -> UserInfo:
        """The requester; raises 401 for a bearer token nobody issued."""
        if peer_cert:
            user = _certificate_user(peer_cert)
            if user is not None:
                return _with_authenticated(user)
        auth = headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            found = self.token_user(token.strip())
            if found is None:
                raise unauthorized()
            return found[0]
        return UserInfo(ANONYMOUS, "", (UNAUTHENTICATED,))

    @staticmethod
    def impersonate(
        user: UserInfo,
        headers: Any,
        allowed: Callable[[Attributes], bool],
        forbid: Callable[[Attributes], StatusError],
    ) -> UserInfo:
        """The user ``Impersonate-*`` headers ask for, once each is authorized for ``user``."""
        name = headers.get("Impersonate-User", "")
        groups = (
            list(headers.getall("Impersonate-Group", []))
            if hasattr(headers, "getall")
            else ([headers["Impersonate-Group"]] if "Impersonate-Group" in headers else [])
        )
        uid = headers.get("Impersonate-Uid", "")
        extra: dict[str, list[str]] = {}
        for key in headers:
            if key.lower().startswith(_IMPERSONATE_EXTRA):
                extra_key = unquote(key[len(_IMPERSONATE_EXTRA) :]).lower()
                values = headers.getall(key) if hasattr(headers, "getall") else [headers[key]]
                for v in values:
                    if v not in extra.setdefault(extra_key, []):
                        extra[extra_key].append(v)
        if not name:
            if groups or extra or uid:
                asked = [f"Impersonate-Group: {g}" for g in groups] + (
                    [f"Impersonate-Uid: {uid}"] if uid else []
                )
                raise bad_request(f"requested [{' '.join(asked)}] without impersonating a user")
            return user

        def asks(group: str, resource: str, name: str, sub: str = "", ns: str = "") -> Attributes:
            return Attributes(user, "impersonate", True, "", group, "", resource, sub, ns, name)

        # Users, groups and ServiceAccounts are in the core group; extras and uids in
        # authentication.k8s.io (the kinds impersonation.go builds its requests from).
        sa = split_service_account(name)
        checks = [asks("", "serviceaccounts", sa[1], ns=sa[0]) if sa else asks("", "users", name)]
        checks += [asks("", "groups", g) for g in groups]
        checks += [
            asks("authentication.k8s.io", "userextras", v, sub=key)
            for key, values in extra.items()
            for v in values
        ]
        if uid:
            checks.append(asks("authentication.k8s.io", "uids", uid))
        for attrs in checks:
            if not allowed(attrs):
                raise forbid(attrs)
        if sa and not groups:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
        if name == ANONYMOUS:
            if UNAUTHENTICATED not in groups:
                groups.append(UNAUTHENTICATED)
        elif AUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
        return UserInfo(name, uid, tuple(groups), {k: tuple(v) for k, v in extra.items()})


def _certificate_user(cert: dict[str, Any]) -> UserInfo | None:
    cn = ""
    orgs: list[str] = []
    for rdn in cert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    if not cn:
        return None
    return UserInfo(cn, "", tuple(orgs))
