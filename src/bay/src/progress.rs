//! Pull and push progress display.
