"""pytest plugin of opframe: fixtures for the embedded control plane.

Loaded automatically through the ``pytest11`` entry point when opframe is installed.
"""
