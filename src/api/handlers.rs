//! The `/v1` handlers: read the parameters (each error names its parameter), ask `read`,
//! answer JSON. No SQL here and nothing but the read pool in state.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, Uri};
use axum::Json;
use serde::Deserialize;
use sqlx::PgPool;

use super::error::{ApiError, ErrorBody};
use super::params::{self, Cursor};
use super::read::{self, OrderPage, Stats};
use crate::projector::model::{OrderView, ProductView};

type Answer<T> = Result<Json<T>, ApiError>;

#[utoipa::path(
    get,
    path = "/v1/orders/{order_id}",
    params(("order_id" = String, Path, description = "the order's id, as in its PlaceOrder")),
    responses(
        (status = 200, description = "the order as the read side shows it", body = OrderView),
        (status = 400, description = "an id that cannot name an order", body = ErrorBody),
        (status = 404, description = "no such order (yet)", body = ErrorBody),
        (status = 503, description = "read database unavailable, or the API overloaded: retry", body = ErrorBody),
    )
)]
pub(super) async fn order(
    State(pool): State<PgPool>,
    path: Result<Path<String>, PathRejection>,
) -> Answer<OrderView> {
    let order_id = path_id("order_id", path)?;
    let found = read::order(&pool, &order_id).await?;
    found.map(Json).ok_or(ApiError::NotFound {
        kind: "order",
        id: order_id,
    })
}

#[utoipa::path(
    get,
    path = "/v1/products/{product_id}",
    params(("product_id" = String, Path, description = "the product's id")),
    responses(
        (status = 200, description = "the product's stock as the read side shows it", body = ProductView),
        (status = 400, description = "an id that cannot name a product", body = ErrorBody),
        (status = 404, description = "no such product (yet)", body = ErrorBody),
        (status = 503, description = "read database unavailable, or the API overloaded: retry", body = ErrorBody),
    )
)]
pub(super) async fn product(
    State(pool): State<PgPool>,
    path: Result<Path<String>, PathRejection>,
) -> Answer<ProductView> {
    let product_id = path_id("product_id", path)?;
    let found = read::product(&pool, &product_id).await?;
    found.map(Json).ok_or(ApiError::NotFound {
        kind: "product",
        id: product_id,
    })
}

/// `?limit=&after=`, kept as text so a bad value is reported as given.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/orders",
    params(
        ("user_id" = String, Path, description = "the buyer's id"),
        ("limit" = Option<i64>, Query, description = "orders per page, 1 to 100 (default 20)"),
        ("after" = Option<String>, Query, description = "the `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "a page of the user's orders, newest first", body = OrderPage),
        (status = 400, description = "a bad id, limit or cursor, named with its value", body = ErrorBody),
        (status = 503, description = "read database unavailable, or the API overloaded: retry", body = ErrorBody),
    )
)]
pub(super) async fn user_orders(
    State(pool): State<PgPool>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Answer<OrderPage> {
    let user_id = path_id("user_id", path)?;
    let Query(page) = query
        .map_err(|e| ApiError::bad("query", uri.query().unwrap_or_default(), e.body_text()))?;
    let limit = params::limit(page.limit.as_deref())?;
    let after = page.after.as_deref().map(Cursor::decode).transpose()?;
    let orders = read::user_orders(&pool, &user_id, limit, after.as_ref()).await?;
    Ok(Json(orders))
}

#[utoipa::path(
    get,
    path = "/v1/stats",
    responses(
        (status = 200, description = "orders by status and the projection's progress", body = Stats),
        (status = 503, description = "read database unavailable, or the API overloaded: retry", body = ErrorBody),
    )
)]
pub(super) async fn stats(State(pool): State<PgPool>) -> Answer<Stats> {
    Ok(Json(read::stats(&pool).await?))
}

/// Unknown paths get the same JSON error shape as everything else.
pub(super) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// The one path parameter, checked against the id pattern. A path axum cannot decode
/// (say, percent-encoded bytes that are not UTF-8) is reported under the same name.
fn path_id(
    param: &'static str,
    path: Result<Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    match path {
        Ok(Path(value)) => params::id(param, &value),
        Err(rejection) => Err(ApiError::bad(param, "", rejection.body_text())),
    }
}
