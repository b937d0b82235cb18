//! The admin page: `GET /admin` (one self-contained HTML file, compiled into the binary),
//! `GET /admin/tables` (the live SSTables of every keyspace as JSON), `POST /admin/flush` and
//! `POST /admin/checkpoint` (a copy of the database under `BACKUP_DIR`).
//!
//! `GET /admin` never needs the token: it is the same static markup for everyone and holds no
//! data. Every route the page calls does need it when `API_TOKEN` is set; the page asks for it
//! and sends `Authorization: Bearer`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value as Json, json};

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::layout::FLAGS;

/// The page, inline CSS and JS, no external resource.
const PAGE: &str = include_str!("../admin.html");

/// Inline script and style only; requests only to this server; no framing.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// `GET /admin`.
pub fn admin_page() -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Bytes as text: printable ASCII as is, a backslash doubled, anything else `\xNN`.
pub(crate) fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A table's key bound as `{"namespace": "key" | "flag", "key": escaped}`: flag ids are the keys
/// of the keyspace `flags`.
fn bound_json(keyspace: &str, k: &[u8]) -> Json {
    let ns = if keyspace == FLAGS { "flag" } else { "key" };
    json!({ "namespace": ns, "key": escape(k) })
}

/// `GET /admin/tables`: `{"tables": [...]}`, every keyspace (`default` first, then in creation
/// order), in each level 0 newest first and other levels in key order.
pub async fn admin_tables(ctx: &Ctx) -> Result<Resp, ApiError> {
    let tables = ctx.engine(|db| Ok(db.tables())).await?;
    let list: Vec<Json> = tables
        .iter()
        .map(|t| {
            json!({
                "keyspace": t.keyspace,
                "level": t.level,
                "number": t.number,
                "file_size": t.file_size,
                "entries": t.entries,
                "tombstones": t.tombstones,
                "min_seqno": t.min_seqno,
                "max_seqno": t.max_seqno,
                "smallest": bound_json(&t.keyspace, &t.smallest_key),
                "largest": bound_json(&t.keyspace, &t.largest_key),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "tables": list })))
}

/// `POST /admin/flush[?keyspace=NAME]`: writes the memtable of every keyspace (or of NAME) to a
/// level-0 table and returns once they are live: `{"flushed": true, "tables": N}`, N the live
/// tables of every keyspace.
pub async fn admin_flush(ctx: &Ctx, req: &Request<Incoming>) -> Result<Resp, ApiError> {
    let only = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "keyspace")
            .map(|(_, v)| v.into_owned())
    });
    let targets = match only {
        Some(name) => vec![
            ctx.state
                .keyspaces
                .get(&name)
                .ok_or_else(|| ApiError::keyspace_not_found(&name))?,
        ],
        None => ctx.state.keyspaces.all(),
    };
    let n = ctx
        .engine(move |db| {
            for ks in &targets {
                ks.flush()?;
            }
            Ok(db.tables().len())
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "flushed": true, "tables": n }),
    ))
}

/// `POST /admin/checkpoint` with `{"dir": NAME}`: a checkpoint of the database (see
/// `Db::checkpoint`) in `BACKUP_DIR/NAME`, answered `{"checkpoint": PATH}` once it is complete.
/// NAME is relative, made of plain components (no `..`, `.`, root or prefix), so the target stays
/// under the backup root. 403 `checkpoints_disabled` without `BACKUP_DIR`; 400 for a bad name;
/// 409 `exists` when the target is there and not empty.
pub async fn admin_checkpoint(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let root = ctx.state.cfg.server.backup_dir.clone();
    if root.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "checkpoints are disabled: set BACKUP_DIR to the directory they go under",
        )
        .with_code("checkpoints_disabled"));
    }
    let body = ctx.json_body(req).await?;
    let name = body
        .get("dir")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad_request("expected {\"dir\": NAME} with a string NAME"))?;
    let rel = checkpoint_name(name)?;
    let target = std::path::Path::new(&root).join(rel);
    if std::fs::read_dir(&target).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} already exists under BACKUP_DIR and is not empty"),
        )
        .with_code("exists"));
    }
    let shown = target.display().to_string();
    ctx.engine(move |db| {
        db.checkpoint(&target)?;
        Ok(())
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "checkpoint": shown }),
    ))
}

/// `name` as a relative path of plain components: no `..`, `.`, root, drive prefix or empty name.
pub(crate) fn checkpoint_name(name: &str) -> Result<&std::path::Path, ApiError> {
    use std::path::Component;
    let p = std::path::Path::new(name);
    let plain = !name.is_empty()
        && !name.contains('\0')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !name.split('/').any(|c| c == "." || c == "..");
    if !plain {
        return Err(ApiError::bad_request(format!(
            "checkpoint dir {name:?} must be a relative name under BACKUP_DIR (no '..', '.' or \
             absolute path)"
        ))
        .with_code("bad_checkpoint_dir"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoint_names_stay_under_the_root() {
        for ok in ["daily", "2026/12/06", "a.b", "..x"] {
            assert!(checkpoint_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../x",
            "a/../../x",
            "/etc",
            "/",
            ".",
            "./x",
            "a/./b",
            "a\0b",
        ] {
            assert!(checkpoint_name(bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape(b"user:1"), "user:1");
        assert_eq!(escape(b"a\\b\x00\xff\n"), "a\\\\b\\x00\\xff\\x0a");
        assert_eq!(bound_json("default", b"kabc")["namespace"], "key");
        assert_eq!(bound_json("default", b"kabc")["key"], "kabc");
        assert_eq!(bound_json("flags", b"dark")["namespace"], "flag");
        assert_eq!(bound_json("logs", b"")["key"], "");
    }

    #[test]
    fn routes() {
        use crate::routes::{RouteId, Routed, route};
        use hyper::Method;
        assert_eq!(
            route(&Method::GET, "/admin"),
            Routed::Route(RouteId::AdminPage, Default::default())
        );
        assert_eq!(
            route(&Method::HEAD, "/admin/tables"),
            Routed::Route(RouteId::AdminTables, Default::default())
        );
        assert_eq!(
            route(&Method::POST, "/admin/flush"),
            Routed::Route(RouteId::AdminFlush, Default::default())
        );
        assert_eq!(
            route(&Method::GET, "/admin/flush"),
            Routed::MethodNotAllowed("POST")
        );
        assert_eq!(
            route(&Method::POST, "/admin"),
            Routed::MethodNotAllowed("GET")
        );
        assert_eq!(route(&Method::GET, "/admin/"), Routed::NotFound);
    }

    #[test]
    fn page_is_self_contained() {
        // No external resource: nothing fetched from another origin, no build step. (The one
        // URL is the SVG namespace, an identifier that nothing fetches.)
        let page = PAGE.replace("\"http://www.w3.org/2000/svg\"", "");
        for bad in [
            "http:", "https:", "//cdn", " src=", "<link", "@import", "url(",
        ] {
            assert!(
                !page.contains(bad),
                "the admin page must not reference {bad}"
            );
        }
    }
}
