"""Bench results on disk: JSON and PNG files that appear complete or not at all."""

from __future__ import annotations

import json
from pathlib import Path

from ..io.files import commit, remove_quietly, temp_name


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON under a temporary name, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        commit(tmp, path, fsync=False)
    finally:
        remove_quietly(tmp)
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG (temporary name, then rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        fig.savefig(tmp, dpi=120, format="png")
        commit(tmp, path, fsync=False)
    finally:
        plt.close(fig)
        remove_quietly(tmp)
    return path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on compute nodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
