# Model tests: shapes and behaviour of the MLP GAN and VAE, and full training steps compared
# with the same models written in PyTorch (CPU) from identical weights and inputs: the
# losses and every updated parameter must match.
from __future__ import annotations

import numpy as np
import pytest

import minigan
from minigan import optim
from minigan.models import MLPVAE, GANTrainer, MLPDiscriminator, MLPGenerator, vae_loss
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


def _torch_copy(torch, seq):
    """A torch.nn.Sequential with the same layers and weights as a minigan Sequential."""
    from minigan import nn

    layers = []
    for m in seq:
        if isinstance(m, nn.Linear):
            layers.append(_torch_linear(torch, m))
        elif isinstance(m, nn.BatchNorm1d):
            bn = torch.nn.BatchNorm1d(m.weight.shape[0])
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(m.weight.numpy()))
                bn.bias.copy_(torch.from_numpy(m.bias.numpy()))
            layers.append(bn)
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
