"""Greedy decoding and beam search, batched and jit-compiled with static shapes (a ``lax.while_loop`` over
tokens that stops as soon as no image can change its answer), for any decoder that exposes
``step(carry, tokens [N]) -> (carry, logits [N, V], alpha [N, P])``.

Scores are sums of log-probabilities, without length normalisation (as the reference implementation and NIC);
<pad> and <start> are never emitted.
Beam search keeps ``beam_size`` live hypotheses per image (``B * K`` rows, one step call per token for all of
them); a hypothesis that emits <end> leaves the live set and competes for the image's best finished caption;
the live set is refilled from the best remaining extensions. Since scores only fall, decoding stops when no live
hypothesis of any image beats that image's best finished one (or at ``max_len`` tokens, when an image that has
finished nothing gets its best live, truncated hypothesis). Beam size 1 is exactly greedy decoding.

Outputs (a dict of arrays): 'tokens' int32 [B, max_len] (words, <end>, then <pad>), 'lengths' [B] (words + <end>),
'scores' [B], and with ``return_alphas`` 'alphas' [B, max_len, P] (the attention that chose each token; zeros
for NIC, which has none).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from captioning import model as model_lib
from captioning.vocab import END_ID, PAD_ID, START_ID

NEG = -1e30  # "impossible" that stays finite (inf - inf would give NaN)


class DecodeError(ValueError):
    """A decoding request that cannot be served (beam size < 1, max_len < 1)."""


def check_beam(beam_size: int) -> None:
    if not isinstance(beam_size, int) or beam_size < 1:
        raise DecodeError(f"beam size must be an integer >= 1, got {beam_size!r}")


def _log_probs(logits_NxV):
    """Log-probabilities of the next word; <pad> and <start> (never a training target) cannot be chosen. The
    others are not renormalised, so a caption's score is the model's own log-probability of it."""
    logp = jax.nn.log_softmax(logits_NxV.astype(jnp.float32), axis=-1)
    return logp.at[:, jnp.asarray([PAD_ID, START_ID])].set(NEG)


def _lengths(tokens_BxT):
    """Tokens up to and including the first <end> (all of them when there is none)."""
    is_end = tokens_BxT == END_ID
    first = jnp.argmax(is_end, axis=1)
    return jnp.where(jnp.any(is_end, axis=1), first + 1, tokens_BxT.shape[1]).astype(jnp.int32)


def greedy_search(step_fn: Callable, carry, batch_size: int, max_len: int, return_alphas: bool = False) -> dict:
    """The most likely next word at every step, for ``batch_size`` rows at once."""
    B, T = batch_size, max_len
    _, logits0, alpha0 = jax.eval_shape(step_fn, carry, jnp.zeros((B,), jnp.int32))
    P = alpha0.shape[-1] if return_alphas else 0
    init = dict(t=jnp.int32(0), carry=carry, prev=jnp.full((B,), START_ID, jnp.int32),
                tokens=jnp.full((B, T), PAD_ID, jnp.int32), scores=jnp.zeros((B,), jnp.float32),
                done=jnp.zeros((B,), bool), alphas=jnp.zeros((B, T, P), jnp.float32))

    def cond(s):
        return (s["t"] < T) & ~jnp.all(s["done"])

    def body(s):
        carry, logits, alpha = step_fn(s["carry"], s["prev"])
        logp = _log_probs(logits)
        tok = jnp.argmax(logp, axis=-1).astype(jnp.int32)
        tok = jnp.where(s["done"], PAD_ID, tok)
        gained = jnp.where(s["done"], 0.0, jnp.take_along_axis(logp, tok[:, None], axis=1)[:, 0])
        out = dict(t=s["t"] + 1, carry=carry, prev=tok, tokens=s["tokens"].at[:, s["t"]].set(tok),
                   scores=s["scores"] + gained, done=s["done"] | (tok == END_ID), alphas=s["alphas"])
        if return_alphas:
            out["alphas"] = s["alphas"].at[:, s["t"]].set(jnp.where(s["done"][:, None], 0.0, alpha))
        return out

    s = jax.lax.while_loop(cond, body, init)
    result = {"tokens": s["tokens"], "scores": s["scores"], "lengths": _lengths(s["tokens"])}
    if return_alphas:
        result["alphas"] = s["alphas"]
    return result


def beam_search(step_fn: Callable, carry, batch_size: int, beam_size: int, max_len: int,
                return_alphas: bool = False) -> dict:
    """Beam search; ``carry`` (and whatever ``step_fn`` closes over) has ``batch_size * beam_size`` rows, image b's
    beams being rows ``b * beam_size .. b * beam_size + beam_size - 1``."""
    check_beam(beam_size)
    B, K, T = batch_size, beam_size, max_len
    N = B * K
    _, logits0, alpha0 = jax.eval_shape(step_fn, carry, jnp.zeros((N,), jnp.int32))
    V = logits0.shape[-1]
    P = alpha0.shape[-1] if return_alphas else 0
    init = dict(
        t=jnp.int32(0), carry=carry,
        tokens=jnp.full((B, K, T), PAD_ID, jnp.int32),
        # only beam 0 is live at the start: the K beams would otherwise be K copies of one hypothesis
        scores=jnp.where(jnp.arange(K)[None, :] == 0, 0.0, NEG) * jnp.ones((B, 1), jnp.float32),
        alphas=jnp.zeros((B, K, T, P), jnp.float32),
        best_tokens=jnp.full((B, T), PAD_ID, jnp.int32), best_score=jnp.full((B,), NEG, jnp.float32),
        best_alphas=jnp.zeros((B, T, P), jnp.float32), found=jnp.zeros((B,), bool))

    def cond(s):
        # scores only fall: an image is settled once its best finished caption beats all of its live beams
        open_ = jnp.max(s["scores"], axis=1) > jnp.where(s["found"], s["best_score"], 2 * NEG)
        return (s["t"] < T) & jnp.any(open_ & (jnp.max(s["scores"], axis=1) > NEG / 2))

    def body(s):
        t = s["t"]
        prev = jnp.where(t == 0, START_ID, s["tokens"][:, :, jnp.maximum(t - 1, 0)]).reshape(N)
        carry, logits, alpha = step_fn(s["carry"], prev)
        logp = _log_probs(logits).reshape(B, K, V)
        cand_BxKV = (s["scores"][:, :, None] + logp).reshape(B, K * V)
        top_scores, top_idx = jax.lax.top_k(cand_BxKV, K)
        src_BxK, tok_BxK = top_idx // V, (top_idx % V).astype(jnp.int32)
        dead = s["scores"] <= NEG / 2  # a source beam that was never live
        live_src = ~jnp.take_along_axis(dead, src_BxK, axis=1)
        tokens = jnp.take_along_axis(s["tokens"], src_BxK[:, :, None], axis=1).at[:, :, t].set(tok_BxK)
        alphas = s["alphas"]
        if return_alphas:
            alpha_BxKxP = jnp.take_along_axis(alpha.reshape(B, K, -1), src_BxK[:, :, None], axis=1)
            alphas = jnp.take_along_axis(alphas, src_BxK[:, :, None, None], axis=1).at[:, :, t].set(alpha_BxKxP)
        # hypotheses that end here leave the beam; the best of them may become the image's answer
        ended = (tok_BxK == END_ID) & live_src & (top_scores > NEG / 2)
        ended_scores = jnp.where(ended, top_scores, NEG)
        k_best = jnp.argmax(ended_scores, axis=1)
        new_best = jnp.take_along_axis(ended_scores, k_best[:, None], axis=1)[:, 0]
        better = jnp.any(ended, axis=1) & (new_best > s["best_score"])
        best_tokens = jnp.where(better[:, None], tokens[jnp.arange(B), k_best], s["best_tokens"])
        best_alphas = s["best_alphas"]
        if return_alphas:
            best_alphas = jnp.where(better[:, None, None], alphas[jnp.arange(B), k_best], best_alphas)
        scores = jnp.where(ended | ~live_src, NEG, top_scores)
        rows = (jnp.arange(B)[:, None] * K + src_BxK).reshape(N)
        carry = jax.tree.map(lambda x: x[rows], carry)
        return dict(t=t + 1, carry=carry, tokens=tokens, scores=scores, alphas=alphas, best_tokens=best_tokens,
                    best_score=jnp.where(better, new_best, s["best_score"]), best_alphas=best_alphas,
                    found=s["found"] | better)

    s = jax.lax.while_loop(cond, body, init)
    # an image with no finished caption by max_len: its best live (truncated) hypothesis
    k_live = jnp.argmax(s["scores"], axis=1)
    tokens = jnp.where(s["found"][:, None], s["best_tokens"], s["tokens"][jnp.arange(B), k_live])
    scores = jnp.where(s["found"], s["best_score"], s["scores"][jnp.arange(B), k_live])
    result = {"tokens": tokens, "scores": scores, "lengths": _lengths(tokens)}
    if return_alphas:
        result["alphas"] = jnp.where(s["found"][:, None, None], s["best_alphas"], s["alphas"][jnp.arange(B), k_live])
    return result


# --- the captioning model's decoders -------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("beam_size", "max_len", "return_alphas"))
def caption_images(state: model_lib.State, images_BxHxWx3: jax.Array, beam_size: int = 1, max_len: int = 0,
                   return_alphas: bool = False) -> dict:
    """Captions of a batch of images: greedy for ``beam_size`` 1, else beam search. ``max_len`` counts words
    and <end> (default: the config's ``max_len - 1``)."""
    max_len = max_len or state.config.max_len - 1
    feats, _ = model_lib.encode(state, images_BxHxWx3, train=False)
    B = feats.shape[0]
    context, initial, step = model_lib.decoder_fns(state)
    if beam_size == 1:
        ctx = context(feats)
        return greedy_search(lambda c, tok: step(ctx, c, tok), initial(ctx), B, max_len, return_alphas)
    ctx = context(jnp.repeat(feats, beam_size, axis=0))
    return beam_search(lambda c, tok: step(ctx, c, tok), initial(ctx), B, beam_size, max_len, return_alphas)


def caption(state: model_lib.State, images_BxHxWx3, beam_size: int = 1, max_len: int = 0,
            return_alphas: bool = False) -> dict:
    """:func:`caption_images` with the beam size checked first (a clear error, not a shape error from XLA)."""
    check_beam(beam_size)
    if max_len < 0:
        raise DecodeError(f"max_len must be >= 1, got {max_len}")
    return caption_images(state, images_BxHxWx3, beam_size=beam_size, max_len=max_len, return_alphas=return_alphas)
