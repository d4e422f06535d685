"""Image captioning: Show and Tell (Vinyals et al. 2015, "NIC") and Show, Attend and Tell (Xu et al. 2015, soft
attention), with the project's model contract (``Config``, ``State``, ``init``, ``train_step``), trained by
``gan_jax.engine``.

Encoder (``captioning/resnet.py``): a ResNet (ResNet-101 as the reference; smaller ones for CPU) whose last feature
map is average-pooled to a fixed ``encoded_image_size`` x ``encoded_image_size`` grid of ``P`` vectors.

Decoders, one flag (``--decoder``) chooses:
- ``attention`` (Show, Attend and Tell, as the reference PyTorch implementation): h and c start as linear maps of
  the mean feature; at every step additive attention ``softmax(w . relu(W_e a_i + W_h h))`` over the P features
  (Bahdanau's form; the reference, followed here, uses ReLU where Bahdanau used tanh), the context gated by
  ``sigmoid(f_beta(h))`` (the paper's gating scalar beta, one per feature channel as in the reference), then an
  LSTMCell on [word embedding, gated context]; ``fc(dropout(h))`` gives the next word. Loss: cross-entropy over
  the words of each caption (padding masked) plus the doubly stochastic regularisation
  ``alpha_c * mean_{b,p} (1 - sum_t alpha_{b,t,p})^2`` (the reference's form: a mean over images and pixels).
- ``nic`` (Show and Tell): the mean feature, linearly embedded, is the LSTM's input once, at t = -1, from a zero
  state; then the words. No attention (its maps are returned as zeros to keep one decoding code path).

Training follows the reference: teacher forcing, Adam (decoder ``decoder_lr`` 4e-4, encoder ``encoder_lr`` 1e-4
when fine-tuned), gradients clipped element-wise at ``grad_clip`` 5 (the reference clamps each gradient value; it
is not a norm clip), dropout 0.5, ``alpha_c`` 1. With ``--pretrained`` ImageNet weights and
``--fine_tune_encoder``, only stages 2-4 are trained, as the reference; without pretrained weights the whole encoder
trains from scratch (there is nothing to keep), and a frozen random encoder is refused.

A batch: 'image' float32 [B, H, W, 3] in [-1, 1]; 'caption' int32 [B, L] (``<start> words <end> <pad>..``);
'length' int32 [B] (words + 2). Decoding (greedy and beam search, jit-compiled): ``captioning/decode.py``.

Run:    python -m captioning.train --decoder attention --steps 4000    (offline captioned scenes; CPU preset)
Result: offline test split BLEU-4, beam 1/3/5: attention 0.846/0.861/0.862, nic 0.434/0.498/0.499 after 4,000
        steps on a shared 2-core CPU (14.5 / 6.9 min); ``python -m benchmarks.captioning_quality``.
"""

from __future__ import annotations

import dataclasses
import os
import jax
import jax.numpy as jnp
import optax
from flax import linen as nn
from flax import struct

from captioning import resnet
from gan_jax.nets import state as netstate

NAME = "captioning"
DATA = "captions"
DECODERS = ("attention", "nic")


@dataclasses.dataclass(frozen=True)
class Config:
    """Defaults: the reference implementation's (ResNet-101, 256 px images, 14x14 grid, 512-wide decoder)."""

    decoder: str = "attention"  # 'attention' (Show, Attend and Tell) | 'nic' (Show and Tell)
    encoder: str = "resnet101"  # resnet10 | resnet18 | resnet34 | resnet50 | resnet101 | resnet152
    encoder_width: int = 64  # channels of the first stage (64 = the published networks)
    encoder_stages: int = 4  # ResNet stages kept (4: stride 32; 3: stride 16)
    encoded_image_size: int = 14  # the attention grid is encoded_image_size^2 features
    img_size: int = 256
    pretrained: str = ""  # torchvision ResNet state dict as .npz (see captioning/resnet.py)
    fine_tune_encoder: bool = False
    emb_dim: int = 512
    attention_dim: int = 512
    decoder_dim: int = 512
    dropout: float = 0.5
    vocab_size: int = 0  # set from the training captions' vocabulary
    max_len: int = 52  # token slots per caption: up to 50 words + <start> + <end>
    batch_size: int = 32
    encoder_lr: float = 1e-4
    decoder_lr: float = 4e-4
    grad_clip: float = 5.0  # element-wise gradient clamp (0 = off)
    alpha_c: float = 1.0  # doubly stochastic attention regularisation
    epochs: int = 120

    def validate(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"--decoder {self.decoder!r}: use one of {', '.join(DECODERS)}")
        if self.encoder not in resnet.ARCHS:
            raise ValueError(f"--encoder {self.encoder!r}: use one of {', '.join(resnet.ARCHS)}")
        if not 1 <= self.encoder_stages <= 4:
            raise ValueError(f"--encoder_stages must be 1..4, got {self.encoder_stages}")
        for name in ("encoder_width", "encoded_image_size", "img_size", "emb_dim", "attention_dim", "decoder_dim",
                     "batch_size", "encoder_lr", "decoder_lr", "epochs"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.grad_clip < 0 or self.alpha_c < 0:
            raise ValueError("--grad_clip and --alpha_c must be >= 0")
        if self.max_len < 3:
            raise ValueError(f"--max_len must be >= 3 (<start>, a word, <end>), got {self.max_len}")
        if self.vocab_size <= 4:
            raise ValueError(f"vocab_size {self.vocab_size}: the vocabulary holds no word beyond the 4 specials")
        if self.pretrained and not os.path.exists(self.pretrained):
            raise ValueError(f"--pretrained {self.pretrained}: no such file")
        if not self.pretrained and not self.fine_tune_encoder:
            raise ValueError("a randomly initialised encoder that is never trained learns nothing: pass "
                             "--pretrained FILE.npz (ImageNet weights, see captioning/resnet.py) or "
                             "--fine_tune_encoder")


# Named starting points for a run's Config (flags override them). 'offline': the captioned-scenes set on a CPU.
PRESETS = {
    "reference": {},
    "offline": dict(encoder="resnet18", encoder_width=16, encoder_stages=3, encoded_image_size=4, img_size=64,
                    fine_tune_encoder=True, emb_dim=64, attention_dim=64, decoder_dim=256, dropout=0.2,
                    batch_size=32, encoder_lr=1e-3, decoder_lr=1e-3, epochs=2),
}


@struct.dataclass
class State:
    step: jax.Array
    encoder: netstate.Net
    decoder: netstate.Net
    config: Config = struct.field(pytree_node=False)


# --- networks --------------------------------------------------------------------------------------------------


def _uniform(scale: float):
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)


class AttentionDecoder(nn.Module):
    """Show, Attend and Tell's LSTM with soft attention (the reference's DecoderWithAttention)."""

    vocab_size: int
    encoder_dim: int
    emb_dim: int
    attention_dim: int
    decoder_dim: int
    dropout: float

    def setup(self):
        self.embedding = nn.Embed(self.vocab_size, self.emb_dim, embedding_init=_uniform(0.1))
        self.encoder_att = nn.Dense(self.attention_dim)
        self.decoder_att = nn.Dense(self.attention_dim)
        self.full_att = nn.Dense(1)
        self.init_h = nn.Dense(self.decoder_dim)
        self.init_c = nn.Dense(self.decoder_dim)
        self.f_beta = nn.Dense(self.encoder_dim)
        self.lstm = nn.LSTMCell(self.decoder_dim)
        self.drop = nn.Dropout(self.dropout)
        self.fc = nn.Dense(self.vocab_size, kernel_init=_uniform(0.1), bias_init=nn.initializers.zeros)

    def context(self, feats_BxPxD):
        """What every step reads: the features and their attention projection (computed once per image)."""
        return {"feats": feats_BxPxD, "att1": self.encoder_att(feats_BxPxD)}

    def initial(self, ctx):
        mean_BxD = ctx["feats"].mean(axis=1)
        return (self.init_c(mean_BxD), self.init_h(mean_BxD))  # Flax's LSTMCell carry is (c, h)

    def step(self, ctx, carry, tokens_B, train: bool):
        """One word in: (carry, logits of the next word [B, V], attention [B, P])."""
        _, h = carry
        att2_BxA = self.decoder_att(h)
        scores_BxP = self.full_att(nn.relu(ctx["att1"] + att2_BxA[:, None, :]))[..., 0]
        alpha_BxP = jax.nn.softmax(scores_BxP, axis=-1)
        context_BxD = jnp.einsum("bp,bpd->bd", alpha_BxP, ctx["feats"])
        gate_BxD = jax.nn.sigmoid(self.f_beta(h))
        x = jnp.concatenate([self.embedding(tokens_B), gate_BxD * context_BxD], axis=-1)
        carry, h = self.lstm(carry, x)
        return carry, self.fc(self.drop(h, deterministic=not train)), alpha_BxP

    def __call__(self, feats_BxPxD, tokens_B, train: bool):
        """Touches every layer once (what ``init`` runs)."""
        ctx = self.context(feats_BxPxD)
        return self.step(ctx, self.initial(ctx), tokens_B, train)


class ShowTellDecoder(nn.Module):
    """Show and Tell (NIC): the image embedding enters the LSTM once, at t = -1, then the words."""

    vocab_size: int
    encoder_dim: int
    emb_dim: int
    attention_dim: int  # unused (one constructor for both decoders)
    decoder_dim: int
    dropout: float

    def setup(self):
        self.embedding = nn.Embed(self.vocab_size, self.emb_dim, embedding_init=_uniform(0.1))
        self.image_embedding = nn.Dense(self.emb_dim)
        self.lstm = nn.LSTMCell(self.decoder_dim)
        self.drop = nn.Dropout(self.dropout)
        self.fc = nn.Dense(self.vocab_size, kernel_init=_uniform(0.1), bias_init=nn.initializers.zeros)

    def context(self, feats_BxPxD):
        return {"feats": feats_BxPxD}

    def initial(self, ctx):
        x_BxE = self.image_embedding(ctx["feats"].mean(axis=1))  # the CNN's pooled output, as GoogLeNet's
        zeros = jnp.zeros((x_BxE.shape[0], self.decoder_dim), x_BxE.dtype)
        carry, _ = self.lstm((zeros, zeros), x_BxE)  # t = -1
        return carry

    def step(self, ctx, carry, tokens_B, train: bool):
        carry, h = self.lstm(carry, self.embedding(tokens_B))
        alpha_BxP = jnp.zeros(ctx["feats"].shape[:2], h.dtype)
        return carry, self.fc(self.drop(h, deterministic=not train)), alpha_BxP

    def __call__(self, feats_BxPxD, tokens_B, train: bool):
        ctx = self.context(feats_BxPxD)
        return self.step(ctx, self.initial(ctx), tokens_B, train)


def encoder_dim(config: Config) -> int:
    return resnet.ResNet(config.encoder, config.encoder_width, config.encoder_stages).out_channels


def nets(config: Config) -> tuple[resnet.Encoder, nn.Module]:
    enc = resnet.Encoder(config.encoder, config.encoder_width, config.encoder_stages, config.encoded_image_size)
    cls = AttentionDecoder if config.decoder == "attention" else ShowTellDecoder
    dec = cls(config.vocab_size, encoder_dim(config), config.emb_dim, config.attention_dim, config.decoder_dim,
              config.dropout)
    return enc, dec


def encoder_mode(config: Config) -> str:
    """'none' (frozen), 'top' (stages 2-4: pretrained + fine-tuning, as the reference) or 'all' (from scratch)."""
    if not config.fine_tune_encoder:
        return "none"
    return "top" if config.pretrained else "all"


# --- optimizers and state ----------------------------------------------------------------------------------------


def _clip(config: Config):
    return optax.clip(config.grad_clip) if config.grad_clip > 0 else optax.identity()


def decoder_tx(config: Config) -> optax.GradientTransformation:
    return optax.chain(_clip(config), optax.adam(config.decoder_lr))


def encoder_tx(config: Config) -> optax.GradientTransformation:
    adam = optax.chain(_clip(config), optax.adam(config.encoder_lr))
    if encoder_mode(config) != "top":
        return adam

    def labels(params):  # the reference fine-tunes resnet.children()[5:]: layer2, layer3, layer4
        return {"resnet": {k: jax.tree.map(lambda _: "frozen" if not k.startswith(("layer2", "layer3", "layer4"))
                                           else "train", v) for k, v in params["resnet"].items()}}

    return optax.multi_transform({"train": adam, "frozen": optax.set_to_zero()}, labels)


def _load_pretrained(config: Config, params, batch_stats):
    """The file's values, read at run time by a host callback (no 170 MB constant inside the compiled init)."""
    shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, jnp.float32), (params, batch_stats))

    def read():
        return resnet.load_torch_resnet(config.pretrained, *shapes)

    return jax.pure_callback(read, shapes)


def init(rng: jax.Array, config: Config) -> State:
    enc, dec = nets(config)
    enc_key, dec_key, drop_key = jax.random.split(rng, 3)
    images = jnp.zeros((1, config.img_size, config.img_size, 3), jnp.float32)
    variables = enc.init(enc_key, images, train=False)
    params, stats = variables["params"], variables["batch_stats"]
    if config.pretrained:
        params, stats = _load_pretrained(config, params, stats)
    encoder = netstate.Net(params=params, batch_stats=stats, opt_state=encoder_tx(config).init(params))
    feats = jnp.zeros((1, config.encoded_image_size ** 2, encoder_dim(config)), jnp.float32)
    dec_params = dec.init({"params": dec_key, "dropout": drop_key}, feats, jnp.zeros((1,), jnp.int32),
                          train=False)["params"]
    decoder = netstate.Net(params=dec_params, batch_stats={}, opt_state=decoder_tx(config).init(dec_params))
    return State(step=jnp.zeros((), jnp.int32), encoder=encoder, decoder=decoder, config=config)


# --- the pieces of a step (also used by decoding) ----------------------------------------------------------------


def encode(state: State, images_BxHxWx3: jax.Array, *, train: bool = False, params=None):
    """(features [B, P, D], new batch_stats)."""
    enc, _ = nets(state.config)
    return netstate.apply(enc, state.encoder, images_BxHxWx3, train=train, params=params)


def decoder_fns(state: State, params=None):
    """(context(feats), initial(ctx), step(ctx, carry, tokens, train, rng)) bound to the decoder's params."""
    _, dec = nets(state.config)
    variables = {"params": state.decoder.params if params is None else params}

    def context(feats):
        return dec.apply(variables, feats, method=dec.context)

    def initial(ctx):
        return dec.apply(variables, ctx, method=dec.initial)

    def step(ctx, carry, tokens, train=False, rng=None):
        rngs = {"dropout": rng} if train else {}
        return dec.apply(variables, ctx, carry, tokens, train, method=dec.step, rngs=rngs)

    return context, initial, step


def teacher_forced(state: State, feats_BxPxD, caption_BxL, rng, *, train: bool, params=None):
    """Logits [B, L-1, V] for each next word given the true previous ones, and attention [B, L-1, P]."""
    context, initial, step = decoder_fns(state, params)
    ctx = context(feats_BxPxD)
    inputs_LxB = caption_BxL[:, :-1].T
    keys = jax.random.split(rng, inputs_LxB.shape[0])

    def body(carry, xs):
        tokens, key = xs
        carry, logits, alpha = step(ctx, carry, tokens, train, key)
        return carry, (logits, alpha)

    _, (logits_LxBxV, alphas_LxBxP) = jax.lax.scan(body, initial(ctx), (inputs_LxB, keys))
    return logits_LxBxV.transpose(1, 0, 2), alphas_LxBxP.transpose(1, 0, 2)


def word_mask(length_B, n_steps: int) -> jax.Array:
    """[B, n_steps] True where step t predicts a real token (a word or <end>): t < length - 1."""
    return jnp.arange(n_steps)[None, :] < (length_B[:, None] - 1)


def masked_xent(logits_BxTxV, targets_BxT, mask_BxT) -> jax.Array:
    """Mean cross-entropy over the real tokens of the batch (the reference's pack_padded_sequence + mean)."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, targets_BxT)
    return jnp.sum(ce * mask_BxT) / jnp.maximum(jnp.sum(mask_BxT), 1)


def doubly_stochastic(alphas_BxTxP, mask_BxT) -> jax.Array:
    """mean over images and pixels of (1 - sum over the caption's steps of alpha)^2 (Xu et al. eq. 14, as the
    reference averages it): pushes the model to look at every part of the image over the whole caption."""
    total_BxP = jnp.sum(alphas_BxTxP * mask_BxT[..., None], axis=1)
    return jnp.mean((1.0 - total_BxP) ** 2)


def loss_terms(state: State, enc_params, dec_params, batch, rng, *, train: bool = True):
    mode = encoder_mode(state.config)
    feats, stats = encode(state, batch["image"], train=train and mode != "none", params=enc_params)
    if mode == "none":
        feats = jax.lax.stop_gradient(feats)
    caption = batch["caption"]
    logits, alphas = teacher_forced(state, feats, caption, rng, train=train, params=dec_params)
    mask = word_mask(batch["length"], caption.shape[1] - 1)
    targets = caption[:, 1:]
    xent = masked_xent(logits, targets, mask)
    att = doubly_stochastic(alphas, mask) if state.config.decoder == "attention" else jnp.zeros(())
    loss = xent + state.config.alpha_c * att
    top5 = jnp.any(jax.lax.top_k(logits, 5)[1] == targets[..., None], axis=-1)
    metrics = {"loss": loss, "xent": xent, "att_reg": att,
               "top5": jnp.sum(top5 * mask) / jnp.maximum(jnp.sum(mask), 1)}
    return loss, (metrics, stats)


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One teacher-forced step on both networks (the encoder only when it is trained)."""
    config = state.config
    train_encoder = encoder_mode(config) != "none"

    def loss_fn(enc_params, dec_params):
        return loss_terms(state, enc_params, dec_params, batch, rng)

    argnums = (0, 1) if train_encoder else 1
    (_, (metrics, stats)), grads = jax.value_and_grad(loss_fn, argnums=argnums, has_aux=True)(
        state.encoder.params, state.decoder.params)
    if train_encoder:
        enc_grads, dec_grads = grads
        encoder = netstate.update(state.encoder, encoder_tx(config), enc_grads, stats)
    else:
        dec_grads, encoder = grads, state.encoder
    decoder = netstate.update(state.decoder, decoder_tx(config), dec_grads)
    return state.replace(step=state.step + 1, encoder=encoder, decoder=decoder), metrics


def check_pretrained(config: Config) -> list[str]:
    """Read the pretrained file on the host before training starts (errors name the problem); returns the names
    in it that the encoder does not use."""
    if not config.pretrained:
        return []
    enc, _ = nets(config)
    shapes = jax.eval_shape(lambda: enc.init(jax.random.key(0), jnp.zeros((1, config.img_size, config.img_size, 3)),
                                             train=False))
    resnet.load_torch_resnet(config.pretrained, shapes["params"], shapes["batch_stats"])
    return resnet.unused_tensors(config.pretrained, shapes["params"], shapes["batch_stats"])


def count_params(state: State) -> dict[str, int]:
    return {"encoder": netstate.count_params(state.encoder.params),
            "decoder": netstate.count_params(state.decoder.params)}

