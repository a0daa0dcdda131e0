"""Embedding collaborative filtering: config, torch module, training loop, early stopping."""
