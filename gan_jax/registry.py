"""Model name -> module. Modules are imported only when asked for (``importlib``), so ``--list`` is instant."""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

# name: one-line description (kept here so listing does not import 32 modules)
MODELS: dict[str, str] = {
    "gan": "Generative Adversarial Networks (Goodfellow 2014): MLP G and D, BCE",
    "dcgan": "Deep Convolutional GAN (Radford 2015)",
    "lsgan": "Least Squares GAN (Mao 2016)",
    "wgan": "Wasserstein GAN (Arjovsky 2017): weight clipping, RMSprop, n_critic",
    "wgan_gp": "WGAN with gradient penalty (Gulrajani 2017)",
    "wgan_div": "Wasserstein divergence GAN (Wu 2018)",
    "dragan": "DRAGAN (Kodali 2017): gradient penalty around the data",
    "began": "Boundary Equilibrium GAN (Berthelot 2017): autoencoder D, k control, convergence measure",
    "ebgan": "Energy-Based GAN (Zhao 2016): autoencoder D, margin loss, pull-away term",
    "bgan": "Boundary-Seeking GAN (Hjelm 2017)",
    "softmax_gan": "Softmax GAN (Lin 2017)",
    "relativistic_gan": "Relativistic GAN (Jolicoeur-Martineau 2018): standard and average (--rel_avg_gan)",
}


class UnknownModelError(KeyError):
    def __str__(self):
        return self.args[0]


def names() -> list[str]:
    return list(MODELS)


def get(name: str) -> ModuleType:
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint}; valid models: {', '.join(MODELS)}")
    return importlib.import_module(f"gan_jax.models.{name}")


def describe() -> str:
    width = max(map(len, MODELS))
    return "\n".join(f"{n:<{width}}  {d}" for n, d in MODELS.items())
