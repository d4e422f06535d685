"""One module per GAN variant; each follows the model contract of DESIGN.md (Config, DATA, init, train_step,
generate). Import one directly: ``from gan_jax.models import wgan_gp``."""
