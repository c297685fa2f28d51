//! The report of `frontier inspect`: what a model file declares and what its
//! graph computes, in JSON or as text.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// One input as declared and as resolved for the statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputReport {
    pub name: String,
    /// As declared, e.g. `[batch, 3, 224, 224]`.
    pub declared: String,
    /// The shape the statistics were computed at, in `--input` syntax.
    pub resolved: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectReport {
    pub file: String,
    pub sha256: String,
    pub inputs: Vec<InputReport>,
    /// Elements of the graph's initializers.
    pub params: u64,
    pub macs: u64,
    pub op_counts: BTreeMap<String, usize>,
    /// Nodes whose MACs could not be computed.
    pub uncounted: Vec<String>,
    /// The architecture from a manifest beside the model, when there is one.
    pub arch: Option<serde_json::Value>,
}

impl InspectReport {
    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("plain data");
        s.push('\n');
        s
    }

    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{}  (sha256 {})",
            self.file,
            &self.sha256[..16.min(self.sha256.len())]
        );
        for i in &self.inputs {
            let _ = writeln!(
                o,
                "  input {} declared {} measured as {}",
                i.name, i.declared, i.resolved
            );
        }
        let _ = writeln!(
            o,
            "  params {} ({:.2} M)",
            self.params,
            self.params as f64 / 1e6
        );
        let _ = writeln!(
            o,
            "  MACs   {} ({:.1} M)",
            self.macs,
            self.macs as f64 / 1e6
        );
        let ops: Vec<String> = self
            .op_counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(o, "  ops    {}", ops.join(", "));
        if !self.uncounted.is_empty() {
            let _ = writeln!(o, "  MACs not counted for: {}", self.uncounted.join(", "));
        }
        if let Some(a) = &self.arch {
            let _ = writeln!(o, "  arch   {a}");
        }
        o
    }
}
