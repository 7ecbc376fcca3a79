"""Tiled and band-split inference: exactness for pointwise maps, closeness for convolutions, odd sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import DataError, UsageError
from bench.tiling import band_groups, band_split_apply, blend_bands, reflect_pad, tile_starts, tiled_apply

SIZES = [(16, 16), (37, 23), (64, 50), (5, 70)]


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("tile,overlap", [(16, 4), (24, 8), (128, 8), (7, 0)])
def test_pointwise_map_is_reproduced_exactly(hw: tuple[int, int], tile: int, overlap: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, *hw, generator=g)
    out = tiled_apply(lambda t: 2.0 * t + 1.0, x, tile=tile, overlap=overlap, batch=3)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, 2.0 * x + 1.0)


def test_numpy_cube_in_numpy_out() -> None:
    cube = np.random.default_rng(1).random((29, 41, 5), dtype=np.float32)
    seen: list[tuple[int, ...]] = []

    def fn(tile: np.ndarray) -> np.ndarray:
        seen.append(tile.shape)
        return np.sqrt(tile)

    out = tiled_apply(fn, cube, tile=16, overlap=4)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == cube.shape
    np.testing.assert_array_equal(out, np.sqrt(cube))
    assert set(seen) == {(16, 16, 5)}


def test_channel_count_may_change() -> None:
    x = torch.rand(1, 4, 30, 30)
    out = tiled_apply(lambda t: t.sum(1, keepdim=True), x, tile=16, overlap=4)
    torch.testing.assert_close(out, x.sum(1, keepdim=True), rtol=0, atol=1e-6)


@pytest.mark.parametrize("hw", [(48, 48), (61, 45)])
def test_conv_net_matches_whole_image(hw: tuple[int, int]) -> None:
    """Tiles of 32 with 12 px overlap vs one pass: differences only from the tile borders' receptive field.

    Tolerance: max abs error < 2e-2 and mean abs error < 2e-3 on inputs in [0, 1] for a 3-layer 3x3 net.
    """
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 6, 3, padding=1))
    x = torch.rand(1, 6, *hw)
    with torch.no_grad():
        whole = net(x)
        tiled = tiled_apply(net, x, tile=32, overlap=12)
    err = (whole - tiled).abs()
    assert err.max() < 2e-2 and err.mean() < 2e-3
    # the centre of the first tile (far from every tile border) is exact up to float rounding
    torch.testing.assert_close(tiled[..., 4:10, 4:10], whole[..., 4:10, 4:10], rtol=0, atol=1e-5)


def test_tile_larger_than_image_pads_and_crops() -> None:
    calls: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(t.shape))
        return t * 3

    x = torch.rand(1, 2, 9, 13)
    out = tiled_apply(fn, x, tile=64, overlap=8)
    assert calls == [(1, 2, 64, 64)]
    assert torch.equal(out, x * 3)


def test_reflect_pad_larger_than_image() -> None:
    x = torch.arange(3.0).reshape(1, 1, 1, 3)
    out = reflect_pad(x, 2, 8)
    assert out.shape == (1, 1, 2, 8)
    assert out[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 1, 2, 1]


def test_tile_starts_cover_with_overlap() -> None:
    for length in range(16, 90):
        starts = tile_starts(length, 16, 5)
        assert starts[0] == 0 and starts[-1] == length - 16
        assert all(b - a <= 11 for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("tile,overlap", [(0, 0), (8, 8), (8, -1)])
def test_bad_tiling_is_usage_error(tile: int, overlap: int) -> None:
    with pytest.raises(UsageError, match="tile"):
        tiled_apply(lambda t: t, torch.rand(1, 1, 8, 8), tile=tile, overlap=overlap)


def test_wrong_output_shape_is_data_error() -> None:
    with pytest.raises(DataError, match="fn returned shape"):
        tiled_apply(lambda t: t[..., :-1], torch.rand(1, 1, 20, 20), tile=8, overlap=2)


@pytest.mark.parametrize("total,group,overlap", [(31, 31, 4), (46, 31, 8), (210, 31, 6), (200, 46, 0)])
def test_band_groups_cover_every_band(total: int, group: int, overlap: int) -> None:
    groups = band_groups(total, group, overlap)
    assert all(g.stop - g.start == group for g in groups)
    covered = np.zeros(total, int)
    for g in groups:
        covered[g] += 1
    assert covered.min() >= 1 and groups[0].start == 0 and groups[-1].stop == total
    assert all(a.stop - b.start >= overlap for a, b in zip(groups, groups[1:]))


def test_band_groups_too_few_bands() -> None:
    with pytest.raises(DataError, match="cannot split 20 band"):
        band_groups(20, 31, 4)


def test_band_split_apply_tensor_and_array() -> None:
    x = torch.rand(2, 50, 6, 5)
    out = band_split_apply(lambda t: t * 2 - 1, x, group=31, overlap=6)
    torch.testing.assert_close(out, x * 2 - 1, rtol=0, atol=1e-6)
    cube = np.random.default_rng(0).random((6, 5, 50)).astype(np.float32)
    out_np = band_split_apply(lambda a: a + 0.5, cube, group=20, overlap=3)
    assert out_np.dtype == np.float32
    np.testing.assert_allclose(out_np, cube + 0.5, atol=1e-6)


def test_blend_bands_weights_overlap_smoothly() -> None:
    groups = band_groups(10, 6, 2)
    parts = [torch.zeros(1, 6, 1, 1), torch.ones(1, 6, 1, 1)]
    out = blend_bands(parts, groups, 10, overlap=2, axis=1).flatten()
    assert out[0] == 0 and out[-1] == 1
    assert bool((out[1:] >= out[:-1]).all())


def test_edge_pad_keeps_a_regular_grid_over_an_edge_padded_input() -> None:
    """edge="pad": tiles start at multiples of the step and the input is extended by its last row/column
    (as read_HSI-style evaluation does), so with overlap 0 every pixel is denoised exactly once."""
    assert tile_starts(200, 128, 0, edge="pad") == [0, 128]
    assert tile_starts(256, 128, 16, edge="pad") == [0, 112, 224]
    assert tile_starts(100, 128, 0, edge="pad") == [0]
    x = torch.arange(2 * 3 * 40 * 50, dtype=torch.float64).reshape(2, 3, 40, 50)
    seen: list[torch.Tensor] = []

    def record(tiles: torch.Tensor) -> torch.Tensor:
        seen.append(tiles.clone())
        return tiles * 2

    out = tiled_apply(record, x, tile=32, overlap=0, edge="pad")
    torch.testing.assert_close(out, 2 * x)
    assert [t.shape[-2:] for t in seen] == [torch.Size([32, 32])] * 4
    last = seen[-1]  # rows 32..63 and columns 32..63 of the padded input
    torch.testing.assert_close(last[..., 8:, :], last[..., 7:8, :].expand_as(last[..., 8:, :]))
    torch.testing.assert_close(last[..., :, 18:], last[..., :, 17:18].expand_as(last[..., :, 18:]))


def test_edge_pad_band_groups_repeat_the_last_band() -> None:
    groups = band_groups(40, 31, 0, edge="pad")
    assert groups == [slice(0, 31), slice(31, 62)]
    x = np.random.default_rng(0).random((4, 4, 40))
    parts: list[np.ndarray] = []

    def centred(g: np.ndarray) -> np.ndarray:
        parts.append(g)
        return g - g.mean(axis=-1, keepdims=True)

    out = band_split_apply(centred, x, group=31, overlap=0, edge="pad")
    assert out.shape == x.shape and len(parts) == 2
    np.testing.assert_array_equal(parts[1][..., 9:], np.repeat(x[..., -1:], 22, axis=-1))
    np.testing.assert_allclose(out[..., 31:], parts[1][..., :9] - parts[1].mean(axis=-1, keepdims=True))
    with pytest.raises(UsageError, match="edge must be one of"):
        band_split_apply(centred, x, group=31, overlap=0, edge="reflect")
