"""``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token``: the TokenRequest API.

STAND-IN until the embedded server has real service-account authentication: a token issued
here is JWT-shaped with the claims kube-apiserver puts in a bound token (``iss``, ``sub``
``system:serviceaccount:NS:NAME``, ``aud``, ``exp``, ``kubernetes.io`` with the namespace,
service account and bound pod), HMAC-signed with a per-server random key, and this server
accepts it as a bearer token until it expires because it remembers issuing it; it does not
verify signatures, and the identity is not used for authorization.

The request rules are kube-apiserver's (``pkg/registry/core/serviceaccount/storage/token.go`` and
``pkg/apis/authentication/validation``): the service account must exist; ``expirationSeconds``
defaults to 3600 and must be at least 600; a token bound to a Pod needs that pod to run as
that service account, and a bound uid that does not match is a conflict (the object was
deleted and recreated).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from opframe.testing.apiserver import protobuf
from opframe.testing.apiserver.errors import (
    bad_request,
    conflict,
    invalid,
    method_not_allowed,
    not_found,
)
from opframe.testing.apiserver.fielderrors import invalid as field_invalid
from opframe.testing.apiserver.http.request import Target, decode_body
from opframe.testing.apiserver.http.responses import json_response
from opframe.testing.apiserver.registry.storage import Store

__all__ = ["TokenRequests"]

_MIN_SECONDS = 600
_MAX_SECONDS = 1 << 32
_DEFAULT_SECONDS = 3600
#: kube-apiserver's default --api-audiences (the issuer URL of a default cluster).
DEFAULT_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)


class TokenRequests:
    """Issues service-account tokens and tells the server which ones are still valid."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._issued: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self._key = secrets.token_bytes(32)

    def accepts(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        expiry = self._issued.get(token)
        if expiry is None:
            return False
        if expiry <= time.time():
            del self._issued[token]
            return False
        return True

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        """Answer ``POST .../serviceaccounts/NAME/token``."""
        if request.method != "POST":
            raise method_not_allowed()
        raw = await request.read()
        if request.content_type == protobuf.MEDIA_TYPE:  # kubectl create token sends protobuf
            body = protobuf.decode_request(raw, "authentication.k8s.io/v1", "TokenRequest")
        else:
            body = decode_body(raw, "json", "TokenRequest")
        if not isinstance(body, dict):
            raise bad_request("the body must be a TokenRequest object")
        namespace, name = target.namespace or "", target.name
        account = self._store.get("/serviceaccounts", namespace, name)
        if account is None:
            raise not_found("serviceaccounts", name)
        spec: dict[str, Any] = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds")
        seconds = _DEFAULT_SECONDS if seconds is None else seconds
        if not isinstance(seconds, int) or seconds < _MIN_SECONDS or seconds > _MAX_SECONDS:
            message = (
                "may not specify a duration less than 10 minutes"
                if isinstance(seconds, int) and seconds < _MIN_SECONDS
                else "may not specify a duration larger than 2^32 seconds"
            )
            cause = field_invalid("spec.expirationSeconds", seconds, message)
            # Validation sees the request object, whose name is the body's (usually empty).
            body_name = str((body.get("metadata") or {}).get("name") or "")
            raise invalid("TokenRequest", body_name, [cause], "authentication.k8s.io")
        spec["expirationSeconds"] = seconds
        self._check_bound(spec.get("boundObjectRef"), namespace, name)
        spec["audiences"] = list(spec.get("audiences") or DEFAULT_AUDIENCES)
        spec.setdefault("boundObjectRef", None)
        issued = int(time.time())
        expiry = issued + seconds
        token = self._sign(
            {
                "iss": DEFAULT_AUDIENCES[0],
                "sub": f"system:serviceaccount:{namespace}:{name}",
                "aud": spec["audiences"],
                "iat": issued,
                "nbf": issued,
                "exp": expiry,
                "jti": secrets.token_hex(16),
                "kubernetes.io": self._claims(namespace, name, spec.get("boundObjectRef")),
            }
        )
        self._issued[token] = expiry
        stamp = datetime.fromtimestamp(int(expiry), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": account.meta.get("uid", ""),
                "creationTimestamp": account.meta.get("creationTimestamp"),
            },
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": stamp},
        }
        return json_response(201, answer)

    def _sign(self, claims: dict[str, Any]) -> str:
        def part(data: dict[str, Any]) -> str:
            raw = json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = part({"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
        mac = hmac.new(self._key, head.encode(), hashlib.sha256).digest()
        return head + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def _claims(self, namespace: str, account: str, ref: Any) -> dict[str, Any]:
        sa = self._store.get("/serviceaccounts", namespace, account)
        claims: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": account, "uid": sa.meta.get("uid", "") if sa else ""},
        }
        if isinstance(ref, dict) and ref.get("kind") in ("Pod", "Secret"):
            claims[str(ref["kind"]).lower()] = {"name": ref.get("name"), "uid": ref.get("uid")}
        return claims

    def _check_bound(self, ref: Any, namespace: str, account: str) -> None:
        if not ref:
            return
        if not isinstance(ref, dict):
            raise bad_request("spec.boundObjectRef must be an object")
        kind, ref_name = ref.get("kind", ""), str(ref.get("name", ""))
        group = str(ref.get("apiVersion", "v1")).rpartition("/")[0]
        if group or kind not in ("Pod", "Secret"):
            raise bad_request(
                f"cannot bind token to object of type {ref.get('apiVersion')}, Kind={kind}"
            )
        plural = "/pods" if kind == "Pod" else "/secrets"
        so = self._store.get(plural, namespace, ref_name)
        if so is None:
            raise not_found(plural.strip("/"), ref_name)
        if kind == "Pod":
            pod_account = (so.obj.get("spec") or {}).get("serviceAccountName") or "default"
            if pod_account != account:
                raise bad_request(
                    f'cannot bind token for serviceaccount "{account}" to pod running with '
                    f'serviceaccount "{pod_account}"'
                )
        uid = so.meta.get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            raise conflict(
                kind,
                ref_name,
                "",
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID "
                f"in record ({uid}). The object might have been deleted and then recreated",
            )
