"""ifupdown-agg: aggregate several NICs into one fast pipe between hosts."""

__version__ = "0.1.0"
