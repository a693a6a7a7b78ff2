"""The Docker layer every component builds on: the hardened container and its files volumes, the baseline and
its documented exceptions, labels, image contracts and the data stores' start-up wrapper. Nothing here imports
from the components above it."""
