//! The per-second series of a load test as a file (`--series FILE`): CSV
//! or JSON, chosen by the file's extension, refused before the test runs
//! when the extension is neither.

use std::path::Path;

use super::tally::SeriesPoint;

/// A series file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesFormat {
    /// One header line, then one line per second.
    Csv,
    /// An array of objects, one per second.
    Json,
}

/// The CSV header: the fields of [`SeriesPoint`] in order.
pub const CSV_HEADER: &str = "second,target_rate,started,completed,failed,p50_ms,p95_ms,in_flight";

impl SeriesFormat {
    /// The format of `path` by its extension (case-insensitive), or one
    /// line saying what is accepted.
    pub fn of_path(path: &Path) -> Result<Self, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(SeriesFormat::Csv),
            Some("json") => Ok(SeriesFormat::Json),
            _ => Err(format!(
                "{}: unknown series format: the file name must end in .csv or .json",
                path.display()
            )),
        }
    }

    /// The series in this format.
    pub fn render(self, points: &[SeriesPoint]) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            SeriesFormat::Json => {
                let mut bytes = serde_json::to_vec_pretty(points)?;
                bytes.push(b'\n');
                Ok(bytes)
            }
            SeriesFormat::Csv => {
                let mut text = String::from(CSV_HEADER);
                text.push('\n');
                for p in points {
                    text.push_str(&format!(
                        "{},{},{},{},{},{:.3},{:.3},{}\n",
                        p.second,
                        p.target_rate,
                        p.started,
                        p.completed,
                        p.failed,
                        p.p50_ms,
                        p.p95_ms,
                        p.in_flight
                    ));
                }
                Ok(text.into_bytes())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_chooses_the_format() {
        assert_eq!(
            SeriesFormat::of_path(Path::new("a/b.CSV")),
            Ok(SeriesFormat::Csv)
        );
        assert_eq!(
            SeriesFormat::of_path(Path::new("s.json")),
            Ok(SeriesFormat::Json)
        );
        for bad in ["s.db", "s", "s.txt"] {
            let err = SeriesFormat::of_path(Path::new(bad)).unwrap_err();
            assert!(
                err.starts_with(bad) && err.contains(".csv or .json"),
                "{err}"
            );
        }
    }

    #[test]
    fn csv_has_one_line_per_second() {
        let p = SeriesPoint {
            second: 0,
            target_rate: 10.0,
            started: 10,
            completed: 9,
            failed: 1,
            p50_ms: 1.5,
            p95_ms: 2.0,
            in_flight: 0,
        };
        let text = String::from_utf8(SeriesFormat::Csv.render(&[p.clone(), p]).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "0,10,10,9,1,1.500,2.000,0");
    }
}
