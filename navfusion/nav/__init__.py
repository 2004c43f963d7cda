"""Navigation: the octagonal graph, goals and the shortest-path oracle, episodes, cached views, worlds,
and the one stepping engine (batched and single-episode) with its baseline policies.

Names are imported lazily so that ``import navfusion`` (which registers the Gymnasium ids through
``navfusion.nav.registration``) stays light.
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "OctoGraph": "graph", "GraphSettings": "graph", "build_graph": "graph", "load_graph": "graph",
    "MOVE_OFFSETS": "graph",
    "OccupancyGrid": "occupancy", "detect_floor_height": "occupancy", "rasterize_occupancy": "occupancy",
    "GoalInfo": "goals", "goal_info": "goals", "goal_infos": "goals", "UnreachableTargetWarning": "goals",
    "Episode": "episodes", "sample_episode": "episodes", "sample_episodes": "episodes",
    "evaluation_episodes": "episodes",
    "ViewStore": "views", "load_views": "views", "node_poses": "views",
    "World": "world", "load_world": "world",
    "topdown_map": "topdown",
    "NavArrays": "engine", "Episodes": "engine", "EpisodeResults": "engine", "PolicyStep": "engine",
    "BatchPolicy": "engine", "SingleEpisode": "engine", "run_batched": "engine", "spl": "engine",
    "ActionProbs": "policies", "StochasticPolicy": "policies", "sample_actions": "policies",
    "oracle_policy": "policies", "random_policy": "policies",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
