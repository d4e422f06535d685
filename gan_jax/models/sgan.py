"""SGAN: Odena, "Semi-Supervised Learning with Generative Adversarial Networks" (2016).

Networks (PyTorch-GAN ``implementations/sgan/sgan.py``): the DCGAN generator of :mod:`gan_jax.nets.dcgan` on z; the
DCGAN discriminator trunk with two heads (:class:`gan_jax.nets.conditional.HeadsDiscriminator`): a validity logit
and num_classes + 1 class logits, the extra class meaning "generated". Loss: G BCE(D(G(z)), 1); D 1/2 of the real
term 1/2 [BCE(D(x), 1) + CE(C(x), y)] and the fake term 1/2 [BCE(D(G(z)), 0) + CE(C(G(z)), num_classes)].
Init: ``weights_init_normal``. Optimizer: Adam(2e-4, 0.5, 0.999) for both, batch 64, 32x32 MNIST. Logged:
``d_acc`` (the class head on the labelled real and the fake images, as the script prints) and ``sup_loss``.
D's class head is the semi-supervised classifier: :func:`classify`.

Deviations from PyTorch-GAN:
- Semi-supervised, as the paper: PyTorch-GAN's script trains with *every* MNIST label, so it never tests what the
  method is for. Here only ``n_labelled`` training examples (default 100) keep their labels
  (``gan_jax/data/kinds/semi_supervised.py``; the batch carries 'label_mask'); the rest of the data is
  unlabelled. CE(C(x), y) is the mean over the labelled examples in the batch (0 when there are none);
  unlabelled real images still train the validity head and, through "not generated", the shared trunk.
  ``--n_labelled`` larger than the training set reproduces the script. Each step's real batch is the plain batch
  plus a labelled batch of the same size drawn from the labelled pool (the data kind's 'labelled_image'): D's real
  pass sees both (2 x batch_size images), G still makes batch_size images. Without it the class head would see
  ~1.4 labelled images a step, 45x fewer than the supervised baseline it is compared with.
- The script's generator builds a label embedding it never uses (1,000 parameters that never train): not ported.
- Its heads end in Sigmoid / Softmax and the class loss is CrossEntropyLoss (a second softmax): here the heads emit
  logits, each loss applies its nonlinearity once. ``BatchNorm2d(C, 0.8)`` is momentum 0.8 with eps 1e-5.

Run:    python -m gan_jax.train --model sgan [--n_labelled 100]
Result: ``python -m benchmarks.conditional --models sgan`` (benchmarks/out/conditional.md): test accuracy of D's class
        head against the same network trained on the labelled examples alone.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.nets import alternating, conditional
from gan_jax.nets import dcgan as dcgan_nets
from gan_jax.nets import state as netstate

DATA = "semi_supervised"
DESCRIPTION = "Semi-Supervised GAN (Odena 2016): D classifies num_classes + 'fake'; trains with few labels"
DEFAULT_STEPS = 1500  # the quick CPU run; --n_epochs 200 is PyTorch-GAN's length


@dataclasses.dataclass(frozen=True)
class Config:
    n_epochs: int = 200
    batch_size: int = 64
    lr: float = 0.0002
    b1: float = 0.5
    b2: float = 0.999
    latent_dim: int = 100
    num_classes: int = 10
    img_size: int = 32
    channels: int = 1
    sample_interval: int = 400
    n_labelled: int = 100  # training examples that keep their label (not a PyTorch-GAN flag: it uses all of them)

    def validate(self):
        dcgan_nets.check_img_size(self.img_size, 16)
        if self.num_classes <= 0:
            raise ValueError(f"--num_classes must be > 0, got {self.num_classes}")
        if self.n_labelled < 0:
            raise ValueError(f"--n_labelled must be >= 0, got {self.n_labelled}")


State = alternating.State


def _nets(config: Config):
    return dcgan_nets.Generator(config.img_size, config.channels), conditional.HeadsDiscriminator(
        (config.num_classes + 1,))


def _inputs(key: jax.Array, n: int, config: Config) -> dict:
    return {"z": netstate.latent(key, n, config.latent_dim)}


def supervised_loss(class_logits: jax.Array, labels: jax.Array, label_mask: jax.Array) -> jax.Array:
    """Mean cross-entropy over the labelled examples (label_mask 1); unlabelled ones (any label) count for nothing."""
    per_example = jax.vmap(losses.classification_loss)(class_logits, jnp.where(label_mask > 0, labels, 0))
    return jnp.sum(per_example * label_mask) / jnp.maximum(jnp.sum(label_mask), 1.0)


def g_loss(f: conditional.Forward):
    validity, _ = f.d_fake
    loss = losses.nonsaturating_g_loss(validity)
    return loss, {"g_loss": loss}


def d_loss(f: conditional.Forward):
    (real_validity, real_logits), (fake_validity, fake_logits) = f.d_real, f.d_fake
    labels, mask = f.batch["label"], f.batch["label_mask"]
    fake_class = jnp.full(fake_logits.shape[:1], fake_logits.shape[-1] - 1)
    sup = supervised_loss(real_logits, labels, mask)
    real_loss = 0.5 * (losses.bce_with_logits(real_validity, 1.0) + sup)
    fake_loss = 0.5 * (losses.bce_with_logits(fake_validity, 0.0) + losses.classification_loss(fake_logits, fake_class))
    real_hits = jnp.sum((jnp.argmax(real_logits, -1) == labels) * mask)
    fake_hits = jnp.sum(jnp.argmax(fake_logits, -1) == fake_class)
    d_acc = (real_hits + fake_hits) / (jnp.sum(mask) + fake_class.shape[0])
    loss = 0.5 * (real_loss + fake_loss)
    return loss, {"d_loss": loss, "sup_loss": sup, "d_acc": d_acc}


def init(rng: jax.Array, config: Config) -> State:
    gen, disc = _nets(config)
    g_key, d_key = jax.random.split(rng)
    tx = netstate.adam(config)
    g = netstate.create(gen, tx, g_key, z=jnp.zeros((2, config.latent_dim)))
    d = netstate.create(disc, tx, d_key, jnp.zeros((2, config.img_size, config.img_size, config.channels)))
    return State(step=jnp.zeros((), jnp.int32), g=g, d=d, config=config)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One G update, then one D update on the real batch (+ the labelled batch; class loss on the labelled part) and
    G's images."""
    config = state.config
    n_fake = batch["image"].shape[0]
    if "labelled_image" in batch:  # the labelled batch from the labelled pool joins the real batch
        batch = {"image": jnp.concatenate([batch["image"], batch["labelled_image"]]),
                 "label": jnp.concatenate([batch["label"], batch["labelled_label"]]),
                 "label_mask": jnp.concatenate([batch["label_mask"],
                                                jnp.ones(batch["labelled_label"].shape, jnp.float32)])}
    return conditional.step(state, batch, rng, *_nets(config), lambda k, _: _inputs(k, n_fake, config), g_loss,
                            d_loss)


def generate(state: State, rng: jax.Array, n: int) -> jax.Array:
    """``n`` images in [-1, 1], NHWC (BatchNorm on its running averages)."""
    return conditional.generate(_nets(state.config)[0], state.g, _inputs(rng, n, state.config))


def classify(state: State, images: jax.Array) -> jax.Array:
    """D's class logits [N, num_classes] for images in [-1, 1] ("generated" dropped; BatchNorm on its running
    averages, no dropout): the semi-supervised classifier."""
    _, logits = netstate.apply(_nets(state.config)[1], state.d, images, train=False)[0]
    return logits[:, :state.config.num_classes]
