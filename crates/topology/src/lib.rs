//! lookout-topology
