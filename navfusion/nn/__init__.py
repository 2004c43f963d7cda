"""navfusion.nn: the shared neural core (CondConv2d, Mixture-of-Experts layers, ExpertBank)."""

from navfusion.nn.expert_bank import ExpertBank
from navfusion.nn.nav_expert import NavExpert
from navfusion.nn.shapes import ShapeError

__all__ = ["ExpertBank", "NavExpert", "ShapeError"]
