"""``navfusion evaluate``, ``navfusion reproduce`` and ``navfusion quickstart``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from navfusion.common import HORIZON, SUCCESS_RADIUS
from navfusion.errors import NavFusionError

QUICKSTART_OUT = "runs/quickstart"


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run (or the oracle / random walk) on unseen scenes",
                       description=f"The paper's protocol: success = within {SUCCESS_RADIUS} steps of the goal "
                       f"within {HORIZON} actions, plus stop-mode success, SPL (path lengths in steps), steps and "
                       "collisions, per scene and per target, with bootstrap 95% CIs. Episodes of a scene run as one "
                       "batch.")
    p.add_argument("run", help="run folder of `navfusion train`, or 'oracle' / 'random' (needs --env)")
    p.add_argument("--split", default="test", help="split of the run's suite to evaluate on (default: test). "
                   "Choose checkpoints and settings on 'val'; evaluate 'test' once per final run")
    p.add_argument("--test-seeds", default=None, metavar="START:COUNT",
                   help="evaluate on COUNT fresh scenes of the suite's generator, seeds START.., a block no suite "
                   "names (refused when it overlaps any split of any suite); replaces --split")
    p.add_argument("--env", default=None, help="a registered id, a suite name or a path to a suite YAML "
                   "(default: the run's training env)")
    p.add_argument("--episodes-per-scene", type=int, default=1024, help="episodes per scene (paper: 1024)")
    p.add_argument("--max-scenes", type=int, default=None, help="use only the first scenes of the split")
    p.add_argument("--seed", type=int, default=0, help="seed of the policy's action sampling")
    p.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    p.add_argument("--reactive", action="store_true",
                   help="act without the short-term action memory (the paper's reactive agent; default: the "
                   "recipe's memory -- no retrying a collided move, no stepping straight back)")
    p.add_argument("--out", default=None, help="output folder (default: RUN/eval-<split>)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the Markdown table")
    p.set_defaults(func=_evaluate)

    r = sub.add_parser("reproduce", help="the paper's experiment end to end from a recipe (configs/NAME.yaml)")
    r.add_argument("recipe", help="configs/NAME.yaml or a recipe name (quickstart, paper, test_tiny)")
    r.add_argument("--out", required=True, help="output folder (re-running reuses what is there)")
    r.add_argument("--export-docs", default=None, metavar="DIR",
                   help="also copy the tables and main figures into DIR/results.md + DIR/figures/ "
                   "(or DIR/results-NAME.md + DIR/figures/NAME/ when given a .md path)")
    r.add_argument("--test-seeds", default=None, metavar="START:COUNT", help=_TEST_SEEDS_HELP)
    r.set_defaults(func=lambda a: _reproduce(a.recipe, a.out, a.export_docs, _command("reproduce " + a.recipe, a),
                                             a.test_seeds))

    q = sub.add_parser("quickstart", help="the main job: reproduce configs/quickstart.yaml into runs/quickstart")
    q.add_argument("--out", default=QUICKSTART_OUT, help=f"output folder (default: {QUICKSTART_OUT})")
    q.add_argument("--export-docs", default=None, metavar="DIR",
                   help="also copy the tables and main figures into DIR/results.md + DIR/figures/ "
                   "(or DIR/results-NAME.md + DIR/figures/NAME/ when given a .md path)")
    q.add_argument("--test-seeds", default=None, metavar="START:COUNT", help=_TEST_SEEDS_HELP)
    q.set_defaults(func=lambda a: _reproduce("quickstart", a.out, a.export_docs, _command("quickstart", a),
                                             a.test_seeds))


_TEST_SEEDS_HELP = ("evaluate on COUNT fresh scenes of the recipe suite's generator (seeds START..), a block no "
                    "suite names, instead of its test split; trained runs in --out are reused, evaluations and "
                    "the report are redone (copy the folder first to keep the test-split report)")


def _command(what: str, a: argparse.Namespace) -> str:
    cmd = f"navfusion {what}"
    if a.out and not (what == "quickstart" and a.out == QUICKSTART_OUT):
        cmd += f" --out {a.out}"
    if a.test_seeds:
        cmd += f" --test-seeds {a.test_seeds}"
    return cmd


def _reproduce(recipe: str, out: str, docs: str | None = None, command: str = "", test_seeds: str | None = None
               ) -> int:
    from navfusion.report.reproduce import Reproduction

    rep = Reproduction(recipe, out, log=lambda s: print(s, flush=True), test_seeds=test_seeds)
    index = rep.run()
    print()
    print(rep.table_markdown, end="")
    print()
    print(rep.findings_markdown, end="")
    print()
    if docs:
        from navfusion.report.export import export_docs

        print(f"Docs: {export_docs(out, docs, command)}")
    print(f"Report: {index.resolve()}")
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    from navfusion.eval.evaluate import evaluate_agent, save_results
    from navfusion.report.real_backend import RealBackend, load_run
    from navfusion.train.data import split_scene_ids, suite_of_env
    from navfusion.train.run_folder import run_config, unfinished_warning

    if a.episodes_per_scene < 1:
        raise NavFusionError(f"--episodes-per-scene={a.episodes_per_scene}: must be >= 1")
    block = None
    if a.test_seeds:
        from navfusion.eval.heldout import parse_seed_block

        block = parse_seed_block(a.test_seeds)
    special = a.run in ("oracle", "random")
    if special:
        if not a.env:
            raise NavFusionError(f"evaluate {a.run}: pass --env (e.g. NavFusion/OctoNav-tiny-v0)")
        suite, agent, resolution = suite_of_env(a.env), None, 64
        if block is not None:
            suite, a.split = _fresh(suite, block), "test"
    else:
        run = Path(a.run)
        if run.exists() and not run.is_dir():
            raise NavFusionError(f"{run} is a file; RUN must be a run folder of `navfusion train`")
        rc = run_config(run) if (run / "config.json").is_file() else None
        suite = suite_of_env(a.env) if a.env else (suite_of_env(rc["train"]["env"]) if rc else None)
        if block is not None:
            suite, a.split = _fresh(suite, block), "test"
        warn = unfinished_warning(run)
        if warn:
            print(warn, file=sys.stderr)
        agent = load_run(run, suite, a.split, a.max_scenes)
        if a.reactive:
            from navfusion.agents.config import MemoryConfig

            agent.cfg = dataclasses.replace(agent.cfg, memory=MemoryConfig(False, False))
        resolution = agent.cfg.rgb_resolution if agent.cfg.uses_rgb else 64
    ids = split_scene_ids(suite, a.split)[: a.max_scenes or None]
    cfg = SimpleNamespace(resolution=resolution, episodes_per_scene=a.episodes_per_scene)
    backend = RealBackend()
    scenes = [backend.scene(s, cfg) for s in ids]
    if special:
        agent = _TablePolicy(a.run, reactive=a.reactive)
    res, scene, _ = evaluate_agent(agent, scenes, episodes_per_scene=a.episodes_per_scene, seed=a.seed,
                                   greedy=a.greedy)
    where = f"seeds-{block.start}-{block.count}" if block is not None else a.split
    out = Path(a.out) if a.out else (Path("runs") / f"eval-{a.run}-{suite}-{where}" if special
                                     else Path(a.run) / f"eval-{where}")
    title = f"{a.run} on {suite}/{a.split}" + (f" (fresh seed block {block}: {block.describe()})" if block else "")
    s = save_results(out, res, scene, title=title)
    if a.json:
        obj = {k: s[k] for k in ("success", "success_ci", "spl", "spl_ci", "success_stop", "success_stop_ci",
                                 "spl_stop", "steps", "collisions", "episodes")}
        obj.update(run=str(a.run), suite=suite, split=a.split, scenes=len(ids),
                   test_seeds=None if block is None else str(block), per_scene=s["per_scene"],
                   per_category=s["per_category"], out=str(out))
        print(json.dumps(obj))
    else:
        sys.stdout.write((out / "summary.md").read_text())
        print(f"\nWrote {out}/summary.json, summary.md, episodes.csv")
    return 0


def _fresh(suite: str | None, block) -> str:
    """The fresh suite of ``suite``'s generator over ``block`` (see ``navfusion.eval.heldout``)."""
    from navfusion.eval.heldout import fresh_suite

    if not suite:
        raise NavFusionError("--test-seeds: which suite's generator? pass --env")
    return fresh_suite(suite, block)


class _TablePolicy:
    """The oracle or a uniform random walk as a ``LoadedAgent`` (no model)."""

    expert_names = None

    def __init__(self, kind: str, reactive: bool = False):
        self.kind = kind
        self.reactive = reactive

    def policy(self, sd, *, seed, greedy=False, **kw):
        from navfusion.agents.memory import ActionMemory, with_memory
        from navfusion.nav.policies import oracle_policy, random_policy

        if self.kind == "oracle":
            return oracle_policy(sd.arrays)
        # Moves only, like the Random agent (stopping early can only lose), with the same memory.
        walk = random_policy(seed, include_stop=False)
        return walk if self.reactive else with_memory(walk, ActionMemory())

    def node_gates(self, sd, nodes, target):
        return None
