//! Noise injection and training (filled in by the training issue).
