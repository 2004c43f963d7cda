"""ExpertBank: K same-architecture experts, each on its own input, evaluated as one batched computation."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, vmap

from navfusion.nn.shapes import ShapeError, check_shape, fmt_shape

BankMode = Literal["auto", "stacked", "vmap", "loop"]
_MODES = ("auto", "stacked", "vmap", "loop")


def _reinit(module: nn.Module) -> nn.Module:
    """Re-draw every parameter of ``module`` with its submodules' ``reset_parameters``."""
    covered: set[int] = set()
    for m in module.modules():
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()
            covered.update(id(p) for p in m.parameters(recurse=False))
    missed = [n for n, p in module.named_parameters() if id(p) not in covered]
    if missed:
        raise ValueError(
            f"ExpertBank: cannot re-initialise parameters {missed} (their modules have no reset_parameters); "
            "pass a factory (a callable returning a fresh module) instead of a module"
        )
    return module


def _set_tensor(root: nn.Module, name: str, value: torch.Tensor, is_param: bool) -> None:
    *path, leaf = name.split(".")
    mod = root.get_submodule(".".join(path)) if path else root
    if is_param:
        setattr(mod, leaf, nn.Parameter(value, requires_grad=value.requires_grad))
    else:
        mod._buffers[leaf] = value


class ExpertBank(nn.Module):
    """K experts of one architecture with stacked parameters (every parameter shaped ``(K, ...)``).

    ``forward(x, *shared)``: ``x`` (B, K, \\*in_shape), expert k gets ``x[:, k]``; the ``shared``
    tensors (B, ...) (e.g. the target) go to every expert unchanged. Returns (B, K, \\*out_shape).

    Args:
        template: a module (copied K times and re-initialised with ``reset_parameters`` so that
            experts differ) or a factory ``() -> nn.Module`` (called K times). Expert modules are
            called as ``expert(x_k, *shared)``.
        num_experts: K ≥ 1.
        seed: if given, initialisation draws from ``torch.manual_seed(seed)`` inside a forked RNG
            (the global RNG is left untouched); if ``None`` it draws from torch's default RNG like
            ordinary module construction.
        mode: how the K experts run.
            ``"stacked"``: the template's ``forward_stacked(x (B, K, ...), *shared)`` evaluated on
            the stacked parameters (hand-written batched matmuls, e.g. :class:`NavExpert`);
            ``"vmap"``: ``torch.func.vmap`` of ``functional_call`` over the stacked parameters
            (any architecture); ``"loop"``: a Python loop over experts (reference);
            ``"auto"`` (default): ``"stacked"`` when the template defines ``forward_stacked``,
            else ``"vmap"``. Measured with the default expert, K = 25 (BENCHMARKS.md "Neural
            core", quiet 2-core CPU): ``"stacked"`` was 1.67×, 1.49× and 1.18× faster than the
            loop at batch 16, 64 and 256 (forward + backward); ``"vmap"`` was slower than the loop
            at batch 256.

    To give an architecture the fast path, define ``forward_stacked(self, x, *shared)`` on it:
    it is called on a copy of the module whose parameters carry the leading expert dim K, with x
    (B, K, \\*in_shape), and returns (B, K, \\*out_shape) (see :meth:`NavExpert.forward_stacked`
    and :mod:`navfusion.nn.stacked_linear`).

    If the template has an ``in_shape`` attribute, inputs are checked against ``(B, K, *in_shape)``.
    Buffers are stacked too but must not be mutated in ``forward`` (no BatchNorm running stats).
    Changing K (``add_expert``) replaces the parameters: rebuild optimisers afterwards.
    """

    def __init__(
        self,
        template: nn.Module | Callable[[], nn.Module],
        num_experts: int,
        *,
        seed: int | None = None,
        mode: BankMode = "auto",
    ) -> None:
        super().__init__()
        if not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(f"ExpertBank: num_experts must be a positive int, got {num_experts!r}")
        if isinstance(template, nn.Module):
            proto = copy.deepcopy(template)

            def factory() -> nn.Module:
                return _reinit(copy.deepcopy(proto))
        elif callable(template):
            factory = template
        else:
            raise TypeError(f"ExpertBank: template must be an nn.Module or a factory, got {type(template).__name__}")
        modules = self._draw(factory, num_experts, seed)
        self._setup(modules, factory, mode)

    @staticmethod
    def _draw(factory: Callable[[], nn.Module], n: int, seed: int | None) -> list[nn.Module]:
        if seed is None:
            return [factory() for _ in range(n)]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [factory() for _ in range(n)]

    def _setup(self, modules: Sequence[nn.Module], factory: Callable[[], nn.Module], mode: BankMode) -> None:
        if mode not in _MODES:
            raise ValueError(f"ExpertBank: mode must be one of {_MODES}, got {mode!r}")
        _check_same_architecture(modules)
        stacked = copy.deepcopy(modules[0])
        with torch.no_grad():
            for name, p in modules[0].named_parameters():
                v = torch.stack([dict(m.named_parameters())[name].detach() for m in modules]).clone()
                _set_tensor(stacked, name, v.requires_grad_(p.requires_grad), True)
            for name, _ in modules[0].named_buffers():
                v = torch.stack([dict(m.named_buffers())[name] for m in modules]).clone()
                _set_tensor(stacked, name, v, False)
        #: the template's structure holding the stacked (K, ...) parameters
        self.stacked = stacked
        self._factory = factory
        self._num = len(modules)
        self.mode: BankMode = mode

    # ------------------------------------------------------------------ construction / conversion
    @classmethod
    def from_modules(cls, modules: Iterable[nn.Module], *, mode: BankMode = "auto") -> ExpertBank:
        """A bank holding copies of ``modules`` (same class and parameter shapes)."""
        modules = list(modules)
        if not modules:
            raise ValueError("ExpertBank.from_modules: need at least one module")
        proto = copy.deepcopy(modules[0])

        def factory() -> nn.Module:
            return _reinit(copy.deepcopy(proto))

        bank = cls.__new__(cls)
        nn.Module.__init__(bank)
        bank._setup(modules, factory, mode)
        return bank

    def to_modules(self) -> nn.ModuleList:
        """K independent modules with copies of the experts' weights."""
        return nn.ModuleList(self.expert(k) for k in range(self._num))

    def expert(self, k: int) -> nn.Module:
        """An independent copy of expert ``k``."""
        if not -self._num <= k < self._num:
            raise IndexError(f"ExpertBank: expert index {k} out of range for {self._num} experts")
        m = copy.deepcopy(self.stacked)
        with torch.no_grad():
            for name, p in self.stacked.named_parameters():
                _set_tensor(m, name, p[k].detach().clone().requires_grad_(p.requires_grad), True)
            for name, b in self.stacked.named_buffers():
                _set_tensor(m, name, b[k].clone(), False)
        return m

    def select(self, indices: Sequence[int] | torch.Tensor) -> ExpertBank:
        """A new bank with the experts ``indices`` (in that order; copies of their weights)."""
        idx = torch.as_tensor(indices, dtype=torch.long).flatten()
        if idx.numel() == 0:
            raise ValueError("ExpertBank.select: need at least one index")
        if (idx < -self._num).any() or (idx >= self._num).any():
            raise IndexError(f"ExpertBank.select: indices {idx.tolist()} out of range for {self._num} experts")
        return ExpertBank.from_modules([self.expert(int(i)) for i in idx], mode=self.mode)

    def add_expert(self, module: nn.Module | None = None) -> ExpertBank:
        """Append one expert (``module``'s weights, or a freshly initialised one). In place; returns self.

        The stacked parameters are replaced, so optimisers must be rebuilt.
        """
        new = self._factory() if module is None else module
        ref = self.expert(0)
        _check_same_architecture([ref, new])
        device = next(self.stacked.parameters(), torch.empty(0)).device
        new = new.to(device)
        with torch.no_grad():
            for name, p in list(self.stacked.named_parameters()):
                q = dict(new.named_parameters())[name].detach().to(p.dtype)
                _set_tensor(self.stacked, name, torch.cat([p.detach(), q[None]]).requires_grad_(p.requires_grad), True)
            for name, b in list(self.stacked.named_buffers()):
                q = dict(new.named_buffers())[name].to(b.dtype)
                _set_tensor(self.stacked, name, torch.cat([b, q[None]]), False)
        self._num += 1
        return self

    @property
    def num_experts(self) -> int:
        """K."""
        return self._num

    # ------------------------------------------------------------------ forward
    def resolved_mode(self) -> str:
        """The evaluation strategy ``"auto"`` resolves to."""
        if self.mode != "auto":
            return self.mode
        return "stacked" if callable(getattr(self.stacked, "forward_stacked", None)) else "vmap"

    def forward(self, x: torch.Tensor, *shared: torch.Tensor) -> torch.Tensor:
        """x (B, K, \\*in_shape), shared (B, ...) → (B, K, \\*out_shape)."""
        in_shape = getattr(self.stacked, "in_shape", None)
        if in_shape is not None:
            check_shape("x", x, ("B", self._num, *in_shape), "ExpertBank")
        elif x.dim() < 2 or x.shape[1] != self._num:
            raise ShapeError(f"ExpertBank: x must have shape (B, {self._num}, ...), got {fmt_shape(x.shape)}")
        mode = self.resolved_mode()
        if mode == "stacked":
            if not callable(getattr(self.stacked, "forward_stacked", None)):
                raise ValueError(f"ExpertBank: mode 'stacked' needs {type(self.stacked).__name__}.forward_stacked")
            return self.stacked.forward_stacked(x, *shared)
        params = dict(self.stacked.named_parameters())
        buffers = dict(self.stacked.named_buffers())
        if mode == "vmap":
            def one(p: dict, b: dict, xk: torch.Tensor, *s: torch.Tensor) -> torch.Tensor:
                return functional_call(self.stacked, (p, b), (xk, *s))

            dims = (0, 0, 1, *([None] * len(shared)))
            return vmap(one, in_dims=dims, out_dims=1, randomness="different")(params, buffers, x, *shared)
        # loop: unbind once so that backward stacks the K gradients instead of scattering K times
        p_k = {n: t.unbind(0) for n, t in params.items()}
        b_k = {n: t.unbind(0) for n, t in buffers.items()}
        outs = [
            functional_call(self.stacked, ({n: t[k] for n, t in p_k.items()}, {n: t[k] for n, t in b_k.items()}),
                            (x[:, k], *shared))
            for k in range(self._num)
        ]
        return torch.stack(outs, dim=1)

    def extra_repr(self) -> str:
        return f"num_experts={self._num}, expert={type(self.stacked).__name__}, mode={self.mode!r}"


def _check_same_architecture(modules: Sequence[nn.Module]) -> None:
    ref = modules[0]
    ref_shapes = {n: tuple(t.shape) for n, t in [*ref.named_parameters(), *ref.named_buffers()]}
    for i, m in enumerate(modules[1:], 1):
        if type(m) is not type(ref):
            raise TypeError(f"ExpertBank: expert {i} is a {type(m).__name__}, expected {type(ref).__name__}")
        shapes = {n: tuple(t.shape) for n, t in [*m.named_parameters(), *m.named_buffers()]}
        if shapes != ref_shapes:
            diff = sorted(set(shapes.items()) ^ set(ref_shapes.items()))
            raise ShapeError(f"ExpertBank: expert {i} has different parameter shapes than expert 0: {diff}")
