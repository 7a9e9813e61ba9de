"""Admission the way kube-apiserver runs it after authorization: webhooks and policies.

The built-in admission checks (RBAC escalation, pod security) live with authentication in
``auth/``; this package holds the dynamic admission that users configure through objects of
``admissionregistration.k8s.io/v1``: Mutating/ValidatingWebhookConfiguration (calls out over
HTTPS with an AdmissionReview) and ValidatingAdmissionPolicy (CEL evaluated in process), and the
CRD conversion webhook client (ConversionReview).
"""
