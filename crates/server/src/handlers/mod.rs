//! Request handlers, one module per resource. Each engine call runs on tokio's blocking pool
//! ([`Ctx`]'s `engine`), never on an async worker, under the request's deadline.

mod admin;
mod admin_page;
mod batch;
mod context;
mod flags;
mod keys;
mod listing;
mod precondition;

pub(crate) use admin::{health, metrics, stats};
pub(crate) use admin_page::{admin_checkpoint, admin_flush, admin_page, admin_tables};
pub(crate) use batch::{batch, multi_get};
pub(crate) use context::{Ctx, Resp, error_response};
pub(crate) use flags::{get_feature, list_features, post_feature};
pub(crate) use keys::{delete_key, get_key, post_key, put_raw};
pub(crate) use listing::{list, search_prefix, search_substring};
