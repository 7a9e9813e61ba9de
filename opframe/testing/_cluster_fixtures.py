"""pytest fixtures for LocalCluster: API server + local kubelet (see opframe.testing.plugin)."""

__all__: list[str] = []
