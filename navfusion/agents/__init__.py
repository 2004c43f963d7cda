"""navfusion.agents: expert policies, fusion models and baselines.

``load_agent_config(name_or_path)`` resolves a recipe; ``create_agent(cfg, spec)`` builds its model;
``forward(AgentInput, expert_mask=None, noise=0.0)`` returns a :class:`PolicyOutput`.
"""

from navfusion.agents.config import AGENT_KINDS, AgentConfig, list_recipes, load_agent_config
from navfusion.agents.models import Agent, InputSpec, affinity_penalty, normalise_affinity
from navfusion.agents.registry import (
    create_agent,
    list_agents,
    load_affinity_matrix,
    register_agent,
    resolve_encoders,
)
from navfusion.agents.types import AgentInput, PolicyOutput

__all__ = [
    "AGENT_KINDS",
    "Agent",
    "AgentConfig",
    "AgentInput",
    "InputSpec",
    "PolicyOutput",
    "affinity_penalty",
    "create_agent",
    "list_agents",
    "list_recipes",
    "load_affinity_matrix",
    "load_agent_config",
    "normalise_affinity",
    "register_agent",
    "resolve_encoders",
]
