"""``navfusion encoders ...``, ``navfusion features build`` and ``navfusion bench encoders``."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from navfusion.cli.groups import command_group
from navfusion.errors import NavFusionError
from navfusion.markdown import markdown_table


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    es = command_group(sub, "encoders", "the vision encoder zoo: list, pretrain, verify, affinity, probe",
                       "encoders_command")

    p = es.add_parser("list", help="list creatable encoders (zoos, references, built-ins, plug-ins) as a table")
    p.add_argument("pattern", nargs="?", default="*", help="glob pattern (default '*')")
    p.add_argument("--names", action="store_true", help="print bare names, one per line (for scripts)")
    p.set_defaults(func=_list)

    p = es.add_parser("pretrain", help="pretrain a zoo (one encoder per task) on the suites' pretrain splits")
    p.add_argument("--config", required=True, help="zoo recipe, e.g. configs/zoo_nf5.yaml")
    p.add_argument("--tasks", nargs="+", default=None, help="train only these tasks (default: the config's)")
    p.add_argument("--out", default=None, help="zoo folder (default: <cache>/encoders/<zoo>)")
    p.add_argument("--steps", type=int, default=None, help="override the steps per task")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _device_arg(p, "train on")
    p.set_defaults(func=_pretrain)

    p = es.add_parser("verify", help="check a zoo's files against its manifest and print its metric table")
    p.add_argument("--zoo", default=None, help="zoo name or folder (default nf5)")
    p.set_defaults(func=_verify)

    p = es.add_parser("affinity", help="compute a zoo's task-affinity matrix (linear CKA on held-out views)")
    p.add_argument("--zoo", default=None, help="zoo name or folder (default nf5)")
    p.add_argument("--out", default=None, help="also write affinity.csv and affinity.png here")
    p.add_argument("--probe", type=int, default=256, help="number of probe views (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_affinity)

    p = es.add_parser("probe", help="the navigation probe: rank representations by how well a small policy reading "
                                     "them imitates the oracle on unseen scenes, next to ground truth (gt/*)",
                      description="Train a 2-layer MLP per representation (node's 8 views + target one-hot -> "
                                  "oracle move) on the suite's pretrain + train scenes and score it on unseen "
                                  "scenes, always next to the privileged gt/<task> references, rgb_thumbnail and "
                                  "the untrained 'random' encoder. See docs/encoders.md (Navigation probe).")
    p.add_argument("--suite", default="quickstart", help="environment suite (default quickstart)")
    p.add_argument("--split", default="val",
                   help="scored split (default val). 'test' is for final reports only: choosing representations "
                        "by their test score leaks the test scenes")
    p.add_argument("--zoo", default=None, help="zoo whose tasks are probed (default nf5); a zoo whose manifest "
                                               "lists only some tasks is fine")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="probe only these zoo tasks ('none': no zoo task, e.g. to rank --encoders alone)")
    p.add_argument("--encoders", nargs="+", default=[], metavar="NAME",
                   help="extra encoders to rank (plug-ins such as mypkg/myenc, other zoos' <zoo>/<task>)")
    p.add_argument("--max-pretrain-scenes", type=int, default=8,
                   help="train on the first N pretrain scenes (default 8) plus the train split")
    p.add_argument("--max-eval-scenes", type=int, default=None, help="score only the first N scenes of --split")
    p.add_argument("--epochs", type=int, default=None, help="override the protocol's epochs (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1,
                   help="processes: feature building per scene and representations side by side (default 1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a Markdown table")
    p.add_argument("--out", default=None, help="also write the JSON report to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_probe)

    fs = command_group(sub, "features", "frozen-encoder features of every node x view (FeatureStore)",
                       "features_command")
    p = fs.add_parser("build", help="build missing/stale feature files of an environment's scenes")
    p.add_argument("--env", required=True, help="a registered id, a suite name or a path to a suite YAML")
    p.add_argument("--zoo", default=None, help="zoo name (default nf5)")
    p.add_argument("--splits", nargs="+", default=None, help="suite splits (default: all but pretrain)")
    p.add_argument("--encoders", nargs="+", default=None, help="encoders (default: all zoo tasks)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (one scene each)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run one Ray task per scene (pip install 'navfusion[distributed]'): on the cluster at "
                        "ADDRESS ('auto' = the one `ray start` joined), or a local one with --workers CPUs")
    p.add_argument("--batch-size", type=int, default=256)
    _device_arg(p, "run the encoders on")
    p.set_defaults(func=_features_build)

    b = bench.add_parser("encoders", help="encoder throughput (views/s) per encoder and for the whole zoo")
    b.add_argument("--zoo", default=None, help="zoo name (default nf5)")
    b.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="view sizes to feed (default 64 128)")
    b.add_argument("--views", type=int, default=512, help="views per measurement")
    b.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    b.add_argument("--taskonomy", action="store_true",
                   help="also time the original Taskonomy encoder (ResNet-50, 256x256, random weights)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench)


def _device_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--device", default="cpu", metavar="{auto,cpu,cuda,cuda:N}",
                   help=f"where to {what}: cpu (default), cuda / cuda:N (a GPU; an error when torch sees "
                        "none) or auto (cuda when available, else cpu)")


def _zoo(name: str | None) -> str:
    from navfusion.vision.zoo import DEFAULT_ZOO

    return name or DEFAULT_ZOO


def _list(args: argparse.Namespace) -> int:
    from navfusion.vision.registry import list_encoders

    names = list_encoders(args.pattern)
    if args.names:
        for n in names:
            print(n)
        return 0
    rows = encoder_rows(names)
    print(markdown_table(["encoder", "kind", "task group", "parameters", "held-out metric (vs trivial baseline)"],
                         rows))
    print(f"{len(names)} encoders; unprefixed task names are the default zoo's. `--names` for bare names.")
    return 0


def encoder_rows(names: list[str]) -> list[list[str]]:
    """One table row per encoder name, grouped: default-zoo aliases, each zoo, references, built-ins."""
    from navfusion.vision.tasks import TASKS, task_spec
    from navfusion.vision.zoo import DEFAULT_ZOO, list_zoos, load_manifest

    manifests = {}
    for z in list_zoos():
        try:
            manifests[z] = load_manifest(z)
        except NavFusionError:
            continue
    rows: list[tuple[int, str, list[str]]] = []
    for n in names:
        zoo, _, task = n.rpartition("/")
        if zoo in manifests or (not zoo and task in TASKS):
            z = zoo or DEFAULT_ZOO
            e = manifests.get(z, {}).get("tasks", {}).get(task)
            kind = f"zoo {z}" + ("" if zoo else " (default)")
            params = f"{manifests[z].get('params_per_encoder', 0):,}" if z in manifests else ""
            metric = (f"{e['metric']} {e['heldout']:.3f} vs {e['baseline']:.3f}" if e else "")
            rows.append((0 if not zoo else 1, f"{z}/{task}", [n, kind, task_spec(task).group, params, metric]))
        elif zoo == "gt" and task in TASKS:
            rows.append((2, n, [n, "privileged ground truth", task_spec(task).group, "0", ""]))
        else:
            rows.append((3, n, [n, "built-in or plug-in", "", "", ""]))
    return [r for _, _, r in sorted(rows, key=lambda t: (t[0], t[1]))]


def _pretrain(args: argparse.Namespace) -> int:
    from navfusion.config import from_dict, load_yaml
    from navfusion.vision.pretrain import PretrainConfig, pretrain, results_table, with_overrides

    cfg = from_dict(PretrainConfig, load_yaml(args.config, "zoo config"), where=args.config)
    cfg = with_overrides(cfg, tasks=args.tasks, steps=args.steps)
    if args.tasks or args.steps:
        cfg.__post_init__()
    t0 = time.perf_counter()
    m = pretrain(cfg, out=args.out, progress=not args.no_progress, device=args.device)
    print(results_table(m))
    bad = [t for t, e in m["tasks"].items() if not e["beats_baseline"]]
    print(f"zoo {cfg.zoo}: {len(m['tasks'])} tasks in {time.perf_counter() - t0:.0f} s"
          + (f"; NOT beating the baseline: {', '.join(bad)}" if bad else "; every task beats its baseline"))
    return 1 if bad else 0


def _verify(args: argparse.Namespace) -> int:
    from navfusion.vision.pretrain import results_table
    from navfusion.vision.zoo import find_zoo, load_manifest, verify_zoo

    d = find_zoo(_zoo(args.zoo))
    m = load_manifest(d)
    print(results_table(m))
    problems = verify_zoo(d)
    size = sum((d / e["file"]).stat().st_size for e in m["tasks"].values() if (d / e["file"]).is_file())
    print(f"{d}: {len(m['tasks'])} encoders, {size / 1e6:.2f} MB")
    for p in problems:
        print(f"PROBLEM {p}")
    return 1 if problems else 0


def _affinity(args: argparse.Namespace) -> int:
    from navfusion.vision.affinity import compute_affinity, probe_images, save_affinity

    zoo = _zoo(args.zoo)
    imgs = probe_images(zoo, args.probe, args.seed)
    names, a = compute_affinity(zoo, imgs)
    path = save_affinity(zoo, names, a, out=args.out, probe={"views": len(imgs), "seed": args.seed})
    off = a[~np.eye(len(a), dtype=bool)]
    print(f"wrote {path}" + (f" and {args.out}/affinity.csv, affinity.png" if args.out else ""))
    print(f"{len(names)} tasks; off-diagonal affinity min {off.min():.3f} mean {off.mean():.3f} max {off.max():.3f}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from navfusion.eval.probe import ProbeConfig, probe_representations, probe_summary, probe_table
    from navfusion.io import atomic_write_json

    tasks = None if args.tasks is None else ([] if args.tasks == ["none"] else args.tasks)
    extra = {"epochs": args.epochs} if args.epochs is not None else {}
    cfg = ProbeConfig(suite=args.suite, split=args.split, zoo=args.zoo, tasks=tasks,
                      max_pretrain_scenes=args.max_pretrain_scenes, max_eval_scenes=args.max_eval_scenes,
                      seed=args.seed, workers=args.workers, **extra)
    rep = probe_representations(args.encoders, cfg, progress=not args.no_progress)
    if args.out:
        atomic_write_json(args.out, rep)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(probe_summary(rep))
        print()
        print(probe_table(rep))
    return 0


def _suite_of(env: str) -> str:
    """A registered id, a suite name or a suite YAML path -> the suite name (one resolver for every --env)."""
    from navfusion.nav.registration import resolve_env

    return resolve_env(env).suite


def _features_build(args: argparse.Namespace) -> int:
    from navfusion.build.runners import build_features
    from navfusion.scenes.suites import load_suite

    suite = load_suite(_suite_of(args.env))
    splits = args.splits or [s for s in suite.splits if s != "pretrain"]
    ids = []
    for s in splits:
        ids += [str(x) for x in suite.scene_ids(s)]
    if args.workers < 1:
        raise NavFusionError(f"--workers={args.workers}: must be >= 1")
    if args.batch_size < 1:
        raise NavFusionError(f"--batch-size={args.batch_size}: must be >= 1 (views encoded per forward pass)")
    from navfusion.device import resolve_device

    device = str(resolve_device(args.device))  # a missing GPU is reported before any work
    if args.ray and device != "cpu":
        raise NavFusionError(f"--device {args.device} applies to local builds; Ray workers encode on the CPU")
    t0 = time.perf_counter()
    if args.ray:  # navfusion.build: same per-scene build, scheduled on Ray, hashes checked afterwards
        from navfusion.build.runners import build_features_sharded

        out = build_features_sharded(ids, _zoo(args.zoo), args.encoders, backend="ray", workers=args.workers,
                                     batch_size=args.batch_size,
                                     ray_address=None if args.ray == "local" else args.ray)
    else:
        out = build_features(ids, _zoo(args.zoo), args.encoders, workers=args.workers, batch_size=args.batch_size,
                             device=device)
    comp = sum(len(c) for c, _ in out.values())
    reused = sum(len(r) for _, r in out.values())
    print(f"{len(ids)} scenes: {comp} feature files computed, {reused} up to date "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from navfusion.vision.encoders import encode_rgb
    from navfusion.vision.registry import create_encoder
    from navfusion.vision.zoo import load_manifest

    if args.threads:
        torch.set_num_threads(args.threads)
    zoo = _zoo(args.zoo)
    tasks = list(load_manifest(zoo)["tasks"])
    rng = np.random.default_rng(0)
    res: dict = {"zoo": zoo, "threads": torch.get_num_threads(), "views": args.views, "sizes": {}}
    for size in args.sizes:
        imgs = rng.integers(0, 256, (args.views, size, size, 3), dtype=np.uint8)
        per = {}
        encs = [create_encoder(f"{zoo}/{t}") for t in tasks]
        encode_rgb(encs[0], imgs[:32])  # warm-up
        t_all = time.perf_counter()
        for t, e in zip(tasks, encs):
            t0 = time.perf_counter()
            encode_rgb(e, imgs)
            per[t] = args.views / (time.perf_counter() - t0)
        zoo_vps = args.views / (time.perf_counter() - t_all)
        res["sizes"][size] = {"per_encoder_median": float(np.median(list(per.values()))),
                              "per_encoder_min": float(min(per.values())), "zoo": zoo_vps,
                              "per_encoder": per}
    if args.taskonomy:
        from navfusion.vision.taskonomy import TaskonomyEncoder

        tk = TaskonomyEncoder().eval()
        n = max(4, args.views // 32)
        x = torch.zeros(n, 3, 256, 256)
        with torch.no_grad():
            tk(x[:1])
            t0 = time.perf_counter()
            tk(x)
        res["taskonomy_256"] = n / (time.perf_counter() - t0)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"encoder throughput, zoo {zoo} ({len(tasks)} encoders), {res['threads']} torch threads, "
          f"{args.views} views per measurement")
    rows = [[f"{size}²", f"{r['per_encoder_median']:.0f}", f"{r['per_encoder_min']:.0f}", f"{r['zoo']:.1f}"]
            for size, r in res["sizes"].items()]
    if "taskonomy_256" in res:
        rows.append(["256² (Taskonomy ResNet-50 encoder, one)", f"{res['taskonomy_256']:.1f}", "",
                     f"{res['taskonomy_256'] / len(tasks):.2f} (x{len(tasks)} encoders)"])
    print(markdown_table(["view size", "views/s per encoder (median)", "slowest encoder",
                          "whole zoo (views/s, all encoders)"], rows))
    return 0
