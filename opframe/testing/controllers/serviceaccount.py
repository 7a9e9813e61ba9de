"""The service-account controller's visible effect: a ``default`` ServiceAccount everywhere.

``pkg/controller/serviceaccount/serviceaccounts_controller.go``: every active namespace gets
the ServiceAccounts in its list (``default``), recreated if deleted; a terminating namespace
gets none (the API server refuses pods in a namespace without one, as kube-apiserver does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opframe.controller import Controller
from opframe.errors import AlreadyExists, Forbidden, NotFound
from opframe.objectref import ObjectRef
from opframe.reconcile import Context
from opframe.testing.controllers._kinds import Namespace, ServiceAccount

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "serviceaccount_controller"]

DEFAULT_SERVICE_ACCOUNTS = ("default",)


async def _reconcile(ctx: Context, ns: Namespace) -> None:
    if ns.metadata.deletion_timestamp is not None:
        return
    name = ns.metadata.name or ""
    for account in DEFAULT_SERVICE_ACCOUNTS:
        if ctx.cache.get(ServiceAccount, account, name) is not None:
            continue
        sa = ServiceAccount.model_validate({"metadata": {"name": account, "namespace": name}})
        try:
            await ctx.client.create(sa)
        except (AlreadyExists, NotFound):
            pass  # created meanwhile / namespace gone
        except Forbidden:
            return  # the namespace began terminating since the cache saw it


def _namespace_of(sa: Any) -> Iterator[ObjectRef]:
    if sa.metadata.name in DEFAULT_SERVICE_ACCOUNTS:
        yield ObjectRef("", sa.metadata.namespace or "")


def serviceaccount_controller(cache: object = None) -> Controller[Namespace]:
    """The ServiceAccount controller (``cache`` unused: every controller factory takes it)."""
    return Controller(for_=Namespace, reconciler=_reconcile, name="serviceaccount").watches(
        ServiceAccount, _namespace_of
    )
