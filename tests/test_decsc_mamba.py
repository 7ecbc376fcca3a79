"""decsc.mamba: the released layout, its selective scan, the weight importer and parity with the release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import methods
from bench.cli import main
from bench.weights import import_weights
from methods.decsc.importer import convert_released
from methods.decsc.scan import selective_scan

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURE = Path(__file__).parent / "data" / "decsc_released_tiny.npz"
#: The configuration of the fixture (see tests/data/decsc_released_tiny.md).
TINY = {"gic_atoms": 4, "gic_kernel": 3, "lsu_atoms": 2, "lsu_kernel": [3, 3], "fail_bound": 1e9}


def _released() -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    data = np.load(FIXTURE)
    weights = {k[2:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("w/")}
    return weights, {k: data[k] for k in data.files if not k.startswith("w/")}


def _scan_inputs(seed: int, batch: int, groups: int, per: int, states: int, length: int):
    g = torch.Generator().manual_seed(seed)
    ch = groups * per
    return (torch.randn(batch, ch, length, generator=g), torch.randn(batch, ch, length, generator=g),
            -3 * torch.rand(ch, states, generator=g), torch.randn(batch, groups, states, length, generator=g),
            torch.randn(batch, groups, states, length, generator=g), torch.randn(ch, generator=g),
            torch.randn(ch, generator=g))


@pytest.mark.parametrize("length,chunk", [(1, None), (37, None), (37, 1), (37, 5), (64, 8), (50, 200)])
def test_chunked_scan_equals_naive_recurrence(length, chunk):
    args = _scan_inputs(length, 2, 4, 3, 5, length)
    ref = selective_scan(*args, backend="naive")
    out = selective_scan(*args, backend="chunked", chunk=chunk)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


@pytest.mark.parametrize("length,chunk", [(37, None), (37, 1), (64, 8)])
def test_chunked_scan_in_place_path_equals_autograd_path(length, chunk):
    args = _scan_inputs(length + 1, 2, 4, 3, 5, length)
    with torch.no_grad():
        fast = selective_scan(*args, backend="chunked", chunk=chunk)
    tracked = selective_scan(*[a.clone().requires_grad_() for a in args], backend="chunked", chunk=chunk)
    assert tracked.requires_grad and not fast.requires_grad
    assert torch.allclose(fast, tracked.detach(), rtol=1e-6, atol=1e-6 * float(fast.abs().max()))


def test_scan_keeps_float64_and_refuses_unknown_backend():
    args = [a.double() for a in _scan_inputs(0, 1, 2, 2, 3, 20)]
    out = selective_scan(*args, backend="chunked")
    assert out.dtype == torch.float64
    assert torch.allclose(out, selective_scan(*args, backend="naive"), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        selective_scan(*args, backend="fast")


def test_chunked_scan_gradients_match_naive():
    args = [a.double().requires_grad_() for a in _scan_inputs(1, 1, 2, 2, 3, 17)]
    grads = []
    for backend in ("naive", "chunked"):
        out = selective_scan(*args, backend=backend)
        grads.append(torch.autograd.grad(out.square().sum(), args))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_paper_size_parameter_count_equals_release():
    net = methods.create("decsc.mamba").build_network()
    assert sum(p.numel() for p in net.parameters()) == 5_056_944
    small = methods.create("decsc.mamba.small").build_network()
    assert sum(p.numel() for p in small.parameters()) < 200_000


@pytest.mark.parametrize("unroll,key", [(3, "out_unrolled"), (0, "out_deq")])
def test_imported_weights_reproduce_released_outputs(unroll, key):
    weights, data = _released()
    m = methods.create("decsc.mamba", unroll=unroll, **TINY)
    state, implied = convert_released({"net": weights}, "fixture")
    assert implied["bands"] == 31 and implied["gic_atoms"] == 4 and implied["stages"] == 4
    net = m.build_network()
    net.load_state_dict(state, strict=True)
    ref = torch.from_numpy(data[key])
    y = torch.from_numpy(data["input"])
    with torch.no_grad():
        exact = net.double().eval()(y.double())
        single = net.float()(y)
    assert float((exact - ref).norm() / ref.norm()) < 1e-4
    if unroll:  # no solver to amplify float32 round-off
        assert float((single.double() - ref).norm() / ref.norm()) < 1e-4


@pytest.mark.parametrize("change", [{"post_plain": False}, {"relative_lam": True}, {"warm_start": False}])
def test_parity_needs_the_released_schedule(change):
    weights, data = _released()
    net = methods.create("decsc.mamba", **TINY, **change).build_network()
    net.load_state_dict(convert_released({"net": weights}, "fixture")[0])
    with torch.no_grad():
        out = net.double().eval()(torch.from_numpy(data["input"]).double())
    ref = torch.from_numpy(data["out_deq"])
    assert float((out - ref).norm() / ref.norm()) > 1e-3


def test_import_command_writes_a_usable_checkpoint(tmp_path, capsys):
    weights, data = _released()
    src = tmp_path / "released.pth"
    torch.save({"net": {f"module.{k}": v for k, v in weights.items()}, "optimizer": {}, "epoch": 3,
                "iteration": 42}, src)
    out = tmp_path / "mamba.pt"
    manifest = import_weights("decsc.mamba", src, out, **TINY)
    assert manifest["dataset"] == "imported" and manifest["bands"] == 31
    assert manifest["source"]["epoch"] == 3 and len(manifest["source"]["sha256"]) == 64
    m = methods.create("decsc.mamba", checkpoint=str(out), unroll=3, tile=12, overlap=0, **TINY)
    est = m.denoise(data["input"][0].transpose(1, 2, 0), device="cpu")
    ref = data["out_unrolled"][0].transpose(1, 2, 0)
    assert np.linalg.norm(est - ref) / np.linalg.norm(ref) < 1e-4


def test_import_refuses_a_file_that_is_not_released_weights(tmp_path, capsys):
    weights, _ = _released()
    bad = dict(weights)
    bad.pop("share_lmbdas")
    bad["extra.weight"] = torch.zeros(1)
    bad["share_filters.weight"] = torch.zeros(4, 31, 5, 5)
    src = tmp_path / "other.pth"
    torch.save({"net": bad}, src)
    out = tmp_path / "x.pt"
    code = main(["import-weights", "decsc.mamba", str(src), "--out", str(out)]
                + [f"--param={k}={v}" for k, v in TINY.items() if k != "lsu_kernel"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "1 missing: layer.thr_s.theta" in err and "1 unexpected: extra.weight" in err
    assert "layer.K_syn.weight (4, 31, 5, 5) vs (4, 31, 3, 3)" in err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    torch.save({"something": "else"}, src)
    assert main(["import-weights", "decsc.mamba", str(src), "--out", str(out)]) == 1
    assert "not a released DECSC checkpoint" in capsys.readouterr().err
    assert main(["import-weights", "decsc.mamba", str(tmp_path / "missing.pth"), "--out", str(out)]) == 2
    assert main(["import-weights", "noisy", str(src), "--out", str(out)]) == 2


def test_contraction_options_of_the_released_layout():
    """shrink contracts the codes, debias scales the synthesis back, step control caps the encoders' gains."""
    from methods.decsc.mamba_layer import MambaDECSCLayer

    torch.manual_seed(0)
    small = {"bands": 5, "gic_atoms": 4, "gic_kernel": 3, "lsu_atoms": 3, "lsu_kernel": (3, 3), "stages": 1,
             "d_state": 2, "mlp_ratio": 1.0, "drop_path": 0.0}
    plain = MambaDECSCLayer(**small)
    shrunk = MambaDECSCLayer(**small, shrink=0.5, debias=True)
    shrunk.load_state_dict(plain.state_dict())
    x = torch.randn(1, 4, 6, 6)
    assert torch.allclose(shrunk.thr_s(x), plain.thr_s(x) / 1.5)
    y = torch.rand(1, 5, 8, 8)
    z = torch.randn(1, plain.state_size(y))
    with torch.no_grad():
        assert torch.allclose(shrunk.reconstruct(z, y), 1.5 * plain.reconstruct(z, y), rtol=1e-5, atol=1e-6)
        plain.K_enc.weight.mul_(500.0)
        synth = plain.reconstruct(z, y)
    before = plain.control_steps(1.0)
    after = plain.control_steps(1.0)
    assert before["gic"] > 1.0 and after["gic"] == pytest.approx(1.0, rel=1e-3) and after["lsu"] <= 1.0 + 1e-3
    with torch.no_grad():
        assert torch.equal(plain.reconstruct(z, y), synth)
    with pytest.raises(ValueError, match="shrink"):
        MambaDECSCLayer(**small, shrink=-0.1)
    from methods.decsc.network import operator_norm

    normed = MambaDECSCLayer(**small, dict_norm=0.7)
    assert operator_norm(normed.K_enc, (1, 5, 16, 16)) == pytest.approx(0.7, rel=1e-3)
    assert operator_norm(normed.D_enc, (1, 1, 5, 16, 16)) == pytest.approx(0.7, rel=1e-3)
    assert torch.equal(normed.K_dec.weight, normed.K_syn.weight)
    assert torch.equal(normed.D_enc.weight, normed.D_syn.weight)


def test_mamba_configuration_takes_the_training_recipe():
    m = methods.create("decsc.mamba.small", shrink=0.7, debias=True, jac_weight=10.0, step_control=1.0)
    net = m.build_network()
    assert net.layer.out_scale == pytest.approx(1.7) and net.jac_weight == 10.0
    assert m.arch()["shrink"] == 0.7 and "jac_weight" not in m.arch()
