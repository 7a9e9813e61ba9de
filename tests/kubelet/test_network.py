"""Loopback addresses and the hosts files pods see as /etc/hosts."""

from __future__ import annotations

from pathlib import Path

from opframe.testing.kubelet.network import (
    AddressBlock,
    PodAddress,
    ServiceRecord,
    render_hosts,
    write_in_place,
)


def _pod(name: str, ip: str, *, ready: bool = True, sub: str = "", **labels: str) -> PodAddress:
    return PodAddress("ns", name, ip, ready, hostname=name, subdomain=sub, labels=labels)


def test_two_blocks_in_one_process_never_share_addresses() -> None:
    a, b = AddressBlock(), AddressBlock()
    try:
        assert a.block != b.block
        assert a.allocate("x").startswith(f"127.{a.block}.")
    finally:
        a.close()
        b.close()


def test_same_owner_gets_same_address_and_release_does_not_reuse_at_once() -> None:
    block = AddressBlock()
    try:
        first = block.allocate("pod-1")
        assert block.allocate("pod-1") == first
        block.release("pod-1")
        assert block.allocate("pod-2") != first
    finally:
        block.close()


def test_hosts_file_names_the_pod_itself_with_its_subdomain_fqdn() -> None:
    me = _pod("etcd-0", "127.9.0.1", sub="etcd")
    text = render_hosts(me, [], [])
    assert "127.9.0.1\tetcd-0.etcd.ns.svc.cluster.local\tetcd-0.etcd.ns.svc\t" in text


def test_pods_own_names_include_every_search_path_form() -> None:
    me = _pod("etcd-0", "127.9.0.1", sub="etcd")
    own = render_hosts(me, [], []).splitlines()[7].split("\t")
    assert own[1:] == [
        "etcd-0.etcd.ns.svc.cluster.local",
        "etcd-0.etcd.ns.svc",
        "etcd-0.etcd.ns",
        "etcd-0.etcd",
        "etcd-0",
    ]


def test_peers_under_a_headless_service_resolve_by_hostname_fqdn() -> None:
    me = _pod("etcd-0", "127.9.0.1", sub="etcd", app="etcd")
    peer = _pod("etcd-1", "127.9.0.2", sub="etcd", app="etcd")
    svc = ServiceRecord("ns", "etcd", {"app": "etcd"}, headless=True)
    text = render_hosts(me, [me, peer], [svc])
    assert "127.9.0.2\tetcd-1.etcd.ns.svc.cluster.local" in text


def test_unready_peers_are_listed_only_with_publish_not_ready_addresses() -> None:
    me = _pod("etcd-0", "127.9.0.1", sub="etcd")
    peer = _pod("etcd-1", "127.9.0.2", sub="etcd", ready=False)
    hidden = render_hosts(me, [peer], [ServiceRecord("ns", "etcd", {}, headless=True)])
    shown = render_hosts(
        me, [peer], [ServiceRecord("ns", "etcd", {}, headless=True, publish_not_ready=True)]
    )
    assert "etcd-1.etcd" not in hidden
    assert "etcd-1.etcd.ns.svc.cluster.local" in shown


def test_cluster_ip_service_resolves_to_one_ready_pod() -> None:
    me = _pod("client", "127.9.0.9")
    pods = [
        _pod("a", "127.9.0.1", app="x"),
        _pod("b", "127.9.0.2", app="x"),
        _pod("c", "127.9.0.3", ready=False, app="x"),
    ]
    text = render_hosts(me, pods, [ServiceRecord("ns", "x", {"app": "x"}, headless=False)])
    lines = [line for line in text.splitlines() if "x.ns.svc.cluster.local" in line]
    assert lines == ["127.9.0.1\tx.ns.svc.cluster.local x.ns.svc x.ns x"]


def test_short_service_names_only_within_the_pods_namespace() -> None:
    me = PodAddress("other", "client", "127.9.0.9", True)
    pod = _pod("a", "127.9.0.1", app="x")
    text = render_hosts(me, [pod], [ServiceRecord("ns", "x", {"app": "x"}, headless=True)])
    assert "127.9.0.1\tx.ns.svc.cluster.local x.ns.svc x.ns\n" in text


def test_rewrite_keeps_the_inode_so_bind_mounts_see_it(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("old content that is longer\n")
    inode = path.stat().st_ino
    assert write_in_place(path, "new\n")
    assert path.stat().st_ino == inode
    assert path.read_text() == "new\n"
    assert not write_in_place(path, "new\n")
