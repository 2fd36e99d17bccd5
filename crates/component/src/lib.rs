//! lookout-component
