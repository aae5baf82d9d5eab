"""Datasets: CIFAR-10 readers and the shipped sample set."""
