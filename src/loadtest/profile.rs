//! How fast a load test starts workflows over time: a steady rate, or k6's
//! stages (`--stage 10s:100 --stage 30s:500 --stage 10s:0`), where each
//! stage moves the rate linearly from where the previous one left it to its
//! target over its duration (the first from 0).
//!
//! Start `k` (from 0) is due when the number of starts the rate promises
//! since the beginning reaches `k`: with a steady rate at `k / rps`, on a
//! ramp at the root of the integral of the rate. Due times are computed from
//! the beginning, never by adding gaps, so rounding does not accumulate and
//! a late start does not shift the ones after it.

use std::time::Duration;

use serde::Serialize;

use super::mix::{MAX_RPS, MIN_RPS};

/// Most stages accepted: far more than any test plan writes, and a bound on
/// the work of finding a due time.
pub const MAX_STAGES: usize = 1000;

/// One stage: over `duration`, the rate moves linearly to `target`
/// workflows per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stage {
    /// How long the stage lasts.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// The rate at its end, workflows per second (0 allowed: a ramp down or
    /// a pause).
    pub target: f64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Parses `--stage DURATION:RATE`, e.g. `30s:500` or `1m:0.5`.
pub fn parse_stage(text: &str) -> Result<Stage, String> {
    let (duration, target) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("invalid stage {text:?}: expected DURATION:RATE, e.g. 30s:100"))?;
    let duration = humantime::parse_duration(duration.trim())
        .map_err(|e| format!("invalid stage {text:?}: duration {duration:?}: {e}"))?;
    if duration > crate::window::RUN_RANGE.max {
        return Err(format!(
            "invalid stage {text:?}: the duration must be at most 30 days"
        ));
    }
    let target: f64 = target.trim().parse().map_err(|_| {
        format!("invalid stage {text:?}: rate {target:?} is not a number of workflows per second")
    })?;
    if !(target == 0.0 || (MIN_RPS..=MAX_RPS).contains(&target)) {
        return Err(format!(
            "invalid stage {text:?}: the rate must be 0 or from {MIN_RPS} to {MAX_RPS} workflows per second"
        ));
    }
    Ok(Stage { duration, target })
}

/// The rate of a load test over time.
#[derive(Debug, Clone, PartialEq)]
pub enum RatePlan {
    /// `rps` starts a second until `until` (forever with `None`: a count
    /// ends the test).
    Steady {
        /// Starts per second.
        rps: f64,
        /// How long starts are made.
        until: Option<Duration>,
    },
    /// The stages in order.
    Stages(Vec<Stage>),
}

impl RatePlan {
    /// How long starts are made (`None`: until a count is reached).
    pub fn length(&self) -> Option<Duration> {
        match self {
            RatePlan::Steady { until, .. } => *until,
            RatePlan::Stages(stages) => Some(stages.iter().map(|s| s.duration).sum()),
        }
    }

    /// The target rate at `t` from the beginning, starts per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match self {
            RatePlan::Steady { rps, until } => {
                if until.is_some_and(|u| t >= u) {
                    0.0
                } else {
                    *rps
                }
            }
            RatePlan::Stages(stages) => {
                let mut from = 0.0;
                let mut t0 = Duration::ZERO;
                for s in stages {
                    if t < t0 + s.duration {
                        let share = (t - t0).as_secs_f64() / s.duration.as_secs_f64();
                        return from + (s.target - from) * share;
                    }
                    from = s.target;
                    t0 += s.duration;
                }
                0.0
            }
        }
    }

    /// The number of starts the plan makes in total (the integral of the
    /// rate), `None` when it has no end.
    pub fn planned_starts(&self) -> Option<f64> {
        match self {
            RatePlan::Steady { rps, until } => until.map(|u| rps * u.as_secs_f64()),
            RatePlan::Stages(stages) => {
                let mut from = 0.0;
                let mut total = 0.0;
                for s in stages {
                    total += (from + s.target) / 2.0 * s.duration.as_secs_f64();
                    from = s.target;
                }
                Some(total)
            }
        }
    }

    /// When start `k` is due, from the beginning; `None` when the plan ends
    /// before it.
    pub fn due(&self, k: u64) -> Option<Duration> {
        match self {
            RatePlan::Steady { rps, until } => {
                let at = super::mix::due_offset(k, *rps);
                match until {
                    Some(u) if at >= *u => None,
                    _ => Some(at),
                }
            }
            RatePlan::Stages(stages) => {
                // Starts promised before each stage, then the root inside
                // the stage that holds the k-th.
                let k = k as f64;
                let mut from = 0.0;
                let mut before = 0.0;
                let mut t0 = Duration::ZERO;
                for s in stages {
                    let d = s.duration.as_secs_f64();
                    let within = (from + s.target) / 2.0 * d;
                    if k < before + within {
                        let x = k - before;
                        // n(t) = from t + (target - from) t² / (2d) = x,
                        // solved in the form that is stable for any sign
                        // of the slope and for from = 0.
                        let a = (s.target - from) / (2.0 * d);
                        let root = (from * from + 4.0 * a * x).max(0.0).sqrt();
                        let denominator = from + root;
                        let t = if denominator > 0.0 {
                            2.0 * x / denominator
                        } else {
                            0.0
                        };
                        let t = Duration::try_from_secs_f64(t.clamp(0.0, d)).ok()?;
                        return Some(t0 + t);
                    }
                    before += within;
                    from = s.target;
                    t0 += s.duration;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(s: u64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(s),
            target,
        }
    }

    #[test]
    fn stages_parse_and_refuse_with_the_culprit() {
        assert_eq!(parse_stage("30s:100").unwrap(), stage(30, 100.0));
        assert_eq!(parse_stage(" 1m : 0 ").unwrap(), stage(60, 0.0));
        for bad in [
            "30s", "x:1", "30s:-1", "30s:nan", "30s:inf", "30s:", "31d:1",
        ] {
            let err = parse_stage(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn a_steady_plan_is_k_over_rps() {
        let plan = RatePlan::Steady {
            rps: 50.0,
            until: Some(Duration::from_secs(1)),
        };
        assert_eq!(plan.due(0), Some(Duration::ZERO));
        assert_eq!(plan.due(49), Some(Duration::from_secs_f64(49.0 / 50.0)));
        assert_eq!(plan.due(50), None);
        assert_eq!(plan.planned_starts(), Some(50.0));
    }

    #[test]
    fn a_ramp_starts_as_many_as_its_area_at_the_right_times() {
        // 0 → 100/s over 10 s (500 starts), 100/s for 10 s (1000), then
        // down to 0 over 10 s (500).
        let plan = RatePlan::Stages(vec![stage(10, 100.0), stage(10, 100.0), stage(10, 0.0)]);
        assert_eq!(plan.planned_starts(), Some(2000.0));
        let mut count = 0;
        let mut last = Duration::ZERO;
        while let Some(at) = plan.due(count) {
            assert!(at >= last, "due times never go back");
            last = at;
            count += 1;
        }
        assert_eq!(count, 2000);
        // Half the ramp's 500 starts are due when n(t) = t²·5 = 250: t ≈ 7.07 s.
        let half = plan.due(250).unwrap().as_secs_f64();
        assert!((half - 50f64.sqrt()).abs() < 1e-6, "{half}");
        // The steady stage: start 500 + 100·j at 10 + j s.
        let mid = plan.due(1000).unwrap().as_secs_f64();
        assert!((mid - 15.0).abs() < 1e-6, "{mid}");
        assert_eq!(plan.rate_at(Duration::from_secs(5)), 50.0);
        assert_eq!(plan.rate_at(Duration::from_secs(25)), 50.0);
        assert_eq!(plan.rate_at(Duration::from_secs(40)), 0.0);
    }

    #[test]
    fn a_pause_starts_nothing_and_a_jump_is_instant() {
        let plan = RatePlan::Stages(vec![stage(0, 10.0), stage(2, 10.0), stage(5, 0.0)]);
        // The zero-length stage jumps to 10/s at once: 20 starts in 2 s,
        // then 25 on the way down.
        assert_eq!(plan.due(1).unwrap(), Duration::from_millis(100));
        let pause = RatePlan::Stages(vec![stage(3, 0.0), stage(1, 0.0)]);
        assert_eq!(pause.due(0), None);
    }
}
