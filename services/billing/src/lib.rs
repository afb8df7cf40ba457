//! Tandem billing service (under construction).
