//! Request handlers, one module per resource. Each engine call runs on tokio's blocking pool
//! ([`Ctx`]'s `blocking`), never on an async worker, under the request's deadline. The key
//! handlers take the keyspace they act on ([`key_route`] resolves it), so `/keys` and
//! `/keyspaces/{ks}/keys` share them.

mod admin;
mod admin_page;
mod batch;
mod context;
mod flags;
mod indexes;
mod keys;
mod keyspaces;
mod listing;
mod precondition;
mod range_delete;
mod replicated;
pub(crate) mod watch;

pub(crate) use admin::{health, metrics, stats};
pub(crate) use admin_page::{admin_checkpoint, admin_flush, admin_page, admin_tables};
pub(crate) use context::{Ctx, Resp, error_response};
pub(crate) use flags::{get_feature, list_features, post_feature};
pub(crate) use indexes::{delete_index, list_indexes, post_index, query_index};
pub(crate) use keyspaces::{
    delete_keyspace, get_keyspace, key_route, list_keyspaces, post_keyspace, put_keyspace,
};
pub(crate) use replicated::{EMPTY, cluster_route, refused_in_cluster};
pub(crate) use watch::{Watchers, watch};
