"""Model name -> module: every ``gan_jax/models/<name>.py`` is a model, imported only when asked for."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from types import ModuleType

import gan_jax.models

# Display order of --list (PyTorch-GAN's README order); models present but not listed here are appended.
ORDER = ("gan", "dcgan", "lsgan", "wgan", "wgan_gp", "wgan_div", "dragan", "began", "ebgan", "bgan", "softmax_gan",
         "relativistic_gan", "cgan", "acgan", "infogan", "sgan", "cluster_gan", "aae", "cogan", "ccgan",
         "context_encoder", "pixelda", "pix2pix", "cyclegan", "discogan", "dualgan", "bicyclegan", "munit", "unit",
         "stargan", "srgan", "esrgan")


class UnknownModelError(KeyError):
    def __str__(self):
        return self.args[0]


def names() -> list[str]:
    present = {m.name for m in pkgutil.iter_modules(gan_jax.models.__path__) if not m.name.startswith("_")}
    return [n for n in ORDER if n in present] + sorted(present - set(ORDER))


def get(name: str) -> ModuleType:
    valid = names()
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint}; valid models: {', '.join(valid)}")
    return importlib.import_module(f"gan_jax.models.{name}")


def describe() -> str:
    valid = names()
    width = max(map(len, valid))
    return "\n".join(f"{n:<{width}}  {get(n).DESCRIPTION}" for n in valid)
