"""What a write holds beyond the object: cluster IPs allocated by the Service strategy."""

from __future__ import annotations

import aiohttp

from opframe.testing.apiserver import ApiServer


async def test_a_create_that_stores_nothing_gives_its_cluster_ip_back(
    api_server_http: ApiServer,
) -> None:
    """A Service create that fails (AlreadyExists) or is a dry run holds no cluster IP after.

    pkg/registry/core/service/storage/storage.go: the IP allocation is a transaction reverted
    when the create does not commit, so repeating a failing create never fills the range.
    """
    headers = {"Authorization": f"Bearer {api_server_http.token}"}
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "once"},
        "spec": {"ports": [{"port": 80}]},
    }
    url = f"{api_server_http.url}/api/v1/namespaces/default/services"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(url, json=body) as resp:
            assert resp.status == 201
        # More failing and dry-run creates than the /24 range has addresses.
        for i in range(300):
            target = url + ("?dryRun=All" if i % 2 else "")
            name = "once" if i % 2 == 0 else f"dry-{i}"
            async with session.post(target, json={**body, "metadata": {"name": name}}) as resp:
                assert resp.status == (201 if i % 2 else 409), await resp.text()
        async with session.post(url, json={**body, "metadata": {"name": "twice"}}) as resp:
            assert resp.status == 201, await resp.text()
