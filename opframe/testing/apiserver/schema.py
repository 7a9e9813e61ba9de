"""Custom resource schemas: the pure functions the API server calls on every CR write.

One import point for the server core; the work is split by idea across sibling modules:
``structural`` (is a CRD schema acceptable), ``crdvalidation`` (the whole CRD object),
``pruning`` (unknown fields), ``defaulting``, ``openapi`` (OpenAPI v3 value validation) and
``cel`` (``x-kubernetes-validations``).
"""

from __future__ import annotations

from opframe.testing.apiserver.structural import structural_errors

__all__ = ["structural_errors"]
