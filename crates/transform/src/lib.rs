//! lookout-transform
