"""An embedded Kubernetes API server for tests: real REST API over real HTTP(S).

    from opframe.testing.apiserver import ApiServer

    async with ApiServer() as server:
        ...  # point any Kubernetes client at server.kubeconfig

See ``docs/testing/apiserver.md`` for what it emulates and what it does not.
"""

from opframe.testing.apiserver.http.pod_subresources import PodLogProvider
from opframe.testing.apiserver.http.server import ApiServer

__all__ = ["ApiServer", "PodLogProvider"]
