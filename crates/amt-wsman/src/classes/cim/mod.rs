//! DMTF `CIM_*` classes (resource URI base `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/`).

mod power;
pub use power::*;
