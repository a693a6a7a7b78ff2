"""The Pulumi policy pack (see __main__.py); its adapter is importable for tests."""
