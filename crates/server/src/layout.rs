//! How the server lays its data out in the database.
//!
//! - User keys live in the engine's `default` keyspace as they are (no prefix), so the `lsmkv`
//!   shell and the server see the same keys. `/keys` is that keyspace; `/keyspaces/{ks}/keys`
//!   any other.
//! - Feature flags live in the keyspace [`FLAGS`], flag `id` as the key `id` with the value
//!   `{"enabled": bool, "version": N}`. The server keeps that keyspace for itself: the key routes
//!   may read it but not write it, and it cannot be created or dropped through the API.
//! - Secondary indexes made through `/indexes` are engine indexes (each a keyspace of its own,
//!   [`INDEX_PREFIX`]`<name>`); their definitions (keyspace and JSON field) live in the keyspace
//!   [`SERVER_INDEXES`], index name as the key, so that the server declares them again at every
//!   start (see `indexes`). Both kinds are the server's own, like [`FLAGS`]: readable through the
//!   key routes, never writable there, never created or dropped through `/keyspaces`.
//! - While a migration from the old layout runs (see `migrate`), the marker [`MARKER`] in
//!   [`FLAGS`] records its step. It is not UTF-8, so it is never a flag id; it is deleted when
//!   the migration ends.
//!
//! Servers up to commit `0b5c300` kept everything in one key space instead: user key `K` as
//! `b"k" ++ K`, flag `id` as `b"f" ++ id`. `migrate` moves such a database once, at start-up.

use lsmkv::MAX_KEY_SIZE;

/// The keyspace of `/keys`: the engine's own default.
pub const DEFAULT: &str = "default";
/// The keyspace of the feature flags.
pub const FLAGS: &str = "flags";
/// The keyspace of the server's index definitions (created with the first index).
pub const SERVER_INDEXES: &str = crate::index_def::DEFINITIONS;
/// Names of keyspaces the server keeps for itself start with this.
pub const SERVER_PREFIX: &str = "__server/";
/// Names of the engine's index keyspaces start with this (the engine's own reservation).
pub const INDEX_PREFIX: &str = crate::index_def::INDEX_KEYSPACE_PREFIX;
/// Key of the migration marker in [`FLAGS`] (not UTF-8, so never a flag id).
pub const MARKER: &[u8] = b"\xfflsmkv-server-migration";

/// Longest user key (or flag id) accepted: one byte below the engine's limit, as it was when the
/// old layout spent a byte on the prefix, so the API's limit did not change.
pub const MAX_USER_KEY: usize = MAX_KEY_SIZE - 1;

/// Prefix byte of user keys in the old layout.
pub const OLD_USER: u8 = b'k';
/// Prefix byte of feature flags in the old layout.
pub const OLD_FLAG: u8 = b'f';

/// Whether keyspace `name` belongs to the server or the engine: [`FLAGS`], the server's
/// `__server/...` keyspaces and the engine's index keyspaces `__index/...`.
pub fn is_reserved(name: &str) -> bool {
    name == FLAGS || name.starts_with(SERVER_PREFIX) || name.starts_with(INDEX_PREFIX)
}

/// Whether the key routes may write keyspace `name` (the reserved keyspaces are read-only to
/// them).
pub fn writable_by_key_routes(name: &str) -> bool {
    !is_reserved(name)
}
