# Model tests: shapes and behaviour of the MLP and DCGAN GANs (unconditional and
# conditional), the EMA of generator weights, the MLP and conv VAEs, and full training steps
# compared with the same models written in PyTorch (CPU) from identical weights and inputs:
# the losses and every updated parameter must match.
from __future__ import annotations

import numpy as np
import pytest

import minigan
from minigan import nn, optim
from minigan.models import (
    EMA,
    MLPVAE,
    ConvVAE,
    DCGANDiscriminator,
    DCGANGenerator,
    GANTrainer,
    MLPDiscriminator,
    MLPGenerator,
    one_hot,
    sample_labels,
    vae_loss,
)
from minigan.models import vae as vae_module


def test_generator_and_discriminator_shapes():
    G, D = MLPGenerator(), MLPDiscriminator()
    z = minigan.randn(5, 100)
    x = G(z)
    assert x.shape == (5, 784)
    assert float(x.numpy().min()) >= -1 and float(x.numpy().max()) <= 1
    assert D(x).shape == (5, 1)
    # the seed architecture's parameter counts
    assert G.num_parameters() == (100 * 256 + 256) + (256 * 512 + 512) + (512 * 1024 + 1024) + (
        1024 * 784 + 784
    ) + 2 * (256 + 512 + 1024)
    assert D.num_parameters() == (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)


def test_seed_generator_option_has_no_batchnorm():
    G = MLPGenerator(activation="relu", batchnorm=False)
    assert not any("running_mean" in name for name, _ in G.named_buffers())
    with pytest.raises(ValueError, match="activation"):
        MLPGenerator(activation="swish")


def test_gan_step_updates_both_players_and_restores_d():
    G, D = MLPGenerator(hidden=(32, 32)), MLPDiscriminator(hidden=(32,))
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3)
    )
    g_before = [p.numpy().copy() for p in G.parameters()]
    d_before = [p.numpy().copy() for p in D.parameters()]
    stats = trainer.step(minigan.rand(16, 784) * 2 - 1)
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v.item()) for v in stats.values())
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(g_before, G.parameters()))
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(d_before, D.parameters()))
    assert all(p.requires_grad for p in D.parameters())


def test_gan_trainer_rejects_bad_settings():
    G, D = MLPGenerator(hidden=(8,)), MLPDiscriminator(hidden=(8,))
    og, od = optim.Adam(G.parameters()), optim.Adam(D.parameters())
    with pytest.raises(ValueError, match="n_critic"):
        GANTrainer(G, D, og, od, n_critic=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        GANTrainer(G, D, og, od, label_smoothing=1.0)


def test_vae_shapes_and_loss_is_positive():
    model = MLPVAE()
    x = minigan.rand(4, 784)
    logits, mu, logvar = model(x)
    assert logits.shape == (4, 784) and mu.shape == (4, 20) and logvar.shape == (4, 20)
    loss = vae_loss(logits, x, mu, logvar)
    assert loss.shape == () and loss.item() > 0
    assert model.sample(3).shape == (3, 784)
    assert model.reconstruct(x).shape == (4, 784)


# ----- PyTorch parity of whole training steps -------------------------------------------


def _torch_linear(torch, layer):
    lin = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(layer.weight.numpy()))
        lin.bias.copy_(torch.from_numpy(layer.bias.numpy()))
    return lin


def _copy_weights(torch, ours, theirs):
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    return theirs


def _torch_copy(torch, seq):
    """A torch.nn.Sequential with the same layers and weights as a minigan Sequential."""
    layers = []
    for m in seq:
        if isinstance(m, nn.Linear):
            layers.append(_torch_linear(torch, m))
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            cls = torch.nn.BatchNorm1d if isinstance(m, nn.BatchNorm1d) else torch.nn.BatchNorm2d
            layers.append(_copy_weights(torch, m, cls(m.weight.shape[0])))
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            cls = torch.nn.Conv2d if isinstance(m, nn.Conv2d) else torch.nn.ConvTranspose2d
            conv = cls(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                stride=m.stride,
                padding=m.padding,
                bias=m.bias is not None,
            )
            layers.append(_copy_weights(torch, m, conv))
        elif isinstance(m, nn.LeakyReLU):
            layers.append(torch.nn.LeakyReLU(m.negative_slope))
        elif isinstance(m, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, nn.Tanh):
            layers.append(torch.nn.Tanh())
        else:
            raise TypeError(type(m))
    return torch.nn.Sequential(*layers)


def _assert_params_close(mg_module, torch_module, rtol=2e-5, atol=2e-6):
    theirs = [p.detach().numpy() for p in torch_module.parameters()]
    ours = [p.numpy() for p in mg_module.parameters()]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# Parity runs in float64: the biases of Linear layers that feed BatchNorm have a true
# gradient of exactly 0, so in float32 their computed gradients are rounding noise (~1e-10)
# that Adam rescales by lr / (|g| + eps) into differences far above float32 tolerance.
# In float64 the noise is ~1e-17 and every parameter can be compared tightly.
def test_mlp_gan_training_step_matches_pytorch(monkeypatch):
    torch = pytest.importorskip("torch")
    n = 32
    G, D = MLPGenerator().double(), MLPDiscriminator(dropout=0.0).double()
    tG, tD = _torch_copy(torch, G.net).double(), _torch_copy(torch, D.net).double()
    betas = (0.5, 0.999)
    trainer = GANTrainer(
        G,
        D,
        optim.Adam(G.parameters(), lr=2e-4, betas=betas),
        optim.Adam(D.parameters(), lr=2e-4, betas=betas),
        label_smoothing=0.1,
    )
    t_opt_g = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=betas)
    t_opt_d = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=betas)
    rng = np.random.default_rng(1)
    for _ in range(2):  # two steps: the second one exercises Adam's state
        real = rng.uniform(-1, 1, (n, 784))
        z = rng.standard_normal((n, 100))
        monkeypatch.setattr(trainer, "sample_noise", lambda k, device, z=z: minigan.tensor(z))
        stats = trainer.step(minigan.tensor(real))
        # the same step in PyTorch
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        treal = torch.from_numpy(real)
        fake = tG(torch.from_numpy(z))
        t_opt_d.zero_grad()
        d_loss = bce(tD(treal), torch.full((n, 1), 0.9, dtype=torch.float64)) + bce(
            tD(fake.detach()), torch.zeros(n, 1, dtype=torch.float64)
        )
        d_loss.backward()
        t_opt_d.step()
        t_opt_g.zero_grad()
        g_loss = bce(tD(fake), torch.ones(n, 1, dtype=torch.float64))
        g_loss.backward()
        t_opt_g.step()
        np.testing.assert_allclose(stats["d_loss"].item(), d_loss.item(), rtol=1e-10)
        np.testing.assert_allclose(stats["g_loss"].item(), g_loss.item(), rtol=1e-10)
        _assert_params_close(G, tG, rtol=1e-9, atol=1e-12)
        _assert_params_close(D, tD, rtol=1e-9, atol=1e-12)
    # BatchNorm running statistics follow too
    for ours, theirs in zip(
        [m for m in G.net if hasattr(m, "running_mean")],
        [m for m in tG if isinstance(m, torch.nn.BatchNorm1d)],
    ):
        np.testing.assert_allclose(
            ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-10
        )
        np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-10)


def test_mlp_vae_training_step_matches_pytorch(monkeypatch):
    torch = pytest.importorskip("torch")
    n = 16
    model = MLPVAE().double()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    enc = _torch_copy(torch, model.encoder).double()
    t_mu = _torch_linear(torch, model.to_mu).double()
    t_lv = _torch_linear(torch, model.to_logvar).double()
    dec = _torch_copy(torch, model.decoder).double()
    t_params = [*enc.parameters(), *t_mu.parameters(), *t_lv.parameters(), *dec.parameters()]
    t_opt = torch.optim.Adam(t_params, lr=1e-3)
    rng = np.random.default_rng(2)
    for _ in range(2):
        x = rng.uniform(0, 1, (n, 784))
        eps = rng.standard_normal((n, 20))
        monkeypatch.setattr(vae_module, "randn", lambda *s, eps=eps, **k: minigan.tensor(eps))
        opt.zero_grad()
        xm = minigan.tensor(x)
        logits, mu, logvar = model(xm)
        loss = vae_loss(logits, xm, mu, logvar)
        loss.backward()
        opt.step()
        tx = torch.from_numpy(x)
        t_opt.zero_grad()
        h = enc(tx)
        tmu, tlv = t_mu(h), t_lv(h)
        tz = tmu + torch.exp(0.5 * tlv) * torch.from_numpy(eps)
        recon = torch.nn.functional.binary_cross_entropy_with_logits(dec(tz), tx, reduction="sum")
        kl = -0.5 * torch.sum(1 + tlv - tmu.pow(2) - tlv.exp())
        tloss = (recon + kl) / n
        tloss.backward()
        t_opt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
        ours = [p.numpy() for p in model.parameters()]
        theirs = [p.detach().numpy() for p in t_params]
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ----- DCGAN --------------------------------------------------------------------------


def _spatial_sizes(seq, x, layer_types):
    """Output shape after every layer of one of `layer_types` when running x through seq."""
    shapes = []
    for m in seq:
        x = m(x)
        if isinstance(m, layer_types):
            shapes.append(x.shape)
    return shapes


def test_dcgan_shapes_and_spatial_sizes():
    G, D = DCGANGenerator(width=8), DCGANDiscriminator(width=8)
    z = minigan.randn(3, 100)
    x = G(z)
    assert x.shape == (3, 1, 28, 28)
    assert float(x.numpy().min()) >= -1 and float(x.numpy().max()) <= 1
    # z may also come as (N, latent, 1, 1); D takes images or flat (N, 784) alike
    np.testing.assert_array_equal(G(z.reshape(3, 100, 1, 1)).numpy(), x.numpy())
    assert D(x).shape == (3, 1)
    np.testing.assert_array_equal(D(x.reshape(3, 784)).numpy(), D(x).numpy())
    # 1 -> 7 -> 14 -> 28 in G, 28 -> 14 -> 7 -> 4 -> 1 in D
    g_shapes = _spatial_sizes(G.net, z.reshape(3, 100, 1, 1), nn.ConvTranspose2d)
    assert g_shapes == [(3, 32, 7, 7), (3, 16, 14, 14), (3, 1, 28, 28)]
    d_shapes = _spatial_sizes(D.net, x, nn.Conv2d)
    assert d_shapes == [(3, 8, 14, 14), (3, 16, 7, 7), (3, 32, 4, 4), (3, 1, 1, 1)]
    with pytest.raises(ValueError, match="28"):
        D(minigan.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="100"):
        G(minigan.randn(2, 64))


def test_dcgan_parameter_counts_of_the_issue_architecture():
    G, D = DCGANGenerator(), DCGANDiscriminator()  # width 64: 256 and 128 channels in G
    assert [m.out_channels for m in G.net if isinstance(m, nn.ConvTranspose2d)] == [256, 128, 1]
    assert [m.out_channels for m in D.net if isinstance(m, nn.Conv2d)] == [64, 128, 256, 1]
    # convolutions followed by BatchNorm have no bias; BatchNorm has gamma and beta
    g_expected = (100 * 256 * 49) + 2 * 256 + (256 * 128 * 16) + 2 * 128 + (128 * 1 * 16 + 1)
    d_expected = (
        (1 * 64 * 16 + 64) + (64 * 128 * 16) + 2 * 128 + (128 * 256 * 9) + 2 * 256 + (256 * 16 + 1)
    )
    assert G.num_parameters() == g_expected == 1_781_505
    assert D.num_parameters() == d_expected == 431_937


def test_dcgan_init_statistics():
    minigan.manual_seed(0)
    G, D = DCGANGenerator(), DCGANDiscriminator()
    for model in (G, D):
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                w = m.weight.numpy()
                if w.size > 10_000:  # enough samples for tight statistics
                    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
                if m.bias is not None:
                    assert not m.bias.numpy().any()
            elif isinstance(m, nn.BatchNorm2d):
                gamma = m.weight.numpy()
                assert abs(gamma.mean() - 1) < 0.01 and 0.01 < gamma.std() < 0.03
                assert not m.bias.numpy().any()


# ----- conditional models -------------------------------------------------------------


def test_one_hot_and_sample_labels():
    y = one_hot(np.array([2, 0, 9]), 10)
    expected = np.zeros((3, 10), np.float32)
    expected[[0, 1, 2], [2, 0, 9]] = 1
    np.testing.assert_array_equal(y.numpy(), expected)
    assert one_hot(minigan.tensor(np.array([1])), 3, "float64").dtype == np.float64
    with pytest.raises(ValueError, match="0..9"):
        one_hot(np.array([10]), 10)
    with pytest.raises(TypeError, match="integers"):
        one_hot(np.array([1.0]), 10)
    minigan.manual_seed(0)
    labels = sample_labels(2000, 10).numpy()
    assert labels.dtype == np.int64 and labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels, minlength=10).min() > 150  # roughly uniform


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_conditional_models_take_labels(arch):
    if arch == "mlp":
        G = MLPGenerator(hidden=(16,), num_classes=10)
        D = MLPDiscriminator(hidden=(16,), num_classes=10)
        assert G.net[0].in_features == 110 and D.net[0].in_features == 794
    else:
        G, D = DCGANGenerator(width=4, num_classes=10), DCGANDiscriminator(width=4, num_classes=10)
        assert G.net[0].in_channels == 110 and D.net[0].in_channels == 11
    G.eval()
    z = minigan.randn(4, 100)
    labels = np.array([0, 1, 2, 3])
    x = G(z, labels)
    assert x.numpy().size == 4 * 784
    assert D(x, labels).shape == (4, 1)
    assert D(x, minigan.tensor(labels)).shape == (4, 1)  # a Tensor of labels works too
    # the label changes the output
    assert not np.allclose(G(z, np.array([5, 5, 5, 5])).numpy(), x.numpy())
    with pytest.raises(ValueError, match="conditional"):
        G(z)
    with pytest.raises(ValueError, match="conditional"):
        D(x)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        G(z, np.array([1, 2]))
    uncond = MLPGenerator(hidden=(16,)) if arch == "mlp" else DCGANGenerator(width=4)
    with pytest.raises(ValueError, match="unconditional"):
        uncond(z, labels)


def test_conditional_trainer_needs_labels_and_matching_models():
    G = MLPGenerator(hidden=(16,), num_classes=10)
    D = MLPDiscriminator(hidden=(16,), num_classes=10)
    og, od = optim.Adam(G.parameters()), optim.Adam(D.parameters())
    trainer = GANTrainer(G, D, og, od)
    with pytest.raises(ValueError, match="labels"):
        trainer.step(minigan.rand(8, 784))
    stats = trainer.step(minigan.rand(8, 784) * 2 - 1, np.arange(8) % 10)
    assert all(np.isfinite(v.item()) for v in stats.values())
    with pytest.raises(ValueError, match="num_classes"):
        GANTrainer(G, MLPDiscriminator(hidden=(16,)), og, od)
    uncond = GANTrainer(MLPGenerator(hidden=(8,)), MLPDiscriminator(hidden=(8,)), og, od)
    with pytest.raises(ValueError, match="unconditional"):
        uncond.step(minigan.rand(8, 784), np.zeros(8, np.int64))


# ----- EMA ----------------------------------------------------------------------------


def test_ema_matches_numpy_over_three_updates():
    rng = np.random.default_rng(0)
    G = MLPGenerator(latent_dim=4, hidden=(6,), out_dim=5)  # has BatchNorm buffers
    decay = 0.9
    ema = EMA(G, decay)
    assert ema.module is not G and not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    expected = {k: v.copy() for k, v in G.state_dict().items()}
    param_names = {name for name, _ in G.named_parameters()}
    for _ in range(3):
        for p in G.parameters():  # a fake optimizer step
            p.data[...] += rng.standard_normal(p.shape).astype(p.dtype)
        G(minigan.randn(8, 4))  # a training forward updates the BatchNorm running stats
        ema.update()
        for name, value in G.state_dict().items():
            if name in param_names:
                expected[name] = decay * expected[name] + (1 - decay) * value
            else:
                expected[name] = value.copy()  # buffers are copied, not averaged
    got = ema.module.state_dict()
    assert got.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-7, err_msg=name)
    assert ema.num_updates == 3
    # state round trip
    other = EMA(G, 0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == decay and other.num_updates == 3
    for name, value in other.module.state_dict().items():
        np.testing.assert_array_equal(value, got[name])
    with pytest.raises(ValueError, match="decay"):
        EMA(G, 1.0)


def test_trainer_updates_ema_after_the_generator_step():
    G, D = DCGANGenerator(width=4), DCGANDiscriminator(width=4)
    ema = EMA(G, 0.8)
    before = {k: v.copy() for k, v in G.state_dict().items()}
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3), ema=ema
    )
    assert trainer.sample_generator is ema.module
    trainer.step(minigan.rand(4, 784) * 2 - 1)
    after, shadow = G.state_dict(), ema.module.state_dict()
    for name, _ in G.named_parameters():
        np.testing.assert_allclose(shadow[name], 0.8 * before[name] + 0.2 * after[name], rtol=1e-6)
    assert "ema" in trainer.state_dict()
    with pytest.raises(ValueError, match="EMA"):
        GANTrainer(DCGANGenerator(width=4), D, trainer.opt_g, trainer.opt_d, ema=EMA(G))


# ----- VAEs ---------------------------------------------------------------------------


def test_conv_vae_shapes_and_loss():
    model = ConvVAE(latent_dim=5)
    x = minigan.rand(3, 784)
    logits, mu, logvar = model(x)
    assert logits.shape == (3, 784) and mu.shape == (3, 5) and logvar.shape == (3, 5)
    loss = vae_loss(logits, x, mu, logvar)
    assert loss.shape == () and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model(x.reshape(3, 1, 28, 28))[0].shape == (3, 784)  # image-shaped input too
    assert model.sample(2).shape == (2, 784)
    assert model.reconstruct(x).shape == (3, 784)
    # 2x(conv) encoder, two heads, linear + 2x(conv transpose) decoder
    assert model.num_parameters() == (
        (16 * 32 + 32)
        + (32 * 64 * 16 + 64)
        + 2 * (3136 * 5 + 5)
        + (5 * 3136 + 3136)
        + (64 * 32 * 16 + 32)
        + (32 * 16 + 1)
    )


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_interpolation_ends_are_the_reconstructions(cls):
    model = cls(latent_dim=3)
    x = minigan.rand(2, 784)
    path = model.interpolate(x[0], x[1:2], steps=5)
    assert path.shape == (5, 784)
    recon = model.reconstruct(x).numpy()
    np.testing.assert_allclose(path.numpy()[0], recon[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(path.numpy()[-1], recon[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one image"):
        model.interpolate(x, x, steps=5)


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_manifold_grid(cls):
    grid = cls(latent_dim=2).manifold_grid(4)
    assert grid.shape == (16, 784)
    assert 0 <= float(grid.numpy().min()) and float(grid.numpy().max()) <= 1
    with pytest.raises(ValueError, match="2-d"):
        cls(latent_dim=3).manifold_grid(4)


def test_manifold_grid_points_are_normal_quantiles(monkeypatch):
    model = MLPVAE(latent_dim=2)
    seen = []
    monkeypatch.setattr(model, "decode", lambda z: seen.append(z.numpy()) or z)
    model.manifold_grid(2)
    # p = 1/4, 3/4 -> z = -/+ 0.6745; columns grow z1, rows (top to bottom) decrease z2
    q = 0.6744897501960817
    np.testing.assert_allclose(seen[0], [[-q, q], [q, q], [-q, -q], [q, -q]], rtol=1e-6)


# ----- PyTorch parity of the DCGAN and conditional steps ------------------------------


def _gan_step_in_torch(torch, tG, tD, t_opt_g, t_opt_d, g_in, real, d_extra, smoothing):
    """One GANTrainer step written in PyTorch. g_in: G's input; d_extra(x, fake?) -> D's
    input for images x."""
    n = real.shape[0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    f64 = torch.float64
    fake = tG(g_in)
    t_opt_d.zero_grad()
    d_loss = bce(tD(d_extra(real, False)), torch.full((n, 1), 1 - smoothing, dtype=f64)) + bce(
        tD(d_extra(fake.detach(), True)), torch.zeros(n, 1, dtype=f64)
    )
    d_loss.backward()
    t_opt_d.step()
    t_opt_g.zero_grad()
    g_loss = bce(tD(d_extra(fake, True)), torch.ones(n, 1, dtype=f64))
    g_loss.backward()
    t_opt_g.step()
    return d_loss.item(), g_loss.item()


def _assert_running_stats_close(ours_seq, theirs_seq, torch):
    ours = [m for m in ours_seq if hasattr(m, "running_mean")]
    theirs = [m for m in theirs_seq if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.running_mean.numpy(), b.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(a.running_var.numpy(), b.running_var.numpy(), rtol=1e-10)


def test_dcgan_training_step_matches_pytorch(monkeypatch):
    torch = pytest.importorskip("torch")
    n, width = 8, 8
    G, D = DCGANGenerator(width=width).double(), DCGANDiscriminator(width=width).double()
    tG, tD = _torch_copy(torch, G.net).double(), _torch_copy(torch, D.net).double()
    betas = (0.5, 0.999)
    trainer = GANTrainer(
        G,
        D,
        optim.Adam(G.parameters(), lr=2e-4, betas=betas),
        optim.Adam(D.parameters(), lr=2e-4, betas=betas),
        label_smoothing=0.1,
    )
    t_opt_g = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=betas)
    t_opt_d = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=betas)

    def d_in(x, _fake):
        return x.reshape(n, 1, 28, 28)

    tD_flat = torch.nn.Sequential(tD, torch.nn.Flatten())  # (N, 1, 1, 1) -> (N, 1)
    rng = np.random.default_rng(3)
    for _ in range(2):
        real = rng.uniform(-1, 1, (n, 784))
        z = rng.standard_normal((n, 100))
        monkeypatch.setattr(trainer, "sample_noise", lambda k, device, z=z: minigan.tensor(z))
        stats = trainer.step(minigan.tensor(real))
        d_loss, g_loss = _gan_step_in_torch(
            torch,
            tG,
            tD_flat,
            t_opt_g,
            t_opt_d,
            torch.from_numpy(z).reshape(n, 100, 1, 1),
            torch.from_numpy(real),
            d_in,
            0.1,
        )
        np.testing.assert_allclose(stats["d_loss"].item(), d_loss, rtol=1e-10)
        np.testing.assert_allclose(stats["g_loss"].item(), g_loss, rtol=1e-10)
        _assert_params_close(G, tG, rtol=1e-9, atol=1e-12)
        _assert_params_close(D, tD, rtol=1e-9, atol=1e-12)
    _assert_running_stats_close(G.net, tG, torch)
    _assert_running_stats_close(D.net, tD, torch)


def test_conditional_mlp_gan_training_step_matches_pytorch(monkeypatch):
    torch = pytest.importorskip("torch")
    n, k = 16, 10
    G = MLPGenerator(hidden=(32, 64), num_classes=k).double()
    D = MLPDiscriminator(hidden=(64, 32), num_classes=k).double()
    tG, tD = _torch_copy(torch, G.net).double(), _torch_copy(torch, D.net).double()
    betas = (0.5, 0.999)
    trainer = GANTrainer(
        G,
        D,
        optim.Adam(G.parameters(), lr=2e-4, betas=betas),
        optim.Adam(D.parameters(), lr=2e-4, betas=betas),
    )
    t_opt_g = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=betas)
    t_opt_d = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=betas)
    rng = np.random.default_rng(4)
    for _ in range(2):
        real = rng.uniform(-1, 1, (n, 784))
        labels = rng.integers(0, k, n)
        z = rng.standard_normal((n, 100))
        fake_labels = rng.integers(0, k, n)
        monkeypatch.setattr(trainer, "sample_noise", lambda m, device, z=z: minigan.tensor(z))
        monkeypatch.setattr(
            trainer, "sample_labels", lambda m, device, y=fake_labels: minigan.tensor(y)
        )
        stats = trainer.step(minigan.tensor(real), labels)
        eye = torch.eye(k, dtype=torch.float64)
        y_real, y_fake = eye[torch.from_numpy(labels)], eye[torch.from_numpy(fake_labels)]

        def d_in(x, fake, y_real=y_real, y_fake=y_fake):
            return torch.cat([x, y_fake if fake else y_real], dim=1)

        d_loss, g_loss = _gan_step_in_torch(
            torch,
            tG,
            tD,
            t_opt_g,
            t_opt_d,
            torch.cat([torch.from_numpy(z), y_fake], dim=1),
            torch.from_numpy(real),
            d_in,
            0.0,
        )
        np.testing.assert_allclose(stats["d_loss"].item(), d_loss, rtol=1e-10)
        np.testing.assert_allclose(stats["g_loss"].item(), g_loss, rtol=1e-10)
        _assert_params_close(G, tG, rtol=1e-9, atol=1e-12)
        _assert_params_close(D, tD, rtol=1e-9, atol=1e-12)
