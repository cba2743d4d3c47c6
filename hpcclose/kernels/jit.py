"""Compile options of the Numba kernels of the closures and of :mod:`hpcclose.kernels`.

``cache=True``: compiled code is kept in ``__pycache__`` (keyed on the source file), so a run compiles a
kernel once per machine. ``fastmath=False``: no reassociation and no contraction of a·b + c into an FMA
unless the code asks for one (``fastmath.fma``), so results do not depend on what LLVM decides to fuse.
``error_model="numpy"``: division by zero gives inf/NaN instead of raising (no checks in the loops).
"""

SERIAL = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")
PARALLEL = dict(parallel=True, **SERIAL)
