"""``opframe webhook generate`` and the CRD generator's conversion stanza.

Field names and shapes from ``k8s.io/api/admissionregistration/v1/types.go``
(ValidatingWebhook/MutatingWebhook: rules, clientConfig.service{namespace,name,path,port},
caBundle, failurePolicy, matchPolicy, sideEffects, timeoutSeconds, namespace/objectSelector,
matchConditions, admissionReviewVersions, reinvocationPolicy) and from
``k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types.go`` (CustomResourceConversion:
strategy Webhook, webhook.clientConfig, conversionReviewVersions).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from opframe.cli import main
from opframe.crd import crd_for
from opframe.webhook import (
    ClientConfig,
    SelfSignedCertificates,
    ServiceReference,
    webhook_configurations,
)

from ._models import WebV1, WebV2, make_manager

TARGET = "tests.webhook._models:manager"


def generate(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["webhook", "generate", TARGET, *args]) == 0
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_generate_writes_one_configuration_per_webhook_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = SelfSignedCertificates().ca_bundle
    (tmp_path / "ca.crt").write_bytes(ca)
    docs = generate(
        capsys, "--name", "web-operator", "--service", "web-system/web-webhook:8443",
        "--ca-bundle-file", str(tmp_path / "ca.crt"),
    )
    validating, mutating = docs
    assert validating["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    assert validating["metadata"] == {"name": "web-operator-validating"}
    (hook,) = validating["webhooks"]
    assert hook == {
        "name": "validate.webs.hooks.opframe.dev",
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "service": {
                "name": "web-webhook",
                "namespace": "web-system",
                "path": "/validate-hooks-opframe-dev-v2-web",
                "port": 8443,
            },
            "caBundle": base64.b64encode(ca).decode(),
        },
        "rules": [
            {
                "apiGroups": ["hooks.opframe.dev"],
                "apiVersions": ["v2"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["webs"],
                "scope": "Namespaced",
            }
        ],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "namespaceSelector": {
            "matchExpressions": [{"key": "skip-webhooks", "operator": "DoesNotExist"}]
        },
        "matchConditions": [
            {"name": "not-nodes",
             "expression": "!request.userInfo.username.startsWith('system:node:')"}
        ],
    }
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    (mhook,) = mutating["webhooks"]
    assert mhook["failurePolicy"] == "Ignore"
    assert mhook["objectSelector"] == {"matchLabels": {"tier": "web"}}
    assert mhook["reinvocationPolicy"] == "Never"
    assert mhook["clientConfig"]["service"]["path"] == "/mutate-hooks-opframe-dev-v2-web"


def test_generate_with_cert_manager_annotates_instead_of_a_bundle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = generate(
        capsys, "--url", "https://127.0.0.1:9443", "--cert-manager", "web-system/serving"
    )
    for doc in docs:
        assert doc["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": "web-system/serving"
        }
        for hook in doc["webhooks"]:
            assert "caBundle" not in hook["clientConfig"]
            assert hook["clientConfig"]["url"].startswith("https://127.0.0.1:9443/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--service or --url"),
        (["--service", "nonamespace"], "--service 'nonamespace': expected NAMESPACE/NAME[:PORT]"),
        (["--url", "http://x"], "must start with https://"),
        (["--url", "https://x", "--ca-bundle-file", "/nonexistent/ca.crt"], "/nonexistent/ca.crt"),
    ],
)
def test_generate_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["webhook", "generate", TARGET, *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_manager_without_admission_webhooks_is_a_clear_error() -> None:
    from opframe import Manager

    with pytest.raises(ValueError, match="no ValidatingWebhook or MutatingWebhook"):
        webhook_configurations(
            Manager(), name="x", client_config=ClientConfig(url="https://127.0.0.1:1")
        )


def test_crd_with_two_versions_gets_a_webhook_conversion() -> None:
    config = ClientConfig(service=ServiceReference("web-webhook", "web-system"), ca_bundle=b"PEM")
    crd = crd_for(WebV1, WebV2, conversion=config)
    assert [(v["name"], v["served"], v["storage"]) for v in crd["spec"]["versions"]] == [
        ("v2", True, True),
        ("v1", True, False),
    ]
    assert crd["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {"name": "web-webhook", "namespace": "web-system",
                            "path": "/convert", "port": 443},
                "caBundle": base64.b64encode(b"PEM").decode(),
            },
            "conversionReviewVersions": ["v1"],
        },
    }
    assert "conversion" not in crd_for(WebV2, conversion=config)["spec"]


def test_crd_generate_cli_conversion_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["crd", "generate", "tests.webhook._models:WebV1", "tests.webhook._models:WebV2",
            "--conversion-service", "web-system/web-webhook", "--cert-manager", "web-system/c"]
    assert main(args) == 0
    (crd,) = yaml.safe_load_all(capsys.readouterr().out)
    assert crd["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "web-system/c"}
    assert crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["name"] == "web-webhook"


def test_python_api_matches_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    config = ClientConfig(url="https://127.0.0.1:9443")
    docs = webhook_configurations(make_manager(), name="models", client_config=config)
    assert docs == generate(capsys, "--name", "models", "--url", "https://127.0.0.1:9443")
