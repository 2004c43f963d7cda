"""navfusion.agents: expert policies, fusion models and baselines.

``load_agent_config(name_or_path)`` resolves a recipe; ``create_agent(cfg, spec)`` builds its model;
``forward(AgentInput, expert_mask=None, noise=0.0)`` returns a :class:`PolicyOutput`.
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "AGENT_KINDS": "config", "AgentConfig": "config", "list_recipes": "config", "load_agent_config": "config",
    "MemoryConfig": "config", "ActionMemory": "memory", "with_memory": "memory",
    "Agent": "models", "InputSpec": "models", "affinity_penalty": "models", "normalise_affinity": "models",
    "create_agent": "registry", "list_agents": "registry", "load_affinity_matrix": "registry",
    "register_agent": "registry", "resolve_encoders": "registry",
    "AgentInput": "types", "PolicyOutput": "types",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
