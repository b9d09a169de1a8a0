"""Optimizers over method x branches x draft length (x model). Strategies register in STRATEGIES."""
