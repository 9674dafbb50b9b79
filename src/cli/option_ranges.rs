//! Every numeric option of every command has a documented range (issue
//! 10.10): its `--help` says `Range: …`, a value inside is accepted, a value
//! outside (or NaN, infinite, overflowing, negative where it cannot be) is
//! refused by the parser with a usage error, and nothing panics.
//!
//! The bulk of the values go through clap's parsing with our validators
//! (the same code the binary runs); tests/cli_safety.rs runs the binary
//! with the extremes that do work.

use std::time::Duration;

use clap::CommandFactory as _;
use clap::Parser as _;
use proptest::prelude::*;

use super::Cli;

/// How an option's value is read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole number.
    Int,
    /// A real number.
    Real,
    /// A duration like 5m (bounds in seconds).
    Duration,
}

/// One numeric option: the arguments that reach it, its flag, its range.
#[derive(Debug, Clone, Copy)]
struct Numeric {
    command: &'static [&'static str],
    flag: &'static str,
    kind: Kind,
    min: f64,
    max: f64,
}

const DAY: f64 = 86_400.0;
const U64_MAX: f64 = u64::MAX as f64;
const I64_MAX: f64 = i64::MAX as f64;

const fn n(
    command: &'static [&'static str],
    flag: &'static str,
    kind: Kind,
    min: f64,
    max: f64,
) -> Numeric {
    Numeric {
        command,
        flag,
        kind,
        min,
        max,
    }
}

/// Every numeric option. [`every_numeric_option_is_listed`] fails when a
/// command gains an option that is in neither this list nor [`NOT_NUMERIC`].
const NUMERIC: &[Numeric] = &[
    n(&["demo"], "--seed", Kind::Int, 0.0, U64_MAX),
    n(
        &["query", "events"],
        "--window",
        Kind::Duration,
        0.001,
        36_500.0 * DAY,
    ),
    n(&["query", "events"], "--run", Kind::Int, 1.0, I64_MAX),
    n(&["query", "runs"], "--limit", Kind::Int, 1.0, 1_000_000.0),
    n(
        &["cleanup"],
        "--older-than",
        Kind::Duration,
        0.001,
        36_500.0 * DAY,
    ),
    n(&["dashboard"], "--refresh", Kind::Duration, 0.1, 3600.0),
    n(
        &["dashboard"],
        "--window",
        Kind::Duration,
        0.001,
        36_500.0 * DAY,
    ),
    n(&["dashboard"], "--run", Kind::Int, 1.0, I64_MAX),
    n(
        &["load-test"],
        "--duration",
        Kind::Duration,
        0.001,
        30.0 * DAY,
    ),
    n(&["load-test"], "--concurrency", Kind::Int, 1.0, 1_000_000.0),
    n(&["load-test"], "--rps", Kind::Real, 0.001, 1_000_000.0),
    n(&["load-test"], "--seed", Kind::Int, 0.0, U64_MAX),
    n(&["load-test"], "--time-scale", Kind::Real, 0.0, 1000.0),
    n(
        &["load-test"],
        "--drain-timeout",
        Kind::Duration,
        0.001,
        30.0 * DAY,
    ),
    n(&["load-test"], "--grace", Kind::Duration, 0.001, 30.0 * DAY),
    n(&["load-test"], "--workflows", Kind::Int, 1.0, 100_000_000.0),
    n(&["demo"], "--grace", Kind::Duration, 0.001, 30.0 * DAY),
    n(
        &["compare", "--base", "1", "--head", "2"],
        "--threshold",
        Kind::Real,
        0.001,
        100.0,
    ),
    n(
        &["compare", "--base", "1", "--head", "2"],
        "--p95-floor-ms",
        Kind::Real,
        0.0,
        3_600_000.0,
    ),
    n(
        &["compare", "--head", "2"],
        "--base",
        Kind::Int,
        1.0,
        I64_MAX,
    ),
    n(
        &["compare", "--base", "2"],
        "--head",
        Kind::Int,
        1.0,
        I64_MAX,
    ),
    n(&["bench"], "--workflows", Kind::Int, 1.0, 10_000_000.0),
    n(&["bench"], "--in-flight", Kind::Int, 1.0, 1_000_000.0),
    n(
        &["bench"],
        "--overhead-workflows",
        Kind::Int,
        1.0,
        1_000_000.0,
    ),
    n(
        &["bench"],
        "--overhead-in-flight",
        Kind::Int,
        1.0,
        100_000.0,
    ),
    n(&["bench"], "--ingest-rows", Kind::Int, 1.0, 100_000_000.0),
    n(&["bench"], "--producers", Kind::Int, 1.0, 256.0),
    n(
        &["bench"],
        "--memory-baseline-workflows",
        Kind::Int,
        1.0,
        10_000_000.0,
    ),
    n(
        &["bench"],
        "--memory-workflows",
        Kind::Int,
        1.0,
        100_000_000.0,
    ),
    n(
        &["bench"],
        "--retention-rows",
        Kind::Int,
        1.0,
        100_000_000.0,
    ),
    n(
        &["bench"],
        "--query-executions",
        Kind::Int,
        1000.0,
        100_000_000.0,
    ),
    n(&["bench"], "--query-seed", Kind::Int, 0.0, U64_MAX),
    n(
        &["bench", "--peer"],
        "--peer-workflows",
        Kind::Int,
        1.0,
        1_000_000.0,
    ),
    n(&["soak"], "--duration", Kind::Duration, 0.001, 30.0 * DAY),
    n(&["soak"], "--concurrency", Kind::Int, 1.0, 10_000.0),
    n(&["soak"], "--batch", Kind::Int, 1.0, 1_000_000.0),
    n(
        &["export", "prometheus"],
        "--window",
        Kind::Duration,
        0.001,
        36_500.0 * DAY,
    ),
    n(&["export", "prometheus"], "--run", Kind::Int, 1.0, I64_MAX),
    n(
        &["serve"],
        "--window",
        Kind::Duration,
        0.001,
        36_500.0 * DAY,
    ),
    n(&["serve"], "--refresh", Kind::Duration, 0.1, 3600.0),
    n(&["serve"], "--run", Kind::Int, 1.0, I64_MAX),
    n(&["bench"], "--scrapes", Kind::Int, 1.0, 10_000.0),
    n(
        &["bench"],
        "--distributed-workflows",
        Kind::Int,
        1.0,
        10_000_000.0,
    ),
    n(&["bench"], "--day-hours", Kind::Int, 1.0, 168.0),
    n(
        &["bench"],
        "--day-executions",
        Kind::Int,
        1000.0,
        1_000_000_000.0,
    ),
    n(&["report"], "--run", Kind::Int, 1.0, I64_MAX),
    n(
        &["demo", "--redis", "redis://h"],
        "--wait-for-hosts",
        Kind::Duration,
        0.001,
        30.0 * DAY,
    ),
    n(
        &["worker", "--redis", "redis://h"],
        "--concurrency",
        Kind::Int,
        1.0,
        1_000_000.0,
    ),
    n(
        &["worker", "--redis", "redis://h"],
        "--visibility-timeout",
        Kind::Duration,
        0.001,
        30.0 * DAY,
    ),
    n(
        &["worker", "--redis", "redis://h"],
        "--grace",
        Kind::Duration,
        0.001,
        30.0 * DAY,
    ),
    n(
        &["worker", "--redis", "redis://h"],
        "--seed",
        Kind::Int,
        0.0,
        U64_MAX,
    ),
    n(
        &["worker", "--redis", "redis://h"],
        "--time-scale",
        Kind::Real,
        0.0,
        1000.0,
    ),
];

/// Options that take a value that is not a number (paths, names, formats,
/// times, addresses), by long name.
const NOT_NUMERIC: &[&str] = &[
    "db",
    "config",
    "log-level",
    "format",
    "until",
    "worker",
    "mix",
    "only",
    "query-cache-dir",
    "peer-script",
    "duckdb-script",
    "json-out",
    "dir",
    "mode",
    "listen",
    "out",
    "redis",
    "redis-namespace",
    "redis-ca",
    "workers",
    "name",
    "unhealthy-on",
    // load-test --serve: an address.
    "serve",
    // load-test: DURATION:RATE pairs, expressions like p95<500ms, a file.
    "stage",
    "threshold",
    "series",
];

/// `--run` and the compare selectors also take `latest`; their numeric
/// form is what is ranged. Options shared by every query subcommand are
/// listed once (under `query events`).
fn listed(long: &str) -> bool {
    NUMERIC
        .iter()
        .any(|o| o.flag.trim_start_matches("--") == long)
        || NOT_NUMERIC.contains(&long)
}

fn every_valued_option(
    cmd: &clap::Command,
    path: &mut Vec<String>,
    out: &mut Vec<(String, String, String)>,
) {
    for arg in cmd.get_arguments() {
        let takes_value = arg.get_action().takes_values();
        if let Some(long) = arg.get_long()
            && takes_value
        {
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default();
            out.push((path.join(" "), long.to_string(), help));
        }
    }
    for sub in cmd.get_subcommands() {
        path.push(sub.get_name().to_string());
        every_valued_option(sub, path, out);
        path.pop();
    }
}

#[test]
fn every_numeric_option_is_listed_and_documents_its_range() {
    let mut options = Vec::new();
    let mut cli = Cli::command();
    // Fills in what derive leaves implicit (how many values each takes).
    cli.build();
    every_valued_option(&cli, &mut Vec::new(), &mut options);
    assert!(options.len() > 30, "walked too little: {options:?}");
    let mut checked = 0;
    for (path, long, help) in &options {
        assert!(
            listed(long),
            "`{path} --{long}` is new: add it to NUMERIC (with its range) or NOT_NUMERIC"
        );
        // By command too: `compare --threshold` is a number, `load-test
        // --threshold` an expression.
        let numeric = NUMERIC
            .iter()
            .any(|o| o.flag.trim_start_matches("--") == long && path.starts_with(o.command[0]));
        // Run selectors say "`latest` or a run id" instead.
        let selector = matches!(long.as_str(), "run" | "base" | "head");
        if numeric && !selector {
            checked += 1;
            assert!(
                help.contains("Range: "),
                "`{path} --{long}` does not document its range in --help: {help:?}"
            );
        }
    }
    assert!(checked >= 30, "only {checked} ranged options checked");
}

/// What the parser must conclude for `text`: the value when it lies in the
/// documented range, `None` when it must be refused.
fn expected(option: &Numeric, text: &str) -> Option<f64> {
    let value = match option.kind {
        Kind::Int => {
            // Every ranged integer is 0 or more: a minus sign is refused,
            // even on "-0".
            if text.trim().starts_with('-') {
                return None;
            }
            text.trim().parse::<i128>().ok()? as f64
        }
        Kind::Real => text.trim().parse::<f64>().ok()?,
        Kind::Duration => {
            let t = text.trim();
            if t.starts_with('-') {
                return None;
            }
            humantime::parse_duration(t).ok()?.as_secs_f64()
        }
    };
    (value >= option.min && value <= option.max).then_some(value)
}

fn parse(option: &Numeric, value: &str) -> Result<Cli, clap::Error> {
    let mut argv = vec!["multiagents".to_string()];
    argv.extend(option.command.iter().map(|s| s.to_string()));
    argv.push(format!("{}={value}", option.flag));
    Cli::try_parse_from(argv)
}

fn check(option: &Numeric, value: &str) -> Result<(), TestCaseError> {
    let parsed = parse(option, value);
    let want = expected(option, value);
    match (&parsed, want) {
        (Ok(_), Some(_)) => {}
        (Err(e), None) => {
            prop_assert!(
                matches!(
                    e.kind(),
                    clap::error::ErrorKind::ValueValidation
                        | clap::error::ErrorKind::InvalidValue
                        | clap::error::ErrorKind::InvalidUtf8
                ),
                "{} {value:?}: unexpected error kind {:?}: {e}",
                option.flag,
                e.kind()
            );
            prop_assert!(e.use_stderr(), "a refusal is a usage error (exit 2)");
        }
        (Ok(_), None) => prop_assert!(
            false,
            "{} {value:?} was accepted but lies outside the documented {}..={}",
            option.flag,
            option.min,
            option.max
        ),
        (Err(e), Some(v)) => {
            // Integers at the very top of a 64-bit range round through f64;
            // clap's typed integer parsers do not trim spaces (ours do):
            // neither is a range question.
            let boundary = matches!(option.kind, Kind::Int) && v >= 9.2e18;
            let spaced = text_is_spaced(value);
            prop_assert!(
                boundary || spaced,
                "{} {value:?} lies in the documented range but was refused: {e}",
                option.flag
            );
        }
    }
    Ok(())
}

fn text_is_spaced(text: &str) -> bool {
    text != text.trim()
}

/// Texts a user or a script might pass: extremes, specials, junk.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("-0".to_string()),
        Just("0".to_string()),
        Just("1e-19".to_string()),
        Just("1e300".to_string()),
        Just("1e308".to_string()),
        Just("4.9e-324".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just(String::new()),
        Just(" ".to_string()),
        Just("0x10".to_string()),
        Just("1_000".to_string()),
        any::<f64>().prop_map(|v| format!("{v}")),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        (-1e7f64..1e7).prop_map(|v| format!("{v}")),
        (0u64..2_000_000).prop_map(|v| v.to_string()),
        (
            prop_oneof![
                any::<u64>().prop_map(|v| v.to_string()),
                (0u64..100_000).prop_map(|v| v.to_string()),
            ],
            prop::sample::select(vec![
                "ns", "us", "ms", "s", "m", "h", "d", "w", "y", "months", "x"
            ]),
        )
            .prop_map(|(v, unit)| format!("{v}{unit}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_numeric_option_accepts_exactly_its_range(
        index in 0..NUMERIC.len(),
        text in hostile_text(),
    ) {
        check(&NUMERIC[index], &text)?;
    }
}

#[test]
fn the_range_ends_themselves_are_accepted_and_just_beyond_refused() {
    for option in NUMERIC {
        let (inside, outside): (Vec<String>, Vec<String>) = match option.kind {
            Kind::Int => (
                vec![
                    format!("{}", option.min as u64),
                    format!("{}", option.max as u64),
                ],
                vec![
                    if option.min >= 1.0 {
                        format!("{}", option.min as u64 - 1)
                    } else {
                        "-1".to_string()
                    },
                    if option.max == U64_MAX {
                        "18446744073709551616".to_string()
                    } else if option.max == I64_MAX {
                        "9223372036854775808".to_string()
                    } else {
                        format!("{}", option.max as u64 + 1)
                    },
                ],
            ),
            Kind::Real => (
                vec![format!("{}", option.min), format!("{}", option.max)],
                vec![
                    format!("{}", option.max * 1.001),
                    format!(
                        "{}",
                        if option.min > 0.0 {
                            option.min / 2.0
                        } else {
                            -0.001
                        }
                    ),
                    "NaN".into(),
                    "inf".into(),
                ],
            ),
            Kind::Duration => {
                let secs =
                    |s: f64| humantime::format_duration(Duration::from_secs_f64(s)).to_string();
                (
                    vec![secs(option.min), secs(option.max)],
                    vec![secs(option.max + 1.0), "0s".into(), "-1s".into()],
                )
            }
        };
        for value in inside {
            // u64 maxima as text round through f64; use the exact text.
            let value = if option.max == U64_MAX && value != "0" {
                u64::MAX.to_string()
            } else if option.max == I64_MAX && value != "1" {
                i64::MAX.to_string()
            } else {
                value
            };
            assert!(
                parse(option, &value).is_ok(),
                "{:?} {} {value}: refused",
                option.command,
                option.flag
            );
        }
        for value in outside {
            let err = parse(option, &value).err();
            assert!(
                err.is_some(),
                "{:?} {} {value}: accepted",
                option.command,
                option.flag
            );
        }
    }
}
