//! lookout-buffer
