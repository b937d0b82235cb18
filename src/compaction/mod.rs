//! Compaction: choosing work ([`picker`], pure) and doing it (`job`: merge, drop garbage, write
//! split outputs; `retention`: expiry and the compaction filter). Installing the result and
//! scheduling live in `db/compact.rs`.

pub(crate) mod job;
pub mod picker;
pub(crate) mod retention;

#[cfg(any(test, feature = "internal"))]
pub use picker::{PickerConfig, Plan, TableView};
