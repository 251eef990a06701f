//! Intel `IPS_*` classes (resource URI base `http://intel.com/wbem/wscim/1/ips-schema/1/`).

mod alarm;
mod hostbasedsetup;
mod kvm;
mod optin;
mod power;
pub use alarm::*;
pub use hostbasedsetup::*;
pub use kvm::*;
pub use optin::*;
pub use power::*;
