"""`hpcclose info`: what this installation and this launch provide (versions, MPI, HDF5, threads, GPUs:
those numba-cuda sees and whether MPI is CUDA-aware, for ``parallel.device = "gpu"``).

Quick and quiet by default: optional packages are looked up by their installed metadata, not imported;
TensorFlow (seconds to import, and it prints start-up lines of its own) only with ``--tensorflow``, which
adds its version as imported and the GPUs it sees.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import platform
import sys

from .. import __version__
from ..parallel import mpi

OPTIONAL_BACKENDS = {
    "numba (cpu closures, kernels)": "numba",
    "tensorflow (training, gpu closures)": "tensorflow",
    "h5py (output)": "h5py",
    "matplotlib (plots)": "matplotlib",
    "scipy": "scipy",
}


def installed_version(module: str) -> str | None:
    """The version of the distribution that provides ``module`` (e.g. tensorflow-cpu for tensorflow),
    read from its metadata without importing it; None if it is not installed."""
    if importlib.util.find_spec(module) is None:
        return None
    for dist in importlib.metadata.packages_distributions().get(module, [module]):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _tensorflow(info: dict) -> None:
    """TensorFlow's version as imported and the GPUs it sees (imports it: seconds)."""
    from .. import devices

    try:
        info["tensorflow"] = devices.tensorflow().__version__
        info["tensorflow_gpus"] = devices.gpus()
    except ImportError:
        info["tensorflow"], info["tensorflow_gpus"] = None, []


def _cuda(info: dict) -> None:
    """numba-cuda's version, the GPUs it sees (the simulator's, under NUMBA_ENABLE_CUDASIM=1) and whether MPI
    takes device buffers (``parallel.device = "gpu"``'s halo); imports numba.cuda only where it is installed."""
    from .. import devices

    info["numba_cuda"] = _dist_version("numba-cuda")
    if info["numba_cuda"] is None:
        info["cuda_gpus"], info["cuda_aware_mpi"] = [], "no (numba-cuda not installed)"
        return
    info["cuda_gpus"] = devices.cuda_gpus()
    aware, why = devices.cuda_aware_mpi()
    info["cuda_aware_mpi"] = f"{'yes' if aware else 'no'} ({why})"


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect(tensorflow: bool = False) -> dict:
    """Gather the facts; collective over COMM_WORLD (every rank must call it). ``tensorflow``: import
    TensorFlow to list its GPUs (otherwise only its installed version is given)."""
    comm = mpi.world()
    from mpi4py import MPI

    info: dict = {
        "hpcclose": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "mpi_library": MPI.Get_library_version().strip().splitlines()[0],
        "mpi_standard": "{}.{}".format(*MPI.Get_version()),
        "mpi4py": importlib.import_module("mpi4py").__version__,
        "ranks": comm.Get_size(),
        "ranks_per_node": mpi.node_rank().size,
    }
    try:
        import h5py

        info["h5py"] = h5py.__version__
        info["hdf5"] = h5py.version.hdf5_version
        info["h5py_mpio"] = bool(h5py.get_config().mpi)
    except ImportError:
        info["h5py"], info["h5py_mpio"] = None, False
    info["numba"] = installed_version("numba")
    if info["numba"] is not None:
        info["numba_threads_per_rank"] = mpi.threads_per_rank()
    if tensorflow:
        _tensorflow(info)
    else:
        info["tensorflow"] = installed_version("tensorflow")
    _cuda(info)
    info["backends"] = {label: installed_version(module) is not None for label, module in OPTIONAL_BACKENDS.items()}
    return info


def render(info: dict) -> str:
    """A two-column table for people."""
    rows = [(k, (", ".join(map(str, v)) or "none") if isinstance(v, list) else v) for k, v in info.items()
            if k != "backends"]
    rows += [(f"backend: {k}", "yes" if v else "no") for k, v in info["backends"].items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--tensorflow", action="store_true",
                        help="also import TensorFlow (a few seconds) and list the GPUs it sees")


def main(args) -> int:
    info = collect(tensorflow=args.tensorflow)
    if mpi.rank() == 0:
        print(json.dumps(info, indent=2) if args.json else render(info), flush=True)
    return 0
