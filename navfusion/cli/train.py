"""``navfusion train``, ``navfusion train-rl`` and ``navfusion bench train``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from navfusion.errors import NavFusionError
from navfusion.parallel.launch import add_launch_args, maybe_launch


def _agent_help() -> str:
    from navfusion.agents.config import AGENT_KINDS, list_recipes

    return (f"recipe name ({', '.join(list_recipes()) or 'none shipped'}), path to a YAML recipe, "
            f"'single:<encoder>' or a kind ({', '.join(AGENT_KINDS)})")


#: TrainConfig's and the shipped agent recipes' iterations (kept equal; the help text quotes it).
_DEFAULT_ITERATIONS = 2000


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add ``train``, ``train-rl`` and ``bench train``."""
    p = sub.add_parser("train", help="train an agent by imitation of the shortest-path oracle (BC + DAgger)",
                       description="Imitation training. Default budget: the agent recipe's train section -- "
                                   f"{_DEFAULT_ITERATIONS:,} iterations at batch 256 for the shipped recipes "
                                   "(paper: 16,000); after the first iterations the command prints its time per "
                                   "iteration and an ETA, and the progress bar keeps it up to date. "
                                   "checkpoints/best.safetensors is chosen by success on the val split. Resumes "
                                   "automatically when --out holds a checkpoint of the same run (use --restart "
                                   "to start over).")
    p.add_argument("--env", default=None, help="environment id, e.g. NavFusion/OctoNav-tiny-v0 (default: recipe's)")
    p.add_argument("--agent", required=True, help=_agent_help())
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, resolved config)")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"optimiser steps (default: the recipe's train.iterations, {_DEFAULT_ITERATIONS:,} for the "
                   "shipped recipes; paper: 16,000)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None, help="validation period in iterations")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="iterations between resumable checkpoints (default: the recipe's train.checkpoint_every)")
    p.add_argument("--max-scenes", type=int, default=None, help="use only the first scenes of each split")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_launch_args(p)  # --device/--amp/--nproc/--nnodes... (navfusion.parallel)
    p.set_defaults(func=_train)

    r = sub.add_parser("train-rl", help="train an agent with PPO (stable-baselines3) in feature mode")
    r.add_argument("--env", default="NavFusion/OctoNav-tiny-v0", help="environment id")
    r.add_argument("--agent", required=True, help=_agent_help())
    r.add_argument("--out", required=True, help="run folder")
    r.add_argument("--timesteps", type=int, default=20000, help="environment steps")
    r.add_argument("--init", default=None, help="imitation checkpoint (.safetensors) to warm-start the policy from")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--n-envs", type=int, default=4, help="parallel environments (in-process)")
    r.add_argument("--n-steps", type=int, default=256, help="PPO rollout length per environment")
    r.add_argument("--lr", type=float, default=3e-4)
    r.add_argument("--eval-episodes", type=int, default=64, help="episodes per val scene before/after")
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--vec-env", default="dummy", choices=["dummy", "subproc"],
                   help="environments in this process (dummy) or one spawned process each (subproc)")
    r.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    r.set_defaults(func=_train_rl)

    b = bench.add_parser("train", help="imitation-training iterations/s at batch 256 with 25 experts",
                         description="Iterations/s of imitation training on synthetic lookup tables (K encoders, "
                                     "batch 256). --compare also measures the baseline commit's code in the same "
                                     "run (subprocesses, alternating), so before/after ratios share the load.")
    b.add_argument("--experts", type=int, default=25)
    b.add_argument("--batch-size", type=int, default=256)
    b.add_argument("--iterations", type=int, default=None,
                   help="timed steps per measurement (default 10; 5 with --compare)")
    b.add_argument("--agent", action="append", default=None,
                   help="agent kind or recipe (repeatable; default: action_fusion, feature_fusion, concat, resnet)")
    b.add_argument("--gate-resolution", type=int, default=64)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--amp", default="off", choices=["off", "bf16"], help="bf16 autocast of forward and loss")
    b.add_argument("--reference", action="store_true",
                   help="this tree's reference paths (allocator untouched, unfused gate input, expert loop)")
    b.add_argument("--compare", action="store_true",
                   help="before/after in one run: the --baseline commit's code vs this tree, in subprocesses")
    b.add_argument("--baseline", default=None, help="baseline git revision for --compare (default: the commit "
                                                     "before the throughput work)")
    b.add_argument("--rounds", type=int, default=2, help="--compare: alternating rounds (median taken)")
    b.add_argument("--with-bf16", action="store_true", help="--compare: also the current tree with bf16 autocast")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=_bench)


def _train(args: argparse.Namespace) -> int:
    from navfusion.agents import load_agent_config
    from navfusion.train.imitation import resolve_train_config, train_imitation

    rc = maybe_launch(args)  # --nproc N: re-run under torchrun, one DDP rank per process
    if rc is not None:
        return rc

    from navfusion.train.speed import tune_allocator

    tune_allocator()  # freed tensors stay in the heap: no page faults for each step's large buffers
    agent_cfg = load_agent_config(args.agent)
    cfg = resolve_train_config(agent_cfg, {
        "env": args.env, "iterations": args.iterations, "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "eval_every": args.eval_every,
        "checkpoint_every": args.checkpoint_every, "max_scenes": args.max_scenes, "threads": args.threads,
        "device": args.device, "amp": args.amp,
    })
    res = train_imitation(agent_cfg, cfg, args.out, progress=not args.no_progress, restart=args.restart)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    msg = f"trained {agent_cfg.name} for {res.iterations} iterations -> {Path(args.out) / 'checkpoints'}"
    if res.resumed_from is not None:
        msg += f" (resumed from iteration {res.resumed_from})"
    if res.best_val_success is not None:
        msg += f"; val success last {res.last_val_success:.3f}, best {res.best_val_success:.3f}"
    print(msg)
    return 0


def _train_rl(args: argparse.Namespace) -> int:
    from navfusion.agents import load_agent_config
    from navfusion.train.ppo import PPOConfig, train_ppo

    agent_cfg = load_agent_config(args.agent)
    cfg = PPOConfig(env=args.env, timesteps=args.timesteps, seed=args.seed, n_envs=args.n_envs,
                    n_steps=args.n_steps, lr=args.lr, init=args.init, eval_episodes=args.eval_episodes,
                    threads=args.threads or 0, vec_env=args.vec_env, device=args.device)
    res = train_ppo(agent_cfg, cfg, args.out)
    print(f"PPO {agent_cfg.name}: val success {res['success_before']:.3f} -> {res['success_after']:.3f} "
          f"({args.timesteps} steps) -> {args.out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from navfusion.cli.bench.train import BASELINE_REV, COMPARE_AGENTS, bench_train, compare_train, format_compare

    agents = tuple(args.agent or COMPARE_AGENTS)
    iterations = args.iterations or (5 if args.compare else 10)
    if args.experts < 1 or args.batch_size < 1 or iterations < 1 or args.rounds < 1:
        raise NavFusionError("--experts, --batch-size, --iterations and --rounds must be >= 1")
    if args.compare:
        res = compare_train(agents, args.baseline or BASELINE_REV, args.rounds, args.experts, args.batch_size,
                            iterations, args.gate_resolution, args.threads, amp_variant=args.with_bf16)
        print(json.dumps(res, indent=2) if args.json else format_compare(res))
        return 0
    rows = [bench_train(a, args.experts, args.batch_size, iterations, args.gate_resolution, args.threads,
                        amp=args.amp, reference=args.reference) for a in agents]
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return 0
    for res in rows:
        print(f"{res['agent']}: K={res['experts']} batch {res['batch_size']}: {res['iterations_per_s']:.2f} it/s "
              f"({res['ms_per_iteration']:.0f} ms/it; data {100 * res['data_share']:.0f}%, "
              f"model {100 * (1 - res['data_share']):.0f}%; {res['threads']} threads, amp {res['amp']}"
              f"{', reference paths' if res['reference'] else ''})")
    return 0
