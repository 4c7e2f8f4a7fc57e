"""The example project: an online shop (see shop.py)."""
