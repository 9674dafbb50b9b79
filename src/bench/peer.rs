//! The reference for the throughput goal: the Python original
//! (multiagents-framework from PyPI with a local Redis), run by
//! `../shared/peer/setup_and_run.sh N`, which prints JSON lines with
//! `workflows_per_s`.

use std::path::{Path, PathBuf};

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
pub fn run_peer(script: &Path, workflows: usize) -> anyhow::Result<Option<PeerFigure>> {
    if !script.exists() {
        return Ok(None);
    }
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg(workflows.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed with {}",
        script.display(),
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figure = parse_peer_output(&stdout).ok_or_else(|| {
        anyhow::anyhow!(
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

/// The last JSON line carrying `workflows_per_s`.
pub fn parse_peer_output(stdout: &str) -> Option<(f64, serde_json::Value)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| Some((v.get("workflows_per_s")?.as_f64()?, v)))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_figure_is_read_from_its_json_line() {
        let out = "noise\n{\"n\": 1000, \"workflows_per_s\": 162.5}\n";
        assert_eq!(parse_peer_output(out).map(|f| f.0), Some(162.5));
        assert_eq!(parse_peer_output("nothing"), None);
    }
}
