//! Tandem relay service (under construction).
