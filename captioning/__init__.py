"""Image captioning in JAX/Flax: Show and Tell (NIC) and Show, Attend and Tell (soft attention), trained with
gan_jax.engine.

    python -m captioning.train --decoder attention --out runs/cap      # offline captioned scenes, CPU preset
    python -m captioning.caption IMAGE... --run runs/cap --beam 5      # captions + attention maps (PNG)
    python -m captioning.evaluate --run runs/cap --beam 1,3,5          # corpus BLEU-1..4 on the test split

Modules: ``model`` (Config, init, train_step, the decoders), ``resnet`` (encoder, torchvision weight loader),
``decode`` (greedy and beam search), ``data`` (offline scenes, Karpathy JSON, tfds coco_captions), ``vocab``,
``metrics`` (BLEU, optional METEOR/CIDEr), ``runs`` (opening a trained run), ``train`` / ``caption`` /
``evaluate`` (the command lines).
"""
