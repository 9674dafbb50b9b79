//! The reference for the throughput goal: the Python original
//! (multiagents-framework from PyPI with a local Redis), run by
//! `../shared/peer/setup_and_run.sh N`, which prints a JSON document per size with
//! `workflows_per_s`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure};

use super::BenchResult;

/// The peer's measured figure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerFigure {
    /// No-op 3-step workflows per second.
    pub workflows_per_s: f64,
    /// Workflows the peer ran.
    pub workflows: usize,
    /// The script that measured it.
    pub script: PathBuf,
    /// Its full JSON output line.
    pub raw: serde_json::Value,
}

/// Where the peer script is by default: `../shared/peer/setup_and_run.sh`
/// relative to the repository (the crate's directory when built, else the
/// current directory).
pub fn default_script() -> PathBuf {
    let relative = Path::new("../shared/peer/setup_and_run.sh");
    let from_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if from_repo.exists() {
        from_repo
    } else {
        relative.to_path_buf()
    }
}

/// Runs the peer script with `workflows` and reads its figure. `Ok(None)`
/// when the script does not exist (the caller says so and goes on).
pub fn run_peer(script: &Path, workflows: usize) -> BenchResult<Option<PeerFigure>> {
    if !script.exists() {
        return Ok(None);
    }
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg(workflows.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    ensure!(
        output.status.success(),
        "{} failed with {}",
        script.display(),
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figure = parse_peer_output(&stdout).ok_or_else(|| {
        anyhow!(
            "{} printed no JSON line with workflows_per_s: {}",
            script.display(),
            stdout.trim()
        )
    })?;
    Ok(Some(PeerFigure {
        workflows_per_s: figure.0,
        workflows,
        script: script.to_path_buf(),
        raw: figure.1,
    }))
}

/// The last JSON document (pretty-printed or one line) carrying
/// `workflows_per_s`; anything between documents is skipped.
pub fn parse_peer_output(stdout: &str) -> Option<(f64, serde_json::Value)> {
    let mut found = None;
    let mut rest = stdout;
    while let Some(start) = rest.find('{') {
        let mut stream =
            serde_json::Deserializer::from_str(&rest[start..]).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let used = stream.byte_offset();
                if let Some(rate) = value.get("workflows_per_s").and_then(|v| v.as_f64()) {
                    found = Some((rate, value));
                }
                rest = &rest[start + used..];
            }
            _ => rest = &rest[start + 1..],
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_figure_is_read_from_its_json_line() {
        let out = "noise\n{\"n\": 1000, \"workflows_per_s\": 162.5}\n";
        assert_eq!(parse_peer_output(out).map(|f| f.0), Some(162.5));
        let pretty = "{\n \"n\": 5,\n \"lat\": {\"p50\": 1},\n \"workflows_per_s\": 126.4\n}\n";
        assert_eq!(parse_peer_output(pretty).map(|f| f.0), Some(126.4));
        assert_eq!(parse_peer_output("nothing"), None);
    }
}
