"""Every conformance transcript recorded from a real kube-apiserver replays on our server.

One test per transcript (tests/conformance/*.json); a failure lists each step that answered
differently, with the differences after normalisation (see tests/conformance/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer
from tests.apiserver._pending import PENDING, PENDING_STEPS, param
from tests.apiserver._replay import Replay

TRANSCRIPTS = sorted((Path(__file__).parent.parent / "conformance").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", [param(p, p.stem, p.stem) for p in TRANSCRIPTS])
async def test_transcript_replays_identically(path: Path, api_server_http: ApiServer) -> None:
    transcript = _load(path)
    async with aiohttp.ClientSession() as session:
        # A transcript expected to fail stops at its first failing step: it still runs, and
        # a transcript that starts passing runs whole.
        replay = Replay(session, api_server_http.url, transcript)
        # Per request, so that a step may drop it (Authorization: null) to be anonymous.
        replay.defaults["Authorization"] = f"Bearer {api_server_http.token}"
        failures = await replay.run(first_failure=path.stem in PENDING)
    pending = [f for f in failures if (path.stem, f.split(":")[0]) in PENDING_STEPS]
    failures = [f for f in failures if f not in pending]
    assert not failures, f"{path.name}: {len(failures)} steps differ:\n" + "\n".join(failures)
    if pending:
        reasons = sorted({PENDING_STEPS[(path.stem, f.split(":")[0])] for f in pending})
        pytest.xfail("; ".join(reasons))


def test_every_transcript_is_replayed() -> None:
    assert len(TRANSCRIPTS) >= 34


def test_only_known_transcripts_are_expected_to_fail() -> None:
    assert set(PENDING) <= {p.stem for p in TRANSCRIPTS}


async def test_replayer_reports_an_answer_that_differs(api_server_http: ApiServer) -> None:
    transcript = _load(TRANSCRIPTS[0].parent / "configmap-crud.json")
    step = next(s for s in transcript["steps"] if s["id"] == "get")
    step["response"]["body"]["data"]["mode"] = "not what the server says"
    headers = {"Authorization": f"Bearer {api_server_http.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        failures = await Replay(session, api_server_http.url, transcript).run()
    assert [f.split(":")[0] for f in failures] == ["get"]
