"""fmnist: Fashion-MNIST classification as a reproducible DVC pipeline (see README.md)."""
