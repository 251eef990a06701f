//! Instances of every class the device serves, built from its state and persona. Each family
//! module builds the classes it owns; this module asks them in turn.

use amt_wsman::classes::KnownClass;
use amt_wsman::Instance;

use super::{auth, certs, manage, setup, Env, Firmware, Routed};

/// Every instance of `class`, or `None` when the device does not serve the class.
pub fn instances(fw: &Firmware, class: KnownClass, env: &mut Env<'_>) -> Option<Vec<Instance>> {
    let class = match setup::instances(fw, class, env) {
        Routed::Done(v) => return Some(v),
        Routed::Pass(c) => c,
    };
    let class = match auth::instances(fw, class, env) {
        Routed::Done(v) => return Some(v),
        Routed::Pass(c) => c,
    };
    let class = match certs::instances(fw, class, env) {
        Routed::Done(v) => return Some(v),
        Routed::Pass(c) => c,
    };
    match manage::instances(fw, class, env) {
        Routed::Done(v) => Some(v),
        Routed::Pass(_) => None,
    }
}
