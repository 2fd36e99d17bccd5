//! lookout-sinks
