//! Table format v1: round trips through both formats, appending, version
//! checks, and pandas reading both files into the same frame.

use std::path::Path;
use std::process::Command;

use frontier_table::{
    self as table, Format, LatencyRow, OpRow, TableError, REQUIRED_COLUMNS, SCHEMA_VERSION,
};

fn row(i: u32) -> LatencyRow {
    let text = format!(
        r#"{{"schema_version":"{SCHEMA_VERSION}","device_id":"abcd","backend":"tract","backend_version":"0.23.9",
        "model_path":"m/{i}.onnx","model_sha256":"00ff{i}","inputs":"input=1,3,224,224:f32;ids=1,32:i64","threads":1,
        "n_runs":{n},"mean_ms":1.5,"median_ms":1.25,"p10_ms":1.0,"p90_ms":2.0,"p99_ms":2.5,"min_ms":0.9,"max_ms":3.0,
        "std_ms":null,"cv":null,"probe_ratio":1.01,"median_ms_corrected":1.24,"unstable":{u},"peak_rss_mb":12.5,
        "measured_at":"2026-11-28T04:00:00.000Z","frontier_version":"0.1.0",
        "arch":"{{\"ks\":[3,5],\"r\":160}}","cpu_features":"avx2 fma","unstable_reason":{reason}}}"#,
        n = 10 + i,
        u = i % 2 == 1,
        reason = if i % 2 == 1 {
            "\"spread, \\\"quoted\\\"\""
        } else {
            "null"
        }
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn required_columns_come_first_in_order() {
    let header = table::csv_header(&row(0));
    let cols: Vec<&str> = header.split(',').collect();
    assert_eq!(&cols[..REQUIRED_COLUMNS.len()], &REQUIRED_COLUMNS[..]);
    assert_eq!(cols[REQUIRED_COLUMNS.len()], "arch");
}

#[test]
fn both_formats_round_trip() {
    let rows: Vec<LatencyRow> = (0..3).map(row).collect();
    let p = Path::new("t.jsonl");
    let back: Vec<LatencyRow> = table::parse(
        p,
        Format::JsonLines,
        std::str::from_utf8(&table::to_jsonl(&rows)).unwrap(),
    )
    .unwrap();
    assert_eq!(back, rows);
    let p = Path::new("t.csv");
    let back: Vec<LatencyRow> = table::parse(
        p,
        Format::Csv,
        std::str::from_utf8(&table::to_csv(&rows, true)).unwrap(),
    )
    .unwrap();
    assert_eq!(back, rows);
}

#[test]
fn csv_appends_without_a_second_header() {
    let rows: Vec<LatencyRow> = (0..4).map(row).collect();
    let mut text = table::to_csv(&rows[..2], true);
    text.extend(table::to_csv(&rows[2..], false));
    let back: Vec<LatencyRow> = table::parse(
        Path::new("t.csv"),
        Format::Csv,
        std::str::from_utf8(&text).unwrap(),
    )
    .unwrap();
    assert_eq!(back, rows);
    let first = String::from_utf8(text)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    table::check_append_header(Path::new("t.csv"), &first, &rows[0]).unwrap();
    let e = table::check_append_header(Path::new("old.csv"), "schema_version,device_id", &rows[0])
        .unwrap_err();
    assert!(matches!(e, TableError::HeaderMismatch { .. }));
    assert!(
        e.to_string().contains("old.csv") && e.to_string().contains("new file"),
        "{e}"
    );
}

#[test]
fn unknown_major_version_is_rejected_with_file_and_line() {
    let mut r = row(0);
    r.schema_version = "2.0".into();
    let mut text = table::to_jsonl(&[row(1)]);
    text.extend(table::to_jsonl(&[r.clone()]));
    let e = table::parse::<LatencyRow>(
        Path::new("future.jsonl"),
        Format::JsonLines,
        std::str::from_utf8(&text).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, TableError::UnknownMajor { line: 2, .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("future.jsonl") && msg.contains("2.0") && msg.contains("upgrade"),
        "{msg}"
    );

    let text = table::to_csv(&[r], true);
    let e = table::parse::<LatencyRow>(
        Path::new("future.csv"),
        Format::Csv,
        std::str::from_utf8(&text).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, TableError::UnknownMajor { line: 2, .. }), "{e}");
}

#[test]
fn a_newer_minor_version_with_extra_columns_is_read() {
    let mut v: serde_json::Value = serde_json::to_value(row(0)).unwrap();
    v["schema_version"] = "1.7".into();
    v["a_future_column"] = 42.into();
    let back: Vec<LatencyRow> =
        table::parse(Path::new("t.jsonl"), Format::JsonLines, &format!("{v}\n")).unwrap();
    assert_eq!(back[0].median_ms, 1.25);
}

#[test]
fn not_a_table() {
    let e = table::parse::<LatencyRow>(Path::new("x.jsonl"), Format::JsonLines, "{\"a\":1}\n")
        .unwrap_err();
    assert!(e.to_string().contains("schema_version"), "{e}");
    let e =
        table::parse::<LatencyRow>(Path::new("x.jsonl"), Format::JsonLines, "hello\n").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    assert!(Format::from_path(Path::new("t.parquet")).is_err());
}

#[test]
fn timestamps_are_rfc3339_utc() {
    use std::time::Duration;
    assert_eq!(
        table::rfc3339(Duration::from_secs(0)),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        table::rfc3339(Duration::from_millis(951_782_400_123)),
        "2000-02-29T00:00:00.123Z"
    );
    assert_eq!(
        table::rfc3339(Duration::from_secs(1_795_838_400)),
        "2026-11-28T04:00:00.000Z"
    );
}

#[test]
fn op_rows_round_trip() {
    let op: OpRow = serde_json::from_str(&format!(
        r#"{{"schema_version":"{SCHEMA_VERSION}","device_id":"d","backend":"tract","backend_version":"0.23.9","model_path":"m.onnx",
        "model_sha256":"ab","inputs":"x=1:f32","threads":1,"node_id":3,"node_name":"conv, 1","op_type":"Conv","runs":20,
        "median_ms":0.5,"mean_ms":0.6,"share":0.25,"measured_at":"2026-11-28T04:00:00.000Z","frontier_version":"0.1.0"}}"#
    ))
    .unwrap();
    let back: Vec<OpRow> = table::parse(
        Path::new("o.csv"),
        Format::Csv,
        std::str::from_utf8(&table::to_csv(std::slice::from_ref(&op), true)).unwrap(),
    )
    .unwrap();
    assert_eq!(back, vec![op]);
}

/// pandas must read both files into the same frame. The test command installs
/// pandas; set FRONTIER_PYTHON to choose the interpreter.
#[test]
fn pandas_reads_both_formats_identically() {
    let dir = frontier_testkit::scratch("table");
    let rows: Vec<LatencyRow> = (0..3).map(row).collect();
    std::fs::write(dir.join("t.jsonl"), table::to_jsonl(&rows)).unwrap();
    std::fs::write(dir.join("t.csv"), table::to_csv(&rows, true)).unwrap();
    let python = std::env::var("FRONTIER_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, json, pandas as pd
d = sys.argv[1]
j = pd.read_json(d + "/t.jsonl", lines=True, dtype=False)
c = pd.read_csv(d + "/t.csv", keep_default_na=True)
assert list(j.columns) == list(c.columns), (list(j.columns), list(c.columns))
assert len(j) == len(c) == 3
for col in ["median_ms", "p99_ms", "probe_ratio", "median_ms_corrected", "n_runs", "threads", "peak_rss_mb"]:
    assert (j[col].astype(float) == c[col].astype(float)).all(), col
for col in ["device_id", "model_path", "inputs", "measured_at", "arch"]:
    assert list(j[col].astype(str)) == list(c[col].astype(str)), col
assert list(j["unstable"]) == list(c["unstable"]) == [False, True, False]
assert json.loads(c["arch"][0])["r"] == 160
assert c["std_ms"].isna().all() and j["std_ms"].isna().all()
print("pandas ok", len(j.columns), "columns")
"#;
    let out = Command::new(&python)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}); the test command installs python3 with pandas")
        });
    assert!(
        out.status.success(),
        "pandas check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
