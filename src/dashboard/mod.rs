//! The terminal dashboard: a snapshot of the database every refresh, drawn
//! with ratatui, or printed once as text.

pub mod collect;
pub mod render;
pub mod snapshot;

pub use collect::collect;
pub use render::{render, render_text};
pub use snapshot::DashboardSnapshot;
