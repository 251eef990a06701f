//! DMTF `CIM_*` classes (resource URI base `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/`).

mod boot;
mod common;
mod inventory;
mod kvm;
mod power;
pub use boot::*;
pub use common::*;
pub use inventory::*;
pub use kvm::*;
pub use power::*;
