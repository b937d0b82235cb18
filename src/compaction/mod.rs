//! Compaction: choosing work ([`picker`], pure) and doing it (`job`: merge, drop garbage, write
//! split outputs). Installing the result and scheduling live in `db/compact.rs`.

pub(crate) mod job;
pub mod picker;

#[cfg(any(test, feature = "internal"))]
pub use picker::{PickerConfig, Plan, TableView};
