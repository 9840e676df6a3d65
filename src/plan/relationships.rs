//! Embedding: finding the relationship between two relations (foreign keys, views, junctions).
