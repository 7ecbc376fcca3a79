"""Fine-tuning on the test domain (`bench train ... --dataset houston2018 --bands 46`), as the DECSC paper does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench import datasets
from bench.cli import main
from bench.errors import DataError
from bench.training.loop import train
from methods.trainable import CHECKPOINT_DIR, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

_FAST = dict(epochs=1, steps_per_epoch=2, batch_size=1, val_crop=32, progress=False)


def _houston(root: Path) -> None:
    """A 70 x 160 x 48 ENVI stand-in whose centre 32 x 32 test crop is NaN: reading one pixel of it fails."""
    import spectral.io.envi as envi

    rng = np.random.default_rng(0)
    cube = rng.random((70, 160, 48)).astype(np.float32)
    cube[19:51, 64:96] = np.nan
    (root / "houston2018").mkdir(parents=True)
    envi.save_image(str(root / "houston2018" / "houston.hdr"), cube, force=True)


def test_finetune_changes_weights_and_never_reads_the_test_crop(tmp_path: Path) -> None:
    _houston(tmp_path / "data")
    with pytest.raises(DataError, match="NaN"):
        datasets.load("houston2018:crop=32", data_root=str(tmp_path / "data"))[0]  # the test crop itself
    train_split = datasets.load("houston2018:crop=32", split="train", data_root=str(tmp_path / "data"))
    assert [im.clean.shape for im in train_split] == [(70, 64, 46), (70, 64, 46)]
    path = train("t3sc.small", dataset="houston2018:crop=32", noise="noniid-55", init="t3sc.small", data_bands=46,
                 data_root=str(tmp_path / "data"), out=tmp_path / "run", **_FAST)
    tuned, manifest = load_checkpoint(path)
    shipped, _ = load_checkpoint(CHECKPOINT_DIR / "t3sc.small.pt")
    assert manifest["bands"] == 31 and manifest["data_bands"] == [46] and manifest["init"] == "t3sc.small"
    assert all(torch.isfinite(v).all() for v in tuned.values())
    assert any(not torch.equal(tuned[k], shipped[k]) for k in shipped)


def test_bands_is_checked_against_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _houston(tmp_path / "data")
    common = ["train", "t3sc.small", "--init", "t3sc.small", "--dataset", "houston2018:crop=32", "--data-root",
              str(tmp_path / "data"), "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "1",
              "--val-crop", "32", "--no-progress", "--out", str(tmp_path / "run")]
    assert main([*common, "--bands", "40"]) == 1
    assert "not the 40 given with --bands" in capsys.readouterr().err
    assert main([*common, "--bands", "46"]) == 0
    assert (tmp_path / "run" / "best.pt").is_file()
