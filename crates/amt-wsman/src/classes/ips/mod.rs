//! Intel `IPS_*` classes (resource URI base `http://intel.com/wbem/wscim/1/ips-schema/1/`).

mod hostbasedsetup;
pub use hostbasedsetup::*;
