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


# ----------------------------------------------------------------------------- navigation worlds (NAV)

TINY_RESOLUTION = 64


@pytest.fixture(scope="session")
def tiny_worlds(nf_cache) -> list:
    """``World`` objects (graph, goals, 64x64 ViewStore) of the tiny suite's train split, built once."""
    from navfusion.nav.world import load_world
    from navfusion.scenes import load_suite

    ids = [str(s) for s in load_suite("tiny").scene_ids("train")]
    return [load_world(sid, resolution=TINY_RESOLUTION, progress=False) for sid in ids]


@pytest.fixture(scope="session")
def tiny_world(tiny_worlds):
    """The first world of the tiny suite's train split (``tiny/train/0``) at 64x64."""
    return tiny_worlds[0]
