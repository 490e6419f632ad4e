# Generative models built from minigan.nn: the MLP and DCGAN generators/discriminators
# (optionally class-conditional), the GAN trainer and the EMA of generator weights, and
# the MLP and convolutional VAEs with their shared loss.
from .conditioning import one_hot, one_hot_maps, sample_labels
from .conv_vae import ConvVAE
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .ema import EMA
from .gan import GANTrainer, MLPDiscriminator, MLPGenerator
from .vae import MLPVAE, VAE, vae_loss

__all__ = [
    "EMA",
    "MLPVAE",
    "VAE",
    "ConvVAE",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANTrainer",
    "MLPDiscriminator",
    "MLPGenerator",
    "one_hot",
    "one_hot_maps",
    "sample_labels",
    "vae_loss",
]
