"""Client certificates signed by the embedded server's CA (CN = user, O = groups).

    cert, key = client_certificate(server.state_dir / "pki", "alice", ["dev"], tmp_path)
    # kubectl --client-certificate cert --client-key key ... is user alice in group dev

kube-apiserver's x509 authenticator (``--client-ca-file``) takes the subject's common name
as the user name and its organizations as the groups; ours does the same.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

__all__ = ["client_certificate"]


def client_certificate(
    pki_dir: Path, user: str, groups: Sequence[str], out_dir: Path
) -> tuple[Path, Path]:
    """Write ``USER.crt``/``USER.key`` into ``out_dir``, signed by the CA in ``pki_dir``."""
    from opframe.certificates import KeyPair, issue_leaf

    ca_key_path = pki_dir / "ca.key"
    if not ca_key_path.exists():
        raise FileNotFoundError(
            f"{ca_key_path}: no CA key (a server started over plain HTTP, or state from an "
            "older version): start the server with tls=True in a fresh state directory"
        )
    ca = KeyPair.read(pki_dir / "ca.crt", ca_key_path)
    leaf = issue_leaf(
        ca, user, organizations=groups, usages=("client",), validity=datetime.timedelta(days=365)
    )
    safe = user.replace(":", "_").replace("/", "_")
    cert_path, key_path = out_dir / f"{safe}.crt", out_dir / f"{safe}.key"
    leaf.write(cert_path, key_path)
    return cert_path, key_path
