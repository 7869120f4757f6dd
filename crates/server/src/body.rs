//! Request bodies that a handler reads itself, under a limit of its choosing. actix's own
//! extractors (`Bytes`, `Form`) answer a body that is too large, or a connection that
//! breaks mid-body, in plain text; read here, those are problems like every other refusal.

use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::{HttpMessage, HttpRequest};
use futures::StreamExt;

use crate::error::{ApiError, Result};

/// The whole body, or 413 with `too_large` as soon as it is known to be over `limit` bytes:
/// from `Content-Length` before a byte is read, otherwise once the bytes received pass it.
/// Nothing past the limit is kept.
pub async fn read(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
    too_large: impl FnOnce() -> String,
) -> Result<Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(too_large()));
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("The request body could not be received: {e}."))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(too_large()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's media type, lower-cased without parameters, and its `charset` if it names
/// one; `None` when there is no `Content-Type` or it cannot be read.
pub fn media_type(req: &HttpRequest) -> Option<(String, Option<String>)> {
    let mime = req.mime_type().ok()??;
    let charset = mime
        .get_param(actix_web::mime::CHARSET)
        .map(|c| c.as_str().to_ascii_lowercase());
    Some((mime.essence_str().to_ascii_lowercase(), charset))
}

/// A size for a person: `64 KiB`, `20 MiB`, or bytes.
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_a_person_writes_them() {
        assert_eq!(super::size(64 * 1024), "64 KiB");
        assert_eq!(super::size(20 * 1024 * 1024), "20 MiB");
        assert_eq!(super::size(1536), "1536 bytes");
        assert_eq!(super::size(0), "0 bytes");
    }
}
