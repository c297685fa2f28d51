//! Lines of `frontier profile --check --json`: how far two backends' outputs
//! are apart for one model.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckLine {
    pub model_path: String,
    pub inputs: String,
    pub seed: u64,
    /// The backend compared against (tract when it is available).
    pub reference: String,
    pub backend: String,
    pub max_abs: Option<f64>,
    /// `max_abs` relative to the largest magnitude of the reference output.
    pub max_rel: Option<f64>,
    pub elements: usize,
    pub tolerance: f64,
    pub ok: bool,
    /// Why the comparison failed or could not be made.
    pub error: Option<String>,
}

impl CheckLine {
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("plain data serializes");
        v.push(b'\n');
        v
    }
}
