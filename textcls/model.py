"""TextCNN: Kim, "Convolutional Neural Networks for Sentence Classification" (EMNLP 2014).

Network: word ids -> embeddings [L, D] (one or two channels) -> convolutions of widths 3, 4, 5 with 100 feature maps
each, ReLU -> max over time -> concatenation (300) -> dropout 0.5 -> a softmax layer. Training: Adadelta (rho 0.95,
eps 1e-6), mini-batches of 50, cross-entropy, and after every update the l2 norm of each column of the output
weights (one per class) is rescaled to at most s = 3 (Kim's ``sqr_norm_lim = 9``); model selection on a dev split.

The four variants (``Config.variant``):
- ``rand``: every word vector random, U[-0.25, 0.25], and trained;
- ``static``: pre-trained vectors (unknown words random), kept fixed;
- ``non-static``: pre-trained vectors, fine-tuned;
- ``multichannel``: two channels initialised with the pre-trained vectors, one fixed and one fine-tuned; each filter
  spans both, so their responses add (a 1-D convolution over the channels' concatenated features).
Fixed tables live in ``State.frozen``, outside the parameters and the optimizer. The padding word (id 0) stays zero
(Kim resets it after every update; here it is never updated). The trained table's Adadelta touches only the rows
of the batch, which is the same update as Kim's dense one (see ``sparse_adadelta``) and what makes a CPU step fast.

Run:    python -m textcls.train --variant multichannel --dataset mr:rt-polaritydata \\
            --vectors GoogleNews-vectors-negative300.bin
Result: benchmarks/RESULTS.md (offline tweets: ``python -m benchmarks.textcls_offline``; Kim's table for the
        datasets you have: ``python -m benchmarks.textcls_kim``).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct

from textcls.text import padded_length

NAME = "textcnn"
DATA = "text"
DESCRIPTION = "TextCNN (Kim 2014): convolutions of widths 3,4,5 over word vectors, max-over-time pooling"
VARIANTS = ("rand", "static", "non-static", "multichannel")
RAND_INIT = 0.25  # Kim's U[-0.25, 0.25] for 'rand' (and for words missing from the vectors file, via vectors.py)


@dataclasses.dataclass(frozen=True)
class Config:
    variant: str = "rand"
    filter_sizes: tuple[int, ...] = (3, 4, 5)  # Kim's filter_hs
    feature_maps: int = 100  # per filter size (Kim's hidden_units[0])
    dropout: float = 0.5
    max_norm: float = 3.0  # s: l2 bound of each output-weight column (Kim's sqr_norm_lim = s^2 = 9); 0 = off
    batch_size: int = 50
    n_epochs: int = 25
    lr: float = 1.0  # Adadelta's learning rate (Kim's Adadelta has none, i.e. 1)
    rho: float = 0.95  # Adadelta's decay (Kim's lr_decay)
    eps: float = 1e-6
    embed_dim: int = 300  # Kim's img_w; the vectors' dimension when they are given
    # Set from the data by textcls.train (not command-line flags):
    vocab_size: int = 2  # including the padding id 0
    max_len: int = 1  # longest sentence in tokens; inputs are padded to padded_length(max_len, filter_sizes)
    n_classes: int = 2
    vectors: str = ""  # .npy [vocab_size, embed_dim] of initial vectors (textcls.train writes it in the run dir)

    DATA_FIELDS = ("vocab_size", "max_len", "n_classes", "vectors")

    def __post_init__(self):
        self.validate()

    def validate(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant {self.variant!r}: choose from {', '.join(VARIANTS)}")
        if not self.filter_sizes or min(self.filter_sizes) < 1:
            raise ValueError(f"--filter_sizes must be positive widths, got {self.filter_sizes}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.max_norm < 0:
            raise ValueError(f"--max_norm must be >= 0 (0 = no constraint), got {self.max_norm}")
        for name in ("feature_maps", "batch_size", "n_epochs", "lr", "embed_dim", "max_len"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.rho < 1:
            raise ValueError(f"--rho must be in (0, 1), got {self.rho}")
        if self.vocab_size < 2 or self.n_classes < 2:
            raise ValueError(f"need at least 1 word and 2 classes (vocab_size={self.vocab_size}, "
                             f"n_classes={self.n_classes})")

    @property
    def seq_len(self) -> int:
        return padded_length(self.max_len, self.filter_sizes)

    @property
    def trainable_embedding(self) -> bool:
        return self.variant != "static"

    @property
    def static_embedding(self) -> bool:
        return self.variant in ("static", "multichannel")


class ChannelConv(nn.Module):
    """A 1-D convolution whose filters span every channel (Kim's multichannel filters), computed one channel at a
    time and summed: the same function as one convolution over the channels' concatenated features, but the
    gradient is never formed for a fixed channel's input."""

    features: int
    width: int

    @nn.compact
    def __call__(self, channels: tuple[jax.Array, ...]) -> jax.Array:
        d = channels[0].shape[-1]
        # Kim's filters: uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot); zero bias.
        kernel = self.param("kernel", nn.initializers.glorot_uniform(), (self.width, d * len(channels),
                                                                         self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = sum(jax.lax.conv_general_dilated(x, kernel[:, c * d:(c + 1) * d], (1,), "VALID",
                                             dimension_numbers=("NWC", "WIO", "NWC"))
                for c, x in enumerate(channels))
        return y + bias


class TextCNN(nn.Module):
    """Embedded channels ([B, L, D] each) -> class scores. The embedding tables live outside the module (see
    ``embed``) so that a training step can update only the rows a batch uses."""

    n_classes: int
    filter_sizes: tuple[int, ...]
    feature_maps: int
    dropout: float

    @nn.compact
    def __call__(self, channels: tuple[jax.Array, ...], *, train: bool) -> jax.Array:
        pooled = []
        for h in self.filter_sizes:
            y_BxTxF = ChannelConv(self.feature_maps, h, name=f"conv{h}")(channels)
            pooled.append(jnp.max(nn.relu(y_BxTxF), axis=1))  # max over time
        z_BxH = nn.Dropout(self.dropout, deterministic=not train)(jnp.concatenate(pooled, axis=-1))
        # Kim's softmax layer starts from zero weights.
        return nn.Dense(self.n_classes, kernel_init=nn.initializers.zeros, name="output")(z_BxH)


def uniform_with_zero_pad(rng, shape, dtype=jnp.float32):
    table = jax.random.uniform(rng, shape, dtype, -RAND_INIT, RAND_INIT)
    return table.at[0].set(0.0)


@struct.dataclass
class State:
    step: jax.Array
    params: dict  # conv{h} and output (the network), plus 'embedding' [V, D] unless the variant is static
    opt_state: dict  # {'net': optax Adadelta state, 'embedding': SparseAdadelta rows state or {}}
    frozen: dict  # {'embedding': [V, D]} for static and multichannel, else {}
    config: Config = struct.field(pytree_node=False)


def network(config: Config) -> TextCNN:
    return TextCNN(n_classes=config.n_classes, filter_sizes=tuple(config.filter_sizes),
                   feature_maps=config.feature_maps, dropout=config.dropout)


def optimizer(config: Config) -> optax.GradientTransformation:
    """Kim's Adadelta (Zeiler 2012; optax's update is his) for the network's weights."""
    return optax.adadelta(learning_rate=config.lr, rho=config.rho, eps=config.eps)


@functools.lru_cache(maxsize=4)
def _load_matrix(path: str, mtime: float) -> np.ndarray:
    del mtime  # part of the cache key: a rewritten file is read again
    return np.load(path)


def initial_vectors(config: Config) -> np.ndarray | None:
    """The [vocab_size, embed_dim] initial vectors from ``config.vectors`` (None when it is empty)."""
    if not config.vectors:
        return None
    if not os.path.exists(config.vectors):
        raise FileNotFoundError(f"initial vectors {config.vectors} not found (it is written into the run "
                                f"directory by textcls.train)")
    matrix = _load_matrix(config.vectors, os.path.getmtime(config.vectors))
    if matrix.shape != (config.vocab_size, config.embed_dim):
        raise ValueError(f"{config.vectors} has shape {matrix.shape}, config says "
                         f"({config.vocab_size}, {config.embed_dim})")
    return matrix


def init(rng: jax.Array, config: Config) -> State:
    params_key, dropout_key, table_key, static_key = jax.random.split(rng, 4)
    vectors = initial_vectors(config)
    shape = (config.vocab_size, config.embed_dim)
    table = None if vectors is None else jnp.asarray(vectors, jnp.float32).at[0].set(0.0)
    frozen, params, emb_opt = {}, {}, {}
    if config.static_embedding:
        frozen["embedding"] = table if table is not None else uniform_with_zero_pad(static_key, shape)
    if config.trainable_embedding:
        params["embedding"] = table if table is not None else uniform_with_zero_pad(table_key, shape)
        emb_opt = sparse_adadelta_init(params["embedding"])
    channels = tuple(jnp.zeros((1, config.seq_len, config.embed_dim)) for _ in range(n_channels(config)))
    net = network(config).init({"params": params_key, "dropout": dropout_key}, channels, train=False)["params"]
    params = {**net, **params}
    return State(step=jnp.zeros((), jnp.int32), params=params,
                 opt_state={"net": optimizer(config).init(net_params(params)), "embedding": emb_opt},
                 frozen=frozen, config=config)


def n_channels(config: Config) -> int:
    return int(config.static_embedding) + int(config.trainable_embedding)


def net_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "embedding"}


def embed(state, tokens_BxL: jax.Array) -> tuple[jax.Array, ...]:
    """The input channels [B, L, D]: the fixed table's vectors first, then the trained table's."""
    channels = []
    if "embedding" in state.frozen:
        channels.append(jnp.take(state.frozen["embedding"], tokens_BxL, axis=0))
    if "embedding" in state.params:
        channels.append(jnp.take(state.params["embedding"], tokens_BxL, axis=0))
    return tuple(channels)


def logits(state, tokens_BxL: jax.Array) -> jax.Array:
    """Class scores (dropout off) for padded ids; ``state`` needs ``params``, ``frozen`` and ``config``."""
    return network(state.config).apply({"params": net_params(state.params)}, embed(state, tokens_BxL), train=False)


# ---------------------------------------------------------------------------------------------------------------
# Adadelta for the embedding table, touching only the rows of the batch.
#
# A row that gets no gradient at a step still has its two Adadelta averages multiplied by rho (and moves by 0).
# Remembering the step each row was last updated and applying rho^(missed steps) when it is next used is therefore
# the same algorithm as the dense update Kim's Theano code runs over the whole [V, D] table, at the cost of the
# batch's rows instead of the vocabulary's (on a CPU, the dense update of a 48k x 300 table is most of a step).


def sparse_adadelta_init(table: jax.Array) -> dict:
    return {"e_g": jnp.zeros_like(table), "e_x": jnp.zeros_like(table),
            "last": jnp.zeros(table.shape[:1], jnp.int32)}


def sparse_adadelta(table, acc: dict, rows_N: jax.Array, grads_NxD: jax.Array, t: jax.Array, config: Config):
    """Update ``table`` rows ``rows_N`` (unique; out-of-range entries are ignored) at step ``t`` (1-based)."""
    rho, eps = config.rho, config.eps
    e_g = acc["e_g"].at[rows_N].get(mode="fill", fill_value=0)
    e_x = acc["e_x"].at[rows_N].get(mode="fill", fill_value=0)
    missed = (t - 1 - acc["last"].at[rows_N].get(mode="fill", fill_value=0)).astype(jnp.float32)[:, None]
    decay = jnp.power(jnp.float32(rho), missed)
    e_g = rho * decay * e_g + (1 - rho) * jnp.square(grads_NxD)
    e_x = decay * e_x
    update = jnp.sqrt(e_x + eps) / jnp.sqrt(e_g + eps) * grads_NxD
    e_x = rho * e_x + (1 - rho) * jnp.square(update)
    rows = table.at[rows_N].get(mode="fill", fill_value=0) - config.lr * update
    acc = {"e_g": acc["e_g"].at[rows_N].set(e_g, mode="drop"), "e_x": acc["e_x"].at[rows_N].set(e_x, mode="drop"),
           "last": acc["last"].at[rows_N].set(t, mode="drop")}
    return table.at[rows_N].set(rows, mode="drop"), acc


def max_norm_columns(kernel_IxC: jax.Array, s: float) -> jax.Array:
    """Kim's constraint: each column (one class's weights) rescaled to l2 norm <= s."""
    norms = jnp.sqrt(jnp.sum(jnp.square(kernel_IxC), axis=0))
    return kernel_IxC * (jnp.clip(norms, 0, s) / (1e-7 + norms))


def constrain(net: dict, config: Config) -> dict:
    """Kim's max-norm on the output weights, after each update."""
    if config.max_norm <= 0:
        return net
    return {**net, "output": {**net["output"], "kernel": max_norm_columns(net["output"]["kernel"], config.max_norm)}}


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One Adadelta update on a batch {'tokens': int32 [B, L], 'label': int32 [B]}, then Kim's max-norm."""
    config = state.config
    module, tx = network(config), optimizer(config)
    tokens_BxL, labels_B = batch["tokens"], batch["label"]
    vocab = config.vocab_size
    fixed = ()
    if "embedding" in state.frozen:
        fixed = (jnp.take(state.frozen["embedding"], tokens_BxL, axis=0),)
    trained = "embedding" in state.params
    if trained:
        # The batch's distinct words (padded with the out-of-range id V); the padding word 0 is never updated.
        rows_N, local = jnp.unique(tokens_BxL, size=tokens_BxL.size, fill_value=vocab, return_inverse=True)
        local_BxL = local.reshape(tokens_BxL.shape)
        rows_NxD = state.params["embedding"].at[rows_N].get(mode="fill", fill_value=0)
    else:
        rows_NxD = jnp.zeros((0, config.embed_dim))

    def loss_fn(net, rows_NxD):
        channels = fixed + ((jnp.take(rows_NxD, local_BxL, axis=0),) if trained else ())
        logits_BxK = module.apply({"params": net}, channels, train=True, rngs={"dropout": rng})
        loss = optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B).mean()
        return loss, logits_BxK

    net = net_params(state.params)
    (loss, logits_BxK), (g_net, g_rows) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(net, rows_NxD)
    updates, net_opt = tx.update(g_net, state.opt_state["net"], net)
    params = constrain(optax.apply_updates(net, updates), config)
    emb_opt = state.opt_state["embedding"]
    if trained:
        rows_N = jnp.where(rows_N == 0, vocab, rows_N)
        params["embedding"], emb_opt = sparse_adadelta(state.params["embedding"], emb_opt, rows_N, g_rows,
                                                       state.step + 1, config)
    accuracy = jnp.mean((jnp.argmax(logits_BxK, -1) == labels_B).astype(jnp.float32))
    return (state.replace(step=state.step + 1, params=params, opt_state={"net": net_opt, "embedding": emb_opt}),
            {"loss": loss, "accuracy": accuracy})
