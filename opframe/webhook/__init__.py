"""Webhooks served by an operator: admission (validating, mutating) and CRD conversion.

::

    manager = Manager(client, webhook_server=WebhookServer(port=9443))
    manager.add_webhook(ValidatingWebhook(Web, check_web))
    manager.add_webhook(MutatingWebhook(Web, default_web))
    manager.add_webhook(ConversionWebhook(hub=WebV2, spokes=[WebV1]))

- :mod:`opframe.webhook.admission`: typed handlers and the AdmissionReview v1 wire format;
- :mod:`opframe.webhook.conversion`: hub-and-spoke conversion and ConversionReview v1;
- :mod:`opframe.webhook.server`: the HTTPS server the manager runs;
- :mod:`opframe.webhook.certs`: its certificate, generated and rotated or read from files;
- :mod:`opframe.webhook.configuration`: the Validating/MutatingWebhookConfiguration objects
  (``opframe webhook generate``) and a CRD's ``spec.conversion``.

See ``docs/webhooks.md`` and ``docs/conversion.md``.
"""

from __future__ import annotations

from opframe.webhook.admission import (
    ADMISSION_REVIEW_VERSION,
    AdmissionRequest,
    Denied,
    FailurePolicy,
    MatchCondition,
    MutatingHandler,
    MutatingWebhook,
    Operation,
    ReviewError,
    UserInfo,
    ValidatingHandler,
    ValidatingWebhook,
)
from opframe.webhook.certs import (
    CertificateFiles,
    CertificateSource,
    SelfSignedCertificates,
    ServingCertificate,
)
from opframe.webhook.configuration import (
    CERT_MANAGER_INJECT,
    ClientConfig,
    ServiceReference,
    crd_conversion,
    webhook_configurations,
)
from opframe.webhook.conversion import (
    CONVERSION_REVIEW_VERSION,
    ConversionError,
    ConversionWebhook,
    Convertible,
)
from opframe.webhook.server import Webhook, WebhookServer

__all__ = [
    "ADMISSION_REVIEW_VERSION",
    "CERT_MANAGER_INJECT",
    "CONVERSION_REVIEW_VERSION",
    "AdmissionRequest",
    "CertificateFiles",
    "CertificateSource",
    "ClientConfig",
    "ConversionError",
    "ConversionWebhook",
    "Convertible",
    "Denied",
    "FailurePolicy",
    "MatchCondition",
    "MutatingHandler",
    "MutatingWebhook",
    "Operation",
    "ReviewError",
    "SelfSignedCertificates",
    "ServiceReference",
    "ServingCertificate",
    "UserInfo",
    "ValidatingHandler",
    "ValidatingWebhook",
    "Webhook",
    "WebhookServer",
    "crd_conversion",
    "webhook_configurations",
]
