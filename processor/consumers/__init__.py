"""One module per consumer; each defines `CONSUMER`, listed in `processor.registry`."""
