"""`hpcclose info`: what this installation and this launch provide (versions, MPI, HDF5, threads, GPUs)."""

from __future__ import annotations

import importlib
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


def collect() -> dict:
    """Gather the facts; collective over COMM_WORLD (every rank must call it)."""
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
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads_per_rank"] = mpi.threads_per_rank()
    except ImportError:
        info["numba"] = None
    from .. import devices

    try:
        tf = devices.tensorflow()
        info["tensorflow"] = tf.__version__
        info["tensorflow_gpus"] = devices.gpus()
    except ImportError:
        info["tensorflow"], info["tensorflow_gpus"] = None, []
    backends = {}
    for label, module in OPTIONAL_BACKENDS.items():
        try:
            importlib.import_module(module)
            backends[label] = True
        except ImportError:
            backends[label] = False
    info["backends"] = backends
    return info


def render(info: dict) -> str:
    """A two-column table for people."""
    rows = [(k, v) for k, v in info.items() if k != "backends"]
    rows += [(f"backend: {k}", "yes" if v else "no") for k, v in info["backends"].items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def main(args) -> int:
    info = collect()
    if mpi.rank() == 0:
        print(json.dumps(info, indent=2) if args.json else render(info), flush=True)
    return 0
