#!/usr/bin/env bash
# Download, HERE (a machine with PyPI and Debian's archive), what benchmarks/gpu_check.sh needs on a
# GPU machine that has its own Python 3.12 + torch but no package index:
#   .whl/  navfusion's dependencies missing from that image, as Python 3.12 manylinux x86-64 wheels
#   .gl/   the GL vendor-neutral dispatch libraries (libEGL/libGL via glvnd) as amd64 .deb files
# Both folders are git-ignored (.git/info/exclude) and carried along with the working tree.
# Usage: bash benchmarks/gpu_wheels.sh        (from the repository root; ~20 MB, re-runs are no-ops)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for d in /.whl/ /.gl/; do grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
mkdir -p .whl .gl

PY=${PYTHON:-python3}
# Pinned as in pyproject.toml. Everything else navfusion imports (numpy, scipy, networkx, opencv,
# safetensors, matplotlib, imageio, pillow, tqdm, tensorboard, pyyaml, cloudpickle, pandas) is
# already in the GPU image and is NOT carried: two versions of one package break the install.
WHEELS=(
  gymnasium==1.4.0 farama-notifications==0.0.6
  stable-baselines3==2.9.2
  trimesh==5.2.0
  moderngl==5.13.0 glcontext==3.1.0
  embreex==4.4.0.post1
  shapely==2.2.0
  mapbox-earcut==2.1.0
  platformdirs==4.14.8
)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64
           --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64)
for w in "${WHEELS[@]}"; do
  name=${w%%==*}; ver=${w##*==}
  if ls .whl/ 2>/dev/null | grep -qi "^${name//-/_}-${ver}-"; then continue; fi
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d .whl "$w"
done

# EGL/GL dispatch libraries (glvnd); the NVIDIA vendor library comes with the GPU machine's driver.
if ! ls .gl/libegl1_*.deb >/dev/null 2>&1; then
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
ls -la .whl .gl
du -sh .whl .gl
