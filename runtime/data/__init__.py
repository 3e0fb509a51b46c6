"""netc.runtime.data: datasets (spiral, MNIST, user .npz/.csv) as NumPy arrays."""
