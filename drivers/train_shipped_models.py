"""Regenerate the shipped network closures in hpcclose/models/ from inputs/train_*.toml.

    .venv/bin/python drivers/train_shipped_models.py [--only ICNN10x7_M1_1D,...] [--dest hpcclose/models]
        [--set training.epochs=10 ...]

Each model is trained by ``hpcclose train`` in its own process (TensorFlow state and memory do not carry
over from one model to the next), then its model file, loss curves and history are copied to ``--dest``
under the model's shipped name. A model given as several inputs is trained in stages, each continuing the
previous one's file (``training.initial_model``); the last stage's files are shipped. A failed training
stops the driver with that model's exit status. Training logs go to ``<dest>/logs/<name>.log``
as well as to the terminal.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

# model name → training input; the names are what input files give as closure.<kind>.model (the ones
# that reach their paper's accuracy are shipped in hpcclose/models, see docs/closures.md).
MODELS = {
    "symNN5x30_1": "inputs/train_mlp_m1_1d.toml",
    "symNN4x45_2": "inputs/train_mlp_m2_1d.toml",
    "ICNN10x7_M1_1D": ["inputs/train_icnn_m1_1d.toml", "inputs/train_icnn_m1_1d_stage2.toml"],
    "ICNN15x7_M2_1D": ["inputs/train_icnn_m2_1d.toml", "inputs/train_icnn_m2_1d_stage2.toml"],
    "MONO30x2_M1_1D": ["inputs/train_monotone_m1_1d.toml", "inputs/train_monotone_m1_1d_stage2.toml"],
    # [B]'s loss, then three L-BFGS continuations with the local monotonicity term (docs/closures.md)
    "MONO50x2_M2_1D": ["inputs/train_monotone_m2_1d.toml", "inputs/train_monotone_m2_1d_stage2.toml",
                       "inputs/train_monotone_m2_1d_stage3.toml", "inputs/train_monotone_m2_1d_stage4.toml"],
    "ICNN18x8_M1_2D": "inputs/train_icnn_m1_2d.toml",
    # the M2 1D layouts on [B]'s own data (uniform in u, 0.06 inside the realizable set)
    "ICNN15x7_M2_1D_usampled": ["inputs/train_icnn_m2_1d_usampled.toml",
                                "inputs/train_icnn_m2_1d_usampled_stage2.toml",
                                "inputs/train_icnn_m2_1d_usampled_stage3.toml"],
    "MONO50x2_M2_1D_usampled": "inputs/train_monotone_m2_1d_usampled.toml",
    # 2D M2, rotation-invariant (reduced inputs: the moments turned so that the first moment lies along Ωx)
    # (300 Adam epochs, then full-batch L-BFGS-B from that file)
    "ICNN20x7_M2_2D_rot": ["inputs/train_icnn_m2_2d_rot.toml", "inputs/train_icnn_m2_2d_rot_stage2.toml"],
    # (symmetrised over Ωy → −Ωy; 300 Adam epochs, then L-BFGS-B with the counterexample-guided local
    # monotonicity term)
    "MONO50x2_M2_2D_rot": ["inputs/train_monotone_m2_2d_rot.toml", "inputs/train_monotone_m2_2d_rot_stage2.toml"],
    "ICNN20x7_M3_2D_rot": "inputs/train_icnn_m3_2d_rot.toml",
}


def train_one(name: str, sources: str | list[str], dest: Path, overrides: list[str]) -> int:
    """Train one model (its stages in order), copy its files to ``dest``; returns the exit status of the
    first failing ``hpcclose train`` (0 if none failed)."""
    stages = [sources] if isinstance(sources, str) else list(sources)
    logs = dest / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Tee the training logs: visible progress, and a record next to the shipped model.
    with open(logs / f"{name}.log", "w") as log:
        for k, source in enumerate(stages, 1):
            # regenerating replaces the files of the previous training (and of the stage before)
            cmd = [sys.executable, "-m", "hpcclose", "train", str(ROOT / source), "--no-progress", "--overwrite"]
            for o in overrides:
                # later stages continue by L-BFGS only (epochs = 0): an epochs override is for the first
                if k == 1 or not o.replace(" ", "").startswith("training.epochs="):
                    cmd += ["--set", o]
            stage = f" (stage {k}/{len(stages)})" if len(stages) > 1 else ""
            print(f"== {name}{stage}: {' '.join(cmd[1:])}", file=log, flush=True)
            print(f"== {name}{stage}: {' '.join(cmd[1:])}", flush=True)
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
                log.flush()
            status = proc.wait()
            if status:
                return status
    out = ROOT / tomllib.loads((ROOT / stages[-1]).read_text())["output"]["model"]
    for suffix in (".h5", ".loss.png", ".history.json"):
        src = out.with_suffix(suffix)
        if src.exists():
            tmp = dest / f".{name}{suffix}.tmp"
            shutil.copyfile(src, tmp)
            tmp.replace(dest / f"{name}{suffix}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated shipped names (default: all)")
    ap.add_argument("--dest", default=str(ROOT / "hpcclose" / "models"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override passed to every hpcclose train (e.g. training.epochs=5 for a dry run; "
                         "training.epochs goes to the first stage only)")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"error: --only: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}",
              file=sys.stderr)
        return 2
    dest = Path(args.dest)
    for name in names:
        status = train_one(name, MODELS[name], dest, args.overrides)
        if status:
            print(f"error: training {name} failed (exit status {status})", file=sys.stderr)
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
