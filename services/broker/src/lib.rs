//! Tandem broker service (under construction).
