//! The terminal dashboard: a snapshot of the database every refresh, drawn
//! with ratatui together with what the person chose (sort, selection,
//! drill-down: [`ViewState`]), or printed once as text.

pub mod charts;
pub mod collect;
pub mod detail;
pub mod render;
pub mod snapshot;
pub mod state;
pub mod views;

pub use collect::collect;
pub use detail::{Detail, Focus, collect_detail};
pub use render::{render, render_text};
pub use snapshot::DashboardSnapshot;
pub use state::{Action, ViewState};
