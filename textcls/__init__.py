"""textcls: sentence classification with Kim's TextCNN (EMNLP 2014), trained with gan_jax.engine.

    python -m textcls.train --variant multichannel --dataset mr:rt-polaritydata \\
        --vectors GoogleNews-vectors-negative300.bin
    python -m textcls.predict --run runs/textcnn "a gorgeous, witty, seductive movie"
    python -m textcls.evaluate --run runs/textcnn

Modules: ``text`` (Kim's cleaning, vocabulary, padding), ``vectors`` (word2vec/GloVe files), ``data`` (the paper's
datasets, tfds, the offline tweets), ``model`` (Config, init, train_step), ``word2vec`` (skip-gram vectors for
corpora without pre-trained ones), ``train`` / ``predict`` / ``evaluate`` (the commands).
"""
