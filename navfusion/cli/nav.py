"""``navfusion rollout`` and ``navfusion bench env``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.nav.registration import ENV_HELP


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollout", help="run the oracle or a random agent in an environment and report success/SPL")
    p.add_argument("--env", default="NavFusion/OctoNav-tiny-v0", help=ENV_HELP)
    p.add_argument("--agent", choices=("oracle", "random"), default="oracle",
                   help="the shortest-path oracle, or the random walk over the 8 moves with the agents' action "
                   "memory (no retrying a collided move, no stepping straight back), like the `random` agent")
    p.add_argument("--reactive", action="store_true", help="random walk without the action memory")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--split", default=None, help="suite split (default: the id's, 'train')")
    p.add_argument("--success-mode", choices=("reach", "stop"), default=None)
    p.add_argument("--resolution", type=int, default=None, help="view size in pixels (default: the id's, 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gif", default=None, metavar="FILE", help="write the first episode as an animated GIF")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_rollout)

    b = bench.add_parser("env", help="environment steps/s, cached (ViewStore) and uncached (live rendering)")
    b.add_argument("--env", default=None, help=ENV_HELP + " (default NavFusion/OctoNav-tiny-v0)")
    b.add_argument("--toy", action="store_true", help="use the built-in two-room toy scene instead of a suite")
    b.add_argument("--resolution", type=int, default=128)
    b.add_argument("--steps", type=int, default=20000)
    b.add_argument("--live-steps", type=int, default=40)
    b.add_argument("--backend", default="auto", help="renderer backend: auto, gl, raycast")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true", help="print JSON only")
    b.set_defaults(func=_bench)


def _rollout(args: argparse.Namespace) -> int:
    import navfusion  # noqa: F401
    from navfusion.agents.memory import ActionMemory, with_memory
    from navfusion.env import make
    from navfusion.nav.policies import random_policy

    if args.episodes < 1:
        raise NavFusionError(f"--episodes={args.episodes}: must be >= 1")
    if args.seed < 0:
        raise NavFusionError(f"--seed={args.seed}: must be >= 0")
    if args.gif and (Path(args.gif).is_dir() or not Path(args.gif).parent.is_dir()):
        raise NavFusionError(f"--gif={args.gif}: must be a file path in an existing folder, e.g. out/episode.gif")
    kw = {}
    if args.split:
        kw["split"] = args.split
    if args.success_mode:
        kw["success_mode"] = args.success_mode
    if args.resolution is not None:  # 0 is a bad value for the env to refuse, not "not given"
        kw["resolution"] = args.resolution
    if args.gif:
        kw["render_mode"] = "rgb_array"
    env = make(args.env, **kw)
    walk = with_memory(random_policy(args.seed, include_stop=False), ActionMemory(not args.reactive, not args.reactive))
    frames, results = [], []
    obs, info = env.reset(seed=args.seed)
    if args.gif:
        frames.append(env.render())
    while len(results) < args.episodes:
        if args.agent == "oracle":
            a = info["oracle_action"]
        else:  # the walk's memory tells episodes apart by their index
            a = int(walk(np.array([info["node"]]), np.zeros(1, np.int64), 0, np.array([len(results)])).actions[0])
        obs, r, term, trunc, info = env.step(a)
        if args.gif and not results:
            frames.append(env.render())
        if term or trunc:
            results.append((bool(info["success"]), float(info["spl"]), int(info["steps"])))
            obs, info = env.reset()
    env.close()
    res = np.array(results, dtype=float)
    summary = {"env": args.env, "agent": args.agent, "episodes": len(results),
               "success": round(float(res[:, 0].mean()), 4), "spl": round(float(res[:, 1].mean()), 4),
               "mean_steps": round(float(res[:, 2].mean()), 2)}
    if args.gif:
        import imageio.v2 as imageio

        from navfusion.io import atomic_path

        with atomic_path(args.gif) as tmp:  # imageio >= 2.28 reads a GIF's duration in milliseconds
            imageio.mimsave(tmp, frames, format="GIF", duration=250, loop=0)
        summary["gif"] = args.gif
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.agent} on {args.env}: {summary['episodes']} episodes, success {summary['success']:.3f}, "
              f"SPL {summary['spl']:.3f}, mean steps {summary['mean_steps']:.1f}"
              + (f"; GIF: {args.gif}" if args.gif else ""))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from navfusion.cli.bench.env import bench_env

    res = bench_env(args.env, args.resolution, args.steps, args.live_steps, args.seed, args.toy, args.backend)
    if args.json:
        print(json.dumps(res))
    else:
        width = max(len(k) for k in res)
        for k, v in res.items():
            print(f"{k:<{width}}  {v}")
    return 0
