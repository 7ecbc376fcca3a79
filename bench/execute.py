"""Execute: a pure function ``cell -> result`` that runs in any process on any host.

`execute` loads the image, draws the noisy input from the cell key (`bench.cells`), runs the method and
scores it. It neither touches the store nor shares state: the returned `CellResult` carries the row fields
and the arrays of the cell's artifacts, and the driver records them. A `WorkerCache` keeps the last loaded
method, dataset and image of a worker between cells.
"""

from __future__ import annotations

import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import methods as method_registry
import noise as noise_registry
from bench import datasets as dataset_registry
from bench import metrics
from bench.arrays import center_crop, check_cube
from bench.cells import noisy_input
from bench.datasets.base import HSImage
from bench.errors import DataError
from bench.profiling import run_method
from bench.plan import Cell
from bench.seeding import stable_hash
from methods.base import Method, resolve_device

SCORED = ("psnr", "ssim", "sam", "ergas")


@dataclass
class CellResult:
    """What a cell produced: its row and the arrays of its artifacts (``relpath -> arrays``)."""

    key: str
    row: dict[str, Any]
    artifacts: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


@dataclass
class _Input:
    noisy: np.ndarray
    sigma: np.ndarray | None
    info: dict[str, Any]


class WorkerCache:
    """A worker's loaded methods, datasets and its most recent image and noisy inputs.

    ``device`` overrides the cells' device (a worker pinned to one GPU); ``threads`` is what the worker
    runs torch and BLAS with, recorded in every row.
    """

    def __init__(self, *, device: str | None = None, threads: int | None = None) -> None:
        import torch

        self.device = device
        self.threads = threads or torch.get_num_threads()
        self.host = socket.gethostname()
        self._methods: dict[tuple[str, str], Method] = {}
        self._datasets: dict[tuple[str, str | None], Any] = {}
        self._image: tuple[tuple[str, str, int | None], HSImage, Any] | None = None
        self._inputs: dict[str, _Input] = {}

    def method(self, cell: Cell) -> Method:
        key = (cell.method, stable_hash(cell.params))
        if key not in self._methods:
            self._methods[key] = method_registry.create(cell.method, **cell.params)
        return self._methods[key]

    def dataset(self, cell: Cell) -> Any:
        key = (cell.dataset, cell.data_root)
        if key not in self._datasets:
            try:
                self._datasets[key] = dataset_registry.load(cell.dataset, split="test", data_root=cell.data_root)
            except Exception as exc:
                if cell.data_root and not Path(cell.data_root).exists():
                    raise DataError(f"--data-root {cell.data_root} does not exist on host {self.host}") from None
                raise DataError(f"dataset {cell.dataset} on host {self.host}: {exc}") from None
        return self._datasets[key]

    def image(self, cell: Cell) -> tuple[HSImage, Any]:
        key = (cell.dataset, cell.image, cell.crop)
        if self._image is None or self._image[0] != key:
            ds = self.dataset(cell)
            self._image = (key, _prepare(ds.get(cell.image), cell.crop), ds)
            self._inputs.clear()
        return self._image[1], self._image[2]

    def noisy(self, cell: Cell, image: HSImage, ds: Any) -> _Input:
        if cell.noisy_artifact not in self._inputs:
            self._inputs[cell.noisy_artifact] = _draw(cell, image, ds)
        return self._inputs[cell.noisy_artifact]


def execute(cell: Cell, cache: WorkerCache | None = None) -> CellResult:
    """Run one cell; a failure of the cell (loading, the method, scoring) becomes a failed row."""
    cache = cache or WorkerCache()
    row: dict[str, Any] = {"key": cell.key, **cell.ident, "host": cache.host, "threads": cache.threads}
    artifacts: dict[str, dict[str, np.ndarray]] = {}
    meth: Method | None = None
    try:
        device = resolve_device(cache.device or cell.device)
        row["device"] = str(device)
        meth = cache.method(cell)
        image, ds = cache.image(cell)
        inp = cache.noisy(cell, image, ds)
        h, w, b = inp.noisy.shape
        row.update(height=h, width=w, bands=b,
                   sigma_json=None if inp.sigma is None else [float(s) for s in inp.sigma])
        clean = image.clean
        if clean is not None:
            artifacts[cell.clean_artifact] = _views(clean, ds.rgb_bands, cell.keep_cube)
        extra = {} if inp.sigma is None else {"sigma": np.asarray(inp.sigma, np.float32)}
        artifacts[cell.noisy_artifact] = {**_views(inp.noisy, ds.rgb_bands, cell.keep_cube), **extra}
        meth.monitor = (lambda est: metrics.psnr(clean, np.clip(est, 0, 1) if cell.clip else est)) \
            if clean is not None and cell.trace else None
        given = inp.sigma if cell.sigma == "oracle" else None
        est, cost = run_method(meth, inp.noisy, sigma=given, device=device, flops=cell.flops)
        est = check_cube(est, f"{meth.name} output")
        info = {"sigma_mode": "oracle" if given is not None else "estimate", "noise": inp.info, **meth.last_info,
                **cost.info()}
        row.update(status="ok", error=None, time_s=cost.wall_s, peak_mem_bytes=cost.peak_bytes,
                   mem_kind=cost.mem_kind, info_json=info, artifact=f"artifacts/{cell.artifact}.npz")
        arrays = _views(est, ds.rgb_bands, cell.keep_cube)
        scored = np.clip(est, 0, 1) if cell.clip else est
        values = metrics.no_reference(scored)
        if clean is not None:
            values.update(metrics.evaluate(clean, scored, names=SCORED))
            row.update({k: values.get(k) for k in SCORED})
            arrays["psnr_band"] = metrics.psnr_per_band(clean, scored).astype(np.float32)
        row["metrics_json"] = values
        artifacts[cell.artifact] = arrays
    except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the grid
        row.update(status="failed", error=one_line(exc), info_json={"traceback": traceback.format_exc(limit=8)},
                   artifact=None)
        artifacts = {}
    finally:
        if meth is not None:
            meth.monitor = None
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return CellResult(cell.key, row, artifacts)


def failed_result(cell: Cell, error: str, *, host: str | None = None) -> CellResult:
    """The result of a cell that never returned (its worker died): a failed row with the reason."""
    row = {"key": cell.key, **cell.ident, "host": host, "status": "failed", "error": error, "device": cell.device,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return CellResult(cell.key, row, {})


def _draw(cell: Cell, image: HSImage, ds: Any) -> _Input:
    if cell.noise is not None:
        sample = noisy_input(cell.dataset, image, noise_registry.parse(cell.noise), cell.seed)
        return _Input(sample.noisy, sample.sigma, sample.info)
    assert image.noisy is not None, f"{cell.dataset}/{image.id} has neither ground truth noise nor a noisy cube"
    if ds.meta.get("noise"):
        frozen = image.meta.get("frozen_sigma")
        return _Input(image.noisy, None if frozen is None else np.asarray(frozen),
                      {"frozen": ds.meta, "input": image.meta.get("input_record")})
    return _Input(image.noisy, None, {"real_noise": True})


def _prepare(image: HSImage, crop: int | None) -> HSImage:
    clean = None if image.clean is None else check_cube(center_crop(image.clean, crop), f"{image.id} clean cube")
    noisy = None if image.noisy is None else check_cube(center_crop(image.noisy, crop), f"{image.id} noisy cube")
    return HSImage(image.id, clean, noisy, image.wavelengths, image.meta)


def _views(cube: np.ndarray, rgb: tuple[int, int, int], store_cube: bool) -> dict[str, np.ndarray]:
    out = {"rowmean": cube.mean(axis=1).astype(np.float32), "colmean": cube.mean(axis=0).astype(np.float32),
           "rgb_bands": np.asarray([min(b, cube.shape[2] - 1) for b in rgb], np.int16)}
    if store_cube:
        out["cube"] = cube.astype(np.float16)
    return out


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
