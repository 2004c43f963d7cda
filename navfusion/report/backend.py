"""What the reproduction pipeline needs from the rest of navfusion, as one small protocol.

``reproduce`` orchestrates; a backend does the work: build the world, train an agent, and hand out
batched policies for evaluation. :mod:`navfusion.report.real_backend` wires the real stack (scenes,
views, features, agents, imitation training); :mod:`navfusion.report.synthetic_backend` is a
model-free stand-in on synthetic grids used to test the orchestration quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from navfusion.eval.backend import LoadedAgent, SceneData
from navfusion.report.synthetic_backend import SyntheticBackend


class Backend(Protocol):
    """Builds, trains and loads for :class:`~navfusion.report.reproduce.Reproduction`."""

    #: ``synthetic`` or ``navfusion`` (the report's caveat and versions name it).
    name: str

    def check(self, cfg) -> None:
        """Validate the recipe against what exists (suite, agent recipes); raise NavFusionError."""

    def prepare(self, cfg, log: Callable[[str], None]) -> dict:
        """Build whatever is missing (scenes, graphs, views, features); returns JSON-able info."""

    def test_scenes(self, cfg) -> list[str]:
        """Scene ids of the evaluation split (at most ``cfg.max_test_scenes``)."""

    def scene(self, scene_id: str, cfg) -> SceneData:
        """The evaluation data of one scene."""

    def train(self, key: str, entry, seed: int, run_dir: Path, cfg, log: Callable[[str], None]) -> None:
        """Train (or resume training) agent ``entry`` with ``seed`` into ``run_dir``."""

    def load(self, run_dir: Path, entry, cfg) -> LoadedAgent:
        """Load a trained run for evaluation; a folder without a checkpoint raises NavFusionError."""

    def versions(self) -> dict:
        """Component versions / settings worth recording in the report."""


def get_backend(suite: str) -> Backend:
    """The synthetic backend for ``suite: synthetic``, else the real stack."""
    if suite == "synthetic":
        return SyntheticBackend()
    # Imported here: the real stack loads torch and the training code, which the synthetic
    # backend's quick pipeline tests do without.
    from navfusion.report.real_backend import RealBackend

    return RealBackend()
