"""ConversionReview (apiextensions.k8s.io/v1) answered by a hub-and-spoke ConversionWebhook.

Rules from ``staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/conversion/
webhook_converter.go``: ``response.uid`` must equal ``request.uid``; ``convertedObjects`` has one
object per request object, in order, in ``desiredAPIVersion`` with the same kind; ``result.status``
is ``Success`` (else the message is the error); name, namespace and uid may not change and every
other metadata field but labels and annotations is the original's. Hub and spoke as in
controller-runtime's ``pkg/webhook/conversion/conversion.go``.
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.resource import KubeModel, Resource
from opframe.webhook import ConversionWebhook, ReviewError

from ._models import CONVERT, WebSpecV1, WebSpecV2, WebV1, WebV2


def obj(version: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"hooks.opframe.dev/{version}",
        "kind": "Web",
        "metadata": {
            "name": "blog", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
            "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
            "finalizers": ["keep"], **meta,
        },
        "spec": spec,
    }


def review(desired: str, *objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "c0ffee", "desiredAPIVersion": desired, "objects": list(objects)},
    }


def test_spoke_to_hub_and_back_in_request_order_with_uid_echoed() -> None:
    answer = CONVERT.review(
        review(
            "hooks.opframe.dev/v2",
            obj("v1", {"replicas": 3, "image": "a"}),
            obj("v1", {"replicas": 4}, name="shop", uid="u-2"),
        )
    )
    assert answer["apiVersion"] == "apiextensions.k8s.io/v1"
    assert answer["kind"] == "ConversionReview"
    response = answer["response"]
    assert response["uid"] == "c0ffee"
    assert response["result"] == {"status": "Success"}
    first, second = response["convertedObjects"]
    assert first["apiVersion"] == "hooks.opframe.dev/v2" and first["kind"] == "Web"
    assert first["spec"] == {"scale": 3, "image": "a"}
    assert (second["metadata"]["name"], second["spec"]["scale"]) == ("shop", 4)
    back = CONVERT.review(review("hooks.opframe.dev/v1", first))["response"]
    assert back["convertedObjects"][0]["spec"] == {"replicas": 3, "image": "a"}


def test_metadata_other_than_labels_and_annotations_is_kept_from_the_original() -> None:
    class Careless(Resource, group="hooks.opframe.dev", version="v0", kind="Web", storage=False):
        spec: WebSpecV1 = WebSpecV1()

        def convert_to_hub(self) -> WebV2:
            # Forgets the metadata but for a label: the SDK restores the rest.
            return WebV2(metadata={"labels": {"converted": "yes"}},
                         spec=WebSpecV2(scale=self.spec.replicas))

        @classmethod
        def convert_from_hub(cls, hub: WebV2) -> Careless:
            return cls(spec=WebSpecV1(replicas=hub.spec.scale))

    hook = ConversionWebhook(hub=WebV2, spokes=[Careless])
    sent = obj("v0", {"replicas": 2}, labels={"old": "1"}, annotations={"a": "b"})
    (out,) = hook.review(review("hooks.opframe.dev/v2", sent))["response"]["convertedObjects"]
    expected = {**sent["metadata"], "labels": {"converted": "yes"}}
    assert out["metadata"] == expected


def test_changing_the_name_fails_the_whole_review_with_a_message() -> None:
    class Renamer(Resource, group="hooks.opframe.dev", version="v0", kind="Web", storage=False):
        spec: WebSpecV1 = WebSpecV1()

        def convert_to_hub(self) -> WebV2:
            return WebV2(metadata={"name": "other"})

        @classmethod
        def convert_from_hub(cls, hub: WebV2) -> Renamer:
            return cls()

    hook = ConversionWebhook(hub=WebV2, spokes=[Renamer])
    response = hook.review(review("hooks.opframe.dev/v2", obj("v0", {})))["response"]
    assert response["uid"] == "c0ffee"
    assert response["convertedObjects"] == []
    assert response["result"]["status"] == "Failure"
    assert "changed metadata.name ('blog' -> 'other')" in response["result"]["message"]


def test_spoke_to_spoke_goes_through_the_hub() -> None:
    calls: list[str] = []

    class SpecV3(KubeModel):
        size: int = 0

    class WebV3(Resource, group="hooks.opframe.dev", version="v3", kind="Web", storage=False):
        spec: SpecV3 = SpecV3()

        def convert_to_hub(self) -> WebV2:
            calls.append("v3->hub")
            return WebV2(metadata=self.metadata, spec=WebSpecV2(scale=self.spec.size))

        @classmethod
        def convert_from_hub(cls, hub: WebV2) -> WebV3:
            calls.append("hub->v3")
            return cls(metadata=hub.metadata, spec=SpecV3(size=hub.spec.scale))

    hook = ConversionWebhook(hub=WebV2, spokes=[WebV1, WebV3])
    (out,) = hook.review(review("hooks.opframe.dev/v3", obj("v1", {"replicas": 5})))["response"][
        "convertedObjects"
    ]
    assert out["apiVersion"] == "hooks.opframe.dev/v3" and out["spec"] == {"size": 5}
    assert calls == ["hub->v3"]


def test_unknown_version_fails_naming_the_known_ones() -> None:
    response = CONVERT.review(review("hooks.opframe.dev/v9", obj("v1", {})))["response"]
    assert response["result"]["status"] == "Failure"
    assert "desiredAPIVersion 'hooks.opframe.dev/v9'" in response["result"]["message"]
    assert "hooks.opframe.dev/v2, hooks.opframe.dev/v1" in response["result"]["message"]


def test_conversion_function_error_fails_the_review() -> None:
    bad = obj("v1", {"replicas": "lots"})
    response = CONVERT.review(review("hooks.opframe.dev/v2", bad))["response"]
    assert response["result"]["status"] == "Failure"
    assert "Web default/blog is not a valid WebV1: spec.replicas" in response["result"]["message"]


def test_an_object_already_in_the_desired_version_is_returned_as_is() -> None:
    sent = obj("v2", {"scale": 1, "unknown": "kept"})
    (out,) = CONVERT.review(review("hooks.opframe.dev/v2", sent))["response"]["convertedObjects"]
    assert out == sent


def test_not_a_conversion_review_v1_is_a_review_error() -> None:
    with pytest.raises(ReviewError, match="ConversionReview"):
        CONVERT.review({"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "ConversionReview"})


def test_a_spoke_without_conversion_methods_is_refused_at_declaration() -> None:
    class Bare(Resource, group="hooks.opframe.dev", version="v0", kind="Web", storage=False):
        pass

    with pytest.raises(TypeError, match="spoke Bare must define convert_to_hub"):
        ConversionWebhook(hub=WebV2, spokes=[Bare])
    with pytest.raises(TypeError, match="version v2 is declared twice"):
        ConversionWebhook(hub=WebV2, spokes=[WebV2])


def test_typed_conversion_round_trip_of_the_models() -> None:
    v1 = WebV1(metadata={"name": "x"}, spec=WebSpecV1(replicas=2, image="i"))
    assert WebV1.convert_from_hub(v1.convert_to_hub()).spec == v1.spec
