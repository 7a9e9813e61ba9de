"""Bad values in field errors print as Go's %v prints them (strconv's shortest 'g')."""

import pytest

from opframe.testing.apiserver.fielderrors import go_value


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1.0, "1"),
        (2.5, "2.5"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-3.25, "-3.25"),
        (10**21, "1000000000000000000000"),
    ],
)
def test_numbers_print_with_go_v_notation(value: float, printed: str) -> None:
    assert go_value(value) == printed
