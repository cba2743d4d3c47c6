"""Framework-neutral network closures on disk (HDF5, plain h5py) and in memory (:class:`Network`).

A simulation never needs TensorFlow: the file holds every weight as a float64 array, the pre- and
post-processing, and what the network was trained for. Training (:mod:`hpcclose.training`) writes it,
the closures (Numba or TensorFlow backend) read it.

Conventions (SCIENCE.md §3): the input is the normalised moment vector ω̃ = ũ/u0 (d = n − 1 numbers), the
preprocessing is x = P (F_s ω̃ − μ) with P = Λᵀ (eigenvectors of the training covariance, [B eq. 66–67];
identity for the [A] MLP) and F_s the sign flips of the symmetric form [A eq. 45] (only the identity when
the network is not symmetrised); the network N(x) is averaged over the flips. Output:

* ``mlp`` / ``icnn`` (entropy networks): h̃(ω̃) = out_shift + out_scale · mean_s N(x_s) (the [B eq. 69]
  scaling to [0, 1] undone), α̃ = ∇h̃ (exact gradient, by backpropagation);
* ``monotone``: α̃(ω̃) = out_shift + out_scale · mean_s F_s N(x_s) (out_shift a vector, out_scale > 0 a
  scalar, so the map stays monotone).

File layout (format ``hpcclose-network``, version 1)::

    root attrs   format, format_version, architecture ("mlp" | "icnn" | "monotone"), name, layout
                 ("W x D"), activation ("softplus"), basis_kind, basis_dim, basis_N, n, quadrature,
                 quadrature_size, alpha0 ("gradient" | "normalisation"), symmetric, hpcclose_version,
                 created, training (JSON: config text, data provenance, epochs, …), test_errors (JSON),
                 convexity (JSON)
    /input/shift (d,)  /input/matrix (d, d)  /input/signs (S, d)
    /output/shift (1,) or (d,)  /output/scale ()
    root attr rotation (optional, version 1 files without it: "")  "" or "first_moment": a rotation-invariant
                 2D network (:mod:`.rotation`) whose d = n − 2 inputs are the reduced coordinates (the
                 moments turned so that their first moment lies along Ωx, without the y component)
    /layers/NNN  (mlp, icnn)  datasets Wz (out, in) [absent for the first layer], Wx (out, d)
                 [absent where the layer does not see the input], b (out,); attrs activation
                 ("softplus" | "linear"), nonneg (true where Wz must be ≥ 0: ICNN)
    /monotone    (monotone)   head_W (W, d), head_b; per ResNet block k (stacked on axis 0):
                 bn1_scale, bn1_shift, W1, b1, bn2_scale, bn2_shift, W2, b2 (batch norms folded into
                 an affine map with their moving statistics); tail: bn1_scale, bn1_shift, W1 (W/2, W),
                 b1, bn2_scale, bn2_shift, W2 (d, W/2), b2

A dense layer computes z_k = σ(Wz z_{k−1} + Wx x + b) (σ = softplus, or the identity for the last,
scalar layer). An MLP has Wz only (Wx on the first layer); an ICNN has Wx everywhere and Wz ≥ 0 after the
first layer, which makes N convex in x ([B eq. 63–64]).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ... import __version__
from ...errors import InputError
from ...velocity import Basis, Quadrature, gauss_legendre, make_basis, rules

log = logging.getLogger(__name__)

FORMAT = "hpcclose-network"
FORMAT_VERSION = 1
ARCHITECTURES = ("mlp", "icnn", "monotone")
ALPHA0_CONVENTIONS = ("gradient", "normalisation")
ACTIVATIONS = ("softplus", "linear")
ROTATIONS = ("", "first_moment")
# The weights of a monotone ResNet: per block (and for the tail) two folded batch norms and two dense
# layers; MONOTONE_KEYS is every array of the file, in the order the cpu kernel takes them.
MONOTONE_BLOCK = ("bn1_scale", "bn1_shift", "W1", "b1", "bn2_scale", "bn2_shift", "W2", "b2")
MONOTONE_KEYS = ("head_W", "head_b", *(f"block_{k}" for k in MONOTONE_BLOCK),
                 *(f"tail_{k}" for k in MONOTONE_BLOCK))
# Shipped models are package data, hpcclose/models/<name>.h5, found through importlib.resources (so an
# installed wheel finds them too); a file there is handed out as a real path for h5py, kept until exit.
MODELS_DIR = resources.files("hpcclose") / "models"
_AS_FILES = contextlib.ExitStack()
atexit.register(_AS_FILES.close)


def shipped_models() -> list[str]:
    """The names of the shipped models (hpcclose/models/<name>.h5), sorted."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(f.name[:-3] for f in MODELS_DIR.iterdir() if f.name.endswith(".h5") and f.is_file())


@dataclass
class DenseLayer:
    """z = act(Wz z_prev + Wx x + b); Wz or Wx may be None."""

    Wz: np.ndarray | None
    Wx: np.ndarray | None
    b: np.ndarray
    activation: str = "softplus"
    nonneg: bool = False

    @property
    def units(self) -> int:
        return self.b.size


@dataclass
class Network:
    """A trained (or random) network closure, independent of any framework.

    ``layers`` (mlp, icnn) or ``monotone`` (dict of arrays, see the module docstring) hold the weights;
    ``meta`` holds everything else written to the file (training provenance, test errors, …).
    """

    architecture: str
    basis_kind: str
    basis_dim: int
    basis_N: int
    input_shift: np.ndarray
    input_matrix: np.ndarray
    signs: np.ndarray
    output_shift: np.ndarray
    output_scale: float
    alpha0: str = "normalisation"
    layers: list[DenseLayer] = field(default_factory=list)
    monotone: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "network"
    layout: str = ""
    quadrature: str = ""
    quadrature_size: int = 0
    meta: dict = field(default_factory=dict)
    rotation: str = ""  # "first_moment": inputs are the reduced coordinates of :mod:`.rotation`

    # --- shape -------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.input_shift.size + (2 if self.rotation else 1)

    @property
    def d(self) -> int:
        return self.input_shift.size

    @property
    def has_entropy(self) -> bool:
        """True for networks of h̃ (α̃ is their gradient); False for the monotone α̃ network."""
        return self.architecture != "monotone"

    @property
    def symmetric(self) -> bool:
        return self.signs.shape[0] > 1

    def describe(self) -> str:
        return (f"{self.architecture} network {self.name!r} ({self.layout}), {self.basis_kind} basis "
                f"{self.basis_dim}D N={self.basis_N}, α0 by {self.alpha0}"
                + (f", symmetrised over {self.signs.shape[0]} flips" if self.symmetric else "")
                + (", rotation-invariant (reduced inputs)" if self.rotation else ""))

    def velocity(self) -> tuple[Basis, Quadrature]:
        """The basis and quadrature the network was trained under, rebuilt from the file's attributes."""
        basis = make_basis(self.basis_kind, self.basis_dim, self.basis_N)
        if self.basis_dim == 1 and not self.quadrature:
            return basis, gauss_legendre(self.quadrature_size)
        try:
            quad = rules.from_name(self.quadrature)
        except ValueError:
            raise InputError(f"network {self.name!r}: unknown training quadrature {self.quadrature!r}") from None
        if quad.dim != self.basis_dim:
            raise InputError(f"network {self.name!r}: training quadrature {self.quadrature!r} is not "
                             f"{self.basis_dim}D")
        return basis, quad

    def parameter_count(self) -> int:
        arrays = ([a for L in self.layers for a in (L.Wz, L.Wx, L.b) if a is not None]
                  + list(self.monotone.values()))
        return int(sum(a.size for a in arrays))

    def validate(self, where: str = "network") -> None:
        """Check that every array has the shape its neighbours imply and finite values (raises InputError)."""
        d = self.d

        def bad(msg):
            raise InputError(f"{where}: {msg}")

        if self.architecture not in ARCHITECTURES:
            bad(f"unknown architecture {self.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        if self.alpha0 not in ALPHA0_CONVENTIONS:
            bad(f"unknown alpha0 convention {self.alpha0!r}")
        if self.rotation not in ROTATIONS or (self.rotation and self.basis_dim != 2):
            bad(f"rotation {self.rotation!r}: known {ROTATIONS[1:]}, for 2D networks only")
        if self.input_matrix.shape != (d, d) or self.signs.ndim != 2 or self.signs.shape[1] != d:
            bad(f"input matrix {self.input_matrix.shape} / signs {self.signs.shape} do not fit {d} inputs")
        if not (np.isfinite(self.output_scale) and self.output_scale > 0):
            bad(f"output scale must be positive, got {self.output_scale}")
        if self.has_entropy:
            if self.output_shift.size != 1:
                bad("an entropy network has a scalar output shift")
            if not self.layers:
                bad("no layers")
            prev = None
            for k, L in enumerate(self.layers):
                if L.activation not in ACTIVATIONS:
                    bad(f"layer {k}: unknown activation {L.activation!r}")
                if L.Wz is None and L.Wx is None:
                    bad(f"layer {k}: neither Wz nor Wx")
                if (L.Wz is None) != (prev is None):
                    bad(f"layer {k}: Wz must be present exactly on layers after the first")
                if L.Wz is not None and L.Wz.shape != (L.units, prev):
                    bad(f"layer {k}: Wz has shape {L.Wz.shape}, expected {(L.units, prev)}")
                if L.Wx is not None and L.Wx.shape != (L.units, d):
                    bad(f"layer {k}: Wx has shape {L.Wx.shape}, expected {(L.units, d)}")
                prev = L.units
            last = self.layers[-1]
            if last.units != 1 or last.activation != "linear":
                bad("the last layer must be a single linear unit (the entropy)")
        else:
            if self.output_shift.size != d:
                bad(f"a monotone network has an output shift of size {d}")
            m = self.monotone
            missing = [k for k in MONOTONE_KEYS if k not in m]
            if missing:
                bad(f"monotone weights lack {', '.join(missing)}")
            W = m["head_W"].shape[0]
            nb = m["block_W1"].shape[0]
            half = m["tail_W1"].shape[0]
            shapes = {"head_W": (W, d), "head_b": (W,), "block_bn1_scale": (nb, W),
                      "block_bn1_shift": (nb, W),
                      "block_W1": (nb, W, W), "block_b1": (nb, W), "block_bn2_scale": (nb, W),
                      "block_bn2_shift": (nb, W), "block_W2": (nb, W, W), "block_b2": (nb, W),
                      "tail_bn1_scale": (W,), "tail_bn1_shift": (W,), "tail_W1": (half, W),
                      "tail_b1": (half,),
                      "tail_bn2_scale": (half,), "tail_bn2_shift": (half,), "tail_W2": (d, half),
                      "tail_b2": (d,)}
            for k, s in shapes.items():
                if m[k].shape != s:
                    bad(f"monotone {k} has shape {m[k].shape}, expected {s}")
        # every weight finite (a diverged training writes NaN), named as the dataset in the file
        arrays = {"input/shift": self.input_shift, "input/matrix": self.input_matrix, "input/signs": self.signs,
                  "output/shift": self.output_shift,
                  **{f"layers/{k:03d}/{name}": a for k, L in enumerate(self.layers)
                     for name, a in (("Wz", L.Wz), ("Wx", L.Wx), ("b", L.b)) if a is not None},
                  **{f"monotone/{k}": a for k, a in self.monotone.items()}}
        nonfinite = [name for name, a in arrays.items() if not np.all(np.isfinite(a))]
        if nonfinite:
            bad(f"{', '.join(nonfinite)} hold NaN or inf weights (a diverged training?): train the network again "
                "or use another model file")

    # --- compatibility with a run -------------------------------------------------------------------
    def check_fits(self, basis: Basis, quad: Quadrature | None = None, where: str = "model") -> None:
        """Refuse (InputError, naming every mismatch) a network trained for another basis, N or dimension;
        warn if it was trained under another quadrature."""
        want = (("basis", basis.kind, self.basis_kind), ("dimension", basis.dim, self.basis_dim),
                ("moment order N", basis.N, self.basis_N))
        bad = [f"{what} {have!r} (this run uses {run!r})" for what, run, have in want if run != have]
        if bad:
            raise InputError(
                f"{where}: the network was trained for " + ", ".join(bad)
                + f"; it approximates the {self.basis_kind} basis {self.basis_dim}D N={self.basis_N} closure "
                f"(n={self.n}) and cannot close the {basis.describe()}: train one for this basis "
                "(hpcclose train) or change velocity.basis / velocity.order")
        if quad is not None and self.quadrature and not rules.same_measure(self.quadrature, quad.name):
            log.warning("%s: trained with the %s quadrature, this run uses %s (the data differ by that "
                        "rule's quadrature error)", where, self.quadrature, quad.name)


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------
def resolve(model: str | os.PathLike) -> Path:
    """A model given as a path, or as the name of a shipped model (hpcclose/models/<name>.h5)."""
    p = Path(model)
    if p.is_file():
        return p
    for cand in (MODELS_DIR / f"{model}", MODELS_DIR / f"{model}.h5"):
        if cand.is_file():
            return Path(_AS_FILES.enter_context(resources.as_file(cand)))
    shipped = shipped_models()
    raise InputError(f"model {str(model)!r}: no such file and no shipped model of that name "
                     f"(shipped: {', '.join(shipped) or 'none'}; a path is also accepted)")


def _json(value) -> str:
    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        return str(o)

    return json.dumps(value, default=default)


def save(path: str | os.PathLike, net: Network) -> Path:
    """Write ``net`` to ``path`` (HDF5; written under a temporary name, then renamed)."""
    import h5py

    net.validate(where=str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = FORMAT_VERSION
            a["architecture"] = net.architecture
            a["name"] = net.name
            a["layout"] = net.layout
            a["activation"] = "softplus"
            a["basis_kind"] = net.basis_kind
            a["basis_dim"] = net.basis_dim
            a["basis_N"] = net.basis_N
            a["n"] = net.n
            a["quadrature"] = net.quadrature
            a["quadrature_size"] = net.quadrature_size
            a["alpha0"] = net.alpha0
            a["symmetric"] = net.symmetric
            if net.rotation:
                a["rotation"] = net.rotation
            a["hpcclose_version"] = __version__
            a["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            for key in ("training", "test_errors", "convexity"):
                a[key] = _json(net.meta.get(key, {}))
            g = f.create_group("input")
            g["shift"], g["matrix"], g["signs"] = net.input_shift, net.input_matrix, net.signs
            g = f.create_group("output")
            g["shift"] = np.atleast_1d(net.output_shift)
            g["scale"] = float(net.output_scale)
            if net.has_entropy:
                lg = f.create_group("layers")
                for k, L in enumerate(net.layers):
                    g = lg.create_group(f"{k:03d}")
                    if L.Wz is not None:
                        g["Wz"] = L.Wz
                    if L.Wx is not None:
                        g["Wx"] = L.Wx
                    g["b"] = L.b
                    g.attrs["activation"] = L.activation
                    g.attrs["nonneg"] = bool(L.nonneg)
            else:
                g = f.create_group("monotone")
                for k, v in net.monotone.items():
                    g[k] = v
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def load(model: str | os.PathLike, basis: Basis | None = None, quad: Quadrature | None = None) -> Network:
    """Read a network file (a path or a shipped model name).

    With ``basis`` the file must be for that basis kind, dimension and N (InputError naming what does not
    match); with ``quad`` a different training quadrature is logged as a warning.
    """
    import h5py

    path = resolve(model)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: cannot open network file ({exc})") from None
    with f:
        a = dict(f.attrs)
        if _str(a.get("format", "")) != FORMAT:
            raise InputError(f"{path}: not an hpcclose network file (format {_str(a.get('format', '?'))!r}, "
                             f"expected {FORMAT!r})")
        if int(a.get("format_version", -1)) > FORMAT_VERSION:
            raise InputError(f"{path}: network file format version {a['format_version']} is newer than this "
                             f"hpcclose ({__version__}) reads ({FORMAT_VERSION}): upgrade hpcclose")
        try:
            arch = _str(a["architecture"])
            layers, mono = [], {}
            if arch != "monotone":
                for key in sorted(f["layers"]):
                    g = f["layers"][key]
                    layers.append(DenseLayer(
                        Wz=g["Wz"][...] if "Wz" in g else None, Wx=g["Wx"][...] if "Wx" in g else None,
                        b=g["b"][...], activation=_str(g.attrs["activation"]),
                        nonneg=bool(g.attrs["nonneg"])))
            else:
                mono = {k: v[...] for k, v in f["monotone"].items()}
            meta = {}
            for key in ("training", "test_errors", "convexity"):
                try:
                    meta[key] = json.loads(_str(a.get(key, "{}")))
                except json.JSONDecodeError:
                    meta[key] = {}
            meta["hpcclose_version"] = _str(a.get("hpcclose_version", "?"))
            meta["created"] = _str(a.get("created", "?"))
            net = Network(
                architecture=arch, basis_kind=_str(a["basis_kind"]), basis_dim=int(a["basis_dim"]),
                basis_N=int(a["basis_N"]), input_shift=f["input/shift"][...],
                input_matrix=f["input/matrix"][...],
                signs=f["input/signs"][...], output_shift=f["output/shift"][...],
                output_scale=float(f["output/scale"][()]), alpha0=_str(a["alpha0"]), layers=layers,
                monotone=mono, name=_str(a.get("name", path.stem)), layout=_str(a.get("layout", "")),
                quadrature=_str(a.get("quadrature", "")), quadrature_size=int(a.get("quadrature_size", 0)),
                meta=meta, rotation=_str(a.get("rotation", "")))
        except KeyError as exc:
            raise InputError(f"{path}: network file lacks {exc.args[0]!r} (damaged or not written by "
                             "hpcclose train)") from None
    net.validate(where=str(path))
    if basis is not None:
        net.check_fits(basis, quad, where=f"model file {path}")
    return net
