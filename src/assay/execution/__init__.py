"""Running steps: the context an asset sees, one step, and the run that orders them."""
