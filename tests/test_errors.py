"""The API error hierarchy maps Status answers to typed exceptions."""

from opframe.errors import AlreadyExists, Conflict, Invalid, ServerError, api_error_from_status


def test_409_already_exists_and_conflict_are_distinct() -> None:
    exists = api_error_from_status(409, {"reason": "AlreadyExists", "message": "x"})
    stale = api_error_from_status(409, {"reason": "Conflict", "message": "y"})
    assert isinstance(exists, AlreadyExists)
    assert isinstance(stale, Conflict)
    assert not isinstance(exists, Conflict)


def test_422_carries_field_causes() -> None:
    body = {
        "reason": "Invalid",
        "message": "bad",
        "details": {
            "causes": [{"reason": "FieldValueInvalid", "message": "m", "field": "spec.size"}]
        },
    }
    err = api_error_from_status(422, body)
    assert isinstance(err, Invalid)
    assert err.causes[0].field == "spec.size"


def test_5xx_is_server_error() -> None:
    assert isinstance(api_error_from_status(503, None, text="down"), ServerError)
