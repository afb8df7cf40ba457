//! Tandem signaling service (under construction).
