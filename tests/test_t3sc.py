"""T3SC: the paper's parameter count, shapes on odd sizes, learning on a tiny patch set, layer algebra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import methods
import noise
from bench import datasets
from bench.arrays import center_crop
from bench.cells import noisy_input
from bench.datasets.base import HSImage
from bench.errors import DataError
from methods.t3sc import LowRankSCLayer, T3SCNet, soft_threshold
from methods.trainable import CHECKPOINT_DIR, save_checkpoint

TINY = {"codes0": 6, "steps0": 3, "codes1": 10, "steps1": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("bands,expected", [(31, 832_256), (191, 862_976)])
def test_paper_parameter_count(bands: int, expected: int) -> None:
    assert _count(methods.create("t3sc", bands=bands).build_network()) == expected


def test_small_variant_is_smaller_and_registered() -> None:
    small = methods.create("t3sc.small")
    assert methods.registry.get("t3sc.small").meta["family"] == "hybrid"
    assert 0 < _count(small.build_network()) < _count(methods.create("t3sc").build_network()) // 4


@pytest.mark.parametrize("hw", [(5, 5), (13, 17), (32, 31)])
def test_forward_shape_on_odd_sizes(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = T3SCNet(7, **TINY)
    x = torch.rand(2, 7, *hw)
    y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_constant_input_is_kept() -> None:
    """Input and patch centring: a spatially constant cube is reconstructed exactly by the means."""
    net = T3SCNet(5, **TINY).eval()
    x = torch.linspace(0.2, 0.8, 5).view(1, 5, 1, 1).expand(1, 5, 12, 12).contiguous()
    torch.testing.assert_close(net(x), x, rtol=0, atol=1e-6)


def test_factored_dictionary_matches_full_atoms() -> None:
    layer = LowRankSCLayer(4, 3, rank=2, kernel=3, steps=1, patch_centring=False)
    atoms = layer.dictionary("C")
    expected = torch.einsum("cir,crs->cis", layer.C_spectral, layer.C_spatial).view(3, 4, 3, 3)
    torch.testing.assert_close(atoms, expected)
    x = torch.rand(1, 4, 8, 8)
    alpha, _ = layer.encode(x)
    lam = layer.thresholds[0].view(1, -1, 1, 1)
    torch.testing.assert_close(alpha, soft_threshold(F.conv2d(x, atoms), lam))


def test_soft_threshold() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert soft_threshold(x, torch.tensor(1.0)).tolist() == [-1.0, 0.0, 0.0, 0.0, 1.0]


def test_thresholds_per_step_and_code_start_at_1e_3() -> None:
    net = T3SCNet(31)
    assert net.layer0.thresholds.shape == (12, 64) and net.layer1.thresholds.shape == (5, 1024)
    assert torch.all(net.layer1.thresholds == 1e-3)
    assert net.layer0.kernel == 1 and net.layer1.kernel == 5 and net.layer1.rank == 3 and net.layer0.rank == 1


def test_a_few_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    m = methods.create("t3sc.small", bands=6, **TINY)
    net = m.build_network()
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(0, 3, 16), torch.linspace(0, 3, 16), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(xx + yy)).expand(4, 6, 16, 16) * torch.linspace(0.7, 1, 6).view(1, 6, 1, 1)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(m.training_loss(net, noisy, clean))
    for _ in range(15):
        opt.zero_grad()
        loss = m.training_loss(net, noisy, clean)
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(m.training_loss(net, noisy, clean)) < 0.7 * first


def test_noise_level_estimator_option() -> None:
    net = T3SCNet(6, estimator=True, **TINY).eval()
    assert _count(net) > _count(T3SCNet(6, **TINY))
    x = torch.rand(1, 6, 20, 20)
    assert net(x).shape == x.shape and 0 < net.last_info["band_weight_min"] <= 1


def test_band_mismatch_is_data_error() -> None:
    m = methods.create("t3sc.small", bands=6, **TINY)
    with pytest.raises(DataError, match="input has 5 bands, fewer than the 6"):
        m.apply_network(m.build_network(), torch.rand(1, 5, 8, 8))


@pytest.mark.parametrize("clamp,expected,margin", [(True, 1.0, 0), (False, 1.2, 0), (False, 1.2, 5), (True, 1.0, 50)])
def test_output_clamping(tmp_path: Path, clamp: bool, expected: float, margin: int) -> None:
    """A constant cube passes through T3SC unchanged, so a value above 1 shows whether outputs are clamped."""
    m = methods.create("t3sc.small", bands=6, **TINY)
    path = tmp_path / "c.pt"
    save_checkpoint(path, m.build_network().state_dict(), m.manifest_base())
    run = methods.create("t3sc.small", bands=6, checkpoint=str(path), clamp=clamp, margin=margin, tile=16,
                         overlap=4, **TINY)
    out = run.denoise(np.full((10, 9, 6), 1.2, dtype=np.float32), device="cpu")
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert run.last_info["clamped"] is clamp and run.last_info["checkpoint"]["name"] == "c"


@pytest.mark.parametrize("name", [n for n in methods.registry.names() if n.split(".")[0] == "t3sc"])
def test_shipped_checkpoint_denoises(name: str) -> None:
    """A shipped T3SC checkpoint must clearly improve a held-out test crop under heavy non-i.i.d. noise."""
    if not (CHECKPOINT_DIR / f"{name}.pt").is_file():
        pytest.skip(f"no checkpoint shipped for {name}")
    image = datasets.load("scenes31", split="test")[0]
    crop = HSImage(id=image.id, clean=np.ascontiguousarray(center_crop(image.clean, 32)))
    sample = noisy_input("scenes31", crop, noise.create("noniid-55"), 0)
    out = methods.create(name).denoise(sample.noisy, device="cpu")

    def psnr(est: np.ndarray) -> float:
        mse = ((est.astype(np.float64) - crop.clean) ** 2).mean(axis=(0, 1))
        return float(np.mean(10 * np.log10(1 / mse)))

    assert psnr(out) > psnr(sample.noisy) + 5.0
