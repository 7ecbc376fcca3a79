"""DECSC: solvers, gradients, layer operators, band-splitting and the registered configurations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import methods
from bench.errors import BenchError, DataError, UsageError
from methods.decsc.deq import DEQ
from methods.decsc.layers import DIFFERENCE_OPERATORS, DifferenceConv3d, SwinProx
from methods.decsc.network import DECSCLayer
from methods.decsc.solvers import SOLVERS, anderson, fixed_point, relative_residual
from methods.trainable import CHECKPOINT_DIR, save_checkpoint

DECSC_NAMES = [n for n in methods.registry.names()
               if (n == "decsc" or n.startswith("decsc.")) and not n.startswith("decsc.mamba")]
TINY = dict(bands=6, gic_atoms=4, gic_kernel=3, lsu_atoms=2, lsu_kernel=[3, 3], swin_blocks=1, swin_heads=2,
            max_iter=4, phantom_steps=1, fail_bound=1e9, tile=16, overlap=4, band_overlap=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def _linear_problem(seed: int = 0, n: int = 2, d: int = 40, rho: float = 0.9):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(0.0, rho, d, dtype=torch.float64)) @ q.T
    b = torch.randn(n, d, generator=gen, dtype=torch.float64)
    z_star = torch.linalg.solve(torch.eye(d, dtype=torch.float64) - a, b.T).T
    return (lambda z: z @ a.T + b), b, z_star


def _contractive_layer(bands: int = 4, c: float = 0.7) -> DECSCLayer:
    """A tiny DECSC layer made contractive: near-identity dictionaries of gain c, LSU codes thresholded off."""
    torch.manual_seed(0)
    layer = DECSCLayer(bands=bands, gic_atoms=bands, gic_kernel=3, lsu_atoms=1, lsu_kernel=(3, 3), swin_blocks=2,
                       swin_heads=2)
    with torch.no_grad():
        k = 0.02 * torch.randn(bands, bands, 3, 3)
        k[range(bands), range(bands), 1, 1] += c
        layer.K.weight = k
        layer.W_K.weight = k.clone()
        d = 0.02 * torch.randn(1, 1, 3, 3, 3)
        d[0, 0, 1, 1, 1] += c
        layer.D.weight = d
        layer.W_D.weight = d.clone()
        layer.soft2.theta.fill_(2.0)
    return layer


def test_anderson_solves_linear_contraction_faster_than_iteration():
    f, b, z_star = _linear_problem()
    z, info = anderson(f, torch.zeros_like(b), max_iter=300, tol=1e-9)
    z_fp, info_fp = fixed_point(f, torch.zeros_like(b), max_iter=300, tol=1e-9)
    assert info["converged"] and info_fp["converged"]
    assert torch.allclose(z, z_star, atol=1e-6) and torch.allclose(z_fp, z_star, atol=1e-6)
    assert info["iterations"] * 2 <= info_fp["iterations"]


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solver_state_satisfies_tolerance_and_reports(name):
    f, b, _ = _linear_problem(seed=1, rho=0.6)
    z, info = SOLVERS[name](f, torch.zeros_like(b), max_iter=100, tol=1e-4)
    assert relative_residual(z, f(z)) <= 1e-4
    assert info["converged"] and info["solver"] == name
    assert info["iterations"] == len(info["residual_trace"]) and info["relative_residual"] <= 1e-4


def test_singular_anderson_system_falls_back_to_damped_iteration():
    shift = torch.ones(1, 8)
    z, info = anderson(lambda z: z + shift, torch.zeros(1, 8), max_iter=5, tol=1e-3, lam=0.0)
    assert info["fallbacks"] > 0 and torch.isfinite(z).all() and not info["converged"]


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_nonfinite_state_is_nonconvergence(name):
    z, info = SOLVERS[name](lambda z: z * float("nan"), torch.ones(1, 4), max_iter=5, tol=1e-3)
    assert not info["converged"] and not info["finite"] and info["iterations"] == 1


def test_deq_raises_at_inference_and_warns_in_training_on_nonfinite_state():
    layer = _contractive_layer()
    with torch.no_grad():
        layer.soft1.theta.fill_(float("nan"))
    net = DEQ(layer, max_iter=4, train_max_iter=4)
    y = torch.rand(1, 4, 8, 8)
    with pytest.raises(BenchError, match="non-finite"), torch.no_grad():
        net.eval()(y)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        net.train()(y)
    assert net.last_info["converged"] is False


def test_deq_state_satisfies_tolerance_on_contractive_layer():
    layer = _contractive_layer()
    y = torch.rand(2, 4, 8, 8)
    net = DEQ(layer, tol=1e-5, max_iter=50, eval_unroll=False).eval()
    with torch.no_grad():
        out = net(y)
        z, _ = anderson(lambda z: layer(z, y), layer.init_state(y), max_iter=50, tol=1e-5)
        assert relative_residual(z, layer(z, y)) <= 1e-5
    assert net.last_info["converged"] and net.last_info["relative_residual"] <= 1e-5
    assert torch.allclose(out, layer.reconstruct(z, y))


def test_phantom_and_implicit_gradients_agree_in_direction():
    layer = _contractive_layer()
    y = torch.rand(2, 4, 8, 8)
    target = y.flip(-1)
    grads = {}
    for gradient in ("phantom", "implicit"):
        net = DEQ(layer, gradient=gradient, max_iter=100, train_max_iter=100, tol=1e-7).train()
        layer.zero_grad()
        ((net(y) - target) ** 2).sum().backward()
        grads[gradient] = torch.cat([p.grad.flatten() for p in layer.parameters() if p.grad is not None])
    a, b = grads["phantom"], grads["implicit"]
    assert float(a @ b / (a.norm() * b.norm())) >= 0.9


def _hand_difference(x: np.ndarray, name: str) -> np.ndarray:
    """Expected output of each operator with a unit weight at its centre (all-ones for ``central``)."""
    p = np.pad(x, 1)
    c = p[1:-1, 1:-1, 1:-1]
    if name == "plain":
        return c
    if name == "central":
        total = sum(p[i:i + x.shape[0], j:j + x.shape[1], k:k + x.shape[2]]
                    for i in range(3) for j in range(3) for k in range(3))
        return total - 27 * c
    if name == "band":
        return p[:-2, 1:-1, 1:-1] - p[2:, 1:-1, 1:-1]
    if name == "vertical":
        return p[1:-1, :-2, 1:-1] - p[1:-1, 2:, 1:-1]
    return p[1:-1, 1:-1, :-2] - p[1:-1, 1:-1, 2:]


@pytest.mark.parametrize("name", DIFFERENCE_OPERATORS)
def test_difference_operators_match_hand_computed_differences(name):
    conv = DifferenceConv3d(1, operators=(name,))
    with torch.no_grad():
        w = conv.weights[name]
        if name == "central":
            w.fill_(1.0)
        else:
            w.zero_()
            w[(0, 0) + (1,) * (w.ndim - 2)] = 1.0
    x = np.random.default_rng(0).random((5, 6, 7))
    out = conv(torch.from_numpy(x).float()[None, None])[0, 0].detach().numpy()
    np.testing.assert_allclose(out, _hand_difference(x, name), atol=1e-5)


def test_swin_prox_accepts_sizes_that_do_not_tile_the_window():
    prox = SwinProx(8, blocks=2, heads=2, window=4)
    with torch.no_grad():
        prox.gamma.fill_(1.0)
        s = torch.randn(1, 8, 10, 7)
        assert prox(s).shape == s.shape


def test_swin_norm_floor_bounds_the_prox_gain_on_small_codes():
    """LayerNorm's Jacobian grows as 1 / std of its input; a larger ``swin_eps`` floors it, so small codes
    (dark images) no longer make the prox, and the equilibrium map, expansive."""
    gains = {}
    for eps in (1e-5, 1e-2):
        torch.manual_seed(0)
        prox = SwinProx(8, blocks=1, heads=2, window=4, norm_eps=eps)
        with torch.no_grad():
            prox.gamma.fill_(1.0)
        s = 1e-3 * torch.randn(1, 8, 8, 8)
        v = torch.randn_like(s)
        _, jv = torch.autograd.functional.jvp(prox, s, v)
        gains[eps] = float(jv.norm() / v.norm())
    assert gains[1e-5] > 20 * gains[1e-2], gains


def test_checkpoint_predating_a_setting_counts_as_its_default(tmp_path):
    """A manifest written before ``swin_eps`` existed loads where the default is configured, not elsewhere."""
    m = methods.create("decsc.small", **TINY)
    torch.manual_seed(0)
    base = m.manifest_base()
    base["arch"].pop("swin_eps")
    save_checkpoint(tmp_path / "old.pt", m.build_network().state_dict(), base)
    methods.create("decsc.small", **{**TINY, "swin_eps": 1e-5, "checkpoint": str(tmp_path / "old.pt")}).network("cpu")
    with pytest.raises(DataError, match=r"swin_eps=1e-05 vs 0.01"):
        methods.create("decsc.small", **{**TINY, "swin_eps": 1e-2, "checkpoint": str(tmp_path / "old.pt")}).network("cpu")


def _tiny_method(tmp_path, **over):
    m = methods.create("decsc.small", **{**TINY, "checkpoint": str(tmp_path / "tiny.pt"), **over})
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "tiny.pt", m.build_network().state_dict(), m.manifest_base())
    return m


def test_band_splitting_shape_and_whole_cube_equivalence(tmp_path):
    m = _tiny_method(tmp_path)
    rng = np.random.default_rng(0)
    cube = rng.random((16, 16, 6)).astype(np.float32)
    out = m.denoise(cube, device="cpu")
    with torch.no_grad():
        net = m.network(torch.device("cpu"))
        direct = net(torch.from_numpy(cube.transpose(2, 0, 1)[None].copy()))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, direct, atol=1e-6)
    assert m.last_info["band_split"] is False

    wide = rng.random((16, 16, 10)).astype(np.float32)
    out = m.denoise(wide, device="cpu")
    assert out.shape == wide.shape and np.isfinite(out).all()
    assert m.last_info["band_split"] is True and m.last_info["band_groups"] == 2
    with pytest.raises(DataError, match="fewer than"):
        m.denoise(rng.random((16, 16, 4)).astype(np.float32), device="cpu")


def test_convergence_trace_recorded_with_monitor(tmp_path):
    m = _tiny_method(tmp_path)
    cube = np.random.default_rng(1).random((16, 16, 6)).astype(np.float32)
    m.monitor = lambda est: float(est.mean())
    m.denoise(cube, device="cpu")
    trace = m.last_info["psnr_trace"]
    assert len(trace) == len(m.last_info["residual_trace"]) == m.last_info["iterations"] == TINY["max_iter"]


@pytest.mark.parametrize("name", DECSC_NAMES)
def test_registered_configurations_build(name):
    entry = methods.registry.get(name)
    assert entry.meta["family"] == "hybrid" and entry.meta["trainable"]
    m = methods.create(name)
    layer = m.build_network().layer
    assert (layer.net1.__class__.__name__ == "Identity") == (not m.params["swin"])
    assert (layer.net2.dconv is None) == (not m.params["dconv"])
    assert (layer.net2.att is None) == (not m.params["attention"])


def test_paper_size_parameter_count_and_missing_checkpoint():
    m = methods.create("decsc")
    n = sum(p.numel() for p in m.build_network().parameters())
    assert 3.5e6 < n < 4.6e6  # paper Table IV: 4.29 M with Swin
    if not (CHECKPOINT_DIR / "decsc.pt").is_file():
        with pytest.raises(UsageError, match="no checkpoint shipped for decsc"):
            m.denoise(np.zeros((8, 8, 31), np.float32), device="cpu")


@pytest.mark.parametrize("param,value", [("solver", "newton"), ("gradient", "exact")])
def test_unknown_solver_or_gradient_is_usage_error(param, value):
    with pytest.raises(UsageError, match=value):
        methods.create("decsc.small", **{param: value}).build_network()


@pytest.mark.parametrize("name", ["decsc.small", "decsc.mamba.small"])
def test_shipped_small_checkpoint_denoises(name):
    if not (CHECKPOINT_DIR / f"{name}.pt").is_file():
        pytest.skip(f"{name} checkpoint not shipped")
    import noise

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:24] / 24.0
    clean = np.stack([0.3 + 0.3 * np.sin(3 * xx + b / 10) * np.cos(2 * yy) for b in range(31)], -1)
    clean = clean.astype(np.float32)
    noisy = noise.create("noniid-55")(clean, rng)
    m = methods.create(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = m.denoise(noisy, device="cpu")
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)
    assert m.last_info["iterations"] >= 1 and "checkpoint" in m.last_info


def test_warm_start_and_post_plain_count_f_evaluations():
    layer = _contractive_layer()
    y = torch.rand(1, 4, 8, 8)
    net = DEQ(layer, tol=1e-5, max_iter=50, warm_start=True, post_plain=True, phantom_steps=5).eval()
    with torch.no_grad():
        net(y)
    info = net.last_info
    assert info["converged"] and info["warm_start"] is True
    assert info["f_evals"] == info["iterations"] + 1 + 1 + 5


def test_post_plain_step_carries_the_gradient_to_the_layer():
    layer = _contractive_layer()
    y = torch.rand(1, 4, 8, 8)
    net = DEQ(layer, tol=1e-6, max_iter=50, train_max_iter=50, post_plain=True, phantom_steps=1).train()
    (net(y) ** 2).sum().backward()
    assert layer.W_K.parametrizations.weight.original.grad is not None


def test_jacobian_penalty_is_drawn_in_training_and_differentiable():
    layer = _contractive_layer()
    y = torch.rand(2, 4, 8, 8)
    m = methods.create("decsc.small", **{**TINY, "bands": 4, "jac_weight": 3.0, "post_plain": True})
    net = DEQ(layer, tol=1e-6, max_iter=50, train_max_iter=50, post_plain=True, jac_weight=3.0).train()
    plain = ((net(y) - y) ** 2).sum() / 2
    assert net.jac_loss is not None and float(net.jac_loss) > 0
    loss = m.training_loss(net, y, y)
    assert float(loss) == pytest.approx(float(plain) + 3.0 * float(net.jac_loss), rel=1e-4)
    (g,) = torch.autograd.grad(net.jac_loss, [layer.soft1.theta], allow_unused=True)
    assert g is not None and torch.isfinite(g).all()
    stats = m.train_stats(net)
    assert set(stats) == {"f_evals", "residual", "converged", "jac"}
    with torch.no_grad():
        net.eval()(y)
    assert net.jac_loss is None


def test_jacobian_penalty_of_a_linear_map_estimates_its_frobenius_norm():
    """For f(z) = a z + b the penalty is an unbiased estimate of ||a||_F^2 / d."""
    class _Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(torch.eye(16) * 0.5)

        def init_state(self, y):
            return torch.zeros_like(y)

        def forward(self, z, y):
            return z @ self.a.T + y

        def reconstruct(self, z, y):
            return z

    net = DEQ(_Linear(), max_iter=100, train_max_iter=100, tol=1e-6, post_plain=True, jac_weight=1.0).train()
    torch.manual_seed(0)
    values = []
    for _ in range(200):
        net(torch.rand(8, 16))
        values.append(float(net.jac_loss))
    assert float(np.mean(values)) == pytest.approx(0.25, rel=0.05)


def test_jacobian_options_are_validated():
    with pytest.raises(UsageError, match="jac_weight"):
        DEQ(_contractive_layer(), jac_weight=-1.0)
    with pytest.raises(UsageError, match="jac_freq"):
        DEQ(_contractive_layer(), jac_freq=0)


def test_shipped_small_checkpoint_denoises_off_its_training_domain():
    """On a cube unlike scenes31's (scenes-rs, 31 short-wave-infrared bands) decsc.small still removes noise."""
    if not (CHECKPOINT_DIR / "decsc.small.pt").is_file():
        pytest.skip("decsc.small checkpoint not shipped")
    import noise
    from bench import datasets
    from bench.arrays import center_crop
    from bench.cells import noisy_input
    from bench.datasets.base import HSImage
    from bench.metrics import evaluate

    image = next(iter(datasets.load("scenes-rs", split="test")))
    clean = np.ascontiguousarray(center_crop(image.clean, 40)[..., 59:90])
    sample = noisy_input("scenes-rs", HSImage(image.id, clean), noise.create("noniid-95"), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = methods.create("decsc.small").denoise(sample.noisy, sigma=sample.sigma, device="cpu")
    noisy_psnr = evaluate(clean, sample.noisy, names=("psnr",))["psnr"]
    assert evaluate(clean, est, names=("psnr",))["psnr"] > noisy_psnr + 10.0



def test_step_control_caps_the_gain_and_keeps_the_synthesis():
    torch.manual_seed(0)
    layer = DECSCLayer(bands=4, gic_atoms=6, gic_kernel=3, lsu_atoms=2, lsu_kernel=(3, 3), swin_blocks=1,
                       swin_heads=2, dict_norm=1.0)
    with torch.no_grad():
        layer.W_K.parametrizations.weight.original.mul_(3.0)
    s = torch.rand(1, 6, 8, 8)
    before = layer.K(s).clone()
    gains = layer.control_steps(1.0)
    assert gains["gic"] > 1.5
    after = layer.control_steps(1.0)
    assert after["gic"] == pytest.approx(1.0, rel=0.05) and after["lsu"] <= 1.0 + 1e-3
    assert torch.equal(layer.K(s), before)


def test_after_step_applies_step_control_only_when_asked():
    m = methods.create("decsc.small", **{**TINY, "step_control": 0.5})
    net = m.build_network()
    with torch.no_grad():
        net.layer.W_K.parametrizations.weight.original.mul_(4.0)
    m.after_step(net)
    assert net.layer.control_steps(10.0)["gic"] <= 0.5 * 1.05
    plain = methods.create("decsc.small", **TINY)
    net2 = plain.build_network()
    w = net2.layer.W_K.weight.clone()
    plain.after_step(net2)
    assert torch.equal(net2.layer.W_K.weight, w)


@pytest.mark.parametrize("debias", [False, True])
def test_debias_undoes_the_elastic_net_shrinkage_of_a_tight_frame(debias):
    """With W K = I and no thresholds or priors the fixed point reconstructs y / (1 + shrink); ``debias``
    scales the synthesis back, so the same contraction then returns y itself."""
    from methods.decsc.network import DECSCLayer

    bands, atoms, shrink = 4, 8, 0.7
    layer = DECSCLayer(bands=bands, gic_atoms=atoms, gic_kernel=1, lsu_atoms=2, lsu_kernel=(3, 3), swin=False,
                       dconv=False, attention=False, threshold=0.0, shrink=shrink, debias=debias)
    q, _ = torch.linalg.qr(torch.randn(atoms, bands, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        layer.K.weight = q[:, :, None, None].clone()
        layer.W_K.weight = q[:, :, None, None].clone()
        layer.D.weight = torch.zeros_like(layer.D.weight)
        layer.W_D.weight = torch.zeros_like(layer.W_D.weight)
        y = torch.rand(1, bands, 6, 5)
        z = layer.init_state(y)
        for _ in range(60):
            z = layer(z, y)
        x = layer.reconstruct(z, y)
    expected = y if debias else y / (1.0 + shrink)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)


def test_frame_defect_is_zero_for_a_tight_pair_and_grows_with_its_distance():
    """||(A W - I) v||^2 / ||v||^2: 0 for A W = I, (1 - c^2)^2 when both copies are c times the identity."""
    bands = 4
    layer = DECSCLayer(bands=bands, gic_atoms=bands, gic_kernel=1, lsu_atoms=2, lsu_kernel=(3, 3), swin=False,
                       dconv=False, attention=False)
    eye = torch.eye(bands)[:, :, None, None]
    y = torch.rand(2, bands, 8, 8)
    with torch.no_grad():
        layer.K.weight = eye.clone()
        layer.W_K.weight = eye.clone()
        layer.D.weight = torch.zeros_like(layer.D.weight)
        layer.W_D.weight = torch.zeros_like(layer.W_D.weight)
        assert float(layer.frame_defect(y)) == pytest.approx(0.0, abs=1e-12)
        layer.K.weight = 0.5 * eye
        layer.W_K.weight = 0.5 * eye
        assert float(layer.frame_defect(y)) == pytest.approx(0.75 ** 2, rel=1e-5)


def test_frame_penalty_enters_the_training_loss_and_reaches_the_dictionaries():
    y = torch.rand(2, 4, 8, 8)
    penalised = methods.create("decsc.small", **{**TINY, "bands": 4, "frame_weight": 2.0})
    plain = methods.create("decsc.small", **{**TINY, "bands": 4})
    net = DEQ(_contractive_layer(), tol=1e-6, max_iter=30, train_max_iter=30).train()
    base = float(plain.training_loss(net, y, y).detach())
    assert net.frame_loss is None and "frame" not in plain.train_stats(net)
    loss = penalised.training_loss(net, y, y)
    assert net.frame_loss is not None
    defect = float(net.frame_loss.detach())
    assert defect > 0
    assert float(loss.detach()) == pytest.approx(base + 2.0 * defect, rel=1e-5)
    (g,) = torch.autograd.grad(net.frame_loss, [net.layer.K.parametrizations.weight.original])
    assert float(g.abs().sum()) > 0
    assert penalised.train_stats(net)["frame"] == pytest.approx(defect)


def test_negative_frame_weight_is_refused():
    with pytest.raises(UsageError, match="frame_weight"):
        methods.create("decsc.small", **{**TINY, "frame_weight": -1.0})


@pytest.mark.parametrize("padding", [(0, 0, 0), (1, 2, 2)])
def test_gradient_free_3d_synthesis_equals_the_transposed_convolution(padding):
    """The grouped form used without a graph is the same operator as the one trained through."""
    from methods.decsc.layers import synthesise_3d

    torch.manual_seed(0)
    dic = torch.nn.ConvTranspose3d(6, 1, (3, 5, 5), padding=padding, bias=False)
    codes = torch.randn(2, 6, 7, 12, 11)
    with torch.no_grad():
        fast = synthesise_3d(dic, codes)
    trained = synthesise_3d(dic, codes)
    assert trained.requires_grad and not fast.requires_grad
    assert fast.shape == trained.shape == dic(codes)[:, 0].shape
    torch.testing.assert_close(fast, trained.detach(), rtol=1e-5, atol=1e-6)


def test_band_sigma_estimates_each_band_of_gaussian_noise():
    """The torch MAD rule recovers per-band sigmas on a flat cube, as the numpy estimator does."""
    from bench.estimate import estimate_sigma
    from methods.decsc.layers import band_sigma

    sigmas = torch.tensor([0.01, 0.05, 0.2])
    noisy = 0.5 + sigmas[None, :, None, None] * torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    est = band_sigma(noisy)
    assert est.shape == (2, 3, 1, 1)
    torch.testing.assert_close(est[..., 0, 0], sigmas.expand(2, 3), rtol=0.1, atol=0)
    ref = estimate_sigma(noisy[0].permute(1, 2, 0).numpy().astype(np.float64))
    np.testing.assert_allclose(est[0, :, 0, 0].numpy(), ref, rtol=0.1)


def test_noise_gate_is_one_half_at_its_sigma_and_falls_with_the_noise():
    from methods.decsc.layers import NoiseGate

    gate = NoiseGate(sigma=0.05, power=4.0)
    gen = torch.Generator().manual_seed(1)
    w = [float(gate(0.5 + s * torch.randn(1, 1, 128, 128, generator=gen)).detach()) for s in (0.005, 0.05, 0.5)]
    assert w[0] > 0.99 and abs(w[1] - 0.5) < 0.1 and w[2] < 0.01
    with pytest.raises(ValueError, match="sigma and power"):
        NoiseGate(sigma=0.0)


def _plain_layer(**kw) -> DECSCLayer:
    torch.manual_seed(0)
    return DECSCLayer(bands=4, gic_atoms=6, gic_kernel=3, lsu_atoms=2, lsu_kernel=(3, 3), swin_blocks=1,
                      swin_heads=2, shrink=0.7, debias=True, dict_norm=0.7, **kw)


def test_polish_gate_blends_between_the_equilibrium_and_the_polished_reconstruction():
    """Gate 0 gives Eq. (21) unchanged; gate 1 the reconstruction after the plain data steps, which is
    closer to a noise-free input; only a polishing layer has the gate's weights."""
    base, pol = _plain_layer(), _plain_layer(polish=2)
    assert not any(k.startswith("gate.") for k in base.state_dict())
    assert sorted(k for k in pol.state_dict() if k.startswith("gate.")) == ["gate.log_power", "gate.log_sigma"]
    pol.load_state_dict({**base.state_dict(), **{k: v for k, v in pol.state_dict().items() if k.startswith("gate.")}})
    y = torch.rand(1, 4, 12, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z = base.init_state(y)
        for _ in range(30):
            z = base(z, y)
        eq = base.reconstruct(z, y)
        pol.gate.log_sigma.fill_(-30.0)
        torch.testing.assert_close(pol.reconstruct(z, y), eq)
        pol.gate.log_sigma.fill_(30.0)
        polished = pol.reconstruct(z, y)
    assert (polished - y).norm() < 0.9 * (eq - y).norm()
    with pytest.raises(ValueError, match="polish must be >= 0"):
        _plain_layer(polish=-1)


def test_noise_adaptive_threshold_follows_the_noise_level_by_its_exponent():
    from methods.decsc.layers import SIGMA_REF, SoftThreshold

    plain, adaptive = SoftThreshold(3, init=0.2), SoftThreshold(3, init=0.2, noise_adaptive=True)
    x = torch.linspace(-1, 1, 41).reshape(1, 1, 41, 1).expand(1, 3, 41, 1)
    sigma = torch.full((1, 1, 1, 1), 2 * SIGMA_REF)
    torch.testing.assert_close(adaptive(x, sigma), plain(x))          # exponent 0: the plain threshold
    with torch.no_grad():
        adaptive.exponent.fill_(1.0 / adaptive.EXPONENT_UNIT)
    torch.testing.assert_close(adaptive(x, sigma), SoftThreshold(3, init=0.4)(x))   # twice the noise, twice
    with pytest.raises(ValueError, match="needs the noise level"):
        adaptive(x)


def test_noise_thresholds_start_as_the_plain_layer_and_follow_each_band():
    """With zero exponents the layer is the plain one; with exponent 1 a band with more noise keeps fewer
    3-D codes, and only the adaptive layer has the exponents."""
    base, adaptive = _plain_layer(), _plain_layer(noise_thresholds=True)
    assert sorted(set(adaptive.state_dict()) - set(base.state_dict())) == ["soft1.exponent", "soft2.exponent"]
    adaptive.load_state_dict({**base.state_dict(), **{k: v for k, v in adaptive.state_dict().items()
                                                      if k.endswith("exponent")}})
    gen = torch.Generator().manual_seed(3)
    y = 0.5 + torch.rand(1, 4, 12, 12, generator=gen) * 0.1
    y[:, 2:] += 0.3 * torch.randn(1, 2, 12, 12, generator=gen)
    with torch.no_grad():
        z = base.init_state(y) + 0.05 * torch.randn(1, base.state_size(y), generator=gen)
        torch.testing.assert_close(adaptive(z, y), base(z, y))
        adaptive.soft2.exponent.fill_(1.0 / adaptive.soft2.EXPONENT_UNIT)
        adaptive.soft2.theta.fill_(1.0)
        _, hcodes = adaptive.unpack(adaptive(z, y), y)
    kept = (hcodes != 0).float().mean(dim=(0, 1, 3, 4))
    assert float(kept[2:].mean()) < float(kept[:2].mean())
