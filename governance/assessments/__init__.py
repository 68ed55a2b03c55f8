"""Pure assessment computations: arrays and frames in, JSON-ready results out; no database."""
