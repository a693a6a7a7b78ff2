"""Stand-ins the tests use in place of real providers, kept out of `plan/` (which holds only what `python -m plan`
runs): `tlsmodel.Faithful` issues real keys and certificates where a render shows placeholders."""
