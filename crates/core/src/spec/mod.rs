//! The `breakglass.dev/v1alpha1` spec and status types: grants, policies, and the pause
//! records they share.

mod grant;
mod ledger;
mod pause;
mod policy;
mod sessions;

pub use grant::*;
pub use ledger::*;
pub use pause::*;
pub use policy::*;
pub use sessions::*;
