"""ServiceAccount tokens: RS256-signed JWTs, bound (TokenRequest) and legacy (Secret-based).

    signer = TokenSigner(state_dir / "pki")
    token = signer.issue(claims_for(sa, audiences=["api"], seconds=3600, now=t))
    claims = signer.verify(token)        # None unless the signature and expiry are good

The key is generated once and kept in the server's state directory, so a restarted server
accepts the tokens it issued. Claims follow ``pkg/serviceaccount/claims.go`` (the
``kubernetes.io`` private claim naming namespace, ServiceAccount and bound object) and
``pkg/serviceaccount/jwt.go`` (the legacy issuer ``kubernetes/serviceaccount``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["ISSUER", "LEGACY_ISSUER", "TokenSigner", "bound_claims", "legacy_claims"]

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs and verifies JWTs with an RSA key kept in ``directory/sa.key``."""

    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = directory / "sa.key"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            path.chmod(0o600)
        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _b64(hashlib.sha256(public).digest())

    def issue(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "kid": self.key_id}
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(sig)

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any] | None:
        """The claims of a token this signer issued and that has not expired, else ``None``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            sig = _unb64(parts[2])
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            return None
        try:
            self._key.public_key().verify(
                sig, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return None
        if not isinstance(claims, dict):
            return None
        t = time.time() if now is None else now
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and t >= exp:
            return None
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and t + 60 < nbf:
            return None
        return claims


def bound_claims(
    namespace: str,
    sa_name: str,
    sa_uid: str,
    *,
    audiences: list[str],
    seconds: int,
    now: float,
    bound: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The claims of a TokenRequest token (``bound``: the pod or secret, kind/name/uid)."""
    private: dict[str, Any] = {
        "namespace": namespace,
        "serviceaccount": {"name": sa_name, "uid": sa_uid},
    }
    if bound:
        private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
    iat = int(now)
    return {
        "aud": audiences,
        "exp": iat + seconds,
        "iat": iat,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": iat,
        "sub": f"system:serviceaccount:{namespace}:{sa_name}",
    }


def legacy_claims(namespace: str, sa_name: str, sa_uid: str, secret: str) -> dict[str, Any]:
    """The claims of a token the token controller writes into a ServiceAccount Secret."""
    return {
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": secret,
        "kubernetes.io/serviceaccount/service-account.name": sa_name,
        "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        "sub": f"system:serviceaccount:{namespace}:{sa_name}",
    }
