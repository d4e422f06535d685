"""Data kinds beyond plain/labelled images; kind K is gan_jax/data/kinds/K.py (see gan_jax.data)."""
