"""pytest fixtures for the embedded API server (see opframe.testing.plugin)."""

__all__: list[str] = []
