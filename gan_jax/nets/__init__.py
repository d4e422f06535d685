"""Shared building blocks: layers with PyTorch's initializers, the per-network train state, DCGAN stacks."""
