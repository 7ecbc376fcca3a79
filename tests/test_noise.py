"""Noise library: determinism, purity and per-model facts from SPEC section 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import noise
from bench.errors import DataError, UsageError
from noise._models import Structured

NAMES = noise.registry.names()
SHAPE = (24, 20, 31)


def _clean(shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, size=shape).astype(np.float32)


def _sample(name: str, seed: int = 1, clean: np.ndarray | None = None, **params) -> noise.NoiseSample:
    return noise.create(name, **params).sample(_clean() if clean is None else clean, np.random.default_rng(seed))


def _structured(name: str) -> bool:
    return issubclass(noise.registry.get(name).obj, Structured)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes_other_seed_differs(name):
    a, b, c = _sample(name, 7), _sample(name, 7), _sample(name, 8)
    assert a.noisy.tobytes() == b.noisy.tobytes()
    assert a.info == b.info
    assert a.noisy.tobytes() != c.noisy.tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_clean_untouched_and_output_contract(name):
    clean = _clean()
    copy = clean.copy()
    s = _sample(name, clean=clean)
    np.testing.assert_array_equal(clean, copy)
    assert s.noisy.dtype == np.float32 and s.noisy.shape == clean.shape
    assert np.isfinite(s.noisy).all()
    assert s.sigma.shape == (clean.shape[2],) and (s.sigma >= 0).all()
    assert not np.array_equal(s.noisy, clean)
    json.dumps(s.info)


@pytest.mark.parametrize("name", NAMES)
def test_no_clipping(name):
    clean = np.full((16, 16, 9), 0.98, dtype=np.float32)
    s = _sample(name, clean=clean)
    assert s.noisy.max() > 1.0


@pytest.mark.parametrize("name", [n for n in NAMES if not _structured(n)])
def test_gaussian_residual_matches_sigma(name):
    clean = _clean((64, 64, 8))
    s = _sample(name, clean=clean)
    std = (s.noisy - clean).reshape(-1, 8).std(axis=0)
    np.testing.assert_allclose(std, s.sigma, rtol=0.05, atol=2e-4)


def test_corr_sigma_curve_matches_spec():
    s = _sample("corr", clean=_clean((8, 8, 31)))
    sig = s.sigma * 255
    assert sig[0] == pytest.approx(1.83, abs=0.005)
    assert sig.max() == pytest.approx(23.02, abs=0.005)
    assert sig.mean() == pytest.approx(12.53, abs=0.005)
    np.testing.assert_array_equal(sig, _sample("correlated", clean=_clean((8, 8, 31))).sigma * 255)


@pytest.mark.parametrize("smax", [15, 55, 95])
def test_noniid_sigma_within_range(smax):
    sig = np.concatenate([_sample(f"noniid-{smax}", seed).sigma for seed in range(5)]) * 255
    assert sig.min() >= 0 and sig.max() <= smax
    assert sig.max() > 0.7 * smax and len(np.unique(sig)) == len(sig)


def test_qrnn3d_levels_and_blind():
    sig = np.round(_sample("noniid").sigma * 255, 6)
    assert set(sig) <= {10, 30, 50, 70} and len(set(sig)) > 1
    blind = _sample("blind").sigma * 255
    assert np.all(blind == blind[0]) and 10 <= blind[0] <= 70
    assert np.allclose(_sample("gauss-50").sigma * 255, 50)
    assert np.allclose(_sample("stripes").sigma * 255, 25)


@pytest.mark.parametrize("name", [n for n in NAMES if _structured(n)])
def test_structured_info_consistent_with_cube(name):
    clean = _clean()
    model = noise.create(name, p=1.0) if name == "blind-mix" else noise.create(name)
    s = model.sample(clean, np.random.default_rng(3))
    h, w, b = clean.shape
    size = int(0.33 * b) if name == "stripes" else b // 3
    kinds = model.kinds()
    assert sorted(k for k in s.info if k != "applied") == sorted(kinds)
    groups = [s.info[k]["bands"] for k in kinds]
    assert all(len(g) == size for g in groups)
    assert len(set().union(*map(set, groups))) == size * len(kinds)
    resid = s.noisy - clean
    if "deadline" in s.info:
        for band, cols in zip(s.info["deadline"]["bands"], s.info["deadline"]["columns"]):
            assert 1 <= len(cols) and np.all(s.noisy[:, cols, band] == 0)
            others = np.setdiff1d(np.arange(w), cols)
            assert np.all(s.noisy[:, others, band] != 0)
    if "stripe" in s.info:
        for band, cols in zip(s.info["stripe"]["bands"], s.info["stripe"]["columns"]):
            col_shift = resid[:, :, band].mean(axis=0)
            others = np.setdiff1d(np.arange(w), cols)
            gauss = s.sigma[band] / np.sqrt(h)
            assert np.all(np.abs(col_shift[others]) < 5 * gauss + 1e-6)
            assert np.abs(col_shift[cols]).max() <= 0.25 + 5 * gauss
            assert len(cols) >= 1
    if "impulse" in s.info:
        for band, ratio, flipped in zip(*(s.info["impulse"][k] for k in ("bands", "ratios", "flipped"))):
            extreme = int(np.isin(s.noisy[:, :, band], (0.0, 1.0)).sum())
            assert extreme >= flipped and abs(flipped / (h * w) - ratio) < 0.15
    untouched = sorted(set(range(b)) - set().union(*map(set, groups)))
    assert not np.isin(s.noisy[:, :, untouched], (0.0, 1.0)).any()


@pytest.mark.parametrize("name", ["stripe", "deadline"])
def test_column_count_follows_spec(name):
    clean = _clean((16, 100, 12))
    s = _sample(name, clean=clean)
    counts = [len(c) for c in s.info[name]["columns"]]
    assert all(5 <= n <= 15 for n in counts)


def test_mixture_uses_noniid95_and_qrnn3d_impulse_levels():
    s = _sample("mixture")
    assert (s.sigma * 255 <= 95).all()
    assert set(np.round(s.info["impulse"]["ratios"], 6)) <= {0.1, 0.3, 0.5, 0.7}


def test_bands_parameter_and_too_few_bands():
    s = _sample("stripe", bands=10)
    assert len(s.info["stripe"]["bands"]) == 10
    with pytest.raises(DataError, match="disjoint"):
        _sample("complex-mixture", bands=11)


def test_blind_mix_applies_with_probability_p():
    applied = [_sample("blind-mix", seed).info["applied"] for seed in range(40)]
    assert 5 < sum(applied) < 35
    assert not any(_sample("blind-mix", seed, p=0.0).info["applied"] for seed in range(5))


def test_parse_and_spec_roundtrip():
    model = noise.parse("noniid:smax=95")
    assert model.params["smax"] == 95 and model.spec() == "noniid:smax=95"
    assert noise.parse("stripe:bands=10,cmax=0.2").params == {**noise.create("stripe").params, "bands": 10,
                                                             "cmax": 0.2}
    assert noise.parse(model.spec()).params == model.params


@pytest.mark.parametrize("spec", ["noniid:sigma=3", "noniid:smax", "gauss-30:=4", "noniid-95:smin=50,smax=10",
                                  "mixture:kinds=impulse+fog", "stripe:bands=-1", "blind-mix:p=2",
                                  "noniid:levels=1", "nosuchnoise", "corr:eta=0"])
def test_bad_specs_raise_usage_error(spec):
    with pytest.raises(UsageError):
        noise.parse(spec)


def test_all_is_paper_rows_in_order():
    assert noise.registry.select("all") == ["noniid-15", "noniid-55", "noniid-95", "mixture", "corr"]
    assert noise.registry.select("qrnn3d")[:3] == ["gauss-30", "gauss-50", "gauss-70"]
    assert set(noise.registry.select("t3sc")) == {"constant", "uniform", "correlated", "stripes"}


def test_bad_clean_input_raises_data_error():
    model = noise.create("noniid-95")
    with pytest.raises(DataError):
        model.sample(np.zeros((4, 4), np.float32), np.random.default_rng(0))
    with pytest.raises(DataError):
        model.sample(np.full((4, 4, 3), np.nan, np.float32), np.random.default_rng(0))
