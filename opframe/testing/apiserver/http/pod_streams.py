"""``pods/exec``, ``pods/attach`` and ``pods/portforward`` over WebSockets, as kubectl speaks them.

kube-apiserver proxies these to the kubelet; here the local kubelet is the
:class:`PodStreamProvider` and this module speaks the wire protocols of kubectl 1.30+:

- exec and attach: the channel protocol ``v5.channel.k8s.io`` (``v4`` too), from
  ``k8s.io/apimachinery/pkg/util/remotecommand`` and client-go's ``remotecommand/websocket.go``:
  each binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status,
  4 resize); the status channel carries one ``metav1.Status`` (``NonZeroExitCode`` with an
  ``ExitCode`` cause for a failed command) before the server closes; v5 adds channel 255,
  by which the client closes a stream (``[255, 0]``: end of stdin).
- port-forward: SPDY/3.1 tunnelled through the WebSocket (``SPDY/3.1+portforward.k8s.io``,
  client-go ``portforward/tunneling_connection.go``), see :mod:`.spdy`; each forwarded
  connection is a pair of streams (``error`` and ``data``) sharing a ``requestid``, as
  kubelet's ``cri/streaming/portforward/httpstream.go`` serves them.

The SPDY upgrade that older kubectl versions use is not served (answered 400).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from opframe._tasks import cancel_and_wait
from opframe.testing.apiserver.errors import bad_request, method_not_allowed, not_found
from opframe.testing.apiserver.http import spdy
from opframe.testing.apiserver.http.request import Target, flag
from opframe.testing.apiserver.registry.storage import Store

__all__ = ["ExecProcess", "PodStreamProvider", "PodStreams", "exit_status"]

log = logging.getLogger(__name__)

CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class ExecProcess(Protocol):
    """A started command: ``asyncio.subprocess.Process`` is one; a terminal adds ``resize``."""

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited."""
        ...

    async def wait(self) -> int:
        """Wait for the exit code."""
        ...

    def kill(self) -> None:
        """SIGKILL it."""
        ...


class Attached(Protocol):
    """A running container as ``kubectl attach`` reaches it."""

    stdin: asyncio.StreamWriter | None
    stdin_once: bool

    def output(self) -> AsyncIterator[bytes]:
        """Its output from now on, until it exits."""
        ...

    def resize(self, width: int, height: int) -> None:
        """The client's terminal size."""
        ...


class PodStreamProvider(Protocol):
    """Runs what the streaming subresources ask for (the local kubelet implements it).

    Each method raises :class:`LookupError` with the kubelet's words when the pod or
    container is not running.
    """

    async def exec(
        self,
        namespace: str,
        name: str,
        container: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool = False,
    ) -> ExecProcess:
        """Start ``command`` in the container: stdout and stderr piped, stdin if asked; with
        ``tty`` on a terminal (stdout only, and a ``resize(width, height)`` method)."""
        ...

    def attach(self, namespace: str, name: str, container: str) -> Attached:
        """The running container's output and stdin."""
        ...

    async def port_forward(
        self, namespace: str, name: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` of the pod."""
        ...


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The ``metav1.Status`` the status channel carries for an exit code."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _failure(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}


class _Channels:
    """One exec/attach WebSocket: channel-prefixed messages."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.v5 = ws.ws_protocol == CHANNEL_PROTOCOLS[0]

    async def send(self, channel: int, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def finish(self, status: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(STATUS, json.dumps(status).encode())
            await self.ws.close()


class PodStreams:
    """Handlers of pods/exec, pods/attach and pods/portforward."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def handle(
        self, request: web.Request, target: Target, provider: PodStreamProvider | None
    ) -> web.StreamResponse:
        """Answer a streaming request (a WebSocket upgrade) on one of the subresources."""
        if request.method not in ("GET", "POST"):
            raise method_not_allowed()
        so = self._store.get("/pods", target.namespace or "", target.name)
        if so is None:
            raise not_found("pods", target.name)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise bad_request(
                f"pods/{target.subresource} is served over WebSockets only "
                "(kubectl 1.30 or newer); the SPDY upgrade is not supported"
            )
        namespace, name = target.namespace or "", target.name
        if target.subresource == "portforward":
            return await self._port_forward(request, namespace, name, provider)
        container = self._container(so.obj, request.query.get("container", ""), target.name)
        return await self._remote_command(request, target, container, provider)

    @staticmethod
    def _container(pod: dict[str, Any], container: str, name: str) -> str:
        names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
        names += [c.get("name", "") for c in (pod.get("spec") or {}).get("initContainers") or []]
        if not container:
            regular = (pod.get("spec") or {}).get("containers") or []
            if len(regular) != 1:
                listed = " ".join(c.get("name", "") for c in regular)
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{listed}]"
                )
            return str(regular[0].get("name", ""))
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {name}")
        return container

    async def _remote_command(
        self,
        request: web.Request,
        target: Target,
        container: str,
        provider: PodStreamProvider | None,
    ) -> web.StreamResponse:
        q = request.query
        command = q.getall("command", [])
        stdin, stdout, stderr = flag(q.get("stdin")), flag(q.get("stdout")), flag(q.get("stderr"))
        if target.subresource == "exec" and not command:
            raise bad_request("you must specify at least one command for the container")
        if not (stdin or stdout or stderr):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS, autoping=True)
        await ws.prepare(request)
        channels = _Channels(ws)
        if ws.ws_protocol is None:
            await ws.close()
            return ws
        namespace, name = target.namespace or "", target.name
        if provider is None:
            await channels.finish(_failure(f"pod {name} is not running on any node"))
            return ws
        try:
            if target.subresource == "exec":
                status = await self._exec(
                    channels,
                    provider,
                    (namespace, name, container),
                    command,
                    stdin=stdin,
                    tty=flag(q.get("tty")),
                )
            else:
                attached = provider.attach(namespace, name, container)
                status = await self._attach(channels, attached, stdin=stdin)
        except LookupError as exc:
            status = _failure(str(exc.args[0]) if exc.args else str(exc))
        await channels.finish(status)
        return ws

    async def _exec(
        self,
        channels: _Channels,
        provider: PodStreamProvider,
        where: tuple[str, str, str],
        command: list[str],
        *,
        stdin: bool,
        tty: bool,
    ) -> dict[str, Any]:
        proc = await provider.exec(*where, command, stdin=stdin, tty=tty)
        try:
            async with asyncio.TaskGroup() as tg:
                inbound = tg.create_task(self._stdin(channels, proc))
                pumps = [
                    tg.create_task(self._pump(stream, channels, channel))
                    for stream, channel in ((proc.stdout, STDOUT), (proc.stderr, STDERR))
                    if stream is not None
                ]
                code = await proc.wait()
                await asyncio.gather(*pumps)
                inbound.cancel()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        return exit_status(code, command)

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, channels: _Channels, channel: int) -> None:
        while True:
            try:
                chunk = await stream.read(32768)
            except OSError:  # a terminal's master side answers EIO once the command is gone
                return
            if not chunk:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await channels.send(channel, chunk)

    @staticmethod
    async def _stdin(channels: _Channels, proc: ExecProcess) -> None:
        writer = proc.stdin
        async for msg in channels.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            resize = getattr(proc, "resize", None)
            if channel == RESIZE and resize is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    size = json.loads(data)
                    resize(int(size["Width"]), int(size["Height"]))
                continue
            if writer is None:
                continue
            if channel == STDIN and data:
                with contextlib.suppress(ConnectionError):
                    writer.write(data)
                    await writer.drain()
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                writer.close()
        # The client went away: end the command's input too.
        if writer is not None and not writer.is_closing():
            writer.close()

    @staticmethod
    async def _attach(channels: _Channels, attached: Attached, *, stdin: bool) -> dict[str, Any]:
        # Keep reading the client's messages even without stdin: that also answers its
        # heartbeat pings, without which client-go gives the connection up.
        inbound = asyncio.create_task(_attach_input(channels, attached, stdin))
        output = attached.output()
        try:
            async for chunk in output:
                await channels.send(STDOUT, chunk)
        finally:
            await cancel_and_wait(inbound)
            closer: Callable[[], Awaitable[None]] | None = getattr(output, "aclose", None)
            if closer is not None:
                await closer()
        return {"metadata": {}, "status": "Success"}

    async def _port_forward(
        self,
        request: web.Request,
        namespace: str,
        name: str,
        provider: PodStreamProvider | None,
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), autoping=True)
        await ws.prepare(request)
        if ws.ws_protocol != TUNNEL_PROTOCOL or provider is None:
            await ws.close()
            return ws
        await _Tunnel(ws, provider, namespace, name).run()
        return ws


class _Tunnel:
    """One port-forward session: SPDY streams over the WebSocket, paired by ``requestid``."""

    def __init__(
        self, ws: web.WebSocketResponse, provider: PodStreamProvider, namespace: str, name: str
    ) -> None:
        self.ws = ws
        self.provider = provider
        self.namespace, self.name = namespace, name
        self.codec = spdy.HeaderCodec()
        self.lock = asyncio.Lock()
        self.pending: dict[str, dict[str, int]] = {}
        self.ports: dict[str, int] = {}
        # Bytes from the client per data stream, queued until its connection is open.
        self.inbox: dict[int, asyncio.Queue[bytes | None]] = {}

    async def send(self, frame: bytes) -> None:
        async with self.lock:
            if not self.ws.closed:
                await self.ws.send_bytes(frame)

    async def run(self) -> None:
        reader = spdy.FrameReader(self.codec)
        try:
            async with asyncio.TaskGroup() as tg:
                async for msg in self.ws:
                    if msg.type != WSMsgType.BINARY:
                        continue
                    for frame in reader.feed(msg.data):
                        if await self._on_frame(frame, tg):
                            raise _SessionOver
                raise _SessionOver  # the client closed the WebSocket: stop every forward
        except* (_SessionOver, ConnectionError):
            pass
        except* ValueError as group:
            log.warning("port-forward to %s/%s: %s", self.namespace, self.name, group.exceptions[0])
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close()

    async def _on_frame(self, frame: spdy.Frame, tg: asyncio.TaskGroup) -> bool:
        if isinstance(frame, spdy.SynStream):
            # Replies go out in the order their headers are compressed (one zlib context).
            await self.send(spdy.syn_reply(self.codec, frame.stream_id))
            request_id = frame.headers.get("requestid", "")
            kind = frame.headers.get("streamtype", "")
            pair = self.pending.setdefault(request_id, {})
            pair[kind] = frame.stream_id
            self.ports[request_id] = int(frame.headers.get("port") or 0)
            if kind == "data":
                self.inbox[frame.stream_id] = asyncio.Queue()
            if "error" in pair and "data" in pair:
                del self.pending[request_id]
                port = self.ports.pop(request_id)
                tg.create_task(self._forward(pair["error"], pair["data"], port))
        elif isinstance(frame, spdy.DataFrame):
            inbox = self.inbox.get(frame.stream_id)
            if inbox is not None:
                if frame.data:
                    inbox.put_nowait(frame.data)
                if frame.fin:
                    inbox.put_nowait(None)
        elif frame.type == spdy.PING:
            await self.send(spdy.control_frame(spdy.PING, frame.payload))
        elif frame.type == spdy.GOAWAY:
            return True
        elif frame.type == spdy.RST_STREAM:
            stream_id = int.from_bytes(frame.payload[:4], "big") & 0x7FFFFFFF
            inbox = self.inbox.get(stream_id)
            if inbox is not None:
                inbox.put_nowait(None)
        return False

    async def _forward(self, error_id: int, data_id: int, port: int) -> None:
        try:
            reader, writer = await self.provider.port_forward(self.namespace, self.name, port)
        except (LookupError, OSError) as exc:
            message = f"error forwarding port {port} to pod {self.name}: {exc}"
            await self.send(spdy.data_frame(error_id, message.encode(), fin=True))
            await self.send(spdy.data_frame(data_id, b"", fin=True))
            return
        to_pod = asyncio.create_task(_to_pod(self.inbox[data_id], writer))
        try:
            # The pod's side ending (EOF) ends the forward, as kubelet's copy does: the
            # client closes its local connection once both streams are finished.
            while chunk := await reader.read(32768):
                await self.send(spdy.data_frame(data_id, chunk))
        except ConnectionError:
            pass
        finally:
            await cancel_and_wait(to_pod)
            self.inbox.pop(data_id, None)
            writer.close()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(spdy.data_frame(data_id, b"", fin=True))
                await self.send(spdy.data_frame(error_id, b"", fin=True))


async def _attach_input(channels: _Channels, attached: Attached, stdin: bool) -> None:
    writer = attached.stdin if stdin else None
    async for msg in channels.ws:
        if msg.type != WSMsgType.BINARY or not msg.data:
            continue
        channel, data = msg.data[0], msg.data[1:]
        if channel == RESIZE:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                size = json.loads(data)
                attached.resize(int(size["Width"]), int(size["Height"]))
        elif channel == STDIN and writer is not None and data:
            with contextlib.suppress(ConnectionError):
                writer.write(data)
                await writer.drain()
        elif channel == CLOSE and data[:1] == bytes([STDIN]) and writer is not None:
            if attached.stdin_once:  # the first attach's end of input is the container's
                writer.close()
            writer = None


async def _to_pod(inbox: asyncio.Queue[bytes | None], writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):  # the pod closed: the other direction ends it
        while (data := await inbox.get()) is not None:
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # the client is done sending: half-close towards the pod


class _SessionOver(Exception):
    """The client closed the tunnel."""
