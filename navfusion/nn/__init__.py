"""navfusion.nn: the shared neural core (CondConv2d, Mixture-of-Experts layers, ExpertBank).

Names are imported lazily so that importing the package (as the ``navfusion`` command's start-up
may) does not pay for importing torch before a name is used.
"""

from __future__ import annotations

from navfusion.lazy import lazy_exports

_EXPORTS = {
    "cv_squared": "balancing", "importance": "balancing", "smooth_load": "balancing",
    "CondConv2d": "condconv",
    "condconv2d": "condconv_functional",
    "loop_conv2d": "condconv_reference",
    "DenseMoE": "dense_moe",
    "ExpertBank": "expert_bank",
    "MoEOutput": "moe_output",
    "NavExpert": "nav_expert",
    "SigmoidRouting": "routing", "SoftmaxRouting": "routing",
    "ShapeError": "shapes",
    "NoisyTopKMoE": "sparse_moe",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
