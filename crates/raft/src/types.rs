//! The replicated command ([`Request`] of [`Op`]s), its [`Response`], and the deduplication record.

use serde::{Deserialize, Serialize};

/// Bytes as a base64 string in serde formats (a third more than the bytes, not the four times of
/// a JSON number array).
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// [`b64`] for an optional field.
mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => super::b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// One write of a [`Request`]. `keyspace: None` is the user's `default` keyspace; any other name
/// is a user keyspace (for example the server's flags keyspace), created on first write. Keys
/// and values are raw bytes, base64 strings (standard alphabet, padded) in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Inserts or replaces `key`. With `ttl_ms` the value expires that many milliseconds after it
    /// is applied on each node (each node stamps the expiry with its own clock when it applies the
    /// entry).
    Put {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyspace: Option<String>,
        #[serde(with = "b64")]
        key: Vec<u8>,
        #[serde(with = "b64")]
        value: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_ms: Option<u64>,
    },
    /// Deletes `key` (absent is not an error).
    Delete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyspace: Option<String>,
        #[serde(with = "b64")]
        key: Vec<u8>,
    },
    /// Deletes every key in `start..end` (`end: None`: to the end of the keyspace).
    DeleteRange {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyspace: Option<String>,
        #[serde(with = "b64")]
        start: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
        end: Option<Vec<u8>>,
    },
    /// Deletes every key starting with `prefix`.
    DeletePrefix {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyspace: Option<String>,
        #[serde(with = "b64")]
        prefix: Vec<u8>,
    },
}

impl Op {
    /// The user keyspace the op writes (`None`: `default`).
    pub fn keyspace(&self) -> Option<&str> {
        match self {
            Op::Put { keyspace, .. }
            | Op::Delete { keyspace, .. }
            | Op::DeleteRange { keyspace, .. }
            | Op::DeletePrefix { keyspace, .. } => keyspace.as_deref(),
        }
    }
}

/// The application data of a Raft log entry: a write command. Its ops are applied atomically
/// (one lsmkv `WriteBatch`, together with the applied log id and the deduplication record).
///
/// Deduplication: a request with a non-empty `client` is applied at most once per
/// (`client`, `seq`): the state machine keeps, per client, the last applied `seq` and its
/// [`Response`]. A request whose `seq` is the last one applied returns that stored response
/// without applying again; a `seq` below it is refused (`error` set, nothing applied). A client
/// numbers its requests 1, 2, 3, ... and sends one at a time (a retry reuses the number). An
/// empty `client` is never deduplicated. The table keeps one record per client id ever seen, so
/// clients should reuse a bounded set of ids.
///
/// Every node applies the same checks (key size, value size against its `MAX_VALUE_SIZE`,
/// keyspace name length): the nodes of a cluster must share `MAX_VALUE_SIZE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The client's id ("" for no deduplication).
    #[serde(default)]
    pub client: String,
    /// The client's sequence number of this request.
    #[serde(default)]
    pub seq: u64,
    /// The writes, applied atomically in this order.
    pub ops: Vec<Op>,
    /// Further requests carried by the same log entry (group commit: a leader proposes the
    /// requests that arrive together as one entry, one log append and one fsync for all). Each
    /// is applied after this one's ops, in order, with its own deduplication, as if it had its own
    /// entry; their responses are [`Response::batch`], in the same order. Nested `batch`es are
    /// ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<Request>,
}

impl Request {
    /// A request of `ops` from `client` with sequence number `seq`.
    pub fn new(client: impl Into<String>, seq: u64, ops: Vec<Op>) -> Request {
        Request {
            client: client.into(),
            seq,
            ops,
            batch: Vec::new(),
        }
    }

    /// One request carrying `requests` (see [`Request::batch`]): no ops, no deduplication of its
    /// own.
    pub fn group(requests: Vec<Request>) -> Request {
        Request {
            client: String::new(),
            seq: 0,
            ops: Vec::new(),
            batch: requests,
        }
    }
}

/// What applying a [`Request`] (or a blank or membership entry) returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The index of the log entry that applied the request (for a duplicate: the entry that
    /// applied it the first time).
    pub log_index: u64,
    /// Why the request was not applied (an invalid key, value or keyspace name, a stale sequence
    /// number); `None` when it was. A refused request still consumes its log entry and is
    /// refused the same way on every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The responses of the requests in [`Request::batch`], in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<Response>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_json_with_base64_bytes() {
        let req = Request::new(
            "c",
            7,
            vec![
                Op::Put {
                    keyspace: Some("flags".into()),
                    key: b"k".to_vec(),
                    value: vec![0, 255],
                    ttl_ms: Some(5),
                },
                Op::DeleteRange {
                    keyspace: None,
                    start: b"a".to_vec(),
                    end: None,
                },
                Op::DeleteRange {
                    keyspace: None,
                    start: vec![],
                    end: Some(b"z".to_vec()),
                },
            ],
        );
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"client":"c","seq":7,"ops":[{"op":"put","keyspace":"flags","key":"aw==","value":"AP8=","ttl_ms":5},{"op":"delete_range","start":"YQ=="},{"op":"delete_range","start":"","end":"eg=="}]}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
        assert!(serde_json::from_str::<Request>(r#"{"ops":[{"op":"delete","key":"!"}]}"#).is_err());
    }
}

/// The deduplication record of one client: its last applied sequence number and response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dedup {
    pub seq: u64,
    pub response: Response,
}
