"""The navigation probe: how much of the oracle's next move a representation gives a simple policy.

Protocol (fixed; ``ProbeConfig`` holds every number):

* **States.** Every node at least ``min_distance`` (4) moves from the goal, for every target
  category with reachable goals in the scene. The label is the oracle's next move (one of the 8;
  never stop, since such states are >= 4 moves away). Ties between equally short moves are broken
  as the oracle breaks them (``World.oracle_table``), so a correct-but-other shortest move counts
  as wrong in ``accuracy``; ``optimal`` counts any shortest-path move.
* **Input.** The representation of the node's 8 views from the FeatureStore, flattened
  (``8 * C * h * w``), standardised per dimension with the training nodes' mean and std, plus the
  target one-hot.
* **Model.** ``Linear(D + 4, 256) -> ReLU -> Dropout(0.5) -> Linear(256, 8)``, Adam (lr 1e-3),
  ``epochs`` passes over the training nodes in batches of 64 nodes (all their states together;
  the first layer is computed once per node, which is the same function as on the concatenated
  input), seeded initialisation, dropout and order (no global RNG).
* **Data.** Trained on the suite's ``pretrain`` (the first ``max_pretrain_scenes``) and ``train``
  splits; scored on ``val`` (``test`` only for final reports: a representation chosen by its
  test score has seen the test scenes).
* **Scores.** ``accuracy`` (argmax = oracle move), ``blocked`` (the argmax move is blocked: a
  collision), ``optimal`` (the argmax move is a shortest-path move), each over all scored states.
  ``ci``: 95% bootstrap interval resampling *scenes*, then states within each resampled scene
  (the honest one: states of one scene are correlated); ``ci_state``: resampling states only.
  Every representation shares the bootstrap draws (same seed), so their intervals are comparable.
  ``gt_ratio``: accuracy / accuracy of ``gt/<task>`` for a ``<zoo>/<task>`` with a reference.

Always probed next to the references (:mod:`navfusion.vision.references`): every ``gt/<task>``
(privileged ground truth), ``rgb_thumbnail`` (8x8 RGB) and ``random`` (the untrained
zoo-architecture encoder). A representation no better than the thumbnail adds nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from navfusion.common import TARGETS, scene_slug, suggest
from navfusion.config import check
from navfusion.errors import NavFusionError

#: The references every probe includes, in display order (the gt/ ones come from ``GT_TASKS``).
BASELINES: tuple[str, ...] = ("rgb_thumbnail", "random")


@dataclass
class ProbeConfig:
    """The probe protocol (see the module docstring).

    Attributes:
        suite: environment suite (``envs/<suite>.yaml``).
        split: scored split (``val``; ``test`` for final reports only).
        zoo: the zoo whose tasks are probed (default: the default zoo); its FeatureStore
            namespace holds every probed representation's features.
        tasks: probe only these zoo tasks (default: every task in the zoo's manifest; ``[]``: none).
        gt_tasks: the ``gt/<task>`` references probed (default: all of ``GT_TASKS``; fewer only for
            quick checks -- a zoo task without its reference gets no ``gt_ratio``).
        max_pretrain_scenes: training uses the first this many ``pretrain`` scenes (0: none).
        max_eval_scenes: score only the first this many scenes of ``split`` (None: all).
        min_distance: states at least this many moves from the goal.
        hidden, dropout: the MLP's hidden width and dropout.
        epochs, batch_nodes, lr: Adam training: passes over the training nodes, nodes per batch.
        seed: initialisation, dropout and batch order; the bootstrap uses it too.
        bootstrap: bootstrap resamples for the intervals.
        threads: torch threads per probe process (the MLPs are small: 1 is fastest).
        workers: representations trained side by side in that many processes.
    """

    suite: str = "quickstart"
    split: str = "val"
    zoo: str | None = None
    tasks: list[str] | None = None
    gt_tasks: list[str] | None = None
    max_pretrain_scenes: int = 8
    max_eval_scenes: int | None = None
    min_distance: int = 4
    hidden: int = 256
    dropout: float = 0.5
    epochs: int = 20
    batch_nodes: int = 64
    lr: float = 1e-3
    seed: int = 0
    bootstrap: int = 2000
    threads: int = 1
    workers: int = 1
    train_splits: tuple[str, ...] = field(default=("pretrain", "train"), repr=False)

    def __post_init__(self) -> None:
        check(isinstance(self.suite, str) and self.suite, "suite", self.suite, "a suite name")
        check(isinstance(self.split, str) and self.split not in self.train_splits, "split", self.split,
              f"a split the probe does not train on (not {' or '.join(self.train_splits)}); val, or test for "
              "final reports")
        for name in ("max_pretrain_scenes", "min_distance"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 0, name, v, "an int >= 0")
        check(self.max_eval_scenes is None or (isinstance(self.max_eval_scenes, int) and self.max_eval_scenes >= 1),
              "max_eval_scenes", self.max_eval_scenes, "null or an int >= 1")
        for name in ("hidden", "epochs", "batch_nodes", "bootstrap", "threads", "workers"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 1, name, v, "an int >= 1")
        check(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1, "dropout", self.dropout, "in [0, 1)")
        check(isinstance(self.lr, (int, float)) and self.lr > 0, "lr", self.lr, "a positive number")
        check(self.tasks is None or (isinstance(self.tasks, (list, tuple)) and all(isinstance(t, str)
                                                                                    for t in self.tasks)),
              "tasks", self.tasks, "null or a list of task names")
        from navfusion.vision.references import GT_TASKS

        bad = [t for t in self.gt_tasks or [] if t not in GT_TASKS]
        check(not bad, "gt_tasks", bad[0] if bad else None,
              f"a task with a ground-truth reference ({', '.join(GT_TASKS)}){suggest(bad[0], GT_TASKS) if bad else ''}")


@dataclass
class Representation:
    """One probed representation: ``name`` as reported, ``store`` its FeatureStore name, ``kind``
    (``reference``, ``baseline``, ``zoo`` or ``encoder``) and ``task`` (for ``gt_ratio``)."""

    name: str
    store: str
    kind: str
    task: str | None = None


# ----------------------------------------------------------------------------- what is probed

def probe_representations_list(cfg: ProbeConfig, encoders: Sequence[str] = ()) -> list[Representation]:
    """The references, the zoo's tasks (``cfg.tasks``) and ``encoders``, in display order.

    Bare task names in ``encoders`` mean the zoo's; unknown names raise (one line, with suggestions).
    """
    from navfusion.vision.features import zoo_encoders
    from navfusion.vision.references import GT_PREFIX, GT_TASKS
    from navfusion.vision.registry import list_encoders
    from navfusion.vision.zoo import DEFAULT_ZOO, find_zoo

    zoo = cfg.zoo or DEFAULT_ZOO
    find_zoo(zoo)  # an unknown zoo is reported before anything else
    zoo_name = find_zoo(zoo).name
    gt_tasks = list(GT_TASKS) if cfg.gt_tasks is None else list(cfg.gt_tasks)
    reps = [Representation(f"{GT_PREFIX}{t}", f"{GT_PREFIX}{t}", "reference", t) for t in gt_tasks]
    reps += [Representation(b, b, "baseline") for b in BASELINES]
    have = zoo_encoders(zoo)
    tasks = have if cfg.tasks is None else list(cfg.tasks)
    for t in tasks:
        if t not in have:
            raise NavFusionError(f"zoo {zoo_name!r} has no task {t!r}.{suggest(t, have)} "
                                 f"Its tasks: {', '.join(have) or 'none'}")
        reps.append(Representation(f"{zoo_name}/{t}", t, "zoo", t))
    known = None
    for e in encoders:
        if e in have:
            rep = Representation(f"{zoo_name}/{e}", e, "zoo", e)
        elif e.startswith(f"{zoo_name}/") and e.split("/", 1)[1] in have:
            rep = Representation(e, e.split("/", 1)[1], "zoo", e.split("/", 1)[1])
        else:
            known = known if known is not None else list_encoders()
            if e not in known:
                raise NavFusionError(f"unknown encoder {e!r}.{suggest(e, known)} (see `navfusion encoders list`)")
            task = e.rsplit("/", 1)[-1]
            rep = Representation(e, e, "encoder", task if "/" in e and task in GT_TASKS else None)
        if all(r.name != rep.name for r in reps):
            reps.append(rep)
    return reps


def _split_ids(suite, split: str) -> list[str]:
    if split not in suite.splits:
        raise NavFusionError(f"suite {suite.name!r} has no split {split!r}.{suggest(split, list(suite.splits))} "
                             f"Splits: {', '.join(suite.splits)}")
    return [str(s) for s in suite.scene_ids(split)]


def probe_scenes(cfg: ProbeConfig) -> tuple[list[str], list[str]]:
    """(training scene ids, scored scene ids) of the protocol."""
    from navfusion.scenes import load_suite

    suite = load_suite(cfg.suite)
    train: list[str] = []
    for s in cfg.train_splits:
        if s == "pretrain" and s not in suite.splits:
            continue  # a suite without pretrain scenes trains the probe on its train split alone
        ids = _split_ids(suite, s)
        train += ids[: cfg.max_pretrain_scenes] if s == "pretrain" else ids
    scored = _split_ids(suite, cfg.split)[: cfg.max_eval_scenes or None]
    if not train:
        raise NavFusionError(f"suite {cfg.suite!r}: no training scenes in {', '.join(cfg.train_splits)}")
    if not scored:
        raise NavFusionError(f"suite {cfg.suite!r} has no scenes in split {cfg.split!r}")
    return train, scored


# ----------------------------------------------------------------------------- states

@dataclass
class StateTable:
    """The probe's states over a list of scenes, nodes concatenated scene after scene.

    Attributes:
        scene_ids: the scenes; ``offsets`` (S+1,) where each scene's nodes start.
        node, target, label: (M,) global node index, target index, oracle move, sorted by node.
        scene: (M,) scene index of each state.
        neighbors: (N_total, 8) global index of move k's node, -1 when blocked.
        distance: (T, N_total) moves to the goal per target (-1: absent / unreachable).
    """

    scene_ids: list[str]
    offsets: np.ndarray
    node: np.ndarray
    target: np.ndarray
    label: np.ndarray
    scene: np.ndarray
    neighbors: np.ndarray
    distance: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.offsets[-1])


def state_table(scene_ids: Sequence[str], min_distance: int) -> StateTable:
    """The states of the protocol (nodes >= ``min_distance`` from a present target's goal)."""
    from navfusion.nav import load_world

    offsets, nodes, targets, labels, scenes, nbs, dists = [0], [], [], [], [], [], []
    for s, sid in enumerate(scene_ids):
        w = load_world(sid, views=False, progress=False)
        d, a = w.distance_table(), w.oracle_table()
        t, n = np.nonzero(d >= max(min_distance, 1))
        lab = a[t, n].astype(np.int64)
        if np.any(lab >= 8) or np.any(lab < 0):
            raise NavFusionError(f"{sid}: oracle says stop/none at a state >= {min_distance} moves from the goal")
        base = offsets[-1]
        nodes.append(n + base)
        targets.append(t)
        labels.append(lab)
        scenes.append(np.full(len(n), s))
        nb = np.asarray(w.graph.neighbors, np.int64)
        nbs.append(np.where(nb >= 0, nb + base, -1))
        dists.append(d.astype(np.int64))
        offsets.append(base + w.num_nodes)
    node = np.concatenate(nodes)
    order = np.argsort(node, kind="stable")
    return StateTable(list(scene_ids), np.asarray(offsets, np.int64), node[order], np.concatenate(targets)[order],
                      np.concatenate(labels)[order], np.concatenate(scenes)[order], np.concatenate(nbs),
                      np.concatenate(dists, axis=1))


def load_inputs(store_root: str, zoo: str, name: str, scene_ids: Sequence[str]) -> np.ndarray:
    """float32 ``(N_total, D)``: each node's 8 views' features of ``name``, flattened."""
    from navfusion.vision.features import FeatureStore

    store = FeatureStore(zoo, store_root)
    parts = [store.load(scene_slug(s), [name], verify=False)[:, 0] for s in scene_ids]
    return np.concatenate([p.reshape(len(p), -1) for p in parts]).astype(np.float32)


# ----------------------------------------------------------------------------- the MLP

class _ProbeMLP(torch.nn.Module):
    """``Linear(D + T, H) -> ReLU -> Dropout -> Linear(H, 8)`` with the first layer split into its
    node part ``(D -> H)`` and target part ``(T -> H)``, so it runs once per node per batch."""

    def __init__(self, d: int, targets: int, hidden: int, gen: torch.Generator) -> None:
        super().__init__()
        b1, b2 = 1 / math.sqrt(d + targets), 1 / math.sqrt(hidden)

        def u(shape, b):
            return torch.nn.Parameter((torch.rand(shape, generator=gen) * 2 - 1) * b)

        self.w_node, self.w_target, self.b1 = u((hidden, d), b1), u((targets, hidden), b1), u((hidden,), b1)
        self.w2, self.b2 = u((8, hidden), b2), u((8,), b2)

    def forward(self, x_nodes: torch.Tensor, local: torch.Tensor, target: torch.Tensor, dropout: float = 0.0,
                gen: torch.Generator | None = None) -> torch.Tensor:
        """``x_nodes`` (B, D), ``local`` (M,) row of each state's node, ``target`` (M,) -> logits (M, 8)."""
        h = torch.relu((x_nodes @ self.w_node.T)[local] + self.w_target[target] + self.b1)
        if dropout > 0:
            h = h * (torch.rand(h.shape, generator=gen) >= dropout) / (1 - dropout)
        return h @ self.w2.T + self.b2


def _segments(ptr: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States of ``nodes`` (CSR ``ptr``): (state indices, row of each state's node in ``nodes``)."""
    counts = ptr[nodes + 1] - ptr[nodes]
    total = int(counts.sum())
    local = np.repeat(np.arange(len(nodes)), counts)
    first = np.repeat(ptr[nodes] - (np.cumsum(counts) - counts), counts)
    return first + np.arange(total), local


def train_and_predict(x_train: np.ndarray, train: StateTable, x_eval: np.ndarray, scored: StateTable,
                      cfg: ProbeConfig) -> np.ndarray:
    """Train the probe MLP on ``train``'s states and return its argmax moves on ``scored``'s (M,)."""
    mu = x_train.mean(0)
    sd = x_train.std(0)
    sd = np.where(sd > 1e-6, sd, 1.0)  # constant dimensions carry nothing; leave them at 0
    xt = torch.from_numpy((x_train - mu) / sd)
    xe = torch.from_numpy((x_eval - mu) / sd)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    model = _ProbeMLP(xt.shape[1], len(TARGETS), cfg.hidden, gen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ptr = np.searchsorted(train.node, np.arange(train.num_nodes + 1))
    with_states = np.unique(train.node)
    t_target, t_label = torch.from_numpy(train.target), torch.from_numpy(train.label)
    rng = np.random.default_rng(cfg.seed)
    for _ in range(cfg.epochs):
        perm = rng.permutation(with_states)
        for s in range(0, len(perm), cfg.batch_nodes):
            nodes = perm[s:s + cfg.batch_nodes]
            idx, local = _segments(ptr, nodes)
            logits = model(xt[torch.from_numpy(nodes)], torch.from_numpy(local), t_target[idx], cfg.dropout, gen)
            loss = torch.nn.functional.cross_entropy(logits, t_label[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    eptr = np.searchsorted(scored.node, np.arange(scored.num_nodes + 1))
    e_nodes = np.unique(scored.node)
    preds = np.empty(len(scored.node), np.int64)
    with torch.no_grad():
        for s in range(0, len(e_nodes), 1024):
            nodes = e_nodes[s:s + 1024]
            idx, local = _segments(eptr, nodes)
            logits = model(xe[torch.from_numpy(nodes)], torch.from_numpy(local), torch.from_numpy(scored.target[idx]))
            preds[idx] = logits.argmax(1).numpy()
    return preds


# ----------------------------------------------------------------------------- scores

def bootstrap_ci(correct: np.ndarray, scene: np.ndarray, num_scenes: int, resamples: int,
                 seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of the mean of ``correct`` (M,) bool: (scenes then states, states only).

    Resampling M states with replacement makes the number of correct ones Binomial(M, mean), and
    resampling a scene's n states makes it Binomial(n, that scene's mean): drawn that way directly.
    """
    rng = np.random.default_rng(seed)
    m = len(correct)
    n_s = np.bincount(scene, minlength=num_scenes).astype(np.int64)
    c_s = np.bincount(scene, weights=correct.astype(np.float64), minlength=num_scenes)
    present = np.flatnonzero(n_s)
    p_s = c_s[present] / n_s[present]
    pick = rng.integers(0, len(present), (resamples, len(present)))
    hits = rng.binomial(n_s[present][pick], p_s[pick]).sum(1)
    by_scene = hits / n_s[present][pick].sum(1)
    by_state = rng.binomial(m, correct.mean(), resamples) / m
    q = [2.5, 97.5]
    lo_s, hi_s = np.percentile(by_scene, q)
    lo, hi = np.percentile(by_state, q)
    return (float(lo_s), float(hi_s)), (float(lo), float(hi))


def score(pred: np.ndarray, scored: StateTable, cfg: ProbeConfig) -> dict[str, Any]:
    """accuracy, ci, ci_state, blocked, optimal of argmax moves ``pred`` (M,) on ``scored``."""
    correct = pred == scored.label
    nxt = scored.neighbors[scored.node, pred]
    blocked = nxt < 0
    d_now = scored.distance[scored.target, scored.node]
    d_next = np.where(blocked, -1, scored.distance[scored.target, np.maximum(nxt, 0)])
    ci, ci_state = bootstrap_ci(correct, scored.scene, len(scored.scene_ids), cfg.bootstrap, cfg.seed)
    return {"accuracy": float(correct.mean()), "ci": list(ci), "ci_state": list(ci_state),
            "blocked": float(blocked.mean()), "optimal": float(((d_next >= 0) & (d_next == d_now - 1)).mean())}


# ----------------------------------------------------------------------------- one representation

def _probe_one(job: tuple) -> tuple[str, np.ndarray, int, float]:
    """Worker: (name, store name, zoo, store root, tables, cfg) -> (name, preds, D, seconds).

    Reads features from the explicit store root only (no other cache)."""
    name, store_name, zoo, store_root, train, scored, cfg = job
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    x_train = load_inputs(store_root, zoo, store_name, train.scene_ids)
    x_eval = load_inputs(store_root, zoo, store_name, scored.scene_ids)
    if x_train.shape[0] != train.num_nodes or x_eval.shape[0] != scored.num_nodes:
        raise NavFusionError(f"features of {name} do not match the graphs' node counts; rebuild them")
    pred = train_and_predict(x_train, train, x_eval, scored, cfg)
    return name, pred, int(x_train.shape[1]), time.perf_counter() - t0


def probe_representations(encoders: Sequence[str] = (), cfg: ProbeConfig | None = None,
                          progress: bool = True) -> dict[str, Any]:
    """Run the navigation probe (module docstring) and return a JSON-ready report.

    Args:
        encoders: extra encoder names (plug-ins, other zoos' ``<zoo>/<task>``, bare task names of
            ``cfg.zoo``) ranked next to the references and the zoo's tasks.
        cfg: the protocol (default ``ProbeConfig()``: quickstart, scored on val).
        progress: progress bars (feature building, representations) on stderr.

    Returns:
        ``{"representations": {name: {"accuracy", "ci", "ci_state", "blocked", "optimal",
        "gt_ratio", "kind", "dims", "seconds"}}, "protocol": {...}, "scenes": {...}, "states": {...},
        "seconds": total}``. Missing features are built first (FeatureStore of ``cfg.zoo``).
    """
    from tqdm.auto import tqdm

    from navfusion.build.runners import build_features
    from navfusion.vision.features import FeatureStore
    from navfusion.vision.zoo import DEFAULT_ZOO, find_zoo

    cfg = cfg or ProbeConfig()
    t0 = time.perf_counter()
    zoo = cfg.zoo or DEFAULT_ZOO
    reps = probe_representations_list(cfg, encoders)
    train_ids, scored_ids = probe_scenes(cfg)
    store = FeatureStore(zoo)
    build_features(train_ids + scored_ids, zoo, [r.store for r in reps], workers=cfg.workers, progress=progress)
    train, scored = state_table(train_ids, cfg.min_distance), state_table(scored_ids, cfg.min_distance)
    if not len(train.node) or not len(scored.node):
        raise NavFusionError(f"no states >= {cfg.min_distance} moves from a goal in the "
                             f"{'training' if not len(train.node) else cfg.split} scenes")
    jobs = [(r.name, r.store, zoo, str(store.root), train, scored, cfg) for r in reps]
    results: dict[str, tuple[np.ndarray, int, float]] = {}
    bar = tqdm(total=len(jobs), desc="probe", unit="repr", disable=not progress)
    if cfg.workers <= 1:
        threads = torch.get_num_threads()
        try:
            for j in jobs:
                name, pred, d, sec = _probe_one(j)
                results[name] = (pred, d, sec)
                bar.update(1)
                bar.set_postfix_str(f"{name} {float((pred == scored.label).mean()):.3f}")
        finally:
            torch.set_num_threads(threads)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for name, pred, d, sec in pool.imap_unordered(_probe_one, jobs):
                results[name] = (pred, d, sec)
                bar.update(1)
                bar.set_postfix_str(f"{name} {float((pred == scored.label).mean()):.3f}")
    bar.close()
    out: dict[str, dict[str, Any]] = {}
    for r in reps:
        pred, d, sec = results[r.name]
        out[r.name] = {**score(pred, scored, cfg), "gt_ratio": None, "kind": r.kind, "task": r.task,
                       "dims": d, "seconds": round(sec, 2)}
    for r in reps:
        ref = out.get(f"gt/{r.task}") if r.task else None
        if ref is not None and ref["accuracy"] > 0:
            out[r.name]["gt_ratio"] = out[r.name]["accuracy"] / ref["accuracy"]
    proto = {k: v for k, v in asdict(cfg).items() if k not in ("workers", "threads")}
    proto.update(zoo=find_zoo(zoo).name, train_splits=list(cfg.train_splits))
    return {"representations": out, "protocol": proto,
            "scenes": {"train": train_ids, "scored": scored_ids},
            "states": {"train": int(len(train.node)), "scored": int(len(scored.node))},
            "seconds": round(time.perf_counter() - t0, 1)}


def probe_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table, best accuracy first."""
    from navfusion.markdown import markdown_table

    reps = sorted(report["representations"].items(), key=lambda kv: -kv[1]["accuracy"])

    def f(v):
        return "" if v is None else f"{v:.3f}"

    rows = [[i + 1, f"`{n}`", r["kind"], f(r["accuracy"]), f"{r['ci'][0]:.3f}–{r['ci'][1]:.3f}",
             f"{r['ci_state'][0]:.3f}–{r['ci_state'][1]:.3f}", f(r["blocked"]), f(r["optimal"]), f(r["gt_ratio"])]
            for i, (n, r) in enumerate(reps)]
    return markdown_table(["#", "representation", "kind", "accuracy", "95% CI (scenes)", "95% CI (states)",
                           "blocked", "optimal", "ratio to gt"], rows, right_from=3)


def probe_summary(report: dict[str, Any]) -> str:
    """One line: what was trained on, what was scored, how long it took."""
    p, s, n = report["protocol"], report["scenes"], report["states"]
    return (f"navigation probe, suite {p['suite']}: trained on {len(s['train'])} scenes ({n['train']} states), "
            f"scored on {p['split']} ({len(s['scored'])} scenes, {n['scored']} states); zoo {p['zoo']}; "
            f"{p['epochs']} epochs, seed {p['seed']}; {report['seconds']:.0f} s")


__all__ = ["BASELINES", "ProbeConfig", "Representation", "StateTable", "bootstrap_ci", "probe_representations",
           "probe_representations_list", "probe_scenes", "probe_summary", "probe_table", "score", "state_table",
           "train_and_predict"]
