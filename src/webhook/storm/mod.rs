//! Alert storms: many alerts in one notification become few grants (one per policy, rule
//! and user), decided purely (`aggregate`) and written with bounded concurrency (`write`).

pub mod aggregate;
pub mod grant;
pub mod write;
