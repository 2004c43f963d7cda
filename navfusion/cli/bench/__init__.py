"""The measuring code of ``navfusion bench ...`` (and ``benchmarks/``), one module per area.

``render`` (views/s), ``env`` (Gymnasium steps/s), ``nn`` (CondConv2d, MoE, ExpertBank), ``train``
(imitation iterations/s, before/after a commit) and ``parallel`` (vectorised envs, training on a
device). The ``navfusion bench`` sub-commands that call them are registered by the command modules
of :mod:`navfusion.cli`.
"""
