"""pytest plugin of opframe: fixtures for the embedded control plane.

Loaded automatically through the ``pytest11`` entry point when opframe is installed. The
fixtures live beside the pieces they start: the API server's in ``_apiserver_fixtures``, the
whole local cluster's in ``_cluster_fixtures``.
"""

from opframe.testing._apiserver_fixtures import *  # noqa: F403
from opframe.testing._cluster_fixtures import *  # noqa: F403
