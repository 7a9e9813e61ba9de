"""Custom resource schemas, as apiextensions-apiserver checks and applies them.

``custom_resource`` is the entry: the pure functions a CR write calls, in the server's order
(type meta, pruning, defaulting, OpenAPI validation, CEL). Beneath it: ``structural`` (is a
CRD schema structural?), ``features`` (OpenAPI features a CRD may use), ``crd_validation``
(validation and defaulting of CRD objects), ``nodes`` (a schema compiled once into nodes),
``validation`` (OpenAPI v3 validation worded as the real server words it), ``cel``
(``x-kubernetes-validations``), ``pruning``, ``defaulting`` and ``resource_checks``.
"""
