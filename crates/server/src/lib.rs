//! lookout-server
