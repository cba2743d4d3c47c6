#!/usr/bin/env bash
# Check and measure the GPU path (parallel.device = "gpu") on one GPU node, against the same node's CPU cores,
# in a few minutes, with no network: it installs nothing from one.
#
#   scripts/gpu_bench.sh [--out DIR] [--simulator --tiny]
#
# 1. Python packages the node lacks travel as wheels in .whl/ (ignored by git), installed into /tmp/hpcclose-site.
#    A node with numba-cuda, mpi4py (and an MPI library), numpy, scipy, h5py, matplotlib and tqdm needs only
#    pydantic; prepare its wheels where pip works, in the repository's root:
#      python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#        pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
#    (and `mpich` if mpi4py finds no MPI library there). The script names what is still missing and stops.
# 2. `hpcclose info`: the GPUs numba-cuda sees, whether MPI is CUDA-aware.
# 3. python -m hpcclose.gpu.bench: the GPU path against the CPU path on small inputs (stops if they differ by
#    more than 1e-12), then Newton 1D M2 on 1e7 moments (cold and warm), the ICNN 15x7 on 1e7 moments and the
#    2D line source M2 at 1024² per cell-step, each also on the node's CPU cores (NUMBA_NUM_THREADS, default
#    all). Figures: DIR/gpu_bench.json and DIR/gpu_bench.md (default DIR: gpu-bench).
# --simulator --tiny: the same on sizes numba-cuda's simulator runs, without a GPU (tests this script).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: $0 [--out DIR] [--simulator --tiny]" >&2; exit 2; }
out=gpu-bench
size=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        --simulator) export NUMBA_ENABLE_CUDASIM=1; shift ;;
        --tiny) size=(--tiny); shift ;;
        *) usage ;;
    esac
done
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/hpcclose-site \
        .whl/*.whl
    export PYTHONPATH=/tmp/hpcclose-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-$(nproc)}
# the device machines run commands as root, which Open MPI refuses unless told (MPICH ignores these)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$PY" - <<'PY' || exit 2
import importlib.util, sys
wanted = ("numpy", "scipy", "numba", "numba_cuda", "mpi4py", "h5py", "matplotlib", "pydantic", "tqdm")
missing = [m for m in wanted if importlib.util.find_spec(m) is None]
if not missing:
    try:
        from mpi4py import MPI  # noqa: F401  (needs an MPI library)
    except Exception as exc:  # an ImportError or RuntimeError naming the library
        missing = [f"an MPI library for mpi4py ({exc})"]
if missing:
    sys.exit(f"gpu_bench: missing: {', '.join(missing)}: carry them as wheels in .whl/ (see the script's header)")
PY
"$PY" -m hpcclose info
"$PY" -m hpcclose.gpu.bench --out "$out" "${size[@]}"
