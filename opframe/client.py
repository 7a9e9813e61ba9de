"""The async typed client.

A :class:`Client` speaks the Kubernetes REST API for opframe resource models (custom resources
and the built-in wrappers of :mod:`opframe.kinds`)::

    async with await Client.default() as client:
        cm = await client.get(ConfigMap, "settings", namespace="default")
        cm.data["mode"] = "fast"
        cm = await client.replace(cm)
        await client.patch(ConfigMap, "settings", {"data": {"mode": "slow"}}, namespace="default")

Errors are the typed exceptions of :mod:`opframe.errors` (``NotFound``, ``Conflict``,
``AlreadyExists``, ``Invalid`` with field causes, ...). A 429 is retried by itself after the
server's ``Retry-After`` (bounded by :class:`RetryPolicy`); an unreachable server raises
:class:`ApiConnectionError` naming the endpoint.

Configuration comes from ``kubernetes_asyncio.config`` (kubeconfig files, exec plugins,
in-cluster service accounts); the HTTP stack is one aiohttp session per client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

from opframe._config import ConnectionConfig
from opframe._http import ApiConnectionError, RetryPolicy, Transport
from opframe._labels import selector_params
from opframe.errors import AlreadyExists
from opframe.resource import Resource, ResourceInfo, ResourceList, resource_info

__all__ = [
    "ApiConnectionError",
    "Client",
    "ConnectionConfig",
    "FieldValidation",
    "PatchType",
    "RetryPolicy",
    "WriteObserver",
]

T = TypeVar("T", bound=Resource)

FieldValidation = Literal["Strict", "Warn", "Ignore"]
"""The server's handling of unknown or duplicate fields in a write (``fieldValidation``)."""

PatchType = Literal["merge", "json", "strategic", "apply"]
"""Patch flavours: JSON merge patch, JSON patch, strategic merge patch, server-side apply."""

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class WriteObserver(Protocol):
    """Told about every write made through a client (the cache's read-your-own-writes)."""

    def written(self, model: type[Any], data: dict[str, Any]) -> None:
        """A write returned ``data`` (the object as stored)."""

    def deleted(self, model: type[Any], name: str, namespace: str | None) -> None:
        """A delete removed the object (no finalizer or grace period kept it)."""


class Client:
    """An async client for one API server. Use as ``async with`` or call :meth:`close`.

    Build it with :meth:`default` (kubeconfig or in-cluster, as kubectl finds them), or
    :meth:`from_kubeconfig` / :meth:`in_cluster` to insist on one; ``Client(config)`` takes a
    :class:`ConnectionConfig` directly (for instance
    ``ConnectionConfig.from_configuration(kubernetes_asyncio_configuration)``).

    Options: ``retry`` (:class:`RetryPolicy` for 429s), ``timeout`` (seconds per request,
    watches excepted), ``max_connections``, and ``field_validation`` sent with every write
    (``"Strict"`` turns fields the server does not know, such as a typo in a manifest
    built by hand, into a ``BadRequest`` instead of a dropped field).
    """

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        max_connections: int = 100,
        field_validation: FieldValidation | None = None,
    ) -> None:
        self._transport = Transport(
            config, retry=retry, timeout=timeout, max_connections=max_connections
        )
        self._observers: list[WriteObserver] = []
        self._guard: Callable[[], None] | None = None
        self.field_validation = field_validation

    def with_write_guard(self, guard: Callable[[], None]) -> Client:
        """This client (same connection, same write observers) checking ``guard()`` before
        every write; ``guard`` raises to refuse it.

        The Manager gives reconcilers such a client under leader election, with the
        elector's :meth:`~opframe.LeaderElector.fence` as the guard (see
        :mod:`opframe.fencing`)::

            fenced = client.with_write_guard(elector.fence)
            await fenced.create(pod)   # NotLeader if the lease was not renewed in time
        """
        guarded = object.__new__(Client)
        guarded.__dict__.update(self.__dict__)
        guarded._guard = guard
        return guarded

    @classmethod
    async def from_kubeconfig(
        cls, path: str | Path | None = None, context: str | None = None, **options: Any
    ) -> Client:
        """A client from a kubeconfig file (``$KUBECONFIG`` or ``~/.kube/config`` by default).

        ``options`` are passed to the constructor (``retry``, ``timeout``, ``max_connections``).
        """
        return cls(await ConnectionConfig.from_kubeconfig(path, context), **options)

    @classmethod
    async def default(
        cls,
        *,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        service_account_dir: str | Path | None = None,
        **options: Any,
    ) -> Client:
        """A client connected the way kubectl and controller-runtime find a cluster.

        First match wins: ``kubeconfig`` (or ``$KUBECONFIG``); in a pod, its service account;
        ``~/.kube/config``. A :class:`~opframe.ConfigError` says in one line when none is
        there. ``options`` go to the constructor::

            async with await Client.default() as client:
                print(client.host, client.namespace)
        """
        config = await ConnectionConfig.default(
            kubeconfig=kubeconfig, context=context, service_account_dir=service_account_dir
        )
        return cls(config, **options)

    @classmethod
    def in_cluster(cls, service_account_dir: str | Path | None = None, **options: Any) -> Client:
        """A client using the pod's service account (see :meth:`default`)."""
        return cls(ConnectionConfig.in_cluster(service_account_dir), **options)

    @property
    def host(self) -> str:
        """The API server's base URL."""
        return self._transport.config.host

    @property
    def namespace(self) -> str:
        """The default namespace: the pod's, the kubeconfig context's, or ``"default"``."""
        return self._transport.config.namespace or "default"

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- raw access -----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Any:
        """Send a request to ``path`` (e.g. ``/api/v1/namespaces``); returns decoded JSON."""
        return await self._transport.request(
            method, path, params=params, body=body, headers=headers, content_type=content_type
        )

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        inactivity_timeout: float | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """Open a streaming request (a watch); ``async with`` it to get the decoded lines."""
        return self._transport.stream(
            method, path, params=params, headers=headers, inactivity_timeout=inactivity_timeout
        )

    def add_write_observer(self, observer: WriteObserver) -> Callable[[], None]:
        """Tell ``observer`` about every object a write through this client returns.

        The informer cache uses it so that a controller reads its own writes. Returns a
        function that removes the observer.
        """
        self._observers.append(observer)

        def remove() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return remove

    # -- typed verbs ----------------------------------------------------------------------

    async def get(self, model: type[T], name: str, namespace: str | None = None) -> T:
        """Read one object; raises ``NotFound`` if it does not exist."""
        info = self._info(model, namespace, required=True)
        data = await self._transport.request("GET", info.path(namespace, name))
        return model.model_validate(data)

    async def list(
        self,
        model: type[T],
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> ResourceList[T]:
        """List one page of objects (all namespaces when ``namespace`` is None).

        Returns a ``ResourceList[model]`` with ``items`` and ``metadata`` (``resourceVersion``
        and ``continue`` for the next page when ``limit`` was given).
        """
        data = await self.list_raw(
            model,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
        )
        listed: ResourceList[T] = ResourceList[model].model_validate(data)  # type: ignore[valid-type]
        return listed

    async def list_all(
        self,
        model: type[T],
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[T]:
        """Iterate over every matching object, fetching ``page_size`` objects per request."""
        continue_: str | None = None
        while True:
            data = await self.list_raw(
                model,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_=continue_,
            )
            for item in data.get("items") or ():
                yield model.model_validate(item)
            continue_ = (data.get("metadata") or {}).get("continue")
            if not continue_:
                return

    async def list_raw(
        self,
        model: type[Any],
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """List one page as the decoded JSON dict (the informer's hot path: no models)."""
        info = resource_info(model)
        params = selector_params(label_selector, field_selector)
        if limit is not None:
            params["limit"] = str(limit)
        if continue_:
            params["continue"] = continue_
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        data: dict[str, Any] = await self._transport.request(
            "GET", info.path(namespace), params=params
        )
        return data

    async def create(self, obj: T, *, dry_run: bool = False, field_manager: str | None = None) -> T:
        """Create ``obj``; returns the stored object. ``AlreadyExists`` if the name is taken."""
        model = type(obj)
        body = obj.to_dict()
        namespace = _namespace_of(body)
        info = self._info(model, namespace, required=True)
        if self._guard is not None:
            self._guard()
        data = await self._transport.request(
            "POST",
            info.path(namespace),
            params=self._write_params(dry_run, field_manager),
            body=body,
        )
        return self._written(model, data, dry_run)

    async def ensure(self, obj: T, *, field_manager: str | None = None) -> T:
        """Create ``obj`` unless an object of that name exists; return the stored object.

        The one "create if missing" idiom: the existing object is returned as it is (not
        updated), so a reconcile can ensure its children on every pass::

            service = await ctx.client.ensure(peer_service(cluster))

        To converge an existing object to ``obj`` too, use :meth:`apply` instead.
        """
        try:
            return await self.create(obj, field_manager=field_manager)
        except AlreadyExists:
            meta = obj.metadata
            return await self.get(type(obj), _name_of(obj.to_dict()), meta.namespace)

    async def replace(
        self, obj: T, *, dry_run: bool = False, field_manager: str | None = None
    ) -> T:
        """Replace (PUT) ``obj``; ``Conflict`` if its ``resourceVersion`` is stale.

        With a status subresource the server ignores ``status`` here: use
        :meth:`replace_status` for that.
        """
        return await self._put(obj, None, dry_run=dry_run, field_manager=field_manager)

    async def replace_status(
        self, obj: T, *, dry_run: bool = False, field_manager: str | None = None
    ) -> T:
        """Replace the ``status`` subresource of ``obj`` (the server ignores other changes).

        The status writes are :meth:`replace_status`, :meth:`patch_status` and
        :meth:`apply_status`::

            set_condition(web.status.conditions, "Ready", True, reason="Published")
            web = await ctx.client.replace_status(web)
        """
        return await self._put(obj, "status", dry_run=dry_run, field_manager=field_manager)

    async def _put(
        self, obj: T, subresource: str | None, *, dry_run: bool, field_manager: str | None
    ) -> T:
        model = type(obj)
        body = obj.to_dict()
        name, namespace = _name_of(body), _namespace_of(body)
        info = self._info(model, namespace, required=True)
        if self._guard is not None:
            self._guard()
        data = await self._transport.request(
            "PUT",
            info.path(namespace, name, subresource),
            params=self._write_params(dry_run, field_manager),
            body=body,
        )
        return self._written(model, data, dry_run)

    async def patch(
        self,
        model: type[T],
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> T:
        """Patch one object (:meth:`patch_status` patches its status).

        ``patch`` is a dict for ``merge``/``strategic``/``apply`` patches and a list of
        operations for ``json`` (RFC 6902) patches::

            await client.patch(ConfigMap, "settings", {"data": {"mode": "slow"}}, namespace="a")
        """
        return await self._patch(
            model, name, patch, None, namespace, patch_type, field_manager, force, dry_run
        )

    async def patch_status(
        self,
        model: type[T],
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> T:
        """Patch the ``status`` subresource of one object::

        await client.patch_status(Web, "blog", {"status": {"ready": 2}}, namespace="a")
        """
        return await self._patch(
            model, name, patch, "status", namespace, patch_type, field_manager, force, dry_run
        )

    async def _patch(
        self,
        model: type[T],
        name: str,
        patch: Any,
        subresource: str | None,
        namespace: str | None,
        patch_type: PatchType,
        field_manager: str | None,
        force: bool | None,
        dry_run: bool,
    ) -> T:
        info = self._info(model, namespace, required=True)
        params = self._write_params(dry_run, field_manager)
        if force is not None:
            params["force"] = "true" if force else "false"
        if self._guard is not None:
            self._guard()
        data = await self._transport.request(
            "PATCH",
            info.path(namespace, name, subresource),
            params=params,
            body=patch,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )
        return self._written(model, data, dry_run)

    async def apply(
        self, obj: T, *, field_manager: str, force: bool = False, dry_run: bool = False
    ) -> T:
        """Server-side apply ``obj`` as ``field_manager``.

        Only the fields set on ``obj`` are sent (model defaults are not), so build it with
        just the fields this manager owns. ``force=True`` takes over fields owned by other
        managers instead of failing with ``Conflict``.
        """
        return await self._apply(obj, None, field_manager, force, dry_run)

    async def apply_status(
        self, obj: T, *, field_manager: str, force: bool = False, dry_run: bool = False
    ) -> T:
        """Server-side apply the ``status`` of ``obj`` as ``field_manager`` (see :meth:`apply`)."""
        return await self._apply(obj, "status", field_manager, force, dry_run)

    async def _apply(
        self, obj: T, subresource: str | None, field_manager: str, force: bool, dry_run: bool
    ) -> T:
        model = type(obj)
        # Only the fields the caller set: defaults of the model must not become fields this
        # manager owns (and fights other managers over).
        body = obj.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        metadata = dict(body.get("metadata") or {})
        # The server rejects an apply configuration carrying managedFields.
        metadata.pop("managedFields", None)
        body["metadata"] = metadata
        info = resource_info(model)
        body.setdefault("apiVersion", info.api_version)
        body.setdefault("kind", info.kind)
        return await self._patch(
            model,
            _name_of(body),
            body,
            subresource,
            _namespace_of(body),
            "apply",
            field_manager,
            force,
            dry_run,
        )

    async def delete(
        self,
        model: type[Any],
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> None:
        """Delete one object; ``NotFound`` if it is already gone.

        ``preconditions`` may hold ``uid`` and/or ``resourceVersion`` (``Conflict`` if they
        no longer match). With finalizers the object stays, with a deletionTimestamp, until
        they are removed.
        """
        info = self._info(model, namespace, required=True)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if dry_run:
            options["dryRun"] = ["All"]
        if self._guard is not None:
            self._guard()
        data = await self._transport.request("DELETE", info.path(namespace, name), body=options)
        if dry_run:
            return
        if isinstance(data, dict) and data.get("kind") == info.kind:
            metadata = data.get("metadata") or {}
            if metadata.get("finalizers") or metadata.get("deletionGracePeriodSeconds"):
                # The object survives for now: let the cache see its deletionTimestamp.
                self._notify(model, data)
                return
        for observer in tuple(self._observers):
            observer.deleted(model, name, namespace)

    # -- helpers --------------------------------------------------------------------------

    def _info(
        self, model: type[Any], namespace: str | None, *, required: bool = False
    ) -> ResourceInfo:
        info = resource_info(model)
        if not info.namespaced and namespace:
            raise ValueError(f"{info.kind} is cluster-scoped: do not pass a namespace")
        if info.namespaced and required and not namespace:
            raise ValueError(f"{info.kind} is namespaced: give the object's namespace")
        return info

    def _write_params(self, dry_run: bool, field_manager: str | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if dry_run:
            params["dryRun"] = "All"
        if field_manager:
            params["fieldManager"] = field_manager
        if self.field_validation:
            params["fieldValidation"] = self.field_validation
        return params

    def _written(self, model: type[T], data: Any, dry_run: bool) -> T:
        if not dry_run:
            self._notify(model, data)
        return model.model_validate(data)

    def _notify(self, model: type[Any], data: dict[str, Any]) -> None:
        metadata = data.get("metadata") or {}
        if _deletion_completed(metadata):
            # The write removed the last finalizer of an object being deleted: the server
            # deleted it. Its answer carries the resourceVersion it had before, so an
            # observer comparing versions would take it for an old copy and keep showing
            # the finalizer (and a reconcile would run the cleanup again).
            name = str(metadata.get("name") or "")
            namespace = metadata.get("namespace") or None
            for observer in tuple(self._observers):
                observer.deleted(model, name, namespace)
            return
        for observer in tuple(self._observers):
            observer.written(model, data)


def _deletion_completed(metadata: Mapping[str, Any]) -> bool:
    """Whether a write's answer shows the object deleted by that write.

    kube-apiserver deletes an object during an update that leaves it no finalizers while a
    deletion with grace period 0 is pending (``shouldDeleteDuringUpdate`` in
    ``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``); a pod still in
    its grace period (``deletionGracePeriodSeconds`` > 0) lives on.
    """
    return (
        bool(metadata.get("deletionTimestamp"))
        and not metadata.get("finalizers")
        and metadata.get("deletionGracePeriodSeconds") in (0, None)
    )


def _name_of(body: Mapping[str, Any]) -> str:
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise ValueError(f"{body.get('kind', 'object')}: metadata.name is required")
    return str(name)


def _namespace_of(body: Mapping[str, Any]) -> str | None:
    namespace = (body.get("metadata") or {}).get("namespace")
    return str(namespace) if namespace else None
