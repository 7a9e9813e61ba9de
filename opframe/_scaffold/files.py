"""The files of a new operator project (``opframe init``), as templates.

``$name`` is the project (a DNS label, ``shop-operator``), ``$package`` its Python package,
``$kind`` the custom resource's kind, ``$group`` its API group, ``$opframe`` the version of
opframe that made the project. ``deploy/crd.yaml`` and ``deploy/rbac.yaml`` are generated
from the project's code after these are written.
"""

from __future__ import annotations

__all__ = ["TEMPLATES"]

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "0.1.0"
description = "A Kubernetes operator for $kind resources, built with opframe."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["opframe>=$opframe"]

[project.optional-dependencies]
test = ["opframe[testing]>=$opframe", "pytest>=8", "mypy>=1.10"]

[project.scripts]
$name = "$package.__main__:main"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
testpaths = ["tests"]
pythonpath = ["."]

[tool.mypy]
strict = true
plugins = ["pydantic.mypy"]
"""

_README = """\
# $name

A Kubernetes operator for `$kind` resources (`$group`), made with `opframe init`.

```console
$$ pip install -e '.[test]'
$$ pytest -q                                   # against opframe's embedded API server
$$ export KUBECONFIG=$$(opframe local up)       # or any cluster
$$ kubectl apply -k deploy/                    # CRD, RBAC, Deployment (needs the image)
$$ opframe crd generate $package.models > deploy/crd.yaml   # after changing the model
$$ python -m $package                          # run it from here instead of in the cluster
```
"""

_INIT = '''\
"""$name: a Kubernetes operator for $kind resources."""
'''

_MODELS = '''\
"""The $kind resource: what a user asks for (spec) and what the operator reports (status)."""

from __future__ import annotations

from pydantic import Field

from opframe import Conditions, KubeModel, Resource


class ${kind}Spec(KubeModel):
    """What a $kind asks for."""

    message: str = Field(min_length=1)
    """The text published in the $kind's ConfigMap."""


class ${kind}Status(KubeModel):
    """What the operator observed."""

    conditions: Conditions = []
    """``Ready`` once the ConfigMap holds the message."""


class $kind(Resource, group="$group", version="v1alpha1"):
    """A $kind publishes its message in a ConfigMap of the same name."""

    spec: ${kind}Spec
    status: ${kind}Status = Field(default_factory=${kind}Status)
'''

_RECONCILER = '''\
"""Reconcile a $kind: one ConfigMap it owns holds its message; a Ready condition says so."""

from __future__ import annotations

from opframe import ConfigMap, Context, ObjectMeta, set_condition, set_controller_reference

from $package.models import $kind

FIELD_MANAGER = "$name"


async def reconcile(ctx: Context, obj: $kind) -> None:
    """Make the ConfigMap match the $kind (idempotent: a second call changes nothing)."""
    name, namespace = obj.metadata.name, obj.metadata.namespace
    cm = ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace), data={"message": obj.spec.message}
    )
    set_controller_reference(obj, cm)
    await ctx.client.apply(cm, field_manager=FIELD_MANAGER, force=True)
    if set_condition(
        obj.status.conditions,
        "Ready",
        True,
        reason="Published",
        message=f"ConfigMap {name} holds the message",
        observed_generation=obj.metadata.generation,
    ):
        await ctx.client.replace_status(obj)
'''

_OPERATOR = '''\
"""The manager: one controller for $kind, which owns ConfigMaps."""

from __future__ import annotations

from opframe import ConfigMap, Controller, Manager

from $package.models import $kind
from $package.reconciler import reconcile


def build_manager() -> Manager:
    """A manager running the $kind controller (flags of ``python -m $package`` apply)."""
    manager = Manager()
    manager.add(
        Controller(for_=$kind, reconciler=reconcile)
        .owns(ConfigMap)
        # The writes the reconciler makes: deploy/rbac.yaml is generated from these.
        .permits(ConfigMap, "create", "patch")
        .permits($kind, "update", subresource="status")
    )
    return manager
'''

_MAIN = '''\
"""``python -m $package [--namespace NS] [--leader-elect] ...``: run the operator."""

from __future__ import annotations

import argparse
import sys

from opframe import RunOptions, run_main

from $package.operator import build_manager


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and run until SIGTERM or Ctrl-C; one-line errors, exit code 1."""
    parser = argparse.ArgumentParser(prog="$name", description="Run the $kind operator.")
    RunOptions.add_arguments(parser)
    options = RunOptions.from_args(parser.parse_args(argv))
    return run_main(build_manager, options, name="$name", prog="$name")


if __name__ == "__main__":
    sys.exit(main())
'''

_TEST = '''\
"""The operator against opframe's embedded API server (fixtures from opframe's plugin)."""

from __future__ import annotations

from pathlib import Path

from opframe import Client, ConfigMap, ObjectMeta, crd_yaml, is_true
from opframe.testing import InstallCrds, OperatorRunner, eventually

from $package.models import $kind, ${kind}Spec
from $package.operator import build_manager

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


async def test_a_${lower}_publishes_its_message_and_becomes_ready(
    client: Client, install_crds: InstallCrds, run_operator: OperatorRunner
) -> None:
    await install_crds($kind)
    await run_operator(build_manager)
    await client.create(
        $kind(
            metadata=ObjectMeta(name="hello", namespace="default"),
            spec=${kind}Spec(message="Hello"),
        )
    )

    async def published() -> None:
        cm = await client.get(ConfigMap, "hello", "default")
        assert cm.data == {"message": "Hello"}
        obj = await client.get($kind, "hello", "default")
        assert is_true(obj.status.conditions, "Ready"), obj.status

    await eventually(published)


def test_the_deployed_crd_matches_the_model() -> None:
    assert (DEPLOY / "crd.yaml").read_text() == crd_yaml($kind), (
        "deploy/crd.yaml is stale: opframe crd generate $package.models > deploy/crd.yaml"
    )
'''

_DOCKERFILE = """\
# docker build -t $name .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY $package ./$package
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 65532:65532
ENTRYPOINT ["python", "-m", "$package"]
CMD ["--leader-elect", "--bind-address=0.0.0.0"]
"""

_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: $name-system
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name
  namespace: $name-system
  labels:
    app.kubernetes.io/name: $name
spec:
  replicas: 2  # with leader election: a standby takes over within the lease duration
  selector:
    matchLabels:
      app.kubernetes.io/name: $name
  template:
    metadata:
      labels:
        app.kubernetes.io/name: $name
    spec:
      serviceAccountName: $name
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
      containers:
        - name: operator
          image: $name:0.1.0
          args: ["--leader-elect", "--bind-address=0.0.0.0", "--log-format=json"]
          ports:
            - { name: metrics, containerPort: 8080 }
            - { name: health, containerPort: 8081 }
          readinessProbe:
            httpGet: { path: /readyz, port: health }
          livenessProbe:
            httpGet: { path: /healthz, port: health }
            periodSeconds: 20
          resources:
            requests: { cpu: 50m, memory: 64Mi }
            limits: { memory: 256Mi }
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: ["ALL"] }
"""

_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - crd.yaml
  - namespace.yaml
  - rbac.yaml
  - deployment.yaml
"""

_GITIGNORE = """\
.venv/
__pycache__/
*.egg-info/
dist/
build/
"""

TEMPLATES: dict[str, str] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    ".gitignore": _GITIGNORE,
    "Dockerfile": _DOCKERFILE,
    "$package/__init__.py": _INIT,
    "$package/py.typed": "",
    "$package/models.py": _MODELS,
    "$package/reconciler.py": _RECONCILER,
    "$package/operator.py": _OPERATOR,
    "$package/__main__.py": _MAIN,
    "tests/test_operator.py": _TEST,
    "deploy/namespace.yaml": _NAMESPACE,
    "deploy/deployment.yaml": _DEPLOYMENT,
    "deploy/kustomization.yaml": _KUSTOMIZATION,
}
"""Relative path -> ``string.Template`` text (paths are templates too)."""
