"""Pulumi component resources, one per concern, with the pure document builders they use beside them."""
