import jax
import numpy as np

from gan_jax.models import gan
from tests.contract import check_contract, image_batch


def test_contract():
    config = gan.Config(batch_size=8, img_size=8, latent_dim=4)
    check_contract(gan, config, image_batch(config))


def test_default_architecture_matches_pytorch_gan():
    # PyTorch-GAN gan.py at its defaults: G 100->128->256->512->1024->784 with 3 BatchNorm1d, D 784->512->256->1.
    state = gan.init(jax.random.key(0), gan.Config())
    count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
    g = (100 * 128 + 128) + (128 * 256 + 256) + (256 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 784 + 784)
    g += 2 * (256 + 512 + 1024)  # BN scale + bias
    assert count(state.g.params) == g
    assert count(state.d.params) == (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)


def test_discriminator_learns_to_separate():
    # With G frozen in its initial state, D's loss must fall below chance (log 2) on real vs generated images.
    config = gan.Config(batch_size=32, img_size=8, latent_dim=4, lr=1e-3)
    state = gan.init(jax.random.key(0), config)
    batch = image_batch(config)
    batch["image"] = np.clip(batch["image"] * 0.1 + 0.5, -1, 1)  # a distinct real distribution
    step = jax.jit(gan.train_step)
    losses = []
    for i in range(30):
        state, m = step(state, batch, jax.random.key(i))
        losses.append(float(m["d_loss"]))
    assert losses[-1] < 0.5 * np.log(2) * 2 and losses[-1] < losses[0]
