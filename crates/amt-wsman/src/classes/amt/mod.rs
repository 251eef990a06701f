//! Intel `AMT_*` classes (resource URI base `http://intel.com/wbem/wscim/1/amt-schema/1/`).

mod general;
pub use general::*;
