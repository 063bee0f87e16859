//! The `/v1` handlers: read the parameters (each error names its parameter), ask `read`,
//! answer JSON. No SQL here and nothing but the read pool in state.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, Uri};
use axum::Json;
use serde::Deserialize;
use sqlx::PgPool;

use super::error::ApiError;
use super::params::{self, Cursor};
use super::read::{self, OrderPage, OrderView, ProductView, Stats};

type Answer<T> = Result<Json<T>, ApiError>;

pub async fn order(
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

pub async fn product(
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
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

pub async fn user_orders(
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

pub async fn stats(State(pool): State<PgPool>) -> Answer<Stats> {
    Ok(Json(read::stats(&pool).await?))
}

/// Unknown paths get the same JSON error shape as everything else.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
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
