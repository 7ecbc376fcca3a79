"""Reading a results store for reporting: newest method versions, selections, and the cells' artifacts.

The report never reruns a method. Everything it shows comes from the ``results`` and ``runs`` tables of
`bench.store` and from the ``.npz`` artifacts the runner wrote beside them, so a report can be rebuilt
anywhere the store folder is copied to.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import store as _store
from bench.metrics.noref import NO_REFERENCE
from bench.errors import DataError, UsageError

FAMILY_ORDER = ("reference", "model-driven", "data-driven", "hybrid")
ABLATIONS = {"decsc.noswin": "swin", "decsc.nodconv": "dconv", "decsc.noatt": "attention"}


@dataclass
class Results:
    """The rows a report is built from, already reduced to each method's newest version."""

    root: Path
    rows: pd.DataFrame
    runs: pd.DataFrame
    hidden_versions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == "ok"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] != "ok"]

    def datasets(self) -> list[str]:
        return _unique(self.rows["dataset"])

    def columns(self, frame: pd.DataFrame | None = None) -> list[str]:
        """Method columns in paper order: reference first, then model-driven, data-driven, hybrid; within a
        family alphabetical, with DECSC ("ours" in the paper) and then its ablations last."""
        frame = self.rows if frame is None else frame
        fam = dict(zip(self.rows["column"], self.rows["family"]))
        cols = _unique(frame["column"])
        return sorted(cols, key=lambda c: (_family_rank(fam.get(c)), c != "noisy", c.startswith("decsc"),
                                           _ablation_last(c), c))

    def family_of(self, column: str) -> str:
        match = self.rows.loc[self.rows["column"] == column, "family"]
        return str(match.iloc[0]) if len(match) and isinstance(match.iloc[0], str) else "reference"

    def has_ground_truth(self, dataset: str) -> bool:
        sub = self.ok[self.ok["dataset"] == dataset]
        return bool(sub["psnr"].notna().any())


def load_results(store_dir: str | Path, *, dataset: str | None = None, all_versions: bool = False) -> Results:
    """Read the store at ``store_dir``; unless ``all_versions``, keep only each method's newest version."""
    root = Path(store_dir)
    if not (root / _store.DB_NAME).is_file():
        raise UsageError(f"no results store at {root} (run `bench run --out {root}` first)")
    df = _store.load(root)
    if df.empty:
        raise UsageError(f"results store {root} holds no results yet (run `bench run --out {root}` to fill it)")
    return from_frame(df, root=root, runs=_store.load(root, table="runs"), dataset=dataset,
                      all_versions=all_versions)


def from_frame(df: pd.DataFrame, *, root: str | Path = ".", runs: pd.DataFrame | None = None,
               dataset: str | None = None, all_versions: bool = False) -> Results:
    """Wrap a ``bench.store.load`` frame; unless ``all_versions``, keep each method's newest version."""
    if df.empty:
        raise UsageError("the results table is empty: nothing to report")
    if dataset is not None:
        pick(dataset, _unique(df["dataset"]), "dataset")
        df = df[df["dataset"] == dataset]
    hidden: dict[str, list[str]] = {}
    if not all_versions:
        df, hidden = _newest_versions(df)
    df = df.copy()
    df["dataset"] = _split_by_identity(df)
    df["family"] = df["family"].where(df["family"].notna(), "reference")
    df["column"] = _column_labels(df)
    for col in ("psnr", "ssim", "sam", "ergas", "time_s", "peak_mem_bytes"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    scores = df["metrics"] if "metrics" in df else pd.Series([None] * len(df), index=df.index)
    for col in NO_REFERENCE:
        df[col] = pd.to_numeric(scores.map(lambda m, k=col: m.get(k) if isinstance(m, dict) else None),
                                errors="coerce")
    return Results(root=Path(root), rows=df.reset_index(drop=True),
                   runs=runs if runs is not None else pd.DataFrame(), hidden_versions=hidden)


def _split_by_identity(df: pd.DataFrame) -> pd.Series:
    """Dataset labels that keep apart rows whose numbers are not comparable.

    Profile, image size (crop), clipping, sigma mode and the set of seeds a cell ran with are all part of
    a cell's identity and change its scores; where rows of one dataset differ in any of them, the fields
    that differ join the label (``scenes31@64×64×31, clipped``), so those rows get tables of their own
    and are never averaged into one mean.
    """
    fields = _identity_fields(df)
    labels = df["dataset"].astype(str).copy()
    scored = df["status"] == "ok"
    for ds, idx in df.groupby("dataset", sort=False).groups.items():
        sub = fields.loc[idx]
        judged = sub[scored.loc[idx]] if scored.loc[idx].any() else sub  # failed cells add no number
        varying = [f for f in sub.columns if judged[f].nunique() > 1]
        if varying:
            labels.loc[idx] = str(ds) + "@" + sub[varying].astype(str).agg(", ".join, axis=1)
    return labels


def _identity_fields(df: pd.DataFrame) -> pd.DataFrame:
    """Per row the identity fields that change numbers, as readable labels."""
    size = [f"{int(h)}×{int(w)}×{int(b)}" if not any(pd.isna(x) for x in (h, w, b)) else "size ?"
            for h, w, b in zip(df["height"], df["width"], df["bands"])]
    clip = ["clipped" if not pd.isna(c) and int(c) else "not clipped" for c in df["clip"]]
    mode = pd.Series([i.get("sigma_mode") if isinstance(i, dict) else None for i in df["info"]], index=df.index)
    for _, idx in df.groupby("dataset", sort=False).groups.items():
        # a failed cell records no sigma mode: it belongs with its dataset's runs
        known = mode.loc[idx].dropna()
        mode.loc[idx] = mode.loc[idx].fillna(known.mode().iloc[0] if len(known) else "")
    cell = [df["dataset"], df["method"], df["params_hash"], df["noise"], df["image"], df["status"] == "ok"]
    seeds = df.groupby(cell, sort=False, dropna=False)["seed"].transform(
        lambda s: ",".join(str(int(v)) for v in sorted(set(s.dropna()))))
    return pd.DataFrame({
        "profile": df["profile"].astype(str), "size": size, "clip": clip,
        "sigma": ["sigma " + str(m) if m else "" for m in mode],
        "seeds": [("seeds " if "," in v else "seed ") + v for v in seeds],
    }, index=df.index)


def pick(value: str, choices: list[str], what: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a `UsageError` with a "did you mean" hint."""
    if value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(choices[:12]) + (" ..." if len(choices) > 12 else "")
    raise UsageError(f"unknown {what} {value!r} in the results store{hint} (available: {shown})")


def version_key(version: Any) -> tuple:
    """Natural sort key for method versions: "10" after "9", "1.10" after "1.9"."""
    parts = re.split(r"(\d+)", str(version))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _newest_versions(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    keep = []
    hidden: dict[str, list[str]] = {}
    for method, sub in df.groupby("method", sort=False):
        versions = sorted(set(sub["method_version"].astype(str)), key=version_key)
        keep.append(sub[sub["method_version"].astype(str) == versions[-1]])
        if len(versions) > 1:
            hidden[str(method)] = versions[:-1]
    return pd.concat(keep).sort_index(), hidden


def _column_labels(df: pd.DataFrame) -> pd.Series:
    """A method's table column: its name, or ``name#hash`` when one version ran with several settings."""
    counts = df.groupby("method")["params_hash"].nunique()
    multi = set(counts[counts > 1].index)
    return pd.Series([f"{m}#{str(h)[:6]}" if m in multi else m for m, h in zip(df["method"], df["params_hash"])],
                     index=df.index)


def _family_rank(family: Any) -> int:
    return FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)


def _ablation_last(column: str) -> int:
    return int(column.split("#")[0] in ABLATIONS)


def _unique(series: pd.Series) -> list[str]:
    return [str(v) for v in dict.fromkeys(series.tolist()) if isinstance(v, str)]


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# -- artifacts -------------------------------------------------------------------------------------------

@dataclass
class CellArtifacts:
    """The arrays behind one cell: its estimate plus the clean and noisy cubes found next to it."""

    estimate: dict[str, np.ndarray] | None
    noisy: dict[str, np.ndarray] | None
    clean: dict[str, np.ndarray] | None


def cell_artifacts(root: Path, artifact: Any) -> CellArtifacts:
    """Load ``<artifact>``, ``<dir>/noisy.npz`` and ``<dir>/../clean.npz`` (each None when absent)."""
    if is_missing(artifact) or not str(artifact):
        return CellArtifacts(None, None, None)
    est = root / str(artifact)
    return CellArtifacts(_npz(est), _npz(est.parent / "noisy.npz"), _npz(est.parent.parent / "clean.npz"))


def npz_cube(arrays: dict[str, np.ndarray] | None) -> np.ndarray | None:
    """The stored cube as float32, or None when the artifact omitted it (large images)."""
    if arrays is None or "cube" not in arrays:
        return None
    return np.asarray(arrays["cube"], dtype=np.float32)


def _npz(path: Path) -> dict[str, np.ndarray] | None:
    return _npz_cached(str(path)) if path.is_file() else None


@lru_cache(maxsize=256)
def _npz_cached(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"artifact {path} cannot be read: {exc}") from None
