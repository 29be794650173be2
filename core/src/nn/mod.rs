//! Fixed-size networks (filled in by the networks issue).
