//! multiagents: named async workers in workflows, with everything recorded in SQLite.
