//! Axum's extractors with their rejections turned into [`ApiError`]s, so a malformed body,
//! query or path is a JSON 400 naming the problem like every other client mistake.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        if let JsonRejection::JsonDataError(e) = &r
            && let Some(m) = field_message(e)
        {
            return ApiError(base::err!(InvalidArgument, "{m}"));
        }
        ApiError(base::err!(InvalidArgument, "body: {}", r.body_text()))
    }
}

/// A body that is JSON but not the request's shape, named by its field: `category: unknown
/// variant ...` (`area.points[2]: ...`), or `body: ...` when the fault is the whole body's
/// (an unknown or missing field).
fn field_message(e: &axum::extract::rejection::JsonDataError) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(p) = s.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            let path = p.path().to_string();
            let what = p.inner().to_string();
            return Some(if path == "." { format!("body: {what}") } else { format!("{path}: {what}") });
        }
        source = s.source();
    }
    None
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError(base::err!(InvalidArgument, "query: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError(base::err!(InvalidArgument, "path: {}", r.body_text()))
    }
}
