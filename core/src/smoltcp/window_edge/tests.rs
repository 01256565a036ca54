//! Tests: TODO
