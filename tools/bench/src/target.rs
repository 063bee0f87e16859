//! One target of the issues, judged: what it asks, what was measured, met or missed. Its own
//! module so the report (which carries targets) and the judges (which read the report) do
//! not import each other.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub id: &'static str,
    pub name: String,
    pub goal: String,
    pub measured: Option<f64>,
    pub unit: &'static str,
    /// None: not measured in this run.
    pub met: Option<bool>,
}
