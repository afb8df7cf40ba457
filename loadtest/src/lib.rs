//! Tandem load tester (under construction).
