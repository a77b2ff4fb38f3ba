"""The rad3d-hf test suite (a package, so ``tests.*`` helpers never resolve to another distribution's ``tests``)."""
