#!/usr/bin/env bash
# One-command set-up of hpcclose's environment in .venv (called by `make setup`, `make test`, `make demo`).
#
# Fresh Debian/Ubuntu machine, as root: installs MPICH + parallel HDF5 with apt, then builds mpi4py and
# h5py from source against them (PyPI's wheels are serial / look for another libmpi).
# Cluster: `module load` an MPI and a parallel HDF5 first and export MPICC (and HDF5_DIR); apt is skipped
# and the loaded MPI is used. Idempotent: a stamp records what was built; a re-run only checks it.
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL=2 PIP_NO_WARN_SCRIPT_LOCATION=1
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.hpcclose-setup"
H5PY_SPEC='h5py>=3.11,<3.15'          # tensorflow-cpu 2.21 pins h5py<3.15; keep inside it so pip never swaps in a serial wheel
TF_SPEC=${HPCCLOSE_TF_SPEC:-tensorflow-cpu==2.21.*}   # on a GPU cluster: HPCCLOSE_TF_SPEC='tensorflow[and-cuda]==2.21.*'
log() { printf '[setup] %s\n' "$*"; }

# --- 1. MPI compiler and parallel HDF5: user's (cluster) or Debian's MPICH ---------------------------
if [ -n "${MPICC:-}" ]; then
    log "using MPICC=$MPICC from the environment (no apt)"
    MPIEXEC_REAL=${MPIEXEC:-$(dirname "$(command -v "$MPICC")")/mpiexec}
    HDF5_DIR=${HDF5_DIR:-}
else
    MPICC=/usr/bin/mpicc.mpich
    MPIEXEC_REAL=/usr/bin/mpiexec.mpich
    HDF5_DIR=${HDF5_DIR:-/usr/lib/$(uname -m)-linux-gnu/hdf5/mpich}
    if [ ! -x "$MPICC" ] || [ ! -f "$HDF5_DIR/include/H5pubconf.h" ]; then
        command -v apt-get >/dev/null || { echo "setup: no MPICC given and no apt-get: load an MPI module and export MPICC (see README)" >&2; exit 2; }
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        log "installing MPICH and parallel HDF5 with apt"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mpich libmpich-dev libhdf5-mpich-dev pkg-config >/dev/null
    fi
fi
[ -n "$HDF5_DIR" ] || { echo "setup: HDF5_DIR is not set: point it at a parallel (MPI) HDF5 installation" >&2; exit 2; }

# The stamp captures everything that changes the build; a match plus a passing check means nothing to do.
want="$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16) $MPICC $HDF5_DIR $TF_SPEC"
check() {
    "$VENV/bin/python" - <<'PY'
import h5py, mpi4py, numba, numba_cuda, scipy, numpy, tensorflow, matplotlib, pytest, hpcclose  # noqa: F401
assert h5py.get_config().mpi, "h5py was built without MPI"
PY
}
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && check 2>/dev/null; then
    log "environment in $VENV is up to date"
    exit 0
fi

# --- 2. Virtual environment and build tools --------------------------------------------------------
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip -q --disable-pip-version-check"
$PIP install --upgrade pip "setuptools>=77" wheel "Cython>=3" pkgconfig numpy

# mpiexec inside the venv: a wrapper script, not a symlink (hydra looks for its proxy next to argv[0]).
printf '#!/bin/sh\nexec %s "$@"\n' "$MPIEXEC_REAL" > "$VENV/bin/mpiexec"
chmod +x "$VENV/bin/mpiexec"

# --- 3. TensorFlow first (it pins h5py), then the MPI-built packages ----------------------------------
$PIP install "$TF_SPEC"
if ! "$VENV/bin/python" -c "import mpi4py.MPI" 2>/dev/null || ! "$VENV/bin/python" -c "from mpi4py import MPI; assert 'MPICH' in MPI.Get_library_version() or '${MPICC}' != '/usr/bin/mpicc.mpich'" 2>/dev/null; then
    log "building mpi4py against $MPICC"
    # -O0: the halo exchange makes a handful of MPI calls a stage, ~2 us each extra is noise; saves ~4 min
    MPICC="$MPICC" CFLAGS="-O0 -g0" $PIP install --no-cache-dir --no-binary=mpi4py --force-reinstall --no-deps mpi4py
fi
if ! "$VENV/bin/python" -c "import h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)" 2>/dev/null; then
    log "building parallel h5py against $HDF5_DIR"
    cfg=$(mktemp); printf '[build_ext]\nparallel = %s\n' "$(nproc)" > "$cfg"
    # --no-cache-dir: pip's wheel cache ignores HDF5_MPI and could hand back a serial build
    CC="$MPICC" HDF5_MPI=ON HDF5_DIR="$HDF5_DIR" CFLAGS="-O1 -g0" DIST_EXTRA_CONFIG="$cfg" \
        $PIP install --no-cache-dir --no-binary=h5py --no-build-isolation --force-reinstall --no-deps "$H5PY_SPEC"
    rm -f "$cfg"
fi

# --- 4. The rest, and the package itself (editable; --no-deps so nothing above is swapped) -------------
# vtk: only the tests need it (its XDMF reader checks what ParaView will open); numba-cuda: the GPU step, whose
# tests run its simulator (no GPU or CUDA toolkit needed)
$PIP install numba "numba-cuda>=0.30" scipy matplotlib "pydantic>=2" tqdm pytest pytest-mpi pytest-timeout "vtk>=9.3" ruff
$PIP install --no-deps -e .

check
MPIEXEC="$VENV/bin/mpiexec" "$VENV/bin/mpiexec" -n 2 "$VENV/bin/python" -c \
    "from mpi4py import MPI; c = MPI.COMM_WORLD; assert c.allreduce(1) == 2 == c.size" \
    || { echo "setup: a 2-rank mpi4py check failed (is another MPI's mpiexec on PATH?)" >&2; exit 1; }
echo "$want" > "$STAMP"
log "done: $($VENV/bin/python -c 'import h5py, mpi4py, tensorflow as tf; print(f"h5py {h5py.__version__} (mpi), mpi4py {mpi4py.__version__}, tensorflow {tf.__version__}")' 2>/dev/null)"
