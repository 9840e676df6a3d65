//! Filters and logic trees -> SQL boolean expressions.
