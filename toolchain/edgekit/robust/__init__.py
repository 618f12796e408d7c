"""Robustness to bad electrode contacts (RoHDE approach): a conditional WGAN-GP that generates
disturbed feature frames per class (gan.py), fine-tuning on a clean + generated mix (finetune.py),
and evaluation with majority voting over consecutive windows (evaluate.py)."""
