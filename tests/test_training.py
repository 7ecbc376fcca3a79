"""bench train: seeded sampler, resumable loop (interrupt + rerun == uninterrupted), checkpoints, manifests, warm-up."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import methods
from bench.datasets.base import Dataset, HSImage
from bench.errors import DataError, UsageError
from bench.training import PatchSampler, add_train_arguments, parse_noise_list, run_train, train
from bench.training import loop as loop_mod
from methods.trainable import TrainableMethod, file_sha256, load_checkpoint, save_checkpoint

BANDS = 6
TINY = {"bands": BANDS, "codes0": 6, "steps0": 2, "codes1": 8, "steps1": 2, "tile": 16, "overlap": 4}
FAST = dict(noise="noniid-55", epochs=3, batch_size=2, patch=16, steps_per_epoch=2, val_crop=16, lr=1e-2,
            params=TINY, progress=False)

_TINY_DECSC = {"bands": BANDS, "gic_atoms": 4, "gic_kernel": 3, "lsu_atoms": 2, "lsu_kernel": [3, 3],
               "swin_blocks": 1, "swin_heads": 1, "train_max_iter": 2, "max_iter": 3, "jac_weight": 0.0,
               "fail_bound": 1e9, "tile": 16}


def _cube(seed: int, size: int = 28) -> np.ndarray:
    """A smooth, spectrally correlated cube in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.3 * np.sin(6 * xx + seed) * np.cos(4 * yy)
    spec = np.linspace(0.6, 1.0, BANDS) + 0.05 * rng.standard_normal(BANDS)
    return np.clip(base[..., None] * spec, 0, 1).astype(np.float32)


@pytest.fixture
def tiny_set() -> Dataset:
    cubes = {f"img{i}": _cube(i) for i in range(3)}
    return Dataset("tinyset", list(cubes), lambda i: HSImage(id=i, clean=cubes[i]))


pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0]


def _copy_checkpoint(src: Path, dst: Path) -> None:
    """Put a checkpoint and its manifest at ``dst``, as replacing a shipped checkpoint does."""
    for suffix in (".pt", ".json"):
        shutil.copy(src.with_suffix(suffix), dst.with_suffix(suffix))


def test_sampler_is_seeded_and_augments(tiny_set: Dataset) -> None:
    cubes = [im.clean for im in tiny_set]
    sampler = PatchSampler(cubes, parse_noise_list("noniid-55,mixture"), patch=12)
    a = sampler.batch(3, np.random.default_rng(5))
    b = sampler.batch(3, np.random.default_rng(5))
    c = sampler.batch(3, np.random.default_rng(6))
    assert a[0].shape == (3, BANDS, 12, 12) and a[0].dtype == torch.float32
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert float(a[1].min()) >= 0 and float(a[1].max()) <= 1
    assert not torch.equal(a[0], a[1])


def test_noise_list_parsing() -> None:
    models = parse_noise_list("noniid-95,mixture,noniid:smax=20,smin=5")
    assert [m.name for m in models] == ["noniid-95", "mixture", "noniid"]
    assert models[2].params["smax"] == 20 and models[2].params["smin"] == 5
    with pytest.raises(UsageError):
        parse_noise_list("noniid-95,,mixture")


def test_resume_after_interrupt_equals_uninterrupted(tiny_set: Dataset, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    whole = train("t3sc.small", dataset=tiny_set, out=tmp_path / "whole", **FAST)

    real_validate = loop_mod._validate
    calls = {"n": 0}

    def crash_in_epoch_2(*args: Any, **kwargs: Any) -> float:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(loop_mod, "_validate", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "cut", **FAST)
    monkeypatch.setattr(loop_mod, "_validate", real_validate)
    assert torch.load(tmp_path / "cut" / "state.pt", weights_only=False)["epoch"] == 1

    resumed = train("t3sc.small", dataset=tiny_set, out=tmp_path / "cut", **FAST)
    for key, value in _weights(whole).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    s_whole = torch.load(tmp_path / "whole" / "state.pt", weights_only=False)
    s_cut = torch.load(tmp_path / "cut" / "state.pt", weights_only=False)
    assert s_cut["epoch"] == s_whole["epoch"] == 3
    for key, value in s_whole["model"].items():
        assert torch.equal(value, s_cut["model"][key]), key
    assert [r["loss"] for r in s_cut["log"]] == [r["loss"] for r in s_whole["log"]]


def test_max_minutes_stops_at_epoch_boundary_then_continues(tiny_set: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "budget"
    train("t3sc.small", dataset=tiny_set, out=out, max_minutes=1e-9, **FAST)
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1]
    assert set(rows[0]) == {"epoch", "loss", "val_psnr", "lr", "seconds"}
    train("t3sc.small", dataset=tiny_set, out=out, **FAST)
    assert [int(r["epoch"]) for r in csv.DictReader((out / "log.csv").open())] == [1, 2, 3]


def test_resume_with_other_setup_is_refused(tiny_set: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train("t3sc.small", dataset=tiny_set, out=out, **{**FAST, "epochs": 1})
    with pytest.raises(UsageError, match="different training setup.*lr"):
        train("t3sc.small", dataset=tiny_set, out=out, **{**FAST, "lr": 5e-3})


def test_export_round_trip_and_manifest(tiny_set: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_mod, "CHECKPOINT_DIR", tmp_path / "ckpts")
    path = train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", export="tiny-export", **FAST)
    assert path == tmp_path / "ckpts" / "tiny-export.pt"
    manifest = json.loads(path.with_suffix(".json").read_text())
    for key in ("method", "variant", "version", "bands", "dataset", "noise", "epochs", "best_val_psnr", "seed",
                "sha256", "date"):
        assert key in manifest, key
    assert manifest["sha256"] == file_sha256(path) and manifest["bands"] == BANDS
    assert manifest["method"] == "t3sc.small" and manifest["dataset"] == "tinyset"
    assert all(v.dtype == torch.float32 for v in _weights(path).values() if v.is_floating_point())

    m = methods.create("t3sc.small", checkpoint=str(path), **TINY)
    cube = _cube(9, size=21)
    out = m.denoise(cube, device="cpu")
    assert out.shape == cube.shape and np.isfinite(out).all()
    assert m.last_info["checkpoint"]["sha256"] == manifest["sha256"]
    net = m.network("cpu")
    for key, value in _weights(path).items():
        assert torch.equal(net.state_dict()[key], value)


def test_checkpoint_mismatches_are_clear_errors(tiny_set: Dataset, tmp_path: Path) -> None:
    path = train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", **{**FAST, "epochs": 1})
    cube = np.random.default_rng(0).random((16, 16, BANDS + 1), dtype=np.float32)
    wrong_bands = methods.create("t3sc.small", checkpoint=str(path), **{**TINY, "bands": BANDS + 1})
    with pytest.raises(DataError, match=rf"best.pt.*{BANDS} bands.*{BANDS + 1} bands"):
        wrong_bands.denoise(cube)
    wrong_arch = methods.create("t3sc.small", checkpoint=str(path), **{**TINY, "codes1": 9})
    with pytest.raises(DataError, match="codes1=8 vs 9"):
        wrong_arch.denoise(cube[..., :BANDS])
    state, manifest = load_checkpoint(path)
    save_checkpoint(tmp_path / "old.pt", state, {**manifest, "version": "0"})
    old = methods.create("t3sc.small", checkpoint=str(tmp_path / "old.pt"), **TINY)
    with pytest.raises(DataError, match="version 0"):
        old.denoise(cube[..., :BANDS])
    (tmp_path / "old.pt").write_bytes((tmp_path / "old.pt").read_bytes()[:-10])
    with pytest.raises(DataError, match="sha256"):
        methods.create("t3sc.small", checkpoint=str(tmp_path / "old.pt"), **TINY).denoise(cube[..., :BANDS])
    with pytest.raises(UsageError, match="not found"):
        methods.create("t3sc.small", checkpoint=str(tmp_path / "nope.pt"), **TINY).denoise(cube[..., :BANDS])


def test_init_fine_tunes_from_checkpoint(tiny_set: Dataset, tmp_path: Path) -> None:
    first = train("t3sc.small", dataset=tiny_set, out=tmp_path / "a", **{**FAST, "epochs": 1})
    tuned = train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", init=str(first), **{**FAST, "epochs": 1})
    log = json.loads(tuned.with_suffix(".json").read_text())
    assert log["init"] == str(first)
    before = json.loads(first.with_suffix(".json").read_text())["best_val_psnr"]
    assert log["best_val_psnr"] > before - 1.0


def test_init_into_a_changed_configuration(tiny_set: Dataset, tmp_path: Path) -> None:
    """Fine-tuning may change a setting that leaves the weights' shapes alone (recorded in the manifest);
    one that changes a shape is a one-line error naming the checkpoint."""
    tiny = {**_TINY_DECSC, "shrink": 0.1}
    fast = {**FAST, "epochs": 1, "steps_per_epoch": 1}
    first = train("decsc.small", dataset=tiny_set, out=tmp_path / "a", **{**fast, "params": tiny})
    tuned = train("decsc.small", dataset=tiny_set, out=tmp_path / "b", init=str(first),
                  **{**fast, "params": {**tiny, "shrink": 0.3}})
    assert json.loads(tuned.with_suffix(".json").read_text())["init_changes"] == {"shrink": [0.1, 0.3]}
    with pytest.raises(DataError, match=rf"--init {first.name}: does not fit decsc.small .*gic_atoms.*wrong shape"):
        train("decsc.small", dataset=tiny_set, out=tmp_path / "c", init=str(first),
              **{**fast, "params": {**tiny, "gic_atoms": 6}})


_OLDER_RECIPE = ["layer.gate", "layer.soft1.exponent", "layer.soft2.exponent"]


@pytest.mark.parametrize(("ablation", "dropped"), [
    # decsc.noatt keeps the recipe from before the polish gate and the noise-adaptive threshold exponents
    ("decsc.noatt", ["layer.net2.att", *_OLDER_RECIPE]),
    ("decsc.nodconv", ["layer.net2.dconv"])])
def test_init_into_an_ablation_drops_the_switched_off_module(tiny_set: Dataset, tmp_path: Path, ablation: str,
                                                             dropped: list[str]) -> None:
    """An ablation fine-tuned from the full model loses only the weights of the module it switches off, and
    says so in its manifest; the other direction starts that module from its initial weights and says so."""
    fast = {**FAST, "epochs": 1, "steps_per_epoch": 1}
    full = train("decsc.small", dataset=tiny_set, out=tmp_path / "full", **{**fast, "params": _TINY_DECSC})
    tuned = train(ablation, dataset=tiny_set, out=tmp_path / "abl", init=str(full), **{**fast, "params": _TINY_DECSC})
    manifest = json.loads(tuned.with_suffix(".json").read_text())
    switched = sorted(dropped)
    assert manifest["init_dropped"] == switched
    assert manifest["init_changes"]
    kept = _weights(full)
    for key, value in _weights(tuned).items():
        assert value.shape == kept[key].shape
    back = train("decsc.small", dataset=tiny_set, out=tmp_path / "back", init=str(tuned),
                 **{**fast, "params": _TINY_DECSC})
    manifest = json.loads(back.with_suffix(".json").read_text())
    assert manifest["init_added"] == switched and manifest["init_dropped"] is None


@pytest.mark.parametrize(("min_converged", "best_epoch"), [(None, 2), (0.8, 3)])
def test_min_converged_selects_among_converging_epochs(tiny_set: Dataset, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        min_converged: float | None, best_epoch: int) -> None:
    """With --min-converged the sharpest epoch whose validation solves did not converge is never shipped."""
    scores = iter([(20.0, {"converged": 1.0}), (25.0, {"converged": 0.5}), (22.0, {"converged": 1.0})])
    monkeypatch.setattr(loop_mod, "_validate", lambda *a, **k: next(scores))
    path = train("decsc.small", dataset=tiny_set, out=tmp_path / "run", min_converged=min_converged,
                 **{**FAST, "steps_per_epoch": 1, "params": _TINY_DECSC})
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert (manifest["best_epoch"], manifest["best_val_psnr"]) == (best_epoch, {2: 25.0, 3: 22.0}[best_epoch])
    assert manifest["training"]["min_converged"] == min_converged


@pytest.mark.parametrize(("min_converged", "best_epoch"), [(None, 3), (0.8, 2)])
def test_select_last_ships_the_final_epoch_and_its_whole_budget(tiny_set: Dataset, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                min_converged: float | None,
                                                                best_epoch: int) -> None:
    """--select last ships the final epoch (the last converging one under --min-converged), not the sharpest,
    and the manifest's budget counts every step up to it."""
    scores = iter([(20.0, {"converged": 1.0}), (25.0, {"converged": 1.0}), (22.0, {"converged": 0.5})])
    monkeypatch.setattr(loop_mod, "_validate", lambda *a, **k: next(scores))
    path = train("decsc.small", dataset=tiny_set, out=tmp_path / "run", min_converged=min_converged, select="last",
                 **{**FAST, "steps_per_epoch": 1, "params": _TINY_DECSC})
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["best_epoch"] == best_epoch and manifest["budget"]["steps"] == best_epoch
    assert manifest["training"]["select"] == "last"
    with pytest.raises(UsageError, match=r"--select: unknown choice 'first'"):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", select="first", **FAST)


def test_balanced_loss_pulls_each_patch_as_its_log_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """loss=balanced keeps the value of the plain loss but gives each patch the gradient direction and relative
    size of its log squared error, so low-noise patches are not drowned by high-noise ones."""
    torch.manual_seed(0)
    clean = torch.rand(3, BANDS, 8, 8, dtype=torch.float64)
    err = torch.randn(3, BANDS, 8, 8, dtype=torch.float64) * torch.tensor([0.01, 0.1, 1.0]).view(3, 1, 1, 1)
    grads = {}
    for kind in ("sse", "balanced"):
        model = methods.create("t3sc.small", **TINY, loss=kind)
        out = (clean + err).requires_grad_(True)
        monkeypatch.setattr(model, "apply_network", lambda net, x, out=out: out)
        loss = model.training_loss(None, clean, clean)
        loss.backward()
        grads[kind] = (float(loss), out.grad.flatten(1))
    assert grads["balanced"][0] == pytest.approx(grads["sse"][0], rel=1e-5)
    per_patch = (err ** 2).flatten(1).sum(1)
    log_grad = 2 * err.flatten(1) / per_patch[:, None]
    scale = per_patch.mean() / 3
    torch.testing.assert_close(grads["balanced"][1], log_grad * scale)
    assert not torch.allclose(grads["sse"][1], log_grad * scale, rtol=1e-2)


@pytest.mark.parametrize("loss", ["sse", "balanced"])
def test_loss_choice_is_checked_recorded_and_kept_on_resume(tiny_set: Dataset, tmp_path: Path, loss: str) -> None:
    """The loss a run trained with is in its manifest and in each budget-chain entry; resuming its folder
    with the other loss is refused, and a bad name fails when the method is created, before any data loads."""
    path = train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", **{**FAST, "epochs": 1,
                                                                         "params": {**TINY, "loss": loss}})
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["training"]["loss"] == loss and [c["loss"] for c in manifest["budget"]["chain"]] == [loss]
    other = "sse" if loss == "balanced" else "balanced"
    with pytest.raises(UsageError, match=f"different training setup.*loss: '{loss}' -> '{other}'"):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", **{**FAST, "params": {**TINY, "loss": other}})
    with pytest.raises(UsageError, match=r"t3sc.small: loss must be one of sse, balanced, got 'l1'"):
        methods.create("t3sc.small", loss="l1")


def test_loss_is_neither_architecture_nor_result_identity() -> None:
    """Weights trained with either loss fit the same network, and a result depends on the weights, not on
    how they were trained, so the loss must not change a cell's key."""
    sse, balanced = (methods.create("decsc.small", loss=k) for k in ("sse", "balanced"))
    assert sse.arch() == balanced.arch() and "loss" not in sse.arch()
    assert sse.describe() == balanced.describe() and "loss" not in sse.describe()["params"]


def test_min_converged_without_a_converging_epoch_or_solver(tiny_set: Dataset, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop_mod, "_validate", lambda *a, **k: (20.0, {"converged": 0.0}))
    with pytest.raises(DataError, match=r"no epoch's validation solves converged in 90% .*--min-converged"):
        train("decsc.small", dataset=tiny_set, out=tmp_path / "a", min_converged=0.9,
              **{**FAST, "epochs": 1, "steps_per_epoch": 1, "params": _TINY_DECSC})
    with pytest.raises(UsageError, match=r"--min-converged: t3sc.small has no solver that reports convergence"):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", min_converged=0.9, **FAST)
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["decsc.small", "--min-converged", "1.5"])


@pytest.mark.parametrize("name", [n for n in methods.registry.names() if methods.registry.get(n).meta["trainable"]])
def test_default_checkpoint_is_shipped_or_clearly_missing(name: str) -> None:
    """Every trainable method either ships a checkpoint whose manifest fits it, or says how to train one."""
    m = methods.create(name)
    assert isinstance(m, TrainableMethod)
    try:
        path = m.checkpoint_path()
    except UsageError as exc:
        assert f"no checkpoint shipped for {name}" in str(exc) and f"bench train {name}" in str(exc)
        return
    _, manifest = load_checkpoint(path)
    m.check_manifest(manifest, path)
    assert manifest["sha256"] == file_sha256(path)
    assert path.stat().st_size < 20 * 2 ** 20


def test_cli_parses_and_runs(tiny_set: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("bench.training.cli.train", lambda method, **kw: seen.update(method=method, **kw) or
                        tmp_path / "x.pt")
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["t3sc.small", "--epochs", "2", "--milestones", "1,2", "--param", "codes1=16",
                              "--noise", "noniid-95,mixture", "--max-minutes", "1.5", "--device", "cpu",
                              "--warmup", "40"])
    assert run_train(args) == 0
    assert seen["method"] == "t3sc.small" and seen["epochs"] == 2 and seen["milestones"] == [1, 2]
    assert seen["warmup"] == 40
    assert seen["params"] == {"codes1": 16} and seen["max_minutes"] == 1.5 and seen["noise"] == "noniid-95,mixture"
    assert str(tmp_path / "x.pt") in capsys.readouterr().out
    with pytest.raises(UsageError, match="milestones"):
        run_train(parser.parse_args(["t3sc.small", "--milestones", "a,b"]))


def test_untrainable_method_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not trainable"):
        train("noisy", out=tmp_path)


class _Conv(TrainableMethod):
    """A one-layer trainable method for inference-option tests."""

    family = "hybrid"
    defaults = {**TrainableMethod.defaults, "bands": 3, "kernel": 1, "ensemble": 1, "margin": 0}

    def build_network(self) -> torch.nn.Module:
        k = int(self.params["kernel"])
        return torch.nn.Conv2d(3, 3, k, padding=k // 2, bias=False)


@pytest.mark.parametrize("kernel,equal", [(1, True), (3, False)])
def test_self_ensemble_averages_transformed_views(tmp_path: Path, kernel: int, equal: bool) -> None:
    """A 1 x 1 convolution commutes with rotations and flips, so 8 views give its plain output; a 3 x 3 does not."""
    torch.manual_seed(0)
    base = _Conv(name="conv", kernel=kernel)
    save_checkpoint(tmp_path / "c.pt", base.build_network().state_dict(), base.manifest_base())
    cube = np.random.default_rng(0).random((12, 9, 3), dtype=np.float32)
    one = _Conv(name="conv", kernel=kernel, checkpoint=str(tmp_path / "c.pt"), tile=8, overlap=2)
    eight = _Conv(name="conv", kernel=kernel, checkpoint=str(tmp_path / "c.pt"), tile=8, overlap=2, ensemble=8)
    a, b = one.denoise(cube), eight.denoise(cube)
    assert eight.last_info["ensemble_views"] == 8
    assert np.allclose(a, b, atol=1e-5) is equal
    with pytest.raises(UsageError, match="ensemble"):
        _Conv(name="conv", kernel=kernel, checkpoint=str(tmp_path / "c.pt"), ensemble=3).denoise(cube)


def test_band_groups_cover_every_band() -> None:
    cube = np.arange(4 * 90, dtype=np.float32).reshape(2, 2, 90)
    groups = loop_mod.band_groups(cube, 31)
    assert [g.shape[2] for g in groups] == [31, 31, 31]
    assert np.array_equal(groups[0], cube[..., :31]) and np.array_equal(groups[-1], cube[..., 59:])
    assert len(loop_mod.band_groups(cube[..., :31], 31)) == 1 and loop_mod.band_groups(cube[..., :30], 31) == []


def test_sampler_weights_balance_images() -> None:
    big, small = np.zeros((64, 64, 2), np.float32), np.ones((16, 16, 2), np.float32)
    noises = parse_noise_list("noniid-15")
    rng = np.random.default_rng(0)
    plain = PatchSampler([big, small], noises, patch=8)
    share = np.mean([plain.clean_patch(rng).mean() > 0.5 for _ in range(400)])
    balanced = PatchSampler([big, small], noises, patch=8, weights=[1 / 64 ** 2, 1 / 16 ** 2])
    share_b = np.mean([balanced.clean_patch(rng).mean() > 0.5 for _ in range(400)])
    assert share < 0.15 and 0.4 < share_b < 0.6
    with pytest.raises(UsageError, match="weight"):
        PatchSampler([big, small], noises, patch=8, weights=[1.0])


def test_training_on_two_datasets_uses_band_groups_of_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 90-band dataset joins a 31-band one as 31-band groups, each dataset with equal total weight."""
    from bench import datasets

    sets = {"a31": Dataset("a31", ["x"], lambda i: HSImage(id=i, clean=np.zeros((40, 40, 31), np.float32))),
            "b90": Dataset("b90", ["y"], lambda i: HSImage(id=i, clean=np.ones((20, 20, 90), np.float32)))}
    monkeypatch.setattr(datasets, "load", lambda name, split="test", **kw: sets[name])
    cubes, weights, found = loop_mod._training_cubes("a31,b90", 31)
    assert found == [31, 90]
    assert [c.shape for c in cubes] == [(40, 40, 31)] + [(20, 20, 31)] * 3
    areas = [c.shape[0] * c.shape[1] for c in cubes]
    assert sum(a * w for a, w in zip(areas[:1], weights[:1])) == pytest.approx(
        sum(a * w for a, w in zip(areas[1:], weights[1:])))
    with pytest.raises(DataError, match="no training image has the 100 bands"):
        loop_mod._training_cubes("a31", 100)


def test_manifest_budget_sums_over_the_init_chain(tiny_set: Dataset, tmp_path: Path) -> None:
    first = train("t3sc.small", dataset=tiny_set, out=tmp_path / "a", **{**FAST, "epochs": 2})
    tuned = train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", init=str(first), **{**FAST, "epochs": 1})
    one = load_checkpoint(first)[1]["budget"]
    two = load_checkpoint(tuned)[1]["budget"]
    best = load_checkpoint(first)[1]["best_epoch"]
    assert one["steps"] == best * FAST["steps_per_epoch"] and one["patches"] == one["steps"] * FAST["batch_size"]
    assert one["device"] == "cpu" and one["seconds"] is not None and one["seconds"] >= 0
    assert two["steps"] == one["steps"] + FAST["steps_per_epoch"] and len(two["chain"]) == 2
    assert two["seconds"] == pytest.approx(one["seconds"] + two["chain"][1]["seconds"], abs=0.11)


def test_recorded_budget_of_an_old_manifest_comes_from_its_epochs() -> None:
    old = {"best_epoch": 26, "epochs": 37, "training": {"steps_per_epoch": 20, "batch_size": 4}}
    assert loop_mod._recorded_budget(old) == {"steps": 520, "patches": 2080, "seconds": None, "device": "cpu"}


def test_resume_keeps_the_init_budget_even_when_the_init_checkpoint_was_replaced(tiny_set: Dataset,
                                                                                   tmp_path: Path) -> None:
    """Resuming reads what the run started from out of its state, not from the file --init names now: a shipped
    checkpoint replaced by this very run's export must not be counted into its chain."""
    first = train("t3sc.small", dataset=tiny_set, out=tmp_path / "a", **{**FAST, "epochs": 1})
    longer = train("t3sc.small", dataset=tiny_set, out=tmp_path / "c", **{**FAST, "epochs": 2})
    init = tmp_path / "init.pt"
    _copy_checkpoint(first, init)
    before = load_checkpoint(init)[1]["budget"]
    train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", init=str(init), **{**FAST, "epochs": 1})
    _copy_checkpoint(longer, init)
    resumed = load_checkpoint(train("t3sc.small", dataset=tiny_set, out=tmp_path / "b", init=str(init),
                                    **{**FAST, "epochs": 2, "select": "last"}))[1]["budget"]
    assert resumed["chain"][:-1] == before["chain"]
    assert resumed["steps"] == before["steps"] + 2 * FAST["steps_per_epoch"]


def _step_lrs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The learning rate of every Adam step taken from now on."""
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def step(self: torch.optim.Adam, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return seen


def test_warmup_ramps_the_first_steps_then_follows_the_milestones(tiny_set: Dataset, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _step_lrs(monkeypatch)
    path = train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", warmup=4, milestones=[2], gamma=0.5, **FAST)
    assert seen == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2, 5e-3, 5e-3])
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    assert [row["lr"] for row in state["log"]] == pytest.approx([1e-2, 1e-2, 5e-3])
    assert json.loads(path.with_suffix(".json").read_text())["training"]["warmup"] == 4


def test_no_warmup_keeps_the_scheduled_rate(tiny_set: Dataset, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _step_lrs(monkeypatch)
    train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", **{**FAST, "epochs": 2})
    assert seen == pytest.approx([1e-2] * 4)


def test_resume_with_another_warmup_is_refused(tiny_set: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train("t3sc.small", dataset=tiny_set, out=out, warmup=3, **{**FAST, "epochs": 1})
    with pytest.raises(UsageError, match="different training setup.*warmup: 3 -> 0"):
        train("t3sc.small", dataset=tiny_set, out=out, **FAST)
    with pytest.raises(UsageError, match="warmup must be >= 0 steps, got -1"):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "bad", warmup=-1, **FAST)
