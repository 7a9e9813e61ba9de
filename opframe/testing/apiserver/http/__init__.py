"""The HTTP face of the embedded API server, as kube-apiserver's ``endpoints`` package is.

Requests enter here and leave here: ``server`` (the aiohttp app, routes, fault injection),
``request`` (paths, bodies, content negotiation, options), ``rest`` (the REST verbs),
``apply`` (server-side apply requests), ``watch`` (watch streams), ``pod_subresources``
(binding, eviction, log), ``discovery``, ``openapi`` (the ``/openapi/v3`` documents),
``table`` (Table output), ``responses`` and ``tls`` (the serving certificate and kubeconfig).
A write goes on to :mod:`..registry`, which calls :mod:`..schema` and then storage.
"""
