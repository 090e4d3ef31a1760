//! Writer, retention and reader tests over a real file.
