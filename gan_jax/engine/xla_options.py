"""Compile options for the train steps: on the CPU, convolutions run on XLA's own kernels, not YNNPACK's.

jaxlib 0.10's XLA:CPU hands every convolution (and its two gradients) to YNNPACK by default. On the reference
2-core x86 CPU, XLA's own (Eigen) convolution is faster for nearly every shape these models use, most of all the
kernel gradient, so that default costs the convolutional models 10-45% of their step time (benchmarks/RESULTS.md,
"XLA:CPU's convolution library"). A 3x3, 64 -> 64 channel convolution at batch 64, 32x32 (pixelda's), forward +
both gradients: 100 ms with YNNPACK, 55 ms without; dcgan's whole step 299 -> 213 ms, pixelda's 1,420 -> 940 ms.

The option keeps YNNPACK for what it does well here (matrix products and reductions) and only takes convolutions
back. A convolution whose only consumer is a reduction may still ride inside YNNPACK's reduce fusion; keeping
those fusions is faster (dcgan 199 ms per step with them, 210 without, 272 by default, in one process), except
where the reduction is a nearest upsampling's gradient after a large convolution (munit's decoder): that gradient
is written without a reduction (``nets.layers.upsample_nearest``), so the convolution stays XLA's. The option
is passed per compilation (``jax.jit(..., compiler_options=...)``), so a user's own JAX code in the same process is
untouched, and it is only used after a probe compile shows that this jaxlib knows it: an XLA without it (older or
newer) compiles the steps with its defaults instead of failing. Setting ``GAN_JAX_XLA_DEFAULTS=1`` (or naming the
option in ``XLA_FLAGS``) turns it off.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp

# YNNPACK fusions kept: matrix products and reductions (the default list minus convolutions).
CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


def train_step_options(platform: str) -> dict | None:
    """The ``compiler_options`` for a train step compiled for ``platform`` (None: XLA's defaults)."""
    if platform != "cpu" or os.environ.get("GAN_JAX_XLA_DEFAULTS") == "1":
        return None
    if "ynn_fusion_type" in os.environ.get("XLA_FLAGS", ""):
        return None  # the user chose; do not override it
    return CPU_OPTIONS if _cpu_options_supported() else None


@functools.cache
def _cpu_options_supported() -> bool:
    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    x, w = jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1))
    try:
        jax.jit(conv, compiler_options=CPU_OPTIONS).lower(x, w).compile()
    except Exception:  # an XLA that does not know the option (or its values): keep its defaults
        return False
    return True
