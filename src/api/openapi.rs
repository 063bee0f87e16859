//! The OpenAPI document of `/v1`, served at `/v1/openapi.json`. It is generated from the
//! handlers' annotations and the views they return, so it cannot name a field the code does
//! not have; a test checks real responses against it.

use axum::Json;
use utoipa::OpenApi;

use super::error::ErrorBody;
use super::handlers;
use super::read::{OrderCounts, OrderPage, Stats};
use crate::contract::OrderLine;
use crate::projector::model::{OrderView, ProductView};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fulfil query API",
        description = "Orders, products and the projection's progress as the read side shows them. \
            Every error is a JSON body {\"error\": ...}; a 503 is worth a retry with backoff."
    ),
    paths(
        handlers::order,
        handlers::user_orders,
        handlers::product,
        handlers::stats
    ),
    components(schemas(
        OrderView,
        OrderLine,
        OrderPage,
        ProductView,
        Stats,
        OrderCounts,
        ErrorBody
    ))
)]
struct QueryApi;

/// The document, made once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(QueryApi::openapi)
}

pub(super) async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
