"""navfusion.nn: the shared neural core (CondConv2d, Mixture-of-Experts layers, ExpertBank)."""

from navfusion.nn.balancing import cv_squared, importance, smooth_load
from navfusion.nn.condconv import CondConv2d
from navfusion.nn.condconv_functional import condconv2d
from navfusion.nn.condconv_reference import loop_conv2d, moe_conv2d
from navfusion.nn.dense_moe import DenseMoE
from navfusion.nn.expert_bank import ExpertBank
from navfusion.nn.moe_output import MoEOutput
from navfusion.nn.nav_expert import NavExpert
from navfusion.nn.routing import SigmoidRouting, SoftmaxRouting
from navfusion.nn.shapes import ShapeError
from navfusion.nn.sparse_moe import NoisyTopKMoE

__all__ = [
    "CondConv2d",
    "DenseMoE",
    "ExpertBank",
    "MoEOutput",
    "NavExpert",
    "NoisyTopKMoE",
    "ShapeError",
    "SigmoidRouting",
    "SoftmaxRouting",
    "condconv2d",
    "cv_squared",
    "importance",
    "loop_conv2d",
    "moe_conv2d",
    "smooth_load",
]
