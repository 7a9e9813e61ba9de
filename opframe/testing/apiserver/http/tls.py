"""A throwaway CA and serving certificate for the embedded API server, and its kubeconfig."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import yaml

__all__ = ["write_certificates", "write_kubeconfig"]

_VALIDITY = datetime.timedelta(days=3650)


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Create ``ca.crt``, ``server.crt`` and ``server.key`` (for 127.0.0.1 and localhost).

    Existing files are reused, so a restarted server keeps the CA its clients trust.
    """
    from opframe.certificates import issue_ca, issue_leaf

    ca_path, cert_path, key_path = (
        directory / "ca.crt",
        directory / "server.crt",
        directory / "server.key",
    )
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    ca = issue_ca("opframe-local-ca", validity=_VALIDITY)
    leaf = issue_leaf(
        ca,
        "kube-apiserver",
        dns_names=["localhost", "kubernetes", "kubernetes.default.svc"],
        ip_addresses=["127.0.0.1"],
        validity=_VALIDITY,
    )
    # The CA key stays beside it: client certificates are signed with it (auth.certs).
    ca.write(ca_path, directory / "ca.key")
    leaf.write(cert_path, key_path)
    return ca_path, cert_path, key_path


def write_kubeconfig(path: Path, url: str, token: str, ca_file: Path | None) -> Path:
    """Write a kubeconfig whose current context is the embedded server."""
    cluster: dict[str, object] = {"server": url}
    if ca_file is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "opframe-local", "cluster": cluster}],
        "users": [{"name": "opframe-local", "user": {"token": token}}],
        "contexts": [
            {
                "name": "opframe-local",
                "context": {
                    "cluster": "opframe-local",
                    "user": "opframe-local",
                    "namespace": "default",
                },
            }
        ],
        "current-context": "opframe-local",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
