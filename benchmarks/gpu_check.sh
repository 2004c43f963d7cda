#!/usr/bin/env bash
# GPU check: render (EGL on the GPU), nn and training benchmarks on a GPU machine, in < 5 minutes,
# each writing its JSON -- so whoever is lent a GPU can record the numbers in BENCHMARKS.md.
#
# The GPU machine has its own Python 3.12 + torch (>= 2.4) and no package index. First, HERE, run
#     bash benchmarks/gpu_wheels.sh          # -> .whl/ (wheels) and .gl/ (EGL dispatch libraries)
# then on the GPU machine, from the repository root (with .whl and .gl carried along):
#     bash benchmarks/gpu_check.sh           # results in $OUT, else benchmarks/out/gpu/
# (With this workplace's device tool: carry [".whl", ".gl"], command "bash benchmarks/gpu_check.sh",
# timeout_s 420; the files come back from $OUT.)
# Files written: env.json, render.json, nn.json, train_device.json, summary.md, log.txt.
# GPU_CHECK_TESTS=1 also runs the scaling tests (DDP, vector envs) there (~1 min more).
# GPU_CHECK_DEVICE=cpu GPU_CHECK_NO_WHEELS=1 rehearses the script on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEST=${OUT:-$REPO/benchmarks/out/gpu}
mkdir -p "$DEST"
LOG=$DEST/log.txt
: > "$LOG"
say() { echo "[gpu_check $(date +%T)] $*" | tee -a "$LOG"; }
T0=$(date +%s)

# ---- 1. dependencies: EGL dispatch libraries and the wheels the image lacks (never from a network)
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" / 2>>"$LOG"; done
  ldconfig 2>>"$LOG"
fi
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
NV_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$NV_EGL" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$NV_EGL
DEV=${GPU_CHECK_DEVICE:-cuda}
if [ "${GPU_CHECK_NO_WHEELS:-0}" != 1 ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl >>"$LOG" 2>&1 || { say "wheel install failed (see log)"; exit 1; }
  export PYTHONPATH=/tmp/site:$REPO
else
  say "no wheels installed (GPU_CHECK_NO_WHEELS=1 or no .whl/): using the packages already there"
  export PYTHONPATH=$REPO
fi
export NAVFUSION_CACHE=${NAVFUSION_CACHE:-/tmp/nfcache} PYTHONUNBUFFERED=1
NF="python3 -m navfusion"
say "deps ready in $(( $(date +%s) - T0 )) s"

# ---- 2. what machine this is (GPU, torch, the GL renderer EGL gives)
python3 - >"$DEST/env.json" 2>>"$LOG" <<'PY'
import json, platform, subprocess
import torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
try:
    info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                         "--format=csv,noheader"], capture_output=True, text=True,
                                        timeout=20).stdout.strip()
except Exception as e:
    info["nvidia_smi"] = f"unavailable: {e}"
try:
    import moderngl
    ctx = moderngl.create_standalone_context(backend="egl")
    info["gl_renderer"], info["gl_version"] = ctx.info["GL_RENDERER"], ctx.info["GL_VERSION"]
    ctx.release()
except Exception as e:
    info["gl_renderer"] = f"EGL context failed: {e}"
print(json.dumps(info, indent=2))
PY
say "env: $(python3 -c "import json;d=json.load(open('$DEST/env.json'));print(d.get('gpu'),'|',d.get('gl_renderer'))" 2>>"$LOG")"

run() {  # run NAME SECONDS CMD...: JSON on stdout -> $DEST/NAME.json, the rest -> log
  local name=$1 secs=$2; shift 2
  local t=$(date +%s)
  say "$name: $*"
  timeout "$secs" "$@" >"$DEST/$name.json.tmp" 2>>"$LOG"
  local rc=$?
  if [ $rc -eq 0 ]; then mv "$DEST/$name.json.tmp" "$DEST/$name.json"; else
    mv "$DEST/$name.json.tmp" "$DEST/$name.failed.txt"; fi
  say "$name: rc=$rc in $(( $(date +%s) - t )) s"
  return $rc
}

# ---- 3. the benchmarks (each bounded; the whole script stays under 5 minutes)
run render 100 $NF bench render --backend all --scenes 1 --seconds 3 --processes "$(nproc)" --json
run nn 75 $NF bench nn --device "$DEV" --json || run nn 40 $NF bench nn --device "$DEV" --quick --json
run train_device 70 $NF bench train-device --device "$DEV" --iterations 30 --json

if [ "${GPU_CHECK_TESTS:-0}" = 1 ]; then
  say "tests"
  timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_scale_ddp.py tests/test_scale_vecenv.py \
    >>"$LOG" 2>&1; say "tests rc=$?"
fi

# ---- 4. a summary to paste into BENCHMARKS.md
python3 - "$DEST" >"$DEST/summary.md" 2>>"$LOG" <<'PY'
import json, os, sys
d = sys.argv[1]
def load(n):
    p = os.path.join(d, n + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
env = load("env") or {}
print(f"GPU check: {env.get('gpu')} (torch {env.get('torch')}, CUDA {env.get('cuda')}); GL: {env.get('gl_renderer')}\n")
tr = load("train_device")
if tr:
    print(f"training ({tr['agent']}, K={tr['experts']}, batch {tr['batch_size']}):\n")
    print("| autocast | lookup tables | it/s | ms/it |\n|---|---|---|---|")
    for r in tr["rows"]:
        print(f"| {r['amp']} | {r['tables']} | {r['iterations_per_s']:.1f} | {r['ms_per_iteration']:.2f} |")
for name in ("render", "nn"):
    r = load(name)
    print(f"\n{name}: " + ("see " + name + ".json" if r else "FAILED (see log.txt)"))
    if r:
        print("```\n" + json.dumps(r, indent=1)[:3000] + "\n```")
PY
say "done in $(( $(date +%s) - T0 )) s; results in $DEST"
