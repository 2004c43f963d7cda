"""Shared pytest fixtures.

The ``tiny`` world (scenes, graphs, views, features) is built once per test session under a
session-scoped cache directory; fixtures that need it depend on ``nf_cache``.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def nf_cache(tmp_path_factory) -> str:
    """A cache root shared by the whole test session (set as ``NAVFUSION_CACHE``)."""
    root = os.environ.get("NAVFUSION_TEST_CACHE") or str(tmp_path_factory.mktemp("nfcache"))
    os.environ["NAVFUSION_CACHE"] = root
    return root
