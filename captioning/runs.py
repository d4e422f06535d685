"""A captioning run directory: ``config.json`` (written by the engine, with the data it was trained on and the
vocabulary's fingerprint), ``vocab.json``, ``checkpoints/``. Opening one checks that the three belong together."""

from __future__ import annotations

import os
from typing import NamedTuple

from captioning import model as model_lib
from captioning.vocab import Vocab, VocabularyError
from gan_jax.engine import Checkpointer, CheckpointError, config_from_dict, make_mesh
from gan_jax.engine.loop import abstract_state
from gan_jax.runs import saved_run

VOCAB_FILE = "vocab.json"


class Run(NamedTuple):
    config: model_lib.Config
    state: model_lib.State
    vocab: Vocab
    saved: dict  # config.json: 'data' (how to rebuild its splits), 'vocab_sha', 'run'...
    step: int


def read_saved(run_dir: str) -> dict:
    return saved_run(run_dir, model=model_lib.NAME)


def check_vocab(vocab: Vocab, config: model_lib.Config, saved: dict, where: str) -> None:
    """The vocabulary must be the one the checkpoint's embedding and output layer were trained with."""
    if len(vocab) != config.vocab_size or saved.get("vocab_sha") not in (None, vocab.sha):
        raise VocabularyError(f"the vocabulary in {where} ({len(vocab)} tokens, fingerprint {vocab.sha}) does not "
                              f"match the checkpoint's ({config.vocab_size} tokens, fingerprint "
                              f"{saved.get('vocab_sha')}): captions would come out as the wrong words")


def load_run(run_dir: str, step: int | None = None) -> Run:
    run_dir = os.path.abspath(run_dir)
    saved = read_saved(run_dir)
    config = config_from_dict(model_lib.Config, saved["config"])
    vocab = Vocab.load(os.path.join(run_dir, VOCAB_FILE))
    check_vocab(vocab, config, saved, os.path.join(run_dir, VOCAB_FILE))
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"), read_only=True)
    try:
        meta = ckpt.read_meta(step)
        if meta.get("model") != model_lib.NAME:
            raise CheckpointError(f"checkpoint in {run_dir} is of model {meta.get('model')!r}")
        state, meta = ckpt.restore(abstract_state(model_lib, config, make_mesh(1)), step)
    finally:
        ckpt.close()
    return Run(config, state, vocab, saved, int(meta["step"]))
