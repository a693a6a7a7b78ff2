"""The public edge (`payment:gateway:*`): Kong in front of the routed services."""
