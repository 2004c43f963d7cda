"""K independent linear layers applied at once: ``y[k] = x[k] @ W[k]ᵀ + b[k]``.

A dedicated autograd function because the obvious ``baddbmm(b, x, W.transpose(1, 2))`` yields a
transposed weight gradient, which autograd then copies element by element into the parameter's
layout; here every gradient comes out of one batched matmul already contiguous.
"""

from __future__ import annotations

import contextlib

import torch


def _autocast(*ts: torch.Tensor | None) -> tuple[contextlib.AbstractContextManager, list[torch.Tensor | None]]:
    """Autocast the way ``F.linear`` is: under an active autocast, every operand cast to its dtype
    and the custom function run with autocast off (its in-place/``out=`` products need one dtype).
    Gradients flow back through the casts to the float32 parameters."""
    dev = ts[0].device.type
    if not torch.is_autocast_enabled(dev):
        return contextlib.nullcontext(), list(ts)
    dt = torch.get_autocast_dtype(dev)
    return torch.autocast(dev, enabled=False), [None if t is None else t.to(dt) for t in ts]


class _StackedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        wt = weight.transpose(1, 2)
        return torch.bmm(x, wt) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, wt)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.bmm(grad, weight)  # (K, M, in)
        if ctx.needs_input_grad[1]:
            gw = torch.bmm(grad.transpose(1, 2), x)  # (K, out, in), contiguous like the weight
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum(1)
        return gx, gw, gb


def stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (K, M, in), weight (K, out, in), bias (K, out) | None → (K, M, out)."""
    ctx, args = _autocast(x, weight, bias)
    with ctx:
        return _StackedLinear.apply(*args)


class _StackedLinearShared(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, shared: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
                ) -> torch.Tensor:
        k, m, d = x.shape
        ctx.save_for_backward(x, shared, weight)
        ctx.has_bias = bias is not None
        wx, ws = weight[:, :, :d], weight[:, :, d:]  # row-major slices: BLAS reads them in place
        wxt = wx.transpose(1, 2)
        y = torch.bmm(x, wxt) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, wxt)
        return y.baddbmm_(shared.expand(k, m, -1), ws.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, shared, weight = ctx.saved_tensors
        k, m, d = x.shape
        gx = gs = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.bmm(grad, weight[:, :, :d])
        if ctx.needs_input_grad[1]:
            gs = torch.bmm(grad, weight[:, :, d:]).sum(0)
        if ctx.needs_input_grad[2]:
            gw = weight.new_empty(weight.shape)
            gt = grad.transpose(1, 2)
            torch.bmm(gt, x, out=gw[:, :, :d])
            torch.bmm(gt, shared.expand(k, m, -1), out=gw[:, :, d:])
        if ctx.has_bias and ctx.needs_input_grad[3]:
            gb = grad.sum(1)
        return gx, gs, gw, gb


def stacked_linear_shared(x: torch.Tensor, shared: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor | None = None) -> torch.Tensor:
    """The stacked linear layer of ``[x[k] | shared]`` without building the concatenation.

    x (K, M, D), shared (M, S) (the same extra columns for every expert, e.g. a target one-hot),
    weight (K, out, D + S), bias (K, out) | None → (K, M, out).
    """
    ctx, args = _autocast(x, shared, weight, bias)
    with ctx:
        return _StackedLinearShared.apply(*args)


#: bytes of input rows gathered per chunk: small enough to stay in cache between the gather and the matmul
CHUNK_BYTES = 8 << 20


class _GatherStackedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, k, m, f = x.shape
        ctx.has_bias = bias is not None
        ctx.shape = (b, k, m, f)
        wt = weight.transpose(1, 2)
        chunks = _chunks(x)
        tracing = torch.compiler.is_compiling() or torch.is_grad_enabled()
        # out= slices of a (K, ...) result are contiguous, so the matmuls write in place and no cat is
        # needed; tracers such as torch.export run this forward with autograd enabled and reject out=
        out = None if tracing else x.new_empty(k, b * m, weight.shape[1])
        outs, kept = [], []
        for s in chunks:
            rows = x[:, s].transpose(0, 1).reshape(s.stop - s.start, b * m, f)  # gather while it stays in cache
            kept.append(rows)
            o = None if out is None else out[s]
            outs.append(torch.bmm(rows, wt[s], out=o) if bias is None
                        else torch.baddbmm(bias[s].unsqueeze(1), rows, wt[s], out=o))
        # the backward's weight gradient reads the same expert-major rows: keep them instead of
        # gathering again (the memory a per-expert loop holds for its own backward anyway)
        ctx.save_for_backward(weight, *(kept if ctx.needs_input_grad[1] else []))
        if out is not None:
            return out
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, *kept = ctx.saved_tensors
        b, k, m, f = ctx.shape
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.bmm(grad, weight).reshape(k, b, m, f).transpose(0, 1)
        if ctx.needs_input_grad[1]:
            gw = weight.new_empty(weight.shape)
            i = 0
            for rows in kept:
                n = rows.shape[0]
                torch.bmm(grad[i:i + n].transpose(1, 2), rows, out=gw[i:i + n])
                i += n
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum(1)
        return gx, gw, gb


def _chunks(x: torch.Tensor) -> list[slice]:
    b, k, m, f = x.shape
    per_expert = max(1, b * m * f * x.element_size())
    step = max(1, min(k, CHUNK_BYTES // per_expert))
    return [slice(i, min(i + step, k)) for i in range(0, k, step)]


def gather_stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """One linear layer per expert on rows taken in place from a batch-major input.

    x (B, K, M, F) (expert k's rows are ``x[:, k]`` flattened, B·M of them), weight (K, out, F),
    bias (K, out) | None → (K, B·M, out). The expert-major copy a single bmm would need is made a
    few experts at a time (``CHUNK_BYTES``), so it is consumed from cache instead of memory.
    """
    ctx, args = _autocast(x, weight, bias)
    with ctx:
        return _GatherStackedLinear.apply(*args)
