# Generative models built from minigan.nn: the MLP GAN (generator, discriminator, trainer)
# and the MLP VAE.
from .gan import GANTrainer, MLPDiscriminator, MLPGenerator
from .vae import MLPVAE, vae_loss

__all__ = ["GANTrainer", "MLPDiscriminator", "MLPGenerator", "MLPVAE", "vae_loss"]
