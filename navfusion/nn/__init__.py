"""navfusion.nn: the shared neural core (CondConv2d, Mixture-of-Experts layers, ExpertBank).

Names are imported lazily so that the CLI, which discovers ``navfusion.nn.cli``, does not pay for
importing torch before a command needs it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "cv_squared": "balancing", "importance": "balancing", "smooth_load": "balancing",
    "CondConv2d": "condconv",
    "condconv2d": "condconv_functional",
    "loop_conv2d": "condconv_reference", "moe_conv2d": "condconv_reference",
    "DenseMoE": "dense_moe",
    "ExpertBank": "expert_bank",
    "MoEOutput": "moe_output",
    "NavExpert": "nav_expert",
    "SigmoidRouting": "routing", "SoftmaxRouting": "routing",
    "ShapeError": "shapes",
    "NoisyTopKMoE": "sparse_moe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"navfusion.nn.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'navfusion.nn' has no attribute {name!r}")
